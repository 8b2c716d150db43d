import * as aws from "./aws";
import * as pulumi from "@pulumi/pulumi";
import { BUCKET_PREFIXES, VARS } from "./contract";
import { definedOnly } from "./defined";
import { FARGATE_MEMORY_MIB } from "./instance-types";
import { checkRanges, ValidationError } from "./validation";

export const JOB_DEFAULTS = {
  vcpus: 1,
  memoryMiB: 1000,
  gpus: 0,
  timeoutSeconds: 3600,
  retryAttempts: 3,
  logRetentionDays: 30,
  command: ["python3", "/app/run_job.py"] as readonly string[],
};
const MAX_JOB_DEFINITION_BYTES = 24 * 1024;
const LOG_RETENTION_DAYS: readonly number[] = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288,
  3653,
];

export interface JobDefinitionArgs {
  readonly image: pulumi.Input<string>;
  /** Where the job runs; Fargate needs network and platform settings EC2 does not. */
  readonly platform: "EC2" | "FARGATE";
  /** The bucket whose `inputs/`, `results/` and `logs/` the entrypoint uses. */
  readonly bucketName: pulumi.Input<string>;
  readonly jobRoleArn: pulumi.Input<string>;
  /** The role ECS uses to pull the image and write logs. */
  readonly executionRoleArn: pulumi.Input<string>;
  /** Region of the log group and bucket, passed to the container and the log driver. */
  readonly region: pulumi.Input<string>;
  /** vCPUs per job (Fargate: 0.25, 0.5, 1, 2, 4, 8 or 16). @default 1 */
  readonly vcpus?: number;
  /** Memory per job in MiB (Fargate allows only certain amounts per vCPU count). @default 1000 */
  readonly memoryMiB?: number;
  /** GPUs per job (EC2 and SPOT only): Batch places the job where there are. @default 0 */
  readonly gpus?: number;
  /**
   * Seconds an attempt may run before Batch stops it, so a hung script stops billing.
   * @default 3600
   * @see https://docs.aws.amazon.com/batch/latest/userguide/job_timeouts.html
   */
  readonly timeoutSeconds?: number;
  /** Attempts per job (1–10); only host failures are retried, not the script's own. @default 3 */
  readonly retryAttempts?: number;
  /** Days the job log group keeps container output. @default 30 */
  readonly logRetentionDays?: number;
  /** @default ["python3", "/app/run_job.py"] */
  readonly command?: readonly string[];
  /** Propagated to the jobs' tasks too. */
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export function validateJobDefinitionArgs(name: string, args: Partial<JobDefinitionArgs>): void {
  const where = `JobDefinition '${name}'`;
  const { vcpus, memoryMiB: memory, gpus } = { ...JOB_DEFAULTS, ...definedOnly(args) };
  checkRanges(where, args, {
    timeoutSeconds: [60, 14 * 86400, "AWS Batch's minimum attempt timeout is 60 seconds"],
    retryAttempts: [1, 10, "AWS Batch retries 1 to 10 attempts"],
    memoryMiB: [4, 10_000_000, "memory is whole MiB, at least 4"],
    gpus: [0, 16, "GPUs are whole; EC2 has at most 16 per instance"],
  });
  const retention = args.logRetentionDays;
  if (retention !== undefined && !LOG_RETENTION_DAYS.includes(retention)) {
    throw new ValidationError(
      `${where} has 'logRetentionDays' = ${retention}; CloudWatch Logs accepts only ${LOG_RETENTION_DAYS.join(", ")}.`,
      "logRetentionDays",
    );
  }
  if (args.platform !== "FARGATE") {
    if (!Number.isInteger(vcpus) || vcpus < 1) {
      throw new ValidationError(
        `${where} has 'vcpus' = ${vcpus}; on EC2 it must be a whole number of at least 1.`,
        "vcpus",
      );
    }
    return;
  }
  if (gpus > 0) {
    throw new ValidationError(
      `${where} has 'gpus' = ${gpus} on Fargate; Fargate has no GPUs. Run GPU jobs on EC2 or SPOT.`,
      "gpus",
    );
  }
  const allowed = FARGATE_MEMORY_MIB.get(vcpus);
  if (allowed === undefined) {
    throw new ValidationError(
      `${where} has 'vcpus' = ${vcpus} on Fargate; it must be one of ${[...FARGATE_MEMORY_MIB.keys()].join(", ")}.`,
      "vcpus",
    );
  }
  if (!allowed.includes(memory)) {
    const step = allowed[1] - allowed[0];
    const even =
      allowed.length > 3 && allowed.every((v, i) => i === 0 || v - allowed[i - 1] === step);
    const choices = even
      ? `${allowed[0]} to ${allowed.at(-1)} in steps of ${step}`
      : `${allowed.slice(0, -1).join(", ")} or ${allowed.at(-1)}`;
    throw new ValidationError(
      `${where} has 'memoryMiB' = ${memory} with 'vcpus' = ${vcpus} on Fargate; Fargate allows only ${choices} MiB with ${vcpus} vCPU.`,
      "memoryMiB",
    );
  }
}

// Checked against Batch's size limit here, not half-way through `pulumi up`.
export function containerPropertiesJson(
  name: string,
  v: pulumi.Unwrap<typeof JOB_DEFAULTS & JobDefinitionArgs> & { readonly logGroupName: string },
): string {
  const fargate = {
    // Default-VPC public subnets have no NAT: without a public IP the task cannot pull.
    networkConfiguration: { assignPublicIp: "ENABLED" },
    fargatePlatformConfiguration: { platformVersion: "LATEST" },
    runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
  };
  const json = JSON.stringify({
    image: v.image,
    command: v.command,
    jobRoleArn: v.jobRoleArn,
    executionRoleArn: v.executionRoleArn,
    resourceRequirements: [
      { type: "VCPU", value: String(v.vcpus) },
      { type: "MEMORY", value: String(v.memoryMiB) },
      ...(v.gpus > 0 ? [{ type: "GPU", value: String(v.gpus) }] : []),
    ],
    environment: [
      { name: VARS.bucket, value: v.bucketName },
      { name: VARS.inputsPrefix, value: BUCKET_PREFIXES.inputs },
      { name: VARS.resultsPrefix, value: BUCKET_PREFIXES.results },
      { name: VARS.logsPrefix, value: BUCKET_PREFIXES.logs },
      { name: "AWS_REGION", value: v.region },
    ],
    logConfiguration: {
      logDriver: "awslogs",
      options: {
        "awslogs-group": v.logGroupName,
        "awslogs-region": v.region,
        "awslogs-stream-prefix": "batchpy",
      },
    },
    ...(v.platform === "FARGATE" ? fargate : {}),
  });
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_JOB_DEFINITION_BYTES) {
    throw new ValidationError(
      `JobDefinition '${name}' has containerProperties of ${bytes} bytes; AWS Batch allows ${MAX_JOB_DEFINITION_BYTES}. Shorten the image reference or the environment.`,
    );
  }
  return json;
}

/**
 * A reclaimed Fargate Spot task's status reason; the `*` also matches its final period.
 * @see https://repost.aws/knowledge-center/fargate-spot-termination-notice
 * @see https://docs.aws.amazon.com/batch/latest/APIReference/API_EvaluateOnExit.html
 */
export const FARGATE_SPOT_INTERRUPTED = "Your Spot Task was interrupted*";

/**
 * Retry only when the host went away: the script's own failure would bill the same error again.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/job_retries.html
 */
export const RETRY_ON_HOST_FAILURE = [
  { onStatusReason: "Host EC2*", action: "RETRY" },
  { onStatusReason: FARGATE_SPOT_INTERRUPTED, action: "RETRY" },
  { onReason: "*", action: "EXIT" },
];

export type JobDefaults = Readonly<
  Record<"vcpus" | "memoryMiB" | "gpus" | "timeoutSeconds" | "attempts", number>
>;

export class JobDefinition extends pulumi.ComponentResource {
  public readonly jobDefinitionArn: pulumi.Output<string>;
  public readonly jobDefinitionName: pulumi.Output<string>;
  public readonly logGroupName: pulumi.Output<string>;
  public readonly jobDefaults: JobDefaults;

  constructor(name: string, args: JobDefinitionArgs, opts?: pulumi.ComponentResourceOptions) {
    super("batchpy:job:JobDefinition", name, {}, opts);
    validateJobDefinitionArgs(name, args);
    const job = { ...JOB_DEFAULTS, ...definedOnly(args) };
    const logGroup = new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      { retentionInDays: job.logRetentionDays, tags: args.tags },
      { parent: this },
    );
    const definition = new aws.batch.JobDefinition(
      `${name}-def`,
      {
        type: "container",
        platformCapabilities: [args.platform],
        containerProperties: pulumi
          .output({ ...job, logGroupName: logGroup.name })
          .apply((values) => containerPropertiesJson(name, values)),
        timeout: { attemptDurationSeconds: job.timeoutSeconds },
        retryStrategy: { attempts: job.retryAttempts, evaluateOnExits: RETRY_ON_HOST_FAILURE },
        propagateTags: true,
        tags: args.tags,
      },
      { parent: this },
    );

    this.jobDefinitionArn = definition.arn;
    this.jobDefinitionName = definition.name;
    this.logGroupName = logGroup.name;
    const { vcpus, memoryMiB, gpus, timeoutSeconds, retryAttempts: attempts } = job;
    this.jobDefaults = { vcpus, memoryMiB, gpus, timeoutSeconds, attempts };
    this.registerOutputs({
      jobDefinitionArn: this.jobDefinitionArn,
      jobDefinitionName: this.jobDefinitionName,
      logGroupName: this.logGroupName,
      jobDefaults: this.jobDefaults,
    });
  }
}
