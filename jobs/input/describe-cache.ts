/**
 * `run_job.py --describe`'s answer, kept between runs: it costs two Python interpreters and
 * stands before a submit's first SubmitJob. Entries are keyed by a hash of everything the
 * answer depends on (the image's build context, any outside script folder, the script's
 * path, the interpreter and what picks it: docs/development.md lists them), so an edited
 * script never uses an old description. Not in the key: packages in site-packages.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { hashBuildContext } from "../../components/build-context";
import { VARS } from "../../components/contract";
import { definedOnly } from "../../components/defined";
import { onPath } from "./outputs";
import { startCheckValues, startDescribe, type StartedPython } from "./python-probe";
import type { ScriptDescription } from "./script-options";
import { isTyped } from "./typed-option";
import { writeWhole } from "../state/write-whole";
import { FatalError, isFileSystemError, isMissingFile } from "../errors";
import { jsonValue } from "./json-source";

/** Environment variable naming the folder of cached descriptions (tests, the bench). */
export const DESCRIBE_CACHE_ENV = VARS.describeCache;

/** Bump when the entry format or the key's inputs change. */
const FORMAT = "batchpy-describe-2";

/** The cache folder: $BATCHPY_DESCRIBE_CACHE, else beside bin/register.js's transpile cache. */
function describeCacheDir(repoRoot: string, env: NodeJS.ProcessEnv): string {
  return (
    env[DESCRIBE_CACHE_ENV] ||
    path.join(repoRoot, "node_modules", ".cache", "batchpy-ts", "describe")
  );
}

/**
 * What a version manager's shim reads to pick the interpreter (python3 runs in the repository
 * root): the nearest `.python-version` and `.tool-versions` at or above it, and pyenv's
 * global version file. Contents, joined; empty when there are none.
 */
function versionFiles(repoRoot: string, env: NodeJS.ProcessEnv): string {
  const found: string[] = [];
  for (const name of [".python-version", ".tool-versions"]) {
    for (let dir = repoRoot; ; dir = path.dirname(dir)) {
      const text = readOrUndefined(path.join(dir, name));
      if (text !== undefined) {
        found.push(`${dir}/${name}\0${text}`);
        break;
      }
      if (path.dirname(dir) === dir) {
        break;
      }
    }
  }
  const pyenvRoot = env.PYENV_ROOT || path.join(env.HOME ?? "/", ".pyenv");
  found.push(readOrUndefined(path.join(pyenvRoot, "version")) ?? "");
  return found.join("\0");
}

function readOrUndefined(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    if (isMissingFile(err)) {
      return undefined;
    }
    throw err;
  }
}

export interface DescribeKeyArgs {
  readonly repoRoot: string;
  /** The script, absolute; default container/job/script.py. */
  readonly script?: string;
  /** Default `python3`. */
  readonly python?: string;
  readonly env: NodeJS.ProcessEnv;
}

/** The cache key of `--describe` for these inputs, or undefined when it cannot be cached. */
export function describeKey(args: DescribeKeyArgs): string | undefined {
  const python = onPath(args.python ?? "python3", args.env);
  if (python === undefined) {
    return undefined; // the describe step says what is wrong
  }
  const container = path.join(args.repoRoot, "container");
  const script = args.script ?? path.join(container, "job", "script.py");
  const hash = crypto.createHash("sha256");
  const interpreter = fs.statSync(python);
  hash.update(`${FORMAT}\0${script}\0${python}\0${interpreter.size}\0${interpreter.mtimeMs}\0`);
  const pythonEnv = Object.keys(args.env)
    .filter((k) => k.startsWith("PYTHON") || k.startsWith("PYENV") || k.startsWith("ASDF"))
    .sort()
    .map((k) => `${k}=${args.env[k]}`);
  hash.update(`${pythonEnv.join("\0")}\0${versionFiles(args.repoRoot, args.env)}\0`);
  hash.update(`${hashBuildContext(container)}\0`);
  const scriptDir = path.dirname(script);
  if (path.relative(path.join(container, "job"), scriptDir).startsWith("..")) {
    hash.update(`script folder\0${hashBuildContext(scriptDir)}`);
  }
  return hash.digest("hex");
}

/** A cached answer: `--describe`'s output, and the interpreter that printed it. */
interface Entry {
  readonly output: string;
  readonly interpreter: { readonly path: string; readonly size: number; readonly mtimeMs: number };
}

/** The interpreter `output` names (its "python"), as it is on disk now; undefined if none. */
function interpreterOf(output: string): Entry["interpreter"] | undefined {
  try {
    const named = (JSON.parse(output) as { python?: unknown }).python;
    if (typeof named !== "string" || !path.isAbsolute(named)) {
      return undefined;
    }
    const stat = fs.statSync(named);
    return stat.isFile() ? { path: named, size: stat.size, mtimeMs: stat.mtimeMs } : undefined;
  } catch (err) {
    return unreadable(err);
  }
}

/**
 * The cached entry for `key`, if there is one and the interpreter it names is still the same
 * file; anything unreadable counts as none.
 */
export function readCachedDescribe(dir: string, key: string): Entry | undefined {
  const text = readOrUndefined(path.join(dir, `${key}.json`));
  if (text === undefined) {
    return undefined;
  }
  try {
    const entry = JSON.parse(text) as Partial<Entry>;
    const now = typeof entry.output === "string" ? interpreterOf(entry.output) : undefined;
    const then = entry.interpreter;
    if (
      now === undefined ||
      then === undefined ||
      now.path !== then.path ||
      now.size !== then.size ||
      now.mtimeMs !== then.mtimeMs
    ) {
      return undefined;
    }
    return { output: entry.output as string, interpreter: now };
  } catch (err) {
    return unreadable(err);
  }
}

/** Keeps `output` (a `--describe` answer that parsed) for `key`; never fails the command. */
export function writeCachedDescribe(dir: string, key: string, output: string): void {
  const interpreter = interpreterOf(output);
  if (interpreter === undefined) {
    return; // an entrypoint that does not say which interpreter answered: nothing to check
  }
  const file = path.join(dir, `${key}.json`);
  try {
    // Written whole: a concurrent submit never reads half an entry.
    writeWhole(file, JSON.stringify({ output, interpreter } satisfies Entry));
  } catch (err) {
    // A read-only checkout (or a full disk) still works, only without the cache.
    if (!isFileSystemError(err)) {
      throw err;
    }
  }
}

/**
 * Whether a `--describe` answer declares an option whose values Python must check
 * (typed-option.ts isTyped), read from the raw JSON without zod; false for text that is no
 * such answer (parseDescription refuses it afterwards). For a valid answer it is exactly
 * `parseDescription(output).options.some(isTyped)`: the description keeps `type` and
 * `choices` as printed.
 */
export function declaresTypedOption(output: string): boolean {
  const answer = jsonValue(output)?.value;
  const options =
    typeof answer === "object" ? (answer as { options?: unknown } | null)?.options : undefined;
  return (
    Array.isArray(options) &&
    options.some(
      (o: unknown) =>
        typeof o === "object" &&
        o !== null &&
        isTyped(o as Pick<ScriptDescription["options"][number], "type" | "choices">),
    )
  );
}

/**
 * Submit's Python probes, started before the rest of the tool loads. With a cached
 * description no `--describe` runs, and `--check-values` starts (`onChecker`) at once, before
 * zod and the rest of the tool load, only when the script has a typed option: without one
 * there is nothing for it to check. Without a cached description both start at once, side by
 * side, and the answer is kept once it parsed.
 */
export function startProbes(
  repoRoot: string,
  script: string | undefined,
  env: NodeJS.ProcessEnv,
  onChecker: (checker: StartedPython) => void,
): Promise<ScriptDescription> {
  const dir = describeCacheDir(repoRoot, env);
  const key = describeKey(definedOnly({ repoRoot, script, env }));
  const entry = key !== undefined ? readCachedDescribe(dir, key) : undefined;
  const startChecker = (python?: string): StartedPython => {
    const checker = startCheckValues(repoRoot, script, python);
    onChecker(checker);
    return checker;
  };
  const live = (): Promise<ScriptDescription> => {
    const d = startDescribe(definedOnly({ repoRoot, script }));
    return d.run.then(async (run) => {
      const desc = (await import("./script-options")).describedBy(run, d.shown);
      if (key !== undefined) {
        writeCachedDescribe(dir, key, run.stdout);
      }
      return desc;
    });
  };
  if (entry === undefined) {
    startChecker();
    return live();
  }
  // With an entry, the real interpreter: a shim costs a shell and more per start.
  const early = declaresTypedOption(entry.output)
    ? startChecker(entry.interpreter.path)
    : undefined;
  return import("./script-options").then((options) => {
    try {
      return options.parseDescription(entry.output, "the cached description");
    } catch (err) {
      // A damaged entry (parseDescription refuses it): ask Python again, as without one.
      if (!(err instanceof FatalError)) {
        throw err;
      }
      early?.cancel();
      startChecker();
      return live();
    }
  });
}

/** A cache entry or file that is not there or not JSON counts as no entry; anything else throws. */
function unreadable(err: unknown): undefined {
  if (err instanceof SyntaxError || isFileSystemError(err)) {
    return undefined;
  }
  throw err;
}
