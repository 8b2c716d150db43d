/**
 * AWS Batch array jobs have 2 to 10,000 children
 * (https://docs.aws.amazon.com/batch/latest/userguide/array_jobs.html), so a larger sweep
 * goes as array jobs ("chunks") `<sweep>-c0`, `<sweep>-c1`, ...; chunk c runs sets
 * c*10,000 onwards. No imports, so the commands that only read the ledger load nothing more.
 */

export const CHUNK_SIZE = 10_000;

/** `<sweep>-c<n>`: chunk n (0-based). */
export function chunkJobName(sweep: string, chunk: number): string {
  return `${sweep}-c${chunk}`;
}

/** The first set number and the size of each chunk of an n-set sweep. */
export function chunkRanges(n: number, size = CHUNK_SIZE): { first: number; count: number }[] {
  return Array.from({ length: Math.ceil(n / size) }, (_, c) => ({
    first: c * size,
    count: Math.min(size, n - c * size),
  }));
}
