/** Cost guards: what a stack can spend at once, and how often a failing job is paid for. */
import { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPES, validateTypes } from "./resources";
import { UNKNOWN, at, numberAt, stringList } from "./values";
import { BOUND_SETTING_SCHEMAS, COST_CAP_POLICY, COST_CAP_SETTING_SCHEMA } from "./bounds";

export const batchComputeMaxVcpusCap: ResourceValidationPolicy = {
  name: "batch-compute-max-vcpus-cap",
  description:
    "Checks whether every AWS Batch compute environment's maxVcpus is at most the configured " +
    "cap, which bounds what the stack can spend per hour.",
  remediationSteps:
    "Lower `computeResources.maxVcpus`, or raise `maxVcpus` for this policy in the policy config.",
  severity: "medium",
  configSchema: { properties: { maxVcpus: BOUND_SETTING_SCHEMAS.maxVcpus } },
  validateResource: validateTypes([TYPES.computeEnvironment], (args, reportViolation) => {
    const { maxVcpus: cap } = args.getConfig<{ maxVcpus: number }>();
    const maxVcpus = numberAt(args.props, "computeResources", "maxVcpus");
    if (typeof maxVcpus === "number" && maxVcpus > cap) {
      reportViolation(
        `Compute environment '${args.name}' has computeResources.maxVcpus ${maxVcpus}, above the ` +
          `cap of ${cap}: a large array job could run ${maxVcpus} vCPUs at once and bill for all ` +
          `of them. Fix: lower computeResources.maxVcpus to at most ${cap} (in this project: ` +
          `\`pulumi config set batchpy:maxVcpus ${cap}\`), or raise this policy's maxVcpus in ` +
          `the policy config if the spend is intended.`,
      );
    }
  }),
};

/**
 * A policy cannot ask EC2. An unlisted GPU type counts at the densest listed ratio.
 * @see https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html
 */
const GPU_INSTANCE_TYPES: Readonly<Record<string, { vcpus: number; gpus: number }>> = {
  "g4dn.xlarge": { vcpus: 4, gpus: 1 },
  "g4dn.2xlarge": { vcpus: 8, gpus: 1 },
  "g4dn.4xlarge": { vcpus: 16, gpus: 1 },
  "g4dn.8xlarge": { vcpus: 32, gpus: 1 },
  "g4dn.12xlarge": { vcpus: 48, gpus: 4 },
  "g4dn.16xlarge": { vcpus: 64, gpus: 1 },
  "g4dn.metal": { vcpus: 96, gpus: 8 },
  "g5.xlarge": { vcpus: 4, gpus: 1 },
  "g5.2xlarge": { vcpus: 8, gpus: 1 },
  "g5.4xlarge": { vcpus: 16, gpus: 1 },
  "g5.8xlarge": { vcpus: 32, gpus: 1 },
  "g5.12xlarge": { vcpus: 48, gpus: 4 },
  "g5.16xlarge": { vcpus: 64, gpus: 1 },
  "g5.24xlarge": { vcpus: 96, gpus: 4 },
  "g5.48xlarge": { vcpus: 192, gpus: 8 },
  "g6.xlarge": { vcpus: 4, gpus: 1 },
  "g6.2xlarge": { vcpus: 8, gpus: 1 },
  "g6.4xlarge": { vcpus: 16, gpus: 1 },
  "g6.8xlarge": { vcpus: 32, gpus: 1 },
  "g6.12xlarge": { vcpus: 48, gpus: 4 },
  "g6.16xlarge": { vcpus: 64, gpus: 1 },
  "g6.24xlarge": { vcpus: 96, gpus: 4 },
  "g6.48xlarge": { vcpus: 192, gpus: 8 },
  "p3.2xlarge": { vcpus: 8, gpus: 1 },
  "p3.8xlarge": { vcpus: 32, gpus: 4 },
  "p3.16xlarge": { vcpus: 64, gpus: 8 },
  "p4d.24xlarge": { vcpus: 96, gpus: 8 },
  "p5.48xlarge": { vcpus: 192, gpus: 8 },
};

const DENSEST_VCPUS_PER_GPU = 4;

/** Whole instances of the type packing the most GPUs into `maxVcpus`. */
export function maxGpusAtOnce(instanceTypes: readonly string[], maxVcpus: number) {
  let best = { count: 0, why: "no GPU instance types" };
  for (const type of instanceTypes.filter((name) => /^[gp]\d/.test(name))) {
    const known = GPU_INSTANCE_TYPES[type];
    const { vcpus, gpus } = known ?? { vcpus: DENSEST_VCPUS_PER_GPU, gpus: 1 };
    const instances = Math.floor(maxVcpus / vcpus);
    const why = known
      ? `${instances} ${type} with ${gpus} GPU${gpus === 1 ? "" : "s"} each within maxVcpus ${maxVcpus}`
      : `${type} is not in the pack's GPU table, so up to one GPU per ${vcpus} of maxVcpus ${maxVcpus}`;
    if (instances * gpus > best.count) {
      best = { count: instances * gpus, why };
    }
  }
  return best;
}

/** Four g5.xlarge or g4dn.xlarge instances: the g5.xlarge stack's 16 vCPUs. */
export const DEFAULT_MAX_GPUS_CAP = 4;

export const batchComputeMaxGpusCap: ResourceValidationPolicy = {
  name: "batch-compute-max-gpus-cap",
  description:
    "Checks whether the GPUs every AWS Batch compute environment may run at once (whole " +
    "instances within maxVcpus, times each instance type's GPUs) are at most the configured " +
    "cap: GPU instances bill several times what CPU instances do.",
  remediationSteps:
    "Lower `computeResources.maxVcpus` or pick instance types with fewer GPUs, or raise " +
    "`maxGpus` for this policy in the policy config.",
  severity: "medium",
  configSchema: {
    properties: {
      maxGpus: {
        type: "integer",
        minimum: 0,
        default: DEFAULT_MAX_GPUS_CAP,
        description: "The most GPUs a compute environment may run at once.",
      },
    },
  },
  validateResource: validateTypes([TYPES.computeEnvironment], (args, reportViolation) => {
    const { maxGpus: cap } = args.getConfig<{ maxGpus: number }>();
    const maxVcpus = numberAt(args.props, "computeResources", "maxVcpus");
    const types = stringList(at(args.props, "computeResources", "instanceTypes"));
    if (typeof maxVcpus !== "number" || types === UNKNOWN) {
      return; // Fargate (no instance types) has no GPUs; unknowns are decided at `up`.
    }
    const gpus = maxGpusAtOnce(types, maxVcpus);
    if (gpus.count > cap) {
      reportViolation(
        `Compute environment '${args.name}' may run ${gpus.count} GPUs at once ` +
          `(${gpus.why}), above the cap of ${cap}: a large array job would bill all of them. ` +
          `Fix: lower computeResources.maxVcpus (in this project: \`pulumi config set ` +
          `batchpy:maxVcpus …\`), or raise this policy's maxGpus in the policy config if the ` +
          `spend is intended.`,
      );
    }
  }),
};

export const batchJobRetryAttemptsBounded: ResourceValidationPolicy = {
  name: "batch-job-retry-attempts-bounded",
  description:
    "Checks whether every AWS Batch job definition's retryStrategy.attempts is at most the " +
    "configured bound, so a failing job is not paid for over and over.",
  remediationSteps:
    "Lower `retryStrategy.attempts`, or raise `maxAttempts` for this policy in the policy config.",
  severity: "medium",
  configSchema: { properties: { maxAttempts: BOUND_SETTING_SCHEMAS.maxAttempts } },
  validateResource: validateTypes([TYPES.jobDefinition], (args, reportViolation) => {
    const { maxAttempts } = args.getConfig<{ maxAttempts: number }>();
    // No retry strategy means a single attempt.
    const attempts = numberAt(args.props, "retryStrategy", "attempts");
    if (typeof attempts === "number" && attempts > maxAttempts) {
      reportViolation(
        `Job definition '${args.name}' has retryStrategy.attempts ${attempts}, above the ` +
          `bound of ${maxAttempts}: a job that fails for a reason of its own is run, and billed, ` +
          `${attempts} times. Fix: set retryStrategy.attempts to at most ${maxAttempts} (in this ` +
          `project: \`pulumi config set batchpy:retryAttempts ${maxAttempts}\`), or raise this ` +
          `policy's maxAttempts in the policy config.`,
      );
    }
  }),
};

export const batchSubmitCostCap: ResourceValidationPolicy = {
  name: COST_CAP_POLICY,
  description:
    "Caps what one `jobs:submit` or `jobs:retry` may cost: the tool refuses one whose cost " +
    "bound is above `maxCostUsd` (no cap unless set). The cost is the jobs', known only at " +
    "submit, so a deployment has nothing to check.",
  remediationSteps:
    "Submit fewer or shorter jobs (array size, retryStrategy.attempts, timeout), or raise " +
    "`maxCostUsd` for this policy in the policy config.",
  severity: "medium",
  configSchema: { properties: { maxCostUsd: COST_CAP_SETTING_SCHEMA } },
  validateResource: () => undefined,
};
