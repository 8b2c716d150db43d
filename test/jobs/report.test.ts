/**
 * jobs:report's pure parts: rows from DescribeJobs details, the latest run per set, result
 * files and metrics per row, cost estimates, and the printers.
 */
import * as assert from "assert";
import type { JobDetail } from "../../jobs/aws/api";
import { entrypointError } from "../../jobs/state/local-runs";
import { pricingOf } from "../../jobs/report/prices";
import { formatDuration, formatUsd } from "../../jobs/output/numbers";
import {
  csvField,
  formatCsv,
  formatTable,
  jsonForScript,
  printReport,
  renderHtml,
  scriptSafe,
} from "../../jobs/output/report-print";
import { parse as parseCsv } from "csv-parse/sync";
import {
  buildRow,
  groupResultFiles,
  latestRuns,
  metricsKeyOf,
  parseMetrics,
  sortRows,
  summarizeRows,
  unitFromDetail,
  type RunUnit,
} from "../../jobs/report/rows";
import type { Report } from "../../jobs/report/sources";
import { parametersOf } from "../../jobs/status";
import { parseManifest } from "../../jobs/input/manifest";

const T0 = Date.parse("2026-11-30T08:00:00Z");
const PRICES = pricingOf(undefined);

/** Parameters from an object literal (own keys only). */
function params(o: Readonly<Record<string, string>>): Map<string, string> {
  return new Map(Object.entries(o));
}

function unit(over: Partial<RunUnit> & { index?: number }): RunUnit {
  return {
    job: "sw",
    jobId: `id:${over.index ?? 0}`,
    status: "SUCCEEDED",
    exitCode: 0,
    attempts: [{ startedAt: T0 + 10_000, stoppedAt: T0 + 70_000 }],
    createdAt: T0,
    startedAt: T0 + 10_000,
    stoppedAt: T0 + 70_000,
    vcpus: 2,
    params: new Map([["var_a", "1"]]),
    ...over,
  };
}

function report(
  units: RunUnit[],
  metrics: ReadonlyMap<string, number | string> = new Map([["product", 3]]),
): Report {
  const rows = sortRows(
    latestRuns(units).map((l) => buildRow(l, [], metrics, PRICES, T0 + 100_000)),
  );
  return {
    source: "stack dev",
    generatedAt: new Date(T0).toISOString(),
    prices: PRICES,
    rows,
    summary: summarizeRows(rows),
    warnings: [],
  };
}

describe("jobs/commands/report: rows", function () {
  it("builds a row from an array child's DescribeJobs detail: set over the job's variables, times, attempts, resources", function () {
    const detail: JobDetail = {
      jobId: "p:4",
      jobName: "sw",
      jobQueue: "q",
      jobDefinition: "d",
      status: "FAILED",
      statusReason: "Essential container in task exited",
      createdAt: T0,
      startedAt: T0 + 5_000,
      stoppedAt: T0 + 35_000,
      attempts: [
        {
          startedAt: T0 + 1_000,
          stoppedAt: T0 + 3_000,
          container: { reason: "Host EC2 terminated." },
        },
        { startedAt: T0 + 5_000, stoppedAt: T0 + 35_000, container: { exitCode: 3 } },
      ],
      container: {
        environment: [
          { name: "save_name", value: "r" },
          { name: "BATCHPY_ARRAY_MANIFEST", value: "inputs/sweeps/sw-x.json" },
          { name: "AWS_BATCH_JOB_ARRAY_INDEX", value: "4" },
        ],
        resourceRequirements: [
          { type: "VCPU", value: "2" },
          { type: "MEMORY", value: "4096" },
        ],
      },
    };
    const u = unitFromDetail(detail, { job: "sw", index: 4, set: new Map([["var_a", "5"]]) });
    assert.deepStrictEqual(
      u.params,
      new Map([
        ["save_name", "r"],
        ["var_a", "5"],
      ]),
    );
    assert.strictEqual(u.exitCode, 3);
    assert.strictEqual(u.reason, "Essential container in task exited");
    assert.strictEqual(u.attempts.length, 2);
    assert.strictEqual(u.vcpus, 2);
    assert.strictEqual(u.memoryMiB, 4096);
    const row = buildRow({ unit: u, runs: 1 }, [], new Map(), PRICES, T0);
    assert.strictEqual(row.name, "sw[4]");
    assert.strictEqual(row.runSeconds, 30);
    assert.strictEqual(row.queueSeconds, 5);
    // Both attempts are billed: (2 s + 30 s) × 2 vCPUs.
    assert.ok(Math.abs(row.vcpuHours - (32 * 2) / 3600) < 1e-12);
    // 2 of an m5a.large's 2 vCPUs: the whole instance, $0.086 an hour.
    assert.ok(Math.abs((row.cost ?? NaN) - (32 / 3600) * 0.086) < 1e-12);
  });

  it("keeps the tool's own variables out of the parameters", function () {
    assert.deepStrictEqual(
      parametersOf([
        { name: "BATCHPY_JOB_NAME", value: "x" },
        { name: "AWS_REGION", value: "r" },
        { name: "lr", value: "0.1" },
      ]),
      new Map([["lr", "0.1"]]),
    );
  });

  it("a set that ran again (a retry) shows its latest run and counts its runs", function () {
    const first = unit({ index: 2, status: "FAILED", exitCode: 1, createdAt: T0 });
    const retry = unit({ index: 2, jobId: "r:0", createdAt: T0 + 60_000 });
    const other = unit({ index: 3 });
    const latest = latestRuns([retry, first, other]);
    assert.strictEqual(latest.length, 2);
    assert.strictEqual(latest[0].unit.jobId, "r:0");
    assert.strictEqual(latest[0].runs, 2);
    assert.strictEqual(latest[1].runs, 1);
  });

  it("sorts failed rows first, then by job and set number", function () {
    const r = report([
      unit({ index: 10 }),
      unit({ index: 2 }),
      unit({
        index: 7,
        status: "FAILED",
        exitCode: 1,
        reason: "Essential container in task exited",
      }),
      unit({ job: "alone", index: undefined }),
    ]);
    assert.deepStrictEqual(
      r.rows.map((x) => x.name),
      ["sw[7]", "alone", "sw[2]", "sw[10]"],
    );
    assert.deepStrictEqual(r.summary.failures, [
      { reason: "Essential container in task exited (exit code 1)", count: 1, names: ["sw[7]"] },
    ]);
    assert.deepStrictEqual(r.summary.counts, { FAILED: 1, SUCCEEDED: 3 });
  });

  it("names varying parameters first, and the slowest runs", function () {
    const r = report([
      unit({ index: 0, params: params({ save_name: "r", var_a: "1" }) }),
      unit({ index: 1, params: params({ save_name: "r", var_a: "2" }), stoppedAt: T0 + 200_000 }),
    ]);
    assert.deepStrictEqual(r.summary.params, ["var_a", "save_name"]);
    assert.deepStrictEqual(r.summary.varying, ["var_a"]);
    assert.deepStrictEqual(r.summary.slowest[0], { name: "sw[1]", runSeconds: 190 });
  });
});

describe("jobs/commands/report: result files and metrics", function () {
  it("groups one listing's keys by row: results/<job>/ for jobs, results/<sweep>/<i>/ for sets", function () {
    const files = groupResultFiles(
      [
        { key: "results/sw/0/metrics.json", size: 10 },
        { key: "results/sw/0/deep/out.p", size: 3 },
        { key: "results/sw/12/out.p", size: 4 },
        { key: "results/sw/stray.txt", size: 1 },
        { key: "results/job/metrics.json", size: 9 },
        { key: "results/job/7/metrics.json", size: 9 },
        { key: "logs/sw/0.log", size: 9 },
      ],
      (job) => job === "sw",
    );
    assert.deepStrictEqual([...files.keys()].sort(), ["job", "sw[0]", "sw[12]"]);
    assert.strictEqual(metricsKeyOf(files.get("sw[0]") ?? []), "results/sw/0/metrics.json");
    assert.strictEqual(metricsKeyOf(files.get("sw[12]") ?? []), undefined);
    // A single job's metrics.json is the one at its top, not one in a sub-folder.
    assert.strictEqual(metricsKeyOf(files.get("job") ?? []), "results/job/metrics.json");
  });

  it("takes numbers and strings from metrics.json and names what it leaves out", function () {
    assert.deepStrictEqual(parseMetrics('{"loss": 0.25, "tag": "a"}'), {
      metrics: new Map<string, number | string>([
        ["loss", 0.25],
        ["tag", "a"],
      ]),
    });
    const mixed = parseMetrics('{"loss": 1, "hist": [1, 2], "ok": true, "n": null}');
    assert.deepStrictEqual(mixed.metrics, new Map([["loss", 1]]));
    assert.match(mixed.problem ?? "", /left out hist, ok, n/);
    assert.match(parseMetrics("[1]").problem ?? "", /not a JSON object/);
    assert.match(parseMetrics("{").problem ?? "", /not JSON/);
  });

  it("reads a manifest's sets and, for a retry or a chunk, its set numbers", function () {
    assert.deepStrictEqual(parseManifest('{"version":1,"sets":[{"a":"1"}]}'), {
      sets: [new Map([["a", "1"]])],
    });
    assert.deepStrictEqual(parseManifest('{"version":1,"sets":[{"a":"1"}],"indexes":[7]}'), {
      sets: [new Map([["a", "1"]])],
      indexes: [7],
    });
    assert.strictEqual(parseManifest('{"version":2,"sets":[]}'), undefined);
    assert.strictEqual(parseManifest("nope"), undefined);
  });

  it("finds the entrypoint's last error line in a local run's output", function () {
    assert.strictEqual(
      entrypointError("x\nrun_job: error: first\nrun_job: error: BATCHPY_BUCKET is not set\n"),
      "BATCHPY_BUCKET is not set",
    );
    assert.strictEqual(entrypointError("fine\n"), undefined);
  });
});

describe("jobs/commands/report: printers", function () {
  it("prints failed rows first with their reason, and cuts long values", function () {
    const r = report([
      unit({ index: 0, params: params({ var_a: "1", note: "x".repeat(80) }) }),
      unit({
        index: 1,
        status: "FAILED",
        exitCode: 2,
        reason: "Essential container in task exited",
      }),
    ]);
    const lines = formatTable(r).split("\n");
    assert.match(lines[0], /^STATUS\s+JOB\s+EXIT/);
    assert.match(
      lines[1],
      /^FAILED\s+sw\[1\]\s+2 .*Essential container in task exited \(exit code 2\)/,
    );
    assert.match(lines[2], /^SUCCEEDED\s+sw\[0\]/);
    assert.ok(lines[2].includes("…"), "a long value is cut");
    assert.ok(lines.some((l) => /^ {2}1 × Essential container/.test(l)));
  });

  it("shows at most --limit rows, but every failed one", function () {
    const units = Array.from({ length: 10 }, (_, i) =>
      unit({ index: i, ...(i < 3 ? { status: "FAILED" as const, exitCode: 1 } : {}) }),
    );
    const text = formatTable(report(units), 2);
    assert.strictEqual((text.match(/^FAILED /gm) ?? []).length, 3);
    assert.match(text, /\.\.\. 7 more rows/);
  });

  it("writes CSV with quoted fields and a column per parameter and metric", function () {
    assert.strictEqual(csvField('a,"b"'), '"a,""b"""');
    assert.strictEqual(csvField(undefined), "");
    const csv = formatCsv(report([unit({ index: 0, params: params({ var_a: "1,5" }) })]));
    const [header, row] = csv.split("\r\n");
    assert.ok(header.endsWith(",param:var_a,metric:product"));
    assert.ok(row.startsWith("sw[0],sw,0,id:0,SUCCEEDED,"));
    assert.ok(row.endsWith(',"1,5",3'));
  });

  it("puts a failure's reason in its own column, and counts runs and attempts apart", function () {
    const r = report([
      unit({ index: 0, status: "FAILED", exitCode: 1 }),
      unit({ index: 1, createdAt: T0 }),
      unit({ index: 1, jobId: "r:0", createdAt: T0 + 1 }),
    ]);
    const [header, failed, retried] = formatTable(r).split("\n");
    assert.match(
      header,
      /^STATUS +JOB +EXIT +RUNS +ATTEMPTS +TIME +WAIT +COST +PARAMETERS +METRICS +REASON$/,
    );
    const cell = (line: string, column: string): string =>
      line.slice(header.indexOf(column)).split(/ {2,}/)[0];
    assert.strictEqual(cell(failed, "REASON"), "no reason given (exit code 1)");
    assert.strictEqual(cell(failed, "METRICS"), "product=3");
    assert.deepStrictEqual(
      ["RUNS", "ATTEMPTS"].map((c) => cell(retried, c)),
      ["2", "1"],
    );
    assert.strictEqual(cell(retried, "REASON"), "");
    assert.match(
      formatTable(r),
      /^logs: npm run jobs:logs -- <jobName> {2}\(array child: <jobName>:<index>\)$/m,
    );
    assert.match(
      formatTable({ ...r, localFolder: "lb" }),
      /^logs: lb\/logs\/<job>\/<index>\.log {2}\(a single job: lb\/logs\/<job>\.log\)$/m,
      "local runs have no jobs:logs: their files are named",
    );
    const fine = formatTable(report([unit({ index: 0 })])).split("\n")[0];
    assert.match(fine, /PARAMETERS +METRICS$/, "no REASON column without a failure");
  });

  it("prints names, parameters, metrics, reasons and warnings with control characters made visible", function () {
    const hostile = "\x1b]0;owned\x07\x1b[31mred\rover\u202e";
    const shown = "\\x1b]0;owned\\x07\\x1b[31mred\\rover\\u202e";
    const r = report(
      [
        unit({
          job: `j${hostile}`,
          index: 0,
          status: "FAILED",
          exitCode: 1,
          reason: hostile,
          params: params({ [`p${hostile}`]: hostile, var_a: "1" }),
        }),
        unit({ job: `j${hostile}`, index: 1, params: params({ var_a: "2" }) }),
      ],
      new Map([[`m${hostile}`, hostile]]),
    );
    let out = "";
    const sink = { write: (t: string) => (out += t) };
    printReport(
      { report: { ...r, warnings: [hostile] }, limit: 50, written: [] },
      { stdout: sink, stderr: sink },
    );
    // Cells are cut after escaping, so the table's widths are what the terminal shows.
    // eslint-disable-next-line no-control-regex -- what must not reach the terminal
    assert.doesNotMatch(out, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/);
    assert.ok(out.includes(`warning: ${shown}`), out);
    for (const text of [`j${shown}[0]`, `m${shown}`.slice(0, 30), `1 × ${shown} (exit code 1)`]) {
      assert.ok(out.includes(text), `${text} in\n${out}`);
    }
  });

  it("writes CSV cells a spreadsheet would run as formulas as text, and numbers as numbers", function () {
    const formulas = [
      '=HYPERLINK("http://evil.example","click")',
      "=cmd|' /C calc'!A0",
      "+1+1",
      "-2+3",
      "@SUM(1,2)",
      "\t=1+1",
      "\r=1+1",
      "-",
    ];
    for (const f of formulas) {
      assert.strictEqual(csvField(f), `"'${f.replace(/"/g, '""')}"`, JSON.stringify(f));
    }
    for (const data of ["-2", "+3", "1e-3", "-1.5E+3", "-.5", "a=b", "x-1"]) {
      assert.strictEqual(csvField(data), data);
    }
    assert.strictEqual(csvField(-2), "-2");
    assert.strictEqual(csvField(1e-7), "1e-7");
    const csv = formatCsv(
      report(
        formulas.map((f, i) => unit({ index: i, params: params({ var_a: f }) })),
        new Map([["m", "=1+1"]]),
      ),
    );
    const table = parseCsv(csv, { columns: true }) as Record<string, string>[];
    assert.deepStrictEqual(
      table.map((row) => row["param:var_a"]),
      formulas.map((f) => `'${f}`),
    );
    assert.ok(table.every((row) => row["metric:m"] === "'=1+1"));
  });

  it("formats durations", function () {
    assert.deepStrictEqual([5, 65, 3725, undefined].map(formatDuration), [
      "5s",
      "1m05s",
      "1h02m",
      "-",
    ]);
  });

  it("embeds data and scripts so that no value can end the script element", function () {
    assert.strictEqual(jsonForScript({ a: "</script><b>" }), '{"a":"\\u003c/script>\\u003cb>"}');
    assert.strictEqual(scriptSafe('x="</script>"'), 'x="<\\/script>"');
    const html = renderHtml(report([unit({ index: 0, params: params({ var_a: "</script>" }) })]));
    assert.strictEqual((html.match(/<\/script>/g) ?? []).length, 3);
    assert.ok(!/\b(src|href)=["']?https?:/i.test(html), "nothing from the network");
    assert.ok(!html.includes("sourceMappingURL"));
    // The page formats as the terminal does, with the same functions.
    assert.ok(html.includes(`${formatDuration}`) && html.includes(`${formatUsd}`));
  });
});
