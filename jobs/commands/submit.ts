/**
 * `jobs:submit`: check every input before the first side effect, plan, then run here
 * (`--locally`) or, within the cost caps, send to Batch under the stack's lock, exactly once
 * per job name.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  createProgress,
  displayPath,
  localRoot,
  openLedger,
  readStackLedger,
  sleep,
  stackLedgerPath,
  stackOutputs,
  type Context,
  type StackOptions,
} from "../context";
import {
  BadInputError,
  exitCode,
  EXIT_INTERRUPTED,
  EXIT_OK,
  FatalError,
  describeError,
  formatProblem,
  type Problem,
} from "../errors";
import { COST_CAP_POLICY, DEFAULT_BOUNDS } from "../../policy/bounds";
import { boundsFromPolicyConfig, type PolicyCostCap } from "../../policy/check/policy-config";
import { SUBMIT_TIMEOUT_MS, type BatchApi } from "../aws/api";
import { LISTING_WAIT_MS, UnrecordedError, sendAll, skipKnown } from "../aws/exactly-once";
import { DEFAULT_SUBMIT_CONCURRENCY } from "../aws/pool";
import { Claims, whoAmI } from "../aws/claims";
import { boundsProblems } from "../input/bounds";
import { expandInputs, loadInputs, sortProblems } from "../input/load";
import { byScript, checkVariables, parseDescription } from "../input/variables";
import { planLocal, runLocal } from "./local";
import { dependencyOrder, parentsInLedger } from "../input/depends";
import type { Ledger, LedgerEntry } from "../state/ledger";
import { latestLocalRuns, readLocalRuns } from "../state/local-runs";
import { acquireLock, lockPath, type Lock } from "../state/lock";
import { requireOutput, type LoadedOutputs } from "../input/outputs";
import { buildPlan, type Submission } from "../input/plan";
import type { Loaded } from "../input/sweep";
import { printCostBound, printSubmitResult, type SubmitResult } from "../output/submit-print";
import { costBound, costCapProblem } from "../report/prices";
import { VARS } from "../../components/contract";
import { definedOnly } from "../../components/defined";

export interface SubmitOptions extends StackOptions {
  readonly files: readonly string[];
  readonly dryRun?: boolean;
  readonly force?: boolean;
  readonly concurrency?: number;
  readonly maxCost?: number;
  readonly priceVcpuHour?: number;
  readonly priceGbHour?: number;
  readonly locally?: boolean;
  readonly array: boolean;
  /** Absolute; default: the entrypoint's script. */
  readonly scriptFile?: string;
  readonly scriptOptions?: string;
  readonly localRoot?: string;
  readonly plainEnv?: readonly string[];
  readonly policyPackConfig?: string;
  readonly ignorePolicyBounds?: boolean;
}

export async function submitCommand(opts: SubmitOptions, ctx: Context): Promise<number> {
  if (opts.dryRun === true && opts.locally === true) {
    throw new BadInputError(
      "--dry-run and --locally cannot be combined; --locally already runs nothing on AWS",
    );
  }
  const { submissions, outputs, notes, costCap } = await prepare(opts, ctx);
  const result =
    outputs === undefined
      ? await runLocally(submissions, opts, ctx)
      : await submitWithinCost(submissions, notes, outputs, opts, ctx, costCap);
  printSubmitResult(result, ctx.io, { ...opts, cwd: ctx.cwd });
  return submitExitCode(result);
}

/** Checks and plans; a FatalError when the stack's outputs lack what the files rely on. */
export async function prepare(opts: SubmitOptions, ctx: Context, loaded?: LoadedOutputs) {
  const items = await checkedInputs(opts, ctx);
  const outputs = opts.locally === true ? undefined : (loaded ?? stackOutputs(opts, ctx));
  const plan = buildPlan(items, { array: opts.array, ...definedOnly({ outputs }) });
  if (plan.problems.length > 0) {
    throw new BadInputError(sortProblems(plan.problems));
  }
  if (plan.missingOutputs !== undefined) {
    throw new FatalError(plan.missingOutputs);
  }
  if (outputs !== undefined && plan.submissions.some((s) => s.kind === "array")) {
    requireOutput(outputs, "bucketName", "to upload array sweep manifests");
  }
  const { notes, costCap }: ReturnType<typeof policyBoundsNotes> =
    outputs !== undefined ? policyBoundsNotes(items, opts, ctx, outputs) : { notes: [] };
  return { submissions: plan.submissions, outputs, notes, items, costCap };
}

async function checkedInputs(opts: SubmitOptions, ctx: Context): Promise<Loaded[]> {
  // Python describes the script (unless --script-options did) while the files load.
  const saved = opts.scriptOptions;
  const first = ctx.probe(
    opts.scriptFile,
    saved === undefined
      ? undefined
      : {
          file: path.resolve(ctx.cwd, saved),
          description: parseDescription(readOptionFile("--script-options", saved, ctx), saved),
        },
  );
  try {
    const { files, problems } = expandInputs(opts.files, ctx.cwd);
    const { items, invalid, problems: loadProblems } = loadInputs(files);
    problems.push(...loadProblems);
    const scripts = byScript([...items, ...invalid], ctx.repoRoot);
    problems.push(...scripts.problems);
    for (const [script, group] of scripts.groups) {
      const probe = script === undefined ? first : ctx.probe(script);
      try {
        const desc = await probe.description();
        const plainEnv = opts.plainEnv !== undefined ? new Set(opts.plainEnv) : desc.plainEnv;
        const checked = await checkVariables(group, { ...desc, plainEnv }, probe.check, opts.array);
        problems.push(...checked.problems);
        checked.notes.forEach((note) => ctx.io.stderr.write(`${note}\n`));
      } finally {
        probe.stop();
      }
    }
    if (problems.length > 0) {
      throw new BadInputError(sortProblems(problems, files));
    }
    return items;
  } finally {
    first.stop();
  }
}

function readOptionFile(flag: string, file: string, ctx: Context): string {
  try {
    return fs.readFileSync(path.resolve(ctx.cwd, file), "utf8");
  } catch (err) {
    throw new BadInputError(`${flag} ${file}: ${(err as Error).message}`);
  }
}

/** The policy pack's bounds and the stack's jobLimits; --ignore-policy-bounds warns instead. */
function policyBoundsNotes(
  items: readonly Loaded[],
  opts: SubmitOptions,
  ctx: Context,
  outputs: LoadedOutputs,
): { notes: Problem[]; costCap?: PolicyCostCap } {
  const file = opts.policyPackConfig;
  const config: ReturnType<typeof boundsFromPolicyConfig> =
    file === undefined
      ? { bounds: DEFAULT_BOUNDS, problems: [] }
      : boundsFromPolicyConfig(readOptionFile("--policy-pack-config", file, ctx), file);
  if (config.problems.length > 0) {
    throw new BadInputError(config.problems.map((message) => ({ message })));
  }
  const { problems, notes } = boundsProblems(items, config.bounds, outputs.outputs.jobLimits);
  if (problems.length > 0 && opts.ignorePolicyBounds !== true) {
    throw new BadInputError(sortProblems(problems));
  }
  for (const p of problems.map(formatProblem)) {
    ctx.io.stderr.write(`warning: --ignore-policy-bounds: submitting anyway: ${p}\n`);
  }
  return { notes, ...definedOnly({ costCap: config.costCap }) };
}

export function submitExitCode(result: SubmitResult): number {
  switch (result.kind) {
    case "stopped":
      return EXIT_INTERRUPTED;
    case "sent": {
      const unfinished = result.notSubmitted > 0 || result.open.length > 0;
      const unrecorded = result.unrecorded.length > 0;
      const failed = unfinished || unrecorded || result.lookupError !== undefined;
      return exitCode(result.aborted && unfinished && !unrecorded, failed);
    }
    case "local": {
      const notRun = result.planned - result.results.length;
      const failed = result.results.some((r) => r.exitCode !== 0) || notRun > 0;
      return exitCode(result.aborted && notRun > 0, failed);
    }
    default:
      return EXIT_OK;
  }
}

async function runLocally(submissions: readonly Submission[], opts: SubmitOptions, ctx: Context) {
  const root = localRoot(ctx, opts.localRoot);
  // Names resolve against this submit, then the latest local run of each job or sweep.
  const earlier = latestLocalRuns(readLocalRuns(root).records);
  const where = `the local runs of ${displayPath(ctx.cwd, root)}`;
  const view = { entries: [...earlier.values()], open: [], where };
  const { levels, problems } = dependencyOrder(submissions, view);
  if (problems.length > 0) {
    throw new BadInputError(sortProblems(problems));
  }
  const plan = planLocal(levels, root, earlier);
  const planned = plan.levels.flat().length;
  const err = ctx.io.stderr;
  for (const s of submissions.filter((s) => s.request.containerOverrides?.command)) {
    err.write(
      `note: ${s.jobName}: containerOverrides.command is ignored locally; run_job.py runs as in the job definition\n`,
    );
  }
  const progress = createProgress(ctx.io, { total: planned, json: opts.json, label: "running" });
  let done = 0;
  const results = await runLocal(plan, {
    repoRoot: ctx.repoRoot,
    root,
    ...definedOnly({ script: opts.scriptFile }),
    concurrency: opts.concurrency ?? Math.max(1, Math.min(4, os.cpus().length)),
    env: ctx.env,
    signal: ctx.signal,
    onOutput: (chunk) => err.write(chunk),
    onDone: () => progress.update(++done),
  });
  progress.stop();
  return {
    kind: "local" as const,
    root,
    ...definedOnly({ localRoot: opts.localRoot }),
    submissions,
    planned,
    results,
    aborted: ctx.signal.aborted,
  };
}

export async function submitWithinCost(
  submissions: readonly Submission[],
  notes: readonly Problem[],
  outputs: LoadedOutputs,
  opts: Omit<SubmitOptions, "files">,
  ctx: Context,
  policyCap: PolicyCostCap | undefined,
): Promise<SubmitResult> {
  const user = definedOnly({ usdPerVcpuHour: opts.priceVcpuHour, usdPerGbHour: opts.priceGbHour });
  // What a run would send: the submissions the ledger lacks, read without a lock.
  const known = opts.force === true ? new Map() : readStackLedger(opts, ctx, outputs).latest();
  const todo = submissions.filter((s) => !known.has(s.jobName));
  const cost = costBound(todo, outputs.outputs, user);
  if (!opts.json && cost.submissions.length > 0) {
    printCostBound(cost, ctx.io);
  }
  const problems = [];
  if (opts.maxCost !== undefined) {
    const cap = { usd: opts.maxCost, source: "--max-cost", fix: "raise --max-cost" };
    problems.push(costCapProblem(cost, cap));
  }
  if (policyCap !== undefined && policyCap.level !== "disabled") {
    const source = `policy ${COST_CAP_POLICY} (${policyCap.level})`;
    const fix = "raise maxCostUsd in the --policy-pack-config file";
    const problem = costCapProblem(cost, { usd: policyCap.value, source, fix });
    if (policyCap.level !== "advisory" && opts.ignorePolicyBounds !== true) {
      problems.push(problem);
    } else if (problem !== undefined) {
      ctx.io.stderr.write(`warning: submitting anyway: ${problem}\n`);
    }
  }
  const refused = problems.filter((p) => p !== undefined);
  if (refused.length > 0) {
    throw new BadInputError(
      refused.map((message) => ({ message: `${message}; nothing was sent` })),
    );
  }
  const result = await submitToBatch(opts, ctx, outputs, submissions, notes);
  return result.kind === "dry-run" || result.kind === "sent" ? { ...result, cost } : result;
}

async function submitToBatch(
  opts: Omit<SubmitOptions, "files">,
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
  let bar: ReturnType<typeof createProgress> | undefined;
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
  opts: Omit<SubmitOptions, "files">,
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
      return runResult(outputs.stack, ledger.file, r, ctx.signal.aborted, submissions.length);
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
  r: Awaited<ReturnType<typeof sendAll>>,
  aborted: boolean,
  total: number,
): SubmitResult {
  if ("undecided" in r) {
    return { kind: "stopped", undecided: r.undecided };
  }
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
