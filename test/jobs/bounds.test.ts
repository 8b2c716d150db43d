/**
 * jobs:submit holds job files to the policy pack's bounds (one shared module, the same
 * --policy-pack-config file) and refuses jobs the stack can never place (jobLimits).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { DEFAULT_BOUNDS } from "../../policy/bounds";
import { boundsFromPolicyConfig } from "../../policy/check/policy-config";
import * as policyCost from "../../policy/cost";
import * as policyJobDefinition from "../../policy/batch-job-definition";
import { FatalError } from "../../jobs/errors";
import { retryRuleProblem } from "../../jobs/input/bounds";
import { parseOutputs } from "../../jobs/input/outputs";
import { STACK_OUTPUTS, runJobs, tempDir } from "../helpers/jobs-harness";

const HOST_ONLY: NonNullable<Parameters<typeof retryRuleProblem>[0]>["evaluateOnExit"] & object = [
  { onStatusReason: "Host EC2*", action: "RETRY" },
  { onReason: "*", action: "EXIT" },
];
const JOB_LIMITS = {
  maxVcpus: 16,
  maxGpus: 0,
  largestJob: { vcpus: 2, memoryMiB: 7680, gpus: 0 },
  basis: ["m5a.large"],
};

describe("jobs:submit enforces the policy pack's bounds", function () {
  let dir: string;
  beforeEach(function () {
    dir = tempDir("bounds");
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** `jobs submit --dry-run` of `jobs` (name -> extra submit-job fields). */
  async function dryRun(
    jobs: Record<string, Record<string, unknown>>,
    extra: string[] = [],
    outputs: Record<string, unknown> = { ...STACK_OUTPUTS, jobLimits: JOB_LIMITS },
  ) {
    fs.writeFileSync(path.join(dir, "outputs.json"), JSON.stringify(outputs));
    for (const [name, fields] of Object.entries(jobs)) {
      const { containerOverrides, ...rest } = fields as { containerOverrides?: object };
      fs.writeFileSync(
        path.join(dir, `${name}.json`),
        JSON.stringify(
          {
            containerOverrides: {
              environment: [{ name: "save_name", value: "s" }],
              ...containerOverrides,
            },
            ...rest,
          },
          null,
          2,
        ),
      );
    }
    return runJobs(
      [
        "submit",
        "--dry-run",
        ...Object.keys(jobs).map((n) => `${n}.json`),
        "--outputs",
        "outputs.json",
        "--state-dir",
        "state",
        ...extra,
      ],
      { cwd: dir },
    );
  }

  it("uses the pack's own defaults: the policies and jobs:submit read one module", function () {
    for (const [policy, setting] of [
      [policyJobDefinition.batchJobTimeoutRequired, "maxAttemptDurationSeconds"],
      [policyCost.batchJobRetryAttemptsBounded, "maxAttempts"],
      [policyCost.batchComputeMaxVcpusCap, "maxVcpus"],
    ] as const) {
      assert.strictEqual(
        policy.configSchema?.properties?.[setting]?.default,
        DEFAULT_BOUNDS[setting].value,
        policy.name,
      );
    }
  });

  it("refuses a ten-year timeout and ten attempts retrying every exit code, naming the policy", async function () {
    const r = await dryRun({
      long: { timeout: { attemptDurationSeconds: 315_360_000 } },
      retries: { retryStrategy: { attempts: 10 } },
      exits: {
        retryStrategy: { attempts: 3, evaluateOnExit: [{ onExitCode: "*", action: "RETRY" }] },
      },
    });
    assert.strictEqual(r.code, 2, r.stdout);
    assert.match(
      r.stderr,
      /long\.json:\d+:\d+: timeout\.attemptDurationSeconds: 315360000 seconds is above the 86400 the policy batch-job-timeout-required \(mandatory\) allows/,
    );
    assert.match(
      r.stderr,
      /retries\.json:\d+:\d+: retryStrategy\.attempts: 10 attempts is above the 3 the policy batch-job-retry-attempts-bounded \(mandatory\) allows/,
    );
    assert.match(
      r.stderr,
      /retries\.json.*retries every failure, the script's own exit codes included/,
    );
    assert.match(r.stderr, /exits\.json.*evaluateOnExit\[0\] retries every failure/);
    assert.match(r.stderr, /nothing was submitted/);
  });

  it("takes the bounds from the same --policy-pack-config file the pack reads", async function () {
    fs.writeFileSync(
      path.join(dir, "policy.json"),
      JSON.stringify({
        "batch-job-retry-attempts-bounded": { enforcementLevel: "mandatory", maxAttempts: 10 },
        "batch-job-timeout-required": "advisory",
      }),
    );
    const r = await dryRun(
      {
        ok: {
          retryStrategy: { attempts: 10, evaluateOnExit: HOST_ONLY },
          timeout: { attemptDurationSeconds: 172_800 },
        },
      },
      ["--policy-pack-config", "policy.json"],
    );
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /note: ok\.json:.*172800 seconds is above the 86400 the policy batch-job-timeout-required \(advisory\)/,
    );
    fs.writeFileSync(
      path.join(dir, "policy.json"),
      JSON.stringify({ "batch-job-retry-attempts-bounded": { maxAttempts: 11 } }),
    );
    const bad = await dryRun({ ok: {} }, ["--policy-pack-config", "policy.json"]);
    assert.strictEqual(bad.code, 2);
    assert.match(
      bad.stderr,
      /policy\.json: "batch-job-retry-attempts-bounded": maxAttempts must be <= 10, not 11\./,
    );
  });

  it("refuses what can never be placed, naming the instance types and the limit", async function () {
    const r = await dryRun({
      big: {
        containerOverrides: {
          resourceRequirements: [
            { type: "VCPU", value: "4" },
            { type: "MEMORY", value: "16384" },
          ],
        },
      },
      huge: { containerOverrides: { resourceRequirements: [{ type: "VCPU", value: "96" }] } },
      elsewhere: {
        jobQueue: "other-queue",
        containerOverrides: { resourceRequirements: [{ type: "VCPU", value: "32" }] },
      },
    });
    assert.strictEqual(r.code, 2);
    assert.match(
      r.stderr,
      /big\.json:\d+:\d+: containerOverrides\.resourceRequirements\[0\]\.value: can never be placed: 4 vCPUs per job, but the largest job m5a\.large can place has 2, so this job would sit in RUNNABLE until the queue cancels it; ask for at most that, or allow a larger instance type in the stack/,
    );
    assert.match(
      r.stderr,
      /big\.json:\d+:\d+: containerOverrides\.resourceRequirements\[1\]\.value: can never be placed: 16384 MiB per job, but the largest job m5a\.large can place has 7680 MiB/,
    );
    assert.match(
      r.stderr,
      /huge\.json.*96 vCPUs is more than the 64 the policy batch-compute-max-vcpus-cap/,
    );
    assert.doesNotMatch(r.stderr, /elsewhere\.json/, "another queue is not this stack's to judge");
  });

  it("says once that placement was not checked on a stack that predates jobLimits", async function () {
    const vcpus = { containerOverrides: { resourceRequirements: [{ type: "VCPU", value: "4" }] } };
    const r = await dryRun({ a: vcpus, b: vcpus }, [], STACK_OUTPUTS);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(
      r.stderr.match(/placement check .* was skipped: the stack predates its "jobLimits" output/g)
        ?.length,
      1,
    );
  });

  it("--ignore-policy-bounds submits anyway and lists what it let through", async function () {
    const r = await dryRun({ long: { timeout: { attemptDurationSeconds: 100_000 } } }, [
      "--ignore-policy-bounds",
    ]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /warning: --ignore-policy-bounds: submitting anyway: long\.json:.*100000 seconds is above the 86400/,
    );
  });

  it("retry rules: host failures only, ending in a catch-all EXIT", function () {
    assert.strictEqual(retryRuleProblem({ attempts: 3, evaluateOnExit: HOST_ONLY }), undefined);
    assert.strictEqual(retryRuleProblem({ attempts: 1 }), undefined);
    assert.match(retryRuleProblem({ attempts: 2, evaluateOnExit: [] })!, /retries every failure/);
    assert.match(
      retryRuleProblem({ attempts: 2, evaluateOnExit: [{ onExitCode: "1", action: "RETRY" }] })!,
      /exit codes matching "1"/,
    );
    assert.match(
      retryRuleProblem({ attempts: 2, evaluateOnExit: [HOST_ONLY[0]] })!,
      /no catch-all EXIT rule/,
    );
    assert.strictEqual(boundsFromPolicyConfig("", "p.json").problems.length, 0);
    assert.strictEqual(boundsFromPolicyConfig("", "p.json").costCap, undefined);
    assert.deepStrictEqual(
      boundsFromPolicyConfig('{"batch-submit-cost-cap": {"maxCostUsd": 25}}', "p.json").costCap,
      { value: 25, level: "mandatory" },
    );
    assert.match(
      boundsFromPolicyConfig('{"batch-submit-cost-cap": {"maxCostUsd": -1}}', "p.json").problems[0],
      /batch-submit-cost-cap.*maxCostUsd/,
    );
    assert.match(
      boundsFromPolicyConfig("[", "p.json").problems[0],
      /^p\.json:1:2: .*the policy config must be JSON/,
    );
    assert.strictEqual(
      boundsFromPolicyConfig('{"all": "disabled"}', "p.json").bounds.maxVcpus.level,
      "disabled",
    );
  });

  it("reads jobLimits as optional, and refuses a malformed one naming the source", function () {
    assert.deepStrictEqual(
      parseOutputs(JSON.stringify({ ...STACK_OUTPUTS, jobLimits: JOB_LIMITS }), "o.json").jobLimits,
      JOB_LIMITS,
    );
    assert.strictEqual(parseOutputs(JSON.stringify(STACK_OUTPUTS), "o.json").jobLimits, undefined);
    assert.throws(
      () =>
        parseOutputs(
          JSON.stringify({ jobLimits: { ...JOB_LIMITS, largestJob: { vcpus: "2" } } }),
          "o.json",
        ),
      (e: Error) =>
        e instanceof FatalError &&
        /o\.json: output "jobLimits" has largestJob\.vcpus = "2"/.test(e.message),
    );
  });
});
