/** Bounded concurrency: one await at a time is slow, an unbounded Promise.all trips quotas. */

/** About the account quota at a usual round trip. */
export const DEFAULT_SUBMIT_CONCURRENCY = 10;

export type PoolOutcome<R> =
  | { readonly status: "fulfilled"; readonly value: R }
  | { readonly status: "rejected"; readonly reason: unknown }
  | { readonly status: "skipped" };

/** Outcomes in input order; nothing starts after a failure (`stopOnError`) or abort. */
export async function runPool<T, R>(
  items: readonly T[],
  worker: (item: T, index: number) => Promise<R>,
  opts: { concurrency: number; stopOnError?: boolean; signal?: AbortSignal | undefined },
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

/** `runPool`'s outcomes sorted: values, failures with their item, and how many never started. */
export async function runSorted<T, R>(
  items: readonly T[],
  worker: (item: T) => Promise<R>,
  opts: { concurrency: number; stopOnError?: boolean; signal?: AbortSignal | undefined },
) {
  const outcomes = await runPool(items, worker, opts);
  return {
    values: outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : [])),
    failed: outcomes.flatMap((o, i) =>
      o.status === "rejected" ? [{ item: items[i], reason: o.reason }] : [],
    ),
    notRun: outcomes.filter((o) => o.status === "skipped").length,
  };
}

export async function runAll<T, R>(
  items: readonly T[],
  worker: (item: T) => Promise<R>,
  concurrency: number,
  signal?: AbortSignal,
): Promise<R[]> {
  const outcomes = await runPool(items, worker, { concurrency, stopOnError: true, signal });
  const failed = outcomes.find((o) => o.status === "rejected");
  if (failed !== undefined) {
    throw failed.reason;
  }
  return outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
}
