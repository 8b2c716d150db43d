/**
 * The policy pack as its own process, started and spoken to as the Pulumi CLI does for
 * `pulumi preview --policy-pack`: the pack runs Pulumi's run-policy-pack code (through
 * pack-runner.ts), serves the Analyzer gRPC service on 127.0.0.1 and prints its port; the
 * engine calls GetPluginInfo, GetAnalyzerInfo, ConfigureStack, Configure, Analyze per
 * resource (its inputs) and AnalyzeStack (every resource's outputs, parents, dependencies).
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import { createRequire } from "module";
import * as path from "path";
import * as readline from "readline";
import type * as GrpcJs from "@grpc/grpc-js";
import type * as EmptyPb from "google-protobuf/google/protobuf/empty_pb";
import type * as StructPb from "google-protobuf/google/protobuf/struct_pb";
import * as analyzerGrpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as pb from "@pulumi/pulumi/proto/analyzer_pb";
import type { PluginInfo } from "@pulumi/pulumi/proto/plugin_pb";
import { definedOnly } from "../../components/defined";
import {
  EnforcementLevel,
  JsonSchema,
  PolicyPackConfig,
  PolicySummary,
  ReconciledConfig,
  reconcilePolicyPackConfig,
} from "./policy-config";

// The message classes in @pulumi/pulumi/proto check `instanceof` against the copies of
// grpc-js and google-protobuf that @pulumi/pulumi loads, so these come from there too.
const fromPulumi = createRequire(require.resolve("@pulumi/pulumi/package.json"));
const grpc = fromPulumi("@grpc/grpc-js") as typeof GrpcJs;
const { Struct } = fromPulumi("google-protobuf/google/protobuf/struct_pb") as typeof StructPb;
const { Empty } = fromPulumi("google-protobuf/google/protobuf/empty_pb") as typeof EmptyPb;

/** The policy pack folder of this repository. */
export const DEFAULT_PACK_DIR = path.resolve(__dirname, "..");
const PACK_RUNNER = path.join(__dirname, "pack-runner.ts");
const REGISTER = path.resolve(__dirname, "..", "..", "bin", "register.js");

/** A first start transpiles the pack; give it time on a slow CI machine. */
const START_TIMEOUT_MS = 120_000;
const CALL_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;
/** The engine raises gRPC's 4 MB message limit to 400 MB for analyzers; so do we. */
const MAX_MESSAGE_BYTES = 400 * 1024 * 1024;

/** One resource to analyze: what the program registered (see evaluate.ts). */
export interface AnalyzedResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  /** The inputs the provider receives; unknown values as the engine's sentinel strings. */
  readonly inputs: Record<string, unknown>;
  /** Inputs plus computed outputs, as `AnalyzeStack` sees them. @default inputs */
  readonly state?: Record<string, unknown>;
  readonly parent?: string;
  readonly dependencies?: readonly string[];
  readonly propertyDependencies?: Readonly<Record<string, readonly string[]>>;
}

/** One policy violation, as the pack reported it. */
export interface Diagnostic {
  readonly policyName: string;
  readonly policyPackName: string;
  readonly policyPackVersion: string;
  /** The policy's description. */
  readonly description: string;
  /** The description, a newline, and the violation's own message. */
  readonly message: string;
  readonly enforcementLevel: EnforcementLevel;
  /** The resource the violation is about (the analyzed one if the policy named none). */
  readonly urn?: string;
  /** low, medium, high or critical, when the policy says. */
  readonly severity?: string;
}

interface PackInfo {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly policies: readonly PolicySummary[];
  /** The pack's own initial config (`new PolicyPack(name, args, initialConfig)`). */
  readonly initialConfig: PolicyPackConfig;
}

export interface StackIdentity {
  readonly project: string;
  readonly stack: string;
  readonly organization?: string;
  /** The stack's config (`namespace:key` → string), as the engine passes it. */
  readonly config?: Readonly<Record<string, string>>;
}

export interface StartOptions {
  /** The policy pack folder (with PulumiPolicy.yaml). @default policy/ */
  readonly packDir?: string;
  /** What the engine puts in the pack's environment; ConfigureStack tells it again. */
  readonly stack?: Partial<StackIdentity>;
  /** Lines the pack prints once it serves (warnings, console.log in policies). */
  readonly onOutput?: (line: string) => void;
  /** Gives up the start when aborted: the process is stopped and the start rejects. */
  readonly signal?: AbortSignal;
}

/** A running pack. Always `stop()` it. */
export interface PolicyPackProcess {
  readonly info: PackInfo;
  readonly pid: number;
  configureStack(stack: StackIdentity): Promise<void>;
  configure(config: ReconciledConfig): Promise<void>;
  analyze(resource: AnalyzedResource): Promise<Diagnostic[]>;
  analyzeStack(resources: readonly AnalyzedResource[]): Promise<Diagnostic[]>;
  stop(): Promise<void>;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A value as protobuf's `Struct` can carry it: `undefined` properties dropped (the engine
 * has no such value), `undefined` list items as null, anything else not JSON refused.
 */
export function toJson(value: unknown, at = "$"): Json | undefined {
  if (value === undefined || value === null || ["boolean", "string"].includes(typeof value)) {
    return value as Json | undefined;
  }
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw new Error(`${at} is ${value}, which a resource property cannot hold.`);
  }
  if (typeof value === "number") {
    return value;
  }
  if (Array.isArray(value)) {
    return value.map((item, i) => toJson(item, `${at}[${i}]`) ?? null);
  }
  if (typeof value !== "object") {
    throw new Error(`${at} is a ${typeof value}, which a resource property cannot hold.`);
  }
  const result: { [key: string]: Json } = {};
  for (const [key, item] of Object.entries(value)) {
    const converted = toJson(item, `${at}.${key}`);
    if (converted !== undefined) {
      result[key] = converted;
    }
  }
  return result;
}

function struct(properties: Record<string, unknown>, urn: string): StructPb.Struct {
  return Struct.fromJavaScript(toJson(properties, urn) as { [key: string]: Json });
}

/** Resource options as the engine sends them; nothing the program sets but the parent. */
function resourceOptions(resource: AnalyzedResource): pb.AnalyzerResourceOptions {
  const options = new pb.AnalyzerResourceOptions();
  options.setProtect(false);
  options.setCustomtimeouts(new pb.AnalyzerResourceOptions.CustomTimeouts());
  options.setParent(resource.parent ?? "");
  return options;
}

/** The `Analyze` request for one resource: its inputs. */
export function analyzeRequest(resource: AnalyzedResource): pb.AnalyzeRequest {
  const request = new pb.AnalyzeRequest();
  request.setType(resource.type);
  request.setUrn(resource.urn);
  request.setName(resource.name);
  request.setProperties(struct(resource.inputs, resource.urn));
  request.setOptions(resourceOptions(resource));
  return request;
}

/** One resource of an `AnalyzeStack` request: its outputs, parent and dependencies. */
export function analyzerResource(resource: AnalyzedResource): pb.AnalyzerResource {
  const message = new pb.AnalyzerResource();
  message.setType(resource.type);
  message.setUrn(resource.urn);
  message.setName(resource.name);
  message.setProperties(struct({ ...resource.inputs, ...resource.state }, resource.urn));
  message.setOptions(resourceOptions(resource));
  message.setParent(resource.parent ?? "");
  message.setDependenciesList([...(resource.dependencies ?? [])]);
  for (const [key, urns] of Object.entries(resource.propertyDependencies ?? {})) {
    const entry = new pb.AnalyzerPropertyDependencies();
    entry.setUrnsList([...urns]);
    message.getPropertydependenciesMap().set(key, entry);
  }
  return message;
}

/** An enum value's name as the proto spells it, lower-cased: MANDATORY → "mandatory". */
function nameIn(values: object, value: number, prefix = ""): string | undefined {
  const entry = Object.entries(values).find(([, v]) => v === value);
  return entry?.[0].slice(prefix.length).toLowerCase();
}

export function enforcementLevelName(level: pb.EnforcementLevel): EnforcementLevel {
  const name = nameIn(pb.EnforcementLevel, level);
  if (name === undefined) {
    throw new Error(`The policy pack sent an unknown enforcement level ${level}.`);
  }
  return name as EnforcementLevel;
}

export function enforcementLevelValue(level: EnforcementLevel): pb.EnforcementLevel {
  const value = pb.EnforcementLevel[level.toUpperCase() as keyof typeof pb.EnforcementLevel];
  if (value === undefined) {
    throw new Error(`Unknown enforcement level '${level}'.`);
  }
  return value;
}

/** A diagnostic; one that names no URN is about the analyzed resource, as the engine reads it. */
export function fromDiagnostic(d: pb.AnalyzeDiagnostic, analyzedUrn?: string): Diagnostic {
  const unspecified = d.getSeverity() === pb.PolicySeverity.POLICY_SEVERITY_UNSPECIFIED;
  return {
    policyName: d.getPolicyname(),
    policyPackName: d.getPolicypackname(),
    policyPackVersion: d.getPolicypackversion(),
    description: d.getDescription(),
    message: d.getMessage(),
    enforcementLevel: enforcementLevelName(d.getEnforcementlevel()),
    ...definedOnly({
      urn: d.getUrn() || analyzedUrn || undefined,
      severity: unspecified
        ? undefined
        : nameIn(pb.PolicySeverity, d.getSeverity(), "POLICY_SEVERITY_"),
    }),
  };
}

/** What the pack declares: GetPluginInfo, then GetAnalyzerInfo. */
async function readPackInfo(analyzer: analyzerGrpc.AnalyzerClient): Promise<PackInfo> {
  const plugin = await call<PluginInfo>("to describe itself (GetPluginInfo)", (...a) =>
    analyzer.getPluginInfo(new Empty(), ...a),
  );
  const info = await call<pb.AnalyzerInfo>("to list its policies (GetAnalyzerInfo)", (...a) =>
    analyzer.getAnalyzerInfo(new Empty(), ...a),
  );
  const initialConfig: PolicyPackConfig = {};
  info.getInitialconfigMap().forEach((value, key) => {
    initialConfig[key] = {
      enforcementLevel: enforcementLevelName(value.getEnforcementlevel()),
      properties: (value.getProperties()?.toJavaScript() ?? {}) as Record<string, unknown>,
    };
  });
  return {
    name: info.getName(),
    version: info.getVersion() || plugin.getVersion(),
    description: info.getDescription(),
    policies: info.getPoliciesList().map((policy) => {
      const schema = policy.getConfigschema();
      const required = schema?.getRequiredList() ?? [];
      const properties = schema?.getProperties()?.toJavaScript() ?? {};
      return {
        name: policy.getName(),
        description: policy.getDescription(),
        enforcementLevel: enforcementLevelName(policy.getEnforcementlevel()),
        ...definedOnly({
          configSchema: schema && {
            properties: properties as Record<string, JsonSchema>,
            ...definedOnly({ required: required.length > 0 ? required : undefined }),
          },
        }),
      };
    }),
    initialConfig,
  };
}

type Callback<Res> = (error: GrpcJs.ServiceError | null, response: Res) => void;

/** One unary call with a deadline; a failure names what the pack was asked to do. */
function call<Res>(
  what: string,
  send: (
    metadata: GrpcJs.Metadata,
    options: Partial<GrpcJs.CallOptions>,
    cb: Callback<Res>,
  ) => void,
): Promise<Res> {
  return new Promise((resolve, reject) =>
    send(new grpc.Metadata(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (error, response) =>
      error
        ? reject(new Error(`The policy pack failed ${what}: ${error.details || error.message}`))
        : resolve(response),
    ),
  );
}

/** The calls the engine makes on a serving pack. */
function analyzerCalls(
  analyzer: analyzerGrpc.AnalyzerClient,
): Pick<PolicyPackProcess, "configureStack" | "configure" | "analyze" | "analyzeStack"> {
  return {
    configureStack: async (identity) => {
      const request = new pb.AnalyzerStackConfigureRequest();
      request.setProject(identity.project);
      request.setStack(identity.stack);
      request.setOrganization(identity.organization ?? "");
      request.setDryRun(true);
      for (const [key, value] of Object.entries(identity.config ?? {})) {
        request.getConfigMap().set(key, value);
      }
      await call("to take the stack's settings (ConfigureStack)", (...a) =>
        analyzer.configureStack(request, ...a),
      );
    },
    configure: async (config) => {
      const request = new pb.ConfigureAnalyzerRequest();
      for (const [name, entry] of Object.entries(config)) {
        const policyConfig = new pb.PolicyConfig();
        // Always set: proto3 would read a missing level as ADVISORY (0).
        policyConfig.setEnforcementlevel(enforcementLevelValue(entry.enforcementLevel));
        policyConfig.setProperties(struct(entry.properties, name));
        request.getPolicyconfigMap().set(name, policyConfig);
      }
      await call("to take the policy config (Configure)", (...a) =>
        analyzer.configure(request, ...a),
      );
    },
    analyze: async (resource) => {
      const response = await call<pb.AnalyzeResponse>(
        `to analyze ${resource.urn} (Analyze)`,
        (...a) => analyzer.analyze(analyzeRequest(resource), ...a),
      );
      return response.getDiagnosticsList().map((d) => fromDiagnostic(d, resource.urn));
    },
    analyzeStack: async (resources) => {
      const request = new pb.AnalyzeStackRequest();
      request.setResourcesList(resources.map(analyzerResource));
      const response = await call<pb.AnalyzeResponse>(
        "to analyze the stack (AnalyzeStack)",
        (...a) => analyzer.analyzeStack(request, ...a),
      );
      return response.getDiagnosticsList().map((d) => fromDiagnostic(d));
    },
  };
}

/** Why the pack cannot be started, naming the fix; undefined when it can. */
function startProblem(packDir: string): string | undefined {
  const fix = "Pass the folder that holds the pack's PulumiPolicy.yaml";
  if (!fs.existsSync(packDir)) {
    return `the folder ${packDir} does not exist. ${fix}.`;
  }
  if (!fs.existsSync(path.join(packDir, "PulumiPolicy.yaml"))) {
    return `${packDir} has no PulumiPolicy.yaml. ${fix}.`;
  }
  try {
    // The pack runs with the @pulumi/pulumi it depends on, as the language host resolves it.
    require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [packDir] });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") {
      throw err;
    }
    return `@pulumi/pulumi is not installed for ${packDir}. ${fix}, and run \`npm ci\` at the repository root.`;
  }
  return undefined;
}

/** Resolves with the port the pack prints first; rejects when it exits, fails or stalls. */
function awaitPort(
  child: ChildProcess,
  stdout: readline.Interface,
  packDir: string,
  stderr: string[],
): Promise<number> {
  return new Promise((resolve, reject) => {
    const fail = (message: string) => {
      clearTimeout(timer);
      reject(new Error(message));
    };
    const timer = setTimeout(
      () =>
        fail(
          `The policy pack in ${packDir} printed no port within ${START_TIMEOUT_MS / 1000} s.\n` +
            stderr.join("\n"),
        ),
      START_TIMEOUT_MS,
    );
    stdout.once("line", (line) => {
      const first = line.trim();
      if (/^\d+$/.test(first)) {
        clearTimeout(timer);
        resolve(Number(first));
      } else {
        fail(`The policy pack in ${packDir} printed ${JSON.stringify(first)} instead of its port.`);
      }
    });
    // After its output has all been read, so that the reason is in `stderr`.
    child.once("close", (code, signal) =>
      fail(
        `The policy pack in ${packDir} exited (${signal ?? `code ${code}`}) before serving:\n` +
          `${stderr.join("\n").trim() || "(no output)"}\n` +
          `Run \`npx tsc --noEmit -p ${path.relative(process.cwd(), packDir) || "."}\` to see type errors.`,
      ),
    );
    child.once("error", (err) =>
      fail(`Could not start the policy pack in ${packDir}: ${err.message}`),
    );
  });
}

/** SIGTERM, then SIGKILL after STOP_TIMEOUT_MS; resolves once the process is gone. */
function endProcess(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/**
 * Starts the pack, connects to it and reads what it declares. The process is spawned before
 * this returns, so work started after the call overlaps the pack's start.
 */
export async function startPolicyPack(options: StartOptions): Promise<PolicyPackProcess> {
  const packDir = path.resolve(options.packDir ?? DEFAULT_PACK_DIR);
  const { signal, stack = {} } = options;
  const problem = startProblem(packDir);
  if (problem !== undefined) {
    throw new Error(`Could not start the policy pack: ${problem}`);
  }
  const cancelled = () =>
    new Error(`Starting the policy pack was cancelled (${String(signal?.reason)}).`);
  if (signal?.aborted) {
    throw cancelled();
  }
  const child = spawn(process.execPath, ["-r", REGISTER, PACK_RUNNER, packDir], {
    cwd: packDir,
    // What the engine puts in an analyzer's environment.
    env: {
      ...process.env,
      PULUMI_NODEJS_DRY_RUN: "true",
      ...definedOnly({
        PULUMI_NODEJS_PROJECT: stack.project || undefined,
        PULUMI_NODEJS_STACK: stack.stack || undefined,
        PULUMI_NODEJS_ORGANIZATION: stack.organization || undefined,
        PULUMI_CONFIG: stack.config && JSON.stringify(stack.config),
      }),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let client: analyzerGrpc.AnalyzerClient | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= (client?.close(), endProcess(child)));
  // Before the pack serves, its stderr explains a failed start; after, every line is output.
  let serving = false;
  const stderr: string[] = [];
  const output = (line: string) => {
    if (serving && line.trim() !== "") {
      options.onOutput?.(line);
    }
  };
  const stdout = readline.createInterface({ input: child.stdout! }).on("line", output);
  readline.createInterface({ input: child.stderr! }).on("line", (line) => {
    output(line);
    if (!serving) {
      stderr.push(line);
    }
  });
  const onAbort = () => void stop();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const port = await awaitPort(child, stdout, packDir, stderr);
    serving = true;
    client = new analyzerGrpc.AnalyzerClient(
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
      {
        "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
        "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
      },
    );
    const info = await readPackInfo(client);
    if (signal?.aborted) {
      throw cancelled();
    }
    return { info, pid: child.pid!, ...analyzerCalls(client), stop };
  } catch (err) {
    await stop();
    throw signal?.aborted ? cancelled() : err;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

export interface PolicyCheckResult {
  readonly pack: PackInfo;
  /** The config the pack ran with: every policy's level and settings. */
  readonly config: ReconciledConfig;
  /** Config problems the engine would ignore too (e.g. an unknown policy name). */
  readonly warnings: readonly string[];
  /** Resource diagnostics in resource order, then the stack's. */
  readonly diagnostics: readonly Diagnostic[];
  readonly resourcesAnalyzed: number;
}

/**
 * What the engine does with a serving pack during `pulumi preview`: ConfigureStack,
 * Configure, Analyze for every resource (many at once, as the program registers them), then
 * AnalyzeStack.
 */
export async function checkWithPack(
  pack: PolicyPackProcess,
  options: {
    readonly stack: StackIdentity;
    /** Every resource the program registered, components included, in registration order. */
    readonly resources: readonly AnalyzedResource[];
    /** The `--policy-pack-config` settings and where they came from, for messages. */
    readonly policyConfig?: PolicyPackConfig;
    readonly policyConfigSource?: string;
  },
): Promise<PolicyCheckResult> {
  const { config, warnings } = reconcilePolicyPackConfig(
    pack.info.policies,
    pack.info.initialConfig,
    options.policyConfig ?? {},
    options.policyConfigSource,
  );
  await pack.configureStack(options.stack);
  await pack.configure(config);
  const perResource = await Promise.all(options.resources.map((r) => pack.analyze(r)));
  const stack = await pack.analyzeStack(options.resources);
  return {
    pack: pack.info,
    config,
    warnings,
    diagnostics: [...perResource.flat(), ...stack],
    resourcesAnalyzed: options.resources.length,
  };
}
