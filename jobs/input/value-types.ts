/**
 * Every variable of every job and sweep, checked where it was written: one walk
 * (`variablesOf`) over each item's variables with their positions feeds the name rules, the
 * value rules and the rules of a whole set of variables (script-options.ts, variables.ts),
 * and collects the values of typed options for the script's own argparse types. Those run in
 * Python (`run_job.py --check-values`), one process for the whole run, with every distinct
 * (variable, value) pair sent once: a 10,000-set sweep of one typed option is at most 10,000
 * pairs, checked in milliseconds there. Only side-effect-free types are called (int, float,
 * choices, ...); the entrypoint skips others (argparse.FileType, unknown callables) and says so.
 */
import type { Problem } from "../errors";
import { FatalError } from "../errors";
import { problemAt, type JsonDocument } from "./json-source";
import { entrypointArgs, startCheckValues, type StartedPython } from "./python-probe";
import type { LoadedJob } from "./job-file";
import {
  checkEnvName,
  missingRequired,
  valueProblems,
  type ScriptDescription,
  type ScriptOption,
} from "./script-options";
import { whichSets, type LoadedSweep } from "./sweep";
import { variableNameProblem, variableValueProblem } from "./variables";

/** Whether the option's values need Python to check them: a type other than str, or choices. */
export function isTyped(o: Pick<ScriptOption, "type" | "choices">): boolean {
  return (o.type !== undefined && o.type !== null && o.type !== "str") || Boolean(o.choices);
}

/** What `run_job.py --check-values` answers: one problem (or null) per pair sent. */
export interface ValueChecks {
  readonly problems: readonly (string | null)[];
  readonly skipped: readonly { readonly option: string; readonly reason: string }[];
}

export type CheckValues = (
  script: string | undefined,
  pairs: readonly (readonly [string, string])[],
) => Promise<ValueChecks>;

/** Where a variable was written: its name or its value, reported with a message. */
type Locate = (message: string, part: "name" | "value") => Problem;

interface Collected {
  readonly pairs: [string, string][];
  readonly where: Locate[][];
}

/** One variable as a file writes it, and where to report its name or its value. */
interface WrittenVariable {
  readonly name: string;
  /** Undefined in a file that failed the schema, where the value is not a string. */
  readonly value: string | undefined;
  readonly at: Locate;
  /** The sweep set it belongs to; undefined in a job's (or a sweep base's) own environment. */
  readonly set?: number;
}

type Item = LoadedJob | LoadedSweep;

const ENVIRONMENT = ["containerOverrides", "environment"] as const;

/** A file's environment entries as written, whatever shape the rest of the file has. */
function rawEnvironment(value: unknown): { name?: unknown; value?: unknown }[] {
  const env = (value as { containerOverrides?: { environment?: unknown } } | null)
    ?.containerOverrides?.environment;
  return (Array.isArray(env) ? env : []).map(
    (v) => (v ?? {}) as { name?: unknown; value?: unknown },
  );
}

/**
 * Every variable an item sets, with where it was written: a job's environment, a sweep's
 * base and each of its sets, and in a file that failed the schema every entry that still
 * has a string name, so a schema error does not hide a bad name or value.
 */
function* variablesOf(item: Item | JsonDocument): Generator<WrittenVariable> {
  if (!("kind" in item) || item.kind === "job") {
    const doc = "kind" in item ? item.doc : item;
    const env =
      "kind" in item
        ? (item.fields.containerOverrides?.environment ?? [])
        : rawEnvironment(item.value);
    for (const [i, { name, value }] of env.entries()) {
      if (typeof name === "string") {
        const text = typeof value === "string" ? value : undefined;
        yield { name, value: text, at: (m, part) => problemAt(doc, [...ENVIRONMENT, i, part], m) };
      }
    }
    return;
  }
  const doc = item.baseDoc;
  const prefix = [...item.basePrefix, ...ENVIRONMENT];
  for (const [i, { name, value }] of (item.base.containerOverrides?.environment ?? []).entries()) {
    yield {
      name,
      value,
      at: (m, part) =>
        doc !== undefined ? problemAt(doc, [...prefix, i, part], m) : item.problemAt(m),
    };
  }
  for (const [i, set] of item.sets.entries()) {
    for (const [name, value] of set) {
      const source = item.keySources.get(name) ?? item;
      yield {
        name,
        value,
        set: i,
        at: (m, part) => source.problemAt(part === "name" ? m : `set ${i}: ${m}`),
      };
    }
  }
}

/** The whole-set rules' answer for one set of variables. */
interface SetRules {
  readonly values: ReturnType<typeof valueProblems>;
  readonly missing: ReturnType<typeof missingRequired>;
}

/** Beyond this many distinct sets of option names, answers are worked out but not kept. */
const MAX_REMEMBERED_SETS = 10_000;

/** What the checks look up per variable, built once per description. */
interface OptionIndex {
  /** Each option's variable names -> its flag (an option also travels as `--flag=value`). */
  readonly flags: ReadonlyMap<string, string>;
  /** Each option's variable names -> whether the whole-set rules read its value. */
  readonly readsValue: ReadonlyMap<string, boolean>;
  /** The whole-set rules' answers, by the set of option names (and values they read). */
  readonly setRules: Map<string, SetRules>;
}

function optionIndex(desc: ScriptDescription): OptionIndex {
  const names = desc.options.flatMap((o) => [o.env, ...o.aliases].map((n) => [n, o] as const));
  const reads = (o: (typeof desc.options)[number]): boolean =>
    o.kind !== "value" || o.action === "count" || o.aliases.length > 0;
  return {
    flags: new Map(names.map(([n, o]) => [n, o.flag])),
    readsValue: new Map(names.map(([n, o]) => [n, reads(o)])),
    setRules: new Map(),
  };
}

/** At most this many problems of a sweep's sets are shown one by one; the rest are counted. */
const SHOWN_SET_PROBLEMS = 10;

/**
 * Every problem of the items' variables, located, and the typed pairs to check in Python.
 * `invalid` are the files that failed the schema: their variables are checked one by one.
 */
export function checkVariables(
  items: readonly Item[],
  desc: ScriptDescription,
  invalid: readonly JsonDocument[] = [],
): { problems: Problem[]; collected: Collected } {
  const typed = new Set(desc.options.filter(isTyped).flatMap((o) => [o.env, ...o.aliases]));
  const index = new Map<string, number>();
  const collected: Collected = { pairs: [], where: [] };
  const problems: Problem[] = [];
  const options = optionIndex(desc);
  for (const item of [...items, ...invalid]) {
    const walk = new ItemWalk(item, desc, options, problems);
    for (const v of variablesOf(item)) {
      walk.add(v);
      if (v.value !== undefined && typed.has(v.name)) {
        const key = `${v.name}\u0000${v.value}`;
        let i = index.get(key);
        if (i === undefined) {
          i = collected.pairs.length;
          index.set(key, i);
          collected.pairs.push([v.name, v.value]);
          collected.where.push([]);
        }
        if (collected.where[i].length < 3) {
          collected.where[i].push(v.at);
        }
      }
    }
    walk.end();
  }
  return { problems, collected };
}

/**
 * The checks of one item's variables as the walk meets them: each name and value of its own
 * environment, each set key's name once, and the rules of a whole set of variables (required
 * options, flags, groups) for a job's environment or, in a sweep, for each set over the base.
 */
class ItemWalk {
  private readonly own = new Map<string, WrittenVariable>();
  private readonly checkedKeys = new Set<string>();
  private setIndex = -1;
  private readonly lacking = new Map<string, number[]>();
  private readonly sweep: LoadedSweep | undefined;
  private baseValues: Map<string, string> | undefined;
  private shown = 0;
  private more = 0;

  constructor(
    private readonly item: Item | JsonDocument,
    private readonly desc: ScriptDescription,
    private readonly index: OptionIndex,
    private readonly problems: Problem[],
  ) {
    this.sweep = "kind" in item && item.kind === "sweep" ? item : undefined;
  }

  add(v: WrittenVariable): void {
    if (v.set === undefined) {
      this.ownVariable(v);
      return;
    }
    if (v.set !== this.setIndex) {
      this.endSet();
      this.setIndex = v.set;
    }
    if (!this.checkedKeys.has(v.name)) {
      this.checkedKeys.add(v.name);
      const reason = variableNameProblem(v.name) ?? checkEnvName(v.name, this.desc);
      if (reason !== undefined) {
        this.problems.push(v.at(reason, "name"));
      }
    }
    const bad = variableValueProblem(v.name, v.value ?? "", this.index.flags.get(v.name));
    if (bad !== undefined) {
      this.setProblem(() => v.at(bad, "value"));
    }
  }

  /** A variable of a job's or a base's own environment: its name, its value, a repeat. */
  private ownVariable(v: WrittenVariable): void {
    const reason = variableNameProblem(v.name) ?? checkEnvName(v.name, this.desc);
    if (reason !== undefined) {
      this.problems.push(v.at(reason, "name"));
    }
    const bad =
      v.value !== undefined
        ? variableValueProblem(v.name, v.value, this.index.flags.get(v.name))
        : undefined;
    if (bad !== undefined) {
      this.problems.push(v.at(bad, "value"));
    }
    if (this.own.has(v.name)) {
      this.problems.push(v.at(`"${v.name}" is set twice; keep one of them`, "name"));
    } else {
      this.own.set(v.name, v);
    }
  }

  private ownValues(): Map<string, string> {
    return new Map([...this.own].map(([n, v]) => [n, v.value ?? ""]));
  }

  /** A problem of a sweep's sets: shown while there are few, past that only counted. */
  private setProblem(problem: () => Problem): void {
    if (this.shown < SHOWN_SET_PROBLEMS) {
      this.shown++;
      this.problems.push(problem());
    } else {
      this.more++;
    }
  }

  /** The rules of one sweep set over the base: its values together, its required options. */
  private endSet(): void {
    const sweep = this.sweep;
    const set = sweep?.sets[this.setIndex];
    if (sweep === undefined || set === undefined) {
      return;
    }
    // The base comes first in the walk, so it is complete by the first set.
    this.baseValues ??= this.ownValues();
    const vars = this.baseValues.size > 0 ? new Map([...this.baseValues, ...set]) : set;
    const at = this.setIndex;
    const rules = this.setRules(vars);
    for (const p of rules.values) {
      const source = (p.name !== undefined ? sweep.keySources.get(p.name) : undefined) ?? sweep;
      this.setProblem(() => source.problemAt(`set ${at}: ${p.message}`));
    }
    for (const o of rules.missing) {
      const list = this.lacking.get(o.env) ?? [];
      list.push(at);
      this.lacking.set(o.env, list);
    }
  }

  /**
   * The whole-set rules' answer for one set, worked out once per distinct set of option
   * names (with the values those rules read: flags, counts, lists, options with two names):
   * the sets of a grid share one.
   */
  private setRules(vars: ReadonlyMap<string, string>): SetRules {
    let key = "";
    for (const [name, value] of vars) {
      const reads = this.index.readsValue.get(name);
      if (reads !== undefined) {
        key += reads ? `${name}=${value}\u0000` : `${name}\u0000`;
      }
    }
    let found = this.index.setRules.get(key);
    if (found === undefined) {
      found = {
        values: valueProblems(vars, this.desc),
        missing: missingRequired(new Set(vars.keys()), this.desc),
      };
      if (this.index.setRules.size < MAX_REMEMBERED_SETS) {
        this.index.setRules.set(key, found);
      }
    }
    return found;
  }

  /** After the last variable: the whole-set rules of a job, or of a sweep's last set. */
  end(): void {
    const sweep = this.sweep;
    if (!("kind" in this.item) || sweep === undefined) {
      if ("kind" in this.item && this.item.kind === "job") {
        this.jobEnvironment(this.item.doc);
      }
      return;
    }
    this.endSet();
    if (this.more > 0) {
      this.problems.push(sweep.problemAt(`... and ${this.more} more problems in other sets`));
    }
    for (const [name, indexes] of this.lacking) {
      this.problems.push(
        sweep.problemAt(
          `required option "${name}" is not set in ${whichSets(indexes, sweep.sets.length)}; add it to the sweep or to base.containerOverrides.environment`,
        ),
      );
    }
  }

  /** A job's environment as a whole: required options, flags, both names, groups. */
  private jobEnvironment(doc: JsonDocument): void {
    for (const o of missingRequired(new Set(this.own.keys()), this.desc)) {
      this.problems.push(
        problemAt(
          doc,
          ENVIRONMENT,
          `required option "${o.env}" (${o.flag}) is not set; add {"name": "${o.env}", "value": "..."}`,
        ),
      );
    }
    const vars = this.ownValues();
    for (const p of valueProblems(vars, this.desc)) {
      const v = p.name !== undefined ? this.own.get(p.name) : undefined;
      this.problems.push(
        v !== undefined ? v.at(p.message, "value") : problemAt(doc, ENVIRONMENT, p.message),
      );
    }
  }
}

/** The problems (located) and notes (skipped options) of a check. */
export function typedProblems(
  collected: Collected,
  checks: ValueChecks,
): { problems: Problem[]; notes: string[] } {
  const problems: Problem[] = [];
  checks.problems.forEach((message, i) => {
    if (message !== null) {
      problems.push(...collected.where[i].map((at) => at(message, "value")));
    }
  });
  const notes = checks.skipped.map(
    (s) => `note: values of "${s.option}" were not checked before submission: ${s.reason}`,
  );
  return { problems, notes };
}

/**
 * Runs `python3 container/run_job.py --check-values [--script S]` once: the process
 * `started` when it is that very command (started beside the describe step, so the two
 * Python start-ups overlap), else a new one.
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
