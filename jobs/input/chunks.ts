/**
 * Sweeps past 10,000 sets: AWS Batch array jobs have 2 to 10,000 children
 * (https://docs.aws.amazon.com/batch/latest/userguide/array_jobs.html), so such a sweep goes
 * as several array jobs ("chunks") `<sweep>-c0`, `<sweep>-c1`, ... of at most 10,000
 * children each. Set numbers stay the sweep's: chunk c runs sets c*10,000 onwards. No
 * imports, so the commands that only read the ledger (logs) load nothing more.
 */

/** Children per chunk: AWS Batch's array size limit, which job files are held to too. */
export const CHUNK_SIZE = 10_000;

/**
 * `<sweep>-c<n>`: the Batch job name of chunk n (0-based). Letters, digits and "-" only, so
 * a valid sweep name stays valid while the whole fits AWS's 128 characters.
 */
export function chunkJobName(sweep: string, chunk: number): string {
  return `${sweep}-c${chunk}`;
}

/** The first set number and the size of each chunk of an n-set sweep. */
export function chunkRanges(n: number, size = CHUNK_SIZE): { first: number; count: number }[] {
  const out: { first: number; count: number }[] = [];
  for (let first = 0; first < n; first += size) {
    out.push({ first, count: Math.min(size, n - first) });
  }
  return out;
}
