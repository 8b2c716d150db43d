import * as assert from "assert";
import type { JobDetail } from "../../jobs/aws";
import type { LedgerEntry } from "../../jobs/ledger";
import {
  childFailures,
  formatCounts,
  formatFailure,
  singleFailures,
  summarize,
} from "../../jobs/status";
import { stopAction } from "../../jobs/cancel";
import { parseTarget } from "../../jobs/logs";

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
    const children = childFailures({ jobName: "sw", jobId: "2", status: "FAILED", arraySize: 3 }, [
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

  it("cancel picks CancelJob before start and TerminateJob after", function () {
    assert.strictEqual(stopAction("RUNNABLE"), "cancel");
    assert.strictEqual(stopAction("RUNNING"), "terminate");
    assert.strictEqual(stopAction("STARTING"), "terminate");
    assert.strictEqual(stopAction("SUCCEEDED"), undefined);
  });

  it("logs targets: name, name:index, name[index]", function () {
    assert.deepStrictEqual(parseTarget("sw:3"), { base: "sw", index: 3 });
    assert.deepStrictEqual(parseTarget("sw[12]"), { base: "sw", index: 12 });
    assert.deepStrictEqual(parseTarget("plain"), { base: "plain" });
  });
});
