/**
 * Runs the real Pulumi program (`index.ts`) in this process under `pulumi.runtime.setMocks`
 * with a stack's config, and records every resource it registers with the inputs the engine
 * (and so the policy pack) would receive. Used by `policy:check`, the program's tests and
 * the benchmark: no cloud, no CLI.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type {
  RegisterResourceRequest,
  RegisterResourceResponse,
} from "@pulumi/pulumi/proto/resource_pb";
import { parse as parseYaml } from "yaml";
import type { AnalyzedResource } from "./pack";

/** This repository's Pulumi project. */
const DEFAULT_PROJECT_ROOT = path.resolve(__dirname, "..", "..");

/** The account the mocks deploy into. */
const MOCK_ACCOUNT_ID = "123456789012";

/** One resource the program registered, as the engine saw it. */
export interface MockedResource extends AnalyzedResource {
  readonly id: string;
  /** What the mocks returned: inputs plus computed outputs (ARNs, names). */
  readonly state: Record<string, unknown>;
  readonly dependencies: string[];
  readonly propertyDependencies: Record<string, string[]>;
  /** False for component resources. */
  readonly custom: boolean;
  /** The `retainOnDelete` option: Pulumi never asks the provider to delete it. */
  readonly retainOnDelete?: boolean;
}

export interface Evaluation {
  readonly project: string;
  readonly stack: string;
  readonly config: Record<string, string>;
  readonly resources: MockedResource[];
  /** The stack outputs, resolved. */
  readonly outputs: Record<string, unknown>;
}

export interface EvaluateOptions {
  /** The stack whose `Pulumi.<stack>.yaml` supplies the config. */
  readonly stack: string;
  /** Config to set or replace, as `namespace:key` → string (lists and maps as JSON). */
  readonly configOverrides?: Record<string, string>;
  /** Config keys to remove after loading the stack file. */
  readonly configRemovals?: readonly string[];
  /** The folder with `Pulumi.yaml` and `index.ts`. @default the repository root */
  readonly projectRoot?: string;
}

/** A stack's config as the Pulumi CLI hands it to the program: every value a string. */
export function readStackConfig(projectRoot: string, stack: string): Record<string, string> {
  const file = path.join(projectRoot, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) {
    throw new Error(
      `${file} does not exist; create it with \`pulumi stack init ${stack}\` and \`pulumi config set\` (docs/settings.md, "A prod stack"), or pick one of: ${listStacks(projectRoot).join(", ") || "(none)"}.`,
    );
  }
  const doc = (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as {
    config?: Record<string, unknown>;
  };
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    // A secret cannot be decrypted without the CLI; the program only needs a placeholder.
    const secret = value !== null && typeof value === "object" && "secure" in value;
    config[key] = secret ? "[secret]" : typeof value === "string" ? value : JSON.stringify(value);
  }
  return config;
}

/** The stacks that have a `Pulumi.<stack>.yaml` in `projectRoot`. */
export function listStacks(projectRoot = DEFAULT_PROJECT_ROOT): string[] {
  return fs
    .readdirSync(projectRoot)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined);
}

function shortHash(text: string): string {
  return crypto.createHash("sha256").update(text).digest("hex").slice(0, 7);
}

/** What a mocked resource's state is built from. */
interface MockContext {
  readonly name: string;
  readonly inputs: Record<string, unknown>;
  readonly region: string;
  /** Its physical name: the `name` input, else the logical name with a suffix. */
  readonly physical: string;
  /** An ARN in the mock account (and region, unless `regional` is false). */
  readonly arn: (service: string, resource: string, regional?: boolean) => string;
}

/** A new resource's id and the outputs AWS computes for it. */
type Computed = { readonly id: string } & Record<string, unknown>;

/** A resource AWS knows by its name, with an ARN of `service` and `resource(physical)`. */
function named(service: string, resource: (physical: string) => string, regional = true) {
  return (c: MockContext): Computed => ({
    id: c.physical,
    name: c.physical,
    arn: c.arn(service, resource(c.physical), regional),
  });
}

/** What AWS computes, per resource type, shaped like the real provider's outputs. */
const MOCK_OUTPUTS: Readonly<Record<string, (c: MockContext) => Computed>> = {
  "aws:s3/bucket:Bucket": ({ inputs, physical }) => {
    const bucket = typeof inputs.bucket === "string" ? inputs.bucket : physical;
    return { id: bucket, bucket, arn: `arn:aws:s3:::${bucket}` };
  },
  "aws:iam/role:Role": named("iam", (p) => `role/${p}`, false),
  "aws:iam/instanceProfile:InstanceProfile": named("iam", (p) => `instance-profile/${p}`, false),
  "aws:ecr/repository:Repository": (c) => ({
    ...named("ecr", (p) => `repository/${p}`)(c),
    registryId: MOCK_ACCOUNT_ID,
    repositoryUrl: `${MOCK_ACCOUNT_ID}.dkr.ecr.${c.region}.amazonaws.com/${c.physical}`,
  }),
  "docker-build:index:Image": ({ inputs }) => {
    // The digest of what was built: the same inputs give the same digest.
    const digest = `sha256:${crypto.createHash("sha256").update(JSON.stringify(inputs)).digest("hex")}`;
    const tags = Array.isArray(inputs.tags) ? inputs.tags.map(String) : [];
    return { id: digest, digest, ref: tags.length > 0 ? `${tags[0]}@${digest}` : "" };
  },
  "aws:ec2/launchTemplate:LaunchTemplate": (c) => {
    const id = `lt-0${shortHash(c.name)}`;
    const arn = c.arn("ec2", `launch-template/${id}`);
    return { id, name: c.physical, arn, latestVersion: 1, defaultVersion: 1 };
  },
  "aws:ec2/securityGroup:SecurityGroup": (c) => {
    const id = `sg-${shortHash(c.name)}`;
    return { id, arn: c.arn("ec2", `security-group/${id}`) };
  },
  "aws:cloudwatch/logGroup:LogGroup": named("logs", (p) => `log-group:${p}`),
  "aws:batch/computeEnvironment:ComputeEnvironment": named(
    "batch",
    (p) => `compute-environment/${p}`,
  ),
  "aws:batch/jobQueue:JobQueue": named("batch", (p) => `job-queue/${p}`),
  "aws:cloudwatch/eventRule:EventRule": named("events", (p) => `rule/${p}`),
  "aws:sns/topic:Topic": (c) => ({ ...named("sns", (p) => p)(c), id: c.arn("sns", c.physical) }),
  "aws:batch/jobDefinition:JobDefinition": (c) => {
    const arn = c.arn("batch", `job-definition/${c.physical}:1`);
    return { id: arn, name: c.physical, arn, revision: 1 };
  },
};

/** What the mocked provider returns for a new resource: its id, and its inputs plus outputs. */
function mockResourceState(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  region: string,
): { id: string; state: Record<string, unknown> } {
  const physical = typeof inputs.name === "string" ? inputs.name : `${name}-${shortHash(name)}`;
  const arn = (service: string, resource: string, regional = true): string =>
    `arn:aws:${service}:${regional ? region : ""}:${MOCK_ACCOUNT_ID}:${resource}`;
  const compute = MOCK_OUTPUTS[type] ?? (() => ({ id: `${name}-id`, name: physical }));
  const { id, ...outputs } = compute({ name, inputs, region, physical, arn });
  return { id, state: { ...inputs, ...outputs } };
}

/** A data-source call the program makes: its token and inputs. */
export interface MockCall {
  readonly token: string;
  readonly inputs: Record<string, unknown>;
}

type Gpu = { count: number; manufacturer: string; memorySize: number; name: string };
const A10G: Gpu = { count: 1, manufacturer: "NVIDIA", memorySize: 24576, name: "A10G" };
const T4: Gpu = { count: 1, manufacturer: "NVIDIA", memorySize: 16384, name: "T4" };
const L4: Gpu = { count: 1, manufacturer: "NVIDIA", memorySize: 23034, name: "L4" };
const V100: Gpu = { count: 1, manufacturer: "NVIDIA", memorySize: 16384, name: "V100" };

/**
 * EC2's DescribeInstanceTypes figures (default vCPUs, `MemoryInfo.SizeInMiB`, `GpuInfo.Gpus`),
 * kept apart from the program's own table so that a test compares it against another source.
 */
export const MOCK_INSTANCE_TYPES: Readonly<
  Record<string, { defaultVcpus: number; memorySize: number; gpuses: Gpu[] }>
> = {
  "m5a.large": { defaultVcpus: 2, memorySize: 8192, gpuses: [] },
  "m5a.xlarge": { defaultVcpus: 4, memorySize: 16384, gpuses: [] },
  "m5a.2xlarge": { defaultVcpus: 8, memorySize: 32768, gpuses: [] },
  "m5.large": { defaultVcpus: 2, memorySize: 8192, gpuses: [] },
  "c5.large": { defaultVcpus: 2, memorySize: 4096, gpuses: [] },
  "c6i.4xlarge": { defaultVcpus: 16, memorySize: 32768, gpuses: [] },
  "r5.large": { defaultVcpus: 2, memorySize: 16384, gpuses: [] },
  "g4dn.xlarge": { defaultVcpus: 4, memorySize: 16384, gpuses: [T4] },
  "g5.xlarge": { defaultVcpus: 4, memorySize: 16384, gpuses: [A10G] },
  "g5.2xlarge": { defaultVcpus: 8, memorySize: 32768, gpuses: [A10G] },
  "g5.12xlarge": { defaultVcpus: 48, memorySize: 196608, gpuses: [{ ...A10G, count: 4 }] },
  "g6.xlarge": { defaultVcpus: 4, memorySize: 16384, gpuses: [L4] },
  "p3.2xlarge": { defaultVcpus: 8, memorySize: 62464, gpuses: [V100] },
};

/** The mocked provider's answer to a data-source call, for an account with a default VPC. */
function mockCall(call: MockCall, region: string): Record<string, unknown> {
  const { inputs } = call;
  switch (call.token) {
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
      throw new Error(`The program made an unexpected provider call: ${call.token}`);
  }
}

/** Where and as what a program runs under mocks. */
export interface MockSettings {
  readonly project: string;
  readonly stack: string;
  /** Config as `namespace:key` → string. */
  readonly config: Record<string, string>;
  /** Answers data-source calls before the standard mocks (undefined falls through). */
  readonly calls?: (call: MockCall) => Record<string, unknown> | undefined;
}

/** Mocks answering every resource and call. */
async function installMocks(settings: MockSettings, region: string): Promise<void> {
  pulumi.runtime.setAllConfig(settings.config);
  await pulumi.runtime.setMocks(
    {
      newResource: ({ type, name, inputs }) => mockResourceState(type, name, inputs, region),
      call: (args) => {
        const call = { token: args.token, inputs: args.inputs as Record<string, unknown> };
        return settings.calls?.(call) ?? mockCall(call, region);
      },
    },
    settings.project,
    settings.stack,
    false,
  );
}

/** A registered resource: what the mocks were given and answered, and the request's options. */
function registered(
  request: RegisterResourceRequest,
  response: RegisterResourceResponse,
): MockedResource {
  const propertyDependencies: Record<string, string[]> = {};
  request.getPropertydependenciesMap().forEach((value, key) => {
    propertyDependencies[key] = value.getUrnsList();
  });
  return {
    urn: response.getUrn(),
    type: request.getType(),
    name: request.getName(),
    id: response.getId(),
    // As the mock monitor deserializes them for the mocks, and serialized their answer.
    inputs: pulumi.runtime.deserializeProperties(request.getObject()!),
    state: pulumi.runtime.deserializeProperties(response.getObject()!),
    custom: request.getCustom(),
    parent: request.getParent() || undefined,
    dependencies: request.getDependenciesList(),
    propertyDependencies,
    retainOnDelete: request.getRetainondelete() ?? false,
  };
}

type Monitor = {
  registerResource(
    request: RegisterResourceRequest,
    callback: (err: unknown, response?: RegisterResourceResponse) => void,
  ): void;
};

/** The mocks are not told parents or dependencies; the monitor's requests carry them. */
function recordRegistrations(resources: MockedResource[]): void {
  const monitor = pulumi.runtime.getMonitor() as unknown as Monitor;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (request, callback) =>
    register(request, (err, response) => {
      if (!err && response) {
        resources.push(registered(request, response));
      }
      callback(err, response);
    });
}

/**
 * Runs the program, resolves its outputs and waits for every registration. Like the Pulumi
 * CLI, an unhandled rejection (a throw inside an `apply`) fails the run instead of leaving it
 * waiting for outputs that never resolve.
 */
async function runToCompletion(
  program: () => Record<string, unknown>,
): Promise<Record<string, unknown>> {
  let onFailure: (err: unknown) => void = () => undefined;
  const failure = new Promise<never>((_, reject) => (onFailure = reject));
  process.on("unhandledRejection", onFailure);
  try {
    const outputs: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(program())) {
      // `promise()` settles with the Output, so a failed `apply` rejects here.
      outputs[key] = pulumi.Output.isInstance(value)
        ? await Promise.race([
            (value as unknown as { promise(): Promise<unknown> }).promise(),
            failure,
          ])
        : value;
    }
    // Let every registration finish, so resources nothing exports are recorded too.
    await Promise.race([pulumi.runtime.disconnect(), failure]);
    return outputs;
  } finally {
    process.off("unhandledRejection", onFailure);
  }
}

/**
 * Runs `program` under mocks and records every resource it registers. `program` returns the
 * outputs to resolve (a module's exports, or a few component properties). The runtime is
 * shared process state: one run at a time.
 */
export async function runUnderMocks(
  settings: MockSettings,
  program: () => Record<string, unknown>,
): Promise<{ resources: MockedResource[]; outputs: Record<string, unknown> }> {
  const region = settings.config["aws:region"] ?? "us-east-1";
  const resources: MockedResource[] = [];
  await installMocks(settings, region);
  recordRegistrations(resources);
  const outputs = await runToCompletion(program);
  return { resources, outputs };
}

/** Runs the program under mocks with a stack's config and returns what it registered. */
export async function evaluateProgram(options: EvaluateOptions): Promise<Evaluation> {
  const projectRoot = path.resolve(options.projectRoot ?? DEFAULT_PROJECT_ROOT);
  const projectFile = fs.readFileSync(path.join(projectRoot, "Pulumi.yaml"), "utf8");
  const project = (parseYaml(projectFile) as { name: string }).name;
  const config = { ...readStackConfig(projectRoot, options.stack), ...options.configOverrides };
  for (const key of options.configRemovals ?? []) {
    delete config[key];
  }
  const program = path.join(projectRoot, "index.ts");
  const components = path.join(projectRoot, "components") + path.sep;
  const { resources, outputs } = await runUnderMocks(
    { project, stack: options.stack, config },
    () => {
      // The program runs afresh with this config. Only its own modules are forgotten: others
      // (the jobs tool, the tests) must keep their identity for `instanceof` checks.
      for (const id of Object.keys(require.cache)) {
        if (id === program || id.startsWith(components)) {
          delete require.cache[id];
        }
      }
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(program) as Record<string, unknown>;
    },
  );
  return { project, stack: options.stack, config, resources, outputs };
}
