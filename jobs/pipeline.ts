/**
 * A pipeline as Batch holds it: each job's `dependsOn` (job IDs) read back as the names of the
 * ledger's jobs and sweeps; a step's barriers (jobs/input/depends.ts) are seen through.
 * @see https://docs.aws.amazon.com/batch/latest/APIReference/API_JobDetail.html
 */
import type { JobDetail } from "./aws/api";
import { isBarrierName } from "./input/derived-names";
import { groupOf } from "./state/attempts";
import type { LedgerEntry } from "./state/ledger";
import { pipelineOrder, type PipelineView } from "./status";

/** What each of `entries` waits for, by name; `all` (the ledger) names jobs not among them. */
export function pipelineOf(
  entries: readonly LedgerEntry[],
  details: ReadonlyMap<string, JobDetail>,
  all: readonly LedgerEntry[] = entries,
): PipelineView {
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
