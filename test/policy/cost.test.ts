import { strict as assert } from "assert";
import { DEFAULT_BOUNDS } from "../../policy/bounds";
import {
  DEFAULT_MAX_GPUS_CAP,
  batchComputeMaxGpusCap,
  batchComputeMaxVcpusCap,
  batchJobRetryAttemptsBounded,
  batchSubmitCostCap,
  maxGpusAtOnce,
} from "../../policy/cost";
import { TYPES } from "../../policy/resources";
import { computeEnvironment, fargateComputeEnvironment, jobDefinition } from "./fixtures";
import {
  assertHasResourceViolation,
  assertNoResourceViolations,
  resourceArgs,
  unknown,
} from "./policy-helpers";

describe("batch-compute-max-vcpus-cap", () => {
  const policy = batchComputeMaxVcpusCap;
  const withMax = (maxVcpus: number, base = computeEnvironment()) => {
    base.computeResources = { ...base.computeResources!, maxVcpus };
    return base;
  };

  it("passes the dev stack's 16 vCPUs under the default cap", async () => {
    await assertNoResourceViolations(
      policy,
      resourceArgs(TYPES.computeEnvironment, computeEnvironment()),
    );
  });

  it("passes exactly the cap", async () => {
    const props = withMax(DEFAULT_BOUNDS.maxVcpus.value);
    await assertNoResourceViolations(policy, resourceArgs(TYPES.computeEnvironment, props));
  });

  it("reports a ceiling above the default cap of 64, with the value and the fix", async () => {
    await assertHasResourceViolation(
      policy,
      resourceArgs(TYPES.computeEnvironment, withMax(256), { name: "big-ce" }),
      "'big-ce'",
      "maxVcpus 256",
      "cap of 64",
      "Fix:",
    );
  });

  it("applies to Fargate environments too", async () => {
    await assertHasResourceViolation(
      policy,
      resourceArgs(TYPES.computeEnvironment, withMax(128, fargateComputeEnvironment())),
      "maxVcpus 128",
    );
  });

  it("takes the cap from the policy config", async () => {
    const args = { config: { maxVcpus: 8 } };
    await assertHasResourceViolation(
      policy,
      resourceArgs(TYPES.computeEnvironment, computeEnvironment(), args),
      "maxVcpus 16, above the cap of 8",
    );
    await assertNoResourceViolations(
      policy,
      resourceArgs(TYPES.computeEnvironment, withMax(256), { config: { maxVcpus: 512 } }),
    );
  });

  it("reports nothing while maxVcpus is unknown", async () => {
    const props = withMax(unknown<number>());
    await assertNoResourceViolations(policy, resourceArgs(TYPES.computeEnvironment, props));
  });
});

describe("batch-job-retry-attempts-bounded", () => {
  const policy = batchJobRetryAttemptsBounded;
  const withAttempts = (attempts: number) => {
    const props = jobDefinition();
    props.retryStrategy = { ...props.retryStrategy, attempts };
    return props;
  };

  it("passes the dev stack's 3 attempts", async () => {
    await assertNoResourceViolations(policy, resourceArgs(TYPES.jobDefinition, jobDefinition()));
    await assertNoResourceViolations(
      policy,
      resourceArgs(TYPES.jobDefinition, withAttempts(DEFAULT_BOUNDS.maxAttempts.value)),
    );
  });

  it("passes a job definition without a retry strategy (one attempt)", async () => {
    const props = jobDefinition();
    delete props.retryStrategy;
    await assertNoResourceViolations(policy, resourceArgs(TYPES.jobDefinition, props));
  });

  it("reports 10 attempts, with the value, the bound and the fix", async () => {
    await assertHasResourceViolation(
      policy,
      resourceArgs(TYPES.jobDefinition, withAttempts(10), { name: "batchpy-dev-def" }),
      "'batchpy-dev-def'",
      "retryStrategy.attempts 10",
      "bound of 3",
      "Fix:",
    );
  });

  it("takes the bound from the policy config", async () => {
    await assertNoResourceViolations(
      policy,
      resourceArgs(TYPES.jobDefinition, withAttempts(5), { config: { maxAttempts: 5 } }),
    );
    await assertHasResourceViolation(
      policy,
      resourceArgs(TYPES.jobDefinition, withAttempts(2), { config: { maxAttempts: 1 } }),
      "bound of 1",
    );
  });

  it("reports nothing while attempts or the whole retry strategy is unknown", async () => {
    await assertNoResourceViolations(
      policy,
      resourceArgs(TYPES.jobDefinition, withAttempts(unknown<number>())),
    );
    const props = jobDefinition();
    props.retryStrategy = unknown();
    await assertNoResourceViolations(policy, resourceArgs(TYPES.jobDefinition, props));
  });
});

describe("batch-compute-max-gpus-cap", () => {
  const policy = batchComputeMaxGpusCap;
  const gpuStack = (instanceTypes: string[], maxVcpus = 16) => {
    const base = computeEnvironment();
    base.computeResources = { ...base.computeResources!, type: "SPOT", instanceTypes, maxVcpus };
    return base;
  };

  it("passes the g5.xlarge SPOT stack: 16 vCPUs are 4 instances, 4 GPUs, the default cap", async () => {
    assert.equal(maxGpusAtOnce(["g5.xlarge"], 16).count, DEFAULT_MAX_GPUS_CAP);
    await assertNoResourceViolations(
      policy,
      resourceArgs(TYPES.computeEnvironment, gpuStack(["g5.xlarge"])),
    );
  });

  it("passes CPU-only and Fargate environments", async () => {
    await assertNoResourceViolations(
      policy,
      resourceArgs(TYPES.computeEnvironment, computeEnvironment()),
    );
    await assertNoResourceViolations(
      policy,
      resourceArgs(TYPES.computeEnvironment, fargateComputeEnvironment()),
    );
  });

  it("reports one GPU over the cap, with the count, the reason and the fix", async () => {
    await assertHasResourceViolation(
      policy,
      resourceArgs(TYPES.computeEnvironment, gpuStack(["g5.xlarge"], 20), { name: "gpu-ce" }),
      "'gpu-ce' may run 5 GPUs at once",
      "5 g5.xlarge with 1 GPU each within maxVcpus 20",
      "cap of 4",
      "Fix:",
    );
  });

  it("counts the type that packs the most GPUs into maxVcpus", async () => {
    // 48 vCPUs: twelve g5.xlarge (12 GPUs) or one g5.12xlarge (4 GPUs).
    assert.equal(maxGpusAtOnce(["g5.12xlarge", "g5.xlarge"], 48).count, 12);
    assert.equal(maxGpusAtOnce(["g5.12xlarge"], 48).count, 4);
    assert.equal(maxGpusAtOnce(["g5.12xlarge"], 47).count, 0);
  });

  it("never undercounts a GPU type it does not list", async () => {
    const counted = maxGpusAtOnce(["g7.xlarge"], 16);
    assert.equal(counted.count, 4);
    assert.match(counted.why, /not in the pack's GPU table/);
  });

  it("takes the cap from the policy config, and skips unknown values", async () => {
    await assertHasResourceViolation(
      policy,
      resourceArgs(TYPES.computeEnvironment, gpuStack(["g5.xlarge"]), { config: { maxGpus: 2 } }),
      "4 GPUs at once",
      "cap of 2",
    );
    const base = gpuStack(["g5.xlarge"]);
    base.computeResources = { ...base.computeResources!, maxVcpus: unknown<number>() };
    await assertNoResourceViolations(policy, resourceArgs(TYPES.computeEnvironment, base));
  });
});

describe("batch-submit-cost-cap", () => {
  it("checks nothing at deploy time: the cap is held by jobs:submit", async () => {
    const cap = { maxCostUsd: 0 };
    await assertNoResourceViolations(
      batchSubmitCostCap,
      resourceArgs(TYPES.jobDefinition, jobDefinition(), { config: cap }),
    );
    await assertNoResourceViolations(
      batchSubmitCostCap,
      resourceArgs(TYPES.computeEnvironment, computeEnvironment(), { config: cap }),
    );
  });
});
