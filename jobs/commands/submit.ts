/**
 * `jobs:submit`, a shell: validate everything before the first side effect and plan
 * (`prepare`), then run on this machine (`--locally`) or submit to Batch exactly once per job
 * name (./submit-batch.ts), and print what happened (jobs/output/submit-print.ts).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { createProgress, localRoot, stackOutputs, type Context } from "../context";
import {
  awaitedLater,
  BadInputError,
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_OK,
  FatalError,
  formatProblem,
  type Problem,
} from "../errors";
import { DEFAULT_BOUNDS } from "../../policy/bounds";
import { boundsFromPolicyConfig } from "../../policy/check/policy-config";
import { boundsProblems } from "../input/bounds";
import type { LoadedJob } from "../input/job-file";
import { expandInputs, loadInputs, sortProblems } from "../input/load";
import { planLocal, runLocal } from "./local";
import { requireOutput, type LoadedOutputs } from "../input/outputs";
import { buildPlan, missingOutputsMessage, tokenTagProblems, type Submission } from "../input/plan";
import { parseDescription, type ScriptDescription } from "../input/script-options";
import { checkVariables, type CheckRequest } from "../input/value-types";
import type { LoadedSweep } from "../input/sweep";
import type { LocalRunsResult, SubmitResult } from "../output/submit-print";
import type { BatchOptions } from "./submit-batch";
import { definedOnly } from "../../components/defined";

export interface SubmitOptions extends BatchOptions {
  readonly files: readonly string[];
  readonly stack?: string;
  readonly outputs?: string;
  readonly local: boolean;
  /** false with --no-array. */
  readonly array: boolean;
  readonly localRoot?: string;
  /** `--script PATH`, passed to `run_job.py --describe`. */
  readonly script?: string;
  /** `--script-options FILE`: saved `--describe` output instead of running python. */
  readonly scriptOptions?: string;
  /** `--plain-env`: names meant as plain environment, not as a misspelt option. */
  readonly plainEnv?: readonly string[];
  /** `--policy-pack-config FILE`: the policy pack's settings, for its bounds. */
  readonly policyPackConfig?: string;
  /** `--ignore-policy-bounds`: submit what exceeds them, saying so on stderr. */
  readonly ignorePolicyBounds?: boolean;
}

/** The Batch half of a submit: submit-batch.ts, and with it the AWS SDK, loaded once. */
let batchHalf: Promise<typeof import("./submit-batch")> | undefined;
function loadBatchHalf(): Promise<typeof import("./submit-batch")> {
  return (batchHalf ??= import("./submit-batch"));
}

/** What `prepare` found: the submissions planned, and what they came from. */
export interface Prepared {
  submissions: Submission[];
  outputs?: LoadedOutputs;
  notes: Problem[];
  /** The loaded files, for jobs:retry's sets. */
  items: (LoadedJob | LoadedSweep)[];
}

/**
 * Parses, validates and plans; throws BadInputError with every problem found, or
 * FatalError when the stack outputs lack what the files rely on.
 */
export async function prepare(opts: SubmitOptions, ctx: Context): Promise<Prepared> {
  const items = await checkedInputs(opts, ctx);
  return planInputs(items, opts, ctx);
}

/** The files loaded and checked against the script's options; every problem at once. */
async function checkedInputs(
  opts: SubmitOptions,
  ctx: Context,
): Promise<(LoadedJob | LoadedSweep)[]> {
  // Python describes the script while the files load; a failure surfaces where it is used.
  const described = awaitedLater(scriptDescription(opts, ctx));
  if (!opts.local) {
    awaitedLater(loadBatchHalf());
  }
  const problems: Problem[] = [];
  const { files, problems: argProblems } = expandInputs(opts.files, ctx.cwd);
  problems.push(...argProblems);
  const { items, invalid, problems: loadProblems } = loadInputs(files);
  problems.push(...loadProblems);
  let desc = await described;
  if (opts.plainEnv !== undefined) {
    desc = { ...desc, plainEnv: new Set(opts.plainEnv) };
  }
  const saved =
    opts.scriptOptions !== undefined ? path.resolve(ctx.cwd, opts.scriptOptions) : undefined;
  const ask = (request: CheckRequest) => ctx.checkValues(opts.script, request, saved);
  const checked = await checkVariables(items, desc, ask, invalid);
  problems.push(...checked.problems);
  for (const note of checked.notes) {
    ctx.io.stderr.write(note + "\n");
  }
  if (problems.length > 0) {
    throw new BadInputError(sortProblems(dedupe(problems), files));
  }
  return items;
}

/** The script's options: from --script-options FILE, else from `run_job.py --describe`. */
function scriptDescription(opts: SubmitOptions, ctx: Context): Promise<ScriptDescription> {
  return opts.scriptOptions !== undefined
    ? savedDescription(opts.scriptOptions, ctx)
    : ctx.describe(opts.script);
}

/** `--script-options FILE`: a `--describe` answer saved earlier. */
async function savedDescription(scriptOptions: string, ctx: Context): Promise<ScriptDescription> {
  let text: string;
  try {
    text = fs.readFileSync(path.resolve(ctx.cwd, scriptOptions), "utf8");
  } catch (err) {
    throw new BadInputError(`--script-options ${scriptOptions}: ${(err as Error).message}`);
  }
  return parseDescription(text, scriptOptions);
}

/** The checked files planned against the stack's outputs (none with --locally), and the bounds. */
function planInputs(
  items: (LoadedJob | LoadedSweep)[],
  opts: SubmitOptions,
  ctx: Context,
): Prepared {
  const outputs = opts.local ? undefined : stackOutputs(opts, ctx);
  const plan = buildPlan(items, { array: opts.array, ...definedOnly({ outputs }) });
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
  const notes = outputs !== undefined ? policyBoundsNotes(items, opts, ctx, outputs) : [];
  return { submissions: plan.submissions, ...definedOnly({ outputs }), notes, items };
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

export async function submitCommand(opts: SubmitOptions, ctx: Context): Promise<number> {
  const result = await submit(opts, ctx);
  const { printSubmitResult } = await import("../output/submit-print");
  printSubmitResult(result, ctx.io, { ...opts, cwd: ctx.cwd });
  return submitExitCode(result);
}

/** Checks, plans, then runs locally or submits to Batch; returns what happened. */
async function submit(opts: SubmitOptions, ctx: Context): Promise<SubmitResult> {
  if (opts.dryRun && opts.local) {
    throw new BadInputError(
      "--dry-run and --locally cannot be combined; --locally already runs nothing on AWS",
    );
  }
  const { submissions, outputs, notes } = await prepare(opts, ctx);
  if (opts.local) {
    return runLocally(submissions, opts, ctx);
  }
  if (outputs === undefined) {
    throw new FatalError("internal: outputs not loaded");
  }
  return (await loadBatchHalf()).submitToBatch(opts, ctx, outputs, submissions, notes);
}

/** The exit code of a submit, retry or local run (jobs/errors.ts). */
export function submitExitCode(result: SubmitResult): number {
  switch (result.kind) {
    case "stopped":
      return EXIT_INTERRUPTED;
    case "sent": {
      const unfinished = result.notSubmitted > 0 || result.open.length > 0;
      if (result.unrecorded.length > 0) {
        return EXIT_FAILURE;
      }
      if (result.aborted && unfinished) {
        return EXIT_INTERRUPTED;
      }
      return unfinished || result.lookupError !== undefined ? EXIT_FAILURE : EXIT_OK;
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

/** `--locally`: every run on this machine; notes on stderr and live output as they come. */
async function runLocally(
  submissions: readonly Submission[],
  opts: SubmitOptions,
  ctx: Context,
): Promise<LocalRunsResult> {
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
    ...definedOnly({
      script: opts.script === undefined ? undefined : path.resolve(ctx.cwd, opts.script),
    }),
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
    planned: plan.runs.length,
    results,
    aborted: ctx.signal.aborted,
  };
}
