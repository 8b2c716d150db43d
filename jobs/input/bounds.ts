/**
 * What the policy pack refuses (policy/bounds.ts), `jobs:submit` refuses too; and a job the
 * compute environment can never place, which would sit in RUNNABLE until the queue cancels it.
 */
import { BOUND_POLICIES, type BoundName, type PolicyBounds } from "../../policy/bounds";
import type { Problem } from "../errors";
import type { JobFileFields } from "./job-file";
import { problemAt, type JsonPath } from "./json-source";
import { jobTooLarge, type JobLimits } from "../../components/instance-types";
import { fieldsSource } from "./variables";
import type { Loaded } from "./sweep";

type Requested = Partial<Record<"vcpus" | "memoryMiB" | "gpus", { value: number; at: JsonPath }>>;

const RESOURCE_KEYS = { VCPU: "vcpus", MEMORY: "memoryMiB", GPU: "gpus" } as const;

/** The last one wins. */
export function requestedResources(fields: JobFileFields): Requested {
  const c = fields.containerOverrides;
  const given: (readonly [keyof Requested, number | undefined, JsonPath])[] = [
    ["vcpus", c?.vcpus, ["vcpus"]],
    ["memoryMiB", c?.memory, ["memory"]],
    ...(c?.resourceRequirements ?? []).map(
      (r, i) =>
        [RESOURCE_KEYS[r.type], Number(r.value), ["resourceRequirements", i, "value"]] as const,
    ),
  ];
  const found = given.filter(([, value]) => Number.isFinite(value));
  return Object.fromEntries(
    found.map(([key, value, at]) => [key, { value, at: ["containerOverrides", ...at] }]),
  );
}

/**
 * Why a retry strategy pays again for the script's own failures. Batch applies the first
 * matching rule and retries when none matches.
 * @see https://docs.aws.amazon.com/batch/latest/APIReference/API_RetryStrategy.html
 */
export function retryRuleProblem(strategy: JobFileFields["retryStrategy"]): string | undefined {
  const { attempts, evaluateOnExit: rules } = strategy ?? {};
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
  const matchesAll = (pattern?: string) => pattern === undefined || /^\*+$/.test(pattern);
  for (const [i, r] of rules.entries()) {
    const retry = r.action === "RETRY";
    const catchAll = [r.onStatusReason, r.onReason, r.onExitCode].every(matchesAll);
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

function levelRule(bounds: PolicyBounds, name: BoundName): string {
  return `policy ${BOUND_POLICIES[name]} (${bounds[name].level})`;
}

type Report = (name: BoundName | "placement", at: JsonPath, message: string) => void;

function checkTimeoutAndRetries(fields: JobFileFields, bounds: PolicyBounds, report: Report): void {
  for (const [name, at, value, unit, why] of [
    [
      "maxAttemptDurationSeconds",
      ["timeout", "attemptDurationSeconds"],
      fields.timeout?.attemptDurationSeconds,
      "seconds",
      "a stuck attempt bills that long before Batch stops it",
    ],
    [
      "maxAttempts",
      ["retryStrategy", "attempts"],
      fields.retryStrategy?.attempts,
      "attempts",
      "a failing job is run, and billed, that many times",
    ],
  ] as const) {
    const max = bounds[name].value;
    if (value !== undefined && value > max) {
      const rule = `${value} ${unit} is above the ${max} the ${levelRule(bounds, name)} allows`;
      const fix = `lower it, or raise ${name} in a --policy-pack-config file`;
      report(name, at, `${rule}: ${why}; ${fix}`);
    }
  }
  const retry = retryRuleProblem(fields.retryStrategy);
  if (retry !== undefined) {
    report("maxAttempts", ["retryStrategy"], `${retry} (${levelRule(bounds, "maxAttempts")})`);
  }
}

export function boundsProblems(
  items: readonly Loaded[],
  bounds: PolicyBounds,
  limits: JobLimits | undefined,
): { problems: Problem[]; notes: Problem[] } {
  const problems: Problem[] = [];
  const notes: Problem[] = [];
  let placementSkipped = false;
  for (const item of items) {
    const source = fieldsSource(item);
    const fields = item.kind === "job" ? item.fields : item.base;
    if (source === undefined) {
      continue;
    }
    const report: Report = (name, at, message) => {
      const level = name === "placement" ? "mandatory" : bounds[name].level;
      if (level !== "disabled") {
        const p = problemAt(source.doc, [...source.path, ...at], message);
        (level === "advisory" ? notes : problems).push(p);
      }
    };
    checkTimeoutAndRetries(fields, bounds, report);
    // Resources bind only jobs on the stack's own queue.
    const asked = fields.jobQueue === undefined ? requestedResources(fields) : {};
    if (asked.vcpus !== undefined && asked.vcpus.value > bounds.maxVcpus.value) {
      report(
        "maxVcpus",
        asked.vcpus.at,
        `${asked.vcpus.value} vCPUs is more than the ${bounds.maxVcpus.value} the ` +
          `${levelRule(bounds, "maxVcpus")} lets a compute environment run at once, so no compliant ` +
          "stack can run this job; ask for fewer",
      );
    }
    placementSkipped ||= limits === undefined && Object.keys(asked).length > 0;
    const size = Object.fromEntries(Object.entries(asked).map(([k, v]) => [k, v.value]));
    for (const { field, message } of limits !== undefined ? jobTooLarge(size, limits) : []) {
      report(
        "placement",
        asked[field]?.at ?? [],
        `can never be placed: ${message}, so this job would sit in RUNNABLE until the queue ` +
          "cancels it; ask for at most that, or allow a larger instance type in the stack",
      );
    }
  }
  if (placementSkipped) {
    notes.push({
      message:
        "the placement check (vCPUs, memory and GPUs against the largest job the compute environment " +
        'can place) was skipped: the stack predates its "jobLimits" output; run `pulumi up` to add it',
    });
  }
  return { problems, notes };
}
