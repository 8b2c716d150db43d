/**
 * `jobs:why NAME`: why a job or sweep waits. Its status and reason, the job Batch holds at the
 * head of the queue, the queue and its compute environments, the job's place among the first
 * 100 RUNNABLE jobs and when the queue's time limit cancels the head. A call the credentials
 * may not make is named and the rest still shown.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable.html
 */
import type {
  AwsClients,
  ComputeEnvironmentDetail,
  FrontOfQueueDetail,
  JobDetail,
  JobQueueDetail,
} from "../aws/api";
import { openStack, type Context, type StackOptions } from "../context";
import { EXIT_OK } from "../errors";
import { optional } from "../aws/optional";
import { resourcesOf, summarize, type JobRow } from "../status";
import { waitReason } from "../wait-reason";
import { jobTooLarge, type JobLimits } from "../../components/job-limits";
import { definedOnly } from "../../components/defined";
import { describeById, selectEntries } from "./watch";
import {
  printWhy,
  printWhyJson,
  type EnvironmentState,
  type HeadJob,
  type QueueState,
  type TimeLimit,
  type Unavailable,
  type WhyJob,
  type WhyResult,
} from "../output/why-print";

export interface WhyOptions extends StackOptions {
  readonly name: string;
}

/** The RUNNABLE time limits of a queue (the stack sets them: components/job-queue.ts). */
function timeLimits(queue: JobQueueDetail): TimeLimit[] {
  return (queue.jobStateTimeLimitActions ?? []).flatMap(
    ({ state, reason, maxTimeSeconds, action }) =>
      state === "RUNNABLE" && reason !== undefined && maxTimeSeconds !== undefined
        ? [{ reason, maxTimeSeconds, action: action ?? "CANCEL" }]
        : [],
  );
}

/** 1-based place of the job (or, for an array, its first child) in the snapshot. */
export function placeOf(
  jobArn: string | undefined,
  front: FrontOfQueueDetail,
): { place: number; since?: number } | undefined {
  const jobs = front.jobs ?? [];
  const i = jobs.findIndex((j) => j.jobArn !== undefined && ownedBy(j.jobArn, jobArn));
  return i < 0
    ? undefined
    : { place: i + 1, ...definedOnly({ since: jobs[i].earliestTimeAtPosition }) };
}

function ownedBy(arn: string, jobArn: string | undefined): boolean {
  return jobArn !== undefined && (arn === jobArn || arn.startsWith(`${jobArn}:`));
}

/**
 * When the queue cancels a head job held for `statusReason`: Batch counts the limit from when
 * the job reached the head with that reason, which the snapshot's time stands for.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable_time_limit_actions.html
 */
export function cancelledAt(
  statusReason: string | undefined,
  since: number | undefined,
  limits: readonly TimeLimit[],
): number | undefined {
  const code = waitReason(statusReason)?.code;
  const limit = limits.find((l) => l.reason === code && l.action === "CANCEL");
  return limit === undefined || since === undefined
    ? undefined
    : since + limit.maxTimeSeconds * 1000;
}

/** The ARN's job ID (`…:job/<id>`, an array child's `<id>:<index>`). */
function jobIdOf(arn: string): string {
  return arn.replace(/^.*:job\//, "");
}

function environmentState(e: ComputeEnvironmentDetail): EnvironmentState {
  const r = e.computeResources;
  return {
    name: e.computeEnvironmentName ?? e.computeEnvironmentArn ?? "?",
    ...definedOnly({
      state: e.state,
      status: e.status,
      statusReason: e.statusReason,
      desiredvCpus: r?.desiredvCpus,
      minvCpus: r?.minvCpus,
      maxvCpus: r?.maxvCpus,
      instanceTypes: r?.instanceTypes,
    }),
  };
}

function queueState(q: JobQueueDetail): QueueState {
  return {
    name: q.jobQueueName ?? q.jobQueueArn ?? "?",
    ...definedOnly({ state: q.state, status: q.status, statusReason: q.statusReason }),
    timeLimits: timeLimits(q),
  };
}

/** The queue and its compute environments, each call optional. */
async function readQueue(clients: AwsClients, queueName: string, unavailable: Unavailable[]) {
  const batch = clients.batch;
  const queue = await optional(
    "batch:DescribeJobQueues",
    () => batch.describeJobQueue(queueName),
    unavailable,
  );
  const names = (queue?.computeEnvironmentOrder ?? []).flatMap((c) => c.computeEnvironment ?? []);
  const environments =
    names.length === 0
      ? []
      : ((await optional(
          "batch:DescribeComputeEnvironments",
          () => batch.describeComputeEnvironments(names),
          unavailable,
        )) ?? []);
  return { queue, environments };
}

/** The queue's first 100 RUNNABLE jobs and its head job, each call optional. */
async function readFront(clients: AwsClients, queueName: string, unavailable: Unavailable[]) {
  const front = await optional(
    "batch:GetJobQueueSnapshot",
    () => clients.batch.getJobQueueSnapshot(queueName),
    unavailable,
  );
  return { front, head: await readHead(clients, front, unavailable) };
}

/** The job at the head of the queue, with the reason Batch holds it for. */
async function readHead(
  clients: AwsClients,
  front: FrontOfQueueDetail | undefined,
  unavailable: Unavailable[],
): Promise<HeadJob | undefined> {
  const arn = front?.jobs?.[0]?.jobArn;
  if (arn === undefined) {
    return undefined;
  }
  const described = await optional(
    "batch:DescribeJobs",
    () => clients.batch.describeJobs([jobIdOf(arn)]),
    unavailable,
  );
  const d = described?.[0];
  return {
    jobArn: arn,
    ...definedOnly({
      jobName: d?.jobName,
      statusReason: d?.statusReason,
      reason: waitReason(d?.statusReason),
    }),
  };
}

/** One job or sweep part, explained from what was read. */
export function explainJob(
  row: JobRow,
  detail: JobDetail | undefined,
  seen: {
    readonly front?: FrontOfQueueDetail;
    readonly head?: HeadJob;
    readonly limits?: JobLimits;
    readonly timeLimits: readonly TimeLimit[];
  },
): WhyJob {
  const at = seen.front !== undefined ? placeOf(detail?.jobArn, seen.front) : undefined;
  const head = seen.head;
  const atHead = at?.place === 1;
  const behind = head !== undefined && !atHead && head.reason !== undefined ? head : undefined;
  const holder = atHead ? head : behind;
  const headSince = seen.front?.jobs?.[0]?.earliestTimeAtPosition;
  return {
    ...row,
    ...definedOnly({
      // A child at the head carries the reason; its array parent does not.
      reason: waitReason(row.statusReason) ?? (atHead ? head?.reason : undefined),
      place: at?.place,
      since: at?.since,
      behind,
      tooLarge:
        seen.limits !== undefined
          ? jobTooLarge(resourcesOf(detail?.container?.resourceRequirements), seen.limits).map(
              (p) => p.message,
            )
          : undefined,
      headCancelledAt: cancelledAt(holder?.statusReason, headSince, seen.timeLimits),
    }),
  };
}

async function why(opts: WhyOptions, ctx: Context): Promise<WhyResult> {
  const { outputs, ledger } = await openStack(opts, ctx);
  ledger.warnings.forEach((w) => ctx.io.stderr.write(`warning: ${w}\n`));
  const entries = selectEntries(ledger, [opts.name], false, outputs.stack);
  const clients = ctx.clients(outputs.outputs.region);
  try {
    const details = await describeById(
      clients,
      entries.map((e) => e.jobId),
    );
    const first = details.get(entries[0].jobId);
    const queueName =
      first?.jobQueue ?? outputs.outputs.jobQueueArn ?? outputs.outputs.jobQueueName;
    const unavailable: Unavailable[] = [];
    const [read, { front, head }] =
      queueName !== undefined
        ? await Promise.all([
            readQueue(clients, queueName, unavailable),
            readFront(clients, queueName, unavailable),
          ])
        : [undefined, { front: undefined, head: undefined }];
    const queue = read?.queue !== undefined ? queueState(read.queue) : undefined;
    const seen = {
      ...definedOnly({ front, head, limits: outputs.outputs.jobLimits }),
      timeLimits: queue?.timeLimits ?? [],
    };
    const rows = summarize(entries, details).jobs;
    return {
      stack: outputs.stack,
      name: opts.name,
      jobs: rows.map((row) => explainJob(row, details.get(row.jobId), seen)),
      environments: (read?.environments ?? []).map(environmentState),
      unavailable,
      ...definedOnly({ queue, runnableListed: front?.jobs?.length }),
    };
  } finally {
    clients.destroy();
  }
}

export async function whyCommand(opts: WhyOptions, ctx: Context): Promise<number> {
  const result = await why(opts, ctx);
  if (opts.json) {
    printWhyJson(result, ctx.io);
  } else {
    printWhy(result, ctx.io, Date.now());
  }
  return EXIT_OK;
}
