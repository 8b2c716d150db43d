/**
 * The real policy pack process, spoken to over gRPC as the engine does: what it declares,
 * what it reports per resource and per stack, and that unknown values on the wire (as the
 * engine sends them during preview) produce no violation and no "can't run" warning.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  AnalyzedResource,
  PolicyCheckResult,
  PolicyPackProcess,
  checkWithPack,
  startPolicyPack,
} from "../../policy/check/pack";
import { parsePolicyPackConfig, reconcilePolicyPackConfig } from "../../policy/check/policy-config";
import { TYPES } from "../../policy/resources";
import { UNKNOWN_SENTINELS } from "./policy-helpers";
import { computeEnvironment, jobDefinition, jobQueue } from "./fixtures";
import { childPids } from "../helpers/processes";

const STACK = { project: "batchpy", stack: "test" };
const U = UNKNOWN_SENTINELS.string;

function resource(
  type: string,
  name: string,
  inputs: object,
  extra: Partial<AnalyzedResource> = {},
): AnalyzedResource {
  return {
    urn: `urn:pulumi:test::batchpy::${type}::${name}`,
    type,
    name,
    inputs: inputs as Record<string, unknown>,
    ...extra,
  };
}

function ce(name: string, computeResources: object, state: object = {}): AnalyzedResource {
  const props = computeEnvironment();
  return resource(
    TYPES.computeEnvironment,
    name,
    { ...props, computeResources: { ...props.computeResources, ...computeResources } },
    { state: state as Record<string, unknown> },
  );
}

const names = (ds: PolicyCheckResult["diagnostics"]) =>
  ds.map((d) => `${d.policyName} ${d.enforcementLevel}`);

describe("policy pack process (gRPC, as the engine runs it)", function () {
  this.timeout(120_000);
  let pack: PolicyPackProcess;

  before(async () => {
    pack = await startPolicyPack({});
  });

  after(async () => {
    await pack?.stop();
  });

  const configure = async (config = {}) => {
    const { config: reconciled } = reconcilePolicyPackConfig(pack.info.policies, config);
    await pack.configure(STACK, reconciled);
  };

  it("declares the batchpy pack: every policy mandatory but ECR scanning, with config schemas", () => {
    assert.equal(pack.info.name, "batchpy");
    assert.equal(pack.info.version, "0.1.0");
    const levels = Object.fromEntries(pack.info.policies.map((p) => [p.name, p.enforcementLevel]));
    assert.deepEqual(levels, {
      "batch-compute-min-vcpus-zero": "mandatory",
      "batch-queue-compute-scales-to-zero": "mandatory",
      "batch-job-timeout-required": "mandatory",
      "batch-compute-max-vcpus-cap": "mandatory",
      "batch-compute-max-gpus-cap": "mandatory",
      "batch-job-retry-attempts-bounded": "mandatory",
      "batch-submit-cost-cap": "mandatory",
      "batch-compute-no-custom-service-role": "mandatory",
      "s3-bucket-public-access-blocked": "mandatory",
      "s3-bucket-tls-only": "mandatory",
      "iam-no-admin-access": "mandatory",
      "iam-job-role-bucket-scope": "mandatory",
      "batch-job-role-required": "mandatory",
      "ecr-scan-on-push": "advisory",
    });
    const cap = pack.info.policies.find((p) => p.name === "batch-compute-max-vcpus-cap");
    assert.equal(cap?.configSchema?.properties.maxVcpus.default, 64);
    const gpus = pack.info.policies.find((p) => p.name === "batch-compute-max-gpus-cap");
    assert.equal(gpus?.configSchema?.properties.maxGpus.default, 4);
  });

  it("accepts the committed example config against the pack's own schemas", () => {
    const file = path.join(__dirname, "..", "..", "policy", "policy-config.example.json");
    const example = parsePolicyPackConfig(fs.readFileSync(file, "utf8"), file);
    const { warnings } = reconcilePolicyPackConfig(pack.info.policies, example);
    assert.deepEqual(warnings, []);
  });

  it("reports a compute environment with minVcpus 2 on Analyze, description then message", async () => {
    await configure();
    const bad = ce("ce", { minVcpus: 2 });
    const ds = await pack.analyze(bad);
    assert.deepEqual(names(ds), ["batch-compute-min-vcpus-zero mandatory"]);
    assert.equal(ds[0].urn, bad.urn);
    assert.match(
      ds[0].message,
      /^Checks whether .*\nCompute environment 'ce' must scale to zero, but computeResources\.minVcpus is 2/,
    );
    assert.deepEqual(await pack.analyze(ce("ok", { minVcpus: 0 })), []);
  });

  it("reports nothing for values unknown during preview, not even a can't-run warning", async () => {
    await configure();
    const unknownFloor = ce("ce", { minVcpus: U, maxVcpus: UNKNOWN_SENTINELS.number });
    const unknownDefinition = resource(TYPES.jobDefinition, "def", {
      ...jobDefinition(),
      containerProperties: U,
      timeout: { attemptDurationSeconds: U },
      retryStrategy: U,
    });
    const unknownPolicy = resource(TYPES.iamRolePolicy, "job-access", { role: U, policy: U });
    for (const r of [unknownFloor, unknownDefinition, unknownPolicy]) {
      assert.deepEqual(await pack.analyze(r), [], r.name);
    }
  });

  it("follows propertyDependencies on AnalyzeStack while the queue's ARN is unknown", async () => {
    await configure();
    const environment = ce("ce", { minVcpus: 2 }, { arn: U });
    const queue = resource(TYPES.jobQueue, "queue", jobQueue(U), {
      dependencies: [environment.urn],
      propertyDependencies: { computeEnvironmentOrders: [environment.urn] },
    });
    const ds = await pack.analyzeStack([environment, queue]);
    assert.deepEqual(names(ds), ["batch-queue-compute-scales-to-zero mandatory"]);
    assert.equal(ds[0].urn, environment.urn);
    assert.match(ds[0].message, /Job queue 'queue' sends jobs to a compute environment/);
  });

  it("applies the policy config: an advisory level and a lower cap", async () => {
    await configure({
      "batch-compute-min-vcpus-zero": { enforcementLevel: "advisory", properties: {} },
      "batch-compute-max-vcpus-cap": { properties: { maxVcpus: 8 } },
    });
    const ds = await pack.analyze(ce("ce", { minVcpus: 2, maxVcpus: 16 }));
    assert.deepEqual(names(ds).sort(), [
      "batch-compute-max-vcpus-cap mandatory",
      "batch-compute-min-vcpus-zero advisory",
    ]);
  });

  it("disables a policy with the disabled level", async () => {
    await configure({
      "batch-compute-min-vcpus-zero": { enforcementLevel: "disabled", properties: {} },
    });
    assert.deepEqual(await pack.analyze(ce("ce", { minVcpus: 2 })), []);
  });

  it("checks a hand-made stack end to end with checkWithPack", async () => {
    const result = await checkWithPack(pack, {
      stack: STACK,
      resources: [
        resource(TYPES.iamRolePolicyAttachment, "admin", {
          role: "r",
          policyArn: "arn:aws:iam::aws:policy/AdministratorAccess",
        }),
      ],
    });
    assert.deepEqual(names(result.diagnostics), ["iam-no-admin-access mandatory"]);
    assert.equal(result.resourcesAnalyzed, 1);
  });

  it("stop() ends the pack process", async () => {
    await pack.stop();
    assert.throws(() => process.kill(pack.pid, 0), /ESRCH/);
  });
});

describe("a fresh pack, started with the stack in its environment", function () {
  this.timeout(120_000);

  it("starts, checks the resources and stops", async () => {
    const pack = await startPolicyPack({});
    try {
      const result = await checkWithPack(pack, {
        stack: STACK,
        resources: [ce("ce", { minVcpus: 1 })],
      });
      assert.deepEqual(names(result.diagnostics), ["batch-compute-min-vcpus-zero mandatory"]);
    } finally {
      await pack.stop();
    }
    assert.throws(() => process.kill(pack.pid, 0), /ESRCH/);
  });
});

function listeningSockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "TCPServerWrap").length;
}

/**
 * The listening sockets of this process once it is back to `baseline` or a second has
 * passed: a closed server's socket goes away a few ticks after its shutdown callback.
 */
async function listeningSocketsSettled(baseline: number): Promise<number> {
  for (let waited = 0; listeningSockets() > baseline && waited < 1_000; waited += 25) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return listeningSockets();
}

describe("startPolicyPack when the pack cannot start", function () {
  this.timeout(60_000);

  it("rejects at once for a pack folder that does not exist, leaving nothing running", async () => {
    // Inside the repository, so @pulumi/pulumi resolves and the spawn itself fails.
    const packDir = path.join(__dirname, "..", "..", "policy", "no-such-pack");
    const sockets = listeningSockets();
    await assert.rejects(
      startPolicyPack({ packDir }),
      /^Error: Could not start the policy pack in .*no-such-pack: /,
    );
    assert.equal(await listeningSocketsSettled(sockets), sockets, "no server is left listening");
  });

  it("rejects a pack that fails as it loads, with its error and how to see type errors", async () => {
    const packDir = fs.mkdtempSync(path.join(os.tmpdir(), "batchpy-broken-pack-"));
    try {
      const root = path.join(__dirname, "..", "..");
      fs.copyFileSync(
        path.join(root, "policy", "PulumiPolicy.yaml"),
        path.join(packDir, "PulumiPolicy.yaml"),
      );
      fs.symlinkSync(path.join(root, "node_modules"), path.join(packDir, "node_modules"));
      fs.writeFileSync(path.join(packDir, "index.ts"), 'throw new Error("broken at load");\n');
      const children = childPids();
      await assert.rejects(
        startPolicyPack({ packDir }),
        /exited \(code 32\) before serving:\n[\s\S]*Error: broken at load[\s\S]*\nRun `npx tsc --noEmit -p .*` to see type errors\.$/,
      );
      assert.deepEqual(childPids(), children, "no pack process left");
    } finally {
      fs.rmSync(packDir, { recursive: true, force: true });
    }
  });

  it("gives up a start that is aborted, stopping the pack process", async () => {
    const sockets = listeningSockets();
    const children = childPids();
    const abort = new AbortController();
    const starting = startPolicyPack({ signal: abort.signal });
    await new Promise((resolve) => setTimeout(resolve, 300)); // the pack is still loading
    const spawned = childPids().filter((pid) => !children.includes(pid));
    assert.equal(spawned.length, 1, "the pack process was started");
    abort.abort("SIGINT");
    await assert.rejects(starting, /Starting the policy pack was cancelled \(SIGINT\)/);
    assert.deepEqual(childPids(), children, "no pack process left");
    assert.equal(await listeningSocketsSettled(sockets), sockets, "no server is left listening");
  });

  it("gives up at once when aborted right after the call, and leaves no failure behind", async () => {
    // What policy:check does when the program fails first: the program's evaluation blocks
    // the event loop, so the abort lands before the pack's start is awaited at all.
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const sockets = listeningSockets();
      const children = childPids();
      const abort = new AbortController();
      const starting = startPolicyPack({ signal: abort.signal });
      abort.abort("no longer needed");
      await assert.rejects(starting, /Starting the policy pack was cancelled \(no longer needed\)/);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.deepEqual(childPids(), children, "no pack process is left");
      assert.equal(await listeningSocketsSettled(sockets), sockets, "no server is left listening");
      assert.deepEqual(unhandled, [], "no rejection was left unhandled");
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});
