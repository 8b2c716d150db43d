/**
 * What every variable of a job must be, wherever it is written (a job file's environment,
 * a sweep's base, every set of a sweep): something Linux can hand to a process. The
 * entrypoint passes each variable to the script twice, as environment (`name=value`) and,
 * for an option, as one argument (`--flag=value`); the kernel refuses either if it holds a
 * NUL byte or is longer than MAX_ARG_STRLEN, and the job then fails before the script runs.
 *
 * @see https://man7.org/linux/man-pages/man2/execve.2.html ("Limits on size of arguments
 * and environment": MAX_ARG_STRLEN, 32 pages = 131072 bytes per string, its NUL included)
 */

import {
  AWS_BATCH_PREFIX,
  BUCKET_PREFIXES,
  MAX_ARG_BYTES,
  RESERVED_PREFIX,
  VARS,
} from "../../components/contract";
import { formatNumber } from "../output/numbers";

/** Names the entrypoint does not take from an array sweep's set (container/run_job.py). */
const SET_RESERVED_PREFIXES: readonly string[] = [RESERVED_PREFIX, AWS_BATCH_PREFIX];

function bytes(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/** Why `name` cannot name an environment variable at all, or undefined. */
export function variableNameProblem(name: string): string | undefined {
  if (name.includes("\0")) {
    return `the name ${JSON.stringify(name)} contains a NUL byte, which no environment variable can hold; remove it`;
  }
  if (name.includes("=")) {
    return `the name ${JSON.stringify(name)} contains "=", which ends a variable's name in the environment; rename it`;
  }
  return undefined;
}

/**
 * Why `value` cannot reach the script, or undefined. `flag` is the option's flag when the
 * variable is an option (it then also travels as `--flag=value`).
 */
export function variableValueProblem(
  name: string,
  value: string,
  flag?: string,
): string | undefined {
  if (value.includes("\0")) {
    const at = value.indexOf("\0");
    return (
      `the value of "${name}" contains a NUL byte (at character ${at + 1}), which no environment ` +
      "variable or argument can hold; remove it"
    );
  }
  // A value this short cannot be too long; skip the byte count for the common case.
  if (value.length * 3 + name.length + 64 < MAX_ARG_BYTES) {
    return undefined;
  }
  const longest = Math.max(
    bytes(`${name}=${value}`),
    flag !== undefined ? bytes(`${flag}=${value}`) : 0,
  );
  if (longest + 1 > MAX_ARG_BYTES) {
    return (
      `the value of "${name}" is ${formatNumber(bytes(value))} bytes; Linux passes at most ` +
      `${formatNumber(MAX_ARG_BYTES - 1)} bytes per environment variable or argument ` +
      `(${flag !== undefined ? `"${flag}=<value>"` : `"${name}=<value>"`} included): put the data in a ` +
      `file under ${BUCKET_PREFIXES.inputs} and pass its key in ${VARS.inputs}`
    );
  }
  return undefined;
}

/** Why `name` cannot vary per set of an array sweep, or undefined. */
export function setNameProblem(name: string): string | undefined {
  const prefix = SET_RESERVED_PREFIXES.find((p) => name.startsWith(p));
  if (prefix === undefined) {
    return undefined;
  }
  return (
    `"${name}" cannot vary per set of an array job: the entrypoint reads ${prefix}* variables ` +
    "from the job's own environment, before a set applies, and refuses them in the manifest; " +
    "set it once in base.containerOverrides.environment, or pass --no-array to submit one job per set"
  );
}
