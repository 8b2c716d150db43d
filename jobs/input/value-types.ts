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
import { problemAt } from "./json-source";
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

/** Every distinct (variable, value) of a typed option, with where each was written. */
export function collectPairs(
  items: readonly (LoadedJob | LoadedSweep)[],
  desc: ScriptDescription,
): Collected {
  const typed = new Set(desc.options.filter(isTyped).flatMap((o) => [o.env, ...o.aliases]));
  const index = new Map<string, number>();
  const pairs: [string, string][] = [];
  const where: Locate[][] = [];
  const add = (name: string, value: string, at: Locate): void => {
    if (!typed.has(name)) {
      return;
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
  };
  for (const item of items) {
    if (item.kind === "job") {
      const env = item.fields.containerOverrides?.environment ?? [];
      const at = ["containerOverrides", "environment"];
      env.forEach((v, i) =>
        add(v.name, v.value, (m) => problemAt(item.doc, [...at, i, "value"], m)),
      );
      continue;
    }
    const base = item.base.containerOverrides?.environment ?? [];
    const doc = item.baseDoc;
    const prefix = [...item.basePrefix, "containerOverrides", "environment"];
    base.forEach((v, i) =>
      add(v.name, v.value, (m) =>
        doc !== undefined
          ? problemAt(doc, [...prefix, i, "value"], m)
          : { file: item.file, message: m },
      ),
    );
    item.sets.forEach((set, i) => {
      for (const [name, value] of set) {
        const source = item.keySources.get(name);
        add(name, value, (m) =>
          source !== undefined
            ? source.problemAt(`set ${i}: ${m}`)
            : { file: item.file, message: `set ${i}: ${m}` },
        );
      }
    });
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
