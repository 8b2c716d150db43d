/**
 * Every job name derived from a job's or sweep's name, so a name is checked when it is
 * first submitted for all the names it will ever lend, not when a retry reaches Batch. Each
 * only appends letters, digits and "-", so the check is on length: AWS allows 128
 * (https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html, jobName).
 */
import { JOB_NAME_MAX_LENGTH } from "../../components/contract";
import { chunkJobName, chunkRanges } from "./chunks";
import { ARRAY_MIN_SIZE } from "./job-file";

/** Retries every name leaves room for (`-r1` to `-r999`); a later one checks its own name. */
const MAX_RETRIES = 999;

/** `<name>-r<n>`: the n-th retry of a job or sweep. */
export function retryJobName(name: string, n: number): string {
  return `${name}-r${n}`;
}

/** `<sweep>-<n>`: set n of a sweep sent as one job per set (--no-array). */
export function setJobName(sweep: string, n: number): string {
  return `${sweep}-${n}`;
}

/** Barriers a step waiting for more than 20 jobs leaves room for (`-b0` to `-b999`). */
const MAX_BARRIERS = 999;

/** `<job>-b<n>`: the n-th barrier of a job that waits for more jobs than Batch allows. */
export function barrierJobName(job: string, n: number): string {
  return `${job}-b${n}`;
}

export function isBarrierName(name: string, job: string): boolean {
  return name.startsWith(job) && /^-b\d+$/.test(name.slice(job.length));
}

/**
 * Why `name` is too long for a name derived from it; undefined when every one fits. How it is
 * first submitted: a job, or a sweep of `sets` as arrays or one job per set; `waits` for jobs
 * by name, so it may need barriers.
 */
export function derivedNameProblem(
  name: string,
  { sets, array, waits }: { sets?: number; array: boolean; waits?: boolean },
): string | undefined {
  const lastChunk = sets !== undefined && array ? chunkRanges(sets).length - 1 : 0;
  const chunk = lastChunk > 0 ? chunkJobName("", lastChunk) : "";
  const retry =
    retryJobName("", MAX_RETRIES) + (waits === true ? barrierJobName("", MAX_BARRIERS) : "");
  // One set goes as a plain job under the sweep's own name, with or without arrays.
  const perSet =
    sets !== undefined && sets >= ARRAY_MIN_SIZE && !array ? setJobName("", sets - 1) : "";
  // The longest suffix a derivation appends: chunks of a sweep past 10,000 sets, retries
  // chunked at most as the sweep was, or with --no-array a job per set, each retried.
  const suffix = [chunk, retry + chunk, perSet + retry].reduce((a, b) =>
    b.length > a.length ? b : a,
  );
  const allowed = JOB_NAME_MAX_LENGTH - suffix.length;
  if (name.length <= allowed) {
    return undefined;
  }
  return (
    `jobName has ${name.length} characters, but the names derived from it (chunks, jobs per ` +
    `set, retries) reach "<jobName>${suffix}", ${suffix.length} more, and AWS allows ` +
    `${JOB_NAME_MAX_LENGTH}: shorten jobName to at most ${allowed} characters`
  );
}
