/**
 * `jobs:submit`: validate everything; take the stack's submit lock, read the ledger and open
 * it for appending; reconcile the submissions an earlier run left open; then upload sweep
 * manifests and submit with bounded concurrency, exactly once per job name
 * (jobs/aws/exactly-once.ts: intent line, SubmitJob with a token tag, job ID).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  createProgress,
  displayPath,
  localRoot,
  stackOutputs,
  stateDir,
  type Context,
} from "../context";
import {
  BadInputError,
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_OK,
  FatalError,
  describeError,
  formatProblem,
  isRetryable,
  type Problem,
} from "../errors";
import { type AwsClients } from "../aws/api";
import {
  UnrecordedError,
  reconcileAndAdopt,
  sendAll,
  type Duplicate,
  type Reconciled,
  type SendAllResult,
  type SendContext,
  type SendItem,
} from "../aws/exactly-once";
import { Ledger, checkedLedgerPath, type IntentLine, type LedgerEntry } from "../state/ledger";
import { DEFAULT_BOUNDS } from "../../policy/bounds";
import { boundsFromPolicyConfig } from "../../policy/check/policy-config";
import { boundsProblems } from "../input/bounds";
import type { LoadedJob } from "../input/job-file";
import { expandInputs, loadInputs, sortProblems, validateItems } from "../input/load";
import { localResultPaths, planLocal, runLocal, type LocalResult } from "./local";
import { acquireLock, lockPath, type Lock } from "../state/lock";
import { requireOutput, type LoadedOutputs } from "../input/outputs";
import { buildPlan, missingOutputsMessage, type Submission } from "../input/plan";
import { DEFAULT_SUBMIT_CONCURRENCY, runPool, type PoolOutcome } from "../aws/pool";
import { parseDescription, plainEnvProblem, type ScriptDescription } from "../input/script-options";
import { collectPairs, typedProblems } from "../input/value-types";
import { VARS } from "../../components/contract";
import { LISTING_WAIT_MS, TOKEN_TAG, newToken, tokenTagProblems } from "../aws/reconcile";
import { SUBMIT_TIMEOUT_MS } from "../aws/api";
import { sleep } from "../context";
import { shellWord } from "../output/shell";
import type { LoadedSweep } from "../input/sweep";

export interface SubmitOptions {
  readonly files: readonly string[];
  readonly stack?: string;
  readonly outputs?: string;
  readonly dryRun: boolean;
  readonly local: boolean;
  readonly force: boolean;
  /** false with --no-array. */
  readonly array: boolean;
  readonly json: boolean;
  readonly concurrency?: number;
  readonly stateDir?: string;
  readonly localRoot?: string;
  /** `--script PATH`, passed to `run_job.py --describe`. */
  readonly script?: string;
  /** `--script-options FILE`: saved `--describe` output instead of running python. */
  readonly scriptOptions?: string;
  /** `--describe` already under way (the CLI starts it before loading this module). */
  readonly described?: Promise<ScriptDescription>;
  /** `--plain-env`: names meant as plain environment, not as a misspelt option. */
  readonly plainEnv?: readonly string[];
  /** `--policy-pack-config FILE`: the policy pack's settings, for its bounds. */
  readonly policyPackConfig?: string;
  /** `--ignore-policy-bounds`: submit what exceeds them, saying so on stderr. */
  readonly ignorePolicyBounds?: boolean;
}

/** Values of typed options checked with the script's own argparse types (value-types.ts). */
async function typeProblems(
  items: Parameters<typeof validateItems>[0],
  desc: ScriptDescription,
  script: string | undefined,
  ctx: Context,
): Promise<Problem[]> {
  const collected = collectPairs(items, desc);
  if (collected.pairs.length === 0 || ctx.checkValues === undefined) {
    return [];
  }
  const { problems, notes } = typedProblems(
    collected,
    await ctx.checkValues(script, collected.pairs),
  );
  for (const note of notes) {
    ctx.io.stderr.write(note + "\n");
  }
  return problems;
}

/**
 * Parses, validates and plans; throws BadInputError with every problem found, or
 * FatalError when the stack outputs lack what the files rely on.
 */
export async function prepare(
  opts: SubmitOptions,
  ctx: Context,
): Promise<{
  submissions: Submission[];
  outputs?: LoadedOutputs;
  notes: Problem[];
  /** The loaded files, for --retry-failed's sets. */
  items: (LoadedJob | LoadedSweep)[];
}> {
  const problems: Problem[] = [];
  const { files, problems: argProblems } = expandInputs(opts.files, ctx.cwd);
  problems.push(...argProblems);
  const { items, invalid, problems: loadProblems } = loadInputs(files);
  problems.push(...loadProblems);

  let desc: ScriptDescription;
  if (opts.scriptOptions !== undefined) {
    const file = path.resolve(ctx.cwd, opts.scriptOptions);
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (err) {
      throw new BadInputError(`--script-options ${opts.scriptOptions}: ${(err as Error).message}`);
    }
    desc = parseDescription(text, opts.scriptOptions);
  } else {
    desc = await (opts.described ?? ctx.describe(opts.script));
  }
  for (const name of opts.plainEnv ?? []) {
    const bad = plainEnvProblem(name);
    if (bad !== undefined) {
      problems.push({ message: bad });
    }
  }
  if (opts.plainEnv !== undefined) {
    desc = { ...desc, plainEnv: new Set(opts.plainEnv) };
  }
  problems.push(...validateItems(items, desc, invalid));
  if (problems.length === 0 && ctx.checkValues !== undefined && opts.scriptOptions === undefined) {
    problems.push(...(await typeProblems(items, desc, opts.script, ctx)));
  }
  if (problems.length > 0) {
    throw new BadInputError(sortProblems(dedupe(problems)));
  }

  const outputs = opts.local ? undefined : stackOutputs(opts, ctx);
  const plan = buildPlan(items, {
    array: opts.array,
    ...(outputs !== undefined ? { outputs } : {}),
  });
  const planProblems = [
    ...plan.problems,
    ...(opts.local ? [] : tokenTagProblems(plan.submissions)),
  ];
  if (planProblems.length > 0) {
    throw new BadInputError(sortProblems(dedupe(planProblems)));
  }
  if (outputs !== undefined && plan.missingOutputs.length > 0) {
    throw new FatalError(missingOutputsMessage(plan.missingOutputs, outputs.source));
  }
  if (outputs !== undefined && plan.submissions.some((s) => s.kind === "array")) {
    requireOutput(outputs, "bucketName", "to upload array sweep manifests");
  }
  const notes = [...plan.notes];
  if (outputs !== undefined) {
    notes.push(...policyBoundsNotes(items, opts, ctx, outputs));
  }
  return {
    submissions: plan.submissions,
    ...(outputs !== undefined ? { outputs } : {}),
    notes,
    items,
  };
}

/**
 * The policy pack's bounds (and the stack's jobLimits) over every job: refuses what exceeds
 * a mandatory bound; returns the notes (advisory bounds, a skipped placement check). With
 * --ignore-policy-bounds, says on stderr what it lets through instead.
 */
function policyBoundsNotes(
  items: readonly (LoadedJob | LoadedSweep)[],
  opts: SubmitOptions,
  ctx: Context,
  outputs: LoadedOutputs,
): Problem[] {
  let bounds = DEFAULT_BOUNDS;
  if (opts.policyPackConfig !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(path.resolve(ctx.cwd, opts.policyPackConfig), "utf8");
    } catch (err) {
      throw new BadInputError(
        `--policy-pack-config ${opts.policyPackConfig}: ${(err as Error).message}`,
      );
    }
    const parsed = boundsFromPolicyConfig(text, opts.policyPackConfig);
    if (parsed.problems.length > 0) {
      throw new BadInputError(parsed.problems.map((message) => ({ message })));
    }
    bounds = parsed.bounds;
  }
  const { problems, notes } = boundsProblems(items, bounds, outputs.outputs.jobLimits);
  if (problems.length > 0 && opts.ignorePolicyBounds !== true) {
    throw new BadInputError(sortProblems(problems));
  }
  for (const p of problems) {
    ctx.io.stderr.write(
      `warning: --ignore-policy-bounds: submitting anyway: ${formatProblem(p)}\n`,
    );
  }
  return notes;
}

/** Which submissions the ledger already has (skipped unless --force); pure. */
export function splitByLedger(
  submissions: readonly Submission[],
  known: ReadonlyMap<string, LedgerEntry>,
  force: boolean,
): { todo: Submission[]; skipped: { jobName: string; jobId: string; changed: boolean }[] } {
  const todo: Submission[] = [];
  const skipped: { jobName: string; jobId: string; changed: boolean }[] = [];
  for (const s of submissions) {
    const prior = known.get(s.jobName);
    if (prior !== undefined && !force) {
      skipped.push({ jobName: s.jobName, jobId: prior.jobId, changed: prior.hash !== s.hash });
    } else {
      todo.push(s);
    }
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
 * The lock, then the ledger read (the skip decision must see every job a finished run
 * recorded) and opened for appending, so a folder that cannot be written fails here,
 * before anything is uploaded or submitted.
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

function dedupe(problems: readonly Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = formatProblem(p);
    if (seen.has(k)) {
      return false;
    }
    seen.add(k);
    return true;
  });
}

function describeSubmission(s: Submission): string {
  if (s.kind === "array") {
    return `array job of ${s.arraySize.toLocaleString("en-US")} children (manifest ${s.manifest.key})`;
  }
  return s.arraySize !== undefined ? `array job of ${s.arraySize} children` : "job";
}

export async function submitCommand(opts: SubmitOptions, ctx: Context): Promise<number> {
  if (opts.dryRun && opts.local) {
    throw new BadInputError(
      "--dry-run and --local cannot be combined; --local already runs nothing on AWS",
    );
  }
  const { submissions, outputs, notes } = await prepare(opts, ctx);
  if (opts.local) {
    return runLocally(submissions, opts, ctx);
  }
  if (outputs === undefined) {
    throw new FatalError("internal: outputs not loaded");
  }
  return submitToBatch(opts, ctx, outputs, submissions, notes);
}

/**
 * Planned submissions to Batch (or, with --dry-run, to stdout): the lock, the ledger,
 * reconciliation of what an earlier run left open, then exactly-once sends. Every check on
 * the input is done by now. `jobs:submit --retry-failed` comes here too.
 */
export async function submitToBatch(
  opts: SubmitOptions,
  ctx: Context,
  outputs: LoadedOutputs,
  submissions: readonly Submission[],
  notes: readonly Problem[],
): Promise<number> {
  const err = ctx.io.stderr;
  const dir = stateDir(ctx, opts.stateDir);
  const file = checkedLedgerPath(dir, outputs.stack);
  if (!opts.json) {
    notes.forEach((n) => err.write(`note: ${formatProblem(n)}\n`));
  }

  if (opts.dryRun) {
    // No lock and no folder: a dry run changes nothing, and a running submit may still add
    // to the ledger, so the list is a preview.
    const ledger = Ledger.open(file);
    ledger.warnings.forEach((w) => err.write(`warning: ${w}\n`));
    const { todo, skipped } = splitByLedger(submissions, ledger.latest(), opts.force);
    reportSkipped(opts, ctx, submissions.length, skipped, file);
    printDryRun(opts, ctx, outputs, todo, skipped);
    return EXIT_OK;
  }

  const { lock, ledger } = openLedgerForSubmit(file, ctx);
  const clients = ctx.clients(outputs.outputs.region);
  try {
    ledger.warnings.forEach((w) => err.write(`warning: ${w}\n`));
    return await submitWithLedger(opts, ctx, outputs, ledger, clients, submissions);
  } finally {
    clients.destroy();
    ledger.close();
    lock.release();
  }
}

type Skipped = { jobName: string; jobId: string; changed: boolean }[];

/** Reconcile, split, upload, send, report: the run once the lock and ledger are held. */
async function submitWithLedger(
  opts: SubmitOptions,
  ctx: Context,
  outputs: LoadedOutputs,
  ledger: Ledger,
  clients: AwsClients,
  submissions: readonly Submission[],
): Promise<number> {
  // One line per job is data when stdout is piped; on a terminal, past a handful of jobs,
  // the progress bar and the summary say it better (the IDs are in the ledger).
  let perJobLines = !opts.json && ctx.io.stdout.isTTY !== true;
  let progress = { update: (_n: number): void => undefined, stop: (): void => undefined };
  let accepted = 0;
  const sendCtx: SendContext = {
    clients,
    ledger,
    run: new Date().toISOString(),
    ...(ctx.hooks !== undefined ? { hooks: ctx.hooks } : {}),
    onAccepted: (entry, how) => {
      progress.update(++accepted);
      if (perJobLines) {
        const what = entry.arraySize !== undefined ? ` (array of ${entry.arraySize})` : "";
        const why = how === "recovered" ? " (found in Batch by its submission token)" : "";
        ctx.io.stdout.write(`${how} ${entry.jobName} ${entry.jobId}${what}${why}\n`);
      }
    },
    onLost: (intent, error) => {
      if (!opts.json) {
        ctx.io.stderr.write(
          `note: ${intent.jobName}: SubmitJob's answer was lost (${describeError(error)}); ` +
            "looking the job up by its token before sending it again\n",
        );
      }
    },
  };
  const waits = reconcileTiming(ctx, opts);

  const start = await recoverOpenIntents(opts, ctx, ledger, sendCtx, submissions, waits);
  if (start.interrupted) {
    ctx.io.stderr.write(
      `stopped while waiting for Batch's job list; ${start.undecided} submission(s) stay open in the ledger and are looked up again by the next run\n`,
    );
    return EXIT_INTERRUPTED;
  }
  const resolved = new Set([
    ...start.recovered.map((e) => e.jobName),
    ...start.resend.map((r) => r.submission.jobName),
  ]);
  const { todo, skipped } = splitByLedger(
    submissions.filter((s) => !resolved.has(s.jobName)),
    ledger.latest(),
    opts.force,
  );
  reportSkipped(opts, ctx, submissions.length, skipped, ledger.file);
  const items: SendItem[] = [
    ...start.resend,
    ...todo.map((s) => ({ submission: s, token: newToken() })),
  ];
  if (items.length === 0) {
    printNothing(opts, ctx, outputs, submissions.length, skipped, start);
    return EXIT_OK;
  }
  perJobLines = !opts.json && (items.length <= 5 || ctx.io.stdout.isTTY !== true);
  await uploadManifests(
    clients,
    outputs,
    items.map((i) => i.submission),
  );
  progress = createProgress(ctx.io, {
    total: items.length + start.recovered.length,
    json: opts.json,
    label: "submitting",
  });
  progress.update(accepted);
  let result: SendAllResult;
  try {
    result = await sendAll(items, sendCtx, {
      concurrency: opts.concurrency ?? DEFAULT_SUBMIT_CONCURRENCY,
      signal: ctx.signal,
      reconcile: waits,
    });
  } finally {
    progress.stop();
  }
  return printOutcome(opts, ctx, outputs, ledger, {
    result,
    skipped,
    startRecovered: start.recovered,
    duplicates: [...start.duplicates, ...result.duplicates],
  });
}

/** How long to wait for Batch's job list, and how to wait (Ctrl-C cuts it short). */
function reconcileTiming(ctx: Context, opts: SubmitOptions) {
  const waitMs = ctx.hooks?.listingWaitMs ?? LISTING_WAIT_MS;
  return {
    waitMs,
    timeoutMs: ctx.hooks?.submitTimeoutMs ?? SUBMIT_TIMEOUT_MS,
    now: () => Date.now(),
    sleep: (ms: number) => sleep(ms, ctx.signal),
    signal: ctx.signal,
    onWait: (count: number, ms: number) => {
      if (!opts.json) {
        ctx.io.stderr.write(
          `waiting up to ${Math.ceil(ms / 1000)} s for Batch's job list to show ${count} job(s) ` +
            `whose answer was lost before deciding to send them again (Batch's listing can lag; ` +
            `the wait is ${Math.round(waitMs / 1000)} s from the send)\n`,
        );
      }
    },
  };
}

interface StartRecovery {
  readonly recovered: LedgerEntry[];
  readonly resend: SendItem[];
  readonly duplicates: Duplicate[];
  readonly interrupted: boolean;
  readonly undecided: number;
}

/**
 * Before anything new is sent: every intent an earlier run left open is looked up by token.
 * Found: adopted. Absent after the listing wait: resent with the same token if this run has
 * the same request, else closed (the name, if in this run, is then a new submission).
 */
async function recoverOpenIntents(
  opts: SubmitOptions,
  ctx: Context,
  ledger: Ledger,
  sendCtx: SendContext,
  submissions: readonly Submission[],
  waits: ReturnType<typeof reconcileTiming>,
): Promise<StartRecovery> {
  const open = ledger.openIntents();
  if (open.length === 0) {
    return { recovered: [], resend: [], duplicates: [], interrupted: false, undecided: 0 };
  }
  if (!opts.json) {
    ctx.io.stderr.write(
      `${open.length} submission(s) from an earlier run have no job ID in the ledger (a crash ` +
        "or a lost answer); looking them up in Batch by their submission token first\n",
    );
  }
  let r: Reconciled;
  try {
    r = await reconcileAndAdopt(open, sendCtx, waits);
  } catch (err) {
    throw err instanceof UnrecordedError
      ? new FatalError(
          `${err.entry.jobName} was found in Batch as ${err.entry.jobId} but could not be recorded in the ledger ${ledger.file} (${describeError(err.failure)}); make it writable and re-run; nothing new was sent`,
        )
      : new FatalError(
          `looking up ${open.length} submission(s) an earlier run left open failed (${describeError(err)}); ` +
            "nothing new was sent; jobs:submit needs batch:ListJobs and batch:DescribeJobs besides batch:SubmitJob",
        );
  }
  const byName = new Map(submissions.map((s) => [s.jobName, s]));
  const resend: SendItem[] = [];
  for (const intent of r.absent) {
    const s = byName.get(intent.jobName);
    if (s !== undefined && s.hash === intent.hash) {
      resend.push({ submission: s, token: intent.token });
      if (!opts.json) {
        ctx.io.stderr.write(
          `note: ${intent.jobName}: not in Batch's job list ${describeAge(intent)} after it was sent; ` +
            `sending it again with the same token (${intent.token})\n`,
        );
      }
    } else {
      closeAbsent(ledger, intent, s === undefined ? "not in this run" : "its file changed");
      if (!opts.json) {
        ctx.io.stderr.write(
          `note: ${intent.jobName}: the earlier submission never reached Batch and ` +
            `${s === undefined ? "is not in this run" : "its file changed since"}; ` +
            `${s === undefined ? "not sent" : "sending the new version"}\n`,
        );
      }
    }
  }
  return {
    recovered: r.recovered,
    resend,
    duplicates: r.duplicates,
    interrupted: r.undecided.length > 0,
    undecided: r.undecided.length,
  };
}

function describeAge(intent: IntentLine): string {
  const ms = Date.now() - Date.parse(intent.at);
  return Number.isNaN(ms) ? "long" : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

function closeAbsent(ledger: Ledger, intent: IntentLine, why: string): void {
  ledger.appendClosed({
    v: 1,
    type: "closed",
    jobName: intent.jobName,
    token: intent.token,
    reason: `not in Batch after the listing wait; ${why}`,
    at: new Date().toISOString(),
  });
}

/** Manifests first: a child that starts before its manifest exists would fail. */
async function uploadManifests(
  clients: AwsClients,
  outputs: LoadedOutputs,
  submissions: readonly Submission[],
): Promise<void> {
  const arrays = submissions.filter(
    (s): s is Extract<Submission, { kind: "array" }> => s.kind === "array",
  );
  if (arrays.length === 0) {
    return;
  }
  const bucket = requireOutput(outputs, "bucketName", "to upload array sweep manifests");
  const uploads = await runPool(
    arrays,
    (s) => clients.storage.putObject(bucket, s.manifest.key, s.manifest.body, "application/json"),
    { concurrency: 4, stopOnError: true },
  );
  const failed = uploads.findIndex((u) => u.status === "rejected");
  if (failed >= 0) {
    const u = uploads[failed];
    throw new FatalError(
      `uploading s3://${bucket}/${arrays[failed].manifest.key} failed (${describeError(u.status === "rejected" ? u.reason : undefined)}); nothing was submitted`,
    );
  }
}

function printNothing(
  opts: SubmitOptions,
  ctx: Context,
  outputs: LoadedOutputs,
  total: number,
  skipped: Skipped,
  start: StartRecovery,
): void {
  const recovered = start.recovered.map((e) => ({ jobName: e.jobName, jobId: e.jobId }));
  if (opts.json) {
    ctx.io.stdout.write(
      `${JSON.stringify({ stack: outputs.stack, submitted: [], recovered, skipped, failed: [], unrecorded: [], open: [], duplicates: start.duplicates, notSubmitted: 0 })}\n`,
    );
    return;
  }
  printDuplicates(ctx, start.duplicates);
  ctx.io.stdout.write(
    `nothing to submit: all ${total} job(s) are in the ledger` +
      (recovered.length > 0 ? ` (${recovered.length} found in Batch by token)` : "") +
      "; --force resubmits\n",
  );
}

function printDuplicates(ctx: Context, duplicates: readonly Duplicate[]): void {
  for (const d of duplicates) {
    ctx.io.stderr.write(
      `warning: ${d.jobName}: ${d.others.length + 1} jobs carry its token ${d.token} (${[d.recorded, ...d.others].join(", ")}): ` +
        `Batch's job list showed the first one later than the listing wait; the ledger keeps ${d.recorded}; ` +
        `stop the others with aws batch terminate-job if they are not wanted\n`,
    );
  }
}

function printOutcome(
  opts: SubmitOptions,
  ctx: Context,
  outputs: LoadedOutputs,
  ledger: Ledger,
  o: {
    result: SendAllResult;
    skipped: Skipped;
    startRecovered: LedgerEntry[];
    duplicates: Duplicate[];
  },
): number {
  const out = ctx.io.stdout;
  const err = ctx.io.stderr;
  const r = o.result;
  const submitted = r.accepted;
  const recovered = [...o.startRecovered, ...r.recovered];
  const unrecorded = r.failures.flatMap((f) =>
    f.reason instanceof UnrecordedError
      ? [{ ...f.reason.entry, error: describeError(f.reason.failure) }]
      : [],
  );
  const failed = r.failures.flatMap((f) =>
    f.reason instanceof UnrecordedError
      ? []
      : [
          {
            jobName: f.item.submission.jobName,
            file: f.item.submission.file,
            error: describeError(f.reason),
          },
        ],
  );
  const open = r.open.map((i) => ({ jobName: i.jobName, token: i.token, file: i.file }));
  const notSubmitted = r.notSent.length + failed.length;
  if (opts.json) {
    out.write(
      `${JSON.stringify({
        stack: outputs.stack,
        submitted: submitted.map((e) => ({
          jobName: e.jobName,
          jobId: e.jobId,
          file: e.file,
          ...(e.arraySize !== undefined ? { arraySize: e.arraySize } : {}),
        })),
        recovered: recovered.map((e) => ({ jobName: e.jobName, jobId: e.jobId, file: e.file })),
        skipped: o.skipped,
        failed,
        unrecorded: unrecorded.map((u) => ({
          jobName: u.jobName,
          jobId: u.jobId,
          file: u.file,
          error: u.error,
        })),
        open,
        duplicates: o.duplicates,
        notSubmitted,
        ledger: ledger.file,
      })}\n`,
    );
  } else {
    for (const u of unrecorded) {
      err.write(
        `error: ${u.file}: ${u.jobName} was submitted as ${u.jobId} but could not be recorded in ` +
          `the ledger ${ledger.file} (${u.error})\n`,
      );
    }
    for (const f of failed.slice(0, 20)) {
      err.write(`error: ${f.file}: ${f.jobName}: ${f.error}\n`);
    }
    if (failed.length > 20) {
      err.write(`... and ${failed.length - 20} more errors\n`);
    }
    if (r.lookupError !== undefined) {
      err.write(
        `error: looking up jobs whose answer was lost failed: ${describeError(r.lookupError)}\n`,
      );
    }
    printDuplicates(ctx, o.duplicates);
    out.write(
      `${submitted.length} submitted, ${o.skipped.length} already in the ledger` +
        (recovered.length > 0 ? `, ${recovered.length} found in Batch by token` : "") +
        (unrecorded.length > 0 ? `, ${unrecorded.length} submitted but not in the ledger` : "") +
        (open.length > 0 ? `, ${open.length} unresolved (answer lost)` : "") +
        (notSubmitted > 0 ? `, ${notSubmitted} not submitted` : "") +
        "\n",
    );
    if (unrecorded.length > 0) {
      err.write(
        `make the ledger (${ledger.file}) writable and re-run: the re-run finds the ` +
          `${unrecorded.length} job(s) above in Batch by their submission token instead of submitting them again\n`,
      );
    } else if (open.length > 0) {
      err.write(
        `re-run the same command: it looks the ${open.length} job(s) whose answer was lost up by token ` +
          `(${open
            .slice(0, 5)
            .map((x) => x.jobName)
            .join(
              ", ",
            )}${open.length > 5 ? ", ..." : ""}) and sends only what Batch never received\n`,
      );
    } else if (notSubmitted > 0) {
      const outcomes = r.failures.map((f) => ({ status: "rejected" as const, reason: f.reason }));
      err.write(`${remainingAdvice(outcomes, notSubmitted, ctx.signal.aborted)}\n`);
    } else {
      err.write(`next: ${followUp("jobs:watch", opts)}\n`);
    }
  }
  if (unrecorded.length > 0) {
    return EXIT_FAILURE;
  }
  if (ctx.signal.aborted && (notSubmitted > 0 || open.length > 0)) {
    return EXIT_INTERRUPTED;
  }
  return notSubmitted > 0 || open.length > 0 || r.lookupError !== undefined
    ? EXIT_FAILURE
    : EXIT_OK;
}

function reportSkipped(
  opts: SubmitOptions,
  ctx: Context,
  total: number,
  skipped: readonly { jobName: string; jobId: string; changed: boolean }[],
  file: string,
): void {
  if (opts.json) {
    return;
  }
  const err = ctx.io.stderr;
  if (skipped.length > 0) {
    err.write(
      `${skipped.length} of ${total} already submitted (ledger ${displayPath(ctx.cwd, file)}); ` +
        `skipping them, --force resubmits\n`,
    );
  }
  for (const c of skipped.filter((s) => s.changed).slice(0, 10)) {
    err.write(
      `  note: ${c.jobName} changed since it was submitted as ${c.jobId}; pass --force or rename the job\n`,
    );
  }
}

function printDryRun(
  opts: SubmitOptions,
  ctx: Context,
  outputs: LoadedOutputs,
  todo: readonly Submission[],
  skipped: readonly { jobName: string; jobId: string; changed: boolean }[],
): void {
  const out = ctx.io.stdout;
  const err = ctx.io.stderr;
  if (opts.json) {
    out.write(
      `${JSON.stringify({
        stack: outputs.stack,
        requests: todo.map((s) => s.request),
        manifests: todo.flatMap((s) =>
          s.kind === "array"
            ? [{ jobName: s.jobName, key: s.manifest.key, sets: s.manifest.sets }]
            : [],
        ),
        skipped,
      })}\n`,
    );
    return;
  }
  for (const s of todo) {
    err.write(`# ${s.file}: ${s.jobName} (${describeSubmission(s)})\n`);
    if (s.kind === "array") {
      err.write(`#   would upload s3://${outputs.outputs.bucketName}/${s.manifest.key} first\n`);
    }
    out.write(`${JSON.stringify(s.request, null, 2)}\n`);
  }
  err.write(
    `dry run: ${todo.length} request(s) shown, nothing submitted; each is sent with the tag ` +
      `${TOKEN_TAG} set to a fresh submission token\n`,
  );
}

/**
 * Where a local job's results are, said only of runs that succeeded: a failed run uploads
 * no results, so its folder does not exist.
 */
export function localResultsLine(
  s: Submission,
  results: readonly LocalResult[],
  root: string,
  cwd: string,
): string {
  const runs = results.filter((r) => r.run.jobName === s.jobName);
  const ok = runs.filter((r) => r.exitCode === 0).length;
  const total = s.arraySize ?? 1;
  // A chunk's or lone set's files are filed under its sweep.
  const rel = displayPath(cwd, path.join(root, "results", s.sweep ?? s.jobName));
  if (ok === 0) {
    return `${s.jobName}: no results (${runs.length === 0 ? "not run" : "failed"})`;
  }
  if (s.arraySize === undefined) {
    const set = s.request?.containerOverrides?.environment?.find((v) => v.name === VARS.setIndex);
    return `${s.jobName}: results in ${rel}/${set !== undefined ? `${set.value}/` : ""}`;
  }
  return (
    `${s.jobName}: results in ${rel}/<index>/` +
    (ok < total ? ` (${ok} of ${total} children succeeded)` : "")
  );
}

/**
 * What to do about jobs a run did not submit. A re-run alone is advised only when every
 * failure is one a later attempt may not meet (throttling, network, HTTP 5xx) or the run
 * was interrupted; otherwise the cause must be fixed first.
 */
export function remainingAdvice(
  outcomes: readonly PoolOutcome<unknown>[],
  notSubmitted: number,
  interrupted: boolean,
): string {
  const lasting = outcomes.flatMap((o) =>
    o.status === "rejected" && !(o.reason instanceof UnrecordedError) && !isRetryable(o.reason)
      ? [o.reason]
      : [],
  );
  const rest = "accepted jobs are in the ledger and are skipped";
  if (lasting.length === 0 || interrupted) {
    return `re-run the same command to submit the remaining ${notSubmitted}: ${rest}`;
  }
  return (
    `${describeError(lasting[0])} is not a failure a re-run fixes: fix its cause first (for example ` +
    "the job queue or definition, in the files or in the stack's outputs), then re-run the same " +
    `command to submit the remaining ${notSubmitted}: ${rest}`
  );
}

/** `npm run <script>` with the stack options this run was given, so the hint works as is. */
export function followUp(
  script: string,
  opts: { readonly stack?: string; readonly outputs?: string; readonly stateDir?: string },
): string {
  const args = [
    ...(opts.stack !== undefined ? ["--stack", opts.stack] : []),
    ...(opts.outputs !== undefined ? ["--outputs", opts.outputs] : []),
    ...(opts.stateDir !== undefined ? ["--state-dir", opts.stateDir] : []),
  ];
  return `npm run ${script}${args.length > 0 ? ` -- ${args.map(shellWord).join(" ")}` : ""}`;
}

async function runLocally(
  submissions: readonly Submission[],
  opts: SubmitOptions,
  ctx: Context,
): Promise<number> {
  const root = localRoot(ctx, opts.localRoot);
  const plan = planLocal(submissions, root);
  const err = ctx.io.stderr;
  for (const s of submissions) {
    if (s.request.containerOverrides?.command !== undefined) {
      err.write(
        `note: ${s.jobName}: containerOverrides.command is ignored locally; run_job.py runs as in the job definition\n`,
      );
    }
  }
  const progress = createProgress(ctx.io, {
    total: plan.runs.length,
    json: opts.json,
    label: "running",
  });
  let done = 0;
  const results = await runLocal(plan, {
    repoRoot: ctx.repoRoot,
    root,
    ...(opts.script !== undefined ? { script: path.resolve(ctx.cwd, opts.script) } : {}),
    concurrency: opts.concurrency ?? Math.max(1, Math.min(4, os.cpus().length)),
    env: ctx.env,
    signal: ctx.signal,
    onOutput: (chunk) => err.write(chunk),
    onDone: () => progress.update(++done),
  });
  progress.stop();
  const failed = results.filter((r) => r.exitCode !== 0);
  const notRun = plan.runs.length - results.length;
  const rows = results.map((r) => ({
    jobName: r.run.jobName,
    ...(r.run.index !== undefined ? { index: r.run.index } : {}),
    exitCode: r.exitCode,
    ...localResultPaths(r.run, root),
  }));
  if (opts.json) {
    ctx.io.stdout.write(
      `${JSON.stringify({ localRoot: root, runs: rows, failed: failed.length, notRun })}\n`,
    );
  } else {
    for (const f of failed.slice(0, 10)) {
      const name = f.run.index !== undefined ? `${f.run.jobName}[${f.run.index}]` : f.run.jobName;
      err.write(
        `FAILED ${name}: exit ${f.exitCode ?? f.signal}\n${f.tail
          .trimEnd()
          .split("\n")
          .slice(-15)
          .map((l) => `  | ${l}`)
          .join("\n")}\n`,
      );
    }
    for (const s of submissions) {
      ctx.io.stdout.write(`${localResultsLine(s, results, root, ctx.cwd)}\n`);
    }
    ctx.io.stdout.write(
      `${results.length - failed.length} of ${plan.runs.length} local run(s) succeeded` +
        (notRun > 0 ? `, ${notRun} not started` : "") +
        `; logs in ${displayPath(ctx.cwd, path.join(root, "logs"))}/; copy out with npm run jobs:results -- --local\n`,
    );
  }
  if (ctx.signal.aborted && notRun > 0) {
    return EXIT_INTERRUPTED;
  }
  return failed.length > 0 || notRun > 0 ? EXIT_FAILURE : EXIT_OK;
}
