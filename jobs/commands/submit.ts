/**
 * `jobs:submit`: check every input before the first side effect, plan, then run here
 * (`--locally`) or, within the cost caps, send to Batch (./submit-batch.ts).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  createProgress,
  displayPath,
  localRoot,
  readStackLedger,
  stackOutputs,
  type Context,
} from "../context";
import {
  BadInputError,
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_OK,
  FatalError,
  formatProblem,
  type Problem,
} from "../errors";
import { COST_CAP_POLICY, DEFAULT_BOUNDS } from "../../policy/bounds";
import { boundsFromPolicyConfig, type PolicyCostCap } from "../../policy/check/policy-config";
import { boundsProblems } from "../input/bounds";
import { expandInputs, loadInputs, sortProblems } from "../input/load";
import { byScript } from "../input/scripts";
import { planLocal, runLocal } from "./local";
import { dependencyOrder } from "../input/depends";
import { latestLocalRuns, readLocalRuns } from "../state/local-runs";
import { requireOutput, type LoadedOutputs } from "../input/outputs";
import { buildPlan, type Submission } from "../input/plan";
import { parseDescription } from "../input/script-options";
import { checkVariables } from "../input/variables";
import type { Loaded } from "../input/sweep";
import {
  printCostBound,
  printSubmitResult,
  type LocalRunsResult,
  type SubmitResult,
} from "../output/submit-print";
import { submitToBatch, type BatchOptions } from "./submit-batch";
import { costBound, costCapProblem } from "../report/prices";
import { definedOnly } from "../../components/defined";

export interface SubmitOptions extends BatchOptions {
  readonly files: readonly string[];
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
export async function prepare(opts: SubmitOptions, ctx: Context) {
  const items = await checkedInputs(opts, ctx);
  const outputs = opts.locally === true ? undefined : stackOutputs(opts, ctx);
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
  for (const p of problems) {
    ctx.io.stderr.write(
      `warning: --ignore-policy-bounds: submitting anyway: ${formatProblem(p)}\n`,
    );
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
      if (result.aborted && unfinished && !unrecorded) {
        return EXIT_INTERRUPTED;
      }
      return unfinished || unrecorded || result.lookupError !== undefined ? EXIT_FAILURE : EXIT_OK;
    }
    case "local": {
      const notRun = result.planned - result.results.length;
      if (result.aborted && notRun > 0) {
        return EXIT_INTERRUPTED;
      }
      return result.results.some((r) => r.exitCode !== 0) || notRun > 0 ? EXIT_FAILURE : EXIT_OK;
    }
    default:
      return EXIT_OK;
  }
}

async function runLocally(
  submissions: readonly Submission[],
  opts: SubmitOptions,
  ctx: Context,
): Promise<LocalRunsResult> {
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
    kind: "local",
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
    if (policyCap.level === "advisory" || opts.ignorePolicyBounds === true) {
      if (problem !== undefined) {
        ctx.io.stderr.write(`warning: submitting anyway: ${problem}\n`);
      }
    } else {
      problems.push(problem);
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
