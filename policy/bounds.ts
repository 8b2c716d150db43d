/**
 * The pack's bounds on what a job may cost, in one module without runtime dependencies: the
 * policies enforce them at deploy time, and `jobs:submit` holds job files' overrides to the
 * same numbers, so a job file cannot undo what the pack enforces.
 */
import type { EnforcementLevel } from "@pulumi/policy";

/** AWS Batch rejects an attempt timeout shorter than a minute. */
export const AWS_MIN_ATTEMPT_DURATION_SECONDS = 60;
/** A day: the longest a single attempt of a tutorial-style script should take. */
const DEFAULT_MAX_ATTEMPT_DURATION_SECONDS = 24 * 60 * 60;
/** A job and two retries: enough for a reclaimed spot instance, not for a broken script. */
export const DEFAULT_MAX_ATTEMPTS = 3;
/** AWS Batch accepts 1 to 10 attempts. */
const AWS_MAX_ATTEMPTS = 10;
/** Four times the dev stack's 16 vCPUs: room to grow, not the console's default of 256. */
export const DEFAULT_MAX_VCPUS_CAP = 64;

/** The policies whose settings bound a job, and the setting each one reads. */
export const BOUND_POLICIES = {
  maxAttemptDurationSeconds: "batch-job-timeout-required",
  maxAttempts: "batch-job-retry-attempts-bounded",
  maxVcpus: "batch-compute-max-vcpus-cap",
} as const;

export type BoundName = keyof typeof BOUND_POLICIES;
export type PolicyBounds = Readonly<
  Record<BoundName, { readonly value: number; readonly level: EnforcementLevel }>
>;

/** The pack's defaults: every bound mandatory, as the pack declares itself. */
export const DEFAULT_BOUNDS: PolicyBounds = {
  maxAttemptDurationSeconds: { value: DEFAULT_MAX_ATTEMPT_DURATION_SECONDS, level: "mandatory" },
  maxAttempts: { value: DEFAULT_MAX_ATTEMPTS, level: "mandatory" },
  maxVcpus: { value: DEFAULT_MAX_VCPUS_CAP, level: "mandatory" },
};

/** Each bound's setting in its policy's `configSchema`; `jobs:submit` validates with them too. */
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

/** The policy whose setting caps what one `jobs:submit` may cost; no cap unless it is set. */
export const COST_CAP_POLICY = "batch-submit-cost-cap";

/** Its setting, which `jobs:submit` reads from the same `--policy-pack-config` file. */
export const COST_CAP_SETTING_SCHEMA = {
  type: "number",
  minimum: 0,
  description:
    "The most, in USD, the run time of one jobs:submit may cost by its bound (children × " +
    "attempts × attempt timeout × the job's share of an instance); no cap unless set.",
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
 * Why a retry strategy pays again for the script's own failures, or undefined. Batch applies
 * the first matching rule and retries when none matches, so several attempts need a final
 * catch-all EXIT and no RETRY on an exit code.
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
