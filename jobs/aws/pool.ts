/** Bounded concurrency: one await at a time is slow, an unbounded Promise.all trips quotas. */

/** About the account quota at a usual round trip. */
export const DEFAULT_SUBMIT_CONCURRENCY = 10;

/**
 * Values in input order, failures with their item, and the items never started: nothing
 * starts after a failure (`stopOnError`) or abort.
 */
export async function runPool<T, R>(
  items: readonly T[],
  worker: (item: T) => Promise<R>,
  opts: { concurrency: number; stopOnError?: boolean; signal?: AbortSignal | undefined },
) {
  if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) {
    throw new RangeError(`concurrency must be a positive integer, got ${opts.concurrency}`);
  }
  const outcomes: ({ value: R } | { reason: unknown } | undefined)[] = items.map(() => undefined);
  let next = 0;
  let stopped = false;
  const lane = async (): Promise<void> => {
    while (!stopped && opts.signal?.aborted !== true && next < items.length) {
      const i = next++;
      try {
        outcomes[i] = { value: await worker(items[i]) };
      } catch (reason) {
        outcomes[i] = { reason };
        stopped ||= opts.stopOnError === true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, items.length) }, lane));
  return {
    values: outcomes.flatMap((o) => (o !== undefined && "value" in o ? [o.value] : [])),
    failed: outcomes.flatMap((o, i) =>
      o !== undefined && "reason" in o ? [{ item: items[i], reason: o.reason }] : [],
    ),
    notRun: items.filter((_, i) => outcomes[i] === undefined),
  };
}

export async function runAll<T, R>(
  items: readonly T[],
  worker: (item: T) => Promise<R>,
  concurrency: number,
  signal?: AbortSignal,
): Promise<R[]> {
  const run = await runPool(items, worker, { concurrency, stopOnError: true, signal });
  if (run.failed.length > 0) {
    throw run.failed[0].reason;
  }
  return run.values;
}
