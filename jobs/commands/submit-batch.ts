/**
 * Checked submissions sent to AWS Batch exactly once per job name (the protocol is
 * jobs/aws/exactly-once.ts): lock, ledger, recovery, manifests, sends, and the jobs that wait
 * for others by name (jobs/input/depends.ts) level by level, parents first, each level's
 * names resolved from the ledger once the level before is in it. Returns what happened.
 */
import * as fs from "fs";
import * as path from "path";
import {
  createProgress,
  displayPath,
  sleep,
  readStackLedger,
  stackLedgerPath,
  type Context,
  type Progress,
  type StackOptions,
} from "../context";
import { BadInputError, FatalError, describeError, formatProblem, type Problem } from "../errors";
import { SUBMIT_TIMEOUT_MS, type AwsClients, type BatchApi } from "../aws/api";
import {
  LISTING_WAIT_MS,
  UnrecordedError,
  newItems,
  complete,
  recoverOpenIntents,
  mergeResults,
  sendAll,
  type Recovery,
  type SendAllResult,
  type SendContext,
  type SendItem,
} from "../aws/exactly-once";
import { DEFAULT_SUBMIT_CONCURRENCY, runAll } from "../aws/pool";
import { Claims, whoAmI } from "../aws/claims";
import {
  dependencyOrder,
  namedDependencies,
  parentsInLedger,
  resolveDependencies,
} from "../input/depends";
import { Ledger, type LedgerEntry } from "../state/ledger";
import { acquireLock, lockPath, type Lock } from "../state/lock";
import { requireOutput, type LoadedOutputs } from "../input/outputs";
import type { Submission } from "../input/plan";
import type { SkippedJob, SubmitResult } from "../output/submit-print";
import { VARS } from "../../components/contract";
import { definedOnly } from "../../components/defined";

export interface BatchOptions extends StackOptions {
  readonly dryRun?: boolean;
  readonly force?: boolean;
  readonly concurrency?: number;
}

/** Sends checked submissions (with --dry-run, returns what would go); jobs:retry's too. */
export async function submitToBatch(
  opts: BatchOptions,
  ctx: Context,
  outputs: LoadedOutputs,
  submissions: readonly Submission[],
  notes: readonly Problem[],
): Promise<SubmitResult> {
  if (!opts.json) {
    notes.forEach((n) => ctx.io.stderr.write(`note: ${formatProblem(n)}\n`));
  }
  if (opts.dryRun === true) {
    // No lock, no folder and no move: a dry run changes nothing, so its list is a preview.
    const ledger = readStackLedger(opts, ctx, outputs);
    ledger.warnings.forEach((w) => ctx.io.stderr.write(`warning: ${w}\n`));
    checkDependencies(submissions, ledger);
    const { todo, skipped } = skipKnown(submissions, submissions, ledger, opts, ctx);
    const { stack, outputs: values } = outputs;
    return { kind: "dry-run", stack, bucketName: values.bucketName, todo, skipped };
  }
  const { lock, ledger } = openLedgerForSubmit(stackLedgerPath(opts, ctx, outputs), ctx);
  const clients = ctx.clients(outputs.outputs.region);
  try {
    ledger.warnings.forEach((w) => ctx.io.stderr.write(`warning: ${w}\n`));
    const levels = checkDependencies(submissions, ledger);
    await refuseFailedParents(submissions, ledger, clients.batch, opts.force === true);
    return await submitWithLedger(opts, ctx, outputs, { ledger, clients, levels }, submissions);
  } finally {
    clients.destroy();
    ledger.close();
    lock.release();
  }
}

/**
 * `these` but those the ledger already has (all with --force); says on stderr which it
 * skips, of all the run's `submissions` (a run's progress, not its outcome).
 */
function skipKnown(
  these: readonly Submission[],
  submissions: readonly Submission[],
  ledger: Ledger,
  opts: BatchOptions,
  ctx: Context,
): { todo: Submission[]; skipped: SkippedJob[] } {
  const known = opts.force === true ? new Map<string, LedgerEntry>() : ledger.latest();
  const todo = these.filter((s) => !known.has(s.jobName));
  const skipped = these.flatMap((s): SkippedJob[] => {
    const prior = known.get(s.jobName);
    return prior !== undefined
      ? [{ jobName: s.jobName, jobId: prior.jobId, changed: prior.hash !== s.hash }]
      : [];
  });
  const err = ctx.io.stderr;
  if (!opts.json && skipped.length > 0) {
    err.write(
      `${skipped.length} of ${submissions.length} already submitted (ledger ${displayPath(ctx.cwd, ledger.file)}); ` +
        `skipping them, --force resubmits\n`,
    );
  }
  for (const c of opts.json ? [] : skipped.filter((s) => s.changed).slice(0, 10)) {
    err.write(
      `  note: ${c.jobName} changed since it was submitted as ${c.jobId}; pass --force or rename the job\n`,
    );
  }
  return { todo, skipped };
}

/** `step()`, whose failure to write `file` names the fixes; nothing was submitted yet. */
function writing<T>(what: string, file: string, step: () => T): T {
  try {
    return step();
  } catch (err) {
    throw err instanceof FatalError
      ? err
      : new FatalError(
          `cannot write ${what} ${file} (${describeError(err)}): make ${path.dirname(file)} writable, ` +
            `or pass --state-dir DIR (or set ${VARS.stateDir}); nothing was submitted`,
        );
  }
}

/**
 * The lock, then the ledger read (the skips must see every job a finished run recorded) and
 * opened for appending: a folder that cannot be written fails before anything is sent.
 */
function openLedgerForSubmit(file: string, ctx: Context): { lock: Lock; ledger: Ledger } {
  writing("the ledger", file, () => fs.mkdirSync(path.dirname(file), { recursive: true }));
  const warn = (w: string) => ctx.io.stderr.write(`warning: ${w}\n`);
  const lock = writing("the submit lock", lockPath(file), () => acquireLock(lockPath(file), warn));
  try {
    const ledger = Ledger.open(file);
    writing("the ledger", file, () => ledger.openForAppend());
    return { lock, ledger };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/**
 * The progress bar and one line per accepted job: data when stdout is piped; on a terminal
 * past a handful of jobs, the bar and the summary say it better (the IDs are in the ledger).
 */
function sendProgress(ctx: Context, json: boolean) {
  let perJobLines = !json && ctx.io.stdout.isTTY !== true;
  let bar: Progress | undefined;
  let accepted = 0;
  return {
    accept(entry: LedgerEntry, how: "submitted" | "recovered" | "adopted"): void {
      accepted++;
      bar?.update(accepted);
      if (perJobLines) {
        const what = entry.arraySize !== undefined ? ` (array of ${entry.arraySize})` : "";
        const why = how === "recovered" ? " (found in Batch by its submission token)" : "";
        const verb = how === "adopted" ? "sent elsewhere" : how;
        ctx.io.stdout.write(`${verb} ${entry.jobName} ${entry.jobId}${what}${why}\n`);
      }
    },
    /** The bar, once the `sends` are known, counting what recovery accepted before. */
    start(sends: number): Progress {
      perJobLines ||= !json && sends <= 5;
      bar = createProgress(ctx.io, { total: sends, json, label: "submitting" });
      bar.update(accepted);
      return bar;
    },
  };
}

/**
 * Claims listed (and the right to write them checked), then two streams at once: the names
 * an earlier run left open are looked up by token (and resent if Batch never made them),
 * while every other name that waits for none is sent at once. Then what recovery left, and
 * the jobs that wait for others by name, parents first.
 */
async function submitWithLedger(
  opts: BatchOptions,
  ctx: Context,
  outputs: LoadedOutputs,
  held: { ledger: Ledger; clients: AwsClients; levels: ReadonlyMap<string, number> },
  submissions: readonly Submission[],
): Promise<SubmitResult> {
  const { ledger, clients, levels } = held;
  const bucket = requireOutput(outputs, "bucketName", "to keep the stack's submission claims");
  const claims = await Claims.open(clients.storage, bucket, whoAmI(ctx.env));
  await uploadLedger(claims, ledger, outputs, opts, ctx);
  const progress = sendProgress(ctx, opts.json);
  const sendCtx: SendContext = {
    clients,
    ledger,
    claims,
    force: opts.force === true,
    run: new Date().toISOString(),
    waitMs: ctx.faults?.listingWaitMs ?? LISTING_WAIT_MS,
    timeoutMs: ctx.faults?.submitTimeoutMs ?? SUBMIT_TIMEOUT_MS,
    signal: ctx.signal,
    sleep: (ms: number) => sleep(ms, ctx.signal),
    ...definedOnly({ faults: ctx.faults }),
    onAccepted: (entry, how) => progress.accept(entry, how),
    note: opts.json ? () => undefined : (line) => ctx.io.stderr.write(`${line}\n`),
  };
  const open = new Set(ledger.openIntents().map((i) => i.jobName));
  const rest = submissions.filter((s) => !open.has(s.jobName));
  const { todo, skipped } = skipKnown(rest, submissions, ledger, opts, ctx);
  const items = await newItems(todo, sendCtx);
  await uploadManifests(clients, outputs, [
    ...items.map((i) => i.submission),
    ...submissions.filter((s) => open.has(s.jobName)),
  ]);
  const concurrency = opts.concurrency ?? DEFAULT_SUBMIT_CONCURRENCY;
  const waitsForNone = (i: SendItem): boolean => namedDependencies(i.submission).length === 0;
  const bar = progress.start(items.length + open.size);
  try {
    const [start, first] = await settleBoth(
      recoverOpenIntents(submissions, sendCtx),
      sendAll(items.filter(waitsForNone), sendCtx, concurrency),
    );
    if (start.undecided.length > 0 && first.accepted.length + first.adopted.length === 0) {
      return { kind: "stopped", undecided: start.undecided.length };
    }
    const later = await laterItems(start, open, submissions, ledger, opts, ctx, sendCtx);
    const rest = [...later.items, ...items.filter((i) => !waitsForNone(i))];
    const second = complete(first)
      ? await sendInOrder(rest, levels, sendCtx, concurrency, outputs.outputs.computeType)
      : { ...mergeResults(), notSent: rest };
    const all = [...skipped, ...later.skipped];
    const sent = mergeResults(first, second);
    return runResult(outputs.stack, ledger.file, sent, all, start, ctx.signal.aborted, submissions);
  } finally {
    bar.stop();
    await claims.flush();
  }
}

/** A ledger from before claims, uploaded as the stack's claims once, and said so. */
async function uploadLedger(
  claims: Claims,
  ledger: Ledger,
  outputs: LoadedOutputs,
  opts: BatchOptions,
  ctx: Context,
): Promise<void> {
  const queue = outputs.outputs.jobQueueArn ?? outputs.outputs.jobQueueName ?? "";
  const { uploaded, conflicts } = await claims.uploadLedger(ledger, queue);
  if (opts.json) {
    return;
  }
  if (uploaded > 0) {
    ctx.io.stderr.write(
      `note: uploaded ${uploaded} job(s) this ledger recorded before claims as the stack's ` +
        `claims, so that other machines know them (once)\n`,
    );
  }
  conflicts.forEach((c) => ctx.io.stderr.write(`note: ${c}\n`));
}

/** Both results; when either fails, its error once both have ended (no lane left running). */
async function settleBoth<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const failed = (await Promise.allSettled([a, b])).find((r) => r.status === "rejected");
  if (failed !== undefined) {
    throw failed.reason;
  }
  return Promise.all([a, b]);
}

/**
 * What recovery leaves to send: the intents Batch never saw (same token), and the names it
 * closed (their file changed), as new submissions unless the ledger has them.
 */
async function laterItems(
  start: Recovery,
  open: ReadonlySet<string>,
  submissions: readonly Submission[],
  ledger: Ledger,
  opts: BatchOptions,
  ctx: Context,
  sendCtx: SendContext,
): Promise<{ items: SendItem[]; skipped: SkippedJob[] }> {
  const settled = new Set([
    ...start.recovered.map((e) => e.jobName),
    ...start.resend.map((r) => r.submission.jobName),
  ]);
  const closed = submissions.filter((s) => open.has(s.jobName) && !settled.has(s.jobName));
  const { todo, skipped } = skipKnown(closed, submissions, ledger, opts, ctx);
  return { items: [...start.resend, ...(await newItems(todo, sendCtx))], skipped };
}

function runResult(
  stack: string,
  ledger: string,
  r: SendAllResult,
  skipped: readonly SkippedJob[],
  start: Recovery,
  aborted: boolean,
  submissions: readonly Submission[],
): SubmitResult {
  // Nothing sent, found, failed or left open by the sends.
  if (Object.values(r).every((v) => v === undefined || (Array.isArray(v) && v.length === 0))) {
    const recovered = start.recovered.map((e) => ({ jobName: e.jobName, jobId: e.jobId }));
    const { duplicates } = start;
    return { kind: "nothing", stack, total: submissions.length, recovered, skipped, duplicates };
  }
  const failed = r.failures.flatMap(({ item: { submission: s }, reason }) =>
    reason instanceof UnrecordedError
      ? []
      : [{ jobName: s.jobName, file: s.file, error: describeError(reason) }],
  );
  const unrecorded = r.failures.flatMap(({ reason }) => {
    if (!(reason instanceof UnrecordedError)) {
      return [];
    }
    const { jobName, jobId, file } = reason.entry;
    return [{ jobName, jobId, file, error: describeError(reason.failure) }];
  });
  return {
    kind: "sent",
    stack,
    ledger,
    submitted: r.accepted,
    recovered: [...start.recovered, ...r.recovered],
    adopted: r.adopted,
    skipped,
    failed,
    unrecorded,
    open: r.open.map((i) => ({ jobName: i.jobName, token: i.token, file: i.file })),
    duplicates: [...start.duplicates, ...r.duplicates],
    notSubmitted: r.notSent.length + failed.length,
    ...definedOnly({ lookupError: r.lookupError }),
    failureReasons: r.failures.map((f) => f.reason),
    aborted,
  };
}

/** Manifests first: a child that starts before its manifest exists would fail. */
async function uploadManifests(
  clients: AwsClients,
  outputs: LoadedOutputs,
  submissions: readonly Submission[],
): Promise<void> {
  const arrays = submissions.flatMap((s) => (s.kind === "array" ? [s] : []));
  if (arrays.length === 0) {
    return;
  }
  const bucket = requireOutput(outputs, "bucketName", "to upload array sweep manifests");
  const upload = ({ manifest: m }: (typeof arrays)[number]) =>
    clients.storage.putObject(bucket, m.key, m.body, "application/json").catch((err: unknown) => {
      throw new FatalError(
        `uploading s3://${bucket}/${m.key} failed (${describeError(err)}); nothing was submitted`,
      );
    });
  await runAll(arrays, upload, 4);
}

/** The level (0 first) of each submission by job name; throws BadInputError listing every problem. */
function checkDependencies(
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
async function refuseFailedParents(
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
    if (job === undefined) {
      return [];
    }
    const message =
      `"${name}" failed (${job.jobName} ${job.jobId}) and was not retried since, so ` +
      `Batch would fail this job at once; run npm run jobs:retry -- ${name} first`;
    return [{ file: submission.file, path: `dependsOn[${at}]`, message }];
  });
  if (problems.length > 0) {
    throw new BadInputError(problems);
  }
}

/**
 * Sends `items` level by level (`levels` by job name); a level's barriers go in a round of
 * their own before its steps. Stops at the first round that leaves anything unsent.
 */
async function sendInOrder(
  items: readonly SendItem[],
  levels: ReadonlyMap<string, number>,
  ctx: SendContext,
  concurrency: number,
  computeType: string | undefined,
): Promise<SendAllResult> {
  const byLevel: SendItem[][] = [];
  for (const item of items) {
    (byLevel[levels.get(item.submission.jobName) ?? 0] ??= []).push(item);
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
