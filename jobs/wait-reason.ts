/**
 * Why Batch holds a RUNNABLE job, in plain words with the stack setting or command that fixes
 * it. Batch sets these reasons only on the job at the head of a blocked queue.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable.html
 */
export type WaitReason = NonNullable<ReturnType<typeof waitReason>>;

const INSTANCE_TYPES = "pulumi config set --path 'batchpy:instanceTypes[1]' <larger type>";

/**
 * @see https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable_capacity.html
 * @see https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable_misconfiguration.html
 * @see https://docs.aws.amazon.com/batch/latest/userguide/invalid_compute_environment.html
 */
const REASONS = new Map(
  Object.entries({
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY": {
      words: "EC2 has no spare instances of the stack's instance types in this region right now",
      fix: `wait (Batch keeps trying), or add another type: ${INSTANCE_TYPES}, then pulumi up`,
    },
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE": {
      words: "the job needs more vCPUs than the compute environments may run at once",
      fix: "pulumi config set batchpy:maxVcpus <at least the job's vCPUs>, then pulumi up; or lower the job's vcpus",
    },
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT": {
      words:
        "no instance type of the compute environments has the vCPUs or memory the job asks for",
      fix: `lower the job's vcpus or memoryMiB (job file, or batchpy:jobVcpus / batchpy:jobMemoryMiB), or ${INSTANCE_TYPES}`,
    },
    "MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS": {
      words: "Batch's service role may not make the calls it needs to start instances",
      fix: "run pulumi up to restore the stack's roles; if an account policy denies the calls, ask its administrator",
    },
    "MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED": {
      words:
        "the compute environment's instance configuration (type, image or launch template) cannot run here",
      fix: "choose exact types this region offers in batchpy:instanceTypes, then pulumi up",
    },
    UNDETERMINED: {
      words: "Batch cannot place the job and cannot tell why",
      fix: "npm run jobs:why -- <name> shows the compute environments; check their Auto Scaling activity in the EC2 console",
    },
    ACTION_REQUIRED: {
      words: "a compute environment of the queue is INVALID and takes no jobs",
      fix: "npm run jobs:why -- <name> shows its reason; fix that, then pulumi up",
    },
  }),
);

/** Batch's text after a queue's time-limit action cancelled a job held for `reason`. */
const CANCELED = /^Canceled by JobStateTimeLimit action due to reason: (\S+)/;

/** `statusReason` is `CODE - details` or just `CODE`. */
export function waitReason(statusReason = "") {
  const cancelled = CANCELED.exec(statusReason);
  const code = (cancelled?.[1] ?? statusReason).split(" ")[0];
  const known = REASONS.get(code);
  if (known === undefined) {
    return undefined;
  }
  return cancelled === null
    ? { code, ...known }
    : {
        code,
        words: `the queue's time limit (batchpy:runnableTimeoutSeconds) cancelled it while ${known.words}`,
        fix: `${known.fix}; then npm run jobs:retry -- <name>`,
      };
}
