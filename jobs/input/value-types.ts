/**
 * Values checked with the script's own argparse types and choices before anything is
 * submitted: `var_a=six` for an `int` option fails here, with its file, line and column,
 * instead of on Batch. The check runs in Python (`run_job.py --check-values`), one process
 * for the whole run, with every distinct (variable, value) pair sent once: a 10,000-set
 * sweep of one typed option is at most 10,000 pairs, checked in milliseconds there.
 * Only side-effect-free types are called (int, float, choices, ...); the entrypoint skips
 * others (argparse.FileType, unknown callables) and says so.
 */
import type { Problem } from "../errors";
import { FatalError } from "../errors";
import { problemAt, type JsonDocument } from "./json-source";
import { entrypointArgs, startCheckValues, type StartedPython } from "./python-probe";
import type { LoadedJob } from "./job-file";
import type { ScriptDescription } from "./script-options";
import { isTyped } from "./typed-option";
import type { LoadedSweep } from "./sweep";

/** What `run_job.py --check-values` answers: one problem (or null) per pair sent. */
export interface ValueChecks {
  readonly problems: readonly (string | null)[];
  readonly skipped: readonly { readonly option: string; readonly reason: string }[];
}

export type CheckValues = (
  script: string | undefined,
  pairs: readonly (readonly [string, string])[],
) => Promise<ValueChecks>;

/** Where one pair was written: enough to report it. */
type Locate = (message: string) => Problem;

interface Collected {
  readonly pairs: [string, string][];
  readonly where: Locate[][];
}

/** One variable as a file writes it: its name, its value, and where to report the value. */
interface WrittenVariable {
  readonly name: string;
  readonly value: string;
  readonly at: Locate;
}

const ENVIRONMENT = ["containerOverrides", "environment"] as const;

/**
 * Every variable an item sets, with where its value was written: a job's environment, a
 * sweep's base and each of its sets, and in a file that failed the schema every entry that
 * still has a string name and value, so a schema error does not hide a bad value.
 */
function* variablesOf(item: LoadedJob | LoadedSweep | JsonDocument): Generator<WrittenVariable> {
  if (!("kind" in item)) {
    const env = (item.value as { containerOverrides?: { environment?: unknown } } | null)
      ?.containerOverrides?.environment;
    for (const [i, v] of (Array.isArray(env) ? env : []).entries()) {
      const { name, value } = (v ?? {}) as { name?: unknown; value?: unknown };
      if (typeof name === "string" && typeof value === "string") {
        yield { name, value, at: (m) => problemAt(item, [...ENVIRONMENT, i, "value"], m) };
      }
    }
    return;
  }
  if (item.kind === "job") {
    for (const [i, { name, value }] of (
      item.fields.containerOverrides?.environment ?? []
    ).entries()) {
      yield { name, value, at: (m) => problemAt(item.doc, [...ENVIRONMENT, i, "value"], m) };
    }
    return;
  }
  const base = item.base.containerOverrides?.environment ?? [];
  const doc = item.baseDoc;
  const prefix = [...item.basePrefix, ...ENVIRONMENT];
  for (const [i, { name, value }] of base.entries()) {
    yield {
      name,
      value,
      at: (m) =>
        doc !== undefined ? problemAt(doc, [...prefix, i, "value"], m) : item.problemAt(m),
    };
  }
  for (const [i, set] of item.sets.entries()) {
    for (const [name, value] of set) {
      const source = item.keySources.get(name) ?? item;
      yield { name, value, at: (m) => source.problemAt(`set ${i}: ${m}`) };
    }
  }
}

/**
 * Every distinct (variable, value) of a typed option, with where each was written; `invalid`
 * are the files that failed the schema.
 */
export function collectPairs(
  items: readonly (LoadedJob | LoadedSweep)[],
  desc: ScriptDescription,
  invalid: readonly JsonDocument[] = [],
): Collected {
  const typed = new Set(desc.options.filter(isTyped).flatMap((o) => [o.env, ...o.aliases]));
  const index = new Map<string, number>();
  const pairs: [string, string][] = [];
  const where: Locate[][] = [];
  for (const item of [...items, ...invalid]) {
    for (const { name, value, at } of variablesOf(item)) {
      if (!typed.has(name)) {
        continue;
      }
      const key = `${name}\u0000${value}`;
      let i = index.get(key);
      if (i === undefined) {
        i = pairs.length;
        index.set(key, i);
        pairs.push([name, value]);
        where.push([]);
      }
      if (where[i].length < 3) {
        where[i].push(at);
      }
    }
  }
  return { pairs, where };
}

/** The problems (located) and notes (skipped options) of a check. */
export function typedProblems(
  collected: Collected,
  checks: ValueChecks,
): { problems: Problem[]; notes: string[] } {
  const problems: Problem[] = [];
  checks.problems.forEach((message, i) => {
    if (message !== null) {
      problems.push(...collected.where[i].map((at) => at(message)));
    }
  });
  const notes = checks.skipped.map(
    (s) => `note: values of "${s.option}" were not checked before submission: ${s.reason}`,
  );
  return { problems, notes };
}

/**
 * Runs `python3 container/run_job.py --check-values [--script S]` once: the process
 * `started` when it is that very command (the CLI starts it early, so Python's start-up
 * overlaps the describe step), else a new one.
 */
export async function checkValuesWithPython(
  repoRoot: string,
  script: string | undefined,
  pairs: readonly (readonly [string, string])[],
  started?: StartedPython,
): Promise<ValueChecks> {
  const argv = entrypointArgs(repoRoot, "--check-values", script);
  const reuse = started !== undefined && started.argv.join("\0") === argv.join("\0");
  if (!reuse) {
    started?.cancel();
  }
  const child = reuse ? started : startCheckValues(repoRoot, script);
  const run = await child.finish(JSON.stringify({ values: pairs }));
  if (run.error !== undefined) {
    throw new FatalError(`could not run python3 (${run.error.message})`);
  }
  if (run.code !== 0) {
    throw new FatalError(
      `\`python3 container/run_job.py --check-values\` exited ${run.code}: ${run.stderr.trim()}`,
    );
  }
  try {
    return JSON.parse(run.stdout) as ValueChecks;
  } catch (err) {
    throw new FatalError(`--check-values printed no JSON (${(err as Error).message})`);
  }
}
