/**
 * Compute environments scale to zero, or idle instances are billed; and stay on the
 * service-linked role, so that a changed environment is updated, not replaced.
 */
import { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { TYPES, validateTypes, refersTo } from "./resources";
import { at, numberAt } from "./values";

const EC2_COMPUTE_TYPES: readonly string[] = ["EC2", "SPOT"];

/**
 * Why `environment` bills while idle. Unmanaged and Fargate environments keep no capacity; AWS
 * defaults `minVcpus` to 0.
 */
function idleCapacity(environment: string, props: unknown): string | undefined {
  const environmentType = String(at(props, "type")).toUpperCase();
  const upper = String(at(props, "computeResources", "type")).toUpperCase();
  const minVcpus = numberAt(props, "computeResources", "minVcpus");
  const idle = environmentType !== "UNMANAGED" && EC2_COMPUTE_TYPES.includes(upper);
  if (!idle || typeof minVcpus !== "number" || minVcpus <= 0) {
    return undefined;
  }
  return (
    `Compute environment '${environment}' must scale to zero, but computeResources.minVcpus is ` +
    `${minVcpus} in this ${upper} environment: AWS Batch keeps ${minVcpus} ` +
    `vCPUs of instances running, and billed, even when no job is queued. ` +
    `Fix: set computeResources.minVcpus to 0 or leave it out ` +
    `(in this project: \`pulumi config set batchpy:minVcpus 0\`).`
  );
}

export const batchComputeMinVcpusZero: ResourceValidationPolicy = {
  name: "batch-compute-min-vcpus-zero",
  description:
    "Checks whether every managed EC2 or SPOT AWS Batch compute environment has minVcpus 0, " +
    "so it runs no instances while no job is queued.",
  remediationSteps:
    "Set `computeResources.minVcpus` to 0 (or leave it out; AWS defaults it to 0 for EC2 and SPOT).",
  url: "https://docs.aws.amazon.com/batch/latest/userguide/compute_environment_parameters.html",
  severity: "high",
  validateResource: validateTypes([TYPES.computeEnvironment], (args, reportViolation) => {
    const idle = idleCapacity(args.name, args.props);
    if (idle !== undefined) {
      reportViolation(idle);
    }
  }),
};

export const batchQueueComputeScalesToZero: StackValidationPolicy = {
  name: "batch-queue-compute-scales-to-zero",
  description:
    "Checks whether every compute environment that a job queue sends jobs to scales to zero " +
    "(minVcpus 0), so a stack with an empty queue runs no instances.",
  remediationSteps:
    "Set `computeResources.minVcpus` to 0 on each compute environment in the queue's " +
    "`computeEnvironmentOrders`.",
  url: "https://docs.aws.amazon.com/batch/latest/userguide/compute_environment_parameters.html",
  severity: "high",
  validateStack: (args, reportViolation) => {
    const queues = args.resources.filter((r) => r.type === TYPES.jobQueue);
    const environments = args.resources.filter((r) => r.type === TYPES.computeEnvironment);
    for (const environment of environments) {
      const idle = idleCapacity(environment.name, environment.props);
      const senders = queues.filter(
        (q) => refersTo(q, "computeEnvironmentOrders", environment) === true,
      );
      if (idle !== undefined && senders.length > 0) {
        reportViolation(
          `Job queue ${senders.map((q) => `'${q.name}'`).join(", ")} sends jobs to a compute ` +
            `environment that does not scale to zero. ${idle}`,
          environment.urn,
        );
      }
    }
  },
};

const SERVICE_LINKED_ROLE =
  /:role\/aws-service-role\/batch\.amazonaws\.com\/AWSServiceRoleForBatch$/;

export const batchComputeNoCustomServiceRole: ResourceValidationPolicy = {
  name: "batch-compute-no-custom-service-role",
  description:
    "Checks whether every managed AWS Batch compute environment leaves serviceRole unset (or " +
    "names the service-linked role AWSServiceRoleForBatch): AWS Batch updates instance types, " +
    "subnets, security groups, allocation strategy, bid percentage and instance role in place " +
    "only for environments on the service-linked role; with a custom role each such change " +
    "replaces the environment and terminates its running jobs, and the role can never be " +
    "switched in place.",
  remediationSteps:
    "Leave `serviceRole` unset. An existing environment must be replaced once (a new resource " +
    "name), between runs; delete the custom role only after the old environment is gone.",
  url: "https://docs.aws.amazon.com/batch/latest/userguide/infrastructure-updates.html",
  severity: "medium",
  validateResource: validateTypes([TYPES.computeEnvironment], (args, reportViolation) => {
    if (String(at(args.props, "type")).toUpperCase() !== "MANAGED") {
      return; // Unmanaged environments: Batch launches and updates nothing.
    }
    // Unset, or not known yet (preview): decided during `pulumi up`.
    const role = at(args.props, "serviceRole");
    if (typeof role === "string" && role !== "" && !SERVICE_LINKED_ROLE.test(role)) {
      reportViolation(
        `Compute environment '${args.name}' must not use a custom service role, but its ` +
          `serviceRole is ${role}: changing its instance types, subnets, security groups, ` +
          `allocation strategy or instance role would replace it and kill its running jobs. ` +
          `Fix: leave serviceRole unset so AWS Batch uses AWSServiceRoleForBatch.`,
      );
    }
  }),
};
