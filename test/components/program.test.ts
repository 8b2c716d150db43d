import * as assert from "assert";
import { evaluateProgram, Evaluation } from "../../policy/check/evaluate";
import { OUTPUT_KEYS } from "../../jobs/outputs";
import { json, ofType, single } from "../helpers/pulumi";

describe("the program under the dev stack", () => {
  let dev: Evaluation;
  before(async () => {
    dev = await evaluateProgram({ stack: "dev" });
  });

  it("exports exactly what the jobs tools read", () => {
    assert.deepStrictEqual(Object.keys(dev.outputs).sort(), [...OUTPUT_KEYS].sort());
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
    const taggable = dev.resources.filter((r) => r.custom && "tags" in r.inputs);
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

  it("skips the build when the stack names an existing image", async () => {
    const uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tools:2.0";
    const run = await evaluateProgram({
      stack: "dev",
      configOverrides: { "batchpy:imageUri": uri },
    });
    assert.strictEqual(run.outputs.imageUri, uri);
    assert.strictEqual(ofType(run.resources, "awsx:ecr:Image").length, 0);
    assert.strictEqual(ofType(run.resources, "aws:ecr/repository:Repository").length, 0);
  });

  it("fails on a bad config value before creating anything, naming the key", async () => {
    await assert.rejects(
      evaluateProgram({ stack: "dev", configOverrides: { "batchpy:timeoutSeconds": "10" } }),
      /Stack config 'batchpy:timeoutSeconds'/,
    );
  });
});
