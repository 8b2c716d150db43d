/**
 * `jobs:cancel`: TerminateJob, never CancelJob (it leaves started jobs running, and an array
 * parent stays PENDING while its children run). A parent's running children, listed after it
 * is stopped so none starts in between, are terminated one by one.
 * @see https://docs.aws.amazon.com/batch/latest/APIReference/API_TerminateJob.html
 */
import type { AwsClients } from "../aws/api";
import {
  describeById,
  selectEntries,
  withStack,
  type Context,
  type StackOptions,
} from "../context";
import { BadInputError, describeError } from "../errors";
import { isRetryable } from "../output/submit-print";
import type { LedgerEntry } from "../state/ledger";
import { runPool } from "../aws/pool";
import { asStatus, isSettled, STARTED_STATUSES, type Status } from "../status";

export interface CancelOptions extends StackOptions {
  readonly names: readonly string[];
  readonly all?: boolean;
  readonly reason: string;
}

export interface Stopped {
  readonly entry: LedgerEntry;
  readonly status: Status;
  readonly childrenTerminated?: number;
  readonly childErrors?: readonly string[];
  /** PENDING with dependencies: Batch cancels it only once they have finished. */
  readonly waits?: boolean;
}

export type CancelResult = Awaited<ReturnType<typeof cancelJobs>>;

const MAX_REASON_LENGTH = 1024;

/** Well under Batch's per-account request rate. */
const STOP_CONCURRENCY = 10;

export function checkCancelOptions(opts: CancelOptions): void {
  if ((opts.all === true) === opts.names.length > 0) {
    throw new BadInputError(
      "name the jobs to cancel, or pass --all for every unfinished job in the ledger (not both)",
    );
  }
  if (opts.reason.length > MAX_REASON_LENGTH) {
    throw new BadInputError(
      `--reason is ${opts.reason.length} characters; Batch takes at most ${MAX_REASON_LENGTH}; shorten it`,
    );
  }
}

/** `retryable`: whether every failed TerminateJob may go through on a plain re-run. */
async function stopAll(clients: AwsClients, work: readonly Stopped[], reason: string) {
  const pool = { concurrency: STOP_CONCURRENCY };
  const terminate = (id: string) => clients.batch.terminateJob(id, reason);
  const sent = await runPool(
    work,
    async (w): Promise<Stopped> => {
      await terminate(w.entry.jobId);
      if (w.entry.kind !== "array") {
        return w;
      }
      const list = STARTED_STATUSES.map((s) => clients.batch.listArrayChildren(w.entry.jobId, s));
      const running = (await Promise.all(list)).flat();
      const ids = [...new Set(running.flatMap((c) => c.jobId ?? []))];
      const done = await runPool(ids, terminate, pool);
      const childErrors = done.failed.map((f) => `${f.item}: ${describeError(f.reason)}`);
      return { ...w, childrenTerminated: done.values.length, childErrors };
    },
    pool,
  );
  const failed = [
    ...sent.failed.map((f) => ({ jobName: f.item.entry.jobName, error: describeError(f.reason) })),
    ...sent.values.flatMap((d) =>
      (d.childErrors ?? []).map((error) => ({ jobName: d.entry.jobName, error })),
    ),
  ];
  const retryable = sent.failed.every((f) => isRetryable(f.reason));
  return { stopped: sent.values, failed, retryable };
}

export async function cancelJobs(opts: CancelOptions, ctx: Context) {
  checkCancelOptions(opts);
  return withStack(opts, ctx, async ({ outputs, ledger, clients }) => {
    const entries = selectEntries(ledger, opts.names, false, outputs.stack);
    const ids = entries.map((e) => e.jobId);
    const byId = await describeById(clients, ids);
    const statusOf = (e: LedgerEntry): Status => asStatus(byId.get(e.jobId)?.status);
    // Jobs Batch does not return may be running in another region or account.
    const unknown = entries.filter((e) => statusOf(e) === "UNKNOWN");
    const work = entries.flatMap((e): Stopped[] => {
      const status = statusOf(e);
      const waits = status === "PENDING" && (byId.get(e.jobId)?.dependsOn ?? []).length > 0;
      return isSettled(status) ? [] : [{ entry: e, status, ...(waits ? { waits } : {}) }];
    });
    const done = await stopAll(clients, work, opts.reason);
    return {
      stack: outputs.stack,
      region: outputs.outputs.region,
      jobs: entries.length,
      ...done,
      alreadyFinished: entries.length - work.length - unknown.length,
      unknown,
    };
  });
}
