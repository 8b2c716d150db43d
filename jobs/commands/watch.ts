/** `jobs:watch` (until every job is terminal) and `jobs:status` (one look) of the ledger's jobs. */
import type { AwsClients, JobDetail, Unavailable } from "../aws/api";
import {
  createProgress,
  describeById,
  selectEntries,
  sleep,
  withStack,
  type Context,
  type OpenStack,
  type StackOptions,
} from "../context";
import { exitCode } from "../errors";
import type { LedgerEntry } from "../state/ledger";
import { definedOnly } from "../../components/defined";
import { attemptJobId, readCovers, supersededAttempts, type Cover } from "../state/attempts";
import {
  TERMINAL,
  arrayFailures,
  asStatus,
  leaveOut,
  longWaits,
  pipelineOf,
  singleFailures,
  summarize,
  type LongWait,
  type Snapshot,
} from "../status";
import { countsLine, formatCounts, longWaitsText } from "../output/status-print";

export interface WatchOptions extends StackOptions {
  readonly names: readonly string[];
  readonly last?: boolean;
  readonly interval: number;
  readonly once: boolean;
}

export type WatchResult = Awaited<ReturnType<typeof watch>>;

export async function watch(opts: WatchOptions, ctx: Context) {
  return withStack(opts, ctx, async (stack) => {
    const { outputs, ledger, clients } = stack;
    const entries = selectEntries(ledger, opts.names, opts.last === true, outputs.stack);
    const seen = { stack: outputs.stack, region: outputs.outputs.region };
    if (entries.length === 0) {
      return { ...seen, snapshot: undefined, failures: [], waiting: [], unavailable: [] };
    }
    const polled = await pollJobs(entries, stack, opts, ctx);
    const failures = await currentFailures(polled, clients);
    const unavailable: Unavailable[] = [];
    const snapshot = opts.json
      ? await withAttempts(polled, clients, ledger.file, unavailable)
      : polled.snapshot;
    return { ...seen, snapshot, failures, waiting: polled.waiting, unavailable };
  });
}

async function withAttempts(
  polled: Polled,
  clients: AwsClients,
  ledgerFile: string,
  unavailable: Unavailable[],
): Promise<Snapshot> {
  // Loaded only for --json: the human view shows no attempts.
  const { attemptTimes, batchAttempts } = await import("../report/time-split");
  const { taskStoreFile, withTaskTimes } = await import("../state/ecs-tasks");
  const single = polled.snapshot.jobs.flatMap((row) => {
    const d = polled.details.get(row.jobId);
    return row.arraySize === undefined && d !== undefined
      ? [{ row, createdAt: d.createdAt, attempts: batchAttempts(d) }]
      : [];
  });
  const read = await withTaskTimes(single, clients.ecs, taskStoreFile(ledgerFile), unavailable);
  const timed = new Map(read.map((s) => [s.row, attemptTimes(s.createdAt, s.attempts)]));
  return {
    ...polled.snapshot,
    jobs: polled.snapshot.jobs.map((j) => ({ ...j, ...definedOnly({ attempts: timed.get(j) }) })),
  };
}

export function watchExitCode(result: WatchResult, signal: AbortSignal): number {
  const { UNKNOWN, FAILED } = result.snapshot?.counts ?? { UNKNOWN: 0, FAILED: 0 };
  const interrupted = UNKNOWN === 0 && signal.aborted && result.snapshot?.allTerminal === false;
  return exitCode(interrupted, UNKNOWN > 0 || FAILED > 0);
}

type Polled = Awaited<ReturnType<typeof pollJobs>>;

async function pollJobs(
  entries: readonly LedgerEntry[],
  { outputs, ledger, clients }: OpenStack,
  opts: WatchOptions,
  ctx: Context,
) {
  const { bucketName } = outputs.outputs;
  const details = new Map<string, JobDetail>();
  const known = new Map<string, Cover>();
  const ids = entries.map((e) => e.jobId);
  const live = opts.once || opts.json ? undefined : liveProgress(ctx);
  try {
    for (;;) {
      await describeUnfinished(details, clients, ids);
      const snapshot = summarize(entries, details, pipelineOf(entries, details, ledger.entries));
      const latest = await latestRunsOnly(snapshot, entries, details, known, clients, bucketName);
      const waiting = longWaits(latest.snapshot.jobs, details, Date.now());
      const polled = { ...latest, details, waiting };
      live?.show(polled.snapshot, waiting);
      if (opts.once || polled.snapshot.settled || ctx.signal.aborted) {
        return polled;
      }
      await sleep(opts.interval * 1000, ctx.signal);
    }
  } finally {
    live?.stop();
  }
}

/** Each set once, by its latest run; `replaced` holds run IDs, `<id>:<child>` for children. */
async function latestRunsOnly(
  snapshot: Snapshot,
  entries: readonly LedgerEntry[],
  details: Map<string, JobDetail>,
  known: Map<string, Cover>,
  clients: AwsClients,
  bucket: string | undefined,
) {
  const covers = await readCovers(entries, details, clients, bucket, known);
  const { attempts, sets, jobs, setNumbers } = supersededAttempts(entries, covers);
  const ids = attempts.map(attemptJobId);
  await describeUnfinished(details, clients, ids);
  const left = ids.map((id) => ({ status: details.get(id)?.status }));
  return { snapshot: leaveOut(snapshot, left, { sets, jobs }), replaced: new Set(ids), setNumbers };
}

/** A bar on a terminal, else a line per change; a long or newly explained wait gets a line. */
function liveProgress(ctx: Context) {
  let progress: ReturnType<typeof createProgress> | undefined;
  let lastLine = "";
  // Per job, the reason last told ("" for a wait with none).
  const told = new Map<string, string>();
  return {
    show: (snapshot: Snapshot, waiting: readonly LongWait[]) => {
      const news = waiting.filter((w) => told.get(w.jobId) !== (w.reason?.code ?? ""));
      if (news.length > 0) {
        progress?.stop();
        progress = undefined;
        news.forEach((w) => told.set(w.jobId, w.reason?.code ?? ""));
        ctx.io.stderr.write(longWaitsText(news));
      }
      progress ??= createProgress(ctx.io, { total: snapshot.total, json: false, label: "jobs" });
      progress.update(snapshot.done, formatCounts(snapshot.counts));
      const line = countsLine(snapshot);
      if (ctx.io.stderr.isTTY !== true && line !== lastLine) {
        ctx.io.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
        lastLine = line;
      }
    },
    stop: () => progress?.stop(),
  };
}

/** Terminal jobs do not change: not described again. */
async function describeUnfinished(
  details: Map<string, JobDetail>,
  clients: AwsClients,
  ids: readonly string[],
): Promise<void> {
  const unfinished = ids.filter((id) => !TERMINAL.has(asStatus(details.get(id)?.status)));
  (await describeById(clients, unfinished)).forEach((d, id) => details.set(id, d));
}

/** Not those a retry replaced (history, which report shows). */
async function currentFailures(polled: Polled, clients: AwsClients) {
  const { snapshot, replaced, setNumbers } = polled;
  const failures = singleFailures(snapshot);
  for (const row of snapshot.jobs) {
    if (row.arraySize !== undefined && (row.children?.FAILED ?? 0) > 0) {
      const children = await clients.batch.listArrayChildren(row.jobId, "FAILED");
      failures.push(...arrayFailures(row, children));
    }
  }
  return failures
    .filter((f) => !replaced.has(f.jobId))
    .map((f) => {
      const set = f.index !== undefined ? setNumbers.get(f.jobName)?.[f.index] : undefined;
      return set !== undefined ? { ...f, set } : f;
    });
}
