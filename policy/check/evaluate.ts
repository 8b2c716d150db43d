/**
 * Runs the real Pulumi program (`index.ts`) in this process under `pulumi.runtime.setMocks`,
 * with a stack's config from `Pulumi.<stack>.yaml`, and records every resource it registers
 * with the inputs the engine (and so the provider and the policy pack) would receive.
 * Used by `npm run policy:check`, the program's tests and the benchmark: no cloud, no CLI.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { mockCall, MockCall } from "./mock-calls";

/** This repository's Pulumi project. */
const DEFAULT_PROJECT_ROOT = path.resolve(__dirname, "..", "..");

/** The account the mocks pretend to deploy into. */
const MOCK_ACCOUNT_ID = "123456789012";

/** One resource the program registered, as the engine saw it. */
export interface MockedResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly id: string;
  /** The inputs as the provider receives them (Outputs resolved). */
  readonly inputs: Record<string, unknown>;
  /** The state the mocks returned: inputs plus computed outputs (ARNs, names). */
  readonly state: Record<string, unknown>;
  /** The parent's URN; the stack for top-level resources. */
  readonly parent?: string;
  readonly dependencies: string[];
  readonly propertyDependencies: Record<string, string[]>;
  /** False for component resources. */
  readonly custom: boolean;
  /** The `retainOnDelete` resource option: Pulumi never asks the provider to delete it. */
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

/** Reads a stack's config as the Pulumi CLI hands it to the program: every value a string. */
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
    if (value !== null && typeof value === "object" && "secure" in value) {
      // Secrets cannot be decrypted without the CLI; the program only needs a placeholder.
      config[key] = "[secret]";
    } else {
      config[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
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

function readProjectName(projectRoot: string): string {
  const doc = parseYaml(fs.readFileSync(path.join(projectRoot, "Pulumi.yaml"), "utf8")) as {
    name: string;
  };
  return doc.name;
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

type MockState = { id: string; state: Record<string, unknown> };

/** A resource AWS knows by its name, with an ARN of `service` and `resource(physical)`. */
function named(
  service: string,
  resource: (physical: string) => string,
  regional = true,
): (c: MockContext) => MockState {
  return (c) => ({
    id: c.physical,
    state: { ...c.inputs, name: c.physical, arn: c.arn(service, resource(c.physical), regional) },
  });
}

/** The outputs AWS computes, per resource type, shaped like the real provider's. */
const MOCK_STATES: Readonly<Record<string, (c: MockContext) => MockState>> = {
  "aws:s3/bucket:Bucket": (c) => {
    const bucket = typeof c.inputs.bucket === "string" ? c.inputs.bucket : c.physical;
    return { id: bucket, state: { ...c.inputs, bucket, arn: `arn:aws:s3:::${bucket}` } };
  },
  "aws:iam/role:Role": named("iam", (p) => `role/${p}`, false),
  "aws:iam/instanceProfile:InstanceProfile": named("iam", (p) => `instance-profile/${p}`, false),
  "aws:ecr/repository:Repository": (c) => ({
    id: c.physical,
    state: {
      ...c.inputs,
      name: c.physical,
      arn: c.arn("ecr", `repository/${c.physical}`),
      registryId: MOCK_ACCOUNT_ID,
      repositoryUrl: `${MOCK_ACCOUNT_ID}.dkr.ecr.${c.region}.amazonaws.com/${c.physical}`,
    },
  }),
  "docker-build:index:Image": (c) => {
    // The digest of what was built: the same inputs give the same digest.
    const digest = `sha256:${crypto.createHash("sha256").update(JSON.stringify(c.inputs)).digest("hex")}`;
    const tags = Array.isArray(c.inputs.tags) ? c.inputs.tags.map(String) : [];
    return {
      id: digest,
      state: { ...c.inputs, digest, ref: tags.length > 0 ? `${tags[0]}@${digest}` : "" },
    };
  },
  "aws:ec2/launchTemplate:LaunchTemplate": (c) => {
    const id = `lt-0${shortHash(c.name)}`;
    return {
      id,
      state: {
        ...c.inputs,
        name: c.physical,
        arn: c.arn("ec2", `launch-template/${id}`),
        latestVersion: 1,
        defaultVersion: 1,
      },
    };
  },
  "aws:ec2/securityGroup:SecurityGroup": (c) => ({
    id: `sg-${shortHash(c.name)}`,
    state: { ...c.inputs, arn: c.arn("ec2", `security-group/sg-${shortHash(c.name)}`) },
  }),
  "aws:cloudwatch/logGroup:LogGroup": named("logs", (p) => `log-group:${p}`),
  "aws:batch/computeEnvironment:ComputeEnvironment": named(
    "batch",
    (p) => `compute-environment/${p}`,
  ),
  "aws:batch/jobQueue:JobQueue": named("batch", (p) => `job-queue/${p}`),
  "aws:batch/jobDefinition:JobDefinition": (c) => {
    const definitionArn = c.arn("batch", `job-definition/${c.physical}:1`);
    return {
      id: definitionArn,
      state: { ...c.inputs, name: c.physical, arn: definitionArn, revision: 1 },
    };
  },
};

/**
 * What the mocked provider returns for a new resource: its inputs plus the outputs AWS
 * would compute (ARNs, physical names, URLs), shaped like the real provider's.
 */
function mockResourceState(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  region: string,
): MockState {
  const physical = typeof inputs.name === "string" ? inputs.name : `${name}-${shortHash(name)}`;
  const arn = (service: string, resource: string, regional = true): string =>
    `arn:aws:${service}:${regional ? region : ""}:${MOCK_ACCOUNT_ID}:${resource}`;
  const build = MOCK_STATES[type];
  if (build === undefined) {
    return { id: `${name}-id`, state: { ...inputs, name: physical } };
  }
  return build({ name, inputs, region, physical, arn });
}

/** Resolves every exported Output of the program's module. */
async function resolveOutputs(exports: Record<string, unknown>): Promise<Record<string, unknown>> {
  const outputs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(exports)) {
    // `promise()` is the Output's own settled value, so a failure inside an `apply` (or a
    // failed registration) rejects here instead of leaving the run waiting forever.
    outputs[key] = pulumi.Output.isInstance(value)
      ? await (value as unknown as { promise(): Promise<unknown> }).promise()
      : value;
  }
  return outputs;
}

/**
 * Forgets the program's own modules (`index.ts` and `components/`) so it runs afresh with new
 * config. Only those: other project modules already imported elsewhere (the jobs tool, the
 * tests) must keep their identity, or `instanceof` checks against them would fail.
 */
function clearProgramModules(projectRoot: string): void {
  const program = path.join(projectRoot, "index.ts");
  const components = path.join(projectRoot, "components") + path.sep;
  for (const id of Object.keys(require.cache)) {
    if (id === program || id.startsWith(components)) {
      delete require.cache[id];
    }
  }
}

/** Where and as what a program runs under mocks. */
export interface MockSettings {
  readonly project: string;
  readonly stack: string;
  /** Config as `namespace:key` → string. */
  readonly config: Record<string, string>;
  /**
   * Answers data-source calls before the standard mocks do (return undefined to fall
   * through), e.g. an account without a default VPC.
   */
  readonly calls?: (call: MockCall) => Record<string, unknown> | undefined;
}

type PendingResource = Omit<MockedResource, "urn">;

/** Mocks answering every resource and call; each new resource is noted in `pending`. */
async function installMocks(
  settings: MockSettings,
  region: string,
  pending: Map<string, PendingResource>,
): Promise<void> {
  pulumi.runtime.setAllConfig(settings.config);
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const { id, state } = mockResourceState(args.type, args.name, args.inputs, region);
        pending.set(`${args.type}::${args.name}`, {
          type: args.type,
          name: args.name,
          id,
          inputs: args.inputs,
          state,
          dependencies: [],
          propertyDependencies: {},
          custom: args.custom ?? true,
        });
        return { id, state };
      },
      call: (args) => {
        const call = { token: args.token, inputs: args.inputs as Record<string, unknown> };
        return settings.calls?.(call) ?? mockCall(call, region, MOCK_ACCOUNT_ID);
      },
    },
    settings.project,
    settings.stack,
    false,
  );
}

/** What the runtime's resource monitor is asked (the parts read here). */
type RegisterRequest = {
  getType(): string;
  getName(): string;
  getParent(): string;
  getDependenciesList(): string[];
  getRetainondelete?(): boolean | undefined;
  getPropertydependenciesMap(): {
    forEach(fn: (value: { getUrnsList(): string[] }, key: string) => void): void;
  };
};
type Monitor = {
  registerResource(
    req: RegisterRequest,
    cb: (err: unknown, resp?: { getUrn(): string }) => void,
  ): void;
};

/**
 * The mocks are not told parents or dependencies; the monitor's requests carry them. Each
 * registered resource goes into `resources`, with its URN, parent and dependencies.
 */
function recordRegistrations(
  pending: ReadonlyMap<string, PendingResource>,
  resources: MockedResource[],
): void {
  const monitor = pulumi.runtime.getMonitor() as unknown as Monitor;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) =>
    register(req, (err, resp) => {
      const entry = pending.get(`${req.getType()}::${req.getName()}`);
      if (!err && resp && entry) {
        const propertyDependencies: Record<string, string[]> = {};
        req.getPropertydependenciesMap().forEach((value, key) => {
          propertyDependencies[key] = value.getUrnsList();
        });
        resources.push({
          ...entry,
          urn: resp.getUrn(),
          parent: req.getParent() || undefined,
          dependencies: req.getDependenciesList(),
          propertyDependencies,
          retainOnDelete: req.getRetainondelete?.() ?? false,
        });
      }
      cb(err, resp);
    });
}

/**
 * Runs the program and resolves its outputs, then waits for every registration. The Pulumi
 * CLI fails a program on an unhandled rejection (a throw inside an `apply` ends up as one);
 * so does this, rather than wait for outputs that will never resolve.
 */
async function runToCompletion(
  program: () => Record<string, unknown>,
): Promise<Record<string, unknown>> {
  let onFailure: (err: unknown) => void = () => undefined;
  const failure = new Promise<never>((_, reject) => (onFailure = reject));
  process.on("unhandledRejection", onFailure);
  try {
    const outputs = await Promise.race([resolveOutputs(program()), failure]);
    // Let every registration finish, so resources nothing exports are recorded too.
    await Promise.race([pulumi.runtime.disconnect(), failure]);
    return outputs;
  } finally {
    process.off("unhandledRejection", onFailure);
  }
}

/**
 * Runs `program` under mocks and records every resource it registers, with its parent and
 * dependencies. `program` returns the outputs to resolve (a module's exports, or a few
 * component properties). The runtime is shared process state: one run at a time.
 */
export async function runUnderMocks(
  settings: MockSettings,
  program: () => Record<string, unknown>,
): Promise<{ resources: MockedResource[]; outputs: Record<string, unknown> }> {
  const region = settings.config["aws:region"] ?? "us-east-1";
  const resources: MockedResource[] = [];
  const pending = new Map<string, PendingResource>();
  await installMocks(settings, region, pending);
  recordRegistrations(pending, resources);
  const outputs = await runToCompletion(program);
  return { resources, outputs };
}

/** Runs the program under mocks with a stack's config and returns what it registered. */
export async function evaluateProgram(options: EvaluateOptions): Promise<Evaluation> {
  const projectRoot = path.resolve(options.projectRoot ?? DEFAULT_PROJECT_ROOT);
  const project = readProjectName(projectRoot);
  const config = { ...readStackConfig(projectRoot, options.stack), ...options.configOverrides };
  for (const key of options.configRemovals ?? []) {
    delete config[key];
  }
  const { resources, outputs } = await runUnderMocks(
    { project, stack: options.stack, config },
    () => {
      clearProgramModules(projectRoot);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(path.join(projectRoot, "index.ts")) as Record<string, unknown>;
    },
  );
  return { project, stack: options.stack, config, resources, outputs };
}
