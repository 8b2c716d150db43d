/**
 * Runs the Pulumi program (`index.ts`) in this process under `pulumi.runtime.setMocks` with a
 * stack's config, recording every resource with the inputs the engine would receive.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import type {
  RegisterResourceRequest,
  RegisterResourceResponse,
} from "@pulumi/pulumi/proto/resource_pb";
import { parse as parseYaml } from "yaml";

const DEFAULT_PROJECT_ROOT = path.resolve(__dirname, "..", "..");
const MOCK_ACCOUNT_ID = "123456789012";

export type MockedResource = ReturnType<typeof registered>;

/** A stack's config as the Pulumi CLI hands it to the program: every value a string. */
export function readStackConfig(projectRoot: string, stack: string): Record<string, string> {
  const file = path.join(projectRoot, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) {
    throw new Error(
      `${file} does not exist; create it with \`pulumi stack init ${stack}\` and \`pulumi config set\` (docs/settings.md, "A prod stack"), or pick one of: ${listStacks(projectRoot).join(", ") || "(none)"}.`,
    );
  }
  const doc = parseYaml(fs.readFileSync(file, "utf8")) as { config?: object } | null;
  const config = Object.entries(doc?.config ?? {}).map(([key, value]): [string, string] => {
    // A secret cannot be decrypted without the CLI; the program only needs a placeholder.
    const secret = value !== null && typeof value === "object" && "secure" in value;
    return [key, secret ? "[secret]" : typeof value === "string" ? value : JSON.stringify(value)];
  });
  return Object.fromEntries(config);
}

export function listStacks(projectRoot = DEFAULT_PROJECT_ROOT): string[] {
  return fs.readdirSync(projectRoot).flatMap((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1] ?? []);
}

const shortHash = (text: string) =>
  crypto.createHash("sha256").update(text).digest("hex").slice(0, 7);

/** Type → the service and ARN resource prefix of a resource named by its `name` input. */
const NAMED: Readonly<Record<string, readonly [string, string]>> = {
  "aws:iam/role:Role": ["iam", "role/"],
  "aws:iam/instanceProfile:InstanceProfile": ["iam", "instance-profile/"],
  "aws:cloudwatch/logGroup:LogGroup": ["logs", "log-group:"],
  "aws:batch/computeEnvironment:ComputeEnvironment": ["batch", "compute-environment/"],
  "aws:batch/jobQueue:JobQueue": ["batch", "job-queue/"],
  "aws:cloudwatch/eventRule:EventRule": ["events", "rule/"],
  "aws:ecr/repository:Repository": ["ecr", "repository/"],
};

/** A new resource's id and what AWS computes for it, shaped like the real provider's outputs. */
function computedOutputs({ type, name, inputs }: pulumi.runtime.MockResourceArgs, region: string) {
  // Without a `name` input the provider names it after the logical name, with a suffix.
  const physical = typeof inputs.name === "string" ? inputs.name : `${name}-${shortHash(name)}`;
  const arn = (service: string, resource: string) =>
    `arn:aws:${service}:${service === "iam" ? "" : region}:${MOCK_ACCOUNT_ID}:${resource}`;
  const named = NAMED[type];
  const outputs = named
    ? { id: physical, name: physical, arn: arn(named[0], `${named[1]}${physical}`) }
    : { id: `${name}-id`, name: physical };
  switch (type) {
    case "aws:s3/bucket:Bucket": {
      const bucket = typeof inputs.bucket === "string" ? inputs.bucket : physical;
      return { id: bucket, bucket, arn: `arn:aws:s3:::${bucket}` };
    }
    case "docker-build:index:Image": {
      // The same inputs build the same digest.
      const digest = `sha256:${crypto.createHash("sha256").update(JSON.stringify(inputs)).digest("hex")}`;
      const tags = Array.isArray(inputs.tags) ? inputs.tags.map(String) : [];
      return { id: digest, digest, ref: tags.length > 0 ? `${tags[0]}@${digest}` : "" };
    }
    case "aws:ec2/launchTemplate:LaunchTemplate": {
      const id = `lt-0${shortHash(name)}`;
      const arnOf = arn("ec2", `launch-template/${id}`);
      return { id, name: physical, arn: arnOf, latestVersion: 1, defaultVersion: 1 };
    }
    case "aws:ec2/securityGroup:SecurityGroup": {
      const id = `sg-${shortHash(name)}`;
      return { id, arn: arn("ec2", `security-group/${id}`) };
    }
    case "aws:batch/jobDefinition:JobDefinition": {
      const definition = arn("batch", `job-definition/${physical}:1`);
      return { id: definition, name: physical, arn: definition, revision: 1 };
    }
    case "aws:sns/topic:Topic":
      return { id: arn("sns", physical), name: physical, arn: arn("sns", physical) };
    case "aws:ecr/repository:Repository": {
      const url = `${MOCK_ACCOUNT_ID}.dkr.ecr.${region}.amazonaws.com/${physical}`;
      return { ...outputs, registryId: MOCK_ACCOUNT_ID, repositoryUrl: url };
    }
  }
  return outputs;
}

export type MockCall = Pick<pulumi.runtime.MockCallArgs, "token" | "inputs">;

type Size = { defaultVcpus: number; memorySize: number; gpuses: ReturnType<typeof nvidia> };
const nvidia = (name: string, memorySize: number, count = 1) => [
  { count, manufacturer: "NVIDIA", memorySize, name },
];

/**
 * EC2's DescribeInstanceTypes figures (default vCPUs, `MemoryInfo.SizeInMiB`, `GpuInfo.Gpus`),
 * kept apart from the program's own table so that a test compares it against another source.
 */
export const MOCK_INSTANCE_TYPES: Readonly<Record<string, Size>> = {
  "m5a.large": { defaultVcpus: 2, memorySize: 8192, gpuses: [] },
  "m5a.xlarge": { defaultVcpus: 4, memorySize: 16384, gpuses: [] },
  "m5a.2xlarge": { defaultVcpus: 8, memorySize: 32768, gpuses: [] },
  "m5.large": { defaultVcpus: 2, memorySize: 8192, gpuses: [] },
  "c5.large": { defaultVcpus: 2, memorySize: 4096, gpuses: [] },
  "c6i.4xlarge": { defaultVcpus: 16, memorySize: 32768, gpuses: [] },
  "r5.large": { defaultVcpus: 2, memorySize: 16384, gpuses: [] },
  "g4dn.xlarge": { defaultVcpus: 4, memorySize: 16384, gpuses: nvidia("T4", 16384) },
  "g5.xlarge": { defaultVcpus: 4, memorySize: 16384, gpuses: nvidia("A10G", 24576) },
  "g5.2xlarge": { defaultVcpus: 8, memorySize: 32768, gpuses: nvidia("A10G", 24576) },
  "g5.12xlarge": { defaultVcpus: 48, memorySize: 196608, gpuses: nvidia("A10G", 24576, 4) },
  "g6.xlarge": { defaultVcpus: 4, memorySize: 16384, gpuses: nvidia("L4", 23034) },
  "p3.2xlarge": { defaultVcpus: 8, memorySize: 62464, gpuses: nvidia("V100", 16384) },
};

/** The mocked provider's answer to a data-source call, for an account with a default VPC. */
function mockCall({ token, inputs }: MockCall, region: string) {
  switch (token) {
    case "aws:index/getRegion:getRegion":
      return { id: region, name: region, region, endpoint: `ec2.${region}.amazonaws.com` };
    case "aws:ec2/getVpcs:getVpcs":
      return { id: region, ids: ["vpc-0defa017"], filters: inputs.filters };
    case "aws:ec2/getSubnets:getSubnets":
      return { id: region, ids: ["subnet-0pub1a", "subnet-0pub1b"], filters: inputs.filters };
    case "aws:ec2/getInstanceType:getInstanceType": {
      const instanceType = String(inputs.instanceType);
      const size = MOCK_INSTANCE_TYPES[instanceType];
      if (size === undefined) {
        throw new Error(
          `reading EC2 Instance Type (${instanceType}): InvalidInstanceType: The following supplied instance types do not exist: [${instanceType}]`,
        );
      }
      return { id: instanceType, instanceType, ...size };
    }
    case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
      return {
        id: region,
        registryId: inputs.registryId ?? MOCK_ACCOUNT_ID,
        userName: "AWS",
        password: "mock-ecr-password",
        authorizationToken: Buffer.from("AWS:mock-ecr-password").toString("base64"),
        proxyEndpoint: `https://${MOCK_ACCOUNT_ID}.dkr.ecr.${region}.amazonaws.com`,
        expiresAt: "2099-01-01T00:00:00Z",
      };
    default:
      throw new Error(`The program made an unexpected provider call: ${token}`);
  }
}

export type MockSettings = {
  readonly project: string;
  readonly stack: string;
  readonly config: Record<string, string>;
  /** Answers data-source calls before the standard mocks (undefined falls through). */
  readonly calls?: (call: MockCall) => Record<string, unknown> | undefined;
};

function registered(request: RegisterResourceRequest, response: RegisterResourceResponse) {
  const dependencies = [...request.getPropertydependenciesMap().entries()];
  return {
    urn: response.getUrn(),
    type: request.getType(),
    name: request.getName(),
    id: response.getId(),
    inputs: pulumi.runtime.deserializeProperties(request.getObject()!),
    state: pulumi.runtime.deserializeProperties(response.getObject()!),
    custom: request.getCustom(),
    parent: request.getParent() || undefined,
    dependencies: request.getDependenciesList(),
    propertyDependencies: Object.fromEntries(dependencies.map(([k, v]) => [k, v.getUrnsList()])),
    retainOnDelete: request.getRetainondelete() ?? false,
  };
}

/** Records each registration: the mocks themselves see no parents or dependencies. */
class RecordingMonitor extends MockMonitor {
  readonly registered: MockedResource[] = [];

  async registerResource(
    request: RegisterResourceRequest,
    callback: (err: unknown, response?: RegisterResourceResponse) => void,
  ): Promise<void> {
    await super.registerResource(request, (err: unknown, response?: RegisterResourceResponse) => {
      if (!err && response) {
        this.registered.push(registered(request, response));
      }
      callback(err, response);
    });
  }
}

type Program = () => Record<string, unknown>;

/** As with the Pulumi CLI, an unhandled rejection (a throw in an `apply`) fails the run. */
async function runToCompletion(program: Program) {
  let onFailure: (err: unknown) => void = () => undefined;
  const failure = new Promise<never>((_, reject) => (onFailure = reject));
  const settled = (promise: Promise<unknown>) => Promise.race([promise, failure]);
  process.on("unhandledRejection", onFailure);
  try {
    const outputs = await Promise.all(
      Object.entries(program()).map(async ([key, value]) => {
        // `promise()` settles with the Output, so a failed `apply` rejects here.
        const output = value as { promise(): Promise<unknown> };
        return [key, pulumi.Output.isInstance(value) ? await settled(output.promise()) : value];
      }),
    );
    // Every registration finishes, so resources nothing exports are recorded too.
    await settled(pulumi.runtime.disconnect());
    return Object.fromEntries(outputs) as Record<string, unknown>;
  } finally {
    process.off("unhandledRejection", onFailure);
  }
}

/** `program` returns the outputs to resolve. The runtime is process state: one run at a time. */
export async function runUnderMocks(settings: MockSettings, program: Program) {
  const region = settings.config["aws:region"] ?? "us-east-1";
  pulumi.runtime.setAllConfig(settings.config);
  const mocks: pulumi.runtime.Mocks = {
    newResource: (args) => {
      const { id, ...outputs } = computedOutputs(args, region);
      return { id, state: { ...args.inputs, ...outputs } };
    },
    call: (args) => settings.calls?.(args) ?? mockCall(args, region),
  };
  await pulumi.runtime.setMocks(mocks, settings.project, settings.stack, false);
  const monitor = new RecordingMonitor(mocks);
  pulumi.runtime.setMockOptions(monitor, settings.project, settings.stack, false);
  return { outputs: await runToCompletion(program), resources: monitor.registered };
}

/** `configOverrides`: `namespace:key` → string (lists and maps as JSON). */
export async function evaluateProgram(options: {
  readonly stack: string;
  readonly configOverrides?: Record<string, string>;
  readonly configRemovals?: readonly string[];
  readonly projectDir?: string;
}) {
  const projectRoot = path.resolve(options.projectDir ?? DEFAULT_PROJECT_ROOT);
  const projectFile = fs.readFileSync(path.join(projectRoot, "Pulumi.yaml"), "utf8");
  const project = (parseYaml(projectFile) as { name: string }).name;
  const config = { ...readStackConfig(projectRoot, options.stack), ...options.configOverrides };
  for (const key of options.configRemovals ?? []) {
    delete config[key];
  }
  const program = path.join(projectRoot, "index.ts");
  const components = path.join(projectRoot, "components") + path.sep;
  const run = await runUnderMocks({ project, stack: options.stack, config }, () => {
    // The program runs afresh with this config. Only its own modules are forgotten: others
    // (the jobs tool, the tests) must keep their identity for `instanceof` checks.
    for (const id of Object.keys(require.cache)) {
      if (id === program || id.startsWith(components)) {
        delete require.cache[id];
      }
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(program) as Record<string, unknown>;
  });
  return { project, config, ...run };
}
