/** `jobs:watch` and `jobs:status` printers: the jobs by status and each failure, or --json. */
import { allUnknown, failedByDependency, type JobRow, type Retried } from "../status";
import {
  LOGS_HINT,
  countsLine,
  formatCounts,
  formatFailure,
  longWaitsText,
  unknownJobsWarning,
} from "./status-print";
import { visible, type Io } from "./visible";
import type { WatchResult } from "../commands/watch";
import { formatNumber } from "./numbers";

const CHILD_FAILURES_SHOWN = 20;
const JOBS_LISTED = 30;

/** `once` (`jobs:status`), or a pipeline, also lists each job when there are few. */
export function printWatch(r: WatchResult, io: Io, once: boolean): void {
  const out = io.stdout;
  const s = r.snapshot;
  if (s === undefined) {
    out.write(
      `no jobs in the ledger of stack "${r.stack}"; submit some with npm run jobs:submit\n`,
    );
    return;
  }
  const pipeline = s.jobs.some((j) => j.after !== undefined);
  if ((once || pipeline) && s.jobs.length <= JOBS_LISTED) {
    s.jobs.forEach((j) => out.write(`${jobLine(j)}\n`));
  }
  out.write(`${countsLine(s)}\n`);
  if (s.retried !== undefined) {
    out.write(`${retriedLine(s.retried)}\n`);
  }
  if (r.waiting.length > 0) {
    out.write(longWaitsText(r.waiting, JOBS_LISTED));
  }
  if (r.failures.length > 0) {
    const perJob = new Map<string, number>();
    const shown = r.failures.filter((f) => {
      perJob.set(f.jobName, (perJob.get(f.jobName) ?? 0) + 1);
      return f.index === undefined || (perJob.get(f.jobName) ?? 0) <= CHILD_FAILURES_SHOWN;
    });
    out.write(`failed:\n${shown.map((f) => `  ${formatFailure(f)}\n`).join("")}`);
    const hidden = r.failures.length - shown.length;
    if (hidden > 0) {
      out.write(`  ... and ${formatNumber(hidden)} more failed children (--json lists them all)\n`);
    }
    if (r.failures.some((f) => failedByDependency({ status: "FAILED", ...f }))) {
      out.write(
        "Dependent Job failed: Batch failed it without running it (no log); retrying the job it " +
          "waits for retries it too: npm run jobs:retry -- <name>\n",
      );
    }
    out.write(`${LOGS_HINT}\n`);
  }
  warnUnknown(r, io);
}

/** `PENDING     step 7c2d  after grid (through 2 barriers)`, indented under what it waits for. */
function jobLine(j: JobRow): string {
  const counts = j.children !== undefined ? `  [${formatCounts(j.children)}]` : "";
  const n = j.barriers ?? 0;
  const after =
    j.after !== undefined
      ? `  after ${j.after.join(", ")}` +
        (n > 0 ? ` (through ${n} barrier${n === 1 ? "" : "s"})` : "")
      : "";
  const indent = "  ".repeat(j.depth ?? 0);
  return `${j.status.padEnd(9)} ${indent}${visible(`${j.jobName} ${j.jobId}${after}`)}${counts}`;
}

export function printWatchJson(r: WatchResult, io: Io): void {
  const s = r.snapshot;
  const doc =
    s === undefined
      ? { stack: r.stack, counts: {}, total: 0, jobs: [], failures: [] }
      : {
          stack: r.stack,
          counts: Object.fromEntries(Object.entries(s.counts).filter(([, n]) => n > 0)),
          total: s.total,
          done: s.done,
          allTerminal: s.allTerminal,
          retried: s.retried,
          jobs: s.jobs,
          failures: r.failures,
          ...(r.waiting.length > 0 ? { waiting: r.waiting } : {}),
          ...(r.unavailable.length > 0 ? { unavailable: r.unavailable } : {}),
        };
  io.stdout.write(`${JSON.stringify(doc)}\n`);
  warnUnknown(r, io);
}

/** Not "no job failed": a job Batch does not return may be running elsewhere. */
function warnUnknown(r: WatchResult, io: Io): void {
  const s = r.snapshot;
  if (s?.counts.UNKNOWN) {
    const all = allUnknown(s);
    const n = all ? s.jobs.length : s.counts.UNKNOWN;
    io.stderr.write(unknownJobsWarning(n, all, r.stack, r.region));
  }
}

export function retriedLine(r: Retried): string {
  const n = (k: number, one: string): string => `${formatNumber(k)} ${one}${k === 1 ? "" : "s"}`;
  const what = [r.sets > 0 ? n(r.sets, "set") : "", r.jobs > 0 ? n(r.jobs, "job") : ""];
  return (
    `${what.filter((w) => w !== "").join(" and ")} retried: each counted once, by its latest run ` +
    `(${n(r.runs, "earlier run")} left out)`
  );
}
