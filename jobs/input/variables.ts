/**
 * Every variable of every job and sweep, judged by the entrypoint (`run_job.py
 * --check-values`, container/batchpy_job/values.py) about each distinct name, (name, value)
 * pair and set of option names, never every set of a sweep, and located here: one walk over
 * an item's variables (`variablesOf`) builds the question and, again, places each answer.
 */
import type { Problem } from "../errors";
import { FatalError } from "../errors";
import { jsonValue, problemAt, valueAt, type JsonDocument } from "./json-source";
import { ARRAY_MIN_SIZE, type LoadedJob } from "./job-file";
import { runProbe, type ScriptDescription } from "./script-options";
import { fieldsSource } from "./scripts";
import { whichSets, type LoadedSweep } from "./sweep";

/** What `run_job.py --check-values` is asked. */
export interface CheckRequest {
  readonly names: readonly string[];
  readonly values: readonly (readonly [string, string])[];
  /** Each distinct set of option variables, as indexes into `values`. */
  readonly sets: readonly (readonly number[])[];
  /** The names the sets of sweeps vary. */
  readonly setNames: readonly string[];
  readonly plainEnv: readonly string[];
}

/** Its answer, in the request's order: a name's problem, a pair's, a set's. */
export interface CheckAnswer {
  /** Why a `--plain-env` name cannot be plain environment. */
  readonly plainEnv: readonly string[];
  readonly names: readonly (string | null)[];
  readonly values: readonly (readonly string[])[];
  readonly sets: readonly {
    readonly problems: readonly { readonly name?: string; readonly message: string }[];
    /** A problem for each required option the set lacks. */
    readonly missing: readonly string[];
  }[];
  /** Why an array job's sets cannot vary a name of `setNames`. */
  readonly setNames: readonly (string | null)[];
  /** Options whose values the script's own types did not check, and why. */
  readonly skipped: readonly { readonly option: string; readonly reason: string }[];
}

/** Asks the entrypoint; `scriptOptions` is a saved description to check against instead. */
export type CheckValues = (
  script: string | undefined,
  request: CheckRequest,
  scriptOptions?: string,
) => Promise<CheckAnswer>;

/** One variable as a file writes it, and where to report its name or its value. */
interface WrittenVariable {
  readonly name: string;
  /** Undefined in a file that failed the schema, where the value is not a string. */
  readonly value: string | undefined;
  readonly at: (message: string, part: "name" | "value") => Problem;
  /** The sweep set it belongs to; undefined in a job's (or a sweep base's) own environment. */
  readonly set?: number;
}

type Item = LoadedJob | LoadedSweep;

const ENVIRONMENT = ["containerOverrides", "environment"] as const;

/** At most this many problems of a sweep's sets are shown one by one; the rest are counted. */
const SHOWN_SET_PROBLEMS = 10;

/**
 * Every variable an item sets, with where it was written: a job's environment, a sweep's
 * base and each of its sets, and in a file that failed the schema every entry that still
 * has a string name, so a schema error does not hide a bad name or value.
 */
function* variablesOf(item: Item | JsonDocument): Generator<WrittenVariable> {
  const source = fieldsSource(item);
  if (source !== undefined) {
    const { doc, path } = source;
    const env = valueAt(doc.value, [...path, ...ENVIRONMENT]);
    for (const [i, entry] of (Array.isArray(env) ? env : []).entries()) {
      const { name, value } = (entry ?? {}) as { name?: unknown; value?: unknown };
      if (typeof name === "string") {
        const text = typeof value === "string" ? value : undefined;
        const at = [...path, ...ENVIRONMENT, i];
        yield { name, value: text, at: (m, part) => problemAt(doc, [...at, part], m) };
      }
    }
  }
  if (!("kind" in item) || item.kind === "job") {
    return;
  }
  for (const [i, set] of item.sets.entries()) {
    for (const [name, value] of set) {
      const source = item.keySources.get(name) ?? item.problemAt;
      yield {
        name,
        value,
        set: i,
        at: (m, part) => source(part === "name" ? m : `set ${i}: ${m}`),
      };
    }
  }
}

/** The index of `key` in `list`, adding `item()` to it the first time. */
function indexOf<T>(indexes: Map<string, number>, key: string, list: T[], item: () => T): number {
  let i = indexes.get(key);
  if (i === undefined) {
    i = list.push(item()) - 1;
    indexes.set(key, i);
  }
  return i;
}

/** The question for the entrypoint, each name, pair and set of option variables once. */
class Question {
  readonly request = {
    names: [] as string[],
    values: [] as [string, string][],
    sets: [] as number[][],
    setNames: [] as string[],
    plainEnv: [] as string[],
  };
  private readonly nameIndexes = new Map<string, number>();
  private readonly setNameIndexes = new Map<string, number>();
  private readonly pairIndexes = new Map<string, number>();
  private readonly setIndexes = new Map<string, number>();
  /** Each option's variable names -> whether the set rules read its value, not only its name. */
  private readonly options: ReadonlyMap<string, boolean>;

  constructor(desc: ScriptDescription) {
    this.request.plainEnv.push(...(desc.plainEnv ?? []));
    this.options = new Map(
      desc.options.flatMap((o) => {
        // Flags, counts and lists can leave an option off; two names can disagree.
        const readsValue = o.kind !== "value" || o.action === "count" || o.aliases.length > 0;
        return [o.env, ...o.aliases].map((n) => [n, readsValue] as const);
      }),
    );
  }

  name(name: string): number {
    return indexOf(this.nameIndexes, name, this.request.names, () => name);
  }

  setName(name: string): number {
    return indexOf(this.setNameIndexes, name, this.request.setNames, () => name);
  }

  pair(name: string, value: string): number {
    const key = `${name}\u0000${value}`;
    return indexOf(this.pairIndexes, key, this.request.values, () => [name, value]);
  }

  /**
   * The set of `vars` (name -> pair index): the sets of a grid that differ only in values
   * the set rules do not read are one set.
   */
  private set(vars: ReadonlyMap<string, number>): number {
    let key = "";
    const pairs: number[] = [];
    for (const [name, pair] of vars) {
      const readsValue = this.options.get(name);
      if (readsValue !== undefined && pair >= 0) {
        key += readsValue ? `${pair}\u0000` : `${name}\u0001`;
        pairs.push(pair);
      }
    }
    return indexOf(this.setIndexes, key, this.request.sets, () => pairs);
  }

  /**
   * Asks about every variable of `item`; returns the index of each set of it (by sweep set
   * number, or the job's environment first), none for a file that failed the schema.
   */
  add(item: Item | JsonDocument): number[] {
    const own = new Map<string, number>();
    const sets: number[] = [];
    let vars: Map<string, number> | undefined;
    let current = -1;
    if ("kind" in item && item.kind === "sweep") {
      for (const name of item.keySources.keys()) {
        this.setName(name);
      }
    }
    for (const v of variablesOf(item)) {
      this.name(v.name);
      const pair = v.value === undefined ? -1 : this.pair(v.name, v.value);
      if (v.set === undefined) {
        if (!own.has(v.name)) {
          own.set(v.name, pair);
        }
        continue;
      }
      if (v.set !== current) {
        if (vars !== undefined) {
          sets[current] = this.set(vars);
        }
        current = v.set;
        // The base comes first in the walk, so it is complete by the first set.
        vars = new Map(own);
      }
      vars?.set(v.name, pair);
    }
    if (vars !== undefined) {
      sets[current] = this.set(vars);
    }
    if ("kind" in item && item.kind === "job") {
      sets.push(this.set(own));
    }
    return sets;
  }
}

/** The answers about one item, put where its variables were written. */
class Located {
  readonly problems: Problem[] = [];
  private readonly own = new Map<string, WrittenVariable>();
  private shown = 0;
  private more = 0;

  constructor(
    private readonly question: Question,
    private readonly answer: CheckAnswer,
  ) {}

  /** A problem of a sweep's sets: shown while there are few, past that only counted. */
  private setProblem(problem: () => Problem): void {
    if (this.shown++ < SHOWN_SET_PROBLEMS) {
      this.problems.push(problem());
    } else {
      this.more++;
    }
  }

  /** Each variable's name and value, and a name set twice in one environment. */
  variables(item: Item | JsonDocument): void {
    const namedKeys = new Set<string>();
    for (const v of variablesOf(item)) {
      const nameProblem = this.answer.names[this.question.name(v.name)];
      const valueProblems =
        v.value === undefined ? [] : this.answer.values[this.question.pair(v.name, v.value)];
      if (v.set !== undefined) {
        if (nameProblem !== null && !namedKeys.has(v.name)) {
          namedKeys.add(v.name);
          this.problems.push(v.at(nameProblem, "name"));
        }
        valueProblems.forEach((m) => this.setProblem(() => v.at(m, "value")));
        continue;
      }
      if (nameProblem !== null) {
        this.problems.push(v.at(nameProblem, "name"));
      }
      this.problems.push(...valueProblems.map((m) => v.at(m, "value")));
      if (this.own.has(v.name)) {
        this.problems.push(v.at(`"${v.name}" is set twice; keep one of them`, "name"));
      } else {
        this.own.set(v.name, v);
      }
    }
  }

  /** A job's environment as a whole: required options, two names for one option, groups. */
  job(job: LoadedJob, set: number): void {
    const { missing, problems } = this.answer.sets[set];
    for (const message of missing) {
      this.problems.push(problemAt(job.doc, ENVIRONMENT, message));
    }
    for (const p of problems) {
      const v = p.name !== undefined ? this.own.get(p.name) : undefined;
      this.problems.push(v?.at(p.message, "value") ?? problemAt(job.doc, ENVIRONMENT, p.message));
    }
  }

  /** Each set of a sweep over its base; a required option some sets lack, once. */
  sweep(sweep: LoadedSweep, sets: readonly number[], array: boolean): void {
    if (array && sweep.sets.length >= ARRAY_MIN_SIZE) {
      for (const [name, source] of sweep.keySources) {
        const problem = this.answer.setNames[this.question.setName(name)];
        if (problem !== null) {
          this.problems.push(source(problem));
        }
      }
    }
    const lacking = new Map<string, number[]>();
    sets.forEach((s, setNumber) => {
      for (const p of this.answer.sets[s].problems) {
        const source =
          (p.name !== undefined ? sweep.keySources.get(p.name) : undefined) ?? sweep.problemAt;
        this.setProblem(() => source(`set ${setNumber}: ${p.message}`));
      }
      for (const message of this.answer.sets[s].missing) {
        const list = lacking.get(message) ?? [];
        list.push(setNumber);
        lacking.set(message, list);
      }
    });
    if (this.more > 0) {
      this.problems.push(sweep.problemAt(`... and ${this.more} more problems in other sets`));
    }
    for (const [message, indexes] of lacking) {
      const where = whichSets(indexes, sweep.sets.length);
      const fix = `in the sweep or in base.containerOverrides.environment (not set in ${where})`;
      this.problems.push(sweep.problemAt(`${message} ${fix}`));
    }
  }
}

/**
 * Every problem of the items' variables, located, and a note for each option whose values
 * were not checked. `invalid` are the files that failed the schema: their names and values
 * are checked one by one. `array`: false with --no-array (one job per set of a sweep).
 */
export async function checkVariables(
  items: readonly (Item | JsonDocument)[],
  desc: ScriptDescription,
  ask: (request: CheckRequest) => Promise<CheckAnswer>,
  invalid: readonly JsonDocument[] = [],
  array = true,
): Promise<{ problems: Problem[]; notes: string[] }> {
  const question = new Question(desc);
  const all = [...items, ...invalid];
  const sets = all.map((item) => question.add(item));
  const answer = await ask(question.request);
  return {
    problems: [
      ...answer.plainEnv.map((message) => ({ message })),
      ...all.flatMap((item, i) => {
        const located = new Located(question, answer);
        located.variables(item);
        if ("kind" in item && item.kind === "job") {
          located.job(item, sets[i][0]);
        } else if ("kind" in item) {
          located.sweep(item, sets[i], array);
        }
        return located.problems;
      }),
    ],
    notes: answer.skipped.map(
      (s) => `note: values of "${s.option}" were not checked before submission: ${s.reason}`,
    ),
  };
}

/** Runs `python3 container/run_job.py --check-values [--script S] [--script-options FILE]`. */
export async function checkValuesWithPython(
  repoRoot: string,
  script: string | undefined,
  request: CheckRequest,
  scriptOptions?: string,
): Promise<CheckAnswer> {
  const input = JSON.stringify(request);
  const text = await runProbe(repoRoot, "--check-values", input, script, scriptOptions);
  const answer = jsonValue(text);
  if (answer === undefined) {
    const shown = "python3 container/run_job.py --check-values";
    throw new FatalError(`\`${shown}\` printed no JSON: ${text.slice(0, 200)}`);
  }
  return answer.value as CheckAnswer;
}
