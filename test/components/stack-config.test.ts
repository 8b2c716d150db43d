import * as assert from "assert";
import { parseStackConfig, StackConfigError } from "../../components/stack-config";
import { readStackConfig } from "../../policy/check/evaluate";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..");
const DEV = readStackConfig(ROOT, "dev");

function parseWith(overrides: Record<string, string>, removals: string[] = []) {
  const raw = { ...DEV, ...overrides };
  for (const key of removals) {
    delete raw[key];
  }
  return parseStackConfig(raw, {}, "batchpy-dev");
}

describe("stack config", () => {
  it("says how to make a stack file that does not exist (docs/policy.md's --stack prod)", () => {
    assert.throws(
      () => readStackConfig(ROOT, "prod"),
      (err: Error) =>
        err.message ===
        `${path.join(ROOT, "Pulumi.prod.yaml")} does not exist; create it with \`pulumi stack init prod\` ` +
          'and `pulumi config set` (docs/settings.md, "A prod stack"), or pick one of: dev.',
    );
  });

  it("reads the dev stack's tutorial settings", () => {
    const s = parseWith({});
    assert.strictEqual(s.region, "us-east-1");
    assert.strictEqual(s.storage.forceDestroy, true);
    assert.strictEqual(s.image.forceDelete, true);
    assert.strictEqual(s.compute.computeType, "EC2");
    assert.strictEqual(s.compute.minVcpus, 0);
    assert.deepStrictEqual(s.compute.instanceTypes, ["m5a.large"]);
    assert.deepStrictEqual(s.job, {
      vcpus: 1,
      memoryMiB: 1000,
      gpus: undefined,
      timeoutSeconds: 60,
      retryAttempts: 3,
      logRetentionDays: 30,
      platform: "EC2",
    });
  });

  it("falls back to AWS_REGION when aws:region is not set", () => {
    const raw = { ...DEV };
    delete raw["aws:region"];
    assert.strictEqual(parseStackConfig(raw, { AWS_REGION: "eu-west-1" }).region, "eu-west-1");
  });

  it("accepts a g5.xlarge SPOT stack with one GPU per job", () => {
    const s = parseWith({
      "batchpy:computeType": "SPOT",
      "batchpy:instanceTypes": '["g5.xlarge"]',
      "batchpy:jobGpus": "1",
      "batchpy:jobVcpus": "4",
      "batchpy:jobMemoryMiB": "15938",
    });
    assert.strictEqual(s.compute.jobGpus, 1);
    assert.strictEqual(s.job.gpus, 1);
  });

  it("accepts the largest job an m5a.large can place (7953 MiB), and Fargate's largest", () => {
    assert.strictEqual(parseWith({ "batchpy:jobMemoryMiB": "7953" }).job.memoryMiB, 7953);
    const fargate = parseWith(
      {
        "batchpy:computeType": "FARGATE",
        "batchpy:jobVcpus": "16",
        "batchpy:jobMemoryMiB": "122880",
      },
      ["batchpy:minVcpus", "batchpy:instanceTypes"],
    );
    assert.strictEqual(fargate.job.memoryMiB, 122880);
    assert.strictEqual(fargate.job.platform, "FARGATE", "the job runs where the environment does");
  });

  it("reads the update timeout and build-on-preview settings", () => {
    const s = parseWith({
      "batchpy:updateTimeoutMinutes": "360",
      "batchpy:buildOnPreview": "false",
    });
    assert.strictEqual(s.compute.updateTimeoutMinutes, 360);
    assert.strictEqual(s.image.buildOnPreview, false);
  });

  it("reads where notifications go, none by default", () => {
    assert.deepStrictEqual(parseWith({}).notifications, { email: undefined, topicArn: undefined });
    const s = parseWith({ "batchpy:notifyEmail": "me@example.com" });
    assert.deepStrictEqual(s.notifications, { email: "me@example.com", topicArn: undefined });
  });

  it("leaves the job check to deploy time for instance types it does not know", () => {
    const s = parseWith({
      "batchpy:instanceTypes": '["c6i.4xlarge"]',
      "batchpy:jobMemoryMiB": "30000",
    });
    assert.strictEqual(s.job.memoryMiB, 30000);
  });

  const bad: [string, Record<string, string>, string[], string, RegExp][] = [
    [
      "no region",
      {},
      ["aws:region"],
      "aws:region",
      /'aws:region' is not set; set it with `pulumi config set aws:region us-east-1`/,
    ],
    [
      "a timeout under AWS's minimum",
      { "batchpy:timeoutSeconds": "30" },
      [],
      "batchpy:timeoutSeconds",
      /Stack config 'batchpy:timeoutSeconds': JobDefinition 'batchpy-dev' has 'timeoutSeconds' = 30; 'timeoutSeconds' must be an integer from 60/,
    ],
    [
      "a non-number",
      { "batchpy:maxVcpus": "lots" },
      [],
      "batchpy:maxVcpus",
      /'batchpy:maxVcpus' = "lots" is not a whole number; set it with `pulumi config set batchpy:maxVcpus 1`/,
    ],
    [
      "maxVcpus below the job's vCPUs",
      { "batchpy:maxVcpus": "2", "batchpy:jobVcpus": "4" },
      [],
      "batchpy:maxVcpus",
      /'batchpy:maxVcpus' = 2 is less than 'batchpy:jobVcpus' = 4; no job could ever start/,
    ],
    [
      "minVcpus above maxVcpus",
      { "batchpy:minVcpus": "32" },
      [],
      "batchpy:minVcpus",
      /'minVcpus' = 32 > 'maxVcpus' = 16/,
    ],
    [
      "a mistyped key",
      { "batchpy:timeoutSecond": "60" },
      [],
      "batchpy:timeoutSecond",
      /'batchpy:timeoutSecond' is not a setting of this program; did you mean 'batchpy:timeoutSeconds'\?/,
    ],
    [
      "a non-boolean",
      { "batchpy:forceDestroy": "yes" },
      [],
      "batchpy:forceDestroy",
      /is not true or false/,
    ],
    [
      "a list that is not a list",
      { "batchpy:instanceTypes": "m5a.large" },
      [],
      "batchpy:instanceTypes",
      /is not a list of strings/,
    ],
    [
      "an unknown compute type",
      { "batchpy:computeType": "GPU" },
      [],
      "batchpy:computeType",
      /'computeType' = 'GPU'; it must be one of EC2, SPOT, FARGATE, FARGATE_SPOT/,
    ],
    [
      "a job vCPU count renamed in the component",
      { "batchpy:jobVcpus": "0" },
      [],
      "batchpy:jobVcpus",
      /Stack config 'batchpy:jobVcpus': .*'vcpus' = 0/,
    ],
    [
      "a RUNNABLE timeout below 600 s",
      { "batchpy:runnableTimeoutSeconds": "60" },
      [],
      "batchpy:runnableTimeoutSeconds",
      /must be an integer from 600 to 86400/,
    ],
    [
      "BEST_FIT, with the reason",
      { "batchpy:allocationStrategy": "BEST_FIT" },
      [],
      "batchpy:allocationStrategy",
      /BEST_FIT rules out in-place infrastructure updates/,
    ],
    [
      "GPUs on Fargate",
      { "batchpy:computeType": "FARGATE", "batchpy:jobGpus": "1", "batchpy:jobMemoryMiB": "2048" },
      ["batchpy:minVcpus", "batchpy:instanceTypes"],
      "batchpy:jobGpus",
      /Fargate has no GPUs/,
    ],
    [
      "GPUs on the dev stack's m5a.large",
      { "batchpy:jobGpus": "1" },
      [],
      "batchpy:instanceTypes",
      /'jobGpus' = 1 but 'instanceTypes' includes m5a.large, which have no GPU/,
    ],
    [
      "a job memory no m5a.large can place",
      { "batchpy:jobMemoryMiB": "7954" },
      [],
      "batchpy:jobMemoryMiB",
      /'batchpy:jobMemoryMiB': 7954 MiB per job, but the largest job m5a.large can place has 7953 MiB/,
    ],
    [
      "the instance's full 8 GiB",
      { "batchpy:jobMemoryMiB": "8192" },
      [],
      "batchpy:jobMemoryMiB",
      /7953 MiB \(the kernel and the ECS agent's 32 MiB reservation take the rest\)/,
    ],
    [
      "more vCPUs than an m5a.large has",
      { "batchpy:jobVcpus": "4" },
      [],
      "batchpy:jobVcpus",
      /4 vCPUs per job, but the largest job m5a.large can place has 2/,
    ],
    [
      "an update timeout of 0",
      { "batchpy:updateTimeoutMinutes": "0" },
      [],
      "batchpy:updateTimeoutMinutes",
      /must be an integer from 1 to 360/,
    ],
    [
      "an update timeout over 360",
      { "batchpy:updateTimeoutMinutes": "361" },
      [],
      "batchpy:updateTimeoutMinutes",
      /must be an integer from 1 to 360/,
    ],
    [
      "an instance family",
      { "batchpy:instanceTypes": '["m5a"]' },
      [],
      "batchpy:instanceTypes",
      /name exact types such as m5a.large/,
    ],
    [
      "tags that are not strings",
      { "batchpy:tags": '{"Owner": 1}' },
      [],
      "batchpy:tags",
      /is not a map of tag names to strings/,
    ],
    [
      "an e-mail address without a domain",
      { "batchpy:notifyEmail": "me" },
      [],
      "batchpy:notifyEmail",
      /'email' = "me"; give an address such as me@example.com/,
    ],
    [
      "both an address and a topic",
      {
        "batchpy:notifyEmail": "me@example.com",
        "batchpy:notifyTopicArn": "arn:aws:sns:us-east-1:123456789012:alerts",
      },
      [],
      "batchpy:notifyEmail",
      /sets both 'batchpy:notifyEmail' and 'batchpy:notifyTopicArn'.*`pulumi config rm batchpy:notifyTopicArn`/,
    ],
    [
      "a topic that is not an SNS ARN",
      { "batchpy:notifyTopicArn": "alerts" },
      [],
      "batchpy:notifyTopicArn",
      /give an SNS topic ARN/,
    ],
  ];
  for (const [what, overrides, removals, key, message] of bad) {
    it(`rejects ${what}, naming ${key}`, () => {
      assert.throws(
        () => parseWith(overrides, removals),
        (err: unknown) => {
          assert.ok(err instanceof StackConfigError, String(err));
          assert.strictEqual(err.arg, key);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }
});
