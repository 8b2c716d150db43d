/** The status model (jobs/status.ts) on a terminal. */
import {
  LONG_WAIT_MS,
  STATUSES,
  type Failure,
  type LongWait,
  type Snapshot,
  type Status,
} from "../status";
import type { WaitReason } from "../wait-reason";
import { rowName } from "../report/rows";
import { visible } from "./visible";
import { formatNumber } from "./numbers";

export function formatCounts(counts: Readonly<Partial<Record<Status, number>>>): string {
  const parts = STATUSES.filter((s) => (counts[s] ?? 0) > 0).map(
    (s) => `${s} ${formatNumber(counts[s] ?? 0)}`,
  );
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

export const LONG_WAITS_HEADING = `waiting ${LONG_WAIT_MS / 60_000} min or more since submit:`;

/** A wait's reason and its fix for the job named `name`. */
export function because(r: WaitReason, name: string): string {
  return `${r.words}; fix: ${r.fix.replace("<name>", name)}`;
}

export function formatLongWait(w: LongWait): string {
  const why =
    w.reason !== undefined
      ? because(w.reason, w.jobName)
      : "Batch gives a reason only to the job at the head of the queue; " +
        `see npm run jobs:why -- ${w.jobName}`;
  return visible(`${w.jobName} (${w.jobId}), submitted ${w.minutes} min ago: ${why}`);
}

export function countsLine(s: Snapshot): string {
  return `${formatCounts(s.counts)} (${formatNumber(s.done)}/${formatNumber(s.total)} done)`;
}
