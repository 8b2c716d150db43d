/**
 * The most a submit's run time can cost, before anything is sent: children × attempts × the
 * attempt timeout × the job's hourly share (./prices.ts); and the shortest time it can take.
 */
import { requestedResources } from "../input/bounds";
import type { StackOutputs } from "../input/outputs";
import type { Submission } from "../input/plan";
import { formatBoundUsd } from "../output/numbers";
import { definedOnly } from "../../components/defined";
import type { JobDefaults } from "../../components/job-definition";
import { PRICE_TABLE, priceRun, pricingBasis, pricingOf, type UserPricing } from "./prices";

export interface SubmissionBound {
  readonly jobName: string;
  readonly file: string;
  readonly children: number;
  readonly attempts?: number;
  readonly timeoutSeconds?: number;
  readonly vcpus?: number;
  readonly memoryMiB?: number;
  readonly usd?: number;
  readonly instanceType?: string;
  readonly noPrice?: string;
}

export type CostBound = ReturnType<typeof costBound>;

/** The request's own values, else the job definition's, or why they are unknown. */
function factsOf(s: Submission, outputs: StackOutputs): JobDefaults | { noPrice: string } {
  const r = s.request;
  if (r.jobQueue !== outputs.jobQueueArn && r.jobQueue !== outputs.jobQueueName) {
    return {
      noPrice: `runs on job queue ${r.jobQueue}, not the stack's: its instance types are not known here`,
    };
  }
  const asked = requestedResources(r);
  const given: Partial<JobDefaults> = {
    vcpus: asked.vcpus?.value,
    memoryMiB: asked.memoryMiB?.value,
    gpus: asked.gpus?.value,
    timeoutSeconds: r.timeout?.attemptDurationSeconds,
    attempts: r.retryStrategy?.attempts,
  };
  const ownDefinition =
    r.jobDefinition === outputs.jobDefinitionArn || r.jobDefinition === outputs.jobDefinitionName;
  const defaults = ownDefinition ? outputs.jobDefaults : undefined;
  const facts = { ...defaults, ...definedOnly(given) };
  const missing = (["vcpus", "memoryMiB", "timeoutSeconds", "attempts"] as const).filter(
    (k) => facts[k] === undefined,
  );
  if (missing.length === 0) {
    return { gpus: 0, ...facts } as JobDefaults;
  }
  const fields = missing.join(", ");
  return {
    noPrice: ownDefinition
      ? `the stack's outputs predate "jobDefaults", which gives the ${fields} the file leaves out: run \`pulumi up\``
      : `job definition ${r.jobDefinition} is not the stack's: its ${fields} are not known here; set them in the file`,
  };
}

export function costBound(
  submissions: readonly Submission[],
  outputs: StackOutputs,
  user: UserPricing = {},
) {
  const pricing = pricingOf(outputs, user);
  let vcpuHours = 0;
  let longestSeconds = 0;
  const bounds = submissions.map((s): SubmissionBound => {
    const base = { jobName: s.jobName, file: s.file, children: s.arraySize ?? 1 };
    const facts = factsOf(s, outputs);
    if ("noPrice" in facts) {
      return { ...base, noPrice: facts.noPrice };
    }
    const { vcpus, memoryMiB, gpus, timeoutSeconds, attempts } = facts;
    const runs = base.children * attempts;
    vcpuHours += (runs * timeoutSeconds * vcpus) / 3600;
    longestSeconds = Math.max(longestSeconds, attempts * timeoutSeconds);
    const shown = { ...base, attempts, timeoutSeconds, vcpus, memoryMiB };
    const price = priceRun(timeoutSeconds, { vcpus, memoryMiB, gpus }, pricing);
    return "noPrice" in price
      ? { ...shown, noPrice: price.noPrice }
      : { ...shown, usd: runs * price.usd, ...definedOnly({ instanceType: price.on }) };
  });
  const maxVcpus = outputs.jobLimits?.maxVcpus;
  const fullWidthHours = maxVcpus !== undefined && maxVcpus > 0 ? vcpuHours / maxVcpus : 0;
  return {
    submissions: bounds,
    // Of the submissions that have a figure.
    usd: bounds.reduce((sum, b) => sum + (b.usd ?? 0), 0),
    unpriced: bounds.filter((b) => b.usd === undefined).length,
    basis: pricingBasis(pricing),
    priceTable: { region: PRICE_TABLE.region, asOf: PRICE_TABLE.asOf },
    vcpuHours,
    // Absent when the stack predates `jobLimits`.
    ...definedOnly({ maxVcpus }),
    minHours: Math.max(fullWidthHours, longestSeconds / 3600),
  };
}

/** A submission without a figure cannot be held to the cap. */
export function costCapProblem(
  bound: CostBound,
  /** `source` names the cap ("--max-cost", the pack's policy), `fix` raises it. */
  cap: { readonly usd: number; readonly source: string; readonly fix: string },
): string | undefined {
  const limit = `$${cap.usd.toLocaleString("en-US")}`;
  if (bound.unpriced > 0) {
    const first = bound.submissions.find((b) => b.noPrice !== undefined);
    return (
      `${bound.unpriced} submission(s) have no cost bound (${first?.jobName}: ${first?.noPrice}), ` +
      `so they cannot be held to the ${limit} of ${cap.source}: give your prices with ` +
      `--price-vcpu-hour USD (and --price-gb-hour USD), or ${cap.fix}`
    );
  }
  if (bound.usd <= cap.usd) {
    return undefined;
  }
  return (
    `the run time of these jobs can cost up to ${formatBoundUsd(bound.usd)}, above the ${limit} of ` +
    `${cap.source}: lower the array size, retryStrategy.attempts or timeout.attemptDurationSeconds ` +
    `in the files, or ${cap.fix}`
  );
}
