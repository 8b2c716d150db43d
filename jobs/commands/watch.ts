/**
 * `jobs:watch` (until every job is terminal) and `jobs:status` (one look): the ledger's
 * jobs by status, with the reason and exit code of each failure.
 */
import type { AwsClients, JobDetail } from "../aws/api";
import { DESCRIBE_BATCH } from "../aws/api";
import { createProgress, openStack, sleep, type Context, type StackOptions } from "../context";
import {
  BadInputError,
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_OK,
  FatalError,
  describeError,
} from "../errors";
import { entriesFor, type Ledger, type LedgerEntry } from "../state/ledger";
import { runPool } from "../aws/pool";
import {
  attemptJobId,
  isRetryEntry,
  readCovers,
  supersededAttempts,
  type Known,
} from "../state/attempts";
import {
  TERMINAL,
  allUnknown,
  arrayFailures,
  formatCounts,
  formatFailure,
  leaveOut,
  singleFailures,
  summarize,
  unknownJobsWarning,
  type Failure,
  type Retried,
  type Snapshot,
  type Status,
} from "../output/status";

export interface WatchOptions extends StackOptions {
  /** Job names to show; default: every job in the ledger. */
  readonly names: readonly string[];
  /** Only the jobs of the most recent `jobs:submit`. */
  readonly last: boolean;
  /** Seconds between polls. */
  readonly interval: number;
  /** `jobs:status`: one look, no waiting. */
  readonly once: boolean;
}

export { DEFAULT_WATCH_INTERVAL } from "../defaults";
/** Failed array children listed per array job; --json has them all. */
const CHILD_FAILURES_SHOWN = 20;

/**
 * Latest ledger entry per name, filtered by names (all must exist) and --last. A sweep's
 * name also stands for the parts it became (chunks past 10,000 sets, retries).
 */
export function selectEntries(
  ledger: Ledger,
  names: readonly string[],
  last: boolean,
  stack: string,
): LedgerEntry[] {
  const latest = ledger.latest();
  let entries = [...latest.values()];
  if (names.length > 0) {
    const parts = new Map(names.map((n) => [n, entriesFor(latest, n)]));
    const missing = names.filter((n) => parts.get(n)?.length === 0);
    if (missing.length > 0) {
      throw new BadInputError(
        `not in the ledger of stack "${stack}" (${ledger.file}): ${missing.join(", ")}; ` +
          "check the names, or pass --stack",
      );
    }
    entries = [...new Set(names.flatMap((n) => parts.get(n) ?? []))];
  }
  if (last && entries.length > 0) {
    const run = entries.reduce((m, e) => (e.run > m ? e.run : m), "");
    entries = entries.filter((e) => e.run === run);
  }
  return entries;
}

/** DescribeJobs for many IDs: batches of 100, a few in parallel. */
export async function describeMany(
  clients: AwsClients,
  ids: readonly string[],
): Promise<JobDetail[]> {
  const chunks: string[][] = [];
  for (let i = 0; i < ids.length; i += DESCRIBE_BATCH) {
    chunks.push(ids.slice(i, i + DESCRIBE_BATCH));
  }
  const outcomes = await runPool(chunks, (c) => clients.batch.describeJobs(c), {
    concurrency: 5,
    stopOnError: true,
  });
  const details: JobDetail[] = [];
  for (const o of outcomes) {
    if (o.status === "rejected") {
      throw new FatalError(`DescribeJobs failed: ${describeError(o.reason)}`);
    }
    if (o.status === "fulfilled") {
      details.push(...o.value);
    }
  }
  return details;
}

export async function watchCommand(opts: WatchOptions, ctx: Context): Promise<number> {
  const { outputs, ledger } = openStack(opts, ctx);
  ledger.warnings.forEach((w) => ctx.io.stderr.write(`warning: ${w}\n`));
  const entries = selectEntries(ledger, opts.names, opts.last, outputs.stack);
  if (entries.length === 0) {
    if (opts.json) {
      ctx.io.stdout.write(
        `${JSON.stringify({ stack: outputs.stack, counts: {}, total: 0, jobs: [], failures: [] })}\n`,
      );
    } else {
      ctx.io.stdout.write(
        `no jobs in the ledger of stack "${outputs.stack}"; submit some with npm run jobs:submit\n`,
      );
    }
    return EXIT_OK;
  }

  const clients = ctx.clients(outputs.outputs.region);
  const details = new Map<string, JobDetail>();
  let progress: ReturnType<typeof createProgress> | undefined;
  let lastLine = "";
  let snapshot: Snapshot;
  const retried = entries.some(isRetryEntry);
  const known = new Map<string, Known>();
  /** Job IDs (`<id>:<child>` for children) of runs a retry replaced. */
  let replaced = new Set<string>();
  /** A retry's set number per child, by the retry's job name. */
  let setNumbers = new Map<string, readonly number[]>();
  try {
    for (;;) {
      // Terminal jobs do not change; only ask about the rest.
      const pending = entries
        .filter((e) => !TERMINAL.has((details.get(e.jobId)?.status ?? "SUBMITTED") as Status))
        .map((e) => e.jobId);
      const seen = await describeMany(clients, pending);
      for (const d of seen) {
        if (d.jobId !== undefined) {
          details.set(d.jobId, d);
        }
      }
      snapshot = summarize(entries, details);
      if (retried) {
        const latest = await latestOnly(
          entries,
          details,
          known,
          clients,
          outputs.outputs.bucketName,
        );
        snapshot = latest.snapshot(snapshot);
        replaced = latest.replaced;
        setNumbers = latest.setNumbers;
      }
      if (!opts.once && !opts.json) {
        progress ??= createProgress(ctx.io, {
          total: snapshot.total,
          json: opts.json,
          label: "jobs",
        });
        progress.update(snapshot.done, formatCounts(snapshot.counts));
        const line = `${formatCounts(snapshot.counts)} (${snapshot.done}/${snapshot.total} done)`;
        if (ctx.io.stderr.isTTY !== true && line !== lastLine) {
          ctx.io.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
          lastLine = line;
        }
      }
      if (opts.once || snapshot.settled || ctx.signal.aborted) {
        break;
      }
      await sleep(opts.interval * 1000, ctx.signal);
    }
    progress?.stop();

    const failures: Failure[] = singleFailures(snapshot);
    for (const row of snapshot.jobs) {
      if (row.arraySize !== undefined && (row.children?.FAILED ?? 0) > 0) {
        const children = await clients.batch.listArrayChildren(row.jobId, "FAILED");
        failures.push(...arrayFailures(row, children));
      }
    }
    // A failure a retry replaced is history, not a failure of the sweep (report shows it).
    const current = failures
      .filter((f) => !replaced.has(f.jobId))
      .map((f) => {
        const set = f.index !== undefined ? setNumbers.get(f.jobName)?.[f.index] : undefined;
        return set !== undefined ? { ...f, set } : f;
      });
    failures.splice(0, failures.length, ...current);
    report(opts, ctx, outputs.stack, snapshot, failures);
    if (snapshot.unknown > 0) {
      // Not "no job failed": a job Batch does not return may be running elsewhere. All of
      // them unknown is a wrong region or stack far more often than forgotten jobs.
      ctx.io.stderr.write(
        unknownJobsWarning(
          allUnknown(snapshot) ? snapshot.jobs.length : snapshot.unknown,
          allUnknown(snapshot),
          outputs.stack,
          outputs.outputs.region,
        ),
      );
      return EXIT_FAILURE;
    }
    if (ctx.signal.aborted && !snapshot.allTerminal) {
      return EXIT_INTERRUPTED;
    }
    return snapshot.failed > 0 ? EXIT_FAILURE : EXIT_OK;
  } finally {
    progress?.stop();
    clients.destroy();
  }
}

/**
 * Each set once, by its latest run: reads which sets the retries ran (their manifests) and
 * the status of each run they replaced (one DescribeJobs per 100, once: they had ended).
 */
async function latestOnly(
  entries: readonly LedgerEntry[],
  details: Map<string, JobDetail>,
  known: Map<string, Known>,
  clients: AwsClients,
  bucket: string | undefined,
): Promise<{
  snapshot: (s: Snapshot) => Snapshot;
  replaced: Set<string>;
  setNumbers: Map<string, readonly number[]>;
}> {
  const covers = await readCovers(entries, details, clients, bucket, known);
  const { attempts, sets, jobs } = supersededAttempts(entries, covers);
  const ids = attempts.map(attemptJobId);
  const unread = ids.filter(
    (id) => !TERMINAL.has((details.get(id)?.status ?? "SUBMITTED") as Status),
  );
  for (const d of await describeMany(clients, unread)) {
    if (d.jobId !== undefined) {
      details.set(d.jobId, d);
    }
  }
  return {
    snapshot: (s) =>
      leaveOut(
        s,
        ids.map((id) => ({ status: details.get(id)?.status })),
        { sets, jobs },
      ),
    replaced: new Set(ids),
    setNumbers: new Map(
      entries.flatMap((e) => {
        const cover = covers.get(e.jobId);
        return e.kind === "array" && isRetryEntry(e) && cover?.kind === "list"
          ? [[e.jobName, cover.indexes] as const]
          : [];
      }),
    ),
  };
}

function report(
  opts: WatchOptions,
  ctx: Context,
  stack: string,
  s: Snapshot,
  failures: readonly Failure[],
): void {
  const out = ctx.io.stdout;
  if (opts.json) {
    out.write(
      `${JSON.stringify({
        stack,
        counts: Object.fromEntries(Object.entries(s.counts).filter(([, n]) => n > 0)),
        total: s.total,
        done: s.done,
        allTerminal: s.allTerminal,
        ...(s.retried !== undefined ? { retried: s.retried } : {}),
        jobs: s.jobs,
        failures,
      })}\n`,
    );
    return;
  }
  if (opts.once && s.jobs.length <= 30) {
    for (const j of s.jobs) {
      const extra =
        j.children !== undefined ? `  [${formatCounts({ ...zeroCounts(), ...j.children })}]` : "";
      out.write(`${j.status.padEnd(9)} ${j.jobName} ${j.jobId}${extra}\n`);
    }
  }
  out.write(
    `${formatCounts(s.counts)} (${s.done.toLocaleString("en-US")}/${s.total.toLocaleString("en-US")} done)\n`,
  );
  if (s.retried !== undefined) {
    out.write(`${retriedLine(s.retried)}\n`);
  }
  if (s.counts.UNKNOWN > 0) {
    out.write(
      `${s.counts.UNKNOWN} job(s) not known to Batch, so not counted as done: it forgets jobs ` +
        "some days after they end, or the ledger belongs to another account or region\n",
    );
  }
  if (failures.length > 0) {
    out.write("failed:\n");
    const perJob = new Map<string, number>();
    let hidden = 0;
    for (const f of failures) {
      const n = (perJob.get(f.jobName) ?? 0) + 1;
      perJob.set(f.jobName, n);
      if (f.index !== undefined && n > CHILD_FAILURES_SHOWN) {
        hidden++;
        continue;
      }
      out.write(`  ${formatFailure(f)}\n`);
    }
    if (hidden > 0) {
      out.write(`  ... and ${hidden} more failed children (--json lists them all)\n`);
    }
    out.write("logs: npm run jobs:logs -- <jobName>  (array child: <jobName>:<index>)\n");
  }
}

/** `2 sets and 1 job retried: each counted once, by its latest run (3 earlier runs left out)` */
export function retriedLine(r: Retried): string {
  const n = (k: number, one: string, many: string): string =>
    `${k.toLocaleString("en-US")} ${k === 1 ? one : many}`;
  const what = [
    ...(r.sets > 0 ? [n(r.sets, "set", "sets")] : []),
    ...(r.jobs > 0 ? [n(r.jobs, "job", "jobs")] : []),
  ].join(" and ");
  return (
    `${what} retried: each counted once, by its latest run ` +
    `(${n(r.runs, "earlier run", "earlier runs")} left out)`
  );
}

function zeroCounts(): Record<Status, number> {
  return {
    SUBMITTED: 0,
    PENDING: 0,
    RUNNABLE: 0,
    STARTING: 0,
    RUNNING: 0,
    SUCCEEDED: 0,
    FAILED: 0,
    UNKNOWN: 0,
  };
}
