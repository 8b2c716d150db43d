import * as assert from "assert";
import { JobQueue, validateJobQueueArgs } from "../../components/job-queue";
import { mockRun, single } from "../helpers/pulumi";

describe("JobQueue", () => {
  it("orders its compute environments and cancels jobs stuck in RUNNABLE", async () => {
    const { resources, outputs } = await mockRun(() => {
      const q = new JobQueue("q", {
        computeEnvironments: ["arn:ce:a", "arn:ce:b"],
        runnableTimeoutSeconds: 900,
      });
      return { arn: q.jobQueueArn, name: q.jobQueueName };
    });
    const queue = single(resources, "aws:batch/jobQueue:JobQueue");
    assert.strictEqual(queue.parent, single(resources, "batchpy:queue:JobQueue").urn);
    assert.strictEqual(queue.inputs.state, "ENABLED");
    assert.strictEqual(queue.inputs.priority, 1);
    assert.deepStrictEqual(queue.inputs.computeEnvironmentOrders, [
      { computeEnvironment: "arn:ce:a", order: 0 },
      { computeEnvironment: "arn:ce:b", order: 1 },
    ]);
    assert.deepStrictEqual(queue.inputs.jobStateTimeLimitActions, [
      {
        state: "RUNNABLE",
        action: "CANCEL",
        reason: "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
        maxTimeSeconds: 900,
      },
      {
        state: "RUNNABLE",
        action: "CANCEL",
        reason: "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
        maxTimeSeconds: 900,
      },
      {
        state: "RUNNABLE",
        action: "CANCEL",
        reason: "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
        maxTimeSeconds: 900,
      },
    ]);
    assert.match(String(outputs.arn), /^arn:aws:batch:us-east-1:123456789012:job-queue\/q-queue-/);
  });

  it("rejects a RUNNABLE timeout outside AWS's 600–86400 seconds", () => {
    assert.throws(
      () => validateJobQueueArgs("q", { computeEnvironments: ["a"], runnableTimeoutSeconds: 60 }),
      /JobQueue 'q' has 'runnableTimeoutSeconds' = 60; 'runnableTimeoutSeconds' must be an integer from 600 to 86400/,
    );
  });

  it("rejects an empty or oversized list of compute environments", () => {
    assert.throws(
      () => validateJobQueueArgs("q", { computeEnvironments: [] }),
      /has no 'computeEnvironments'/,
    );
    assert.throws(
      () => validateJobQueueArgs("q", { computeEnvironments: ["a", "b", "c", "d"] }),
      /at most 3 per queue/,
    );
  });
});
