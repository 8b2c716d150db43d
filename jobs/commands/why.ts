/**
 * `jobs:why`: a call the credentials may not make is named and the rest still shown.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable.html
 */
import {
  optional,
  type AwsClients,
  type ComputeEnvironmentDetail,
  type FrontOfQueueDetail,
  type JobDetail,
  type JobQueueDetail,
  type Unavailable,
} from "../aws/api";
import {
  describeById,
  selectEntries,
  withStack,
  type Context,
  type StackOptions,
} from "../context";
import { resourcesOf, summarize, type JobRow } from "../status";
import { waitReason } from "../wait-reason";
import { jobTooLarge, type JobLimits } from "../../components/instance-types";
import { definedOnly } from "../../components/defined";

export interface WhyOptions extends StackOptions {
  readonly name: string;
}

type TimeLimit = { reason: string; maxTimeSeconds: number; action: string };
export type WhyJob = ReturnType<typeof explainJob>;
export type WhyResult = Awaited<ReturnType<typeof why>>;

/** 1-based; an array's first child. */
export function placeOf(jobArn: string | undefined, front: FrontOfQueueDetail) {
  const jobs = front.jobs ?? [];
  const owned = (arn = ""): boolean => jobArn !== undefined && `${arn}:`.startsWith(`${jobArn}:`);
  const i = jobs.findIndex((j) => owned(j.jobArn));
  return i < 0
    ? undefined
    : { place: i + 1, ...definedOnly({ since: jobs[i].earliestTimeAtPosition }) };
}

/**
 * Batch counts the limit from when the job reached the head with that reason.
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

function environmentState(e: ComputeEnvironmentDetail) {
  const { desiredvCpus, minvCpus, maxvCpus, instanceTypes } = e.computeResources ?? {};
  return {
    name: e.computeEnvironmentName ?? e.computeEnvironmentArn ?? "?",
    ...definedOnly({ state: e.state, status: e.status, statusReason: e.statusReason }),
    ...definedOnly({ desiredvCpus, minvCpus, maxvCpus, instanceTypes }),
  };
}

function queueState(q: JobQueueDetail) {
  return {
    name: q.jobQueueName ?? q.jobQueueArn ?? "?",
    ...definedOnly({ state: q.state, status: q.status, statusReason: q.statusReason }),
    timeLimits: (q.jobStateTimeLimitActions ?? []).flatMap(
      ({ state, reason, maxTimeSeconds, action }): TimeLimit[] =>
        state === "RUNNABLE" && reason !== undefined && maxTimeSeconds !== undefined
          ? [{ reason, maxTimeSeconds, action: action ?? "CANCEL" }]
          : [],
    ),
  };
}

async function readQueue(clients: AwsClients, queueName: string, unavailable: Unavailable[]) {
  const batch = clients.batch;
  const call = <T>(name: string, run: () => Promise<T>) =>
    optional(`batch:${name}`, run, unavailable);
  const [queue, front] = await Promise.all([
    call("DescribeJobQueues", () => batch.describeJobQueue(queueName)),
    call("GetJobQueueSnapshot", () => batch.getJobQueueSnapshot(queueName)),
  ]);
  const names = (queue?.computeEnvironmentOrder ?? []).flatMap((c) => c.computeEnvironment ?? []);
  const arn = front?.jobs?.[0]?.jobArn;
  const [environments, described] = await Promise.all([
    names.length > 0
      ? call("DescribeComputeEnvironments", () => batch.describeComputeEnvironments(names))
      : [],
    // The ARN ends in the job ID (`…:job/<id>`, an array child's `<id>:<index>`).
    arn !== undefined
      ? call("DescribeJobs", () => batch.describeJobs([arn.replace(/^.*:job\//, "")]))
      : undefined,
  ]);
  const { jobName, statusReason } = described?.[0] ?? {};
  const head =
    arn !== undefined
      ? { jobArn: arn, ...definedOnly({ jobName, statusReason, reason: waitReason(statusReason) }) }
      : undefined;
  return { queue, environments: environments ?? [], front, head };
}

export function explainJob(
  row: JobRow,
  detail: JobDetail | undefined,
  seen: {
    readonly front?: FrontOfQueueDetail;
    readonly head?: Awaited<ReturnType<typeof readQueue>>["head"];
    readonly limits?: JobLimits;
    readonly timeLimits: readonly TimeLimit[];
  },
) {
  const { front, head, limits, timeLimits } = seen;
  const at = front !== undefined ? placeOf(detail?.jobArn, front) : undefined;
  const atHead = at?.place === 1;
  const behind = head !== undefined && !atHead && head.reason !== undefined ? head : undefined;
  const headSince = front?.jobs?.[0]?.earliestTimeAtPosition;
  const resources = resourcesOf(detail?.container?.resourceRequirements);
  return {
    ...row,
    ...definedOnly({
      // A child at the head carries the reason; its array parent does not.
      reason: waitReason(row.statusReason) ?? (atHead ? head?.reason : undefined),
      place: at?.place,
      since: at?.since,
      behind,
      tooLarge: limits && jobTooLarge(resources, limits).map((p) => p.message),
      headCancelledAt: cancelledAt((atHead ? head : behind)?.statusReason, headSince, timeLimits),
    }),
  };
}

export async function why(opts: WhyOptions, ctx: Context) {
  return withStack(opts, ctx, async ({ outputs, ledger, clients }) => {
    const entries = selectEntries(ledger, [opts.name], false, outputs.stack);
    const ids = entries.map((e) => e.jobId);
    const details = await describeById(clients, ids);
    const { jobQueueArn, jobQueueName, jobLimits } = outputs.outputs;
    const queueName = details.get(entries[0].jobId)?.jobQueue ?? jobQueueArn ?? jobQueueName;
    const unavailable: Unavailable[] = [];
    const read =
      queueName !== undefined ? await readQueue(clients, queueName, unavailable) : undefined;
    const queue = read?.queue && queueState(read.queue);
    const seen = {
      ...definedOnly({ front: read?.front, head: read?.head, limits: jobLimits }),
      timeLimits: queue?.timeLimits ?? [],
    };
    return {
      stack: outputs.stack,
      name: opts.name,
      jobs: summarize(entries, details).jobs.map((row) =>
        explainJob(row, details.get(row.jobId), seen),
      ),
      environments: (read?.environments ?? []).map(environmentState),
      unavailable,
      ...definedOnly({ queue, runnableListed: read?.front?.jobs?.length }),
    };
  });
}
