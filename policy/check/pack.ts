/**
 * The policy pack as its own process, spoken to over the Analyzer gRPC protocol as the engine
 * does for `pulumi preview --policy-pack` (docs/policy.md, "Offline, in CI").
 */
import { ChildProcess, spawn } from "child_process";
import { once } from "events";
import { createRequire } from "module";
import * as path from "path";
import * as readline from "readline";
import type * as GrpcJs from "@grpc/grpc-js";
import type * as EmptyPb from "google-protobuf/google/protobuf/empty_pb";
import type * as StructPb from "google-protobuf/google/protobuf/struct_pb";
import { AnalyzerClient } from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as pb from "@pulumi/pulumi/proto/analyzer_pb";
import { definedOnly } from "../../components/defined";
import type { MockedResource } from "./evaluate";
import {
  EnforcementLevel,
  JsonSchema,
  PolicyPackConfig,
  PolicySummary,
  ReconciledConfig,
  reconcilePolicyPackConfig,
} from "./policy-config";

// The message classes check `instanceof` against @pulumi/pulumi's own grpc-js and protobuf.
const fromPulumi = createRequire(require.resolve("@pulumi/pulumi/package.json"));
const grpc = fromPulumi("@grpc/grpc-js") as typeof GrpcJs;
const { Struct } = fromPulumi("google-protobuf/google/protobuf/struct_pb") as typeof StructPb;
const { Empty } = fromPulumi("google-protobuf/google/protobuf/empty_pb") as typeof EmptyPb;

export const DEFAULT_PACK_DIR = path.resolve(__dirname, "..");

// A first start transpiles the pack: room for a slow CI machine.
const START_TIMEOUT_MS = 120_000;
const CALL_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;
// The engine lifts gRPC's message limit for analyzers; so do we.
const MAX_MESSAGE_BYTES = 400 * 1024 * 1024;

/** Unknowns as the engine's sentinels; with no `state`, outputs = inputs. */
export type AnalyzedResource = Pick<MockedResource, "urn" | "type" | "name" | "inputs"> &
  Partial<Pick<MockedResource, "state" | "parent" | "dependencies" | "propertyDependencies">>;
export type PolicyPackProcess = Awaited<ReturnType<typeof startPolicyPack>>;

// `Struct` carries JSON: undefined properties dropped, undefined list items null.
const struct = (properties: object) =>
  Struct.fromJavaScript(JSON.parse(JSON.stringify(properties)));

function describe<M extends pb.AnalyzeRequest | pb.AnalyzerResource>(
  message: M,
  resource: AnalyzedResource,
  properties: object,
): M {
  // The pack refuses a resource without options, as from an older CLI.
  const options = new pb.AnalyzerResourceOptions().setParent(resource.parent ?? "");
  message.setType(resource.type).setUrn(resource.urn).setName(resource.name);
  message.setProperties(struct(properties)).setOptions(options);
  return message;
}

export function analyzeRequest(resource: AnalyzedResource): pb.AnalyzeRequest {
  return describe(new pb.AnalyzeRequest(), resource, resource.inputs);
}

export function analyzerResource(resource: AnalyzedResource): pb.AnalyzerResource {
  const { inputs, state, parent, dependencies, propertyDependencies } = resource;
  const message = describe(new pb.AnalyzerResource(), resource, { ...inputs, ...state })
    .setParent(parent ?? "")
    .setDependenciesList([...(dependencies ?? [])]);
  for (const [key, urns] of Object.entries(propertyDependencies ?? {})) {
    const entry = new pb.AnalyzerPropertyDependencies().setUrnsList([...urns]);
    message.getPropertydependenciesMap().set(key, entry);
  }
  return message;
}

// The generated enums have no reverse mapping.
const nameIn = (values: object, value: number) =>
  Object.keys(values)[Object.values(values).indexOf(value)]?.toLowerCase();

export const enforcementLevelName = (level: pb.EnforcementLevel) =>
  nameIn(pb.EnforcementLevel, level) as EnforcementLevel;

export const enforcementLevelValue = (level: EnforcementLevel): pb.EnforcementLevel =>
  pb.EnforcementLevel[level.toUpperCase() as keyof typeof pb.EnforcementLevel];

/** One that names no URN is about the analyzed resource, as the engine reads it. */
export function fromDiagnostic(d: pb.AnalyzeDiagnostic, analyzedUrn?: string) {
  const severity = nameIn(pb.PolicySeverity, d.getSeverity())?.replace("policy_severity_", "");
  return {
    policyName: d.getPolicyname(),
    policyPackName: d.getPolicypackname(),
    policyPackVersion: d.getPolicypackversion(),
    description: d.getDescription(),
    message: d.getMessage(),
    enforcementLevel: enforcementLevelName(d.getEnforcementlevel()),
    ...definedOnly({
      urn: d.getUrn() || analyzedUrn || undefined,
      severity: severity === "unspecified" ? undefined : severity,
    }),
  };
}

function packInfo(info: pb.AnalyzerInfo) {
  const policies = info.getPoliciesList().map((policy): PolicySummary => {
    const schema = policy.getConfigschema();
    const props = (schema?.getProperties()?.toJavaScript() ?? {}) as Record<string, JsonSchema>;
    return {
      name: policy.getName(),
      enforcementLevel: enforcementLevelName(policy.getEnforcementlevel()),
      configSchema: schema && { properties: props, required: schema.getRequiredList() },
    };
  });
  return { name: info.getName(), version: info.getVersion(), policies };
}

type Unary<Req, Res> = (
  request: Req,
  metadata: GrpcJs.Metadata,
  options: Partial<GrpcJs.CallOptions>,
  callback: (error: GrpcJs.ServiceError | null, response: Res) => void,
) => GrpcJs.ClientUnaryCall;

function analyzerCalls(analyzer: AnalyzerClient) {
  const call = <Req, Res>(method: Unary<Req, Res>, request: Req, what: string) =>
    new Promise<Res>((resolve, reject) => {
      const deadline = Date.now() + CALL_TIMEOUT_MS;
      method.call(analyzer, request, new grpc.Metadata(), { deadline }, (error, response) =>
        error
          ? reject(new Error(`The policy pack failed ${what}: ${error.details || error.message}`))
          : resolve(response),
      );
    });
  const diagnostics = async (response: Promise<pb.AnalyzeResponse>, urn?: string) =>
    (await response).getDiagnosticsList().map((d) => fromDiagnostic(d, urn));
  return {
    getAnalyzerInfo: () =>
      call(analyzer.getAnalyzerInfo, new Empty(), "to list its policies (GetAnalyzerInfo)"),
    configure: async (
      stack: { project: string; stack: string; config?: Readonly<Record<string, string>> },
      config: ReconciledConfig,
    ) => {
      const stackRequest = new pb.AnalyzerStackConfigureRequest()
        .setProject(stack.project)
        .setStack(stack.stack)
        .setDryRun(true);
      for (const [key, value] of Object.entries(stack.config ?? {})) {
        stackRequest.getConfigMap().set(key, value);
      }
      const what = "to take the stack's settings (ConfigureStack)";
      await call(analyzer.configureStack, stackRequest, what);
      const request = new pb.ConfigureAnalyzerRequest();
      for (const [name, { enforcementLevel, properties }] of Object.entries(config)) {
        // Always set: proto3 would read a missing level as ADVISORY (0).
        const level = enforcementLevelValue(enforcementLevel);
        const policyConfig = new pb.PolicyConfig().setEnforcementlevel(level);
        request.getPolicyconfigMap().set(name, policyConfig.setProperties(struct(properties)));
      }
      await call(analyzer.configure, request, "to take the policy config (Configure)");
    },
    analyze: (resource: AnalyzedResource) => {
      const what = `to analyze ${resource.urn} (Analyze)`;
      return diagnostics(call(analyzer.analyze, analyzeRequest(resource), what), resource.urn);
    },
    analyzeStack: (resources: readonly AnalyzedResource[]) => {
      const request = new pb.AnalyzeStackRequest();
      request.setResourcesList(resources.map(analyzerResource));
      const what = "to analyze the stack (AnalyzeStack)";
      return diagnostics(call(analyzer.analyzeStack, request, what));
    },
  };
}

/** The port the pack prints first; else why it did not serve, with its stderr. */
function awaitPort(child: ChildProcess, packDir: string, onOutput?: (line: string) => void) {
  let serving = false;
  const stderr: string[] = [];
  const relay = (line: string) => serving && line.trim() !== "" && onOutput?.(line);
  const stdout = readline.createInterface({ input: child.stdout! }).on("line", relay);
  readline
    .createInterface({ input: child.stderr! })
    .on("line", (line) => (serving ? relay(line) : stderr.push(line)));
  const pack = `The policy pack in ${packDir}`;
  let timer: NodeJS.Timeout | undefined;
  return new Promise<number>((resolve, reject) => {
    const fail = (message: string) => reject(new Error(message));
    const stalled = `${pack} printed no port within ${START_TIMEOUT_MS / 1000} s.`;
    timer = setTimeout(() => fail(`${stalled}\n${stderr.join("\n")}`), START_TIMEOUT_MS);
    stdout.once("line", (line) => {
      serving = /^\d+$/.test(line.trim());
      const wrong = `${pack} printed ${JSON.stringify(line.trim())} instead of its port.`;
      return serving ? resolve(Number(line)) : fail(wrong);
    });
    // On close, not exit: its stderr is all read by then.
    child.once("close", (code, signal) =>
      fail(
        `${pack} exited (${signal ?? `code ${code}`}) before serving:\n` +
          `${stderr.join("\n").trim() || "(no output)"}\n` +
          `Run \`npx tsc --noEmit -p ${path.relative(process.cwd(), packDir) || "."}\` to see type errors.`,
      ),
    );
    child.once("error", (err) =>
      fail(`Could not start the policy pack in ${packDir}: ${err.message}`),
    );
  }).finally(() => clearTimeout(timer));
}

async function endProcess(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const kill = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  child.kill("SIGTERM");
  await once(child, "exit");
  clearTimeout(kill);
}

/** Spawns the pack before it returns, so that work started after the call overlaps its start. */
export async function startPolicyPack(options: {
  readonly packDir?: string;
  /** Lines the pack prints once it serves. */
  readonly onOutput?: (line: string) => void;
  readonly signal?: AbortSignal;
}) {
  const packDir = path.resolve(options.packDir ?? DEFAULT_PACK_DIR);
  const { signal } = options;
  const register = path.resolve(__dirname, "..", "..", "bin", "register.js");
  const child = spawn(process.execPath, ["-r", register, path.join(__dirname, "pack-runner.ts")], {
    cwd: packDir,
    // As the engine starts an analyzer.
    env: { ...process.env, PULUMI_NODEJS_DRY_RUN: "true" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let client: AnalyzerClient | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= (client?.close(), endProcess(child)));
  const onAbort = () => void stop();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const port = await awaitPort(child, packDir, options.onOutput);
    client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    });
    const { getAnalyzerInfo, ...calls } = analyzerCalls(client);
    const info = packInfo(await getAnalyzerInfo());
    signal?.throwIfAborted();
    return { info, pid: child.pid!, ...calls, stop };
  } catch (err) {
    await stop();
    const cancelled = `Starting the policy pack was cancelled (${String(signal?.reason)}).`;
    throw signal?.aborted ? new Error(cancelled) : err;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** Its warnings are config problems the engine ignores too (an unknown policy name). */
export type PolicyCheckResult = Awaited<ReturnType<typeof checkWithPack>>;

/** The engine's calls in `pulumi preview`; Analyze for many resources at once, as it does. */
export async function checkWithPack(
  pack: Omit<PolicyPackProcess, "pid" | "stop">,
  options: {
    readonly stack: Parameters<PolicyPackProcess["configure"]>[0];
    /** In registration order, components included. */
    readonly resources: readonly AnalyzedResource[];
    readonly policyConfig?: PolicyPackConfig;
    readonly policyConfigSource?: string;
  },
) {
  const { config, warnings } = reconcilePolicyPackConfig(
    pack.info.policies,
    options.policyConfig ?? {},
    options.policyConfigSource,
  );
  await pack.configure(options.stack, config);
  const perResource = await Promise.all(options.resources.map((r) => pack.analyze(r)));
  const diagnostics = [...perResource.flat(), ...(await pack.analyzeStack(options.resources))];
  return { pack: pack.info, config, warnings, diagnostics, resourcesAnalyzed: perResource.length };
}
