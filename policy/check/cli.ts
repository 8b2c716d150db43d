/**
 * `npm run policy:check` (docs/policy.md, "Offline, in CI") and its printers. Exit code, the
 * worst over the stacks: 0 passed, 1 mandatory violations, 2 not checked, 128+N by signal N.
 */
import { once } from "events";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Command, CommanderError } from "commander";
import { CONFIG_NAMESPACE } from "../../components/config-namespace";
import { awaitedLater } from "../../jobs/errors";
import { Io, visibleIo } from "../../jobs/output/visible";
import { npmRefusal, procNpmProcess } from "../../jobs/input/npm-args";
import {
  AnalyzedResource,
  DEFAULT_PACK_DIR,
  PolicyCheckResult,
  PolicyPackProcess,
  checkWithPack,
  startPolicyPack,
} from "./pack";
import { PolicyConfigError, parsePolicyPackConfig } from "./policy-config";

const EXIT_ERROR = 2;
const PACK_FOLDER = path.relative(process.cwd(), DEFAULT_PACK_DIR) || ".";
const PACK_SOURCE = `local: ${PACK_FOLDER}`;

export class UsageError extends Error {}

/** As with `pulumi config set`, a bare key belongs to the project's namespace. */
export function parseConfigOverrides(pairs: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    pairs.map((pair) => {
      const [, key, value] = /^([^=]+)=(.*)$/s.exec(pair) ?? [];
      if (key === undefined) {
        throw new UsageError(
          `--config ${JSON.stringify(pair)} is not key=value; e.g. --config batchpy:minVcpus=2.`,
        );
      }
      return [key.includes(":") ? key : `${CONFIG_NAMESPACE}:${key}`, value];
    }),
  );
}

/** Read and checked before anything starts; named with each stack's URNs later. */
export async function readExtraResources(file: string) {
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
    const issues = result.error.issues.map((i) => `${z.core.toDotPath(i.path)}: ${i.message}`);
    throw new UsageError(
      `--extra-resources ${file} must be a JSON list of {"type", "name", "inputs"}: ${issues.join("; ")}.`,
    );
  }
  return (project: string, stack: string): AnalyzedResource[] =>
    result.data.map((r) => ({
      urn: `urn:pulumi:${stack}::${project}::${r.type}::${r.name}`,
      ...r,
    }));
}

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

/** Every problem with the command line and its files, before the pack starts. */
async function parseOptions(argv: readonly string[]) {
  const program = checkProgram();
  program.parse(argv, { from: "user" });
  const options = program.opts<{
    stack: string;
    allStacks: boolean;
    projectDir?: string;
    policyPackConfig?: string;
    config: string[];
    extraResources?: string;
    json: boolean;
    markdown: boolean;
  }>();
  const { projectDir, policyPackConfig: configFile, extraResources } = options;
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
    extra: extraResources === undefined ? () => [] : await readExtraResources(extraResources),
  };
}

type Settings = Awaited<ReturnType<typeof parseOptions>>;
type Run = Settings & { pack: Promise<PolicyPackProcess>; progress: (line: string) => void };

export async function stacksToCheck(options: Pick<Settings, "stack" | "allStacks" | "projectDir">) {
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

async function checkStack(stack: string, run: Run): Promise<StackVerdict> {
  const started = performance.now();
  const seconds = () => Math.round((performance.now() - started) / 100) / 10;
  run.progress(`Evaluating stack ${stack} under mocks...`);
  // Loaded once the pack's process exists, so that the two load side by side.
  const { evaluateProgram } = await import("./evaluate");
  // The program's own errors name the config key and the fix; its stack trace adds nothing.
  const evaluation = await evaluateProgram({ ...run, stack }).catch((err: unknown) => ({
    error: `the program failed for stack ${stack}: ${err instanceof Error ? err.message : String(err)}`,
  }));
  if ("error" in evaluation) {
    if (!run.allStacks) {
      throw new UsageError(evaluation.error);
    }
    // One stack's bad config must not hide the others' verdicts.
    run.progress(`policy:check: ${evaluation.error}`);
    return { stack, error: evaluation.error };
  }
  const evaluated = seconds();
  const { project, config, resources } = evaluation;
  run.progress(`Connecting to the policy pack in ${PACK_FOLDER}/...`);
  const serving = await run.pack;
  const packReady = seconds();
  const result = await checkWithPack(serving, {
    stack: { project, stack, config },
    resources: [...resources, ...run.extra(project, stack)],
    policyConfig: run.policyConfig,
    policyConfigSource: run.policyPackConfig,
  });
  result.warnings.forEach((warning) => run.progress(`warning: ${warning}`));
  const timings = { "program evaluated": evaluated, "pack serving": packReady, verdict: seconds() };
  return { stack, result, timings };
}

/** `interrupt` is aborted with the signal's name as its reason. */
export async function main(
  argv: readonly string[],
  interrupt = new AbortController().signal,
  io: Io & { readonly startPack?: typeof startPolicyPack } = {
    stdout: process.stdout,
    stderr: process.stderr,
  },
): Promise<number> {
  // Printed text comes from the program, its config and the pack: through the sanitiser
  // (JSON escapes its own).
  const progress = (line: string) => visibleIo(io, false).stderr.write(`${line}\n`);
  const fail = (err: unknown) => {
    const known = err instanceof UsageError || err instanceof PolicyConfigError;
    progress(`policy:check: ${known ? err.message : String((err as Error).stack ?? err)}`);
    return EXIT_ERROR;
  };
  let settings: Settings;
  try {
    settings = await parseOptions(argv);
  } catch (err) {
    return err instanceof CommanderError ? (err.exitCode === 0 ? 0 : EXIT_ERROR) : fail(err);
  }
  const startAbort = new AbortController();
  // Started first, so that the program is evaluated while the pack starts.
  const pack = (io.startPack ?? startPolicyPack)({
    onOutput: (line) => progress(`[policy pack] ${line}`),
    signal: startAbort.signal,
  });
  awaitedLater(pack.then((serving) => progress(`Policy pack serving (pid ${serving.pid}).`)));
  // After an interrupt the pack is stopped under the check: its errors are noise then.
  const checked = (async () => {
    const verdicts: StackVerdict[] = [];
    for (const stack of await stacksToCheck(settings)) {
      verdicts.push(await checkStack(stack, { ...settings, pack, progress }));
    }
    visibleIo(io, settings.json).stdout.write(`${formatVerdicts(verdicts, settings)}\n`);
    return Math.max(...verdicts.map((verdict) => summarize(verdict).exitCode));
  })().catch((err: unknown) => (interrupt.aborted ? EXIT_ERROR : fail(err)));
  const interrupted = (interrupt.aborted ? Promise.resolve() : once(interrupt, "abort")).then(
    () => {
      const signal = interrupt.reason as NodeJS.Signals;
      progress(`policy:check: ${signal}: stopping the policy pack...`);
      return 128 + os.constants.signals[signal];
    },
  );
  try {
    return await Promise.race([checked, interrupted]);
  } finally {
    // Stop the pack whether or not it served in time; a start still under way gives up.
    startAbort.abort("no longer needed");
    const [started] = await Promise.allSettled([pack]);
    if (started.status === "fulfilled") {
      await started.value.stop();
    }
  }
}

/** Without its signal handlers a killed check would leave the pack serving. */
export async function cli(argv: readonly string[]): Promise<void> {
  // `npm run policy:check --all-stacks` (no --): npm keeps the option (see npm-args.ts).
  const refusal = npmRefusal(checkProgram().options, argv, process.env, procNpmProcess(), ".");
  if (refusal !== undefined) {
    visibleIo(process, false).stderr.write(`policy:check: ${refusal}\n`);
    process.exitCode = EXIT_ERROR;
    return;
  }
  const interrupt = new AbortController();
  ["SIGINT", "SIGTERM"].forEach((signal) => process.once(signal, () => interrupt.abort(signal)));
  const code = await main(argv, interrupt.signal);
  // After a signal the program's evaluation may still be running, with nothing left to say.
  if (interrupt.signal.aborted) {
    process.exit(code);
  }
  process.exitCode = code;
}

/** `timings`: seconds from the stack's start. */
export type StackVerdict =
  | { stack: string; result: PolicyCheckResult; timings?: Record<string, number> }
  | { stack: string; error: string };

/** `urn:pulumi:<stack>::<project>::<parent type>$<type>::<name>`; the name may hold `::`. */
export function parseUrn(urn = "") {
  const [, type, name] = /^urn:pulumi:.*?::.*?::(.*?)::(.*)$/s.exec(urn) ?? [];
  return type === undefined ? undefined : { type: type.slice(type.lastIndexOf("$") + 1), name };
}

function summarize(verdict: StackVerdict) {
  const levels =
    "result" in verdict ? verdict.result.diagnostics.map((d) => d.enforcementLevel) : [];
  const mandatory = levels.filter((level) => level === "mandatory").length;
  const advisory = levels.filter((level) => level === "advisory").length;
  const exitCode = "error" in verdict ? EXIT_ERROR : mandatory > 0 ? 1 : 0;
  const word = ["passed", "failed", "could not be checked"][exitCode];
  const icon = exitCode === 0 && advisory > 0 ? "⚠️" : ["✅", "❌", "⛔"][exitCode];
  return { icon, word, mandatory, advisory, exitCode };
}

const plural = (n: number, word: string, words = `${word}s`) => `${n} ${n === 1 ? word : words}`;

function textReport(verdict: StackVerdict): string {
  if (!("result" in verdict)) {
    return `Stack ${verdict.stack}: could not be checked: ${verdict.error}`;
  }
  const { result, stack, timings } = verdict;
  const { icon, mandatory, advisory } = summarize(verdict);
  const lines = [
    "Policies:",
    `    ${icon} ${result.pack.name}@v${result.pack.version} (${PACK_SOURCE})`,
  ];
  for (const d of result.diagnostics) {
    const resource = parseUrn(d.urn);
    const where = resource ? `  (${resource.type}: ${resource.name})` : "";
    lines.push(`        - [${d.enforcementLevel}]  ${d.policyName}${where}`);
    lines.push(...d.message.split("\n").map((line) => `          ${line}`));
  }
  const outcome =
    mandatory > 0
      ? `failed: ${plural(mandatory, "mandatory violation")}, ${plural(advisory, "advisory warning")}`
      : `passed${advisory > 0 ? ` with ${plural(advisory, "advisory warning")}` : ""}`;
  const policies = plural(result.pack.policies.length, "policy", "policies");
  lines.push(
    "",
    `Stack ${stack}: ${plural(result.resourcesAnalyzed, "resource")} checked against ${policies}: ${outcome}.`,
  );
  if (timings) {
    const events = Object.entries(timings).map(([e, s]) => `${e} at ${s.toFixed(1)} s`);
    lines.push(`Time: ${events.join(", ")}.`);
  }
  return lines.join("\n");
}

function jsonReport(verdict: StackVerdict) {
  if (!("result" in verdict)) {
    return { stack: verdict.stack, passed: false, error: verdict.error };
  }
  const { stack, result, timings } = verdict;
  const { mandatory, advisory } = summarize(verdict);
  return {
    stack,
    pack: { name: result.pack.name, version: result.pack.version, source: PACK_SOURCE },
    passed: mandatory === 0,
    mandatory,
    advisory,
    resourcesAnalyzed: result.resourcesAnalyzed,
    policies: result.pack.policies.map((p) => ({
      name: p.name,
      enforcementLevel: result.config[p.name]?.enforcementLevel ?? p.enforcementLevel,
      config: result.config[p.name]?.properties ?? {},
    })),
    diagnostics: result.diagnostics,
    warnings: result.warnings,
    timings, // JSON leaves it out when undefined
  };
}

/** Shown as written: no line breaks, no raw HTML (a `<bucket>` would vanish as a tag). */
export function markdownCell(text: string): string {
  const html: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;" };
  return text.replace(/[&<>]|\r?\n|([\\|*_`[\]~])/g, (c, md?: string) =>
    md ? `\\${md}` : (html[c] ?? "<br>"),
  );
}

function markdownStack(verdict: StackVerdict): string[] {
  const { icon, word } = summarize(verdict);
  const heading = [`### ${icon} Stack ${markdownCell(verdict.stack)}: ${word}`, ""];
  if (!("result" in verdict)) {
    return [...heading, markdownCell(verdict.error), ""];
  }
  const { diagnostics, resourcesAnalyzed } = verdict.result;
  if (diagnostics.length === 0) {
    return [...heading, `No violations in ${resourcesAnalyzed} resources.`, ""];
  }
  const rows = diagnostics.map((d) => {
    const resource = parseUrn(d.urn);
    const where = resource ? markdownCell(`${resource.name} (${resource.type})`) : "the stack";
    const prefix = d.description && `${d.description}\n`;
    const own = prefix && d.message.startsWith(prefix) ? d.message.slice(prefix.length) : d.message;
    return `| \`${d.policyName}\` | ${d.enforcementLevel} | ${where} | ${markdownCell(own)} |`;
  });
  const header = ["| Policy | Level | Resource | Message |", "| --- | --- | --- | --- |"];
  return [...heading, ...header, ...rows, ""];
}

function markdownReport(verdicts: readonly StackVerdict[]): string {
  const summaries = verdicts.map(summarize);
  const worst = Math.max(...summaries.map((s) => s.exitCode));
  const overall =
    worst === 0 && summaries.some((s) => s.advisory > 0)
      ? "⚠️ passed with warnings"
      : ["✅ passed", "❌ failed", "⛔ could not check every stack"][worst];
  const pack = verdicts.flatMap((v) => ("result" in v ? [v.result.pack] : []))[0];
  const about = pack
    ? `\`${pack.name}@v${pack.version}\` (${markdownCell(PACK_SOURCE)}), ${pack.policies.length} policies, `
    : "";
  const lines = [
    `## Policy check: ${overall}`,
    "",
    `${about}run offline against each stack's config. Mandatory violations fail the check.`,
    "",
    "| Stack | Verdict | Mandatory | Advisory | Resources |",
    "| --- | --- | ---: | ---: | ---: |",
  ];
  for (const verdict of verdicts) {
    const { icon, word, mandatory, advisory } = summarize(verdict);
    const counts =
      "result" in verdict
        ? [mandatory, advisory, verdict.result.resourcesAnalyzed]
        : ["–", "–", "–"];
    lines.push(`| ${markdownCell(verdict.stack)} | ${icon} ${word} | ${counts.join(" | ")} |`);
  }
  lines.push("", ...verdicts.flatMap(markdownStack));
  return lines.join("\n").trimEnd() + "\n";
}

/** Without --all-stacks the one stack was checked: a failure to check it is an error instead. */
export function formatVerdicts(
  verdicts: readonly StackVerdict[],
  options: { readonly json: boolean; readonly markdown: boolean; readonly allStacks: boolean },
): string {
  if (!options.json) {
    return options.markdown ? markdownReport(verdicts) : verdicts.map(textReport).join("\n\n");
  }
  const stacks = verdicts.map(jsonReport);
  const report = options.allStacks ? { passed: stacks.every((s) => s.passed), stacks } : stacks[0];
  return JSON.stringify(report, null, 2);
}
