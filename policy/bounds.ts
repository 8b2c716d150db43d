/**
 * The policy pack's bounds on what a job may cost, in one dependency-free module: the
 * policies in this folder check job definitions and compute environments against them at
 * deploy time, and `jobs:submit` checks the overrides of every job file against the very
 * same numbers at run time, so a job file cannot undo what the pack enforces. Both read a
 * `--policy-pack-config` file the same way (policy/check/policy-config.ts reads it for both).
 */

/** AWS Batch rejects an attempt timeout shorter than a minute. */
export const AWS_MIN_ATTEMPT_DURATION_SECONDS = 60;
/** A day: the longest a single attempt of a tutorial-style script should take. */
export const DEFAULT_MAX_ATTEMPT_DURATION_SECONDS = 24 * 60 * 60;
/** A job and two retries: enough for a reclaimed spot instance, not for a broken script. */
export const DEFAULT_MAX_ATTEMPTS = 3;
/** AWS Batch accepts 1 to 10 attempts. */
const AWS_MAX_ATTEMPTS = 10;
/**
 * 64 vCPUs: four times the dev stack's 16, 32 `m5a.large` instances or about US$2.75 an hour
 * on demand — room to grow, but not the 256 the console offers by default.
 */
export const DEFAULT_MAX_VCPUS_CAP = 64;

/** The policies whose settings bound a job, and the setting each one reads. */
export const BOUND_POLICIES = {
  maxAttemptDurationSeconds: "batch-job-timeout-required",
  maxAttempts: "batch-job-retry-attempts-bounded",
  maxVcpus: "batch-compute-max-vcpus-cap",
} as const;

export type BoundName = keyof typeof BOUND_POLICIES;
type BoundLevel = "advisory" | "mandatory" | "remediate" | "disabled";

/** One bound: its value and how the pack enforces it. */
interface Bound {
  readonly value: number;
  readonly level: BoundLevel;
}

export type PolicyBounds = Readonly<Record<BoundName, Bound>>;

/** The pack's defaults: every bound mandatory, as the pack declares itself. */
export const DEFAULT_BOUNDS: PolicyBounds = {
  maxAttemptDurationSeconds: { value: DEFAULT_MAX_ATTEMPT_DURATION_SECONDS, level: "mandatory" },
  maxAttempts: { value: DEFAULT_MAX_ATTEMPTS, level: "mandatory" },
  maxVcpus: { value: DEFAULT_MAX_VCPUS_CAP, level: "mandatory" },
};

/**
 * Each bound's setting as its policy's `configSchema` declares it: the policies use these
 * objects, and `jobs:submit` validates a `--policy-pack-config` file against the same ones
 * (policy/check/policy-config.ts).
 */
export const BOUND_SETTING_SCHEMAS = {
  maxAttemptDurationSeconds: {
    type: "integer",
    minimum: AWS_MIN_ATTEMPT_DURATION_SECONDS,
    default: DEFAULT_MAX_ATTEMPT_DURATION_SECONDS,
    description: "The longest attempt timeout a job definition may set, in seconds.",
  },
  maxAttempts: {
    type: "integer",
    minimum: 1,
    maximum: AWS_MAX_ATTEMPTS,
    default: DEFAULT_MAX_ATTEMPTS,
    description: "The most attempts a job may make, the first included (AWS allows 1-10).",
  },
  maxVcpus: {
    type: "integer",
    minimum: 1,
    default: DEFAULT_MAX_VCPUS_CAP,
    description: "The most vCPUs a compute environment may run at once.",
  },
} as const;

/** A retry rule as SubmitJob and job definitions take it. */
export interface RetryRule {
  readonly onStatusReason?: string;
  readonly onReason?: string;
  readonly onExitCode?: string;
  readonly action: string;
}

function matchesAll(pattern: string | undefined): boolean {
  return pattern === undefined || /^\*+$/.test(pattern);
}

/**
 * Why a retry strategy pays again for the script's own failures, or undefined. A job
 * definition of this project retries host failures (spot reclamation) only. Batch applies
 * the first rule that matches and retries when none does ("If none of the listed conditions
 * match, then the job is retried"), so a strategy with several attempts must end in a
 * catch-all EXIT and must not RETRY on an exit code.
 *
 * @see https://docs.aws.amazon.com/batch/latest/APIReference/API_RetryStrategy.html
 */
export function retryRuleProblem(
  attempts: number | undefined,
  rules: readonly RetryRule[] | undefined,
): string | undefined {
  if (attempts === undefined || attempts <= 1) {
    return undefined;
  }
  if (rules === undefined || rules.length === 0) {
    return (
      `retries every failure, the script's own exit codes included (${attempts} attempts and no ` +
      "evaluateOnExit): add rules that RETRY only host failures, e.g. " +
      '[{"onStatusReason": "Host EC2*", "action": "RETRY"}, {"onReason": "*", "action": "EXIT"}]'
    );
  }
  for (const [i, r] of rules.entries()) {
    const retry = r.action.toUpperCase() === "RETRY";
    const catchAll =
      matchesAll(r.onStatusReason) && matchesAll(r.onReason) && matchesAll(r.onExitCode);
    if (retry && (r.onExitCode !== undefined || catchAll)) {
      return (
        `evaluateOnExit[${i}] retries ${catchAll ? "every failure" : `exit codes matching "${r.onExitCode}"`}: ` +
        "a script that fails by itself fails again, and each attempt is billed; retry host failures only " +
        '(onStatusReason "Host EC2*")'
      );
    }
    if (!retry && catchAll) {
      return undefined;
    }
  }
  return (
    "evaluateOnExit has no catch-all EXIT rule, and Batch retries a failure no rule matches (the " +
    `script's own included); end it with {"onReason": "*", "action": "EXIT"}`
  );
}
