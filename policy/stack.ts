/**
 * Every compute environment a job queue sends jobs to must scale to zero, wherever in the
 * program it is defined; the violation names the queue.
 */
import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { idleCapacity, idleCapacityMessage } from "./batch-compute";
import { refersTo } from "./links";
import { TYPES } from "./resources";

/** The compute environments of the stack that a job queue sends jobs to. */
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
