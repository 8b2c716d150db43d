/**
 * Where an attempt's time went: submit to RUNNING to end, the wait split where ECS knew the task.
 * @see https://docs.aws.amazon.com/batch/latest/APIReference/API_AttemptDetail.html
 * @see https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Task.html
 */
import { z } from "zod";
import { definedOnly } from "../../components/defined";
import type { JobDetail } from "../aws/api";

const time = z.number().optional();
/**
 * What ECS recorded of a task, epoch ms (`createdAt`: the task entered PENDING, so ECS placed it;
 * on EC2 the instance was up); `missing`: ECS no longer knows it (MISSING).
 */
export const keptTask = z.union([
  z.object({ missing: z.literal(true) }),
  z.object({ createdAt: time, pullStartedAt: time, pullStoppedAt: time, startedAt: time }),
]);
export type KeptTask = z.infer<typeof keptTask>;

export type UnitAttempt = ReturnType<typeof batchAttempts>[number] & { readonly task?: KeptTask };

// A job that ran without attempt details (or before the first one ended) counts once.
export const batchAttempts = (detail: JobDetail) =>
  (detail.attempts?.length ? detail.attempts : detail.startedAt !== undefined ? [detail] : []).map(
    ({ startedAt, stoppedAt, container }) =>
      definedOnly({ startedAt, stoppedAt, taskArn: container?.taskArn }),
  );

export type AttemptTime = ReturnType<typeof attemptTimes>[number];

export const FORGOTTEN = "ECS no longer knows the task (it keeps a stopped task about an hour)";

export function seconds(from: number | undefined, to: number | undefined): number | undefined {
  return from !== undefined && to !== undefined && to >= from ? (to - from) / 1000 : undefined;
}

// Placement ends when the pull starts (else when ECS created the task); clocks differ a little,
// so a negative part is 0 and start takes the remainder.
export function splitWait(
  from: number | undefined,
  running: number | undefined,
  task: KeptTask | undefined,
): Partial<Record<"placementSeconds" | "pullSeconds" | "startSeconds", number>> {
  if (from === undefined || running === undefined || task === undefined || "missing" in task) {
    return {};
  }
  const { pullStartedAt: pullFrom, pullStoppedAt: pullTo } = task;
  const pulled = pullFrom !== undefined && pullTo !== undefined;
  const placed = pulled ? pullFrom : task.createdAt;
  if (placed === undefined) {
    return {};
  }
  const wait = Math.max(0, running - from) / 1000;
  const placementSeconds = Math.min(wait, Math.max(0, placed - from) / 1000);
  const pullSeconds = pulled
    ? Math.min(wait - placementSeconds, Math.max(0, pullTo - pullFrom) / 1000)
    : undefined;
  const startSeconds = wait - placementSeconds - (pullSeconds ?? 0);
  return definedOnly({ placementSeconds, pullSeconds, startSeconds });
}

/** The split (placement, pull, start) adds up to toRunningSeconds. */
export function attemptTimes(createdAt: number | undefined, attempts: readonly UnitAttempt[]) {
  return attempts.map(({ task, ...times }, i) => {
    const from = i === 0 ? createdAt : attempts[i - 1].stoppedAt;
    return definedOnly({
      ...times,
      // From submit, for a later attempt from the previous one's end.
      toRunningSeconds: seconds(from, times.startedAt),
      runningSeconds: seconds(times.startedAt, times.stoppedAt),
      ...splitWait(from, times.startedAt, task),
      noSplit: task !== undefined && "missing" in task ? FORGOTTEN : undefined,
    });
  });
}

/**
 * Batch's tasks carry ECS's long ARN format, `...:task/<cluster>/<id>`; the short one has none.
 * @see https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-account-settings.html#ecs-resource-ids
 */
export function clusterOf(taskArn: string): string | undefined {
  return /^arn:[^:]+:ecs:[^:]*:[^:]*:task\/([^/]+)\/[^/]+$/.exec(taskArn)?.[1];
}
