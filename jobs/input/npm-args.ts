/**
 * `npm run jobs:submit FILE --dry-run` (without `--`) keeps `--dry-run` as npm's own config,
 * exported as `npm_config_dry_run` unless an npmrc file or npm's start-up environment set it.
 * @see https://docs.npmjs.com/cli/v11/using-npm/scripts#environment
 * @see https://docs.npmjs.com/cli/v11/commands/npm-run-script ("use -- to pass --prefixed flags")
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Option } from "commander";
import { shellWord } from "../output/visible";
import { orFallback } from "../errors";

export type ToolOption = ReturnType<typeof toolOptions>[number];

/** `--help` is npm's too. */
export function toolOptions(options: readonly Option[]) {
  return options
    .filter((o) => o.long !== undefined && o.long !== "--help")
    .map((o) => ({
      name: (o.long ?? "").replace(/^--(no-)?/, ""),
      negate: o.negate,
      takesValue: o.required || o.optional,
    }));
}

/** Old names `npm run` reads before `--` as its own settings without a trace. */
const RENAMED: ReadonlyMap<string, readonly string[]> = new Map([
  ["--local", ["--locally"]],
  ["--script", ["--script-file"]],
  ["--csv", ["--write-csv"]],
  ["--html", ["--write-html"]],
  ["-f", ["--follow"]],
  ["--format", ["--markdown", "--json"]],
  ["-s", ["--stack"]],
  ["-c", ["--config"]],
]);

/** `initialEnv()` is undefined without /proc. */
export type NpmProcess = ReturnType<typeof procNpmProcess>;

/** As npm names them (`dry-run`). */
export function npmrcKeys(text: string): Set<string> {
  const lines = text.split(/\r?\n/).map((line) => line.trim());
  const settings = lines.filter((line) => !/^[#;[]/.test(line));
  const keys = settings.map((line) => line.split("=")[0].trim().toLowerCase().replace(/_/g, "-"));
  return new Set(keys.filter((key) => key !== ""));
}

/** Project, user, global and npm's own. */
function npmrcFiles(env: NodeJS.ProcessEnv): string[] {
  return [
    env.npm_config_local_prefix && path.join(env.npm_config_local_prefix, ".npmrc"),
    env.npm_config_userconfig ?? path.join(os.homedir(), ".npmrc"),
    env.npm_config_globalconfig,
    env.npm_execpath && path.join(env.npm_execpath, "..", "..", "npmrc"),
  ].filter((f): f is string => f !== undefined && f !== "");
}

export function swallowedOptions(
  options: readonly ToolOption[],
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  npm: NpmProcess | undefined,
) {
  const viaRun = ["run", "run-script"].includes(env.npm_command ?? "");
  if (env.npm_lifecycle_event === undefined || !viaRun) {
    return [];
  }
  const candidates = options.flatMap((option) => {
    const variable = `npm_config_${option.name.replace(/-/g, "_").toLowerCase()}`;
    const value = env[variable];
    const shows = option.takesValue ? value !== undefined : value === (option.negate ? "" : "true");
    const forms = [`--${option.name}`, `--no-${option.name}`];
    const given = argv.some((a) => forms.some((f) => a === f || a.startsWith(`${f}=`)));
    const flag = forms[option.negate ? 1 : 0];
    return shows && !given ? [{ option, variable, flag, value: value ?? "" }] : [];
  });
  // Without npm's start-up environment an inherited value cannot be told from a swallowed one.
  const inherited = candidates.length > 0 ? npm?.initialEnv() : undefined;
  if (inherited === undefined) {
    return [];
  }
  const fromFiles = new Set(npmrcFiles(env).flatMap((f) => [...npmrcKeys(npm?.readFile(f) ?? "")]));
  return candidates.filter((c) => !inherited.has(c.variable) && !fromFiles.has(c.option.name));
}

/** The tool's arguments without the words the npm script itself supplies. */
export function userArguments(argv: readonly string[], script: string | undefined): string[] {
  const words = (script ?? "").trim().split(/\s+/);
  for (let k = Math.min(argv.length, words.length); k > 0; k--) {
    if (argv.slice(0, k).every((a, i) => a === words[words.length - k + i])) {
      return argv.slice(k);
    }
  }
  return [...argv];
}

export function swallowedMessage(
  swallowed: ReturnType<typeof swallowedOptions>,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): string {
  const script = env.npm_lifecycle_event ?? "<script>";
  const flags = swallowed.flatMap((s) =>
    !s.option.takesValue ? [s.flag] : [s.flag, s.value === "true" ? "<value>" : shellWord(s.value)],
  );
  const words = [...userArguments(argv, env.npm_lifecycle_script).map(shellWord), ...flags];
  return (
    `npm took ${swallowed.map((s) => s.flag).join(", ")} as its own option${swallowed.length > 1 ? "s" : ""} ` +
    `(${swallowed.map((s) => s.variable).join(", ")}), so the tool would have run without ` +
    `${swallowed.length > 1 ? "them" : "it"}; nothing was read or sent. Put -- before the tool's ` +
    `arguments:\n  npm run ${script} -- ${words.join(" ")}` +
    (flags.includes("<value>")
      ? "\n(npm also left the value of each such option among the other arguments: move it back after its option)"
      : "")
  );
}

/** An old option name (its message ended by `renamedEnd`), or options npm kept for itself. */
export function npmRefusal(
  options: readonly Option[],
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  npm: NpmProcess | undefined,
  renamedEnd: string,
): string | undefined {
  const tool = toolOptions(options);
  const names = new Set(tool.map((o) => `--${o.name}`));
  for (const old of argv.map((arg) => arg.split("=")[0])) {
    const now = RENAMED.get(old);
    if (now !== undefined && names.has(now[0])) {
      return `${old}: use ${now.join(" or ")} (npm run takes ${old} for a setting of its own when it comes before --)${renamedEnd}`;
    }
  }
  const swallowed = swallowedOptions(tool, argv, env, npm);
  return swallowed.length > 0 ? swallowedMessage(swallowed, argv, env) : undefined;
}

const readIfThere = (file: string) => orFallback(() => fs.readFileSync(file, "utf8"), undefined);

export function procNpmProcess() {
  return {
    initialEnv: (): ReadonlyMap<string, string> | undefined => {
      let pid = process.ppid;
      // sh -c may sit between npm and node.
      for (let depth = 0; depth < 4 && pid > 1; depth++) {
        const title = readIfThere(`/proc/${pid}/cmdline`)?.split("\0")[0];
        const stat = readIfThere(`/proc/${pid}/stat`);
        if (title === undefined || stat === undefined) {
          return undefined;
        }
        if (/^npm( |$)/.test(title) || /npm-cli\.js$/.test(title)) {
          const environ = readIfThere(`/proc/${pid}/environ`)?.split("\0");
          const pairs = environ?.map((e) => /^([^=]*)=(.*)$/s.exec(e)).filter((m) => m !== null);
          return pairs && new Map(pairs.map(([, k, v]) => [k, v]));
        }
        pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      }
      return undefined;
    },
    readFile: readIfThere,
  };
}
