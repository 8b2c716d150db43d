import type { Io } from "../context";
import { STARTED_STATUSES } from "../status";
import type { CancelResult, Stopped } from "../commands/cancel";
import { unknownJobsWarning } from "./status-print";
import { visible } from "./visible";
import { formatNumber } from "./numbers";

export function describeStop(s: Stopped): string {
  const head = visible(`${s.entry.jobName} ${s.entry.jobId}`);
  if (s.entry.kind === "array") {
    const n = s.childrenTerminated ?? 0;
    return (
      `stopped ${head} (array of ${s.entry.arraySize ?? "?"}, was ${s.status}): ` +
      `children not started cancelled, ${formatNumber(n)} running ${n === 1 ? "child" : "children"} terminated`
    );
  }
  const started = (STARTED_STATUSES as readonly string[]).includes(s.status);
  // @see https://docs.aws.amazon.com/batch/latest/APIReference/API_CancelJob.html
  const waits =
    s.waits === true
      ? "; Batch cancels a PENDING job only once its dependencies have finished"
      : "";
  return `${started ? "terminated" : "cancelled"} ${head} (was ${s.status}${started ? "" : ", not started"}${waits})`;
}

export function printCancel(r: CancelResult, io: Io): void {
  if (r.unknown.length > 0) {
    io.stderr.write(
      unknownJobsWarning(r.unknown.length, r.unknown.length === r.jobs, r.stack, r.region),
    );
  }
  r.stopped.forEach((d) => io.stdout.write(`${describeStop(d)}\n`));
  r.failed.forEach((f) => io.stderr.write(`error: ${visible(`${f.jobName}: ${f.error}`)}\n`));
  const unknown =
    r.unknown.length > 0
      ? `, ${formatNumber(r.unknown.length)} not known to Batch (not stopped)`
      : "";
  const failed =
    r.failed.length > 0
      ? `, ${formatNumber(r.failed.length)} failed (${r.retryable ? "re-run to retry them" : "fix the cause above, then re-run"})`
      : "";
  io.stdout.write(
    `${formatNumber(r.stopped.length)} stopped, ${formatNumber(r.alreadyFinished)} already finished${unknown}${failed}\n`,
  );
}

export function printCancelJson(r: CancelResult, io: Io): void {
  io.stdout.write(
    `${JSON.stringify({
      stack: r.stack,
      stopped: r.stopped.map((d) => ({
        jobName: d.entry.jobName,
        jobId: d.entry.jobId,
        status: d.status,
        childrenTerminated: d.childrenTerminated,
      })),
      alreadyFinished: r.alreadyFinished,
      unknown: r.unknown.map((e) => ({ jobName: e.jobName, jobId: e.jobId })),
      failed: r.failed,
    })}\n`,
  );
}
