/**
 * Cost estimates for `jobs:report`: a small dated table of on-demand list prices, and the
 * arithmetic. An estimate, not a bill: it charges each job its share of an instance (its
 * vCPUs × run time at the instance's price per vCPU), ignores idle instance time, EBS,
 * requests and data transfer, and Spot discounts. Users set their own prices with
 * `--price-vcpu-hour` and `--price-gb-hour`.
 */

/** When the prices below were read from the AWS pricing pages (us-east-1, Linux, on-demand). */
const PRICES_AS_OF = "2026-06";
const PRICES_REGION = "us-east-1";

/** On-demand price per instance-hour (USD) and vCPUs, for the types a stack typically uses. */
const INSTANCE_PRICES: Readonly<Record<string, { usdPerHour: number; vcpus: number }>> = {
  "m5a.large": { usdPerHour: 0.086, vcpus: 2 },
  "m5a.xlarge": { usdPerHour: 0.172, vcpus: 4 },
  "m5.large": { usdPerHour: 0.096, vcpus: 2 },
  "m5.xlarge": { usdPerHour: 0.192, vcpus: 4 },
  "m6i.large": { usdPerHour: 0.096, vcpus: 2 },
  "m7i.large": { usdPerHour: 0.1008, vcpus: 2 },
  "c5.large": { usdPerHour: 0.085, vcpus: 2 },
  "c5.xlarge": { usdPerHour: 0.17, vcpus: 4 },
  "c6i.large": { usdPerHour: 0.085, vcpus: 2 },
  "c7i.large": { usdPerHour: 0.08925, vcpus: 2 },
  "r5.large": { usdPerHour: 0.126, vcpus: 2 },
  "t3.medium": { usdPerHour: 0.0416, vcpus: 2 },
  "g4dn.xlarge": { usdPerHour: 0.526, vcpus: 4 },
  "g5.xlarge": { usdPerHour: 1.006, vcpus: 4 },
  "p3.2xlarge": { usdPerHour: 3.06, vcpus: 8 },
};

/**
 * Fargate (Linux/x86), billed per second for the task's vCPUs and memory with a one-minute
 * minimum. Fargate Spot is priced by the market (often ~70% less); this is its upper bound.
 */
export const FARGATE_PRICES = { usdPerVcpuHour: 0.04048, usdPerGbHour: 0.004445 } as const;
const FARGATE_MINIMUM_SECONDS = 60;

/** The stack's default instance type (components/compute-environment.ts). */
export const DEFAULT_PRICING_BASIS = "m5a.large";

export interface Prices {
  readonly usdPerVcpuHour: number;
  readonly usdPerGbHour: number;
  /** Billing minimum per attempt (Fargate: 60 s). */
  readonly minimumSeconds: number;
  /** Where the prices come from, as shown in the report. */
  readonly basis: string;
}

/**
 * Prices for a basis: "FARGATE"/"FARGATE_SPOT", or instance types (the dearest per vCPU is
 * used, so the estimate errs high); user prices override either part.
 */
export function resolvePrices(
  basis: readonly string[],
  user: { usdPerVcpuHour?: number; usdPerGbHour?: number } = {},
): Prices {
  const fargate = basis.some((b) => b.toUpperCase().startsWith("FARGATE"));
  let vcpu: number;
  let gb = 0;
  let minimumSeconds = 0;
  let shown: string;
  if (fargate) {
    vcpu = FARGATE_PRICES.usdPerVcpuHour;
    gb = FARGATE_PRICES.usdPerGbHour;
    minimumSeconds = FARGATE_MINIMUM_SECONDS;
    shown = `Fargate on-demand, ${PRICES_REGION}, ${PRICES_AS_OF}`;
  } else {
    const known = basis.filter((t) => INSTANCE_PRICES[t] !== undefined);
    const types = known.length > 0 ? known : [DEFAULT_PRICING_BASIS];
    const perVcpu = types.map((t) => INSTANCE_PRICES[t].usdPerHour / INSTANCE_PRICES[t].vcpus);
    vcpu = Math.max(...perVcpu);
    const unknown = basis.filter((t) => INSTANCE_PRICES[t] === undefined);
    shown =
      `${types.join(", ")} on-demand, ${PRICES_REGION}, ${PRICES_AS_OF}` +
      (unknown.length > 0 ? ` (no price for ${unknown.join(", ")})` : "");
  }
  const custom = user.usdPerVcpuHour !== undefined || user.usdPerGbHour !== undefined;
  return {
    usdPerVcpuHour: user.usdPerVcpuHour ?? vcpu,
    usdPerGbHour: user.usdPerGbHour ?? gb,
    minimumSeconds,
    basis: custom ? `your prices (others: ${shown})` : shown,
  };
}

/** USD for `seconds` of `vcpus` and `memoryMiB`, per attempt (so minimums apply per attempt). */
export function estimateCost(
  attemptsSeconds: readonly number[],
  vcpus: number,
  memoryMiB: number | undefined,
  prices: Prices,
): number {
  let usd = 0;
  for (const s of attemptsSeconds) {
    const hours = Math.max(s, prices.minimumSeconds) / 3600;
    usd += hours * vcpus * prices.usdPerVcpuHour;
    if (memoryMiB !== undefined) {
      usd += hours * (memoryMiB / 1024) * prices.usdPerGbHour;
    }
  }
  return usd;
}
