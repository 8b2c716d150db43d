/** `jobs:logs`: the job's CloudWatch log stream, found through DescribeJobs' logStreamName. */
import type { AwsClients, JobDetail, LogEvent, LogsApi } from "../aws/api";
import { describeById, sleep, withStack, type Context, type StackOptions } from "../context";
import { BadInputError, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, FatalError } from "../errors";
import { entriesFor, type Ledger, type LedgerEntry } from "../state/ledger";
import { attemptJobId, attemptsOf, isRetryEntry, readCovers } from "../state/attempts";
import { CHUNK_SIZE, chunkJobName } from "../input/derived-names";
import { formatNumber } from "../output/numbers";
import { TERMINAL, rowName, type Status } from "../status";
import { definedOnly } from "../../components/defined";
import type { StackOutputs } from "../input/outputs";

export interface LogsOptions extends StackOptions {
  readonly target: string;
  readonly follow?: boolean;
  readonly interval: number;
  /** 1: the first; default: the latest. */
  readonly run?: number;
}

/** @see https://docs.aws.amazon.com/batch/latest/userguide/using_awslogs.html */
const DEFAULT_LOG_GROUP = "/aws/batch/job";

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `name:3`, `name[3]`, `id:3`. */
export function parseTarget(target: string): { base: string; index?: number } {
  const m = /^(.+?)(?::(\d+)|\[(\d+)\])$/.exec(target);
  return m !== null ? { base: m[1], index: Number(m[2] ?? m[3]) } : { base: target };
}

export function resolveTarget(target: string, ledger: Ledger, stack: string): string {
  const { base, index } = parseTarget(target);
  const latest = ledger.latest();
  const entry = latest.get(base);
  const chunks = entry === undefined ? chunksOf(latest, base) : [];
  if (chunks.length > 0) {
    return chunkedSet(target, chunks, index);
  }
  const id = entry?.jobId ?? (JOB_ID.test(base) ? base : undefined);
  if (id === undefined) {
    throw new BadInputError(
      `"${base}" is neither a job name in the ledger of stack "${stack}" nor a job ID; ` +
        "check the name (npm run jobs:status lists them), or pass --stack or the job ID",
    );
  }
  return index !== undefined ? `${id}:${index}` : id;
}

function chunksOf(latest: ReadonlyMap<string, LedgerEntry>, base: string): LedgerEntry[] {
  const chunks: LedgerEntry[] = [];
  for (let e = latest.get(chunkJobName(base, 0)); e?.of === base;) {
    chunks.push(e);
    e = latest.get(chunkJobName(base, chunks.length));
  }
  return chunks;
}

function chunkedSet(target: string, chunks: readonly LedgerEntry[], index?: number): string {
  const last = chunks[chunks.length - 1];
  const sets =
    (chunks.length - 1) * CHUNK_SIZE + (last.kind === "array" ? (last.arraySize ?? 0) : 1);
  const base = last.of as string;
  const range =
    `${base} is a sweep of ${formatNumber(sets)} sets in ${chunks.length} jobs ` +
    `(${chunks[0].jobName} to ${last.jobName}), numbered 0-${formatNumber(sets - 1)}`;
  if (index === undefined) {
    throw new BadInputError(`${range}, each with its own log; pass ${base}:<set>`);
  }
  if (index >= sets) {
    throw new BadInputError(`${target}: ${range}; there is no set ${formatNumber(index)}`);
  }
  const chunk = chunks[Math.floor(index / CHUNK_SIZE)];
  return chunk.kind === "array" ? `${chunk.jobId}:${index % CHUNK_SIZE}` : chunk.jobId;
}

const logStreamOf = (d: JobDetail): string | undefined =>
  d.container?.logStreamName ?? d.attempts?.at(-1)?.container?.logStreamName;

function noOutputNote(target: string, group: string, stream: string): string {
  return (
    `no output from ${target} (yet): log stream ${stream} does not exist in ${group}; CloudWatch ` +
    "creates it on the job's first line of output, so a job that prints nothing never gets one"
  );
}

/** GetLogEvents repeats its forward token at the end of the stream. */
async function readToEnd(
  logs: LogsApi,
  group: string,
  stream: string,
  token: string | undefined,
  write: (e: LogEvent) => unknown,
): Promise<{ token: string | undefined; missing: boolean }> {
  for (;;) {
    const page = await logs.getLogEvents(
      definedOnly({ logGroupName: group, logStreamName: stream, nextToken: token }),
    );
    if (page.missing === true) {
      return { token, missing: true };
    }
    page.events.forEach(write);
    const next = page.nextForwardToken ?? token;
    if (next === token) {
      return { token, missing: false };
    }
    token = next;
  }
}

async function unknownJob(
  clients: AwsClients,
  target: string,
  jobId: string,
  region: string | undefined,
): Promise<Error> {
  const { base, index } = parseTarget(target);
  const parentId = jobId.replace(/:\d+$/, "");
  if (index !== undefined && parentId !== jobId) {
    const [parent] = await clients.batch.describeJobs([parentId]);
    const size = parent?.arrayProperties?.size;
    if (parent !== undefined && size === undefined) {
      return new BadInputError(
        `${base} (${parentId}) is not an array job, so it has no child ${index}; pass ${base}`,
      );
    }
    if (size !== undefined && index >= size) {
      return new BadInputError(
        `${target}: ${base} is an array job of ${formatNumber(size)} children, numbered ` +
          `0-${formatNumber(size - 1)}; there is no child ${formatNumber(index)}`,
      );
    }
  }
  return new FatalError(
    `Batch does not know job ${jobId} in region ${region ?? "from the AWS SDK's settings"}: check ` +
      "--stack/--outputs and the AWS account and region; Batch also forgets jobs some days after they end",
  );
}

/** The job ID, told on stderr; undefined when never retried and no --run asks. */
async function retriedRun(
  opts: LogsOptions,
  ctx: Context,
  ledger: Ledger,
  clients: AwsClients,
  bucket: string | undefined,
) {
  const { base, index } = parseTarget(opts.target);
  const runs = entriesFor(ledger.latest(), base);
  if (!runs.some(isRetryEntry) && (opts.run ?? 1) === 1) {
    return undefined;
  }
  const ids = runs.map((e) => e.jobId);
  const details = await describeById(clients, ids);
  const covers = await readCovers(runs, details, clients, bucket, new Map());
  const attempts = attemptsOf(runs, covers, base, index ?? "");
  const what = rowName(base, index);
  if (attempts.length === 0) {
    if (opts.run !== undefined && opts.run > 1) {
      throw new BadInputError(`${what} has no run ${opts.run} in the ledger; leave out --run`);
    }
    return undefined;
  }
  const n = opts.run ?? attempts.length;
  if (n > attempts.length) {
    throw new BadInputError(
      `${what} ran ${attempts.length} time(s); --run takes 1-${attempts.length}`,
    );
  }
  const pick = attempts[n - 1];
  const jobId = attemptJobId(pick);
  const where =
    pick.child !== undefined ? `${pick.entry.jobName}:${pick.child}` : pick.entry.jobName;
  const other = n === attempts.length ? "--run 1 for the first" : "leave out --run for the latest";
  ctx.io.stderr.write(
    attempts.length > 1
      ? `${what}: run ${n} of ${attempts.length}, ${where} (${jobId}); ${other}\n`
      : `${what}: its only run, ${where} (${jobId})\n`,
  );
  return jobId;
}

const ended = (detail: JobDetail): boolean => TERMINAL.has(detail.status as Status);

async function logTarget(
  opts: LogsOptions,
  clients: AwsClients,
  jobId: string,
  region: string | undefined,
): Promise<JobDetail> {
  const [detail] = await clients.batch.describeJobs([jobId]);
  if (detail === undefined) {
    throw await unknownJob(clients, opts.target, jobId, region);
  }
  const size = detail.arrayProperties?.size;
  if (size !== undefined && detail.arrayProperties?.index === undefined) {
    throw new BadInputError(
      `${opts.target} is an array job of ${formatNumber(size)} children, each with its own ` +
        `log; pass ${parseTarget(opts.target).base}:<index> (0-${formatNumber(size - 1)})`,
    );
  }
  return detail;
}

function eventWriter(opts: LogsOptions, ctx: Context): (e: LogEvent) => unknown {
  return (e) =>
    ctx.io.stdout.write(
      opts.json
        ? `${JSON.stringify({ timestamp: e.timestamp, message: e.message })}\n`
        : `${(e.message ?? "").replace(/\n$/, "")}\n`,
    );
}

/** With --follow, until the job ends (or Batch forgets it), each new attempt's stream in turn. */
async function readLog(
  opts: LogsOptions,
  ctx: Context,
  clients: AwsClients,
  jobId: string,
  outputs: StackOutputs,
) {
  let detail = await logTarget(opts, clients, jobId, outputs.region);
  const group =
    detail.container?.logConfiguration?.options?.["awslogs-group"] ??
    outputs.logGroupName ??
    DEFAULT_LOG_GROUP;
  const write = eventWriter(opts, ctx);
  let stream: string | undefined;
  let token: string | undefined;
  let exists = false;
  let noted: string | undefined;
  for (;;) {
    const now = logStreamOf(detail);
    if (stream !== undefined && now !== undefined && now !== stream) {
      // A new attempt has its own stream: finish the old one (lines arrive late), mark the switch.
      await readToEnd(clients.logs, group, stream, token, write);
      const out = opts.json ? ctx.io.stderr : ctx.io.stdout;
      out.write(`--- ${opts.target}: new attempt, log stream ${now} ---\n`);
      [token, exists] = [undefined, false];
    }
    stream = now ?? stream;
    if (stream !== undefined) {
      const read = await readToEnd(clients.logs, group, stream, token, write);
      token = read.token;
      exists ||= !read.missing;
    }
    if (!opts.follow || ended(detail) || (ctx.signal.aborted && stream === undefined)) {
      return { detail, group, stream, exists };
    }
    if (ctx.signal.aborted) {
      return "interrupted" as const;
    }
    const waitsFor = stream === undefined ? "start" : exists ? undefined : stream;
    if (waitsFor !== undefined && waitsFor !== noted) {
      ctx.io.stderr.write(
        stream === undefined
          ? `waiting for ${opts.target} to start (status ${detail.status})...\n`
          : `${noOutputNote(opts.target, group, stream)}; waiting for it...\n`,
      );
    }
    noted = waitsFor ?? noted;
    await sleep(opts.interval * 1000, ctx.signal);
    const [next] = await clients.batch.describeJobs([jobId]);
    if (next === undefined && stream === undefined) {
      throw await unknownJob(clients, opts.target, jobId, outputs.region);
    }
    if (next === undefined) {
      return { detail, group, stream, exists };
    }
    detail = next;
  }
}

export async function logsCommand(opts: LogsOptions, ctx: Context): Promise<number> {
  const read = await withStack(opts, ctx, async ({ outputs, ledger, clients }) => {
    const retried = await retriedRun(opts, ctx, ledger, clients, outputs.outputs.bucketName);
    const jobId = retried ?? resolveTarget(opts.target, ledger, outputs.stack);
    return readLog(opts, ctx, clients, jobId, outputs.outputs);
  });
  if (read === "interrupted") {
    return EXIT_INTERRUPTED;
  }
  const { detail, group, stream, exists } = read;
  if (stream === undefined) {
    const why = ended(detail)
      ? `it ended without starting: ${detail.statusReason ?? "no reason given"}`
      : "use --follow to wait for it";
    ctx.io.stderr.write(`${opts.target} has no log stream yet (status ${detail.status}); ${why}\n`);
    return EXIT_FAILURE;
  }
  if (!exists) {
    const wait = !opts.follow && !ended(detail) ? "; use --follow to wait for it" : "";
    ctx.io.stderr.write(`${noOutputNote(opts.target, group, stream)}${wait}\n`);
  }
  return EXIT_OK;
}
