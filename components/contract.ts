// Facts shared with the Python entrypoint; no imports besides the JSON (the jobs CLI loads it).
import contract from "../container/contract.json";

export const JOB_NAME_PATTERN = new RegExp(contract.jobName.pattern);
export const JOB_NAME_FIRST_CHAR = new RegExp(`^[${contract.jobName.firstChar}]`);
export const JOB_NAME_CHAR = new RegExp(`[${contract.jobName.chars}]`, "g");
export const JOB_NAME_MAX_LENGTH: number = contract.jobName.maxLength;

const { inputs, results, logs, manifests, state } = contract.bucketPrefixes;
export const BUCKET_PREFIXES = { inputs, results, logs } as const;
export const MANIFEST_PREFIX: string = manifests;
/** Submitters' shared state (claims), never a job's. */
export const STATE_PREFIX: string = state;
export const MANIFEST_VERSION: number = contract.manifest.version;

export const MAX_ARG_BYTES: number = contract.limits.maxArgBytes;

export const METRICS: Readonly<typeof contract.metrics> = contract.metrics;

export const RESERVED_PREFIX: string = contract.reservedPrefix;

type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Lowercase<Head>}${Capitalize<CamelCase<Tail>>}`
  : Lowercase<S>;
type Role<Name> = Name extends `BATCHPY_${infer Rest}` ? CamelCase<Rest> : never;

/** `VARS.jobName` is `BATCHPY_JOB_NAME`. */
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

export const ENTRYPOINT_EXIT_CODES = Object.entries(contract.exitCodes).flatMap(([name, entry]) =>
  typeof entry === "string" ? [] : [{ name, ...entry }],
);
