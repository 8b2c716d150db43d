import * as aws from "./aws";
import * as pulumi from "@pulumi/pulumi";
import { checkRanges, ValidationError } from "./validation";

// The capacity reason may resolve by itself, so all get a grace period, not an immediate cancel.
// @see https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable_time_limit_actions.html
const RUNNABLE_CANCEL_REASONS = [
  "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
  "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
  "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
] as const;

export interface JobQueueArgs {
  /** Compute environment ARNs, tried in this order. */
  readonly computeEnvironments: pulumi.Input<string>[];
  /** Higher runs first when several queues share a compute environment. @default 1 */
  readonly priority?: number;
  /** Seconds in RUNNABLE for a {@link RUNNABLE_CANCEL_REASONS} until cancelled. @default 3600 */
  readonly runnableTimeoutSeconds?: number;
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export function validateJobQueueArgs(name: string, args: Partial<JobQueueArgs>): void {
  const where = `JobQueue '${name}'`;
  const count = args.computeEnvironments?.length;
  if (count === 0 || (count !== undefined && count > 3)) {
    throw new ValidationError(
      count === 0
        ? `${where} has no 'computeEnvironments'; give at least one.`
        : `${where} has ${count} 'computeEnvironments'; AWS Batch allows at most 3 per queue.`,
      "computeEnvironments",
    );
  }
  checkRanges(where, args, {
    priority: [0, 1000, "AWS Batch queue priorities"],
    runnableTimeoutSeconds: [
      600,
      86400,
      "AWS's bounds for jobStateTimeLimitActions[].maxTimeSeconds",
    ],
  });
}

export class JobQueue extends pulumi.ComponentResource {
  public readonly jobQueueArn: pulumi.Output<string>;
  public readonly jobQueueName: pulumi.Output<string>;

  constructor(name: string, args: JobQueueArgs, opts?: pulumi.ComponentResourceOptions) {
    super("batchpy:queue:JobQueue", name, {}, opts);
    validateJobQueueArgs(name, args);
    const { priority = 1, runnableTimeoutSeconds: maxTimeSeconds = 3600 } = args;
    const queue = new aws.batch.JobQueue(
      `${name}-queue`,
      {
        state: "ENABLED",
        priority,
        computeEnvironmentOrders: args.computeEnvironments.map((computeEnvironment, order) => ({
          computeEnvironment,
          order,
        })),
        jobStateTimeLimitActions: RUNNABLE_CANCEL_REASONS.map((reason) => ({
          state: "RUNNABLE",
          action: "CANCEL",
          reason,
          maxTimeSeconds,
        })),
        tags: args.tags,
      },
      { parent: this },
    );

    this.jobQueueArn = queue.arn;
    this.jobQueueName = queue.name;
    this.registerOutputs({ jobQueueArn: this.jobQueueArn, jobQueueName: this.jobQueueName });
  }
}
