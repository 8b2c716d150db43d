/** Job definitions of every kind: each attempt has a time limit, each container its own role. */
import { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPES, validateTypes } from "./resources";
import { InvalidJson, UNKNOWN, at, elements, given, jsonDocument, numberAt } from "./values";
import { AWS_MIN_ATTEMPT_DURATION_SECONDS, BOUND_SETTING_SCHEMAS } from "./bounds";

function jobKind(props: unknown): string {
  const properties = ["ecsProperties", "eksProperties"].find((key) => at(props, key) !== undefined);
  if (String(at(props, "type")).toLowerCase() === "multinode") {
    return "multi-node";
  }
  return properties === undefined ? "container" : `container, ${properties}`;
}

export function timeoutProblem(props: unknown, maxSeconds: number): string | undefined {
  const seconds = numberAt(props, "timeout", "attemptDurationSeconds");
  if (seconds === UNKNOWN) {
    return undefined;
  }
  const hours = (s: number) => `${Math.round((s / 3600) * 10) / 10} h`;
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
    properties: { maxAttemptDurationSeconds: BOUND_SETTING_SCHEMAS.maxAttemptDurationSeconds },
  },
  validateResource: validateTypes([TYPES.jobDefinition], (args, reportViolation) => {
    const { maxAttemptDurationSeconds } = args.getConfig<{ maxAttemptDurationSeconds: number }>();
    const problem = timeoutProblem(args.props, maxAttemptDurationSeconds);
    if (problem !== undefined) {
      // For a multi-node job the timeout covers the whole job, every node included.
      reportViolation(`Job definition '${args.name}' (${jobKind(args.props)}) ${problem}`);
    }
  }),
};

type RoleGap = { readonly path: string; readonly invalidJson?: string };

// An unknown role counts as set.
function roleAt(part: unknown, path: string, ...keys: string[]): RoleGap[] {
  const role = at(part, ...keys);
  const set = role === UNKNOWN || (typeof role === "string" && role.trim() !== "");
  return set ? [] : [{ path: `${path}.${keys.join(".")}` }];
}

/** The parts of a job definition, or of a node range (`container`), that run containers. */
const PARTS: Readonly<Record<string, (part: unknown, path: string) => RoleGap[]>> = {
  containerProperties: (container, path) => roleAt(container, path, "jobRoleArn"),
  container: (container, path) => roleAt(container, path, "jobRoleArn"),
  ecsProperties: (ecs, path) => {
    const tasks = elements(at(ecs, "taskProperties"));
    if (tasks === UNKNOWN || tasks.length === 0) {
      return tasks === UNKNOWN ? [] : [{ path: `${path}.taskProperties[].taskRoleArn` }];
    }
    return tasks.flatMap((task, i) => roleAt(task, `${path}.taskProperties[${i}]`, "taskRoleArn"));
  },
  // EKS jobs get AWS permissions through their service account.
  eksProperties: (eks, path) => roleAt(eks, path, "podProperties", "serviceAccountName"),
  nodeProperties: (nodes, path) => {
    const ranges = elements(at(nodes, "nodeRangeProperties"));
    return (ranges === UNKNOWN ? [] : ranges).flatMap((range, i) => {
      const where = `${path}.nodeRangeProperties[${i}]`;
      return partGaps(range, where) ?? [{ path: `${where}.container.jobRoleArn` }];
    });
  },
};

/** Undefined if `props` has none of the parts. */
function partGaps(props: unknown, path: string): RoleGap[] | undefined {
  const present = Object.entries(PARTS).filter(([key]) => given(at(props, key)));
  if (present.length === 0) {
    return undefined;
  }
  return present.flatMap(([key, check]) => {
    const where = path === "" ? key : `${path}.${key}`;
    const document = jsonDocument(at(props, key));
    return document instanceof InvalidJson
      ? [{ path: where, invalidJson: document.error }]
      : check(document, where);
  });
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
    const gaps = partGaps(args.props, "") ?? [{ path: "containerProperties.jobRoleArn" }];
    const missing = gaps.filter((gap) => gap.invalidJson === undefined).map((gap) => gap.path);
    for (const gap of gaps.filter((gap) => gap.invalidJson !== undefined)) {
      reportViolation(
        `Job definition '${args.name}' has ${gap.path} that is not valid JSON ` +
          `(${gap.invalidJson}), so its role cannot be checked and AWS rejects it. ` +
          `Fix: pass JSON.stringify(...) of the properties object.`,
      );
    }
    if (missing.length > 0) {
      reportViolation(
        `Job definition '${args.name}' (${jobKind(args.props)}) runs containers without a ` +
          `role of their own: ${missing.join(", ")} not set. The script would have no AWS ` +
          `permissions, or borrow the instance's. Fix: set ${missing.join(", ")} to the job ` +
          `role's ARN (for EKS, a service account bound to the role).`,
      );
    }
  }),
};
