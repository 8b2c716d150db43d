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
import { parseDescription, startProbe, type ScriptDescription } from "./script-options";
import { fieldsSource } from "./scripts";
import { whichSets, type LoadedSweep } from "./sweep";

/** What `run_job.py --check-values` is asked; `sets` index `values`. */
export interface CheckRequest {
  readonly names: string[];
  readonly values: [string, string][];
  readonly sets: number[][];
  /** The names the sets of sweeps vary. */
  readonly setNames: string[];
  readonly plainEnv: string[];
}

/** Its answer, in the request's order: a name's problem, a pair's, a set's. */
export interface CheckAnswer {
  readonly plainEnv: readonly string[];
  readonly names: readonly (string | null)[];
  readonly values: readonly (readonly string[])[];
  readonly sets: readonly {
    readonly problems: readonly { readonly name?: string; readonly message: string }[];
    readonly missing: readonly string[];
  }[];
  readonly setNames: readonly (string | null)[];
  /** Options whose values the script's own types did not check, and why. */
  readonly skipped: readonly { readonly option: string; readonly reason: string }[];
}

/** The entrypoint asked about one script, in one process: its options, then one request. */
export interface ScriptProbe {
  description(): Promise<ScriptDescription>;
  check(request: CheckRequest): Promise<CheckAnswer>;
  /** Stops the process, if it still runs (nothing to ask after all). */
  stop(): void;
}

/** A saved `run_job.py --describe` answer (`jobs:submit --script-options FILE`), read. */
export interface SavedDescription {
  readonly file: string;
  readonly description: ScriptDescription;
}

/** One variable as a file writes it, and where to report its name or its value. */
interface WrittenVariable {
  readonly name: string;
  /** Undefined in a file that failed the schema, where the value is not a string. */
  readonly value: string | undefined;
  readonly at: (message: string, part: "name" | "value") => Problem;
  /** The sweep set it belongs to; undefined in a job's (or a sweep base's) own environment. */
  readonly set?: number;
}

type Item = LoadedJob | LoadedSweep | JsonDocument;

const ENVIRONMENT = ["containerOverrides", "environment"] as const;

/** At most this many problems of a sweep's sets are shown one by one; the rest are counted. */
const SHOWN_SET_PROBLEMS = 10;

/**
 * Every variable an item sets, with where it was written: a job's environment, a sweep's
 * base and then each of its sets, and in a file that failed the schema every entry that
 * still has a string name, so a schema error does not hide a bad name or value.
 */
function* variablesOf(item: Item): Generator<WrittenVariable> {
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
  if ("kind" in item && item.kind === "sweep") {
    for (const [set, vars] of item.sets.entries()) {
      for (const [name, value] of vars) {
        const source = item.keySources.get(name) ?? item.problemAt;
        yield {
          name,
          value,
          set,
          at: (m, part) => source(part === "name" ? m : `set ${set}: ${m}`),
        };
      }
    }
  }
}

/** `index(key, item)`: where `key` is in `list`, appending `item()` the first time. */
function indexer<T>(list: T[]): (key: string, item: () => T) => number {
  const indexes = new Map<string, number>();
  return (key, item) => {
    let i = indexes.get(key);
    if (i === undefined) {
      i = list.push(item()) - 1;
      indexes.set(key, i);
    }
    return i;
  };
}

/** The question for the entrypoint, each name, pair and set of option variables once. */
function question(desc: ScriptDescription) {
  const request: CheckRequest = {
    names: [],
    values: [],
    sets: [],
    setNames: [],
    plainEnv: [...(desc.plainEnv ?? [])],
  };
  const [names, pairs, sets, setNames] = [
    indexer(request.names),
    indexer(request.values),
    indexer(request.sets),
    indexer(request.setNames),
  ];
  // Each option's variable names -> whether the set rules read its value, not only its
  // name: flags, counts and lists can leave an option off; two names can disagree.
  const readsValue = new Map(
    desc.options.flatMap((o) =>
      [o.env, ...o.aliases].map(
        (n) => [n, o.kind !== "value" || o.action === "count" || o.aliases.length > 0] as const,
      ),
    ),
  );
  return {
    request,
    name: (name: string) => names(name, () => name),
    setName: (name: string) => setNames(name, () => name),
    pair: (name: string, value: string) => pairs(`${name}\u0000${value}`, () => [name, value]),
    /** The sets of a grid that differ only in values the set rules do not read are one set. */
    set(vars: ReadonlyMap<string, number>): number {
      let key = "";
      const chosen: number[] = [];
      for (const [name, pair] of vars) {
        const reads = readsValue.get(name);
        if (reads !== undefined && pair >= 0) {
          key += reads ? `${pair}\u0000` : `${name}\u0001`;
          chosen.push(pair);
        }
      }
      return sets(key, () => chosen);
    },
  };
}

type Question = ReturnType<typeof question>;

/**
 * Asks about every variable of `item`; returns the index of each set of it (by sweep set
 * number, or the job's environment), none for a file that failed the schema.
 */
function ask(q: Question, item: Item): number[] {
  const own = new Map<string, number>();
  const sets: number[] = [];
  let current: { set: number; vars: Map<string, number> } | undefined;
  const close = () => {
    if (current !== undefined) {
      sets[current.set] = q.set(current.vars);
    }
  };
  for (const v of variablesOf(item)) {
    q.name(v.name);
    const pair = v.value === undefined ? -1 : q.pair(v.name, v.value);
    if (v.set === undefined) {
      own.set(v.name, own.get(v.name) ?? pair);
    } else {
      if (current?.set !== v.set) {
        close();
        // The base comes first in the walk, so it is complete by the first set.
        current = { set: v.set, vars: new Map(own) };
      }
      current.vars.set(v.name, pair);
    }
  }
  close();
  if (!("kind" in item)) {
    return [];
  }
  if (item.kind === "sweep") {
    [...item.keySources.keys()].forEach(q.setName);
    return sets;
  }
  return [q.set(own)];
}

/**
 * Each variable's name and value problems, and a name set twice in one environment; returns
 * the item's own environment by name.
 */
function locateVariables(
  q: Question,
  answer: CheckAnswer,
  item: Item,
  problems: Problem[],
  setProblem: (problem: () => Problem) => void,
): Map<string, WrittenVariable> {
  const own = new Map<string, WrittenVariable>();
  const named = new Set<string>();
  for (const v of variablesOf(item)) {
    const nameProblem = answer.names[q.name(v.name)];
    const valueProblems = v.value === undefined ? [] : answer.values[q.pair(v.name, v.value)];
    if (nameProblem !== null && !named.has(v.name)) {
      problems.push(v.at(nameProblem, "name"));
    }
    if (v.set !== undefined) {
      named.add(v.name);
      valueProblems.forEach((m) => setProblem(() => v.at(m, "value")));
      continue;
    }
    problems.push(...valueProblems.map((m) => v.at(m, "value")));
    if (own.has(v.name)) {
      problems.push(v.at(`"${v.name}" is set twice; keep one of them`, "name"));
    } else {
      own.set(v.name, v);
    }
  }
  return own;
}

/** The answers about one item, put where its variables were written. */
function locate(
  q: Question,
  answer: CheckAnswer,
  item: Item,
  sets: readonly number[],
  array: boolean,
): Problem[] {
  const problems: Problem[] = [];
  let shown = 0;
  // A problem of a sweep's sets: shown while there are few, past that only counted.
  const setProblem = (problem: () => Problem) => {
    if (shown++ < SHOWN_SET_PROBLEMS) {
      problems.push(problem());
    }
  };
  const own = locateVariables(q, answer, item, problems, setProblem);
  if (!("kind" in item)) {
    return problems;
  }
  if (item.kind === "job") {
    // The environment as a whole: required options, two names for one option, groups.
    const { missing, problems: found } = answer.sets[sets[0]];
    const whole = (message: string) => problemAt(item.doc, ENVIRONMENT, message);
    problems.push(...missing.map(whole));
    for (const p of found) {
      problems.push(own.get(p.name ?? "")?.at(p.message, "value") ?? whole(p.message));
    }
    return problems;
  }
  if (array && item.sets.length >= ARRAY_MIN_SIZE) {
    for (const [name, source] of item.keySources) {
      const problem = answer.setNames[q.setName(name)];
      problems.push(...(problem !== null ? [source(problem)] : []));
    }
  }
  // Each set over its base; a required option some sets lack, once.
  const lacking = new Map<string, number[]>();
  sets.forEach((s, setNumber) => {
    for (const p of answer.sets[s].problems) {
      const source = item.keySources.get(p.name ?? "") ?? item.problemAt;
      setProblem(() => source(`set ${setNumber}: ${p.message}`));
    }
    for (const message of answer.sets[s].missing) {
      const list = lacking.get(message) ?? [];
      lacking.set(message, list);
      list.push(setNumber);
    }
  });
  if (shown > SHOWN_SET_PROBLEMS) {
    const more = shown - SHOWN_SET_PROBLEMS;
    problems.push(item.problemAt(`... and ${more} more problems in other sets`));
  }
  for (const [message, indexes] of lacking) {
    const where = whichSets(indexes, item.sets.length);
    const fix = `in the sweep or in base.containerOverrides.environment (not set in ${where})`;
    problems.push(item.problemAt(`${message} ${fix}`));
  }
  return problems;
}

/**
 * Every problem of the items' variables, located, and a note for each option whose values
 * were not checked. `invalid` are the files that failed the schema: their names and values
 * are checked one by one. `array`: false with --no-array (one job per set of a sweep).
 */
export async function checkVariables(
  items: readonly Item[],
  desc: ScriptDescription,
  asked: (request: CheckRequest) => Promise<CheckAnswer>,
  invalid: readonly JsonDocument[] = [],
  array = true,
): Promise<{ problems: Problem[]; notes: string[] }> {
  const q = question(desc);
  const all = [...items, ...invalid];
  const sets = all.map((item) => ask(q, item));
  const answer = await asked(q.request);
  return {
    problems: [
      ...answer.plainEnv.map((message) => ({ message })),
      ...all.flatMap((item, i) => locate(q, answer, item, sets[i], array)),
    ],
    notes: answer.skipped.map(
      (s) => `note: values of "${s.option}" were not checked before submission: ${s.reason}`,
    ),
  };
}

/**
 * Starts `python3 container/run_job.py --check-values [--script S]`, which describes the script
 * and then checks one request; with `saved`, the check is against that description instead.
 */
export function probeScript(
  repoRoot: string,
  script: string | undefined,
  saved?: SavedDescription,
): ScriptProbe {
  const probe = startProbe(repoRoot, script, saved?.file);
  const shown = "python3 container/run_job.py --check-values";
  return {
    description: async () =>
      saved?.description ?? parseDescription(await probe.firstLine(), `\`${shown}\``),
    check: async (request) => {
      const text = await probe.finish(JSON.stringify(request));
      const answer = jsonValue(text);
      if (answer === undefined) {
        throw new FatalError(`\`${shown}\` printed no JSON: ${text.slice(0, 200)}`);
      }
      return answer.value as CheckAnswer;
    },
    stop: probe.stop,
  };
}
