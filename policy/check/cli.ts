/**
 * `npm run policy:check`: the policy pack's verdict on each stack, offline. Starts the real
 * pack process once, evaluates the program under mocks with each stack's config meanwhile,
 * and talks to the pack as the engine does. Exit code, the worst over the stacks: 0 passed,
 * 1 mandatory violations, 2 not checked, 128+N stopped by signal N (after stopping the pack).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import { Command, CommanderError } from "commander";
// As with `pulumi config set`, a bare key belongs to the project's namespace.
import { CONFIG_NAMESPACE } from "../../components/config-namespace";
import { awaitedLater } from "../../jobs/errors";
import { visibleIo } from "../../jobs/output/visible";
import { npmRefusal, procNpmProcess } from "../../jobs/input/npm-args";
import {
  AnalyzedResource,
  DEFAULT_PACK_DIR,
  PolicyPackProcess,
  StartOptions,
  checkWithPack,
  startPolicyPack,
} from "./pack";
import type { Evaluation } from "./evaluate";
import { PolicyConfigError, parsePolicyPackConfig } from "./policy-config";
import { StackVerdict, formatVerdicts, summarize } from "./report";

const EXIT_ERROR = 2;
const PACK_FOLDER = path.relative(process.cwd(), DEFAULT_PACK_DIR) || ".";

interface Options {
  stack: string;
  allStacks: boolean;
  projectDir?: string;
  policyPackConfig?: string;
  config: string[];
  extraResources?: string;
  json: boolean;
  markdown: boolean;
}

/** A problem with the command line or its files; the message says what to fix. */
export class UsageError extends Error {}

/** `--config key=value` → { "namespace:key": value }. */
export function parseConfigOverrides(pairs: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    pairs.map((pair) => {
      const eq = pair.indexOf("=");
      if (eq <= 0) {
        throw new UsageError(
          `--config ${JSON.stringify(pair)} is not key=value; e.g. --config batchpy:minVcpus=2.`,
        );
      }
      const key = pair.slice(0, eq);
      return [key.includes(":") ? key : `${CONFIG_NAMESPACE}:${key}`, pair.slice(eq + 1)];
    }),
  );
}

/**
 * Resources added to the program, to see the pack's verdict on a change before writing it:
 * read and checked before anything starts, named with each stack's URNs later.
 */
export async function readExtraResources(
  file: string,
): Promise<(project: string, stack: string) => AnalyzedResource[]> {
  const { z } = await import("zod");
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new UsageError(`--extra-resources ${file}: ${(err as Error).message}`);
  }
  const resource = z.object({
    type: z.string().regex(/^[^:]+:[^:]*:[^:]+$/, "a type token like aws:iam/role:Role"),
    name: z.string().min(1),
    inputs: z.record(z.string(), z.unknown()).default({}),
    parent: z.string().optional(),
  });
  const result = z.array(resource).safeParse(parsed);
  if (!result.success) {
    const issues = result.error.issues.map(
      (i) =>
        `${i.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")}: ${i.message}`,
    );
    throw new UsageError(
      `--extra-resources ${file} must be a JSON list of {"type", "name", "inputs"}: ${issues.join("; ")}.`,
    );
  }
  return (project, stack) =>
    result.data.map(({ type, name, inputs, parent }) => ({
      urn: `urn:pulumi:${stack}::${project}::${type}::${name}`,
      type,
      name,
      inputs,
      ...(parent ? { parent } : {}),
    }));
}

type ExtraResources = Awaited<ReturnType<typeof readExtraResources>>;

/** The check's command line, its options as commander and npm see them. */
export function checkProgram(): Command {
  return new Command()
    .name("npm run policy:check --")
    .description(
      "Run the policy pack against a stack, offline: the program under mocks, the pack as " +
        "`pulumi preview --policy-pack policy` runs it.",
    )
    .option("--stack <name>", "the stack whose Pulumi.<stack>.yaml to use", "dev")
    .option(
      "--policy-pack-config <file>",
      "policy levels and settings, as for `pulumi preview --policy-pack-config`",
    )
    .option(
      "--config <key=value>",
      "override a stack config value (repeatable), e.g. batchpy:minVcpus=2",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option(
      "--extra-resources <file>",
      'add resources to the program: a JSON list of {"type", "name", "inputs"}',
    )
    .option("--all-stacks", "check every Pulumi.<stack>.yaml, with one pack process", false)
    .option(
      "--project-dir <dir>",
      "the Pulumi project (Pulumi.yaml, index.ts, Pulumi.<stack>.yaml files) to check; default: this repository",
    )
    .option("--json", "the verdict as JSON on stdout", false)
    .option("--markdown", "the verdict as markdown, for a pull request", false)
    .showHelpAfterError()
    .exitOverride();
}

/** The options with the files they name read: every problem before the pack starts. */
function parseOptions(argv: readonly string[]) {
  const program = checkProgram();
  program.parse(argv, { from: "user" });
  const options = program.opts<Options>();
  const { projectDir, policyPackConfig: configFile } = options;
  if (options.allStacks && program.getOptionValueSource("stack") === "cli") {
    throw new UsageError("--stack and --all-stacks cannot be used together; pass one of them.");
  }
  if (options.json && options.markdown) {
    throw new UsageError("--json and --markdown disagree; pass one of them.");
  }
  if (projectDir !== undefined && !fs.existsSync(path.join(projectDir, "Pulumi.yaml"))) {
    throw new UsageError(
      `--project-dir ${projectDir} has no Pulumi.yaml; pass the folder of a Pulumi project.`,
    );
  }
  if (configFile !== undefined && !fs.existsSync(configFile)) {
    throw new UsageError(
      `--policy-pack-config ${configFile} does not exist; see policy/policy-config.example.json.`,
    );
  }
  return {
    ...options,
    projectDir: projectDir && path.resolve(projectDir),
    policyConfig: configFile
      ? parsePolicyPackConfig(fs.readFileSync(configFile, "utf8"), configFile)
      : {},
    configOverrides: parseConfigOverrides(options.config),
  };
}

type Settings = ReturnType<typeof parseOptions>;
type Progress = (line: string) => void;

/** The stacks to check: every `Pulumi.<stack>.yaml` with --all-stacks, else --stack. */
export async function stacksToCheck(
  options: Pick<Options, "stack" | "allStacks" | "projectDir">,
): Promise<string[]> {
  if (!options.allStacks) {
    return [options.stack];
  }
  const stacks = (await import("./evaluate")).listStacks(options.projectDir).sort();
  if (stacks.length === 0) {
    throw new UsageError(
      "--all-stacks found no Pulumi.<stack>.yaml next to Pulumi.yaml; create one with `pulumi stack init`.",
    );
  }
  return stacks;
}

/**
 * Evaluates the program for one stack and checks it with the pack once it serves. A program
 * that fails is an error, but with --all-stacks only its stack's verdict.
 */
async function checkStack(
  stack: string,
  settings: Settings,
  extra: ExtraResources,
  pack: Promise<PolicyPackProcess>,
  progress: Progress,
): Promise<StackVerdict> {
  const started = performance.now();
  const seconds = () => Math.round((performance.now() - started) / 100) / 10;
  progress(`Evaluating stack ${stack} under mocks...`);
  // Loaded once the pack's process exists, so that the two load side by side.
  const { evaluateProgram } = await import("./evaluate");
  const { configOverrides, projectDir: projectRoot } = settings;
  let evaluation: Evaluation;
  try {
    evaluation = await evaluateProgram({ stack, configOverrides, projectRoot });
  } catch (err) {
    // The program's own errors name the config key and the fix; its stack adds nothing.
    const error = `the program failed for stack ${stack}: ${err instanceof Error ? err.message : String(err)}`;
    if (!settings.allStacks) {
      throw new UsageError(error);
    }
    // One stack's bad config must not hide the others' verdicts.
    progress(`policy:check: ${error}`);
    return { stack, error };
  }
  const evaluated = seconds();
  const { project, config, resources } = evaluation;
  progress(`Connecting to the policy pack in ${PACK_FOLDER}/...`);
  const serving = await pack;
  const packReady = seconds();
  const result = await checkWithPack(serving, {
    stack: { project, stack, config },
    resources: [...resources, ...extra(project, stack)],
    policyConfig: settings.policyConfig,
    policyConfigSource: settings.policyPackConfig,
  });
  result.warnings.forEach((warning) => progress(`warning: ${warning}`));
  const timings = { "program evaluated": evaluated, "pack serving": packReady, verdict: seconds() };
  return { stack, result, timings };
}

/** Checks every stack asked for, one after another, with one pack; prints the verdicts. */
async function check(
  settings: Settings,
  extra: ExtraResources,
  pack: Promise<PolicyPackProcess>,
  progress: Progress,
  stdout: (text: string) => void,
): Promise<number> {
  const verdicts: StackVerdict[] = [];
  for (const stack of await stacksToCheck(settings)) {
    verdicts.push(await checkStack(stack, settings, extra, pack, progress));
  }
  stdout(`${formatVerdicts(verdicts, settings, `local: ${PACK_FOLDER}`)}\n`);
  const exitCodes = verdicts.map((verdict) => {
    const { word } = summarize(verdict);
    return word === "passed" ? 0 : word === "failed" ? 1 : EXIT_ERROR;
  });
  return Math.max(...exitCodes);
}

/** 128+N once `interrupt` is aborted with the name of signal N as its reason. */
function interruption(interrupt: AbortSignal | undefined, progress: Progress): Promise<number> {
  return new Promise((resolve) => {
    const onAbort = () => {
      progress(`policy:check: ${String(interrupt?.reason)}: stopping the policy pack...`);
      resolve(128 + os.constants.signals[interrupt?.reason as NodeJS.Signals]);
    };
    if (interrupt?.aborted) {
      onAbort();
    }
    interrupt?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs the check and prints it; returns the exit code. When `interrupt` is aborted (with the
 * signal's name as its reason), the pack process, or its start, is stopped: 128+N. `io` says
 * where to print and how to start the pack (tests run many checks against one pack).
 */
export async function main(
  argv: readonly string[],
  interrupt?: AbortSignal,
  io: {
    readonly stdout?: (text: string) => void;
    readonly stderr?: (text: string) => void;
    readonly startPack?: (options: StartOptions) => Promise<PolicyPackProcess>;
  } = {},
): Promise<number> {
  // What is printed comes from the program, its config and the pack: through the one gate
  // for shown text (JSON escapes its own).
  const raw = {
    stdout: { write: io.stdout ?? ((text: string) => process.stdout.write(text)) },
    stderr: { write: io.stderr ?? ((text: string) => process.stderr.write(text)) },
  };
  const progress: Progress = (line) => visibleIo(raw, false).stderr.write(`${line}\n`);
  const fail = (err: unknown) => {
    const known = err instanceof UsageError || err instanceof PolicyConfigError;
    progress(`policy:check: ${known ? err.message : String((err as Error).stack ?? err)}`);
    return EXIT_ERROR;
  };
  let settings: Settings;
  let extra: ExtraResources;
  try {
    settings = parseOptions(argv);
    const file = settings.extraResources;
    extra = file === undefined ? () => [] : await readExtraResources(file);
  } catch (err) {
    return err instanceof CommanderError ? (err.exitCode === 0 ? 0 : EXIT_ERROR) : fail(err);
  }
  const stdout = (text: string) => visibleIo(raw, settings.json).stdout.write(text);
  const startAbort = new AbortController();
  // Started first, so that the program is evaluated while the pack starts.
  const pack = (io.startPack ?? startPolicyPack)({
    onOutput: (line) => progress(`[policy pack] ${line}`),
    signal: startAbort.signal,
  });
  awaitedLater(pack.then((serving) => progress(`Policy pack serving (pid ${serving.pid}).`)));
  // After an interrupt the pack is stopped under the check: its errors are noise then.
  const checked = check(settings, extra, pack, progress, stdout).catch((err: unknown) =>
    interrupt?.aborted ? EXIT_ERROR : fail(err),
  );
  try {
    return await Promise.race([checked, interruption(interrupt, progress)]);
  } finally {
    // Stop the pack whether or not it served in time; a start still under way gives up.
    startAbort.abort("no longer needed");
    const [started] = await Promise.allSettled([pack]);
    if (started.status === "fulfilled") {
      await started.value.stop();
    }
  }
}

/**
 * `batchpy policy check`: runs `argv` and sets the exit code. Without its signal handlers a
 * killed check would leave the pack serving; a second signal ends it at once.
 */
export async function cli(argv: readonly string[]): Promise<void> {
  // `npm run policy:check --all-stacks` (no --): npm keeps the option (see npm-args.ts).
  const refusal = npmRefusal(checkProgram().options, argv, process.env, procNpmProcess(), ".");
  if (refusal !== undefined) {
    visibleIo(process, false).stderr.write(`policy:check: ${refusal}\n`);
    process.exitCode = EXIT_ERROR;
    return;
  }
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => interrupt.abort(signal);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const code = await main(argv, interrupt.signal);
  // After a signal the program's evaluation may still be running, with nothing left to say.
  if (interrupt.signal.aborted) {
    process.exit(code);
  }
  process.exitCode = code;
}
