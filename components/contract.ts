/**
 * The facts the TypeScript side shares with the job entrypoint (Python), read from
 * `container/contract.json`: the job-name rule, the bucket prefixes, the `BATCHPY_*`
 * variable names, the array manifest version, the entrypoint's exit codes. test/contract/
 * fails when either side writes one of these out again. No imports besides the JSON: the
 * jobs CLI loads this without Pulumi.
 */
import contract from "../container/contract.json";

/** AWS Batch's job-name rule, matched against the whole name. */
export const JOB_NAME_PATTERN = new RegExp(contract.jobName.pattern);
/** The characters a job name may start with, and may contain (regular-expression classes). */
export const JOB_NAME_FIRST_CHAR = new RegExp(`^[${contract.jobName.firstChar}]`);
export const JOB_NAME_CHAR = new RegExp(`[${contract.jobName.chars}]`, "g");
export const JOB_NAME_MAX_LENGTH: number = contract.jobName.maxLength;

/** The bucket's areas, shared by the job definition, the job role and the jobs tool. */
export const BUCKET_PREFIXES: {
  readonly inputs: string;
  readonly results: string;
  readonly logs: string;
} = {
  inputs: contract.bucketPrefixes.inputs,
  results: contract.bucketPrefixes.results,
  logs: contract.bucketPrefixes.logs,
};
/** Where array sweep manifests go (under the inputs prefix). */
export const MANIFEST_PREFIX: string = contract.bucketPrefixes.manifests;
export const MANIFEST_VERSION: number = contract.manifest.version;

/** Linux's limit on one argument or environment string, in bytes (MAX_ARG_STRLEN). */
export const MAX_ARG_BYTES: number = contract.limits.maxArgBytes;

/** The metrics file a script may write, and the log line the entrypoint prints of it. */
export const METRICS: {
  readonly file: string;
  readonly logLinePrefix: string;
  readonly maxLogLineBytes: number;
} = contract.metrics;

/** Who sets a variable: the stack, the jobs tool, a job file, or the user's shell. */
type SetBy = "jobDefinition" | "jobsTool" | "user" | "host";

interface VariableInfo {
  readonly name: string;
  readonly setBy: SetBy;
  readonly meaning: string;
}

/** Every `BATCHPY_*` variable of the contract, in its order. */
const VARIABLES: readonly VariableInfo[] = Object.entries(contract.variables)
  .filter(([name]) => !name.startsWith("$"))
  .map(([name, v]) => {
    const info = v as { setBy: SetBy; meaning: string };
    return { name, setBy: info.setBy, meaning: info.meaning };
  });

/** The prefix only contract variables may use. */
export const RESERVED_PREFIX: string = contract.reservedPrefix;

/** Names AWS Batch sets in every container; SubmitJob rejects a job that sets one. */
export const AWS_BATCH_PREFIX: string = contract.awsBatchPrefix.prefix;

/** `JOB_NAME` -> `jobName`: how the code names each variable (see VARS). */
function camel(suffix: string): string {
  return suffix.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

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
] as const;

/** The variable names by role, e.g. `VARS.jobName`; a missing one fails at load. */
export const VARS: Readonly<Record<(typeof KEYS)[number], string>> = (() => {
  const byKey = new Map(VARIABLES.map((v) => [camel(v.name.slice(RESERVED_PREFIX.length)), v]));
  const out: Partial<Record<(typeof KEYS)[number], string>> = {};
  for (const key of KEYS) {
    const found = byKey.get(key);
    if (found === undefined) {
      throw new Error(`container/contract.json lacks the variable for "${key}"`);
    }
    out[key] = found.name;
  }
  return out as Record<(typeof KEYS)[number], string>;
})();

export interface ExitCode {
  readonly name: string;
  readonly code: number;
  readonly meaning: string;
}

/** The entrypoint's own exit codes; any other code is the script's. */
export const ENTRYPOINT_EXIT_CODES: readonly ExitCode[] = Object.entries(contract.exitCodes)
  .filter(([name]) => !name.startsWith("$"))
  .map(([name, v]) => {
    const info = v as { code: number; meaning: string };
    return { name, code: info.code, meaning: info.meaning };
  });
