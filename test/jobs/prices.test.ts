/**
 * What a run costs and what the report says the figure is: the price function against
 * hand-worked examples, how the report picks its pricing, and the words it prints.
 */
import * as assert from "assert";
import type { JobDetail } from "../../jobs/aws/api";
import { parseOutputs } from "../../jobs/input/outputs";
import { formatUsd } from "../../jobs/output/numbers";
import { formatCsv, formatTable, reportDocument } from "../../jobs/output/report-print";
import {
  PRICE_TABLE,
  priceRun,
  pricingBasis,
  pricingOf,
  type JobResources,
  type Pricing,
} from "../../jobs/report/prices";
import { buildRow, summarizeRows, unitFromDetail, type RunUnit } from "../../jobs/report/rows";
import type { Report } from "../../jobs/report/sources";
import { KNOWN_INSTANCE_TYPES } from "../../components/instance-types";

const EC2: Pricing = { compute: "EC2", instanceTypes: ["m5a.large"], region: "us-east-1" };
const FARGATE: Pricing = { compute: "FARGATE", instanceTypes: [], region: "us-east-1" };
/** What an m5a.large (8 GiB) can give one job container: 7953 MiB. */
const M5A_PLACEABLE_MIB = 7953;

function usd(price: ReturnType<typeof priceRun>): number {
  assert.ok("usd" in price, `expected a figure, got ${JSON.stringify(price)}`);
  return price.usd;
}

function noPrice(price: ReturnType<typeof priceRun>): string {
  assert.ok("noPrice" in price, `expected no price, got ${JSON.stringify(price)}`);
  return price.noPrice;
}

function close(actual: number, expected: number): void {
  assert.ok(Math.abs(actual - expected) < 1e-12, `${actual} is not ${expected}`);
}

describe("jobs/report/prices: priceRun", function () {
  const small: JobResources = { vcpus: 1, memoryMiB: 2048 };

  it("charges an m5a.large job its vCPU share: 1 of 2 vCPUs for an hour is $0.043", function () {
    const p = priceRun(3600, small, EC2);
    close(usd(p), 0.043);
    assert.ok("basis" in p);
    assert.strictEqual(p.basis, "m5a.large on-demand, us-east-1 list prices of 2026-06");
  });

  it("charges a memory-heavy job its memory share: all 7953 MiB of an m5a.large is the whole instance", function () {
    close(usd(priceRun(3600, { vcpus: 1, memoryMiB: M5A_PLACEABLE_MIB }, EC2)), 0.086);
    // 6000 of 7953 MiB is more than 1 of 2 vCPUs.
    close(usd(priceRun(1800, { vcpus: 1, memoryMiB: 6000 }, EC2)), 0.5 * (6000 / 7953) * 0.086);
  });

  it("charges a 1-GPU job on g4dn.xlarge the whole instance, not a quarter", function () {
    const gpu: Pricing = { ...EC2, instanceTypes: ["g4dn.xlarge"] };
    close(usd(priceRun(3600, { vcpus: 1, memoryMiB: 4096, gpus: 1 }, gpu)), 0.526);
    // Without the GPU: 1 of 4 vCPUs (2048 of its 15937 placeable MiB is less).
    close(usd(priceRun(3600, small, gpu)), 0.526 / 4);
  });

  it("prices on the dearest type the job fits, and says when it fits none", function () {
    const two: Pricing = { ...EC2, instanceTypes: ["m5a.large", "c5.large"] };
    // c5.large places 3960 MiB: 2048 of it is the larger share, 0.517 × $0.085 > 0.5 × $0.086.
    close(usd(priceRun(3600, small, two)), (2048 / 3960) * 0.085);
    assert.strictEqual(
      noPrice(priceRun(3600, { vcpus: 1, gpus: 1 }, two)),
      "the job does not fit on m5a.large, c5.large",
    );
  });

  it("prices Spot at its ceiling, the on-demand price, and says so", function () {
    const p = priceRun(3600, small, { ...EC2, compute: "SPOT" });
    close(usd(p), 0.043);
    assert.ok("basis" in p);
    assert.strictEqual(
      p.basis,
      "m5a.large Spot, priced at on-demand: the most Spot can cost, us-east-1 list prices of 2026-06",
    );
  });

  it("charges Fargate per vCPU-hour and GB-hour, at least a minute per attempt", function () {
    // Half an hour of 1 vCPU and 2 GB: 0.5 × ($0.04048 + 2 × $0.004445).
    close(usd(priceRun(1800, small, FARGATE)), 0.5 * 0.04937);
    close(usd(priceRun(10, small, FARGATE)), (60 / 3600) * 0.04937);
    const spot = priceRun(1800, small, { ...FARGATE, compute: "FARGATE_SPOT" });
    close(usd(spot), 0.5 * 0.04937);
    assert.ok("basis" in spot);
    assert.match(spot.basis, /^Fargate Spot, priced at Fargate on-demand: the most it can cost/);
  });

  it("has no price for a type the table lacks, never another type's", function () {
    const p4d: Pricing = { ...EC2, instanceTypes: ["p4d.24xlarge"] };
    assert.strictEqual(
      noPrice(priceRun(3600, { vcpus: 8, gpus: 1 }, p4d)),
      "the price table has no p4d.24xlarge",
    );
    const mixed: Pricing = { ...EC2, instanceTypes: ["m5a.large", "x9.mystery"] };
    assert.strictEqual(noPrice(priceRun(3600, small, mixed)), "the price table has no x9.mystery");
  });

  it("has no price for a region the table lacks, unless the user gives their own", function () {
    const ireland: Pricing = { ...EC2, region: "eu-west-1" };
    assert.strictEqual(
      noPrice(priceRun(3600, small, ireland)),
      "the price table has us-east-1 prices only, not eu-west-1",
    );
    assert.ok("noPrice" in priceRun(3600, small, { ...FARGATE, region: "eu-west-1" }));
    close(usd(priceRun(3600, small, { ...ireland, usdPerVcpuHour: 0.05 })), 0.05);
    // Fargate's memory price still comes from the table, which has no eu-west-1.
    const fargateOwn: Pricing = { ...FARGATE, region: "eu-west-1", usdPerVcpuHour: 0.05 };
    assert.ok("noPrice" in priceRun(3600, small, fargateOwn));
    assert.strictEqual(
      pricingBasis({ ...FARGATE, usdPerGbHour: 0.001 }),
      "your prices: $0.001 per GB-hour (the rest: Fargate on-demand, us-east-1 list prices of 2026-06)",
    );
  });

  it("matches instance types in any case", function () {
    const upper: Pricing = { ...EC2, instanceTypes: ["M5A.LARGE"] };
    close(usd(priceRun(3600, small, upper)), 0.043);
  });

  it("takes the user's prices over the table: vCPUs × their vCPU price, plus memory at theirs", function () {
    const own: Pricing = { ...EC2, usdPerVcpuHour: 0.01 };
    close(usd(priceRun(7200, { vcpus: 3 }, own)), 0.06);
    const both: Pricing = { ...EC2, usdPerVcpuHour: 0.01, usdPerGbHour: 0.001 };
    close(usd(priceRun(3600, small, both)), 0.01 + 2 * 0.001);
    assert.strictEqual(pricingBasis(both), "your prices: $0.01 per vCPU-hour + $0.001 per GB-hour");
  });

  it("knows the size of every type it has a price for", function () {
    for (const type of PRICE_TABLE.instances.keys()) {
      assert.ok(KNOWN_INSTANCE_TYPES[type] !== undefined, `${type} has a price but no size`);
    }
  });
});

describe("jobs/report/prices: pricingOf", function () {
  const outputs = (extra: Record<string, unknown>) =>
    parseOutputs(JSON.stringify({ region: "us-east-1", ...extra }), "outputs.json");
  const limits = (basis: string[]) => ({
    jobLimits: {
      maxVcpus: 16,
      maxGpus: 0,
      largestJob: { vcpus: 2, memoryMiB: 7953, gpus: 0 },
      basis,
    },
  });

  it("prices as the stack runs: its compute type, instance types and region", function () {
    const spot = pricingOf(outputs({ computeType: "SPOT", ...limits(["c5.large"]) }));
    assert.deepStrictEqual(spot, {
      compute: "SPOT",
      instanceTypes: ["c5.large"],
      region: "us-east-1",
    });
    const fs = pricingOf(
      outputs({ computeType: "FARGATE_SPOT", region: "eu-west-1", ...limits(["FARGATE"]) }),
    );
    assert.strictEqual(fs.compute, "FARGATE_SPOT");
    assert.strictEqual(fs.region, "eu-west-1");
  });

  it("says so when the stack's outputs do not tell on-demand from Spot", function () {
    const old = pricingOf(outputs(limits(["m5a.large"])));
    assert.strictEqual(old.spotUnknown, true);
    assert.strictEqual(
      pricingBasis(old),
      "m5a.large on-demand (or Spot, which costs at most that: the stack's outputs predate computeType), us-east-1 list prices of 2026-06",
    );
    assert.strictEqual(pricingOf(outputs(limits(["FARGATE"]))).compute, "FARGATE");
  });

  it("takes --pricing's types (Spot stays Spot) or FARGATE / FARGATE_SPOT in any case", function () {
    const spot = outputs({ computeType: "SPOT", ...limits(["m5a.large"]) });
    assert.deepStrictEqual(pricingOf(spot, { types: ["C5.large"] }), {
      compute: "SPOT",
      instanceTypes: ["C5.large"],
      region: "us-east-1",
    });
    assert.strictEqual(pricingOf(spot, { types: ["fargate_spot"] }).compute, "FARGATE_SPOT");
    assert.deepStrictEqual(pricingOf(undefined, { usdPerVcpuHour: 0.02 }), {
      ...pricingOf(undefined),
      usdPerVcpuHour: 0.02,
    });
  });
});

describe("jobs:report: the cost it prints", function () {
  const T0 = Date.parse("2026-11-30T08:00:00Z");

  function unit(index: number, over: Partial<RunUnit> = {}): RunUnit {
    return {
      job: "sw",
      index,
      jobId: `id:${index}`,
      status: "SUCCEEDED",
      exitCode: 0,
      attempts: [{ startedAt: T0, stoppedAt: T0 + 3_600_000 }],
      createdAt: T0,
      startedAt: T0,
      stoppedAt: T0 + 3_600_000,
      vcpus: 1,
      memoryMiB: 2048,
      params: new Map([["a", String(index)]]),
      ...over,
    };
  }

  function report(units: RunUnit[], prices: Pricing): Report {
    const rows = units.map((u) => buildRow({ unit: u, runs: 1 }, [], new Map(), prices, T0));
    return {
      source: "stack dev",
      generatedAt: new Date(T0).toISOString(),
      prices,
      rows,
      summary: summarizeRows(rows),
      warnings: [],
    };
  }

  it("prints currency in cents, never in exponent notation", function () {
    assert.strictEqual(formatUsd(0), "$0.00");
    assert.strictEqual(formatUsd(1.2e-8), "<$0.01");
    assert.strictEqual(formatUsd(0.0049), "<$0.01");
    assert.strictEqual(formatUsd(0.043), "$0.04");
    assert.strictEqual(formatUsd(1234.5), "$1,234.50");
    assert.strictEqual(formatUsd(undefined), "no price");
  });

  it("states the basis (Spot priced at on-demand) with the table's region and date", function () {
    const text = formatTable(report([unit(0), unit(1)], { ...EC2, compute: "SPOT" }));
    assert.match(
      text,
      /2\.000 vCPU-hours, estimated \$0\.09 \(m5a\.large Spot, priced at on-demand: the most Spot can cost, us-east-1 list prices of 2026-06; an estimate, not a bill\)/,
    );
    assert.doesNotMatch(text, /no price/);
  });

  it("shows a type the table lacks as no price, with the reason and the fix", function () {
    const r = report([unit(0)], { ...EC2, instanceTypes: ["p4d.24xlarge"] });
    const text = formatTable(r);
    assert.match(text, /SUCCEEDED +sw\[0\] +0 +1 +1 +1h00m +0s +no price/);
    assert.ok(
      text.includes(
        "1.000 vCPU-hours, no cost estimate (p4d.24xlarge on-demand, us-east-1 list prices of 2026-06; an estimate, not a bill)",
      ),
    );
    assert.match(
      text,
      /no price for 1 row\(s\): the price table has no p4d\.24xlarge; give your own with --price-vcpu-hour USD \(and --price-gb-hour USD\)/,
    );
    const csv = formatCsv(r).split("\r\n");
    assert.match(csv[0], /,costUsd,costBasis,/);
    assert.match(csv[1], /,1,,no price: the price table has no p4d\.24xlarge,/);
    const doc = JSON.parse(JSON.stringify(reportDocument(r))) as {
      prices: { basis: string; table: { region: string; asOf: string } };
      rows: { cost?: number; noPrice?: string }[];
      summary: { unpriced: number; noPrice: string[] };
    };
    assert.deepStrictEqual(doc.prices.table, { region: "us-east-1", asOf: "2026-06" });
    assert.strictEqual(doc.rows[0].cost, undefined);
    assert.strictEqual(doc.rows[0].noPrice, "the price table has no p4d.24xlarge");
    assert.deepStrictEqual(doc.summary.noPrice, ["the price table has no p4d.24xlarge"]);
  });

  it("prices a region the table lacks as no price, and totals the rows it can price", function () {
    const r = report([unit(0), unit(1)], { ...EC2, region: "eu-west-1" });
    assert.match(
      formatTable(r),
      /no price for 2 row\(s\): the price table has us-east-1 prices only, not eu-west-1;/,
    );
    const mixed = report([unit(0), unit(1, { gpus: 1 })], EC2);
    assert.match(formatTable(mixed), /estimated \$0\.04 for 1 of 2 rows \(m5a\.large on-demand/);
    assert.match(
      formatTable(mixed),
      /no price for 1 row\(s\): the job does not fit on m5a\.large;/,
    );
  });

  it("reads a job's GPUs from Batch and charges them", function () {
    const detail: JobDetail = {
      jobId: "g",
      jobName: "g",
      jobQueue: "q",
      jobDefinition: "d",
      status: "SUCCEEDED",
      startedAt: T0,
      stoppedAt: T0 + 3_600_000,
      attempts: [{ startedAt: T0, stoppedAt: T0 + 3_600_000 }],
      container: {
        resourceRequirements: [
          { type: "VCPU", value: "1" },
          { type: "MEMORY", value: "4096" },
          { type: "GPU", value: "1" },
        ],
      },
    };
    const u = unitFromDetail(detail, { job: "g" });
    assert.strictEqual(u.gpus, 1);
    const row = buildRow(
      { unit: u, runs: 1 },
      [],
      new Map(),
      { ...EC2, instanceTypes: ["g4dn.xlarge"] },
      T0,
    );
    close(row.cost ?? NaN, 0.526);
  });
});
