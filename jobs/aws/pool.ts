/**
 * Bounded concurrency. Submitting 1,000 jobs one await at a time takes 1,000 round trips;
 * unbounded Promise.all trips Batch's SubmitJob quota (50 calls/s per account) at once.
 */

/**
 * Default in-flight SubmitJob calls. A SubmitJob round trip from a laptop is ~0.1-0.2 s,
 * so 10 in flight is ~50-100 calls/s: about the account quota of 50/s. Anything over it is
 * slowed by the SDK's adaptive retry (client-side rate limiting after a 429) rather than
 * failed.
 */
export const DEFAULT_SUBMIT_CONCURRENCY = 10;

export type PoolOutcome<R> =
  | { readonly status: "fulfilled"; readonly value: R }
  | { readonly status: "rejected"; readonly reason: unknown }
  /** Never started: an earlier task failed (stopOnError) or the signal was aborted. */
  | { readonly status: "skipped" };

export interface PoolOptions {
  readonly concurrency: number;
  /** Stop starting new tasks after the first failure; running ones finish. */
  readonly stopOnError?: boolean;
  /** Stop starting new tasks once aborted (Ctrl-C); running ones finish. */
  readonly signal?: AbortSignal;
}

/** Runs `worker` over `items` with at most `concurrency` in flight; outcomes in input order. */
export async function runPool<T, R>(
  items: readonly T[],
  worker: (item: T, index: number) => Promise<R>,
  opts: PoolOptions,
): Promise<PoolOutcome<R>[]> {
  if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) {
    throw new RangeError(`concurrency must be a positive integer, got ${opts.concurrency}`);
  }
  const outcomes: PoolOutcome<R>[] = items.map(() => ({ status: "skipped" }));
  let next = 0;
  let stopped = false;
  const lane = async (): Promise<void> => {
    while (!stopped && opts.signal?.aborted !== true && next < items.length) {
      const i = next++;
      try {
        outcomes[i] = { status: "fulfilled", value: await worker(items[i], i) };
      } catch (reason) {
        outcomes[i] = { status: "rejected", reason };
        if (opts.stopOnError === true) {
          stopped = true;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, items.length) }, lane));
  return outcomes;
}
