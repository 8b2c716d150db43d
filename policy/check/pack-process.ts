/**
 * The policy pack as a separate process, started and spoken to the way the Pulumi CLI does
 * it (pulumi-language-nodejs's RunPlugin for `kind: analyzer`): `node
 * @pulumi/pulumi/cmd/run-policy-pack <engine-address> <pack-dir>` in the pack's folder
 * (here pack-runner.ts, the same minus ts-node's type-check); the pack serves the Analyzer
 * gRPC service on 127.0.0.1 and prints its port; the engine then
 * calls GetPluginInfo, GetAnalyzerInfo, ConfigureStack, Configure, Analyze per resource
 * and AnalyzeStack. The engine address is served by a minimal Engine service here, so a
 * pack that logs through it is heard.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as analyzerGrpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as analyzerPb from "@pulumi/pulumi/proto/analyzer_pb";
import * as engineGrpc from "@pulumi/pulumi/proto/engine_grpc_pb";
import * as enginePb from "@pulumi/pulumi/proto/engine_pb";
import type { PluginInfo } from "@pulumi/pulumi/proto/plugin_pb";
import type * as GrpcJs from "@grpc/grpc-js";
import { Empty, Struct, grpc } from "./grpc";
import { JsonSchema, PolicyPackConfig, PolicySummary, ReconciledConfig } from "./policy-config";
import {
  AnalyzedResource,
  Diagnostic,
  analyzeRequest,
  analyzeStackRequest,
  enforcementLevelName,
  enforcementLevelValue,
  fromDiagnostic,
  toJson,
} from "./wire";
import { definedOnly } from "../../components/defined";

/** The policy pack folder of this repository. */
export const DEFAULT_PACK_DIR = path.resolve(__dirname, "..");

/** Runs the pack as run-policy-pack does, its TypeScript loaded by bin/register.js. */
const PACK_RUNNER = path.join(__dirname, "pack-runner.ts");
const REGISTER = path.resolve(__dirname, "..", "..", "bin", "register.js");

/** A first start transpiles the pack; give it time on a slow CI machine. */
const START_TIMEOUT_MS = 120_000;
const CALL_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;
/** The engine raises gRPC's 4 MB message limit to 400 MB for analyzers; so do we. */
const MAX_MESSAGE_BYTES = 400 * 1024 * 1024;

export interface PackInfo {
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
  readonly tags?: Readonly<Record<string, string>>;
}

export interface StartOptions {
  /** The policy pack folder (with PulumiPolicy.yaml). @default policy/ */
  readonly packDir?: string;
  /**
   * What the language host puts in the pack's environment. Optional: the pack also learns
   * the stack from `ConfigureStack`, so it can start before the program is evaluated.
   */
  readonly stack?: Partial<StackIdentity>;
  /** Called once the pack's process was spawned (before it serves). */
  readonly onSpawn?: () => void;
  /** Lines the pack prints or logs after it started (warnings, console.log in policies). */
  readonly onOutput?: (line: string) => void;
  /**
   * Gives up starting when aborted (e.g. on Ctrl-C): the pack process and the Engine server
   * are stopped and the start rejects. No effect once the pack is serving; `stop()` it then.
   */
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

type Callback<Res> = (error: GrpcJs.ServiceError | null, response: Res) => void;

/** One unary call with a deadline, as a promise. */
function unary<Res>(
  what: string,
  call: (
    metadata: GrpcJs.Metadata,
    options: Partial<GrpcJs.CallOptions>,
    cb: Callback<Res>,
  ) => void,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    call(new grpc.Metadata(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (error, response) => {
      if (error) {
        reject(new Error(`The policy pack failed ${what}: ${error.details || error.message}`));
      } else {
        resolve(response);
      }
    });
  });
}

/** The Engine service a pack may call back (`Log`); everything else answers emptily. */
async function startEngineService(
  onLog: (line: string) => void,
): Promise<{ address: string; stop: () => Promise<void> }> {
  const server = new grpc.Server();
  const severities: Record<number, string> = {
    [enginePb.LogSeverity.DEBUG]: "debug",
    [enginePb.LogSeverity.INFO]: "info",
    [enginePb.LogSeverity.WARNING]: "warning",
    [enginePb.LogSeverity.ERROR]: "error",
  };
  const implementation: engineGrpc.IEngineServer = {
    log: (call, callback) => {
      const severity = call.request.getSeverity();
      if (severity !== enginePb.LogSeverity.DEBUG) {
        onLog(`${severities[severity] ?? "log"}: ${call.request.getMessage()}`);
      }
      callback(null, new Empty());
    },
    getRootResource: (_call, callback) => callback(null, new enginePb.GetRootResourceResponse()),
    setRootResource: (_call, callback) => callback(null, new enginePb.SetRootResourceResponse()),
    startDebugging: (_call, callback) => callback(null, new Empty()),
    requirePulumiVersion: (_call, callback) =>
      callback(null, new enginePb.RequirePulumiVersionResponse()),
  };
  server.addService(engineGrpc.EngineService, implementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, STOP_TIMEOUT_MS);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

/** Rejects as soon as `signal` is aborted, otherwise settles as `promise` does. */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) {
    return promise;
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled(signal));
    if (signal.aborted) {
      // Nobody awaits `promise` now: its own failure (the pack stopped under it) is noise.
      promise.catch(() => undefined);
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/** Why the pack folder cannot be started, when that is the folder's fault. */
function packDirProblem(packDir: string): string | undefined {
  if (!fs.existsSync(packDir)) {
    return `the folder ${packDir} does not exist`;
  }
  if (!fs.existsSync(path.join(packDir, "PulumiPolicy.yaml"))) {
    return `${packDir} has no PulumiPolicy.yaml`;
  }
  return undefined;
}

/** Resolves with the port the pack prints first, or rejects with what it printed to stderr. */
function awaitPort(child: ChildProcess, packDir: string, stderr: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new Error(
          `The policy pack in ${packDir} printed no port within ${START_TIMEOUT_MS / 1000} s.\n${stderr.join("")}`,
        ),
      );
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const newline = buffered.indexOf("\n");
      if (newline >= 0) {
        const first = buffered.slice(0, newline).trim();
        cleanup();
        if (/^\d+$/.test(first)) {
          resolve(Number(first));
        } else {
          reject(
            new Error(
              `The policy pack in ${packDir} printed ${JSON.stringify(first)} instead of its port.`,
            ),
          );
        }
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      cleanup();
      reject(
        new Error(
          `The policy pack in ${packDir} exited (${signal ?? `code ${code}`}) before serving:\n` +
            `${stderr.join("").trim() || "(no output)"}\n` +
            `Run \`npx tsc --noEmit -p ${path.relative(process.cwd(), packDir) || "."}\` to see type errors.`,
        ),
      );
    };
    const onError = (err: Error) => {
      cleanup();
      const problem = packDirProblem(packDir);
      reject(
        new Error(
          problem
            ? `Could not start the policy pack: ${problem}. Pass the folder that holds the pack's PulumiPolicy.yaml.`
            : `Could not start the policy pack in ${packDir}: ${err.message}`,
        ),
      );
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.off("exit", onExit);
      child.off("error", onError);
    };
    child.stdout?.on("data", onData);
    child.on("exit", onExit);
    child.on("error", onError);
  });
}

/** The list, or undefined when it is empty. */
function nonEmpty<T>(list: T[]): T[] | undefined {
  return list.length > 0 ? list : undefined;
}

function toPolicySummary(info: analyzerPb.PolicyInfo): PolicySummary {
  const schema = info.getConfigschema();
  const properties = schema?.getProperties()?.toJavaScript() as
    Record<string, JsonSchema> | undefined;
  return {
    name: info.getName(),
    description: info.getDescription(),
    enforcementLevel: enforcementLevelName(info.getEnforcementlevel()),
    ...definedOnly({
      configSchema: schema && {
        properties: properties ?? {},
        ...definedOnly({ required: nonEmpty(schema.getRequiredList()) }),
      },
    }),
  };
}

function toInitialConfig(info: analyzerPb.AnalyzerInfo): PolicyPackConfig {
  const config: PolicyPackConfig = {};
  info.getInitialconfigMap().forEach((value, key) => {
    config[key] = {
      enforcementLevel: enforcementLevelName(value.getEnforcementlevel()),
      properties: (value.getProperties()?.toJavaScript() ?? {}) as Record<string, unknown>,
    };
  });
  return config;
}

/**
 * SIGTERM, then SIGKILL after STOP_TIMEOUT_MS; resolves when the process exited (or its
 * pipes closed), and at the latest STOP_TIMEOUT_MS after the SIGKILL: a stop must end.
 */
function endProcess(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    let giveUp: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(escalate);
      clearTimeout(giveUp);
      child.off("exit", done);
      child.off("close", done);
      resolve();
    };
    child.once("exit", done);
    child.once("close", done);
    child.kill("SIGTERM");
    const escalate = setTimeout(() => {
      child.kill("SIGKILL");
      giveUp = setTimeout(done, STOP_TIMEOUT_MS);
    }, STOP_TIMEOUT_MS);
  });
}

function cancelled(signal: AbortSignal): Error {
  return new Error(`Starting the policy pack was cancelled (${String(signal.reason)}).`);
}

/**
 * The pack runs with the @pulumi/pulumi it depends on, resolved from its folder as the
 * language host does (pack-runner.ts resolves it the same way); fails naming the fix.
 */
function checkPackRunnable(packDir: string): void {
  try {
    require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [packDir] });
  } catch {
    throw new Error(
      `Could not start the policy pack: ${packDirProblem(packDir) ?? `@pulumi/pulumi is not installed for ${packDir}`}. ` +
        `Pass the folder that holds the pack's PulumiPolicy.yaml, and run \`npm ci\` at the repository root.`,
    );
  }
}

/** `node -r register pack-runner <engine> <packDir>`, with what the language host sets. */
function spawnPack(
  packDir: string,
  engineAddress: string,
  stack: Partial<StackIdentity>,
): ChildProcess {
  return spawn(process.execPath, ["-r", REGISTER, PACK_RUNNER, engineAddress, packDir], {
    cwd: packDir,
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
}

/** Whether the process is gone: exited, or never started. */
function watchExit(child: ChildProcess): () => boolean {
  // A process that never started (spawn failed: 'error', then 'close', never 'exit') is as
  // gone as one that exited; waiting for its 'exit' would wait for ever.
  let exited = false;
  const markExited = () => {
    exited = true;
  };
  child.once("exit", markExited);
  child.once("close", markExited);
  child.once("error", () => {
    if (child.pid === undefined) {
      markExited();
    }
  });
  return () => exited;
}

/** Once the pack serves, anything it prints is a log line (the engine shows it too). */
function forwardOutput(child: ChildProcess, onOutput: (line: string) => void): void {
  const forward = (chunk: Buffer) =>
    chunk
      .toString()
      .split("\n")
      .filter((line) => line.trim() !== "")
      .forEach(onOutput);
  child.stdout?.on("data", forward);
  child.stderr?.on("data", forward);
}

/** GetPluginInfo and GetAnalyzerInfo: the pack's name, version, policies and config. */
async function readPackInfo(
  analyzer: analyzerGrpc.AnalyzerClient,
  signal: AbortSignal | undefined,
): Promise<PackInfo> {
  const plugin = await unlessAborted(
    unary<PluginInfo>("to describe itself (GetPluginInfo)", (md, o, cb) =>
      analyzer.getPluginInfo(new Empty(), md, o, cb),
    ),
    signal,
  );
  const info = await unlessAborted(
    unary<analyzerPb.AnalyzerInfo>("to list its policies (GetAnalyzerInfo)", (md, o, cb) =>
      analyzer.getAnalyzerInfo(new Empty(), md, o, cb),
    ),
    signal,
  );
  return {
    name: info.getName(),
    version: info.getVersion() || plugin.getVersion(),
    description: info.getDescription(),
    policies: info.getPoliciesList().map(toPolicySummary),
    initialConfig: toInitialConfig(info),
  };
}

function configureStackRequest(identity: StackIdentity): analyzerPb.AnalyzerStackConfigureRequest {
  const request = new analyzerPb.AnalyzerStackConfigureRequest();
  request.setProject(identity.project);
  request.setStack(identity.stack);
  request.setOrganization(identity.organization ?? "");
  request.setDryRun(true);
  for (const [key, value] of Object.entries(identity.config ?? {})) {
    request.getConfigMap().set(key, value);
  }
  for (const [key, value] of Object.entries(identity.tags ?? {})) {
    request.getTagsMap().set(key, value);
  }
  return request;
}

function configureRequest(config: ReconciledConfig): analyzerPb.ConfigureAnalyzerRequest {
  const request = new analyzerPb.ConfigureAnalyzerRequest();
  for (const [name, entry] of Object.entries(config)) {
    const policyConfig = new analyzerPb.PolicyConfig();
    // Always set: proto3 would read a missing level as ADVISORY (0).
    policyConfig.setEnforcementlevel(enforcementLevelValue(entry.enforcementLevel));
    policyConfig.setProperties(
      Struct.fromJavaScript(
        toJson(entry.properties) as Parameters<typeof Struct.fromJavaScript>[0],
      ),
    );
    request.getPolicyconfigMap().set(name, policyConfig);
  }
  return request;
}

/** The calls the engine makes on a serving pack. */
function analyzerCalls(
  analyzer: analyzerGrpc.AnalyzerClient,
): Pick<PolicyPackProcess, "configureStack" | "configure" | "analyze" | "analyzeStack"> {
  return {
    configureStack: async (identity) => {
      await unary("to take the stack's settings (ConfigureStack)", (md, o, cb) =>
        analyzer.configureStack(configureStackRequest(identity), md, o, cb),
      );
    },
    configure: async (config) => {
      await unary("to take the policy config (Configure)", (md, o, cb) =>
        analyzer.configure(configureRequest(config), md, o, cb),
      );
    },
    analyze: async (resource) => {
      const response = await unary<analyzerPb.AnalyzeResponse>(
        `to analyze ${resource.urn} (Analyze)`,
        (md, o, cb) => analyzer.analyze(analyzeRequest(resource), md, o, cb),
      );
      return response.getDiagnosticsList().map((d) => fromDiagnostic(d, resource.urn));
    },
    analyzeStack: async (resources) => {
      const response = await unary<analyzerPb.AnalyzeResponse>(
        "to analyze the stack (AnalyzeStack)",
        (md, o, cb) => analyzer.analyzeStack(analyzeStackRequest(resources), md, o, cb),
      );
      return response.getDiagnosticsList().map((d) => fromDiagnostic(d));
    },
  };
}

/** Starts the pack, connects to it and reads what it declares. */
export async function startPolicyPack(options: StartOptions): Promise<PolicyPackProcess> {
  const packDir = path.resolve(options.packDir ?? DEFAULT_PACK_DIR);
  const onOutput = options.onOutput ?? (() => undefined);
  checkPackRunnable(packDir);
  if (options.signal?.aborted) {
    throw cancelled(options.signal);
  }
  const engine = await startEngineService(onOutput);
  if (options.signal?.aborted) {
    // Given up while the Engine server started (the program failed first): start nothing.
    await engine.stop();
    throw cancelled(options.signal);
  }
  const child = spawnPack(packDir, engine.address, options.stack ?? {});
  options.onSpawn?.();
  const stderr: string[] = [];
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr.push(chunk.toString());
  });
  const exited = watchExit(child);
  let client: analyzerGrpc.AnalyzerClient | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= shutdown());
  const shutdown = async (): Promise<void> => {
    client?.close();
    if (!exited()) {
      await endProcess(child);
    }
    await engine.stop();
  };

  try {
    const port = await unlessAborted(awaitPort(child, packDir, stderr), options.signal);
    forwardOutput(child, onOutput);
    client = new analyzerGrpc.AnalyzerClient(
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
      {
        "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
        "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
      },
    );
    const info = await readPackInfo(client, options.signal);
    return { info, pid: child.pid ?? -1, ...analyzerCalls(client), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
