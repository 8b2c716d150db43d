/**
 * `jobs:cancel <names...|--all>`: stop jobs that have not finished.
 *
 * Every unfinished job gets TerminateJob, which cancels a job that has not started and
 * terminates one that has. CancelJob is never used: it silently leaves started jobs running,
 * and an array parent is never STARTING or RUNNING (it stays PENDING while its children run),
 * so choosing the call by the parent's status would leave a sweep's running children alone.
 * The API reference does not promise that stopping a parent stops its running children, so
 * those (STARTING or RUNNING, listed after the parent is stopped, so none starts in between)
 * are terminated one by one as `<parentId>:<index>`.
 */
import type { AwsClients, JobStatus } from "../aws/api";
import { openStack, type Context, type StackOptions } from "../context";
import { BadInputError, EXIT_FAILURE, EXIT_OK, describeError, isRetryable } from "../errors";
import { entriesFor, type LedgerEntry } from "../state/ledger";
import { runPool } from "../aws/pool";
import { isSettled, unknownJobsWarning, type Status } from "../output/status";
import { describeMany } from "./watch";

export interface CancelOptions extends StackOptions {
  readonly names: readonly string[];
  readonly all: boolean;
  readonly reason: string;
}

export { DEFAULT_CANCEL_REASON } from "../defaults";

/** TerminateJob and CancelJob take a reason of at most 1,024 characters. */
export const MAX_REASON_LENGTH = 1024;

/** Children in these states are running and are not stopped with their parent. */
export const STARTED_STATUSES: readonly JobStatus[] = ["STARTING", "RUNNING"];

/** Calls in flight: well under Batch's per-account request rate. */
const STOP_CONCURRENCY = 10;

/** Whether a job in `status` still needs stopping (UNKNOWN jobs cannot be stopped). */
export function needsStop(status: Status): boolean {
  return !isSettled(status);
}

export interface Stopped {
  readonly entry: LedgerEntry;
  readonly status: Status;
  /** Array parents: running children terminated one by one. */
  readonly childrenTerminated?: number;
  /** Array parents: running children whose TerminateJob failed. */
  readonly childErrors?: readonly string[];
}

/** What TerminateJob did, from the status the job had: the line `jobs:cancel` prints. */
export function describeStop(s: Stopped): string {
  const head = `${s.entry.jobName} ${s.entry.jobId}`;
  if (s.entry.kind === "array") {
    const n = s.childrenTerminated ?? 0;
    return (
      `stopped ${head} (array of ${s.entry.arraySize ?? "?"}, was ${s.status}): ` +
      `children not started cancelled, ${n} running ${n === 1 ? "child" : "children"} terminated`
    );
  }
  const started = (STARTED_STATUSES as readonly string[]).includes(s.status);
  return `${started ? "terminated" : "cancelled"} ${head} (was ${s.status}${started ? "" : ", not started"})`;
}

/** Checks the options before anything is looked up or stopped. */
export function checkCancelOptions(opts: CancelOptions): void {
  if (opts.all === opts.names.length > 0) {
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

/** Terminates the running children of a stopped array parent; returns how it went. */
async function terminateRunningChildren(
  clients: AwsClients,
  parentId: string,
  reason: string,
): Promise<{ terminated: number; errors: string[] }> {
  const running = (
    await Promise.all(STARTED_STATUSES.map((s) => clients.batch.listArrayChildren(parentId, s)))
  ).flat();
  const ids = [...new Set(running.flatMap((c) => (c.jobId !== undefined ? [c.jobId] : [])))];
  const outcomes = await runPool(ids, (id) => clients.batch.terminateJob(id, reason), {
    concurrency: STOP_CONCURRENCY,
  });
  const errors = outcomes.flatMap((o, i) =>
    o.status === "rejected" ? [`${ids[i]}: ${describeError(o.reason)}`] : [],
  );
  return { terminated: ids.length - errors.length, errors };
}

export async function cancelCommand(opts: CancelOptions, ctx: Context): Promise<number> {
  checkCancelOptions(opts);
  const { outputs, ledger } = openStack(opts, ctx);
  const latest = ledger.latest();
  // A sweep's name also stands for its parts (chunks past 10,000 sets, retries).
  const parts = new Map(opts.names.map((n) => [n, entriesFor(latest, n)]));
  const missing = opts.names.filter((n) => parts.get(n)?.length === 0);
  if (missing.length > 0) {
    throw new BadInputError(
      `not in the ledger of stack "${outputs.stack}": ${missing.join(", ")}; nothing was cancelled`,
    );
  }
  const entries: LedgerEntry[] = opts.all
    ? [...latest.values()]
    : [...new Set(opts.names.flatMap((n) => parts.get(n) ?? []))];
  const clients = ctx.clients(outputs.outputs.region);
  try {
    const details = new Map(
      (
        await describeMany(
          clients,
          entries.map((e) => e.jobId),
        )
      ).map((d) => [d.jobId, d]),
    );
    const statusOf = (e: LedgerEntry): Status =>
      (details.get(e.jobId)?.status ?? "UNKNOWN") as Status;
    // Jobs Batch does not return cannot be stopped, and nothing says they finished: they
    // may be running in another region or account.
    const unknown = entries.filter((e) => statusOf(e) === "UNKNOWN");
    const work = entries.flatMap((e) => {
      const status = statusOf(e);
      return needsStop(status) ? [{ entry: e, status }] : [];
    });
    const outcomes = await runPool(
      work,
      async (w): Promise<Stopped> => {
        await clients.batch.terminateJob(w.entry.jobId, opts.reason);
        if (w.entry.kind !== "array") {
          return w;
        }
        const children = await terminateRunningChildren(clients, w.entry.jobId, opts.reason);
        return { ...w, childrenTerminated: children.terminated, childErrors: children.errors };
      },
      { concurrency: STOP_CONCURRENCY },
    );
    const done = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    const failed = [
      ...outcomes.flatMap((o, i) =>
        o.status === "rejected"
          ? [{ jobName: work[i].entry.jobName, error: describeError(o.reason) }]
          : [],
      ),
      ...done.flatMap((d) =>
        (d.childErrors ?? []).map((error) => ({ jobName: d.entry.jobName, error })),
      ),
    ];
    const finished = entries.length - work.length - unknown.length;
    if (opts.json) {
      ctx.io.stdout.write(
        `${JSON.stringify({
          stack: outputs.stack,
          stopped: done.map((d) => ({
            jobName: d.entry.jobName,
            jobId: d.entry.jobId,
            status: d.status,
            ...(d.childrenTerminated !== undefined
              ? { childrenTerminated: d.childrenTerminated }
              : {}),
          })),
          alreadyFinished: finished,
          unknown: unknown.map((e) => ({ jobName: e.jobName, jobId: e.jobId })),
          failed,
        })}\n`,
      );
    } else {
      if (unknown.length > 0) {
        ctx.io.stderr.write(
          unknownJobsWarning(
            unknown.length,
            unknown.length === entries.length,
            outputs.stack,
            outputs.outputs.region,
          ),
        );
      }
      done.forEach((d) => ctx.io.stdout.write(`${describeStop(d)}\n`));
      failed.forEach((f) => ctx.io.stderr.write(`error: ${f.jobName}: ${f.error}\n`));
      ctx.io.stdout.write(
        `${done.length} stopped, ${finished} already finished` +
          (unknown.length > 0 ? `, ${unknown.length} not known to Batch (not stopped)` : "") +
          (failed.length > 0
            ? `, ${failed.length} failed (${
                outcomes.every((o) => o.status !== "rejected" || isRetryable(o.reason))
                  ? "re-run to retry them"
                  : "fix the cause above, then re-run"
              })`
            : "") +
          "\n",
      );
    }
    return failed.length > 0 || unknown.length > 0 ? EXIT_FAILURE : EXIT_OK;
  } finally {
    clients.destroy();
  }
}
