/**
 * ECS task times, kept in `ecs-tasks.json` beside the ledger: ECS soon forgets a stopped task,
 * and a later report still splits the wait. A task ECS no longer knows never returns.
 */
import * as path from "path";
import type { Task } from "@aws-sdk/client-ecs";
import { optional, type EcsApi, type Unavailable } from "../aws/api";
import { clusterOf, keptTask, type KeptTask, type UnitAttempt } from "../report/time-split";
import { groupBy } from "../status";
import { readIfAny, writeWhole } from "./write-whole";
import { jsonValue } from "../input/json-source";

export function taskStoreFile(ledgerFile: string): string {
  return path.join(path.dirname(ledgerFile), "ecs-tasks.json");
}

/** A file that is not the store's JSON only costs reading ECS again. */
function loadTasks(file: string): Map<string, KeptTask> {
  const stored = jsonValue(readIfAny(file) ?? "")?.value as { tasks?: unknown } | null | undefined;
  // Own properties of parsed JSON (none for a scalar): an ARN is only ever a key of the Map.
  const tasks = Object.entries(Object(stored?.tasks) as object);
  return new Map(
    tasks.flatMap(([arn, kept]) => {
      const read = keptTask.safeParse(kept);
      return read.success ? [[arn, read.data] as const] : [];
    }),
  );
}

const TIMES = ["createdAt", "pullStartedAt", "pullStoppedAt", "startedAt"] as const;

const timesOf = (t: Task): KeptTask =>
  Object.fromEntries(TIMES.flatMap((k) => (t[k] ? [[k, t[k].getTime()]] : [])));

/** A started task's times no longer change, so it is kept; a refused call stops the reads. */
export async function withTaskTimes<T extends { readonly attempts: readonly UnitAttempt[] }>(
  items: readonly T[],
  ecs: EcsApi,
  file: string,
  unavailable: Unavailable[],
): Promise<T[]> {
  const arns = new Set(items.flatMap((u) => u.attempts.flatMap((a) => a.taskArn ?? [])));
  if (arns.size === 0) {
    return [...items]; // nothing to time: the task store is not read on each watch poll
  }
  const kept = loadTasks(file);
  const wanted = [...arns].filter((a) => !kept.has(a) && clusterOf(a) !== undefined);
  const read = new Map(kept);
  for (const [cluster, inCluster] of groupBy(wanted, (a) => clusterOf(a) ?? "")) {
    const out = await optional(
      "ecs:DescribeTasks",
      () => ecs.describeTasks(cluster, inCluster),
      unavailable,
    );
    if (out === undefined) {
      break;
    }
    for (const t of out.tasks) {
      if (t.taskArn !== undefined) {
        read.set(t.taskArn, timesOf(t));
      }
    }
    out.missing.forEach((arn) => read.set(arn, { missing: true }));
  }
  const fresh = [...read].filter(
    ([arn, t]) => !kept.has(arn) && ("missing" in t || t.startedAt !== undefined),
  );
  if (fresh.length > 0) {
    // Another report may have kept tasks meanwhile: keep theirs too.
    const all = new Map([...loadTasks(file), ...kept, ...fresh]);
    writeWhole(file, `${JSON.stringify({ tasks: Object.fromEntries(all) })}\n`);
  }
  const withTask = (a: UnitAttempt): UnitAttempt => {
    const task = a.taskArn !== undefined ? read.get(a.taskArn) : undefined;
    return task !== undefined ? { ...a, task } : a;
  };
  return items.map((u) => ({ ...u, attempts: u.attempts.map(withTask) }));
}
