/**
 * The cost bound of a submit, against figures worked out by hand from the price table
 * (us-east-1, 2026-06): m5a.large $0.086/h with 2 vCPUs and 7,953 MiB a job can use,
 * c5.large $0.085/h with 2 vCPUs and 3,960 MiB, Fargate $0.04048 per vCPU-hour and
 * $0.004445 per GB-hour.
 */
import * as assert from "assert";
import { costBound, costCapProblem } from "../../jobs/report/prices";
import { formatBoundUsd } from "../../jobs/output/numbers";
import type { StackOutputs } from "../../jobs/input/outputs";
import type { Submission } from "../../jobs/input/plan";
import type { SubmitJobRequest } from "../../jobs/input/job-file";

const QUEUE = "arn:aws:batch:us-east-1:1:job-queue/q";
const DEFINITION = "arn:aws:batch:us-east-1:1:job-definition/d:1";

const STACK: StackOutputs = {
  jobQueueArn: QUEUE,
  jobDefinitionArn: DEFINITION,
  region: "us-east-1",
  computeType: "EC2",
  jobLimits: {
    maxVcpus: 16,
    maxGpus: 0,
    largestJob: { vcpus: 2, memoryMiB: 7953, gpus: 0 },
    basis: ["m5a.large"],
  },
  jobDefaults: { vcpus: 1, memoryMiB: 1000, gpus: 0, timeoutSeconds: 3600, attempts: 3 },
};

function job(fields: Partial<SubmitJobRequest> = {}, arraySize?: number): Submission {
  const request = { jobName: "j", jobQueue: QUEUE, jobDefinition: DEFINITION, ...fields };
  return {
    kind: "single",
    file: "j.json",
    jobName: "j",
    request,
    hash: "0",
    ...(arraySize !== undefined ? { arraySize } : {}),
  };
}

const memory = (mib: number): Partial<SubmitJobRequest> => ({
  containerOverrides: { resourceRequirements: [{ type: "MEMORY", value: String(mib) }] },
});

/** Equal within a billionth of a dollar: the figures are floating point. */
const close = (actual: number, expected: number) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${actual} != ${expected}`);

describe("the cost bound of a submit", () => {
  it("prices EC2 by the vCPU share: 1 of m5a.large's 2 vCPUs, 3 attempts of an hour", () => {
    // max(1/2, 1000/7953) = 0.5 of $0.086 = $0.043 an hour; × 3 attempts × 1 h = $0.129.
    const bound = costBound([job()], STACK);
    close(bound.usd, 0.129);
    assert.strictEqual(bound.submissions[0].instanceType, "m5a.large");
    assert.strictEqual(bound.unpriced, 0);
    assert.match(bound.basis, /m5a\.large on-demand, us-east-1 list prices of 2026-06/);
  });

  it("prices EC2 by the memory share: a job whose memory fills an m5a.large pays for all of it", () => {
    // max(1/2, 7953/7953) = 1: $0.086 an hour × 3 attempts × 1 h = $0.258.
    close(costBound([job(memory(7953))], STACK).usd, 0.258);
    // 6000/7953 of $0.086 × 3 = $0.194637...
    close(costBound([job(memory(6000))], STACK).usd, (6000 / 7953) * 0.086 * 3);
  });

  it("uses the dearest share among the types that can hold the job, and names it", () => {
    const both = { ...STACK, jobLimits: { ...STACK.jobLimits!, basis: ["m5a.large", "c5.large"] } };
    // 1000 MiB: m5a.large 0.5 × $0.086 = $0.043 beats c5.large 0.5 × $0.085 = $0.0425.
    assert.strictEqual(costBound([job()], both).submissions[0].instanceType, "m5a.large");
    // 3000 MiB: c5.large 3000/3960 × $0.085 = $0.06439 beats m5a.large 0.5 × $0.086.
    const big = costBound([job(memory(3000))], both);
    assert.strictEqual(big.submissions[0].instanceType, "c5.large");
    close(big.usd, (3000 / 3960) * 0.085 * 3);
    // 5000 MiB does not fit c5.large: m5a.large's 5000/7953 share.
    const bigger = costBound([job(memory(5000))], both);
    assert.strictEqual(bigger.submissions[0].instanceType, "m5a.large");
  });

  it("bounds Spot at the on-demand price, and says so", () => {
    const bound = costBound([job()], { ...STACK, computeType: "SPOT" });
    close(bound.usd, 0.129);
    assert.match(bound.basis, /Spot, priced at on-demand: the most Spot can cost/);
  });

  it("prices Fargate per vCPU-hour and GB-hour, per second with a one-minute minimum", () => {
    const fargate: StackOutputs = {
      ...STACK,
      computeType: "FARGATE",
      jobLimits: { ...STACK.jobLimits!, basis: ["FARGATE"] },
      jobDefaults: { vcpus: 0.25, memoryMiB: 512, gpus: 0, timeoutSeconds: 120, attempts: 1 },
    };
    // 0.25 × $0.04048 + 0.5 GB × $0.004445 = $0.0123425 an hour.
    const hourly = 0.25 * 0.04048 + 0.5 * 0.004445;
    close(costBound([job()], fargate).usd, (hourly * 120) / 3600);
    // 30 seconds (below Batch's own minimum, to show the rule) is billed as 60.
    const short = job({ timeout: { attemptDurationSeconds: 30 } });
    close(costBound([short], fargate).usd, (hourly * 60) / 3600);
    assert.strictEqual(costBound([job()], fargate).submissions[0].instanceType, undefined);
  });

  it("multiplies by the attempts: the file's retryStrategy, else the definition's", () => {
    close(costBound([job({ retryStrategy: { attempts: 1 } })], STACK).usd, 0.043);
    close(costBound([job({ retryStrategy: { attempts: 5 } })], STACK).usd, 0.215);
    close(costBound([job({ timeout: { attemptDurationSeconds: 600 } })], STACK).usd, 0.0215);
  });

  it("bounds an array of 10,000 and the time it takes at the environment's full width", () => {
    // 10,000 × 3 × 1 h × $0.043 = $1,290; 30,000 vCPU-hours over 16 vCPUs = 1,875 h.
    const bound = costBound([job({}, 10_000)], STACK);
    close(bound.usd, 1290);
    close(bound.vcpuHours, 30_000);
    close(bound.minHours, 1875);
    assert.strictEqual(bound.maxVcpus, 16);
    // One job: its 3 attempts of an hour one after another, wider than 3/16 h.
    close(costBound([job()], STACK).minHours, 3);
  });

  it("sums the submissions, and leaves out of the sum those without a figure", () => {
    const other = job({ jobQueue: "arn:aws:batch:us-east-1:1:job-queue/other" });
    const bound = costBound([job(), job({}, 10), other], STACK);
    close(bound.usd, 0.129 + 1.29);
    assert.strictEqual(bound.unpriced, 1);
    assert.match(bound.submissions[2].noPrice ?? "", /job-queue\/other, not the stack's/);
  });

  it("says plainly that a type or region the table lacks has no price, instead of guessing", () => {
    const odd = { ...STACK, jobLimits: { ...STACK.jobLimits!, basis: ["m5a.large", "x9.huge"] } };
    assert.strictEqual(
      costBound([job()], odd).submissions[0].noPrice,
      "the price table has no x9.huge",
    );
    const ireland = costBound([job()], { ...STACK, region: "eu-west-1" });
    assert.strictEqual(
      ireland.submissions[0].noPrice,
      "the price table has us-east-1 prices only, not eu-west-1",
    );
    assert.strictEqual(ireland.usd, 0);
    // The user's own prices price it: $0.05 per vCPU-hour × 1 vCPU × 3 h.
    close(
      costBound([job()], { ...STACK, region: "eu-west-1" }, { usdPerVcpuHour: 0.05 }).usd,
      0.15,
    );
  });

  it("needs the definition's defaults for what the file leaves out", () => {
    const old = { ...STACK, jobDefaults: undefined, jobLimits: undefined };
    assert.match(
      costBound([job()], old).submissions[0].noPrice ?? "",
      /predate "jobDefaults", which gives the vcpus, memoryMiB, timeoutSeconds, attempts .*pulumi up/,
    );
    const whole = job({
      containerOverrides: {
        resourceRequirements: [
          { type: "VCPU", value: "2" },
          { type: "MEMORY", value: "2048" },
        ],
      },
      timeout: { attemptDurationSeconds: 1800 },
      retryStrategy: { attempts: 2 },
    });
    // 2/2 of m5a.large: $0.086 × 0.5 h × 2 attempts = $0.086; no maxVcpus: the attempts alone.
    const bound = costBound([whole], old);
    close(bound.usd, 0.086);
    assert.strictEqual(bound.maxVcpus, undefined);
    close(bound.minHours, 1);
    const foreign = costBound([job({ jobDefinition: "theirs:4" })], STACK);
    assert.match(
      foreign.submissions[0].noPrice ?? "",
      /job definition theirs:4 is not the stack's/,
    );
  });

  it("holds the bound to a cap, naming the figure and the fix", () => {
    const bound = costBound([job({}, 10_000)], STACK);
    const cap = { usd: 1000, source: "--max-cost", fix: "raise --max-cost" };
    assert.match(
      costCapProblem(bound, cap) ?? "",
      /can cost up to \$1,290\.00, above the \$1,000 of --max-cost: lower .* or raise --max-cost/,
    );
    assert.strictEqual(costCapProblem(bound, { ...cap, usd: 1290 }), undefined);
    const unpriced = costBound([job()], { ...STACK, region: "eu-west-1" });
    assert.match(costCapProblem(unpriced, cap) ?? "", /no cost bound .* --price-vcpu-hour/);
  });

  it("shows a bound rounded up to the cent: 'at most' never undercuts", () => {
    // grid_sweep on the dev stack: 6 × 3 × 60 s × $0.043/h = $0.0129.
    assert.strictEqual(formatBoundUsd(0.0129), "$0.02");
    assert.strictEqual(formatBoundUsd(0.129), "$0.13");
    assert.strictEqual(formatBoundUsd(1290), "$1,290.00");
    assert.strictEqual(formatBoundUsd(0), "$0.00");
  });
});
