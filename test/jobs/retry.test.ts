/** jobs:retry, pure parts: what to retry, the retry's name and requests. */
import * as assert from "assert";
import type { LedgerEntry } from "../../jobs/state/ledger";
import { buildPlan, sweepSubmissions, type Submission } from "../../jobs/input/plan";
import type { RunUnit } from "../../jobs/report/rows";
import { nextRetryName, planJobRetry, selectRetry } from "../../jobs/commands/retry";
import type { LoadedSweep, ParameterSet } from "../../jobs/input/sweep";
import { STACK_OUTPUTS } from "../helpers/jobs-harness";

function unit(over: Partial<RunUnit>): RunUnit {
  return { job: "sw", jobId: "j", status: "SUCCEEDED", attempts: [], params: new Map(), ...over };
}

function sweep(n: number): LoadedSweep {
  return {
    kind: "sweep",
    file: "sw.json",
    jobName: "sw",
    base: {
      containerOverrides: { environment: [{ name: "save_name", value: "r" }] },
      timeout: { attemptDurationSeconds: 60 },
    },
    sets: Array.from({ length: n }, (_, i): ParameterSet => new Map([["a", String(i)]])),
    consumedFiles: [],
    keySources: new Map(),
    problemAt: (message) => ({ message }),
  };
}

const outputs = { outputs: STACK_OUTPUTS, source: "outputs.json" };
const env = (s: Submission) =>
  Object.fromEntries(
    (s.request.containerOverrides?.environment ?? []).map((v) => [v.name, v.value]),
  );

describe("jobs/commands/retry: selecting and planning what failed", function () {
  it("retries each set's latest run if it failed; running and unknown runs block", function () {
    const sel = selectRetry(
      ["sw", "other", "busy"],
      [
        unit({ index: 0, status: "FAILED", createdAt: 1 }),
        unit({ index: 0, status: "SUCCEEDED", createdAt: 2 }), // retried already, now fine
        unit({ index: 1, status: "FAILED", createdAt: 1 }),
        unit({ index: 2, status: "SUCCEEDED", createdAt: 1 }),
        unit({ index: 3, status: "FAILED", createdAt: 1 }),
        unit({ index: 3, status: "FAILED", createdAt: 3 }), // failed again: still retried
        unit({ job: "other", status: "FAILED" }),
        unit({ job: "busy", index: 0, status: "RUNNING" }),
        unit({ job: "busy", index: 1, status: "UNKNOWN" }),
        unit({ job: "busy", index: 2, status: "FAILED" }),
      ],
    );
    assert.deepStrictEqual(
      sel.map((s) => [s.name, s.failed.map((u) => u.index), s.unfinished.length]),
      [
        ["sw", [1, 3], 0],
        ["other", [undefined], 0],
        ["busy", [2], 2],
      ],
    );
  });

  it("names a retry one past the ledger's earlier retries of the same sweep", function () {
    const e = (jobName: string, of?: string) =>
      ({ jobName, ...(of !== undefined ? { of } : {}) }) as LedgerEntry;
    assert.strictEqual(nextRetryName("sw", []), "sw-r1");
    assert.strictEqual(
      nextRetryName("sw", [e("sw"), e("sw-r1", "sw"), e("sw-r3-c0", "sw"), e("sw-rx", "sw")]),
      "sw-r4",
    );
    // Another job's retries, or a job merely named like one, do not count.
    assert.strictEqual(nextRetryName("sw", [e("sw2-r7", "sw2"), e("sw-r9")]), "sw-r1");
  });

  it("failed sets go as one array job whose manifest keeps their set numbers", function () {
    const [template] = buildPlan([sweep(5)], { outputs, array: true }).submissions;
    const [s] = sweepSubmissions(sweep(5), "sw-r1", [4, 0], template.request);
    assert.strictEqual(s.kind, "array");
    assert.strictEqual(s.jobName, "sw-r1");
    assert.strictEqual(s.sweep, "sw");
    assert.deepStrictEqual(s.request.arrayProperties, { size: 2 });
    assert.deepStrictEqual(s.request.timeout, { attemptDurationSeconds: 60 });
    assert.strictEqual(s.request.jobQueue, template.request.jobQueue);
    if (s.kind === "array") {
      assert.deepStrictEqual(JSON.parse(s.manifest.body), {
        version: 1,
        sets: [{ a: "0" }, { a: "4" }],
        indexes: [0, 4],
      });
      assert.deepStrictEqual(env(s), {
        save_name: "r",
        BATCHPY_ARRAY_MANIFEST: s.manifest.key,
        BATCHPY_JOB_NAME: "sw",
      });
    }
    // Planned again from the same state, the same retry has the same hash (exactly-once).
    assert.strictEqual(
      sweepSubmissions(sweep(5), "sw-r1", [0, 4], template.request)[0].hash,
      s.hash,
    );
  });

  it("a lone failed set goes as a plain job naming its set number", function () {
    const [template] = buildPlan([sweep(5)], { outputs, array: true }).submissions;
    const [s] = sweepSubmissions(sweep(5), "sw-r2", [3], template.request);
    assert.strictEqual(s.kind, "single");
    assert.strictEqual(s.request.arrayProperties, undefined);
    assert.deepStrictEqual(env(s), {
      save_name: "r",
      a: "3",
      BATCHPY_SET_INDEX: "3",
      BATCHPY_JOB_NAME: "sw",
    });
  });

  it("more than 10,000 failed sets go as chunks of the retry", function () {
    const big = sweep(20_001);
    const [template] = buildPlan([big], { outputs, array: true }).submissions;
    const failed = Array.from({ length: 10_001 }, (_, i) => i * 2);
    const parts = sweepSubmissions(big, "sw-r1", failed, template.request);
    assert.deepStrictEqual(
      parts.map((p) => [p.jobName, p.kind, p.arraySize]),
      [
        ["sw-r1-c0", "array", 10_000],
        ["sw-r1-c1", "single", undefined],
      ],
    );
    assert.strictEqual(env(parts[1]).BATCHPY_SET_INDEX, "20000");
  });

  it("a failed single job goes again under a new name, still filed under its own", function () {
    const job = {
      ...sweep(1),
      jobName: "solo",
      file: "solo.json",
    };
    const [original] = buildPlan([job], { outputs, array: true }).submissions;
    const again = planJobRetry(original, "solo", "solo-r1");
    assert.strictEqual(again.request.jobName, "solo-r1");
    assert.strictEqual(again.sweep, "solo");
    assert.strictEqual(env(again).BATCHPY_JOB_NAME, "solo");
    assert.notStrictEqual(again.hash, original.hash);
  });
});
