/**
 * AWS Batch job definitions: every attempt has a time limit, and every container runs with
 * a role of its own (so the script gets the job role's narrow permissions, never the
 * instance's). Both apply to every kind of job definition: single-container
 * (`containerProperties`), ECS (`ecsProperties`), EKS (`eksProperties`) and multi-node
 * (`nodeProperties`).
 */
import { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPES, validateTypes } from "./resources";
import {
  InvalidJson,
  UNKNOWN,
  Unknown,
  at,
  elements,
  isUnknown,
  jsonDocument,
  numberAt,
  stringAt,
} from "./values";

import {
  AWS_MIN_ATTEMPT_DURATION_SECONDS,
  BOUND_SETTING_SCHEMAS,
  DEFAULT_MAX_ATTEMPT_DURATION_SECONDS,
} from "./bounds";

// The bounds live in ./bounds, which jobs:submit reads too.
export { AWS_MIN_ATTEMPT_DURATION_SECONDS, DEFAULT_MAX_ATTEMPT_DURATION_SECONDS };

export interface BatchJobTimeoutRequiredArgs {
  /** The longest `timeout.attemptDurationSeconds` a job definition may set. */
  maxAttemptDurationSeconds: number;
}

/** How a job definition describes its containers, for messages. */
export function jobKind(props: unknown): string {
  const type = stringAt(props, "type");
  if (type !== UNKNOWN && type?.toLowerCase() === "multinode") {
    return "multi-node";
  }
  for (const key of ["ecsProperties", "eksProperties"]) {
    if (at(props, key) !== undefined) {
      return `container, ${key}`;
    }
  }
  return "container";
}

function hours(seconds: number): string {
  return `${Math.round((seconds / 3600) * 10) / 10} h`;
}

/**
 * What is wrong with a job definition's attempt timeout, or `undefined` if it is set within
 * bounds or cannot be known yet.
 */
export function timeoutProblem(props: unknown, maxSeconds: number): string | undefined {
  const seconds = numberAt(props, "timeout", "attemptDurationSeconds");
  if (seconds === UNKNOWN) {
    return undefined;
  }
  const bounds = `${AWS_MIN_ATTEMPT_DURATION_SECONDS} ≤ N ≤ ${maxSeconds}`;
  const fix =
    `Fix: set timeout: { attemptDurationSeconds: N } with ${bounds} (in this project: ` +
    `\`pulumi config set batchpy:timeoutSeconds N\`)`;
  if (seconds === undefined) {
    return (
      `has no timeout.attemptDurationSeconds: a hung attempt runs, and bills, until someone ` +
      `cancels it. ${fix}.`
    );
  }
  if (!Number.isInteger(seconds)) {
    return `has timeout.attemptDurationSeconds ${seconds}; AWS Batch takes whole seconds. ${fix}.`;
  }
  if (seconds < AWS_MIN_ATTEMPT_DURATION_SECONDS) {
    return (
      `has timeout.attemptDurationSeconds ${seconds}, below AWS Batch's minimum of ` +
      `${AWS_MIN_ATTEMPT_DURATION_SECONDS} seconds, so AWS rejects it. ${fix}.`
    );
  }
  if (seconds > maxSeconds) {
    return (
      `has timeout.attemptDurationSeconds ${seconds} (${hours(seconds)}), above the ceiling of ` +
      `${maxSeconds} (${hours(maxSeconds)}): a stuck attempt bills that long before Batch stops ` +
      `it. ${fix}, or raise this policy's maxAttemptDurationSeconds in the policy config.`
    );
  }
  return undefined;
}

export const batchJobTimeoutRequired: ResourceValidationPolicy = {
  name: "batch-job-timeout-required",
  description:
    "Checks whether every AWS Batch job definition sets timeout.attemptDurationSeconds, " +
    "between AWS's minimum of 60 seconds and the configured ceiling, so no attempt runs " +
    "(and bills) forever.",
  remediationSteps:
    "Set `timeout.attemptDurationSeconds` on the job definition, between 60 and the ceiling.",
  url: "https://docs.aws.amazon.com/batch/latest/userguide/job_timeouts.html",
  severity: "high",
  configSchema: {
    properties: {
      maxAttemptDurationSeconds: BOUND_SETTING_SCHEMAS.maxAttemptDurationSeconds,
    },
  },
  validateResource: validateTypes([TYPES.jobDefinition], (args, reportViolation) => {
    const { maxAttemptDurationSeconds } = {
      maxAttemptDurationSeconds: DEFAULT_MAX_ATTEMPT_DURATION_SECONDS,
      ...args.getConfig<Partial<BatchJobTimeoutRequiredArgs>>(),
    };
    const problem = timeoutProblem(args.props, maxAttemptDurationSeconds);
    if (problem !== undefined) {
      // For a multi-node job the timeout covers the whole job, every node included.
      reportViolation(`Job definition '${args.name}' (${jobKind(args.props)}) ${problem}`);
    }
  }),
};

/** Where a job definition leaves a container without a role, and why. */
export interface RoleGap {
  /** The property path, e.g. `nodeProperties.nodeRangeProperties[0].container.jobRoleArn`. */
  readonly path: string;
  /** Set when the enclosing JSON document did not parse. */
  readonly invalidJson?: string;
}

function hasText(value: unknown): boolean {
  return isUnknown(value) || (typeof value === "string" && value.trim() !== "");
}

/** Gaps in a `containerProperties` document (also the `container` of a node range). */
function containerGaps(container: unknown, path: string): RoleGap[] {
  if (isUnknown(container) || container === undefined) {
    return [];
  }
  return hasText(at(container, "jobRoleArn")) ? [] : [{ path: `${path}.jobRoleArn` }];
}

/** Gaps in an `ecsProperties` document: each task needs a `taskRoleArn`. */
function ecsGaps(ecs: unknown, path: string): RoleGap[] {
  const tasks = elements(at(ecs, "taskProperties"));
  if (tasks === UNKNOWN) {
    return [];
  }
  if (tasks.length === 0) {
    return [{ path: `${path}.taskProperties[].taskRoleArn` }];
  }
  return tasks.flatMap((task, i) =>
    hasText(at(task, "taskRoleArn")) ? [] : [{ path: `${path}.taskProperties[${i}].taskRoleArn` }],
  );
}

/** Gaps in `eksProperties`: EKS jobs get AWS permissions through their service account. */
function eksGaps(eks: unknown, path: string): RoleGap[] {
  if (isUnknown(eks)) {
    return [];
  }
  return hasText(at(eks, "podProperties", "serviceAccountName"))
    ? []
    : [{ path: `${path}.podProperties.serviceAccountName` }];
}

/** A JSON-string property parsed, or the gap its invalid JSON makes. */
function parsed(
  props: unknown,
  key: string,
): { document: unknown | Unknown } | { gap: RoleGap } | undefined {
  const raw = at(props, key);
  if (raw === undefined || raw === null) {
    return undefined;
  }
  const document = jsonDocument(raw);
  if (document instanceof InvalidJson) {
    return { gap: { path: key, invalidJson: document.error } };
  }
  return { document };
}

/** Gaps in one node range of a multi-node job: its container, ECS or EKS part. */
function nodeRangeGaps(range: unknown, path: string): RoleGap[] {
  const gaps: RoleGap[] = [];
  let hasContainers = false;
  for (const [key, check] of [
    ["container", containerGaps],
    ["ecsProperties", ecsGaps],
    ["eksProperties", eksGaps],
  ] as const) {
    const part = at(range, key);
    if (part !== undefined && part !== null) {
      hasContainers = true;
      gaps.push(...check(part, `${path}.${key}`));
    }
  }
  return hasContainers ? gaps : [{ path: `${path}.container.jobRoleArn` }];
}

/** Gaps in `nodeProperties`: every node range. */
function nodeGaps(nodes: unknown): RoleGap[] {
  const ranges = elements(at(nodes, "nodeRangeProperties"));
  if (ranges === UNKNOWN) {
    return [];
  }
  return ranges.flatMap((range, i) =>
    nodeRangeGaps(range, `nodeProperties.nodeRangeProperties[${i}]`),
  );
}

/**
 * Every place a job definition's containers run without a role. Parts unknown during
 * preview count as set.
 */
export function roleGaps(props: unknown): RoleGap[] {
  const gaps: RoleGap[] = [];
  let described = false;

  const container = parsed(props, "containerProperties");
  if (container !== undefined) {
    described = true;
    gaps.push(
      ...("gap" in container
        ? [container.gap]
        : containerGaps(container.document, "containerProperties")),
    );
  }
  const ecs = parsed(props, "ecsProperties");
  if (ecs !== undefined) {
    described = true;
    gaps.push(...("gap" in ecs ? [ecs.gap] : ecsGaps(ecs.document, "ecsProperties")));
  }
  const eks = at(props, "eksProperties");
  if (eks !== undefined && eks !== null) {
    described = true;
    gaps.push(...eksGaps(eks, "eksProperties"));
  }
  const nodes = parsed(props, "nodeProperties");
  if (nodes !== undefined) {
    described = true;
    gaps.push(...("gap" in nodes ? [nodes.gap] : nodeGaps(nodes.document)));
  }
  if (!described) {
    gaps.push({ path: "containerProperties.jobRoleArn" });
  }
  return gaps;
}

export const batchJobRoleRequired: ResourceValidationPolicy = {
  name: "batch-job-role-required",
  description:
    "Checks whether every AWS Batch job definition gives its containers a role of their own " +
    "(jobRoleArn, ECS taskRoleArn or EKS serviceAccountName), so jobs get only the job " +
    "role's permissions.",
  remediationSteps:
    "Set `jobRoleArn` in containerProperties (or `taskRoleArn` for each ECS task, " +
    "`serviceAccountName` for EKS) to a role that grants only what the job needs.",
  url: "https://docs.aws.amazon.com/batch/latest/userguide/job-definition-parameters.html",
  severity: "high",
  validateResource: validateTypes([TYPES.jobDefinition], (args, reportViolation) => {
    const gaps = roleGaps(args.props);
    const invalid = gaps.filter((gap) => gap.invalidJson !== undefined);
    const missing = gaps.filter((gap) => gap.invalidJson === undefined);
    for (const gap of invalid) {
      reportViolation(
        `Job definition '${args.name}' has ${gap.path} that is not valid JSON ` +
          `(${gap.invalidJson}), so its role cannot be checked and AWS rejects it. ` +
          `Fix: pass JSON.stringify(...) of the properties object.`,
      );
    }
    if (missing.length > 0) {
      reportViolation(
        `Job definition '${args.name}' (${jobKind(args.props)}) runs containers without a ` +
          `role of their own: ${missing.map((gap) => gap.path).join(", ")} not set. The ` +
          `script would have no AWS permissions, or borrow the instance's. Fix: set ` +
          `${missing.map((gap) => gap.path).join(", ")} to the job role's ARN (for EKS, a ` +
          `service account bound to the role).`,
      );
    }
  }),
};
