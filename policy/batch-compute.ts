/**
 * Compute environments scale to zero, or idle instances are billed; and stay on the
 * service-linked role, so that a changed environment is updated, not replaced.
 */
import { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { refersTo } from "./links";
import { TYPES, validateTypes } from "./resources";
import { at, numberAt } from "./values";

const EC2_COMPUTE_TYPES: readonly string[] = ["EC2", "SPOT"];

/** Unmanaged and Fargate environments keep none; AWS defaults `minVcpus` to 0. */
export function idleCapacity(props: unknown) {
  const environmentType = at(props, "type");
  if (typeof environmentType === "string" && environmentType.toUpperCase() === "UNMANAGED") {
    return undefined;
  }
  const computeType = at(props, "computeResources", "type");
  const upper = typeof computeType === "string" ? computeType.toUpperCase() : undefined;
  if (upper === undefined || !EC2_COMPUTE_TYPES.includes(upper)) {
    return undefined;
  }
  const minVcpus = numberAt(props, "computeResources", "minVcpus");
  if (typeof minVcpus !== "number" || minVcpus <= 0) {
    return undefined;
  }
  return { computeType: upper, minVcpus };
}

function idleCapacityMessage(
  environment: string,
  idle: NonNullable<ReturnType<typeof idleCapacity>>,
): string {
  return (
    `Compute environment '${environment}' must scale to zero, but computeResources.minVcpus is ` +
    `${idle.minVcpus} in this ${idle.computeType} environment: AWS Batch keeps ${idle.minVcpus} ` +
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
    const idle = idleCapacity(args.props);
    if (idle !== undefined) {
      reportViolation(idleCapacityMessage(args.name, idle));
    }
  }),
};

export function reachableComputeEnvironments(
  queue: PolicyResource,
  resources: readonly PolicyResource[],
): PolicyResource[] {
  return resources.filter(
    (r) =>
      r.type === TYPES.computeEnvironment &&
      refersTo(queue, "computeEnvironmentOrders", r) === true,
  );
}

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
    const queuesOf = new Map<PolicyResource, string[]>();
    for (const queue of queues) {
      for (const environment of reachableComputeEnvironments(queue, args.resources)) {
        queuesOf.set(environment, [...(queuesOf.get(environment) ?? []), queue.name]);
      }
    }
    for (const [environment, queueNames] of queuesOf) {
      const idle = idleCapacity(environment.props);
      if (idle !== undefined) {
        reportViolation(
          `Job queue ${queueNames.map((n) => `'${n}'`).join(", ")} sends jobs to a compute ` +
            `environment that does not scale to zero. ` +
            idleCapacityMessage(environment.name, idle),
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
    const environmentType = at(args.props, "type");
    if (typeof environmentType !== "string" || environmentType.toUpperCase() !== "MANAGED") {
      return; // Unmanaged environments: Batch launches and updates nothing.
    }
    // Unset, or not known yet (preview): decided during `pulumi up`.
    const role = at(args.props, "serviceRole");
    if (typeof role !== "string" || role === "" || SERVICE_LINKED_ROLE.test(role)) {
      return;
    }
    reportViolation(
      `Compute environment '${args.name}' must not use a custom service role, but its ` +
        `serviceRole is ${role}: changing its instance types, subnets, security groups, ` +
        `allocation strategy or instance role would replace it and kill its running jobs. ` +
        `Fix: leave serviceRole unset so AWS Batch uses AWSServiceRoleForBatch.`,
    );
  }),
};
