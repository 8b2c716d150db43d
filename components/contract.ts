/**
 * The facts the TypeScript side shares with the job entrypoint (Python), read from
 * `container/contract.json`; test/contract/ fails when either side writes one out again.
 * No imports besides the JSON: the jobs CLI loads this without Pulumi.
 */
import contract from "../container/contract.json";

/** AWS Batch's job-name rule, matched against the whole name. */
export const JOB_NAME_PATTERN = new RegExp(contract.jobName.pattern);
/** The characters a job name may start with, and may contain (regular-expression classes). */
export const JOB_NAME_FIRST_CHAR = new RegExp(`^[${contract.jobName.firstChar}]`);
export const JOB_NAME_CHAR = new RegExp(`[${contract.jobName.chars}]`, "g");
export const JOB_NAME_MAX_LENGTH: number = contract.jobName.maxLength;

const { inputs, results, logs, manifests, state } = contract.bucketPrefixes;
/** The bucket's areas, shared by the job definition, the job role and the jobs tool. */
export const BUCKET_PREFIXES: Readonly<Record<"inputs" | "results" | "logs", string>> = {
  inputs,
  results,
  logs,
};
/** Where array sweep manifests go (under the inputs prefix). */
export const MANIFEST_PREFIX: string = manifests;
/**
 * Where the jobs tool keeps the stack's shared state (its submission claims): written and
 * read by the people who submit, never by a job (components/job-roles.ts,
 * policy/iam-job-role.ts).
 */
export const STATE_PREFIX: string = state;
export const MANIFEST_VERSION: number = contract.manifest.version;

/** Linux's limit on one argument or environment string, in bytes (MAX_ARG_STRLEN). */
export const MAX_ARG_BYTES: number = contract.limits.maxArgBytes;

/** The metrics file a script may write, and the log line the entrypoint prints of it. */
export const METRICS: Readonly<typeof contract.metrics> = contract.metrics;

/** The prefix only contract variables may use. */
export const RESERVED_PREFIX: string = contract.reservedPrefix;

/** A table of the contract as a list of named entries, without its `$comment`. */
function namedEntries<T>(table: object): (T & { readonly name: string })[] {
  return Object.entries(table)
    .filter(([name]) => !name.startsWith("$"))
    .map(([name, entry]) => ({ name, ...(entry as T) }));
}

/** Who sets a variable: the stack, the jobs tool, run_job, a job file, or the user's shell. */
type SetBy = "jobDefinition" | "jobsTool" | "entrypoint" | "user" | "host";

interface VariableInfo {
  readonly name: string;
  readonly setBy: SetBy;
  readonly meaning: string;
}

/** Every `BATCHPY_*` variable of the contract, in its order. */
const VARIABLES: readonly VariableInfo[] = namedEntries<VariableInfo>(contract.variables);

const KEYS = [
  "bucket",
  "inputsPrefix",
  "resultsPrefix",
  "logsPrefix",
  "jobName",
  "arrayManifest",
  "setIndex",
  "localRoot",
  "inputs",
  "outputDir",
  "s3MaxAttempts",
  "stateDir",
  "script",
  "resultsOf",
  "parentManifests",
] as const;

/** Each variable's name by role (`VARS.jobName`); a missing one fails at load. */
export const VARS: Readonly<Record<(typeof KEYS)[number], string>> = Object.fromEntries(
  KEYS.map((key) => {
    const found = VARIABLES.find((v) => camelCase(v.name.slice(RESERVED_PREFIX.length)) === key);
    if (found === undefined) {
      throw new Error(`container/contract.json lacks the variable for "${key}"`);
    }
    return [key, found.name];
  }),
) as Record<(typeof KEYS)[number], string>;

function camelCase(suffix: string): string {
  return suffix.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

export interface ExitCode {
  readonly name: string;
  readonly code: number;
  readonly meaning: string;
}

/** The entrypoint's own exit codes; any other code is the script's. */
export const ENTRYPOINT_EXIT_CODES: readonly ExitCode[] = namedEntries<ExitCode>(
  contract.exitCodes,
);
