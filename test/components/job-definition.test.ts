import * as assert from "assert";
import { FARGATE_MEMORY_MIB } from "../../components/instance-types";
import {
  containerPropertiesJson,
  FARGATE_SPOT_INTERRUPTED,
  JOB_DEFAULTS,
  JobDefinition,
  JobDefinitionArgs,
  RETRY_ON_HOST_FAILURE,
  validateJobDefinitionArgs,
} from "../../components/job-definition";
import { json, mockRun, single } from "../helpers/pulumi";

const BASE: JobDefinitionArgs = {
  image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/batchpy@sha256:abc",
  platform: "EC2",
  bucketName: "data-bucket",
  jobRoleArn: "arn:aws:iam::123456789012:role/job",
  executionRoleArn: "arn:aws:iam::123456789012:role/exec",
  region: "us-east-1",
};

async function define(args: Partial<JobDefinitionArgs> = {}) {
  const run = await mockRun(() => {
    const jd = new JobDefinition("j", { ...BASE, ...args });
    return { arn: jd.jobDefinitionArn, logGroupName: jd.logGroupName };
  });
  const definition = single(run.resources, "aws:batch/jobDefinition:JobDefinition");
  return { ...run, definition, container: json(definition.inputs.containerProperties) };
}

describe("JobDefinition", () => {
  it("runs the entrypoint with the tutorial's 1 vCPU and 1000 MiB, as the job role", async () => {
    const { resources, definition, container, outputs } = await define({ timeoutSeconds: 60 });
    const logGroup = single(resources, "aws:cloudwatch/logGroup:LogGroup");
    assert.strictEqual(definition.inputs.type, "container");
    assert.deepStrictEqual(definition.inputs.platformCapabilities, ["EC2"]);
    assert.deepStrictEqual(container, {
      image: BASE.image,
      command: ["python3", "/app/run_job.py"],
      jobRoleArn: BASE.jobRoleArn,
      executionRoleArn: BASE.executionRoleArn,
      resourceRequirements: [
        { type: "VCPU", value: "1" },
        { type: "MEMORY", value: "1000" },
      ],
      environment: [
        { name: "BATCHPY_BUCKET", value: "data-bucket" },
        { name: "BATCHPY_INPUTS_PREFIX", value: "inputs/" },
        { name: "BATCHPY_RESULTS_PREFIX", value: "results/" },
        { name: "BATCHPY_LOGS_PREFIX", value: "logs/" },
        { name: "AWS_REGION", value: "us-east-1" },
      ],
      logConfiguration: {
        logDriver: "awslogs",
        options: {
          "awslogs-group": logGroup.state.name,
          "awslogs-region": "us-east-1",
          "awslogs-stream-prefix": "batchpy",
        },
      },
    });
    assert.strictEqual(outputs.logGroupName, logGroup.state.name);
    assert.strictEqual(logGroup.inputs.retentionInDays, 30);
    assert.strictEqual(definition.parent, single(resources, "batchpy:job:JobDefinition").urn);
  });

  it("stops an attempt at the timeout, and retries host failures but not the script's", async () => {
    const { definition } = await define({ timeoutSeconds: 60, retryAttempts: 2 });
    assert.deepStrictEqual(definition.inputs.timeout, { attemptDurationSeconds: 60 });
    assert.deepStrictEqual(definition.inputs.retryStrategy, {
      attempts: 2,
      evaluateOnExits: [
        { onStatusReason: "Host EC2*", action: "RETRY" },
        { onStatusReason: "Your Spot Task was interrupted*", action: "RETRY" },
        { onReason: "*", action: "EXIT" },
      ],
    });
    assert.strictEqual(definition.inputs.propagateTags, true);
  });

  it("retries a Fargate Spot reclaim, whose status reason Batch's pattern rules accept", () => {
    const rule = RETRY_ON_HOST_FAILURE.find((r) => r.onStatusReason === FARGATE_SPOT_INTERRUPTED);
    assert.ok(rule && rule.action === "RETRY");
    // Letters, digits, periods, colons and white space, optionally ending in one `*`.
    assert.match(FARGATE_SPOT_INTERRUPTED, /^[A-Za-z0-9.: \t]*\*?$/);
    const matches = (pattern: string, reason: string) =>
      pattern.endsWith("*") ? reason.startsWith(pattern.slice(0, -1)) : reason === pattern;
    assert.ok(matches(FARGATE_SPOT_INTERRUPTED, "Your Spot Task was interrupted."));
    assert.ok(!matches(FARGATE_SPOT_INTERRUPTED, "Essential container in task exited"));
    // The catch-all EXIT comes last, so the script's own failures still end the job.
    assert.deepStrictEqual(RETRY_ON_HOST_FAILURE[RETRY_ON_HOST_FAILURE.length - 1], {
      onReason: "*",
      action: "EXIT",
    });
    assert.ok(RETRY_ON_HOST_FAILURE.length <= 5, "Batch allows at most five rules");
  });

  it("asks for GPUs in resourceRequirements on EC2, and leaves them out at 0", async () => {
    const { container } = await define({ gpus: 1, vcpus: 4, memoryMiB: 15000 });
    assert.deepStrictEqual(container.resourceRequirements, [
      { type: "VCPU", value: "4" },
      { type: "MEMORY", value: "15000" },
      { type: "GPU", value: "1" },
    ]);
    const { container: plain } = await define({ gpus: 0 });
    assert.ok(!(plain.resourceRequirements as { type: string }[]).some((r) => r.type === "GPU"));
  });

  describe("Fargate sizes (the AWS table, every boundary)", () => {
    const fargate = (vcpus: number, memoryMiB: number) => () =>
      validateJobDefinitionArgs("j", { ...BASE, platform: "FARGATE", vcpus, memoryMiB });
    const table: [number, number[]][] = [
      [0.25, [512, 1024, 2048]],
      [0.5, [1024, 2048, 3072, 4096]],
      [1, [2048, 3072, 4096, 5120, 6144, 7168, 8192]],
      [2, Array.from({ length: 13 }, (_, i) => 4096 + i * 1024)],
      [4, Array.from({ length: 23 }, (_, i) => 8192 + i * 1024)],
      [8, Array.from({ length: 12 }, (_, i) => 16384 + i * 4096)],
      [16, Array.from({ length: 12 }, (_, i) => 32768 + i * 8192)],
    ];
    it("matches the AWS table exactly", () => {
      assert.deepStrictEqual(
        [...FARGATE_MEMORY_MIB.entries()].map(([v, m]) => [v, [...m]]),
        table,
      );
    });
    for (const [vcpus, allowed] of table) {
      it(`accepts every allowed amount with ${vcpus} vCPU`, () => {
        for (const memory of allowed) {
          assert.doesNotThrow(fargate(vcpus, memory), `${vcpus} vCPU, ${memory} MiB`);
        }
      });
      const first = allowed[0];
      const last = allowed[allowed.length - 1];
      const lowStep = allowed[1] - first;
      const highStep = last - allowed[allowed.length - 2];
      // Just outside both ends, one step outside, and between the first two allowed values.
      const rejected = [
        first - lowStep,
        first - 1,
        first + 1,
        Math.floor((first + allowed[1]) / 2),
        last - 1,
        last + 1,
        last + highStep,
      ].filter((m) => m >= 4 && !allowed.includes(m));
      it(`rejects ${rejected.join(", ")} MiB with ${vcpus} vCPU`, () => {
        for (const memory of rejected) {
          assert.throws(
            fargate(vcpus, memory),
            /Fargate allows only/,
            `${vcpus} vCPU, ${memory} MiB`,
          );
        }
      });
    }
    it("rejects 1536 MiB with 0.25 vCPU (not a Fargate size)", () => {
      assert.throws(
        fargate(0.25, 1536),
        /Fargate allows only 512, 1024 or 2048 MiB with 0.25 vCPU/,
      );
    });
    it("rejects a vCPU count Fargate does not offer", () => {
      for (const vcpus of [0.125, 0.75, 3, 32]) {
        assert.throws(
          fargate(vcpus, 8192),
          /on Fargate; it must be one of 0.25, 0.5, 1, 2, 4, 8, 16/,
        );
      }
    });
    it("rejects GPUs on Fargate", () => {
      assert.throws(
        () =>
          validateJobDefinitionArgs("j", {
            ...BASE,
            platform: "FARGATE",
            vcpus: 1,
            memoryMiB: 2048,
            gpus: 1,
          }),
        /'gpus' = 1 on Fargate; Fargate has no GPUs/,
      );
    });
  });

  it("states the defaults a request may leave out, for the jobs tool's cost bound", async () => {
    const defaults = async (args: Partial<JobDefinitionArgs>) => {
      const run = await mockRun(() => ({
        defaults: new JobDefinition("d", { ...BASE, ...args }).jobDefaults,
      }));
      return run.outputs.defaults;
    };
    assert.deepStrictEqual(await defaults({}), {
      vcpus: 1,
      memoryMiB: 1000,
      gpus: 0,
      timeoutSeconds: 3600,
      attempts: 3,
    });
    assert.deepStrictEqual(
      await defaults({ vcpus: 4, memoryMiB: 8192, gpus: 1, timeoutSeconds: 600, retryAttempts: 1 }),
      { vcpus: 4, memoryMiB: 8192, gpus: 1, timeoutSeconds: 600, attempts: 1 },
    );
  });

  it("has a one-hour timeout when none is given", async () => {
    const { definition } = await define();
    assert.deepStrictEqual(definition.inputs.timeout, { attemptDurationSeconds: 3600 });
  });

  it("adds the network and platform settings a Fargate job needs", async () => {
    const { definition, container } = await define({
      platform: "FARGATE",
      vcpus: 1,
      memoryMiB: 2048,
    });
    assert.deepStrictEqual(definition.inputs.platformCapabilities, ["FARGATE"]);
    assert.deepStrictEqual(container.networkConfiguration, { assignPublicIp: "ENABLED" });
    assert.deepStrictEqual(container.fargatePlatformConfiguration, { platformVersion: "LATEST" });
    assert.deepStrictEqual(container.runtimePlatform, {
      operatingSystemFamily: "LINUX",
      cpuArchitecture: "X86_64",
    });
  });

  it("refuses a definition over AWS Batch's 24 KiB limit", () => {
    const values: Parameters<typeof containerPropertiesJson>[1] = {
      ...JOB_DEFAULTS,
      image: `repo:${"x".repeat(25 * 1024)}`,
      command: ["python3", "/app/run_job.py"],
      jobRoleArn: "arn:aws:iam::123456789012:role/job",
      executionRoleArn: "arn:aws:iam::123456789012:role/exec",
      bucketName: "data-bucket",
      region: "us-east-1",
      logGroupName: "g",
      vcpus: 1,
      memoryMiB: 1000,
      platform: "EC2",
    };
    assert.throws(
      () => containerPropertiesJson("j", values),
      /JobDefinition 'j' has containerProperties of \d+ bytes; AWS Batch allows 24576/,
    );
    assert.doesNotThrow(() => containerPropertiesJson("j", { ...values, image: "repo:1.0" }));
  });

  describe("validation", () => {
    const cases: [string, Partial<JobDefinitionArgs>, RegExp][] = [
      [
        "a timeout under 60 seconds",
        { timeoutSeconds: 30 },
        /JobDefinition 'j' has 'timeoutSeconds' = 30; 'timeoutSeconds' must be an integer from 60/,
      ],
      [
        "more than 10 attempts",
        { retryAttempts: 11 },
        /'retryAttempts' = 11; 'retryAttempts' must be an integer from 1 to 10/,
      ],
      [
        "a retention CloudWatch does not offer",
        { logRetentionDays: 10 },
        /'logRetentionDays' = 10; CloudWatch Logs accepts only 1, 3, 5, 7, 14, 30/,
      ],
      [
        "a fractional vCPU on EC2",
        { vcpus: 0.5 },
        /'vcpus' = 0.5; on EC2 it must be a whole number of at least 1/,
      ],
      [
        "a Fargate vCPU count",
        { platform: "FARGATE", vcpus: 3, memoryMiB: 8192 },
        /'vcpus' = 3 on Fargate; it must be one of 0.25, 0.5, 1, 2, 4, 8, 16/,
      ],
      [
        "the tutorial's 1000 MiB on Fargate",
        { platform: "FARGATE", vcpus: 1, memoryMiB: 1000 },
        /'memoryMiB' = 1000 with 'vcpus' = 1 on Fargate; Fargate allows only 2048 to 8192 in steps of 1024 MiB with 1 vCPU/,
      ],
    ];
    for (const [what, args, message] of cases) {
      it(`rejects ${what}`, () => {
        assert.throws(() => validateJobDefinitionArgs("j", { ...BASE, ...args }), message);
      });
    }
  });
});
