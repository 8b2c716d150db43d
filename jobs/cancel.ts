/**
 * `jobs:cancel <names...|--all>`: stop jobs that have not finished. CancelJob only affects
 * jobs that have not started (SUBMITTED, PENDING, RUNNABLE) and silently does nothing to
 * the others, so running jobs get TerminateJob. Cancelling an array parent stops all its
 * children.
 */
import { openStack, type Context, type StackOptions } from "./context";
import { BadInputError, EXIT_FAILURE, EXIT_OK, describeError } from "./errors";
import type { LedgerEntry } from "./ledger";
import { runPool } from "./pool";
import { TERMINAL, type Status } from "./status";
import { describeMany } from "./watch";

export interface CancelOptions extends StackOptions {
  readonly names: readonly string[];
  readonly all: boolean;
  readonly reason: string;
}

export { DEFAULT_CANCEL_REASON } from "./defaults";

/** Which call stops a job in `status`, or undefined when it already ended. */
export function stopAction(status: Status): "cancel" | "terminate" | undefined {
  if (TERMINAL.has(status)) {
    return undefined;
  }
  return status === "STARTING" || status === "RUNNING" ? "terminate" : "cancel";
}

export async function cancelCommand(opts: CancelOptions, ctx: Context): Promise<number> {
  if (opts.all === opts.names.length > 0) {
    throw new BadInputError(
      "name the jobs to cancel, or pass --all for every unfinished job in the ledger (not both)",
    );
  }
  const { outputs, ledger } = openStack(opts, ctx);
  const latest = ledger.latest();
  const missing = opts.names.filter((n) => !latest.has(n));
  if (missing.length > 0) {
    throw new BadInputError(
      `not in the ledger of stack "${outputs.stack}": ${missing.join(", ")}; nothing was cancelled`,
    );
  }
  const entries: LedgerEntry[] = opts.all
    ? [...latest.values()]
    : opts.names.map((n) => latest.get(n) as LedgerEntry);
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
    const work = entries.flatMap((e) => {
      const status = (details.get(e.jobId)?.status ?? "UNKNOWN") as Status;
      const action = stopAction(status);
      return action === undefined ? [] : [{ entry: e, status, action }];
    });
    const outcomes = await runPool(
      work,
      async (w) => {
        if (w.action === "terminate") {
          await clients.batch.terminateJob(w.entry.jobId, opts.reason);
        } else {
          await clients.batch.cancelJob(w.entry.jobId, opts.reason);
        }
        return w;
      },
      { concurrency: 10 },
    );
    const done = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    const failed = outcomes.flatMap((o, i) =>
      o.status === "rejected"
        ? [{ jobName: work[i].entry.jobName, error: describeError(o.reason) }]
        : [],
    );
    const finished = entries.length - work.length;
    if (opts.json) {
      ctx.io.stdout.write(
        `${JSON.stringify({
          stack: outputs.stack,
          stopped: done.map((w) => ({
            jobName: w.entry.jobName,
            jobId: w.entry.jobId,
            status: w.status,
            action: w.action,
          })),
          alreadyFinished: finished,
          failed,
        })}\n`,
      );
    } else {
      for (const w of done) {
        ctx.io.stdout.write(
          `${w.action === "terminate" ? "terminated" : "cancelled"} ${w.entry.jobName} ${w.entry.jobId} (was ${w.status})\n`,
        );
      }
      failed.forEach((f) => ctx.io.stderr.write(`error: ${f.jobName}: ${f.error}\n`));
      ctx.io.stdout.write(
        `${done.length} stopped, ${finished} already finished${failed.length > 0 ? `, ${failed.length} failed` : ""}\n`,
      );
    }
    return failed.length > 0 ? EXIT_FAILURE : EXIT_OK;
  } finally {
    clients.destroy();
  }
}
