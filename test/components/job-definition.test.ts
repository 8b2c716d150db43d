import * as assert from "assert";
import {
  ContainerPropertiesValues,
  containerPropertiesJson,
  JobDefinition,
  JobDefinitionArgs,
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
        { onReason: "*", action: "EXIT" },
      ],
    });
    assert.strictEqual(definition.inputs.propagateTags, true);
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
    const values: ContainerPropertiesValues = {
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
        /'memoryMiB' = 1000 with 'vcpus' = 1 on Fargate; it must be 2048 to 8192 in steps of 1024/,
      ],
    ];
    for (const [what, args, message] of cases) {
      it(`rejects ${what}`, () => {
        assert.throws(() => validateJobDefinitionArgs("j", { ...BASE, ...args }), message);
      });
    }
  });
});
