/**
 * Variable names are the user's: `constructor`, `toString`, `valueOf` and `__proto__` are
 * as good as `var_a`, and must keep their values from the file to the request, the manifest
 * and a local run's environment.
 */
import * as assert from "assert";
import * as fc from "fast-check";
import { formatProblem } from "../../jobs/errors";
import { loadJob } from "../../jobs/input/job-file";
import { parseJsonDocument } from "../../jobs/input/json-source";
import { planLocal, runEnvironment } from "../../jobs/commands/local";
import { buildPlan, mergeEnvironment } from "../../jobs/input/plan";
import { loadSweep } from "../../jobs/input/sweep";
import { STACK_OUTPUTS } from "../helpers/jobs-harness";
import { parse as parseCsv } from "csv-parse/sync";
import { pricingOf } from "../../jobs/report/prices";
import { buildRow, parseMetrics, summarizeRows, type RunUnit } from "../../jobs/report/rows";
import { parametersOf } from "../../jobs/status";
import { formatCsv, formatTable, renderHtml, reportDocument } from "../../jobs/output/report-print";

const PROTOTYPE_NAMES = [
  "constructor",
  "toString",
  "valueOf",
  "__proto__",
  "hasOwnProperty",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "toLocaleString",
  "__defineGetter__",
];

/** Names a user may write: the prototype's own, and ordinary ones. */
const name = fc.oneof(fc.constantFrom(...PROTOTYPE_NAMES), fc.stringMatching(/^[a-z][a-z_]{0,7}$/));
const value = fc.string({ maxLength: 8 });
const outputs = { outputs: STACK_OUTPUTS, source: "outputs.json" };

/** The environment as name -> value, from a list that must not repeat a name. */
function envMap(env: readonly { name: string; value: string }[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const v of env ?? []) {
    assert.ok(!map.has(v.name), `"${v.name}" appears once`);
    map.set(v.name, v.value);
  }
  return map;
}

describe("jobs: user-keyed names never meet Object.prototype", function () {
  it("mergeEnvironment keeps every base value and sets every variable (property)", function () {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(name, value), { selector: ([n]) => n, maxLength: 6 }),
        fc.uniqueArray(fc.tuple(name, value), { selector: ([n]) => n, maxLength: 6 }),
        (base, vars) => {
          const merged = envMap(
            mergeEnvironment(
              base.map(([n, v]) => ({ name: n, value: v })),
              new Map(vars),
            ),
          );
          const expected = new Map([...base, ...vars]);
          assert.deepStrictEqual([...merged].sort(), [...expected].sort());
        },
      ),
    );
  });

  it("a job file's variables reach the request with their values (property)", function () {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(name, value), { selector: ([n]) => n, minLength: 1, maxLength: 6 }),
        (vars) => {
          const text = JSON.stringify({
            jobName: "j",
            containerOverrides: { environment: vars.map(([n, v]) => ({ name: n, value: v })) },
          });
          const loaded = loadJob(parseJsonDocument("j.json", text).doc!);
          assert.ok(loaded.job, loaded.problems.map(formatProblem).join("\n"));
          const plan = buildPlan([loaded.job], { outputs, array: true });
          const env = envMap(plan.submissions[0].request.containerOverrides?.environment);
          for (const [n, v] of vars) {
            assert.strictEqual(env.get(n), v, n);
          }
          const local = runEnvironment(
            planLocal([plan.submissions], "/lb").levels[0][0],
            "/lb",
            {},
          );
          for (const [n, v] of vars) {
            assert.ok(Object.prototype.hasOwnProperty.call(local, n), n);
            assert.strictEqual(local[n], v, n);
          }
        },
      ),
    );
  });

  it("sweep keys keep their values in the manifest and in one-job-per-set requests (property)", function () {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(name, fc.array(value, { minLength: 1, maxLength: 2 })), {
          selector: ([n]) => n,
          minLength: 1,
          maxLength: 4,
        }),
        fc.uniqueArray(fc.tuple(name, value), { selector: ([n]) => n, maxLength: 2 }),
        (grid, row) => {
          // Written as JSON text, as a sweep file is: `__proto__` is then an ordinary key.
          const text = `{"jobName": "sw", "grid": {${grid
            .map(([n, vs]) => `${JSON.stringify(n)}: ${JSON.stringify(vs)}`)
            .join(", ")}}${
            row.length > 0
              ? `, "rows": [{${row.map(([n, v]) => `${JSON.stringify(n)}: ${JSON.stringify(v)}`).join(", ")}}]`
              : ""
          }}`;
          const gridNames = new Set(grid.map(([n]) => n));
          fc.pre(row.every(([n]) => !gridNames.has(n)));
          const loaded = loadSweep(
            parseJsonDocument("sw.json", text).doc!,
            "/d/sw.json",
            () => undefined,
          );
          assert.ok(loaded.sweep, loaded.problems.map(formatProblem).join("\n"));
          const size = grid.reduce((n, [, vs]) => n * vs.length, 1);
          assert.strictEqual(loaded.sweep.sets.length, size);
          const last = new Map([...row, ...grid.map(([n, vs]) => [n, vs[vs.length - 1]] as const)]);

          const perSet = buildPlan([loaded.sweep], { outputs, array: false });
          const env = envMap(perSet.submissions[size - 1].request.containerOverrides?.environment);
          for (const [n, v] of last) {
            assert.strictEqual(env.get(n), v, n);
          }
          const array = buildPlan([loaded.sweep], { outputs, array: true }).submissions[0];
          if (array.kind === "array") {
            const manifest = JSON.parse(array.manifest.body) as { sets: Record<string, string>[] };
            const child = manifest.sets[size - 1];
            for (const [n, v] of last) {
              assert.ok(Object.prototype.hasOwnProperty.call(child, n), n);
              assert.strictEqual(child[n], v, n);
            }
          }
        },
      ),
    );
  });
});

describe("jobs:report: user-keyed names never meet Object.prototype", function () {
  /** A row's parameters and metrics, as the job's environment and its metrics.json text. */
  const row = fc.record({
    params: fc.uniqueArray(fc.tuple(name, fc.stringMatching(/^[a-z0-9]{1,4}$/)), {
      selector: ([n]) => n,
      maxLength: 3,
    }),
    metrics: fc.uniqueArray(
      fc.tuple(name, fc.oneof(fc.integer(), fc.stringMatching(/^[a-z]{1,4}$/))),
      {
        selector: ([n]) => n,
        maxLength: 3,
      },
    ),
  });

  it("each row keeps its own parameters and metrics in --json, the page's data, CSV and the table (property)", function () {
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 4 }), (specs) => {
        const rows = specs.map((spec, i) => {
          const unit: RunUnit = {
            job: "sw",
            index: i,
            jobId: `p:${i}`,
            status: "SUCCEEDED",
            attempts: [],
            params: parametersOf(spec.params.map(([n, v]) => ({ name: n, value: v }))),
          };
          // Written as JSON text, as a script writes metrics.json: `__proto__` is then a key.
          const text = `{${spec.metrics.map(([n, v]) => `${JSON.stringify(n)}: ${JSON.stringify(v)}`).join(", ")}}`;
          const { metrics, problem } = parseMetrics(text);
          assert.strictEqual(problem, undefined);
          return buildRow(
            { unit, runs: 1 },
            [],
            metrics,
            pricingOf(undefined, { types: ["m5a.large"] }),
            0,
          );
        });
        const report = {
          source: "stack dev",
          generatedAt: "2026-12-01T00:00:00.000Z",
          prices: pricingOf(undefined, { types: ["m5a.large"] }),
          rows,
          summary: summarizeRows(rows),
          warnings: [],
        };
        const expected = specs.map((spec) => ({
          params: Object.fromEntries(spec.params),
          metrics: Object.fromEntries(spec.metrics),
        }));

        const json = JSON.parse(JSON.stringify(reportDocument(report))) as {
          rows: { params: object; metrics: object }[];
        };
        const html = renderHtml(report);
        const data = /<script id="report-data" type="application\/json">(.*?)<\/script>/s.exec(
          html,
        );
        const page = JSON.parse(data?.[1] ?? "{}") as typeof json;
        for (const doc of [json, page]) {
          // Own keys only, in the file's order: nothing inherited, nothing lost.
          assert.deepStrictEqual(
            doc.rows.map((r) => [Object.entries(r.params), Object.entries(r.metrics)]),
            expected.map((e) => [Object.entries(e.params), Object.entries(e.metrics)]),
          );
        }

        const csv = parseCsv(formatCsv(report), { columns: true }) as Record<string, string>[];
        csv.forEach((cells, i) => {
          for (const m of report.summary.metrics) {
            const own = specs[i].metrics.find(([n]) => n === m);
            assert.strictEqual(cells[`metric:${m}`], own !== undefined ? String(own[1]) : "", m);
          }
          for (const p of report.summary.params) {
            const own = specs[i].params.find(([n]) => n === p);
            assert.strictEqual(cells[`param:${p}`], own !== undefined ? own[1] : "", p);
          }
        });

        const table = formatTable(report);
        assert.ok(!table.includes("[native code]"), table);
        const lines = table.split("\n");
        const at = lines[0].indexOf("METRICS");
        specs.forEach((spec, i) => {
          const cell = lines[i + 1].slice(at);
          const own = new Map(spec.metrics);
          const pairs = report.summary.metrics
            .filter((m) => own.has(m))
            .map((m) => `${m}=${own.get(m)}`)
            .join(" ");
          assert.ok(cell.endsWith("…") || cell === pairs, `${cell} / ${pairs}`);
        });
      }),
    );
  });
});
