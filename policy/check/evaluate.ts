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
import { DEFAULT_PROJECT_ROOT, listStacks } from "./stacks";

/** The account the mocks pretend to deploy into. */
export const MOCK_ACCOUNT_ID = "123456789012";

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
      `${file} does not exist; create the stack with \`pulumi stack init ${stack}\` or pick one of: ${listStacks(projectRoot).join(", ") || "(none)"}.`,
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

/** The stacks that have a `Pulumi.<stack>.yaml` in the project. */

function readProjectName(projectRoot: string): string {
  const doc = parseYaml(fs.readFileSync(path.join(projectRoot, "Pulumi.yaml"), "utf8")) as {
    name: string;
  };
  return doc.name;
}

function shortHash(text: string): string {
  return crypto.createHash("sha256").update(text).digest("hex").slice(0, 7);
}

/**
 * What the mocked provider returns for a new resource: its inputs plus the outputs AWS
 * would compute (ARNs, physical names, URLs), shaped like the real provider's.
 */
export function mockResourceState(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  region: string,
): { id: string; state: Record<string, unknown> } {
  const physical = typeof inputs.name === "string" ? inputs.name : `${name}-${shortHash(name)}`;
  const arn = (service: string, resource: string, regional = true): string =>
    `arn:aws:${service}:${regional ? region : ""}:${MOCK_ACCOUNT_ID}:${resource}`;
  const base = { ...inputs };
  switch (type) {
    case "aws:s3/bucket:Bucket": {
      const bucket = typeof inputs.bucket === "string" ? inputs.bucket : physical;
      return { id: bucket, state: { ...base, bucket, arn: `arn:aws:s3:::${bucket}` } };
    }
    case "aws:iam/role:Role":
      return {
        id: physical,
        state: { ...base, name: physical, arn: arn("iam", `role/${physical}`, false) },
      };
    case "aws:iam/instanceProfile:InstanceProfile":
      return {
        id: physical,
        state: { ...base, name: physical, arn: arn("iam", `instance-profile/${physical}`, false) },
      };
    case "aws:ecr/repository:Repository":
      return {
        id: physical,
        state: {
          ...base,
          name: physical,
          arn: arn("ecr", `repository/${physical}`),
          registryId: MOCK_ACCOUNT_ID,
          repositoryUrl: `${MOCK_ACCOUNT_ID}.dkr.ecr.${region}.amazonaws.com/${physical}`,
        },
      };
    case "docker-build:index:Image": {
      // The digest of what was built: the same inputs give the same digest.
      const digest = `sha256:${crypto.createHash("sha256").update(JSON.stringify(inputs)).digest("hex")}`;
      const tags = Array.isArray(inputs.tags) ? inputs.tags.map(String) : [];
      return {
        id: digest,
        state: { ...base, digest, ref: tags.length > 0 ? `${tags[0]}@${digest}` : "" },
      };
    }
    case "aws:ec2/launchTemplate:LaunchTemplate": {
      const id = `lt-0${shortHash(name)}`;
      return {
        id,
        state: {
          ...base,
          name: physical,
          arn: arn("ec2", `launch-template/${id}`),
          latestVersion: 1,
          defaultVersion: 1,
        },
      };
    }
    case "aws:ec2/securityGroup:SecurityGroup":
      return {
        id: `sg-${shortHash(name)}`,
        state: { ...base, arn: arn("ec2", `security-group/sg-${shortHash(name)}`) },
      };
    case "aws:cloudwatch/logGroup:LogGroup":
      return {
        id: physical,
        state: { ...base, name: physical, arn: arn("logs", `log-group:${physical}`) },
      };
    case "aws:batch/computeEnvironment:ComputeEnvironment":
      return {
        id: physical,
        state: { ...base, name: physical, arn: arn("batch", `compute-environment/${physical}`) },
      };
    case "aws:batch/jobQueue:JobQueue":
      return {
        id: physical,
        state: { ...base, name: physical, arn: arn("batch", `job-queue/${physical}`) },
      };
    case "aws:batch/jobDefinition:JobDefinition": {
      const definitionArn = arn("batch", `job-definition/${physical}:1`);
      return {
        id: definitionArn,
        state: { ...base, name: physical, arn: definitionArn, revision: 1 },
      };
    }
    default:
      return { id: `${name}-id`, state: { ...base, name: physical } };
  }
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
  const pending = new Map<string, Omit<MockedResource, "urn">>();
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

  // The mocks are not told parents or dependencies; the monitor's requests carry them.
  type Request = {
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
    registerResource(req: Request, cb: (err: unknown, resp?: { getUrn(): string }) => void): void;
  };
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

  // The Pulumi CLI fails a program on an unhandled rejection (a throw inside an `apply`
  // ends up as one); do the same rather than wait for outputs that will never resolve.
  let onFailure: (err: unknown) => void = () => undefined;
  const failure = new Promise<never>((_, reject) => (onFailure = reject));
  process.on("unhandledRejection", onFailure);
  try {
    const outputs = await Promise.race([resolveOutputs(program()), failure]);
    // Let every registration finish, so resources nothing exports are recorded too.
    await Promise.race([pulumi.runtime.disconnect(), failure]);
    return { resources, outputs };
  } finally {
    process.off("unhandledRejection", onFailure);
  }
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
