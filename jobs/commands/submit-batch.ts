/**
 * Checked submissions sent to AWS Batch exactly once per job name (the protocol is
 * jobs/aws/exactly-once.ts): lock, ledger, recovery, manifests, sends. Returns what happened.
 */
import * as fs from "fs";
import * as path from "path";
import {
  createProgress,
  displayPath,
  sleep,
  stateDir,
  type Context,
  type Progress,
  type StackOptions,
} from "../context";
import { FatalError, describeError, formatProblem, type Problem } from "../errors";
import { SUBMIT_TIMEOUT_MS, type AwsClients } from "../aws/api";
import {
  LISTING_WAIT_MS,
  UnrecordedError,
  newToken,
  recoverOpenIntents,
  type Recovery,
  type SendAllResult,
  type SendContext,
  type SendItem,
} from "../aws/exactly-once";
import { DEFAULT_SUBMIT_CONCURRENCY, runAll } from "../aws/pool";
import { barrierSpec } from "../input/depends";
import { checkDependencies, refuseFailedParents, sendInOrder } from "./submit-order";
import { Ledger, checkedLedgerPath, type LedgerEntry } from "../state/ledger";
import { acquireLock, lockPath, type Lock } from "../state/lock";
import { requireOutput, type LoadedOutputs } from "../input/outputs";
import type { Submission } from "../input/plan";
import type { SentResult, SkippedJob, SubmitResult } from "../output/submit-print";
import { VARS } from "../../components/contract";
import { definedOnly } from "../../components/defined";

/** The options a Batch submission reads. */
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
  const file = checkedLedgerPath(stateDir(ctx, opts.stateDir), outputs.stack);
  if (!opts.json) {
    notes.forEach((n) => ctx.io.stderr.write(`note: ${formatProblem(n)}\n`));
  }
  if (opts.dryRun === true) {
    // No lock and no folder: a dry run changes nothing, so its list is a preview.
    const ledger = Ledger.open(file);
    warnAbout(ledger, ctx);
    checkDependencies(submissions, ledger);
    const { todo, skipped } = skipKnown(submissions, submissions, ledger, opts, ctx);
    const { stack, outputs: values } = outputs;
    return { kind: "dry-run", stack, bucketName: values.bucketName, todo, skipped };
  }
  const { lock, ledger } = openLedgerForSubmit(file, ctx);
  const clients = ctx.clients(outputs.outputs.region);
  try {
    warnAbout(ledger, ctx);
    const levels = checkDependencies(submissions, ledger);
    await refuseFailedParents(submissions, ledger, clients.batch, opts.force === true);
    return await submitWithLedger(opts, ctx, outputs, { ledger, clients, levels }, submissions);
  } finally {
    clients.destroy();
    ledger.close();
    lock.release();
  }
}

function warnAbout(ledger: Ledger, ctx: Context): void {
  ledger.warnings.forEach((w) => ctx.io.stderr.write(`warning: ${w}\n`));
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

/** Why the ledger (or its lock) cannot be written, and the fixes; nothing was submitted yet. */
function unwritable(what: string, file: string, err: unknown): FatalError {
  return new FatalError(
    `cannot write ${what} ${file} (${describeError(err)}): make ${path.dirname(file)} writable, ` +
      `or pass --state-dir DIR (or set ${VARS.stateDir}); nothing was submitted`,
  );
}

/**
 * The lock, then the ledger read (the skips must see every job a finished run recorded) and
 * opened for appending: a folder that cannot be written fails before anything is sent.
 */
function openLedgerForSubmit(file: string, ctx: Context): { lock: Lock; ledger: Ledger } {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
  } catch (err) {
    throw unwritable("the ledger", file, err);
  }
  let lock: Lock;
  try {
    lock = acquireLock(lockPath(file), (w) => ctx.io.stderr.write(`warning: ${w}\n`));
  } catch (err) {
    throw err instanceof FatalError ? err : unwritable("the submit lock", lockPath(file), err);
  }
  try {
    const ledger = Ledger.open(file);
    try {
      ledger.openForAppend();
    } catch (err) {
      throw unwritable("the ledger", file, err);
    }
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
    accept(entry: LedgerEntry, how: "submitted" | "recovered"): void {
      accepted++;
      bar?.update(accepted);
      if (perJobLines) {
        const what = entry.arraySize !== undefined ? ` (array of ${entry.arraySize})` : "";
        const why = how === "recovered" ? " (found in Batch by its submission token)" : "";
        ctx.io.stdout.write(`${how} ${entry.jobName} ${entry.jobId}${what}${why}\n`);
      }
    },
    /** The bar, once the `sends` are known, counting what recovery accepted before. */
    start(sends: number, total: number): Progress {
      perJobLines ||= !json && sends <= 5;
      bar = createProgress(ctx.io, { total, json, label: "submitting" });
      bar.update(accepted);
      return bar;
    },
  };
}

/** Reconcile, skip, upload, send: the run once the lock and ledger are held. */
async function submitWithLedger(
  opts: BatchOptions,
  ctx: Context,
  outputs: LoadedOutputs,
  held: { ledger: Ledger; clients: AwsClients; levels: ReadonlyMap<string, number> },
  submissions: readonly Submission[],
): Promise<SubmitResult> {
  const { ledger, clients, levels } = held;
  const progress = sendProgress(ctx, opts.json);
  const sendCtx: SendContext = {
    clients,
    ledger,
    run: new Date().toISOString(),
    timing: {
      waitMs: ctx.faults?.listingWaitMs ?? LISTING_WAIT_MS,
      timeoutMs: ctx.faults?.submitTimeoutMs ?? SUBMIT_TIMEOUT_MS,
      now: () => Date.now(),
      sleep: (ms: number) => sleep(ms, ctx.signal),
      signal: ctx.signal,
    },
    ...definedOnly({ faults: ctx.faults }),
    onAccepted: (entry, how) => progress.accept(entry, how),
    ...definedOnly({
      note: opts.json ? undefined : (line: string) => ctx.io.stderr.write(`${line}\n`),
    }),
  };
  const start = await recoverOpenIntents(submissions, sendCtx);
  if (start.undecided > 0) {
    return { kind: "stopped", undecided: start.undecided };
  }
  // What recovery settled or resends is not looked up in the ledger again.
  const resolved = new Set([
    ...start.recovered.map((e) => e.jobName),
    ...start.resend.map((r) => r.submission.jobName),
  ]);
  const rest = submissions.filter((s) => !resolved.has(s.jobName));
  const { todo, skipped } = skipKnown(rest, submissions, ledger, opts, ctx);
  const items = [...start.resend, ...todo.map((s) => ({ submission: s, token: newToken() }))];
  if (items.length === 0) {
    const recovered = start.recovered.map((e) => ({ jobName: e.jobName, jobId: e.jobId }));
    const { stack } = outputs;
    const { duplicates } = start;
    return { kind: "nothing", stack, total: submissions.length, recovered, skipped, duplicates };
  }
  await uploadManifests(clients, outputs, items);
  const bar = progress.start(items.length, items.length + start.recovered.length);
  let result: SendAllResult;
  try {
    const concurrency = opts.concurrency ?? DEFAULT_SUBMIT_CONCURRENCY;
    const barrier = barrierSpec(outputs.outputs.computeType);
    result = await sendInOrder(items, levels, sendCtx, concurrency, barrier);
  } finally {
    bar.stop();
  }
  return sentResult(outputs.stack, ledger.file, result, skipped, start, ctx.signal.aborted);
}

/** The outcome of the sends, in the shape the printers take. */
function sentResult(
  stack: string,
  ledger: string,
  r: SendAllResult,
  skipped: readonly SkippedJob[],
  start: Recovery,
  aborted: boolean,
): SentResult {
  const failed: SentResult["failed"][number][] = [];
  const unrecorded: SentResult["unrecorded"][number][] = [];
  for (const { item, reason } of r.failures) {
    if (reason instanceof UnrecordedError) {
      const { jobName, jobId, file } = reason.entry;
      unrecorded.push({ jobName, jobId, file, error: describeError(reason.failure) });
    } else {
      const { jobName, file } = item.submission;
      failed.push({ jobName, file, error: describeError(reason) });
    }
  }
  return {
    kind: "sent",
    stack,
    ledger,
    submitted: r.accepted,
    recovered: [...start.recovered, ...r.recovered],
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
  items: readonly SendItem[],
): Promise<void> {
  const arrays = items.flatMap(({ submission: s }) => (s.kind === "array" ? [s] : []));
  if (arrays.length === 0) {
    return;
  }
  const bucket = requireOutput(outputs, "bucketName", "to upload array sweep manifests");
  const upload = async (s: (typeof arrays)[number]): Promise<void> => {
    try {
      await clients.storage.putObject(bucket, s.manifest.key, s.manifest.body, "application/json");
    } catch (err) {
      throw new FatalError(
        `uploading s3://${bucket}/${s.manifest.key} failed (${describeError(err)}); nothing was submitted`,
      );
    }
  };
  await runAll(arrays, upload, 4);
}
