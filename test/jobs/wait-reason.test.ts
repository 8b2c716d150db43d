import * as assert from "assert";
import { longWaits, type JobRow } from "../../jobs/status";
import { waitReason } from "../../jobs/wait-reason";
import type { JobDetail } from "../../jobs/aws/api";

describe("jobs/wait-reason: why Batch holds a RUNNABLE job", function () {
  const cases: readonly [string, RegExp, RegExp][] = [
    [
      "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type [m5a.large]",
      /no spare instances/,
      /batchpy:instanceTypes\[1\]/,
    ],
    [
      "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - CE(s) associated with the job queue cannot meet the CPU requirement of the job.",
      /more vCPUs than the compute environments may run/,
      /pulumi config set batchpy:maxVcpus/,
    ],
    [
      "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher than that can be met by the CE(s) attached to the job queue.",
      /no instance type .* vCPUs or memory/,
      /batchpy:jobVcpus \/ batchpy:jobMemoryMiB.*instanceTypes/,
    ],
    [
      "MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS - Batch service role has a permission issue.",
      /service role may not/,
      /pulumi up to restore the stack's roles/,
    ],
    [
      "MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED - The instance configuration is not supported.",
      /instance configuration .* cannot run here/,
      /exact types this region offers in batchpy:instanceTypes/,
    ],
    ["UNDETERMINED", /cannot tell why/, /jobs:why .* Auto Scaling activity/],
    [
      "ACTION_REQUIRED - CE(s) associated with the job queue are invalid.",
      /compute environment of the queue is INVALID/,
      /jobs:why .* shows its reason/,
    ],
  ];
  for (const [statusReason, words, fix] of cases) {
    const code = statusReason.split(" ")[0];
    it(`explains ${code} and names its fix`, function () {
      const reason = waitReason(statusReason);
      assert.strictEqual(reason?.code, code);
      assert.match(reason.words, words);
      assert.match(reason.fix, fix);
    });
  }

  it("explains a cancel by the queue's time limit with the reason it was held for", function () {
    const reason = waitReason(
      "Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
    );
    assert.strictEqual(reason?.code, "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY");
    assert.match(
      reason.words,
      /batchpy:runnableTimeoutSeconds\) cancelled it while EC2 has no spare/,
    );
    assert.match(reason.fix, /instanceTypes.*jobs:retry -- <name>$/);
  });

  it("leaves other reasons and none unexplained", function () {
    assert.strictEqual(waitReason(undefined), undefined);
    assert.strictEqual(waitReason("Essential container in task exited"), undefined);
    assert.strictEqual(
      waitReason("Canceled by JobStateTimeLimit action due to reason: X"),
      undefined,
    );
  });
});

describe("jobs/status longWaits: jobs RUNNABLE 5 min after their submit", function () {
  const now = 10 * 60_000;
  const details = new Map(
    ["a", "b", "c", "d"].map((id, i) => [id, { createdAt: now - (i + 4) * 60_000 } as JobDetail]),
  );
  it("lists RUNNABLE jobs and arrays with RUNNABLE children from 5 min on, with their reason", function () {
    const rows: JobRow[] = [
      { jobName: "a", jobId: "a", status: "RUNNABLE" },
      { jobName: "b", jobId: "b", status: "RUNNABLE", statusReason: "UNDETERMINED" },
      { jobName: "c", jobId: "c", status: "PENDING", children: { RUNNABLE: 2, RUNNING: 1 } },
      { jobName: "d", jobId: "d", status: "RUNNING" },
    ];
    const waits = longWaits(rows, details, now);
    assert.deepStrictEqual(
      waits.map((w) => [w.jobName, w.minutes, w.reason?.code]),
      [
        ["b", 5, "UNDETERMINED"],
        ["c", 6, undefined],
      ],
    );
  });
});
