/**
 * A pipeline as Batch holds it: each job's `dependsOn` (job IDs, which DescribeJobs returns)
 * read back as the names of the ledger's jobs and sweeps, for status, watch, report and
 * retry. A step's barriers (`<step>-b<n>`, jobs/input/depends.ts) are seen through: the step
 * is after what its barriers wait for, and the barriers are not jobs of their own. Pure.
 */
import type { JobDetail } from "./aws/api";
import { isBarrierName } from "./input/derived-names";
import { groupOf } from "./state/attempts";
import type { LedgerEntry } from "./state/ledger";

export interface Pipeline {
  /** The names each job waits for, by job ID: only jobs that wait for one of the ledger's. */
  readonly after: ReadonlyMap<string, readonly string[]>;
  /** How many barriers each step waits through, by job ID. */
  readonly barriers: ReadonlyMap<string, number>;
  /** Job IDs of barriers. */
  readonly barrierIds: ReadonlySet<string>;
  /** The entries but barriers, each step after what it waits for, with its depth. */
  readonly order: readonly { readonly item: LedgerEntry; readonly depth: number }[];
}

/**
 * What each of `entries` waits for, by name, from Batch's `details` of them (by job ID);
 * `all` (the whole ledger) names jobs that are not among them.
 */
export function pipelineOf(
  entries: readonly LedgerEntry[],
  details: ReadonlyMap<string, JobDetail>,
  all: readonly LedgerEntry[] = entries,
): Pipeline {
  const byId = new Map(all.map((e) => [e.jobId, e]));
  const barrierIds = new Set<string>();
  const barriers = new Map<string, number>();
  // Batch takes IDs of jobs that exist, so the dependencies cannot form a cycle.
  const parents = (id: string, step: LedgerEntry): string[] =>
    (details.get(id)?.dependsOn ?? []).flatMap(({ jobId }) => {
      const e = byId.get(jobId ?? "");
      if (e === undefined) {
        return [];
      }
      if (e.kind === "single" && isBarrierName(e.jobName, step.jobName)) {
        barrierIds.add(e.jobId);
        barriers.set(step.jobId, (barriers.get(step.jobId) ?? 0) + 1);
        return parents(e.jobId, step);
      }
      return [groupOf(e)];
    });
  const after = new Map<string, string[]>();
  for (const e of entries) {
    const names = [...new Set(parents(e.jobId, e))];
    if (names.length > 0) {
      after.set(e.jobId, names);
    }
  }
  barrierIds.forEach((id) => after.delete(id));
  const order = pipelineOrder(
    entries.filter((e) => !barrierIds.has(e.jobId)),
    groupOf,
    (e) => after.get(e.jobId) ?? [],
  );
  return { after, barriers, barrierIds, order };
}

/**
 * `items` with each job or sweep (by `nameOf`) right after the last of those it waits for
 * (`afterOf`), so a chain reads top to bottom, and its depth: 0 when it waits for none of
 * `items`, else one more than the deepest it waits for. Otherwise `items` keep their order.
 */
export function pipelineOrder<T>(
  items: readonly T[],
  nameOf: (item: T) => string,
  afterOf: (item: T) => readonly string[],
): { item: T; depth: number }[] {
  const groups = new Map<string, T[]>();
  items.forEach((i) => groups.set(nameOf(i), [...(groups.get(nameOf(i)) ?? []), i]));
  const parents = new Map(
    [...groups].map(([name, list]) => [
      name,
      new Set(list.flatMap(afterOf).filter((p) => p !== name && groups.has(p))),
    ]),
  );
  const depth = new Map<string, number>();
  const out: { item: T; depth: number }[] = [];
  const visit = (name: string): void => {
    const mine = [...(parents.get(name) ?? [])];
    if (depth.has(name) || !mine.every((p) => depth.has(p))) {
      return;
    }
    depth.set(name, Math.max(-1, ...mine.map((p) => depth.get(p) ?? 0)) + 1);
    (groups.get(name) ?? []).forEach((item) => out.push({ item, depth: depth.get(name) ?? 0 }));
    [...parents].filter(([, of]) => of.has(name)).forEach(([child]) => visit(child));
  };
  [...groups.keys()].forEach(visit);
  return out;
}

/**
 * Whether Batch failed a job because a job it depends on failed: it then moves the job from
 * PENDING to FAILED without running it
 * (https://docs.aws.amazon.com/batch/latest/userguide/job_dependencies.html), with the
 * status reason "Dependent Job failed"; matched loosely, as Batch does not document the text.
 */
export function failedByDependency(d: Pick<JobDetail, "status" | "statusReason">): boolean {
  return d.status === "FAILED" && /dependen\w*\s+job\s+fail/i.test(d.statusReason ?? "");
}
