/**
 * jobs:submit's and jobs:retry's cost bound end to end against the local AWS servers: said
 * before anything is sent, carried by --json as numbers, and a --max-cost or the pack's cap
 * refuses before the first request.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { STACK_OUTPUTS, useLocalAws } from "../helpers/jobs-harness";
import { REPO_ROOT } from "../helpers/python";

/** The dev stack's outputs of today: m5a.large (Spot, as STACK_OUTPUTS), 16 vCPUs. */
const CURRENT_OUTPUTS = {
  ...STACK_OUTPUTS,
  jobLimits: {
    maxVcpus: 16,
    maxGpus: 0,
    largestJob: { vcpus: 2, memoryMiB: 7953, gpus: 0 },
    basis: ["m5a.large"],
  },
  jobDefaults: { vcpus: 1, memoryMiB: 1000, gpus: 0, timeoutSeconds: 3600, attempts: 3 },
};

describe("jobs:submit's and jobs:retry's cost bound against local AWS endpoints", function () {
  const aws = useLocalAws("cost", { batch: { autoAdvance: false } });
  const submit = (...args: string[]) => aws.jobs(["submit", ...args]);

  /** A sweep of 100 sets: 100 × 3 attempts × 1 h × half of $0.086 = $12.90 at most. */
  beforeEach(function () {
    fs.writeFileSync(aws.outputs, JSON.stringify(CURRENT_OUTPUTS));
    fs.writeFileSync(
      path.join(aws.dir, "sweep.json"),
      JSON.stringify({
        jobName: "sweep",
        base: { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } },
        grid: { var_a: Array.from({ length: 100 }, (_, i) => i) },
      }),
    );
  });

  /** The bucket's keys: the fake S3 keeps what earlier tests uploaded. */
  async function bucketKeys(): Promise<string[]> {
    const listed = await aws.client.send(
      new ListObjectsV2Command({ Bucket: STACK_OUTPUTS.bucketName }),
    );
    return (listed.Contents ?? []).map((o) => o.Key ?? "");
  }

  /** Runs `args`, which must be refused: exit 2, no request, no ledger, no upload. */
  async function refused(...args: string[]): Promise<string> {
    const before = await bucketKeys();
    const r = await submit(...args);
    assert.strictEqual(r.code, 2, r.stderr);
    assert.strictEqual(aws.batch.requests.length, 0);
    assert.ok(!fs.existsSync(aws.ledgerFile()), "no ledger written");
    assert.deepStrictEqual(await bucketKeys(), before, "no manifest uploaded");
    return r.stderr;
  }

  it("a dry run says the bound per submission and in total, what it leaves out, and the time", async function () {
    const r = await submit("sweep.json", "--dry-run");
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /^cost bound: the most the jobs' run time can cost \(m5a\.large Spot, priced at on-demand: the most Spot can cost, us-east-1 list prices of 2026-06\)$/m,
    );
    assert.match(
      r.stderr,
      /^ {2}sweep \(sweep\.json\): 100 × 3 attempt\(s\) × 1h00m × \$0\.0430\/h \(1 vCPU, 1,000 MiB: the larger of its vCPU and memory shares of m5a\.large, the dearest type that holds it\) = at most \$12\.90$/m,
    );
    assert.match(r.stderr, /^ {2}total: at most \$12\.90 for 1 submission\(s\)$/m);
    assert.match(
      r.stderr,
      /left out: time before RUNNING \(Batch's attempt timeout counts from RUNNING, so instance start and image pull are not bounded by it\)/,
    );
    // 300 vCPU-hours over 16 vCPUs: 18.75 h, longer than one child's 3 h.
    assert.match(
      r.stderr,
      /time: if every attempt runs to its timeout, the whole takes at least 18h45m at full width \(300\.0 vCPU-hours over the compute environment's maxVcpus 16/,
    );
    assert.strictEqual(aws.batch.requests.length, 0);
  });

  it("prints what docs/jobs.md shows for grid_sweep on the dev stack", async function () {
    const docs = fs.readFileSync(path.join(REPO_ROOT, "docs", "jobs.md"), "utf8");
    const shown = /\n```\n(cost bound:[^`]*)```/.exec(docs)?.[1];
    // The dev stack (Pulumi.dev.yaml): on-demand EC2, the tutorial's 60-second timeout.
    const dev = { ...CURRENT_OUTPUTS, computeType: "EC2" };
    dev.jobDefaults = { ...dev.jobDefaults, timeoutSeconds: 60 };
    fs.writeFileSync(aws.outputs, JSON.stringify(dev));
    // The sweep and the job file it takes its base from, as the repository has them.
    for (const file of ["examples/grid_sweep.json", "sample_job_1.json"]) {
      fs.cpSync(path.join(REPO_ROOT, "jobs", file), path.join(aws.dir, "jobs", file));
    }
    const r = await submit("jobs/examples/grid_sweep.json", "--force", "--dry-run");
    assert.strictEqual(r.code, 0, r.stderr);
    assert.ok(shown !== undefined, "docs/jobs.md shows a cost bound");
    assert.ok(r.stderr.includes(shown), `${r.stderr}\n--- docs/jobs.md shows:\n${shown}`);
  });

  it("--json carries the bound as numbers", async function () {
    const r = await submit("sweep.json", "--dry-run", "--json", "--price-vcpu-hour", "0.05");
    assert.strictEqual(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /cost bound/);
    const { cost } = JSON.parse(r.stdout) as {
      cost: { usd: number; vcpuHours: number; minHours: number; maxVcpus: number; basis: string };
    };
    // Your own $0.05 per vCPU-hour: 300 vCPU-hours = $15.
    assert.ok(Math.abs(cost.usd - 15) < 1e-9, String(cost.usd));
    assert.strictEqual(cost.vcpuHours, 300);
    assert.strictEqual(cost.minHours, 18.75);
    assert.strictEqual(cost.maxVcpus, 16);
    assert.match(cost.basis, /^your prices: \$0\.05 per vCPU-hour/);
  });

  it("--max-cost refuses a submit above it before any request: exit 2, nothing written", async function () {
    assert.match(
      await refused("sweep.json", "--max-cost", "10"),
      /the run time of these jobs can cost up to \$12\.90, above the \$10 of --max-cost: lower the array size, retryStrategy\.attempts or timeout\.attemptDurationSeconds in the files, or raise --max-cost; nothing was sent/,
    );
    await refused("sweep.json", "--max-cost", "10", "--dry-run");
    const fits = await submit("sweep.json", "--max-cost", "13");
    assert.strictEqual(fits.code, 0, fits.stderr);
    assert.strictEqual(aws.batch.count("submitjob"), 1);
  });

  it("the policy pack's maxCostUsd refuses the same way; advisory only warns", async function () {
    const config = path.join(aws.dir, "policy.json");
    fs.writeFileSync(config, JSON.stringify({ "batch-submit-cost-cap": { maxCostUsd: 5 } }));
    assert.match(
      await refused("sweep.json", "--policy-pack-config", config),
      /above the \$5 of policy batch-submit-cost-cap \(mandatory\): .* or raise maxCostUsd in the --policy-pack-config file; nothing was sent/,
    );
    fs.writeFileSync(
      config,
      JSON.stringify({
        "batch-submit-cost-cap": { enforcementLevel: "advisory", maxCostUsd: 5 },
      }),
    );
    const advisory = await submit("sweep.json", "--policy-pack-config", config, "--dry-run");
    assert.strictEqual(advisory.code, 0, advisory.stderr);
    assert.match(
      advisory.stderr,
      /warning: submitting anyway: .*above the \$5 of policy batch-submit-cost-cap \(advisory\)/,
    );
  });

  it("bounds only what the ledger lacks: a re-run does not count what was sent", async function () {
    assert.strictEqual((await submit("sweep.json")).code, 0);
    const again = await submit("sweep.json", "--max-cost", "1");
    assert.strictEqual(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /cost bound/);
  });

  it("jobs:retry says the bound of what it sends again; a cap above it refuses before any request", async function () {
    // 60 of the 100 sets fail: their retry, sweep-r1, is 60 × 3 × 1 h × $0.043 = $7.74 at most.
    const fake = await aws.startBatch({
      autoAdvance: false,
      outcome: ({ index }) =>
        index !== undefined && index < 60
          ? { status: "FAILED", exitCode: 3 }
          : { status: "SUCCEEDED" },
    });
    assert.strictEqual((await submit("sweep.json")).code, 0);
    fake.finishAll();
    const retry = (...args: string[]) => aws.jobs(["retry", "sweep", ...args]);
    const ledger = fs.readFileSync(aws.ledgerFile(), "utf8");
    const keys = await bucketKeys();
    const over = await retry("--max-cost", "7");
    assert.strictEqual(over.code, 2, over.stderr);
    assert.match(
      over.stderr,
      /^ {2}sweep-r1 \(sweep\.json\): 60 × 3 attempt\(s\) × 1h00m × \$0\.0430\/h .* = at most \$7\.74$/m,
    );
    assert.match(over.stderr, /up to \$7\.74, above the \$7 of --max-cost: .*; nothing was sent/);
    const config = path.join(aws.dir, "policy.json");
    fs.writeFileSync(config, JSON.stringify({ "batch-submit-cost-cap": { maxCostUsd: 5 } }));
    const policy = await retry("--policy-pack-config", config);
    assert.strictEqual(policy.code, 2, policy.stderr);
    assert.match(policy.stderr, /above the \$5 of policy batch-submit-cost-cap \(mandatory\)/);
    assert.strictEqual(fake.count("submitjob"), 1, "only the first submit was sent");
    assert.strictEqual(fs.readFileSync(aws.ledgerFile(), "utf8"), ledger);
    assert.deepStrictEqual(await bucketKeys(), keys, "no manifest uploaded");

    const json = await retry("--dry-run", "--json", "--price-vcpu-hour", "0.05");
    assert.strictEqual(json.code, 0, json.stderr);
    // Your own $0.05 per vCPU-hour: 180 vCPU-hours = $9.
    const { cost } = JSON.parse(json.stdout) as { cost: { usd: number } };
    assert.ok(Math.abs(cost.usd - 9) < 1e-9, String(cost.usd));
    const fits = await retry("--max-cost", "8");
    assert.strictEqual(fits.code, 0, fits.stderr);
    assert.match(fits.stderr, /^ {2}total: at most \$7\.74 for 1 submission\(s\)$/m);
    assert.deepStrictEqual(
      fake.submitted().map((j) => j.jobName),
      ["sweep", "sweep-r1"],
    );
  });

  it("--locally says nothing about AWS cost, and no --max-cost holds it", async function () {
    const small = path.join(aws.dir, "small.json");
    fs.writeFileSync(
      small,
      JSON.stringify({
        jobName: "small",
        base: { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } },
        grid: { var_a: [1] },
      }),
    );
    const root = path.join(aws.dir, "bucket");
    const r = await submit("small.json", "--locally", "--local-root", root, "--max-cost", "0");
    assert.strictEqual(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr + r.stdout, /cost bound|\$\d/);
  });

  it("gives the first 20 submissions a line each, and the total all of them", async function () {
    const r = await submit("sweep.json", "--no-array", "--dry-run");
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(r.stderr.match(/^ {2}sweep-\d+ \(sweep\.json\): 1 × 3/gm)?.length, 20);
    assert.match(r.stderr, /^ {2}\.\.\. and 80 more \(--json lists all\)$/m);
    // 100 × $0.129 = $12.90, as the array job.
    assert.match(r.stderr, /^ {2}total: at most \$12\.90 for 100 submission\(s\)$/m);
  });

  it("says so when the stack's outputs predate jobDefaults and jobLimits", async function () {
    fs.writeFileSync(aws.outputs, JSON.stringify(STACK_OUTPUTS));
    const r = await submit("sweep.json", "--dry-run");
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /sweep \(sweep\.json\): no bound: the stack's outputs predate "jobDefaults", .*run `pulumi up`/,
    );
    assert.match(
      r.stderr,
      /the stack predates its "jobLimits" output, so its maxVcpus is not known/,
    );
  });
});
