/**
 * `jobs:report` in-process against the local Batch and S3 endpoints (REST-JSON fake and
 * s3rver), and against a --locally folder.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { appendLocalRun } from "../../jobs/state/local-runs";
import type { FakeBatch } from "../helpers/fake-batch";
import { parse as parseCsv } from "csv-parse/sync";
import {
  REPO_ROOT,
  runJobs,
  tempDir,
  useLocalAws,
  writeJobsAndSweep,
} from "../helpers/jobs-harness";

interface JsonRow {
  name: string;
  status: string;
  exitCode?: number;
  reason?: string;
  attempts: unknown[];
  runs: number;
  params: Record<string, string>;
  metrics: Record<string, number | string>;
  files: { key: string; size: number }[];
  vcpus?: number;
  cost: number;
}

describe("jobs report against local AWS endpoints", function () {
  const aws = useLocalAws("report");
  const jobs = (...args: string[]) => aws.jobs(args);

  /**
   * A sweep "mix" of 4 sets (set 2 fails with exit 3, set 1 needs a second attempt after its
   * host went away) and a single job; each success wrote metrics.json and a pickle.
   */
  async function runMix(): Promise<FakeBatch> {
    const fake = await aws.startBatch({
      outcome: ({ jobName, index }) =>
        jobName === "mix" && index === 2
          ? { status: "FAILED", exitCode: 3 }
          : { status: "SUCCEEDED", ...(index === 1 ? { attempts: 2 } : {}) },
    });
    writeJobsAndSweep(aws.dir, 1, "mix");
    const r = await jobs("submit", "jobs");
    assert.strictEqual(r.code, 0, r.stderr);
    fake.finishAll();
    for (const i of [0, 1, 3]) {
      await aws.put(
        `results/mix/${i}/metrics.json`,
        JSON.stringify({ product: i * 2, tag: `t${i}` }),
      );
      await aws.put(`results/mix/${i}/r.p`, "pickle");
    }
    await aws.put("results/job-0000/metrics.json", '{"product": 0, "bad": [1]}');
    return fake;
  }

  it("one row per job and set: parameters, outcome, attempts, files and metrics, failed first", async function () {
    const fake = await runMix();
    const before = fake.count("describejobs");
    const r = await jobs("report", "--json");
    assert.strictEqual(r.code, 0, r.stderr);
    // Parents in one DescribeJobs call, the 4 children in another.
    assert.strictEqual(fake.count("describejobs") - before, 2);
    const doc = JSON.parse(r.stdout) as {
      rows: JsonRow[];
      summary: { counts: Record<string, number>; failures: { reason: string }[] };
      warnings: string[];
    };
    assert.deepStrictEqual(
      doc.rows.map((x) => x.name),
      ["mix[2]", "job-0000", "mix[0]", "mix[1]", "mix[3]"],
    );
    const [failed, single, , retried, last] = doc.rows;
    assert.strictEqual(failed.status, "FAILED");
    assert.strictEqual(failed.exitCode, 3);
    assert.strictEqual(failed.reason, "Essential container in task exited");
    assert.deepStrictEqual(failed.metrics, {});
    assert.deepStrictEqual(failed.params, { save_name: "r", var_a: "2" });
    assert.strictEqual(retried.attempts.length, 2);
    assert.deepStrictEqual(last.metrics, { product: 6, tag: "t3" });
    assert.deepStrictEqual(
      last.files.map((f) => f.key),
      ["results/mix/3/metrics.json", "results/mix/3/r.p"],
    );
    assert.strictEqual(last.vcpus, 1);
    assert.deepStrictEqual(single.params, { var_a: "0", save_name: "out-0" });
    assert.deepStrictEqual(single.metrics, { product: 0 });
    assert.deepStrictEqual(doc.summary.counts, { FAILED: 1, SUCCEEDED: 4 });
    assert.deepStrictEqual(doc.summary.failures, [
      {
        reason: "Essential container in task exited (exit code 3)",
        count: 1,
        names: ["mix[2]"],
      },
    ]);
    assert.ok(
      doc.warnings.some((w) => /results\/job-0000\/metrics\.json: left out bad/.test(w)),
      doc.warnings.join("\n"),
    );
  });

  it("prints the table and writes --write-csv and --write-html; names and --last narrow it", async function () {
    await runMix();
    const r = await jobs("report", "--write-csv", "out/r.csv", "--write-html", "out/r.html");
    assert.strictEqual(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.match(lines[0], /^STATUS\s+JOB/);
    assert.match(lines[1], /^FAILED\s+mix\[2\]\s+3 .*Essential container in task exited/);
    assert.match(r.stdout, /SUCCEEDED 4 \| FAILED 1/);
    assert.match(
      r.stdout,
      /vCPU-hours, estimated (\$\d|<\$0\.01).* \(m5a\.large Spot, priced at on-demand: the most Spot can cost, us-east-1 list prices of 2026-06; an estimate, not a bill\)/,
    );
    assert.match(r.stderr, /wrote out\/r\.csv/);
    const csv = fs.readFileSync(path.join(aws.dir, "out", "r.csv"), "utf8").split("\r\n");
    assert.strictEqual(csv.length, 7, "header, 5 rows, final line break");
    assert.ok(csv[0].endsWith("param:save_name,param:var_a,metric:product,metric:tag"));
    const html = fs.readFileSync(path.join(aws.dir, "out", "r.html"), "utf8");
    assert.match(html, /^<!doctype html>/);
    assert.ok(html.includes("mix[2]"));

    const only = await jobs("report", "mix", "--json");
    assert.strictEqual((JSON.parse(only.stdout) as { rows: unknown[] }).rows.length, 4);
    const unknown = await jobs("report", "nope");
    assert.strictEqual(unknown.code, 2);
    assert.match(unknown.stderr, /not in the ledger .*nope/);
  });

  it("--locally reports the runs recorded in the local folder", async function () {
    const root = path.join(aws.dir, "lb");
    const t = Date.parse("2026-11-30T08:00:00Z");
    [0, 1].forEach((i) =>
      appendLocalRun(root, {
        v: 1,
        run: "r1",
        job: "g",
        index: i,
        params: { var_a: String(i + 1) },
        createdAt: t,
        startedAt: t + 1000,
        stoppedAt: t + 3000,
        exitCode: i === 0 ? 0 : 2,
        signal: null,
        ...(i === 1 ? { reason: "var_a: invalid int value" } : {}),
      }),
    );
    fs.mkdirSync(path.join(root, "results", "g", "0"), { recursive: true });
    fs.writeFileSync(path.join(root, "results", "g", "0", "metrics.json"), '{"product": 2}');
    const r = await runJobs(["report", "--locally", "--local-root", root, "--json"], {
      cwd: aws.dir,
    });
    assert.strictEqual(r.code, 0, r.stderr);
    const rows = (JSON.parse(r.stdout) as { rows: JsonRow[] }).rows;
    assert.deepStrictEqual(
      rows.map((x) => [x.name, x.status, x.exitCode, x.reason]),
      [
        ["g[1]", "FAILED", 2, "var_a: invalid int value"],
        ["g[0]", "SUCCEEDED", 0, undefined],
      ],
    );
    assert.deepStrictEqual(rows[1].metrics, { product: 2 });
    const none = await runJobs(["report", "--locally", "--local-root", path.join(aws.dir, "x")], {
      cwd: aws.dir,
    });
    assert.strictEqual(none.code, 0);
    assert.match(
      none.stdout,
      /^no local runs in x; run some with npm run jobs:submit -- --locally FILE --local-root \/\S+\/x$/m,
    );
    const bad = await runJobs(["report", "--locally", "--stack", "dev"], { cwd: aws.dir });
    assert.strictEqual(bad.code, 2);
  });
});

describe("jobs report of the documented local grid sweep", function () {
  this.timeout(60_000);
  let dir: string;
  before(function () {
    dir = tempDir("report-grid");
  });
  after(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("shows its 6 sets with var_a, var_b and product in the table, the CSV and the page", async function () {
    const file = path.join(REPO_ROOT, "jobs", "examples", "grid_sweep.json");
    const run = await runJobs(["submit", "--locally", file, "--local-root", "lb"], {
      describe: "real",
      cwd: dir,
    });
    assert.strictEqual(run.code, 0, run.stderr);
    assert.match(run.stdout, /copy out with npm run jobs:results -- --locally --local-root lb$/m);

    const r = await runJobs(
      ["report", "--locally", "grid_sweep", "--local-root", "lb", "--write-csv", "--write-html"],
      { cwd: dir },
    );
    assert.strictEqual(r.code, 0, r.stderr);
    const sets = [1, 2, 3].flatMap((a) => [10, 20].map((b) => ({ a, b, product: a * b })));
    const lines = r.stdout.split("\n");
    sets.forEach(({ a, b, product }, i) =>
      assert.match(
        lines[i + 1],
        new RegExp(
          `^SUCCEEDED +grid_sweep\\[${i}\\] .* var_a=${a} var_b=${b} +product=${product}$`,
        ),
      ),
    );
    assert.match(r.stdout, /^SUCCEEDED 6 \(6 row\(s\), local runs in lb\)$/m);
    assert.match(r.stderr, /^wrote batchpy-results\/local\/report\.csv/m);
    assert.match(r.stderr, /^wrote batchpy-results\/local\/report\.html/m);

    const csv = parseCsv(
      fs.readFileSync(path.join(dir, "batchpy-results", "local", "report.csv"), "utf8"),
      { columns: true },
    ) as Record<string, string>[];
    assert.deepStrictEqual(
      csv.map((row) => [row.name, row["param:var_a"], row["param:var_b"], row["metric:product"]]),
      sets.map(({ a, b, product }, i) => [`grid_sweep[${i}]`, `${a}`, `${b}`, `${product}`]),
    );

    const html = fs.readFileSync(path.join(dir, "batchpy-results", "local", "report.html"), "utf8");
    const data = /<script id="report-data" type="application\/json">(.*?)<\/script>/s.exec(html);
    const page = JSON.parse(data?.[1] ?? "{}") as { rows: JsonRow[] };
    assert.deepStrictEqual(
      page.rows.map((row) => [row.name, row.params.var_a, row.params.var_b, row.metrics.product]),
      sets.map(({ a, b, product }, i) => [`grid_sweep[${i}]`, `${a}`, `${b}`, product]),
    );

    // A name after --write-html is a name, not a file: refused before anything is read or written.
    const misplaced = await runJobs(
      ["report", "--locally", "--local-root", "lb", "--write-html", "grid_sweep"],
      {
        cwd: dir,
      },
    );
    assert.strictEqual(misplaced.code, 2);
    assert.match(
      misplaced.stderr,
      /--write-html grid_sweep: a file name ending in \.html, or none for report\.html in batchpy-results\/; to report grid_sweep, put it before --write-html/,
    );
    assert.ok(!fs.existsSync(path.join(dir, "grid_sweep")));
    const help = await runJobs(["report", "--help"]);
    assert.match(
      help.stdout,
      /--write-csv \[file\] +also write every row as CSV \(default:\s+batchpy-results\/<stack>\/report\.csv\)/,
    );
    assert.match(
      help.stdout,
      /--write-html \[file\] +also write a page with charts \(default:\s+batchpy-results\/<stack>\/report\.html\)/,
    );
  });
});
