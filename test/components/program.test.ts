import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { evaluateProgram } from "../../policy/check/evaluate";
import { OUTPUT_KEYS } from "../../jobs/input/outputs";
import { IMDS_BLOCK_USER_DATA } from "../../components/compute-environment";
import { json, MockedResource, ofType, single } from "../helpers/pulumi";

const ROOT = path.resolve(__dirname, "..", "..");
const CE_TYPE = "aws:batch/computeEnvironment:ComputeEnvironment";
type Evaluation = Awaited<ReturnType<typeof evaluateProgram>>;

function computeResourcesOf(run: Evaluation): Record<string, unknown> {
  return single(run.resources, CE_TYPE).inputs.computeResources as Record<string, unknown>;
}

/** The inputs of everything that builds or names the image, and the image jobs run. */
function imageInputs(run: Evaluation): unknown {
  const build = single(run.resources, "docker-build:index:Image");
  const definition = single(run.resources, "aws:batch/jobDefinition:JobDefinition");
  return {
    build: build.inputs,
    repository: single(run.resources, "aws:ecr/repository:Repository").inputs,
    image: json(definition.inputs.containerProperties).image,
  };
}

/** Copies what `pulumi up` reads (program, components, container, stack files) to `dir`. */
function copyProject(dir: string): void {
  for (const entry of ["index.ts", "components", "container", "Pulumi.yaml", "Pulumi.dev.yaml"]) {
    fs.cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
}

describe("the program under the dev stack", () => {
  let dev: Evaluation;
  before(async () => {
    dev = await evaluateProgram({ stack: "dev" });
  });

  it("exports exactly what the jobs tools read", () => {
    // jobLimits and jobDefaults are read as optional by the jobs tool (older stacks lack them).
    assert.deepStrictEqual(
      Object.keys(dev.outputs).sort(),
      [...new Set<string>([...OUTPUT_KEYS, "jobLimits", "jobDefaults"])].sort(),
    );
    const bucket = single(dev.resources, "aws:s3/bucket:Bucket");
    const queue = single(dev.resources, "aws:batch/jobQueue:JobQueue");
    const definition = single(dev.resources, "aws:batch/jobDefinition:JobDefinition");
    assert.strictEqual(dev.outputs.bucketName, bucket.state.bucket);
    assert.strictEqual(dev.outputs.jobQueueArn, queue.state.arn);
    assert.strictEqual(dev.outputs.jobQueueName, queue.state.name);
    assert.strictEqual(dev.outputs.jobDefinitionArn, definition.state.arn);
    assert.strictEqual(dev.outputs.region, "us-east-1");
    assert.strictEqual(json(definition.inputs.containerProperties).image, dev.outputs.imageUri);
  });

  it("creates one of each component, every resource inside one", () => {
    const components = dev.resources.filter((r) => !r.custom && r.type.startsWith("batchpy:"));
    assert.deepStrictEqual(components.map((c) => c.type).sort(), [
      "batchpy:compute:ComputeEnvironment",
      "batchpy:iam:JobRoles",
      "batchpy:image:Image",
      "batchpy:job:JobDefinition",
      "batchpy:queue:JobQueue",
      "batchpy:storage:Storage",
    ]);
    for (const c of components) {
      assert.strictEqual(c.name, "batchpy-dev");
    }
    const componentUrns = new Set(components.map((c) => c.urn));
    for (const r of dev.resources.filter((r) => !componentUrns.has(r.urn))) {
      assert.ok(r.parent && componentUrns.has(r.parent), `${r.urn} has no component parent`);
    }
  });

  it("applies the tutorial's settings: 0 to 16 m5a.large vCPUs, 1 vCPU and 1000 MiB jobs, 60 s timeout", () => {
    const ce = single(dev.resources, "aws:batch/computeEnvironment:ComputeEnvironment");
    const cr = ce.inputs.computeResources as Record<string, unknown>;
    assert.strictEqual(cr.minVcpus, 0);
    assert.strictEqual(cr.maxVcpus, 16);
    assert.deepStrictEqual(cr.instanceTypes, ["m5a.large"]);
    const definition = single(dev.resources, "aws:batch/jobDefinition:JobDefinition");
    assert.deepStrictEqual(definition.inputs.timeout, { attemptDurationSeconds: 60 });
    assert.deepStrictEqual(json(definition.inputs.containerProperties).resourceRequirements, [
      { type: "VCPU", value: "1" },
      { type: "MEMORY", value: "1000" },
    ]);
    const queue = single(dev.resources, "aws:batch/jobQueue:JobQueue");
    assert.deepStrictEqual(queue.inputs.computeEnvironmentOrders, [
      { computeEnvironment: ce.state.arn, order: 0 },
    ]);
  });

  it("wires the job to its bucket and roles with no hand-edited names", () => {
    const definition = single(dev.resources, "aws:batch/jobDefinition:JobDefinition");
    const container = json(definition.inputs.containerProperties);
    const roles = ofType(dev.resources, "aws:iam/role:Role");
    assert.strictEqual(
      container.jobRoleArn,
      roles.find((r) => r.name === "batchpy-dev-job")?.state.arn,
    );
    assert.strictEqual(
      container.executionRoleArn,
      roles.find((r) => r.name === "batchpy-dev-execution")?.state.arn,
    );
    assert.deepStrictEqual((container.environment as { name: string; value: string }[])[0], {
      name: "BATCHPY_BUCKET",
      value: dev.outputs.bucketName,
    });
    const inline = single(dev.resources, "aws:iam/rolePolicy:RolePolicy");
    assert.ok(
      String(inline.inputs.policy).includes(
        `arn:aws:s3:::${String(dev.outputs.bucketName)}/inputs/*`,
      ),
    );
  });

  it("tags every taggable resource with the project and stack", () => {
    // docker-build's `tags` are image tags, not AWS tags.
    const taggable = dev.resources.filter(
      (r) => r.custom && "tags" in r.inputs && !r.type.startsWith("docker-build:"),
    );
    assert.ok(taggable.length >= 10, `only ${taggable.length} tagged resources`);
    for (const r of taggable) {
      assert.deepStrictEqual(
        r.inputs.tags,
        { Project: "batchpy", Stack: "dev", ManagedBy: "pulumi" },
        r.urn,
      );
    }
  });

  it("empties the bucket and the image repository on destroy in dev", () => {
    assert.strictEqual(single(dev.resources, "aws:s3/bucket:Bucket").inputs.forceDestroy, true);
    assert.strictEqual(
      single(dev.resources, "aws:ecr/repository:Repository").inputs.forceDelete,
      true,
    );
  });

  it("switches the job definition to Fargate with the compute environment", async () => {
    const fargate = await evaluateProgram({
      stack: "dev",
      configOverrides: { "batchpy:computeType": "FARGATE", "batchpy:jobMemoryMiB": "2048" },
      configRemovals: ["batchpy:minVcpus", "batchpy:instanceTypes"],
    });
    const definition = single(fargate.resources, "aws:batch/jobDefinition:JobDefinition");
    assert.deepStrictEqual(definition.inputs.platformCapabilities, ["FARGATE"]);
    const cr = single(fargate.resources, "aws:batch/computeEnvironment:ComputeEnvironment").inputs
      .computeResources as Record<string, unknown>;
    assert.strictEqual(cr.type, "FARGATE");
  });

  it("adds notifications on the stack's queue only when a stack names where they go", async () => {
    const run = await evaluateProgram({
      stack: "dev",
      configOverrides: { "batchpy:notifyEmail": "me@example.com" },
    });
    const component = single(run.resources, "batchpy:notify:Notifications");
    assert.strictEqual(component.name, "batchpy-dev");
    assert.deepStrictEqual(Object.keys(run.outputs).sort(), Object.keys(dev.outputs).sort());
    const rules = ofType(run.resources, "aws:cloudwatch/eventRule:EventRule");
    assert.strictEqual(rules.length, 3);
    for (const rule of rules) {
      assert.strictEqual(rule.parent, component.urn);
      assert.deepStrictEqual(
        json<{ detail: { jobQueue: unknown } }>(rule.inputs.eventPattern).detail.jobQueue,
        [run.outputs.jobQueueArn],
      );
    }
    assert.strictEqual(ofType(dev.resources, "batchpy:notify:Notifications").length, 0);
  });

  it("skips the build when the stack names an existing image", async () => {
    const uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tools:2.0";
    const run = await evaluateProgram({
      stack: "dev",
      configOverrides: { "batchpy:imageUri": uri },
    });
    assert.strictEqual(run.outputs.imageUri, uri);
    assert.strictEqual(ofType(run.resources, "docker-build:index:Image").length, 0);
    assert.strictEqual(ofType(run.resources, "aws:ecr/repository:Repository").length, 0);
  });

  it("fails on a bad config value before creating anything, naming the key", async () => {
    await assert.rejects(
      evaluateProgram({ stack: "dev", configOverrides: { "batchpy:timeoutSeconds": "10" } }),
      /Stack config 'batchpy:timeoutSeconds'/,
    );
  });

  it("exports jobLimits for the dev stack's m5a.large: 2 vCPUs, 7953 MiB, no GPUs", () => {
    assert.deepStrictEqual(dev.outputs.jobLimits, {
      maxVcpus: 16,
      maxGpus: 0,
      largestJob: { vcpus: 2, memoryMiB: 7953, gpus: 0 },
      basis: ["m5a.large"],
    });
  });

  it("exports jobDefaults: what a request leaves to the job definition", () => {
    assert.deepStrictEqual(dev.outputs.jobDefaults, {
      vcpus: 1,
      memoryMiB: 1000,
      gpus: 0,
      timeoutSeconds: 60,
      attempts: 3,
    });
  });

  it("keeps the compute environment's inputs identical when batchpy:tags change", async () => {
    const a = await evaluateProgram({
      stack: "dev",
      configOverrides: { "batchpy:tags": JSON.stringify({ Owner: "alice", CostCenter: "1" }) },
    });
    const b = await evaluateProgram({
      stack: "dev",
      configOverrides: { "batchpy:tags": JSON.stringify({ Owner: "bob" }) },
    });
    assert.deepStrictEqual(computeResourcesOf(a), computeResourcesOf(b));
    assert.deepStrictEqual(computeResourcesOf(a), computeResourcesOf(dev));
    assert.deepStrictEqual(computeResourcesOf(a).tags, {
      Project: "batchpy",
      Stack: "dev",
      ManagedBy: "pulumi",
    });
    // The environment resource itself carries the user's tags (an in-place change).
    assert.strictEqual(
      (single(a.resources, CE_TYPE).inputs.tags as Record<string, string>).Owner,
      "alice",
    );
  });

  it("builds identical image inputs from two different checkout folders", async () => {
    const dirs = [0, 1].map(() => fs.mkdtempSync(path.join(os.tmpdir(), "batchpy-checkout-")));
    try {
      const runs: Evaluation[] = [];
      for (const dir of dirs) {
        copyProject(dir);
        runs.push(await evaluateProgram({ stack: "dev", projectDir: dir }));
      }
      assert.deepStrictEqual(imageInputs(runs[0]), imageInputs(runs[1]));
      assert.deepStrictEqual(imageInputs(runs[0]), imageInputs(dev));
      const build = single(runs[0].resources, "docker-build:index:Image");
      assert.ok(!JSON.stringify(build.inputs).includes(dirs[0]), "no absolute path in the inputs");
    } finally {
      for (const dir of dirs) {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it("never deletes a pushed image: the build is retained on delete or rename", () => {
    assert.strictEqual(single(dev.resources, "docker-build:index:Image").retainOnDelete, true);
  });
});

describe("the program on each compute type", () => {
  const stacks: Record<string, Record<string, string>> = {
    EC2: {},
    SPOT: { "batchpy:computeType": "SPOT" },
    FARGATE: { "batchpy:computeType": "FARGATE", "batchpy:jobMemoryMiB": "2048" },
    FARGATE_SPOT: { "batchpy:computeType": "FARGATE_SPOT", "batchpy:jobMemoryMiB": "2048" },
  };
  const runs: Record<string, Evaluation> = {};
  before(async () => {
    for (const [type, overrides] of Object.entries(stacks)) {
      runs[type] = await evaluateProgram({
        stack: "dev",
        configOverrides: overrides,
        configRemovals: type.startsWith("FARGATE")
          ? ["batchpy:minVcpus", "batchpy:instanceTypes"]
          : [],
      });
    }
  });

  for (const type of Object.keys(stacks)) {
    it(`${type}: no custom service role, host-failure retries`, () => {
      const run = runs[type];
      const ce = single(run.resources, CE_TYPE);
      assert.ok(!("serviceRole" in ce.inputs), "serviceRole is left to Batch");
      assert.strictEqual(ce.name, "batchpy-dev-compute");
      if (type.startsWith("FARGATE")) {
        assert.ok(!("updatePolicy" in ce.inputs), "Fargate has no infrastructure updates");
      } else {
        assert.deepStrictEqual(ce.inputs.updatePolicy, {
          jobExecutionTimeoutMinutes: 30,
          terminateJobsOnUpdate: false,
        });
      }
      assert.ok(
        !ofType(run.resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").some((a) =>
          String(a.inputs.policyArn).endsWith("/AWSBatchServiceRole"),
        ),
      );
      const definition = single(run.resources, "aws:batch/jobDefinition:JobDefinition");
      const rules = (definition.inputs.retryStrategy as { evaluateOnExits: unknown[] })
        .evaluateOnExits;
      assert.deepStrictEqual(rules, [
        { onStatusReason: "Host EC2*", action: "RETRY" },
        { onStatusReason: "Your Spot Task was interrupted*", action: "RETRY" },
        { onReason: "*", action: "EXIT" },
      ]);
      assert.strictEqual(computeResourcesOf(run).type, type);
    });
  }

  for (const type of ["EC2", "SPOT"]) {
    it(`${type}: a launch template with IMDSv2 and the metadata block, AL2023 images`, () => {
      const run = runs[type];
      const template: MockedResource = single(
        run.resources,
        "aws:ec2/launchTemplate:LaunchTemplate",
      );
      assert.strictEqual(
        Buffer.from(String(template.inputs.userData), "base64").toString(),
        IMDS_BLOCK_USER_DATA,
      );
      assert.strictEqual(
        (template.inputs.metadataOptions as Record<string, unknown>).httpTokens,
        "required",
      );
      const cr = computeResourcesOf(run);
      assert.deepStrictEqual(cr.launchTemplate, {
        launchTemplateId: template.id,
        version: "$Latest",
      });
      assert.deepStrictEqual(cr.ec2Configurations, [
        { imageType: "ECS_AL2023" },
        { imageType: "ECS_AL2023_NVIDIA" },
      ]);
      assert.deepStrictEqual(run.outputs.jobLimits, {
        maxVcpus: 16,
        maxGpus: 0,
        largestJob: { vcpus: 2, memoryMiB: 7953, gpus: 0 },
        basis: ["m5a.large"],
      });
    });
  }

  for (const type of ["FARGATE", "FARGATE_SPOT"]) {
    it(`${type}: no instances to harden, the largest Fargate size as the job limit`, () => {
      const run = runs[type];
      assert.strictEqual(ofType(run.resources, "aws:ec2/launchTemplate:LaunchTemplate").length, 0);
      assert.strictEqual(
        ofType(run.resources, "aws:iam/instanceProfile:InstanceProfile").length,
        0,
      );
      assert.deepStrictEqual(run.outputs.jobLimits, {
        maxVcpus: 16,
        maxGpus: 0,
        largestJob: { vcpus: 16, memoryMiB: 122880, gpus: 0 },
        basis: ["FARGATE"],
      });
    });
  }

  it("runs a g5.xlarge SPOT stack: GPU requirement, NVIDIA image, 4 GPUs at most", async () => {
    const gpu = await evaluateProgram({
      stack: "dev",
      configOverrides: {
        "batchpy:computeType": "SPOT",
        "batchpy:instanceTypes": '["g5.xlarge"]',
        "batchpy:jobGpus": "1",
        "batchpy:jobVcpus": "4",
        "batchpy:jobMemoryMiB": "15000",
      },
    });
    const cr = computeResourcesOf(gpu);
    assert.strictEqual(cr.type, "SPOT");
    assert.deepStrictEqual(cr.instanceTypes, ["g5.xlarge"]);
    assert.strictEqual(cr.allocationStrategy, "SPOT_PRICE_CAPACITY_OPTIMIZED");
    assert.ok(
      (cr.ec2Configurations as { imageType: string }[]).some(
        (c) => c.imageType === "ECS_AL2023_NVIDIA",
      ),
    );
    // Switching GPUs on changes only in-place fields of the environment.
    const dev = computeResourcesOf(runs.SPOT);
    assert.deepStrictEqual(cr.ec2Configurations, dev.ec2Configurations);
    assert.deepStrictEqual(cr.launchTemplate, dev.launchTemplate);
    const definition = single(gpu.resources, "aws:batch/jobDefinition:JobDefinition");
    assert.deepStrictEqual(json(definition.inputs.containerProperties).resourceRequirements, [
      { type: "VCPU", value: "4" },
      { type: "MEMORY", value: "15000" },
      { type: "GPU", value: "1" },
    ]);
    assert.deepStrictEqual(gpu.outputs.jobLimits, {
      maxVcpus: 16,
      maxGpus: 4,
      largestJob: { vcpus: 4, memoryMiB: 15938, gpus: 1 },
      basis: ["g5.xlarge"],
    });
  });

  it("refuses GPUs on a Fargate stack before creating anything", async () => {
    await assert.rejects(
      evaluateProgram({
        stack: "dev",
        configOverrides: {
          "batchpy:computeType": "FARGATE_SPOT",
          "batchpy:jobGpus": "1",
          "batchpy:jobMemoryMiB": "2048",
        },
        configRemovals: ["batchpy:minVcpus", "batchpy:instanceTypes"],
      }),
      /Stack config 'batchpy:jobGpus'.*Fargate has no GPUs/,
    );
  });
});
