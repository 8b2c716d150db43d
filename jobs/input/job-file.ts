/**
 * Job files: `aws batch submit-job --cli-input-json` input, checked strictly so a mistyped
 * field is an error here, not after an instance was paid for.
 * @see https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html
 */
import * as path from "path";
import { z } from "zod";
import { suggest } from "../../components/validation";
import type { Problem } from "../errors";
import { problemAt, type JsonDocument, type JsonPath } from "./json-source";
import {
  JOB_NAME_CHAR,
  JOB_NAME_FIRST_CHAR,
  JOB_NAME_MAX_LENGTH,
  JOB_NAME_PATTERN,
} from "../../components/contract";
import { ARRAY_MIN_SIZE, CHUNK_SIZE } from "./derived-names";

/** @see https://docs.aws.amazon.com/batch/latest/userguide/job_dependencies.html */
export const MAX_DEPENDENCIES = 20;

export function checkJobName(name: string): string | undefined {
  if (JOB_NAME_PATTERN.test(name)) {
    return undefined;
  }
  if (name.length === 0) {
    return "job name is empty";
  }
  if (name.length > JOB_NAME_MAX_LENGTH) {
    return `job name "${name.slice(0, 40)}..." is ${name.length} characters; the limit is ${JOB_NAME_MAX_LENGTH}`;
  }
  if (!JOB_NAME_FIRST_CHAR.test(name)) {
    return `job name "${name}" must start with a letter or digit`;
  }
  const bad = [...new Set(name.replace(JOB_NAME_CHAR, ""))].map((c) => JSON.stringify(c));
  return `job name "${name}" may contain only letters, digits, "-" and "_" (found ${bad.join(", ")})`;
}

const str = z.string();
const jobNameString = str.refine((name) => checkJobName(name) === undefined, {
  error: (issue) => checkJobName(issue.input as string),
});
const nonEmpty = z.string().min(1);
const stringMap = z.record(z.string(), z.string());

// A variable's name is the entrypoint's to judge (run_job.py --check-values), once.
const keyValue = z.strictObject({ name: str, value: str });
const resourceRequirement = z.strictObject({
  value: nonEmpty,
  type: z.enum(["GPU", "MEMORY", "VCPU"]),
});
const containerOverrides = z
  .strictObject({
    vcpus: z.int().positive(),
    memory: z.int().positive(),
    command: z.array(nonEmpty),
    instanceType: str,
    environment: z.array(keyValue),
    resourceRequirements: z.array(resourceRequirement),
  })
  .partial();
const consumableResources = z.strictObject({
  consumableResourceList: z
    .array(z.strictObject({ consumableResource: str, quantity: z.int().nonnegative() }).partial())
    .optional(),
});
const dependency = z
  .strictObject({ jobId: nonEmpty, jobName: jobNameString, type: z.enum(["N_TO_N", "SEQUENTIAL"]) })
  .partial();
const exitPattern = str.max(512).optional();
const exitRule = z.strictObject({
  onStatusReason: exitPattern,
  onReason: exitPattern,
  onExitCode: exitPattern,
  // The API accepts either case; the SDK's type wants upper case.
  action: z
    .enum(["RETRY", "EXIT", "retry", "exit"])
    .transform((v) => v.toUpperCase() as "RETRY" | "EXIT"),
});

export const submitJobSchema = z
  .strictObject({
    jobName: jobNameString,
    jobQueue: nonEmpty,
    shareIdentifier: str,
    schedulingPriorityOverride: z.int().min(0).max(9999),
    arrayProperties: z.strictObject({
      size: z.int().min(ARRAY_MIN_SIZE).max(CHUNK_SIZE).optional(),
    }),
    dependsOn: z.array(dependency).max(MAX_DEPENDENCIES),
    parameters: stringMap,
    containerOverrides,
    retryStrategy: z
      .strictObject({ attempts: z.int().min(1).max(10), evaluateOnExit: z.array(exitRule).max(5) })
      .partial(),
    propagateTags: z.boolean(),
    timeout: z.strictObject({ attemptDurationSeconds: z.int().min(60).optional() }),
    tags: stringMap,
    consumableResourcePropertiesOverride: consumableResources,
    // batchpy's own fields, sent as variables (plan.ts).
    script: nonEmpty,
    resultsOf: z.array(jobNameString).min(1),
  })
  .partial();

export type JobFileFields = z.infer<typeof submitJobSchema>;

export type SubmitJobRequest = Omit<JobFileFields, "script" | "resultsOf"> &
  Record<"jobName" | "jobQueue" | "jobDefinition", string>;

export type EnvVar = z.infer<typeof keyValue>;

function typeName(v: unknown): string {
  if (typeof v === "string") {
    return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  }
  if (v !== null && typeof v === "object") {
    return Array.isArray(v) ? "an array" : "an object";
  }
  return v === null ? "null" : `${typeof v} ${JSON.stringify(v)}`;
}

/** `value` parsed, or the problems at its place in `doc` (`prefix` is where it sits). */
export function parseAt<T>(
  doc: JsonDocument,
  schema: z.ZodType<T>,
  value: unknown,
  prefix: JsonPath = [],
): { data?: T; problems: Problem[] } {
  // An unknown key's message is the keys its object allows, for the "did you mean" hint.
  const result = schema.safeParse(value, {
    reportInput: true,
    error: (iss) =>
      iss.code === "unrecognized_keys"
        ? Object.keys((iss.inst as z.ZodObject).shape).join()
        : undefined,
  });
  if (result.success) {
    return { data: result.data, problems: [] };
  }
  const problems = result.error.issues.flatMap((issue) => {
    const at = [...prefix, ...issue.path.filter((p) => typeof p !== "symbol")];
    if (issue.code === "unrecognized_keys") {
      const allowed = issue.message.split(",");
      return issue.keys.map((key) => unknownKeyProblem(doc, key, allowed, at));
    }
    return [problemAt(doc, at, issueMessage(issue, issue.input))];
  });
  return { problems };
}

/** SubmitJob fields for job definitions other than the stack's. */
const OTHER_DEFINITION_FIELDS = new Map([
  ["jobDefinition", "names a job definition of the file's own"],
  ["nodeOverrides", "is for multi-node parallel job definitions"],
  ["ecsPropertiesOverride", "is for job definitions with ecsProperties"],
  ["eksPropertiesOverride", "is for EKS job definitions"],
]);

function unknownKeyProblem(doc: JsonDocument, key: string, allowed: string[], at: JsonPath) {
  const other = OTHER_DEFINITION_FIELDS.get(key);
  const hint = suggest(key, allowed);
  const message =
    other !== undefined
      ? `"${key}" ${other}, but every job runs the stack's single-container job definition ` +
        `(stack output jobDefinitionArn); remove "${key}" and put the job's settings in ` +
        "containerOverrides"
      : `unknown field "${key}"` +
        (hint !== undefined
          ? `; did you mean "${hint}"?`
          : `; allowed here: ${allowed.join(", ")}`);
  return problemAt(doc, [...at, key], message, { key: true });
}

function issueMessage(issue: z.core.$ZodIssue, actual: unknown): string {
  if (issue.code === "custom") {
    return issue.message;
  }
  if (issue.code === "invalid_type") {
    return actual === undefined
      ? `missing; it is required (${issue.expected})`
      : `expected ${issue.expected}, got ${typeName(actual)}${quoteHint(issue.expected, actual)}`;
  }
  if (issue.code === "invalid_value") {
    return `${typeName(actual)} is not allowed; use one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
  }
  if (issue.code === "too_small" || issue.code === "too_big") {
    const [rule, bound] =
      issue.code === "too_small" ? ["at least", issue.minimum] : ["at most", issue.maximum];
    const unit = { array: " items", string: " characters" }[issue.origin as string] ?? "";
    const what = unit !== "" ? `${(actual as unknown[]).length}${unit}` : typeName(actual);
    return `${what} is out of range; must be ${rule} ${String(bound)}${unit}`;
  }
  return `${issue.message} (got ${typeName(actual)})`;
}

function quoteHint(expected: string, actual: unknown): string {
  if (expected === "string" && (typeof actual === "number" || typeof actual === "boolean")) {
    return `; write it in quotes: "${String(actual)}"`;
  }
  const numeric =
    typeof actual === "string" && actual.trim() !== "" && Number.isFinite(Number(actual));
  return (expected === "number" || expected === "int") && numeric
    ? `; write it without quotes: ${actual.trim()}`
    : "";
}

export function defaultJobName(file: string): string {
  return path.basename(file).replace(/\.(json|csv|tsv)$/i, "");
}

export function fileJobName(doc: JsonDocument, given: string | undefined) {
  const jobName = given ?? defaultJobName(doc.file);
  const bad = checkJobName(jobName);
  const hint = given === undefined ? " (taken from the file name; set jobName)" : "";
  return { jobName, problems: bad !== undefined ? [problemAt(doc, ["jobName"], bad + hint)] : [] };
}

export function loadJob(doc: JsonDocument) {
  const { data: fields, problems } = parseAt(doc, submitJobSchema, doc.value);
  if (fields === undefined) {
    return { problems };
  }
  const { jobName, problems: named } = fileJobName(doc, fields.jobName);
  return named.length > 0
    ? { problems: named }
    : { job: { kind: "job" as const, doc, jobName, fields }, problems: [] };
}

export type LoadedJob = NonNullable<ReturnType<typeof loadJob>["job"]>;
