/** Batch's statuses and pure summaries of DescribeJobs results (array jobs count as children). */
import type { JobDetail, JobSummary } from "./aws/api";
import type { LedgerEntry } from "./state/ledger";
import { isBarrierName } from "./input/derived-names";
import { definedOnly } from "../components/defined";
import { RESERVED_PREFIX } from "../components/contract";
import type { ParameterSet } from "./input/sweep";
import type { AttemptTime } from "./report/time-split";
import { waitReason } from "./wait-reason";

/** In lifecycle order, plus UNKNOWN for jobs Batch no longer returns. */
export const STATUSES = [
  "SUBMITTED",
  "PENDING",
  "RUNNABLE",
  "STARTING",
  "RUNNING",
  "SUCCEEDED",
  "FAILED",
  "UNKNOWN",
] as const;
export type Status = (typeof STATUSES)[number];

/** Not UNKNOWN: a job Batch does not return may run in another region or account. */
export const TERMINAL: ReadonlySet<Status> = new Set<Status>(["SUCCEEDED", "FAILED"]);

export const STARTED_STATUSES: readonly ("STARTING" | "RUNNING")[] = ["STARTING", "RUNNING"];

/** Batch not knowing a job counts: waiting would never end. */
export function isSettled(status: Status): boolean {
  return TERMINAL.has(status) || status === "UNKNOWN";
}

export interface Failure {
  readonly jobName: string;
  readonly jobId: string;
  readonly index?: number;
  /** A retry child's set number. */
  readonly set?: number;
  readonly statusReason?: string;
  readonly exitCode?: number;
  readonly reason?: string;
  /** An array parent's own failure: this many failed children Batch does not list. */
  readonly unlistedChildren?: number;
}

/** A single job's `attempts` come with --json (a sweep's are in jobs:report). */
export type JobRow = ReturnType<typeof jobRow> & { readonly attempts?: readonly AttemptTime[] };

/** Sets and jobs that ran more than once, and the earlier runs left out. */
export type Retried = Readonly<Record<"sets" | "jobs" | "runs", number>>;

/** Counts in units (a job, or one array child); `retried` when each set counts once. */
export type Snapshot = ReturnType<typeof tally> & { readonly retried?: Retried };

export function asStatus(s: string | undefined): Status {
  return (STATUSES as readonly string[]).includes(s ?? "") ? (s as Status) : "UNKNOWN";
}

export function runsPerSet<T>(
  runs: readonly T[],
  setOf: (run: T) => string,
  at: (run: T) => number | string,
): T[][] {
  return [...groupBy(runs, setOf).values()].map((list) =>
    list.sort((a, b) => (at(a) < at(b) ? -1 : at(a) > at(b) ? 1 : 0)),
  );
}

/** Groups in order of first appearance, each in input order. */
export function groupBy<T>(items: Iterable<T>, keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(keyOf(item)) ?? [];
    group.push(item);
    groups.set(keyOf(item), group);
  }
  return groups;
}

/**
 * `items` with each job or sweep right after the last of those it waits for, so a chain reads
 * top to bottom, and its depth; otherwise `items` keep their order.
 */
export function pipelineOrder<T>(
  items: readonly T[],
  nameOf: (item: T) => string,
  afterOf: (item: T) => readonly string[],
): { item: T; depth: number }[] {
  const groups = groupBy(items, nameOf);
  const parents = (name: string): string[] =>
    (groups.get(name) ?? []).flatMap(afterOf).filter((p) => p !== name && groups.has(p));
  // In the order placed: a name once all it waits for are.
  const depth = new Map<string, number>();
  const visit = (name: string): void => {
    const mine = parents(name).map((p) => depth.get(p));
    if (depth.has(name) || mine.includes(undefined)) {
      return;
    }
    depth.set(name, Math.max(-1, ...(mine as number[])) + 1);
    [...groups.keys()].filter((child) => parents(child).includes(name)).forEach(visit);
  };
  [...groups.keys()].forEach(visit);
  // Names can wait for each other where job IDs cannot (a job sent again, with --force, after
  // a step of it): those come last, as given.
  const waiting = [...groups.keys()].filter((name) => !depth.has(name));
  return [...depth.keys(), ...waiting].flatMap((name) =>
    (groups.get(name) ?? []).map((item) => ({ item, depth: depth.get(name) ?? 0 })),
  );
}

/** `name[index]` for an array child or sweep set. */
export const rowName = (job: string, index?: number): string =>
  index === undefined ? job : `${job}[${index}]`;

export const groupOf = (e: LedgerEntry): string => e.of ?? e.jobName;

/** A job's parameters: its environment without the tool's and AWS's variables, then the set. */
export function parametersOf(
  environment: readonly { name?: string; value?: string }[] | undefined,
  set?: ParameterSet,
): Map<string, string> {
  const own = (environment ?? []).flatMap(({ name, value }) =>
    name !== undefined && !name.startsWith(RESERVED_PREFIX) && !name.startsWith("AWS_")
      ? [[name, value ?? ""] as const]
      : [],
  );
  return new Map([...own, ...(set ?? [])]);
}

export const variableOf = (detail: JobDetail | undefined, name: string): string | undefined =>
  detail?.container?.environment?.find((v) => v.name === name)?.value;

/** Of the last attempt (Batch reports it in two places). */
export function exitCodeOf(d: JobDetail | JobSummary): number | undefined {
  return d.container?.exitCode ?? (d as JobDetail).attempts?.at(-1)?.container?.exitCode;
}

export function resourcesOf(
  requirements: readonly { readonly type?: string; readonly value?: string }[] | undefined,
): { vcpus?: number; memoryMiB?: number; gpus?: number } {
  const value = (type: string): number | undefined => {
    const v = Number(requirements?.find((r) => r.type === type)?.value);
    return Number.isFinite(v) && v > 0 ? v : undefined;
  };
  return definedOnly({ vcpus: value("VCPU"), memoryMiB: value("MEMORY"), gpus: value("GPU") });
}

/** Children exist once the parent leaves PENDING: until then they count under its status. */
function childCounts(size: number, detail: JobDetail | undefined, status: Status) {
  const summary = Object.entries(detail?.arrayProperties?.statusSummary ?? {});
  const missing = size - summary.reduce((sum, [, n]) => sum + n, 0);
  const counts: Partial<Record<Status, number>> = {};
  for (const [k, n] of [...summary, [status, missing] as const]) {
    if (n !== 0) {
      counts[asStatus(k)] = (counts[asStatus(k)] ?? 0) + n;
    }
  }
  return counts;
}

function tally(counts: Record<Status, number>, jobs: JobRow[]) {
  const total = STATUSES.reduce((n, s) => n + counts[s], 0);
  const done = counts.SUCCEEDED + counts.FAILED;
  return {
    counts,
    total,
    done,
    // The parents must be terminal too: an array parent finishes after its children.
    allTerminal: jobs.every((j) => TERMINAL.has(j.status)) && done === total,
    settled: jobs.every((j) => isSettled(j.status)) && done + counts.UNKNOWN === total,
    jobs,
  };
}

/**
 * A pipeline as Batch holds it: each job's `dependsOn` (job IDs) read back as the names of the
 * ledger's jobs and sweeps; a step's barriers (jobs/input/depends.ts) are seen through. What each
 * of `entries` waits for, by name; `all` (the ledger) names jobs not among them.
 * @see https://docs.aws.amazon.com/batch/latest/APIReference/API_JobDetail.html
 */
export function pipelineOf(
  entries: readonly LedgerEntry[],
  details: ReadonlyMap<string, JobDetail>,
  all: readonly LedgerEntry[] = entries,
) {
  const byId = new Map(all.map((e) => [e.jobId, e]));
  const barrierIds = new Set<string>();
  const barriers = new Map<string, number>();
  // Batch takes IDs of jobs that exist, so the dependencies cannot form a cycle.
  const parents = (id: string, step: LedgerEntry): string[] =>
    (details.get(id)?.dependsOn ?? []).flatMap(({ jobId }) => {
      const e = byId.get(jobId ?? "");
      if (e?.kind === "single" && isBarrierName(e.jobName, step.jobName)) {
        barrierIds.add(e.jobId);
        barriers.set(step.jobId, (barriers.get(step.jobId) ?? 0) + 1);
        return parents(e.jobId, step);
      }
      return e === undefined ? [] : [groupOf(e)];
    });
  const after = new Map(
    entries.flatMap((e) => {
      const names = [...new Set(parents(e.jobId, e))];
      return names.length > 0 ? [[e.jobId, names] as const] : [];
    }),
  );
  barrierIds.forEach((id) => after.delete(id));
  const order = pipelineOrder(
    entries.filter((e) => !barrierIds.has(e.jobId)),
    groupOf,
    (e) => after.get(e.jobId) ?? [],
  );
  return { after, barriers, order };
}

/**
 * Whether Batch failed a job, without running it, because a job it depends on failed. Batch
 * does not document the reason's text ("Dependent Job failed"), so any such wording matches.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/job_dependencies.html
 */
export function failedByDependency(d: Pick<JobDetail, "status" | "statusReason">): boolean {
  return d.status === "FAILED" && /\bdependen(?:t|cy|cies)\b.*\bfail/i.test(d.statusReason ?? "");
}

/** Batch's dependsOn by name (`after`) and the barriers between; an array job's children. */
function jobRow(
  e: LedgerEntry,
  d: JobDetail | undefined,
  pipeline: ReturnType<typeof pipelineOf> | undefined,
  depth: number,
) {
  const status = asStatus(d?.status);
  const after = pipeline?.after.get(e.jobId);
  const arraySize = d?.arrayProperties?.size ?? e.arraySize;
  return {
    jobName: e.jobName,
    jobId: e.jobId,
    status,
    ...definedOnly({ statusReason: d?.statusReason, exitCode: d && exitCodeOf(d) }),
    ...(after !== undefined
      ? { after, depth, ...definedOnly({ barriers: pipeline?.barriers.get(e.jobId) }) }
      : {}),
    ...(e.kind === "array" ? { arraySize, children: childCounts(arraySize ?? 1, d, status) } : {}),
  };
}

/** Barriers are left out of a pipeline: a step waits for them, so they count in its status. */
export function summarize(
  entries: readonly LedgerEntry[],
  details: ReadonlyMap<string, JobDetail>,
  pipeline?: ReturnType<typeof pipelineOf>,
): Snapshot {
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
  const order = pipeline?.order ?? entries.map((item) => ({ item, depth: 0 }));
  const jobs = order.map((o) => jobRow(o.item, details.get(o.item.jobId), pipeline, o.depth));
  for (const j of jobs) {
    for (const [k, n] of Object.entries(j.children ?? { [j.status]: 1 })) {
      counts[k as Status] += n;
    }
  }
  return tally(counts, jobs);
}

/** Each set counts once, by its latest run, as `jobs:report` shows it; the rows keep every run. */
export function leaveOut(
  s: Snapshot,
  replaced: readonly { readonly status: string | undefined }[],
  retried: Omit<Retried, "runs">,
): Snapshot {
  if (replaced.length === 0) {
    return s;
  }
  const counts = { ...s.counts };
  for (const r of replaced) {
    // A run Batch no longer returns was FAILED when retried: jobs:retry runs only those.
    const status = r.status !== undefined ? asStatus(r.status) : "FAILED";
    counts[status] = Math.max(0, counts[status] - 1);
  }
  return { ...tally(counts, s.jobs), retried: { ...retried, runs: replaced.length } };
}

export function singleFailures(snapshot: Snapshot): Failure[] {
  return snapshot.jobs
    .filter((j) => j.status === "FAILED" && j.arraySize === undefined)
    .map((j) => ({
      jobName: j.jobName,
      jobId: j.jobId,
      ...definedOnly({ statusReason: j.statusReason, exitCode: j.exitCode }),
    }));
}

/** Plus the parent's own reason when Batch lists fewer (a sweep cancelled early lists none). */
export function arrayFailures(parent: JobRow, failedChildren: readonly JobSummary[]): Failure[] {
  const failures: Failure[] = failedChildren.map((c) => ({
    jobName: parent.jobName,
    jobId: c.jobId ?? parent.jobId,
    ...definedOnly({
      index: c.arrayProperties?.index,
      statusReason: c.statusReason,
      exitCode: exitCodeOf(c),
      reason: c.container?.reason,
    }),
  }));
  const unlisted = (parent.children?.FAILED ?? 0) - failedChildren.length;
  if (parent.status === "FAILED" && unlisted > 0) {
    failures.push({
      jobName: parent.jobName,
      jobId: parent.jobId,
      ...definedOnly({ statusReason: parent.statusReason }),
      unlistedChildren: unlisted,
    });
  }
  return failures;
}

/** The wrong stack or region, rather than old jobs. */
export function allUnknown(snapshot: Snapshot): boolean {
  return snapshot.jobs.length > 0 && snapshot.jobs.every((j) => j.status === "UNKNOWN");
}

export const LONG_WAIT_MS = 5 * 60_000;

export type LongWait = ReturnType<typeof longWaits>[number];

/** Batch records no time a job became RUNNABLE; the submit, seconds before it, stands in. */
export function longWaits(
  rows: readonly JobRow[],
  details: ReadonlyMap<string, JobDetail>,
  now: number,
) {
  return rows.flatMap((row) => {
    const createdAt = details.get(row.jobId)?.createdAt;
    const runnable = row.status === "RUNNABLE" || (row.children?.RUNNABLE ?? 0) > 0;
    if (!runnable || createdAt === undefined || now - createdAt < LONG_WAIT_MS) {
      return [];
    }
    const minutes = Math.floor((now - createdAt) / 60_000);
    const { jobName, jobId } = row;
    return [{ jobName, jobId, minutes, ...definedOnly({ reason: waitReason(row.statusReason) }) }];
  });
}
