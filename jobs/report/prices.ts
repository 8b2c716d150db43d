/** What run time costs, from a dated table of list prices: docs/jobs.md, "Cost is an estimate". */
import {
  COMPUTE_TYPES,
  DEFAULT_INSTANCE_TYPES,
  KNOWN_INSTANCE_TYPES,
  placeableMemoryMiB,
  type ComputeType,
} from "../../components/instance-types";
import type { StackOutputs } from "../input/outputs";

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

export interface Pricing {
  readonly compute: ComputeType;
  /** The stack's outputs predate `computeType`: priced on-demand, which bounds Spot too. */
  readonly spotUnknown?: boolean;
  readonly instanceTypes: readonly string[];
  readonly region: string;
  /** The user's prices take the table's place. */
  readonly usdPerVcpuHour?: number;
  readonly usdPerGbHour?: number;
}

/** `on`: the instance type priced, on EC2 and Spot. */
export type Price =
  | { readonly usd: number; readonly basis: string; readonly on?: string }
  | { readonly noPrice: string };

/** `--pricing` (instance types, FARGATE or FARGATE_SPOT), --price-vcpu-hour, --price-gb-hour. */
export type UserPricing = Pick<Pricing, "usdPerVcpuHour" | "usdPerGbHour"> & {
  readonly types?: readonly string[];
};

/** As the stack runs jobs, unless the user names instance types or Fargate (Spot stays Spot). */
export function pricingOf(outputs: StackOutputs | undefined, user: UserPricing = {}): Pricing {
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
  const table = `${PRICE_TABLE.region} list prices of ${PRICE_TABLE.asOf}`;
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
  const tabled = `${machine}${unknown}, ${table}`;
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
export function priceRun(seconds: number, job: JobResources, p: Pricing): Price {
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
  return { usd, basis: pricingBasis(p), ...(rate.on !== undefined ? { on: rate.on } : {}) };
}
