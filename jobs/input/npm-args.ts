/**
 * `npm run jobs:submit FILE --dry-run` (without `--`) runs a real submit: npm reads
 * `--dry-run`, `--json`, `--force`, `--outputs`... as its own config and never passes them
 * on. What stays observable (npm 7+, where npm_config_argv is gone):
 *
 *  - npm exports every config value that differs from its default as `npm_config_<name>`
 *    (@npmcli/config set-envs.js), an unknown `--outputs` as `npm_config_outputs=true`
 *    and `--no-array` as `npm_config_array=` (empty: false); the value left behind
 *    (`o.json`) reaches the tool as an argument;
 *  - the same variables also come from an `.npmrc` file or from the environment npm itself
 *    was started with (an outer `npm run x --json`), and those runs must go ahead. So an
 *    option counts as swallowed only when its variable is set, the tool's arguments lack
 *    it, no npmrc file sets it, and the npm process did not inherit it (its start-up
 *    environment, /proc/<pid>/environ: npm's title replaces its command line, so that
 *    cannot be read);
 *  - `npm_lifecycle_event` names the script and `npm_lifecycle_script` its command, which
 *    tells the script's own words from the user's in the tool's arguments.
 *
 * Only `npm run` swallows: `npx`/`npm exec` pass everything after the command name on.
 *
 * @see https://docs.npmjs.com/cli/v11/using-npm/scripts#environment
 * @see https://docs.npmjs.com/cli/v11/commands/npm-run-script ("use -- to pass --prefixed flags")
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** A long option of the command being run. */
export interface ToolOption {
  /** Without dashes and without `no-`: `dry-run`, `outputs`, `array` (for `--no-array`). */
  readonly name: string;
  readonly negate: boolean;
  readonly takesValue: boolean;
}

/** What can be learnt about the npm process that started this one. */
export interface NpmProcess {
  /** npm's environment at start-up; undefined when it cannot be read (no /proc). */
  initialEnv(): ReadonlyMap<string, string> | undefined;
  /** A file's text, or undefined. */
  readFile(file: string): string | undefined;
}

export interface Swallowed {
  /** As the user meant it: `--dry-run`, `--no-array`, `--outputs`. */
  readonly flag: string;
  readonly variable: string;
  readonly value: string;
  readonly option: ToolOption;
}

/** `npm_config_dry_run` for `dry-run`. */
function npmVariable(name: string): string {
  return `npm_config_${name.replace(/-/g, "_").toLowerCase()}`;
}

/** Keys an npmrc file sets (`key = value` lines), as npm names them (`dry-run`). */
export function npmrcKeys(text: string): Set<string> {
  const keys = new Set<string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";") || line.startsWith("[")) {
      continue;
    }
    const key = line.split("=")[0].trim().toLowerCase().replace(/_/g, "-");
    if (key !== "") {
      keys.add(key);
    }
  }
  return keys;
}

/** The npmrc files npm read: project, user and global (npm exports where they are). */
function npmrcFiles(env: NodeJS.ProcessEnv): string[] {
  return [
    env.npm_config_local_prefix !== undefined
      ? path.join(env.npm_config_local_prefix, ".npmrc")
      : undefined,
    env.npm_config_userconfig ?? path.join(os.homedir(), ".npmrc"),
    env.npm_config_globalconfig,
  ].filter((f): f is string => f !== undefined && f !== "");
}

/** Whether `argv` holds `option` in any form commander reads. */
function given(argv: readonly string[], option: ToolOption): boolean {
  const forms = [`--${option.name}`, `--no-${option.name}`];
  return argv.some((a) => forms.some((f) => a === f || a.startsWith(`${f}=`)));
}

/**
 * The options of this command that `npm run` took for itself on this command line.
 * `argv` is the tool's arguments (after the script name).
 */
export function swallowedOptions(
  options: readonly ToolOption[],
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  npm: NpmProcess | undefined,
): Swallowed[] {
  if (
    env.npm_lifecycle_event === undefined ||
    !["run", "run-script"].includes(env.npm_command ?? "")
  ) {
    return [];
  }
  const candidates = options.flatMap((option) => {
    const variable = npmVariable(option.name);
    const value = env[variable];
    return value !== undefined && !given(argv, option) ? [{ option, variable, value }] : [];
  });
  if (candidates.length === 0) {
    return [];
  }
  // Without npm's start-up environment an inherited value cannot be told from a swallowed
  // one; refusing a run that may be fine is worse than the old behaviour, so say nothing.
  const inherited = npm?.initialEnv();
  if (inherited === undefined) {
    return [];
  }
  const fromFiles = new Set(npmrcFiles(env).flatMap((f) => [...npmrcKeys(npm?.readFile(f) ?? "")]));
  return candidates
    .filter((c) => !inherited.has(c.variable) && !fromFiles.has(c.option.name))
    .map((c) => ({
      ...c,
      flag: c.option.negate && c.value !== "true" ? `--no-${c.option.name}` : `--${c.option.name}`,
    }));
}

/** The user's arguments: the tool's, without the words the npm script itself supplies. */
export function userArguments(argv: readonly string[], script: string | undefined): string[] {
  const words = (script ?? "").trim().split(/\s+/);
  for (let k = Math.min(argv.length, words.length); k > 0; k--) {
    if (argv.slice(0, k).every((a, i) => a === words[words.length - k + i])) {
      return argv.slice(k);
    }
  }
  return [...argv];
}

/** The refusal: what npm took, and the command that passes it to the tool. */
export function swallowedMessage(
  swallowed: readonly Swallowed[],
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  quote: (s: string) => string,
): string {
  const script = env.npm_lifecycle_event ?? "<script>";
  const flags = swallowed.flatMap((s) => {
    if (!s.option.takesValue) {
      return [s.flag];
    }
    return [s.flag, s.value === "true" ? "<value>" : s.value];
  });
  const lostValues = swallowed.some((s) => s.option.takesValue && s.value === "true");
  const words = [...userArguments(argv, env.npm_lifecycle_script), ...flags].map((w) =>
    w === "<value>" ? w : quote(w),
  );
  return (
    `npm took ${swallowed.map((s) => s.flag).join(", ")} as its own option${swallowed.length > 1 ? "s" : ""} ` +
    `(${swallowed.map((s) => s.variable).join(", ")}), so the tool would have run without ` +
    `${swallowed.length > 1 ? "them" : "it"}; nothing was read or sent. Put -- before the tool's ` +
    `arguments:\n  npm run ${script} -- ${words.join(" ")}` +
    (lostValues
      ? "\n(npm also left the value of each such option among the other arguments: move it back after its option)"
      : "")
  );
}

/** The npm process above this one: its start-up environment, from /proc (Linux). */
export function procNpmProcess(): NpmProcess {
  return {
    initialEnv: () => {
      let pid = process.ppid;
      // sh -c between npm and node, or none when the shell execs the command.
      for (let depth = 0; depth < 4 && pid > 1; depth++) {
        try {
          const title = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0];
          if (/^npm( |$)/.test(title) || /npm-cli\.js$/.test(title)) {
            const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8");
            return new Map(
              environ
                .split("\0")
                .filter((e) => e.includes("="))
                .map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]),
            );
          }
          const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
          pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        } catch {
          return undefined;
        }
      }
      return undefined;
    },
    readFile: (file) => {
      try {
        return fs.readFileSync(file, "utf8");
      } catch {
        return undefined;
      }
    },
  };
}
