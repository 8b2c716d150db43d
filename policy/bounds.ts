/**
 * The pack's bounds on what a job may cost, without runtime dependencies: `jobs:submit` holds
 * job files to the same numbers, so a job file cannot undo what the pack enforces.
 */
import type { EnforcementLevel } from "@pulumi/policy";

export const AWS_MIN_ATTEMPT_DURATION_SECONDS = 60;

export const BOUND_POLICIES = {
  maxAttemptDurationSeconds: "batch-job-timeout-required",
  maxAttempts: "batch-job-retry-attempts-bounded",
  maxVcpus: "batch-compute-max-vcpus-cap",
} as const;

export type BoundName = keyof typeof BOUND_POLICIES;
export type PolicyBounds = Readonly<
  Record<BoundName, { readonly value: number; readonly level: EnforcementLevel }>
>;

export const BOUND_SETTING_SCHEMAS = {
  maxAttemptDurationSeconds: {
    type: "integer",
    minimum: AWS_MIN_ATTEMPT_DURATION_SECONDS,
    // A day: the longest a single attempt of a tutorial-style script should take.
    default: 24 * 60 * 60,
    description: "The longest attempt timeout a job definition may set, in seconds.",
  },
  maxAttempts: {
    type: "integer",
    minimum: 1,
    maximum: 10, // what AWS Batch accepts
    // A job and two retries: enough for a reclaimed spot instance, not for a broken script.
    default: 3,
    description: "The most attempts a job may make, the first included (AWS allows 1-10).",
  },
  maxVcpus: {
    type: "integer",
    minimum: 1,
    // Four times the dev stack's vCPUs: room to grow, not the console's default.
    default: 64,
    description: "The most vCPUs a compute environment may run at once.",
  },
} as const;

// Mandatory, as the pack declares itself.
export const DEFAULT_BOUNDS = Object.fromEntries(
  Object.entries(BOUND_SETTING_SCHEMAS).map(([name, { default: value }]) => [
    name,
    { value, level: "mandatory" },
  ]),
) as PolicyBounds;

export const COST_CAP_POLICY = "batch-submit-cost-cap";

export const COST_CAP_SETTING_SCHEMA = {
  type: "number",
  minimum: 0,
  description:
    "The most, in USD, the run time of one jobs:submit may cost by its bound (children × " +
    "attempts × attempt timeout × the job's share of an instance); no cap unless set.",
} as const;
