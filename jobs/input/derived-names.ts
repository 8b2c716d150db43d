/**
 * Array job sizes, and the job names derived from a job's (chunks of a sweep larger than an
 * array job, retries, jobs per set, barriers), checked on its first submit, not when a retry
 * reaches Batch: each appends letters, digits and "-", so only length can fail.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/array_jobs.html
 */
import { JOB_NAME_MAX_LENGTH } from "../../components/contract";

export const ARRAY_MIN_SIZE = 2;
export const CHUNK_SIZE = 10_000;

/** A later retry checks its own name. */
const MAX_RETRIES = 999;
const MAX_BARRIERS = 999;

export const chunkJobName = (sweep: string, chunk: number) => `${sweep}-c${chunk}`;
export const retryJobName = (name: string, n: number) => `${name}-r${n}`;
/** --no-array */
export const setJobName = (sweep: string, n: number) => `${sweep}-${n}`;
export const barrierJobName = (job: string, n: number) => `${job}-b${n}`;

export const isBarrierName = (name: string, job: string) =>
  name.startsWith(job) && /^-b\d+$/.test(name.slice(job.length));

export function chunkRanges(n: number, size = CHUNK_SIZE): { first: number; count: number }[] {
  return Array.from({ length: Math.ceil(n / size) }, (_, c) => ({
    first: c * size,
    count: Math.min(size, n - c * size),
  }));
}

/** `waits` for jobs by name, so it may need barriers. */
export function derivedNameProblem(
  name: string,
  { sets, array, waits }: { sets?: number; array: boolean; waits?: boolean },
): string | undefined {
  const lastChunk = sets !== undefined && array ? chunkRanges(sets).length - 1 : 0;
  const chunk = lastChunk > 0 ? chunkJobName("", lastChunk) : "";
  const retry =
    retryJobName("", MAX_RETRIES) + (waits === true ? barrierJobName("", MAX_BARRIERS) : "");
  const perSet =
    sets !== undefined && sets >= ARRAY_MIN_SIZE && !array ? setJobName("", sets - 1) : "";
  // Retries are chunked at most as the sweep was.
  const suffix = perSet.length > chunk.length ? perSet + retry : retry + chunk;
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
