/**
 * `npm run policy:check [-- --stack dev]`: the policy pack's verdict on a stack, offline.
 * Evaluates the program under mocks with the stack's config, runs the real pack process
 * and talks to it as the Pulumi engine does. Exit code 0: no mandatory violation; 1:
 * mandatory violations; 2: the check could not run; 128+N: stopped by signal N (SIGINT,
 * SIGTERM), after stopping the pack process.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import { Command, CommanderError } from "commander";
import { z } from "zod";
// As with `pulumi config set`, a bare key belongs to the project's namespace.
import { CONFIG_NAMESPACE } from "../../components/config-namespace";
import { PolicyCheckResult, checkWithPack, countByLevel } from "./check";
import { DEFAULT_PACK_DIR, PolicyPackProcess, startPolicyPack } from "./pack-process";
import { PolicyConfigError, PolicyPackConfig, parsePolicyPackConfig } from "./policy-config";
import { formatJson, formatReport } from "./report";
import { AnalyzedResource } from "./wire";

export const EXIT_PASSED = 0;
export const EXIT_VIOLATIONS = 1;
export const EXIT_ERROR = 2;

interface Options {
  stack: string;
  policyPackConfig?: string;
  config: string[];
  extraResources?: string;
  json: boolean;
}

/** A problem with the command line or its files; the message says what to fix. */
export class UsageError extends Error {}

/** `-c key=value` → { "namespace:key": value }. */
export function parseConfigOverrides(
  pairs: readonly string[],
  namespace = CONFIG_NAMESPACE,
): Record<string, string> {
  const overrides: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      throw new UsageError(
        `--config ${JSON.stringify(pair)} is not key=value; e.g. --config batchpy:minVcpus=2.`,
      );
    }
    const key = pair.slice(0, eq);
    overrides[key.includes(":") ? key : `${namespace}:${key}`] = pair.slice(eq + 1);
  }
  return overrides;
}

const extraResourcesSchema = z.array(
  z.object({
    type: z.string().regex(/^[^:]+:[^:]*:[^:]+$/, "a type token like aws:iam/role:Role"),
    name: z.string().min(1),
    inputs: z.record(z.string(), z.unknown()).default({}),
    parent: z.string().optional(),
  }),
);

/**
 * Resources to add to the evaluated program (a JSON list of `{type, name, inputs}`): to
 * rehearse how the pack treats a change before writing it.
 */
export function readExtraResources(
  file: string,
  project: string,
  stack: string,
): AnalyzedResource[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new UsageError(`--extra-resources ${file}: ${(err as Error).message}`);
  }
  const result = extraResourcesSchema.safeParse(parsed);
  if (!result.success) {
    const issues = result.error.issues.map(
      (i) =>
        `${i.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")}: ${i.message}`,
    );
    throw new UsageError(
      `--extra-resources ${file} must be a JSON list of {"type", "name", "inputs"}: ${issues.join("; ")}.`,
    );
  }
  return result.data.map((r) => ({
    urn: `urn:pulumi:${stack}::${project}::${r.type}::${r.name}`,
    type: r.type,
    name: r.name,
    inputs: r.inputs,
    ...(r.parent ? { parent: r.parent } : {}),
  }));
}

function readPolicyConfig(file: string | undefined): PolicyPackConfig {
  if (file === undefined) {
    return {};
  }
  if (!fs.existsSync(file)) {
    throw new UsageError(
      `--policy-pack-config ${file} does not exist; see policy/policy-config.example.json.`,
    );
  }
  return parsePolicyPackConfig(fs.readFileSync(file, "utf8"), file);
}

function parseOptions(argv: readonly string[]): Options {
  const program = new Command()
    .name("npm run policy:check --")
    .description(
      "Run the policy pack against a stack, offline: the program under mocks, the pack as " +
        "`pulumi preview --policy-pack policy` runs it.",
    )
    .option("-s, --stack <name>", "the stack whose Pulumi.<stack>.yaml to use", "dev")
    .option(
      "--policy-pack-config <file>",
      "policy levels and settings, as for `pulumi preview --policy-pack-config`",
    )
    .option(
      "-c, --config <key=value>",
      "override a stack config value (repeatable), e.g. batchpy:minVcpus=2",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option(
      "--extra-resources <file>",
      'add resources to the program: a JSON list of {"type", "name", "inputs"}',
    )
    .option("--json", "print the result as JSON", false)
    .showHelpAfterError()
    .exitOverride();
  program.parse(argv, { from: "user" });
  return program.opts<Options>();
}

function seconds(since: number): number {
  return Math.round((performance.now() - since) / 100) / 10;
}

/** The exit code of a run stopped by a signal: 128 + its number, as a shell reports it. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + os.constants.signals[signal];
}

/** Resolves with the signal name `interrupt` is aborted with; never if there is none. */
function whenInterrupted(interrupt: AbortSignal | undefined): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    if (interrupt?.aborted) {
      resolve(interrupt.reason as NodeJS.Signals);
    }
    interrupt?.addEventListener("abort", () => resolve(interrupt.reason as NodeJS.Signals), {
      once: true,
    });
  });
}

type Progress = (line: string) => void;

/** Evaluates the program, checks it with the pack once it serves, prints the verdict. */
async function check(
  options: Options,
  packStarting: Promise<PolicyPackProcess>,
  packSpawned: Promise<void>,
  progress: Progress,
  interrupt: AbortSignal | undefined,
): Promise<number> {
  const started = performance.now();
  try {
    const policyConfig = readPolicyConfig(options.policyPackConfig);
    const configOverrides = parseConfigOverrides(options.config);
    progress(`Evaluating stack ${options.stack} under mocks...`);
    // Loaded once the pack's process exists: @pulumi/pulumi and the program's modules
    // then load while the pack starts, on the other core.
    await packSpawned;
    const { evaluateProgram } = await import("./evaluate");
    const evaluation = await evaluateProgram({ stack: options.stack, configOverrides }).catch(
      (err: unknown) => {
        // The program's own errors name the config key and the fix; its stack adds nothing.
        throw new UsageError(
          `the program failed for stack ${options.stack}: ${err instanceof Error ? err.message : String(err)}`,
        );
      },
    );
    const evaluated = seconds(started);
    const extra = options.extraResources
      ? readExtraResources(options.extraResources, evaluation.project, evaluation.stack)
      : [];
    progress(
      `Connecting to the policy pack in ${path.relative(process.cwd(), DEFAULT_PACK_DIR)}/...`,
    );
    const pack = await packStarting;
    const packReady = seconds(started);
    const result: PolicyCheckResult = await checkWithPack(pack, {
      stack: { project: evaluation.project, stack: evaluation.stack, config: evaluation.config },
      resources: [...evaluation.resources, ...extra],
      policyConfig,
      policyConfigSource: options.policyPackConfig,
    });
    for (const warning of result.warnings) {
      progress(`warning: ${warning}`);
    }
    const context = {
      stack: options.stack,
      packSource: `local: ${path.relative(process.cwd(), DEFAULT_PACK_DIR) || "."}`,
      // Seconds since the start: the pack starts while the program is evaluated.
      timings: {
        "program evaluated": evaluated,
        "pack serving": packReady,
        verdict: seconds(started),
      },
    };
    process.stdout.write(
      `${options.json ? formatJson(result, context) : formatReport(result, context)}\n`,
    );
    return countByLevel(result.diagnostics).mandatory > 0 ? EXIT_VIOLATIONS : EXIT_PASSED;
  } catch (err) {
    if (!interrupt?.aborted) {
      // After an interrupt the pack is being stopped under the check: its errors are noise.
      const known = err instanceof UsageError || err instanceof PolicyConfigError;
      progress(
        `policy:check: ${known ? (err as Error).message : String((err as Error).stack ?? err)}`,
      );
    }
    return EXIT_ERROR;
  }
}

/**
 * Runs the check and prints it; returns the exit code. When `interrupt` is aborted (with
 * the signal's name as its reason), the pack process, or its start, is stopped, the
 * Engine server with it, and the result is 128+N.
 */
export async function main(argv: readonly string[], interrupt?: AbortSignal): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT_PASSED : EXIT_ERROR;
    }
    throw err;
  }
  const progress: Progress = (line) => process.stderr.write(`${line}\n`);
  const startAbort = new AbortController();
  // The pack starts while the program is evaluated.
  let onSpawn!: () => void;
  const packSpawned = new Promise<void>((resolve) => (onSpawn = resolve));
  const packStarting = startPolicyPack({
    packDir: DEFAULT_PACK_DIR,
    stack: { stack: options.stack },
    onSpawn,
    onOutput: (line) => progress(`[policy pack] ${line}`),
    signal: startAbort.signal,
  });
  // Handled below (awaited, or stopped in `finally`); until then a failure must not crash.
  packStarting.then(
    (pack) => progress(`Policy pack serving (pid ${pack.pid}).`),
    () => undefined,
  );
  const interrupted = whenInterrupted(interrupt).then((signal) => {
    progress(`policy:check: ${signal}: stopping the policy pack...`);
    return signalExitCode(signal);
  });
  try {
    // A pack that never spawned fails its start; the check hears of it there.
    const spawnedOrFailed = Promise.race([
      packSpawned,
      packStarting.then(
        () => undefined,
        () => undefined,
      ),
    ]);
    return await Promise.race([
      check(options, packStarting, spawnedOrFailed, progress, interrupt),
      interrupted,
    ]);
  } finally {
    // Stop the pack whether or not it started in time to be used; a start still under way
    // gives up at once.
    startAbort.abort("no longer needed");
    await packStarting.then(
      (pack) => pack.stop(),
      () => undefined,
    );
  }
}

/**
 * The command line (`batchpy policy check`, `npm run policy:check`): runs `argv`, sets the
 * exit code. Killed without its signal handlers, the CLI would leave the pack process
 * serving for ever (its parent gone, nothing stops it); a second signal gets the default
 * action: exit at once.
 */
export function cli(argv: readonly string[]): Promise<void> {
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => interrupt.abort(signal);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return main(argv, interrupt.signal).then(
    (code) => {
      if (interrupt.signal.aborted) {
        // The program's evaluation may still be running; it has nothing left to say.
        process.exit(code);
      }
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = EXIT_ERROR;
    },
  );
}

if (require.main === module) {
  void cli(process.argv.slice(2));
}
