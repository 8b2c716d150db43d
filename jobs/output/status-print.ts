/** The status model (jobs/status.ts) on a terminal: `jobs:why` and `jobs:cancel`. */
import type { Unavailable } from "../aws/api";
import type { CancelResult, Stopped } from "../commands/cancel";
import type { WhyJob, WhyResult } from "../commands/why";
import {
  LONG_WAIT_MS,
  rowName,
  STARTED_STATUSES,
  groupBy,
  STATUSES,
  type Failure,
  type LongWait,
  type Snapshot,
  type Status,
} from "../status";
import type { WaitReason } from "../wait-reason";
import { visible, type Io } from "./visible";
import { formatNumber } from "./numbers";

export function formatCounts(counts: Readonly<Partial<Record<Status, number>>>): string {
  const parts = STATUSES.flatMap((s) => (counts[s] ? [`${s} ${formatNumber(counts[s])}`] : []));
  return parts.length > 0 ? parts.join(" | ") : "no jobs";
}

/** Jobs Batch does not return: never said to be finished, they may be running elsewhere. */
export function unknownJobsWarning(
  unknown: number,
  all: boolean,
  stack: string,
  region: string | undefined,
): string {
  const where = `region ${region ?? "from the AWS SDK's settings"}`;
  const head = all
    ? `Batch knows none of the ${formatNumber(unknown)} job(s) in the ledger of stack "${stack}" (${where})`
    : `Batch does not know ${formatNumber(unknown)} job(s) in the ledger of stack "${stack}" (${where}); their state is unknown, not finished`;
  return (
    `warning: ${head}; check --stack/--outputs and the AWS account and region; jobs submitted ` +
    "seconds ago may not be listed yet (re-run), and Batch forgets jobs some days after they end\n"
  );
}

export function formatFailure(f: Failure): string {
  const name = rowName(f.jobName, f.index) + (f.set !== undefined ? ` (set ${f.set})` : "");
  const bits = [f.statusReason, f.reason].filter((s): s is string => s !== undefined && s !== "");
  const n = f.unlistedChildren;
  const parts =
    n !== undefined
      ? [
          ...(bits.length > 0 ? bits : ["no reason given"]),
          `${formatNumber(n)} failed ${n === 1 ? "child" : "children"} not listed by Batch`,
        ]
      : [...bits, f.exitCode !== undefined ? `exit code ${f.exitCode}` : "no exit code"];
  return visible(`${name} (${f.jobId}): ${parts.join(", ")}`);
}

export const LOGS_HINT = "logs: npm run jobs:logs -- <jobName>  (array child: <jobName>:<index>)";

function because(r: WaitReason, name: string): string {
  return `${r.words}; fix: ${r.fix.replace("<name>", name)}`;
}

/** Jobs waiting long, the first `shown` of them, each with its reason and fix. */
export function longWaitsText(waits: readonly LongWait[], shown = waits.length): string {
  const lines = waits.slice(0, shown).map((w) => {
    const why =
      w.reason !== undefined
        ? because(w.reason, w.jobName)
        : "Batch gives a reason only to the job at the head of the queue; " +
          `see npm run jobs:why -- ${w.jobName}`;
    return `  ${visible(`${w.jobName} (${w.jobId}), submitted ${w.minutes} min ago: ${why}`)}\n`;
  });
  const more = waits.length - lines.length;
  const rest = more > 0 ? `  ... and ${formatNumber(more)} more (--json lists them all)\n` : "";
  return `waiting ${LONG_WAIT_MS / 60_000} min or more since submit:\n${lines.join("")}${rest}`;
}

export function countsLine(s: Snapshot): string {
  return `${formatCounts(s.counts)} (${formatNumber(s.done)}/${formatNumber(s.total)} done)`;
}

export function when(ms: number, now: number): string {
  const minutes = Math.round(Math.abs(ms - now) / 60_000);
  const iso = new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
  return `${iso} (${ms <= now ? `${minutes} min ago` : `in ${minutes} min`})`;
}

function jobLines(j: WhyJob, r: WhyResult, now: number): string[] {
  const counts = j.children !== undefined ? `  [${formatCounts(j.children)}]` : "";
  const lines = [visible(`${j.jobName} ${j.jobId}: ${j.status}`) + counts];
  if (j.statusReason !== undefined) {
    lines.push(`  Batch says: ${visible(j.statusReason)}`);
  }
  if (j.reason !== undefined) {
    lines.push(`  which means ${visible(because(j.reason, j.jobName))}`);
  }
  if (j.place !== undefined) {
    const since = j.since !== undefined ? `, there since ${when(j.since, now)}` : "";
    lines.push(`  place ${j.place} of the ${r.runnableListed ?? "?"} RUNNABLE jobs listed${since}`);
  } else if ((r.runnableListed ?? 0) > 0 && (j.status === "RUNNABLE" || j.children?.RUNNABLE)) {
    lines.push(`  not among the first ${r.runnableListed} RUNNABLE jobs of the queue`);
  }
  if (j.behind !== undefined && j.behind.reason !== undefined) {
    const head = j.behind.jobName ?? j.behind.jobArn;
    const why = because(j.behind.reason, head);
    lines.push(`  behind ${visible(head)}, which Batch holds because ${visible(why)}`);
  }
  if (j.headCancelledAt !== undefined) {
    const whose = j.behind !== undefined ? "that job" : "it";
    lines.push(
      `  the queue's time limit (batchpy:runnableTimeoutSeconds) cancels ${whose} about ${when(j.headCancelledAt, now)}`,
    );
  }
  if (j.tooLarge === undefined) {
    lines.push("  size: the stack has no jobLimits output to check it against; run pulumi up");
  } else if (j.tooLarge.length > 0) {
    lines.push(`  too large for every instance type of the stack: ${j.tooLarge.join("; ")}`);
  }
  return lines;
}

function queueLine(q: NonNullable<WhyResult["queue"]>): string {
  const reason = q.statusReason !== undefined ? ` (${q.statusReason})` : "";
  const groups = groupBy(q.timeLimits, (l) => `${l.action} after ${l.maxTimeSeconds} s`);
  const limits = [...groups]
    .map(([rule, list]) => `${rule} held for ${list.map((l) => l.reason).join(", ")}`)
    .join("; ");
  return visible(
    `queue ${q.name}: ${q.state ?? "?"}, ${q.status ?? "?"}${reason}` +
      (limits !== "" ? `; RUNNABLE time limits: ${limits}` : ""),
  );
}

function environmentLine(e: WhyResult["environments"][number]): string {
  const reason = e.statusReason !== undefined ? ` (${e.statusReason})` : "";
  const types = e.instanceTypes !== undefined ? `; ${e.instanceTypes.join(", ")}` : "";
  return visible(
    `compute environment ${e.name}: ${e.state ?? "?"}, ${e.status ?? "?"}${reason}; ` +
      `vCPUs desired ${e.desiredvCpus ?? "?"}, min ${e.minvCpus ?? "?"}, max ${e.maxvCpus ?? "?"}${types}`,
  );
}

export function unavailableLine(u: Unavailable): string {
  return u.denied
    ? `not shown: these credentials may not call ${u.call} (${visible(u.error)}); docs/jobs.md lists the permissions`
    : `not shown: ${u.call} failed: ${visible(u.error)}`;
}

export function printWhy(r: WhyResult, io: Io, now: number): void {
  const lines = [
    ...r.jobs.flatMap((j) => jobLines(j, r, now)),
    ...(r.queue !== undefined ? [queueLine(r.queue)] : []),
    ...r.environments.map(environmentLine),
  ];
  io.stdout.write(`${lines.join("\n")}\n`);
  r.unavailable.forEach((u) => io.stderr.write(`warning: ${unavailableLine(u)}\n`));
}

export function printWhyJson(r: WhyResult, io: Io): void {
  io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
}

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
