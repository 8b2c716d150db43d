import { strict as assert } from "assert";
import { TYPES } from "../../policy/resources";
import { batchQueueComputeScalesToZero } from "../../policy/batch-compute";
import { CE_ARN, computeEnvironment, jobQueue } from "./fixtures";
import {
  StackResourceInput,
  assertHasStackViolation,
  assertNoStackViolations,
  runStackPolicy,
  stackArgs,
  unknown,
} from "./policy-helpers";

const policy = batchQueueComputeScalesToZero;

function environment(name: string, minVcpus: number, arn: string = CE_ARN): StackResourceInput {
  const props = computeEnvironment();
  props.computeResources = { ...props.computeResources!, minVcpus };
  return { type: TYPES.computeEnvironment, name, props: { ...props, name, arn } };
}

function queue(name: string, props: object, dependsOn: string[] = []): StackResourceInput {
  return {
    type: TYPES.jobQueue,
    name,
    props,
    propertyDependencies: { computeEnvironmentOrders: dependsOn },
  };
}

describe("batch-queue-compute-scales-to-zero", () => {
  it("passes the dev stack: one queue, one environment scaling to zero", async () => {
    await assertNoStackViolations(
      policy,
      stackArgs([environment("ce", 0), queue("queue", jobQueue(), ["ce"])]),
    );
  });

  it("reports the environment a queue sends jobs to, naming the queue and the value", async () => {
    await assertHasStackViolation(
      policy,
      stackArgs([environment("ce", 2), queue("queue", jobQueue(), ["ce"])]),
      "ce",
      "Job queue 'queue' sends jobs to a compute environment that does not scale to zero",
      "computeResources.minVcpus is 2",
    );
  });

  it("follows the dependency during preview, when the queue's ARN reference is unknown", async () => {
    const args = stackArgs([
      { ...environment("ce", 2), props: { ...environment("ce", 2).props, arn: unknown() } },
      queue("queue", { ...jobQueue(unknown()) }, ["ce"]),
    ]);
    await assertHasStackViolation(policy, args, "ce", "minVcpus is 2");
  });

  it("matches the ARN when no dependency is recorded", async () => {
    await assertHasStackViolation(
      policy,
      stackArgs([environment("ce", 1), queue("queue", jobQueue(CE_ARN))]),
      "ce",
      "minVcpus is 1",
    );
  });

  it("names every queue that uses the environment, once", async () => {
    const outcome = await runStackPolicy(
      policy,
      stackArgs([
        environment("ce", 2),
        queue("high", jobQueue(), ["ce"]),
        queue("low", jobQueue(), ["ce"]),
      ]),
    );
    assert.equal(outcome.violations.length, 1, JSON.stringify(outcome.violations));
    assert.match(outcome.violations[0].message, /Job queue 'high', 'low'/);
  });

  it("ignores environments no queue uses (the resource policy covers those)", async () => {
    const other = `${CE_ARN}-other`;
    await assertNoStackViolations(
      policy,
      stackArgs([
        environment("ce", 0),
        environment("unused", 4, other),
        queue("queue", jobQueue(), ["ce"]),
      ]),
    );
  });

  it("reports nothing while the environment's minVcpus is unknown", async () => {
    const ce = environment("ce", 0);
    const props = computeEnvironment();
    props.computeResources = { ...props.computeResources!, minVcpus: unknown() };
    await assertNoStackViolations(
      policy,
      stackArgs([{ ...ce, props }, queue("queue", jobQueue(unknown()), ["ce"])]),
    );
  });

  it("skips an environment the queue does not reference", async () => {
    const args = stackArgs([
      environment("ce", 8),
      environment("other", 8, `${CE_ARN}-other`),
      queue("queue", jobQueue(), []),
    ]);
    const outcome = await runStackPolicy(policy, args);
    assert.deepEqual(
      outcome.violations.map((v) => v.urn?.split("::").pop()),
      ["ce"],
    );
  });
});
