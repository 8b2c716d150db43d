import * as assert from "assert";
import type { JobDetail } from "../../jobs/aws/api";
import type { LedgerEntry } from "../../jobs/state/ledger";
import {
  pipelineOrder,
  allUnknown,
  arrayFailures,
  isSettled,
  singleFailures,
  runsPerSet,
  summarize,
  failedByDependency,
} from "../../jobs/status";
import { describeStop, formatCounts, formatFailure } from "../../jobs/output/status-print";
import { checkCancelOptions } from "../../jobs/commands/cancel";
import { BadInputError } from "../../jobs/errors";
import { parseTarget } from "../../jobs/commands/logs";

const e = (jobName: string, jobId: string, arraySize?: number): LedgerEntry => ({
  v: 1,
  jobName,
  jobId,
  kind: arraySize !== undefined ? "array" : "single",
  ...(arraySize !== undefined ? { arraySize } : {}),
  hash: "h",
  run: "r",
  submittedAt: "t",
});

describe("jobs/status: summaries for watch and status", function () {
  it("tells a job Batch failed because a job it waits for failed from one that failed itself", function () {
    const failed = (statusReason: string) => failedByDependency({ status: "FAILED", statusReason });
    assert.ok(failed("Dependent Job failed") && failed("dependency failed"));
    assert.ok(!failed("Essential container in task exited"));
    assert.ok(!failedByDependency({ status: "SUCCEEDED", statusReason: "Dependent Job failed" }));
  });

  it("orders a pipeline parents first, a step after the last it waits for, with its depth", function () {
    const after = new Map([
      ["plot", ["step", "grid"]],
      ["step", ["grid"]],
      ["x", ["y"]],
      ["y", ["x"]],
    ]);
    const order = pipelineOrder(
      ["plot", "step", "lone", "grid", "grid", "x", "y"],
      (n) => n,
      (n) => after.get(n) ?? [],
    );
    assert.deepStrictEqual(
      order.map((o) => `${o.item}:${o.depth}`),
      ["lone:0", "grid:0", "grid:0", "step:1", "plot:2", "x:0", "y:0"],
      "names waiting for each other (never IDs) come last, as given",
    );
  });

  it("orders each set's runs first to latest, a tie going to the later given; sets as first seen", function () {
    const runs = [
      { set: "b", at: 5, id: 1 },
      { set: "a", at: 9, id: 2 },
      { set: "b", at: 2, id: 3 },
      { set: "a", at: 9, id: 4 },
      { set: "a", at: 1, id: 5 },
    ];
    const ids = runsPerSet(
      runs,
      (r) => r.set,
      (r) => r.at,
    ).map((list) => list.map((r) => r.id));
    assert.deepStrictEqual(ids, [
      [3, 1],
      [5, 2, 4],
    ]);
  });

  it("counts array children individually and waits for the parents", function () {
    const details = new Map<string, JobDetail>([
      [
        "1",
        { jobId: "1", jobName: "a", status: "SUCCEEDED", container: { exitCode: 0 } } as JobDetail,
      ],
      [
        "2",
        {
          jobId: "2",
          jobName: "sw",
          status: "RUNNING",
          arrayProperties: { size: 10, statusSummary: { SUCCEEDED: 6, RUNNING: 3, FAILED: 1 } },
        } as unknown as JobDetail,
      ],
    ]);
    const s = summarize([e("a", "1"), e("sw", "2", 10), e("gone", "3")], details);
    assert.strictEqual(s.total, 12);
    assert.deepStrictEqual(
      { ...s.counts },
      {
        SUBMITTED: 0,
        PENDING: 0,
        RUNNABLE: 0,
        STARTING: 0,
        RUNNING: 3,
        SUCCEEDED: 7,
        FAILED: 1,
        UNKNOWN: 1,
      },
    );
    assert.strictEqual(s.allTerminal, false);
    assert.strictEqual(formatCounts(s.counts), "RUNNING 3 | SUCCEEDED 7 | FAILED 1 | UNKNOWN 1");
  });

  it("never counts a job Batch does not return as done, but does not wait for it", function () {
    const details = new Map([["1", { jobId: "1", status: "SUCCEEDED" } as JobDetail]]);
    const s = summarize([e("a", "1"), e("gone", "3")], details);
    assert.strictEqual(s.done, 1);
    assert.strictEqual(s.counts.UNKNOWN, 1);
    assert.strictEqual(s.allTerminal, false);
    assert.strictEqual(s.settled, true);
  });

  it("counts children that do not exist yet under the parent's status", function () {
    const details = new Map([
      [
        "2",
        { jobId: "2", status: "PENDING", arrayProperties: { size: 5 } } as unknown as JobDetail,
      ],
    ]);
    const s = summarize([e("sw", "2", 5)], details);
    assert.strictEqual(s.counts.PENDING, 5);
  });

  it("reports failures with the reason and the exit code of the last attempt", function () {
    const details = new Map([
      [
        "1",
        {
          jobId: "1",
          status: "FAILED",
          statusReason: "Essential container in task exited",
          attempts: [{ container: { exitCode: 1 } }, { container: { exitCode: 2 } }],
        } as unknown as JobDetail,
      ],
    ]);
    const failures = singleFailures(summarize([e("a", "1")], details));
    assert.deepStrictEqual(failures.map(formatFailure), [
      "a (1): Essential container in task exited, exit code 2",
    ]);
    const children = arrayFailures({ jobName: "sw", jobId: "2", status: "FAILED", arraySize: 3 }, [
      {
        jobId: "2:1",
        jobName: "sw",
        arrayProperties: { index: 1 },
        statusReason: "x",
        container: { exitCode: 137, reason: "OOM" },
      },
    ]);
    assert.deepStrictEqual(children.map(formatFailure), ["sw[1] (2:1): x, OOM, exit code 137"]);
  });

  it("a sweep stopped before its children existed shows the parent's reason", function () {
    const details = new Map([
      [
        "2",
        {
          jobId: "2",
          status: "FAILED",
          statusReason: "Cancelled with batchpy jobs:cancel",
          arrayProperties: { size: 4, statusSummary: {} },
        } as unknown as JobDetail,
      ],
    ]);
    const row = summarize([e("sw", "2", 4)], details).jobs[0];
    assert.deepStrictEqual(row.children, { FAILED: 4 });
    assert.deepStrictEqual(arrayFailures(row, []).map(formatFailure), [
      "sw (2): Cancelled with batchpy jobs:cancel, 4 failed children not listed by Batch",
    ]);
    const listed = [{ jobId: "2:1", jobName: "sw", arrayProperties: { index: 1 } }];
    assert.deepStrictEqual(
      arrayFailures({ ...row, children: { FAILED: 1 } }, listed).map(formatFailure),
      ["sw[1] (2:1): no exit code"],
      "every failed child listed: no parent line",
    );
    assert.deepStrictEqual(
      arrayFailures({ ...row, children: { FAILED: 1500 } }, []).map(formatFailure),
      ["sw (2): Cancelled with batchpy jobs:cancel, 1,500 failed children not listed by Batch"],
    );
  });

  it("tells all-unknown (wrong stack or region) from some jobs forgotten", function () {
    const known = new Map([["1", { jobId: "1", status: "SUCCEEDED" } as JobDetail]]);
    assert.strictEqual(allUnknown(summarize([e("a", "1"), e("b", "2")], new Map())), true);
    assert.strictEqual(allUnknown(summarize([e("a", "1"), e("b", "2")], known)), false);
    assert.strictEqual(allUnknown(summarize([], new Map())), false);
  });

  it("cancel stops every unfinished job and says what TerminateJob did", function () {
    assert.deepStrictEqual(
      (["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"] as const).map(
        (s) => !isSettled(s),
      ),
      [true, true, true, true, true],
    );
    assert.deepStrictEqual(
      (["SUCCEEDED", "FAILED", "UNKNOWN"] as const).map((s) => !isSettled(s)),
      [false, false, false],
    );
    assert.strictEqual(
      describeStop({ entry: e("a", "1"), status: "RUNNABLE" }),
      "cancelled a 1 (was RUNNABLE, not started)",
    );
    assert.strictEqual(
      describeStop({ entry: e("a", "1"), status: "STARTING" }),
      "terminated a 1 (was STARTING)",
    );
    assert.strictEqual(
      describeStop({ entry: e("sw", "2", 4), status: "PENDING", childrenTerminated: 1 }),
      "stopped sw 2 (array of 4, was PENDING): children not started cancelled, 1 running child terminated",
    );
  });

  it("cancel checks its options before anything else", function () {
    const base = { json: false, names: ["a"], all: false, reason: "r" };
    assert.doesNotThrow(() => checkCancelOptions(base));
    assert.throws(() => checkCancelOptions({ ...base, names: [] }), BadInputError);
    assert.throws(() => checkCancelOptions({ ...base, all: true }), BadInputError);
    assert.throws(
      () => checkCancelOptions({ ...base, reason: "x".repeat(1025) }),
      /--reason is 1025 characters; Batch takes at most 1024; shorten it/,
    );
  });

  it("logs targets: name, name:index, name[index]", function () {
    assert.deepStrictEqual(parseTarget("sw:3"), { base: "sw", index: 3 });
    assert.deepStrictEqual(parseTarget("sw[12]"), { base: "sw", index: 12 });
    assert.deepStrictEqual(parseTarget("plain"), { base: "plain" });
  });
});
