/** Checked submissions sent to Batch under the stack's lock, exactly once per job name. */
import * as fs from "fs";
import * as path from "path";
import {
  createProgress,
  displayPath,
  openLedger,
  sleep,
  readStackLedger,
  stackLedgerPath,
  type Context,
  type Progress,
  type StackOptions,
} from "../context";
import { BadInputError, FatalError, describeError, formatProblem, type Problem } from "../errors";
import { SUBMIT_TIMEOUT_MS, type BatchApi } from "../aws/api";
import {
  LISTING_WAIT_MS,
  UnrecordedError,
  sendAll,
  skipKnown,
  type SendAllResult,
} from "../aws/exactly-once";
import { DEFAULT_SUBMIT_CONCURRENCY } from "../aws/pool";
import { Claims, whoAmI } from "../aws/claims";
import { dependencyOrder, parentsInLedger } from "../input/depends";
import type { Ledger, LedgerEntry } from "../state/ledger";
import { acquireLock, lockPath, type Lock } from "../state/lock";
import { requireOutput, type LoadedOutputs } from "../input/outputs";
import type { Submission } from "../input/plan";
import type { SubmitResult } from "../output/submit-print";
import { VARS } from "../../components/contract";
import { definedOnly } from "../../components/defined";

export interface BatchOptions extends StackOptions {
  readonly dryRun?: boolean;
  readonly force?: boolean;
  readonly concurrency?: number;
}

export async function submitToBatch(
  opts: BatchOptions,
  ctx: Context,
  outputs: LoadedOutputs,
  submissions: readonly Submission[],
  notes: readonly Problem[],
): Promise<SubmitResult> {
  // None with --json: its one line on stdout says it all.
  const note = opts.json ? () => undefined : (line: string) => ctx.io.stderr.write(`${line}\n`);
  notes.forEach((n) => note(`note: ${formatProblem(n)}`));
  if (opts.dryRun !== true) {
    return send(opts, ctx, outputs, submissions, note);
  }
  // No lock, no folder and no move: a dry run changes nothing, so its list is a preview.
  const ledger = readStackLedger(opts, ctx, outputs);
  checkDependencies(submissions, ledger);
  const { todo, skipped } = skipKnown(submissions, submissions.length, {
    ledger,
    force: opts.force === true,
    note,
    ledgerShown: displayPath(ctx.cwd, ledger.file),
  });
  const { stack, outputs: values } = outputs;
  return { kind: "dry-run", stack, bucketName: values.bucketName, todo, skipped };
}

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

/** The lock before the ledger is read: the skips must see every job a finished run recorded. */
function openLedgerForSubmit(file: string, ctx: Context): { lock: Lock; ledger: Ledger } {
  writing("the ledger", file, () => fs.mkdirSync(path.dirname(file), { recursive: true }));
  const warn = (w: string) => ctx.io.stderr.write(`warning: ${w}\n`);
  const lock = writing("the submit lock", lockPath(file), () => acquireLock(lockPath(file), warn));
  try {
    const ledger = openLedger(ctx, file);
    writing("the ledger", file, () => ledger.openForAppend());
    return { lock, ledger };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** A line per accepted job when piped; on a terminal past a handful, the bar says it better. */
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
    start(sends: number): void {
      perJobLines ||= !json && sends <= 5;
      bar = createProgress(ctx.io, { total: sends, json, label: "submitting" });
    },
    stop: () => bar?.stop(),
  };
}

/** Claims listed (and the right to write them checked), then the sends (exactly-once.ts). */
async function send(
  opts: BatchOptions,
  ctx: Context,
  outputs: LoadedOutputs,
  submissions: readonly Submission[],
  note: (line: string) => void,
): Promise<SubmitResult> {
  const { lock, ledger } = openLedgerForSubmit(stackLedgerPath(opts, ctx, outputs), ctx);
  const clients = ctx.clients(outputs.outputs.region);
  try {
    const levels = checkDependencies(submissions, ledger);
    await refuseFailedParents(submissions, ledger, clients.batch, opts.force === true);
    const bucket = requireOutput(outputs, "bucketName", "to keep the stack's submission claims");
    const claims = await Claims.open(clients.storage, bucket, whoAmI(ctx.env));
    const queue = outputs.outputs.jobQueueArn ?? outputs.outputs.jobQueueName ?? "";
    const { uploaded, conflicts } = await claims.uploadLedger(ledger, queue);
    if (uploaded > 0) {
      note(
        `note: uploaded ${uploaded} job(s) this ledger recorded before claims as the stack's ` +
          `claims, so that other machines know them (once)`,
      );
    }
    conflicts.forEach((c) => note(`note: ${c}`));
    const progress = sendProgress(ctx, opts.json);
    try {
      const r = await sendAll(submissions, {
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
        concurrency: opts.concurrency ?? DEFAULT_SUBMIT_CONCURRENCY,
        levels,
        computeType: outputs.outputs.computeType,
        ledgerShown: displayPath(ctx.cwd, ledger.file),
        progress,
        note,
      });
      return "undecided" in r
        ? { kind: "stopped", undecided: r.undecided }
        : runResult(outputs.stack, ledger.file, r, ctx.signal.aborted, submissions.length);
    } finally {
      progress.stop();
      await Promise.all(claims.later);
    }
  } finally {
    clients.destroy();
    ledger.close();
    lock.release();
  }
}

function runResult(
  stack: string,
  ledger: string,
  r: SendAllResult,
  aborted: boolean,
  total: number,
): SubmitResult {
  const { recovered, skipped, duplicates } = r;
  if (!r.tried && r.notSent.length === 0) {
    const found = recovered.map((e) => ({ jobName: e.jobName, jobId: e.jobId }));
    return { kind: "nothing", stack, total, recovered: found, skipped, duplicates };
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
    recovered,
    adopted: r.adopted,
    skipped,
    failed,
    unrecorded,
    open: r.open.map((i) => ({ jobName: i.jobName, token: i.token, file: i.file })),
    duplicates,
    notSubmitted: r.notSent.length + failed.length,
    ...definedOnly({ lookupError: r.lookupError }),
    failureReasons: r.failures.map((f) => f.reason),
    aborted,
  };
}

function checkDependencies(submissions: readonly Submission[], ledger: Ledger) {
  const { levels, problems } = dependencyOrder(submissions, {
    entries: ledger.entries,
    open: ledger.openIntents(),
  });
  if (problems.length > 0) {
    throw new BadInputError(problems);
  }
  return new Map(levels.flatMap((level, i) => level.map((s) => [s.jobName, i])));
}

/** A dependent of a failed job not retried since would fail at once. */
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
