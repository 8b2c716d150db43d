/**
 * A run with dependencies by name (jobs/input/depends.ts), parents first: refused before
 * anything is sent when a name cannot be resolved or its parent already failed; then sent
 * level by level, each level's names resolved from the ledger once the level before is in
 * it, and a step that waits for more than 20 jobs after its barriers. A crash anywhere leaves
 * the ledger as the exactly-once protocol (jobs/aws/exactly-once.ts) expects: a re-run skips
 * or recovers what went, and resolves the rest the same way.
 */
import { BadInputError, type Problem } from "../errors";
import type { BatchApi } from "../aws/api";
import {
  complete,
  mergeResults,
  newItems,
  sendAll,
  type SendAllResult,
  type SendContext,
  type SendItem,
} from "../aws/exactly-once";
import { dependencyOrder, parentsInLedger, resolveDependencies } from "../input/depends";
import type { Submission } from "../input/plan";
import type { Ledger } from "../state/ledger";

/** The level (0 first) of each submission by job name; throws BadInputError listing every problem. */
export function checkDependencies(
  submissions: readonly Submission[],
  ledger: Ledger,
): Map<string, number> {
  const { levels, problems } = dependencyOrder(submissions, {
    entries: ledger.entries,
    open: ledger.openIntents(),
  });
  if (problems.length > 0) {
    throw new BadInputError(problems);
  }
  return new Map(levels.flatMap((level, i) => level.map((s) => [s.jobName, i])));
}

/**
 * Refuses a dependency on a job that already failed with nothing retried since: Batch would
 * fail the step at once (a dependent of a failed job goes to FAILED).
 */
export async function refuseFailedParents(
  submissions: readonly Submission[],
  ledger: Ledger,
  batch: BatchApi,
  force: boolean,
): Promise<void> {
  const parents = parentsInLedger(submissions, ledger.entries, force);
  const ids = [...new Set(parents.flatMap((p) => p.runs.map((e) => e.jobId)))];
  if (ids.length === 0) {
    return;
  }
  const failed = new Set(
    (await batch.describeJobs(ids)).flatMap((d) => (d.status === "FAILED" ? [d.jobId] : [])),
  );
  const problems = parents.flatMap(({ submission, at, name, runs }): Problem[] => {
    const job = runs.find((e) => failed.has(e.jobId));
    return job === undefined
      ? []
      : [
          {
            file: submission.file,
            path: `dependsOn[${at}]`,
            message:
              `"${name}" failed (${job.jobName} ${job.jobId}) and was not retried since, so ` +
              `Batch would fail this job at once; run npm run jobs:retry -- ${name} first`,
          },
        ];
  });
  if (problems.length > 0) {
    throw new BadInputError(problems);
  }
}

/**
 * Sends `items` level by level (`levels` by job name); a level's barriers go in a round of
 * their own before its steps. Stops at the first round that leaves anything unsent.
 */
export async function sendInOrder(
  items: readonly SendItem[],
  levels: ReadonlyMap<string, number>,
  ctx: SendContext,
  concurrency: number,
  computeType: string | undefined,
): Promise<SendAllResult> {
  const byLevel: SendItem[][] = [];
  for (const item of items) {
    const n = levels.get(item.submission.jobName) ?? 0;
    byLevel[n] = [...(byLevel[n] ?? []), item];
  }
  const queue = byLevel.filter((l) => l !== undefined);
  let total = mergeResults();
  for (let pending = queue.shift(); pending !== undefined;) {
    const send: SendItem[] = [];
    const waiting: SendItem[] = [];
    const barriers: Submission[] = [];
    for (const item of pending) {
      const r = resolveDependencies(item.submission, ctx.ledger.entries, computeType);
      if (r.kind === "ready") {
        send.push({ ...item, submission: r.submission });
      } else {
        waiting.push(item);
        barriers.push(...r.barriers);
      }
    }
    const r = await sendAll([...send, ...(await newItems(barriers, ctx))], ctx, concurrency);
    total = mergeResults(total, r);
    if (!complete(r) || ctx.signal.aborted) {
      return { ...total, notSent: [...total.notSent, ...waiting, ...queue.flat()] };
    }
    pending = waiting.length > 0 ? waiting : queue.shift();
  }
  return total;
}
