/**
 * jobs:submit's and jobs:retry's cost bound of what the ledger lacks (all with --force),
 * held to --max-cost and the pack's `batch-submit-cost-cap` before anything is sent.
 */
import { readStackLedger, type Context } from "../context";
import { BadInputError, type Problem } from "../errors";
import type { LoadedOutputs } from "../input/outputs";
import type { Submission } from "../input/plan";
import { costBound, costCapProblem } from "../report/cost-bound";
import { printCostBound } from "../output/cost-print";
import type { SubmitResult } from "../output/submit-print";
import { submitToBatch, type BatchOptions } from "./submit-batch";
import { COST_CAP_POLICY } from "../../policy/bounds";
import type { PolicyCostCap } from "../../policy/check/policy-config";
import { definedOnly } from "../../components/defined";

export interface CostOptions {
  readonly maxCost?: number;
  readonly priceVcpuHour?: number;
  readonly priceGbHour?: number;
  readonly force?: boolean;
  readonly json: boolean;
  readonly stateDir?: string;
  readonly ignorePolicyBounds?: boolean;
}

/**
 * Sends `submissions` if their bound passes the caps (said on stderr, but with --json; a
 * BadInputError when a cap refuses it); a dry run's or a send's result carries the bound.
 */
export async function submitWithinCost(
  submissions: readonly Submission[],
  notes: readonly Problem[],
  outputs: LoadedOutputs,
  opts: CostOptions & BatchOptions,
  ctx: Context,
  policyCap: PolicyCostCap | undefined,
): Promise<SubmitResult> {
  const user = definedOnly({ usdPerVcpuHour: opts.priceVcpuHour, usdPerGbHour: opts.priceGbHour });
  const cost = costBound(notInLedger(submissions, outputs, opts, ctx), outputs.outputs, user);
  if (!opts.json && cost.submissions.length > 0) {
    printCostBound(cost, ctx.io);
  }
  const problems = [];
  if (opts.maxCost !== undefined) {
    const fix = "raise --max-cost";
    problems.push(costCapProblem(cost, { usd: opts.maxCost, source: "--max-cost", fix }));
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

/** What a run would send: the submissions the ledger lacks, read without a lock. */
function notInLedger(
  submissions: readonly Submission[],
  outputs: LoadedOutputs,
  opts: CostOptions,
  ctx: Context,
): readonly Submission[] {
  if (opts.force === true) {
    return submissions;
  }
  const ledger = readStackLedger(opts, ctx, outputs);
  try {
    const known = ledger.latest();
    return submissions.filter((s) => !known.has(s.jobName));
  } finally {
    ledger.close();
  }
}
