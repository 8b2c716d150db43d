/**
 * What run time costs, from a dated table of list prices: docs/jobs.md, "Cost is an estimate";
 * and the most a submit's run time can cost, before anything is sent: children × attempts × the
 * attempt timeout × the job's hourly share; and the shortest time it can take.
 */
import {
  COMPUTE_TYPES,
  DEFAULT_INSTANCE_TYPES,
  KNOWN_INSTANCE_TYPES,
  placeableMemoryMiB,
} from "../../components/instance-types";
import type { StackOutputs } from "../input/outputs";
import { requestedResources } from "../input/bounds";
import type { Submission } from "../input/plan";
import { formatBoundUsd } from "../output/numbers";
import { definedOnly } from "../../components/defined";
import type { JobDefaults } from "../../components/job-definition";

/**
 * Linux on-demand list prices (USD) of one region.
 * @see https://aws.amazon.com/ec2/pricing/on-demand/
 * @see https://aws.amazon.com/fargate/pricing/
 */
export const PRICE_TABLE = {
  region: "us-east-1",
  asOf: "2026-06",
  /** Per instance-hour, keyed in lower case. */
  instances: new Map<string, number>([
    ["m5a.large", 0.086],
    ["m5a.xlarge", 0.172],
    ["m5.large", 0.096],
    ["m5.xlarge", 0.192],
    ["m6i.large", 0.096],
    ["m7i.large", 0.1008],
    ["c5.large", 0.085],
    ["c5.xlarge", 0.17],
    ["c6i.large", 0.085],
    ["c7i.large", 0.08925],
    ["r5.large", 0.126],
    ["t3.medium", 0.0416],
    ["g4dn.xlarge", 0.526],
    ["g5.xlarge", 1.006],
    ["p3.2xlarge", 3.06],
  ]),
  /** Linux/x86, billed per second. */
  fargate: { usdPerVcpuHour: 0.04048, usdPerGbHour: 0.004445 },
} as const;

/** Per task, so per attempt. */
const FARGATE_MINIMUM_SECONDS = 60;

export interface JobResources {
  readonly vcpus: number;
  readonly memoryMiB?: number;
  readonly gpus?: number;
}

export type Pricing = ReturnType<typeof pricingOf>;

/** `--pricing` (instance types, FARGATE or FARGATE_SPOT), --price-vcpu-hour, --price-gb-hour. */
export interface UserPricing {
  readonly types?: readonly string[];
  /** The user's prices take the table's place. */
  readonly usdPerVcpuHour?: number;
  readonly usdPerGbHour?: number;
}

/** As the stack runs jobs, unless the user names instance types or Fargate (Spot stays Spot). */
export function pricingOf(outputs: StackOutputs | undefined, user: UserPricing = {}) {
  const { types = [], ...own } = user;
  const stated = COMPUTE_TYPES.find((t) => t === outputs?.computeType);
  const named = types.length > 0;
  const basis = named ? types : (outputs?.jobLimits?.basis ?? []);
  const upper = basis.map((t) => t.toUpperCase());
  const fargate = (["FARGATE_SPOT", "FARGATE"] as const).find((t) => upper.includes(t));
  return {
    compute: named
      ? (fargate ?? (stated === "SPOT" ? "SPOT" : "EC2"))
      : (stated ?? fargate ?? "EC2"),
    // The stack's outputs predate `computeType`: priced on-demand, which bounds Spot too.
    ...(!named && outputs !== undefined && stated === undefined ? { spotUnknown: true } : {}),
    instanceTypes:
      fargate === undefined && basis.length > 0 ? basis : named ? [] : DEFAULT_INSTANCE_TYPES,
    region: outputs?.region ?? PRICE_TABLE.region,
    ...own,
  };
}

const isFargate = (p: Pricing): boolean => p.compute.startsWith("FARGATE");

// The user's vCPU price replaces the whole table on EC2 and Spot.
function usesTable(p: Pricing): boolean {
  return p.usdPerVcpuHour === undefined || (isFargate(p) && p.usdPerGbHour === undefined);
}

export function pricingBasis(p: Pricing): string {
  const types = p.instanceTypes.join(", ");
  const machine = {
    EC2: `${types} on-demand`,
    SPOT: `${types} Spot, priced at on-demand: the most Spot can cost`,
    FARGATE: "Fargate on-demand",
    FARGATE_SPOT: "Fargate Spot, priced at Fargate on-demand: the most it can cost",
  }[p.compute];
  const unknown =
    p.spotUnknown === true
      ? " (or Spot, which costs at most that: the stack's outputs predate computeType)"
      : "";
  const own = Object.entries({ vCPU: p.usdPerVcpuHour, GB: p.usdPerGbHour }).flatMap(
    ([per, usd]) => (usd !== undefined ? [`$${usd} per ${per}-hour`] : []),
  );
  const tabled = `${machine}${unknown}, ${PRICE_TABLE.region} list prices of ${PRICE_TABLE.asOf}`;
  return own.length === 0
    ? tabled
    : `your prices: ${own.join(" + ")}` + (usesTable(p) ? ` (the rest: ${tabled})` : "");
}

type Rate = { readonly perHour: number; readonly on?: string } | { readonly noPrice: string };

// The job's share of the dearest type it fits on: the largest of its vCPU, memory and GPU
// shares, since what it takes of any one keeps other jobs off the rest of the instance.
function instanceRate(job: JobResources, p: Pricing): Rate {
  let dearest: { perHour: number; on: string } | undefined;
  for (const name of p.instanceTypes) {
    const price = PRICE_TABLE.instances.get(name.toLowerCase());
    const size = KNOWN_INSTANCE_TYPES[name.toLowerCase()];
    if (price === undefined || size === undefined) {
      return { noPrice: `the price table has no ${name}` };
    }
    const gpus = job.gpus ?? 0;
    const share = Math.max(
      job.vcpus / size.vcpus,
      (job.memoryMiB ?? 0) / placeableMemoryMiB(size.memoryMiB),
      gpus > 0 ? gpus / size.gpus : 0,
    );
    if (share <= 1 && (dearest === undefined || share * price > dearest.perHour)) {
      dearest = { perHour: share * price, on: name };
    }
  }
  return dearest ?? { noPrice: `the job does not fit on ${p.instanceTypes.join(", ")}` };
}

/** One attempt: Fargate prices the task; EC2 and Spot the user's vCPU price, else the share. */
export function priceRun(seconds: number, job: JobResources, p: Pricing) {
  if (usesTable(p) && p.region !== PRICE_TABLE.region) {
    return { noPrice: `the price table has ${PRICE_TABLE.region} prices only, not ${p.region}` };
  }
  const gb = (job.memoryMiB ?? 0) / 1024;
  const f = PRICE_TABLE.fargate;
  const rate: Rate =
    isFargate(p) || p.usdPerVcpuHour !== undefined
      ? { perHour: job.vcpus * (p.usdPerVcpuHour ?? f.usdPerVcpuHour) }
      : instanceRate(job, p);
  if (!("perHour" in rate)) {
    return rate;
  }
  const perGb = p.usdPerGbHour ?? (isFargate(p) ? f.usdPerGbHour : 0);
  const billed = isFargate(p) ? Math.max(seconds, FARGATE_MINIMUM_SECONDS) : seconds;
  const usd = (billed / 3600) * (rate.perHour + gb * perGb);
  return { usd, basis: pricingBasis(p), ...definedOnly({ on: rate.on }) };
}

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
  const facts = { ...(ownDefinition ? outputs.jobDefaults : undefined), ...definedOnly(given) };
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
