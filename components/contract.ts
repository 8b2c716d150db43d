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
export const BUCKET_PREFIXES = { inputs, results, logs } as const;
/** Where array sweep manifests go (under the inputs prefix). */
export const MANIFEST_PREFIX: string = manifests;
/** Submitters' shared state (claims), never a job's: job-roles.ts, policy/iam-job-role.ts. */
export const STATE_PREFIX: string = state;
export const MANIFEST_VERSION: number = contract.manifest.version;

/** Linux's limit on one argument or environment string, in bytes (MAX_ARG_STRLEN). */
export const MAX_ARG_BYTES: number = contract.limits.maxArgBytes;

/** The metrics file a script may write, and the log line the entrypoint prints of it. */
export const METRICS: Readonly<typeof contract.metrics> = contract.metrics;

/** The prefix only contract variables may use. */
export const RESERVED_PREFIX: string = contract.reservedPrefix;

type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Lowercase<Head>}${Capitalize<CamelCase<Tail>>}`
  : Lowercase<S>;
type Role<Name> = Name extends `BATCHPY_${infer Rest}` ? CamelCase<Rest> : never;

/** Each `BATCHPY_*` variable's name by its camel-cased role (`VARS.jobName`). */
export const VARS = Object.fromEntries(
  Object.keys(contract.variables)
    .filter((name) => name.startsWith(RESERVED_PREFIX))
    .map((name) => [
      name
        .slice(RESERVED_PREFIX.length)
        .toLowerCase()
        .replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()),
      name,
    ]),
) as Readonly<Record<Role<keyof typeof contract.variables>, string>>;

/** The entrypoint's own exit codes; any other code is the script's. */
export const ENTRYPOINT_EXIT_CODES = Object.entries(contract.exitCodes).flatMap(([name, entry]) =>
  typeof entry === "string" ? [] : [{ name, ...entry }],
);
