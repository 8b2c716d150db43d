/**
 * A sweep larger than an array job goes as several ("chunks").
 * @see https://docs.aws.amazon.com/batch/latest/userguide/array_jobs.html
 * No imports, so the commands that only read the ledger load nothing more.
 */

export const CHUNK_SIZE = 10_000;

export function chunkJobName(sweep: string, chunk: number): string {
  return `${sweep}-c${chunk}`;
}

export function chunkRanges(n: number, size = CHUNK_SIZE): { first: number; count: number }[] {
  return Array.from({ length: Math.ceil(n / size) }, (_, c) => ({
    first: c * size,
    count: Math.min(size, n - c * size),
  }));
}
