/**
 * Which script of container/job/ each job runs (the entrypoint finds it the same way), its
 * options as the entrypoint reads them from argparse (`run_job.py --describe`), and every
 * variable of every job and sweep, judged by the entrypoint (container/batchpy_job/values.py)
 * once per distinct name, (name, value) pair and set of option names, and located here: one
 * walk over an item's variables builds the question and, again, places each answer.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import { awaitedLater, FatalError, type Problem } from "../errors";
import {
  jsonOrFatal,
  jsonValue,
  problemAt,
  valueAt,
  type JsonDocument,
  type JsonPlace,
} from "./json-source";
import { ARRAY_MIN_SIZE } from "./derived-names";
import { whichSets, type Loaded, type LoadedSweep } from "./sweep";

/** A JsonDocument: a file that failed the schema. */
export type Checked = Loaded | JsonDocument;

/** None for a bare CSV sweep. */
export function fieldsSource(item: Checked): JsonPlace | undefined {
  if (!("kind" in item)) {
    return { doc: item, path: [] };
  }
  return item.kind === "job" ? { doc: item.doc, path: [] } : item.baseAt;
}

/** By absolute path; undefined for the default (--script-file, else script.py). */
export function byScript(items: readonly Checked[], repoRoot: string) {
  const folder = path.join(repoRoot, "container", "job");
  const groups = new Map<string | undefined, Checked[]>([[undefined, []]]);
  const problems: Problem[] = [];
  for (const item of items) {
    const source = fieldsSource(item);
    const at = [...(source?.path ?? []), "script"];
    const name = source !== undefined ? valueAt(source.doc.value, at) : undefined;
    const file = typeof name === "string" ? path.join(folder, name) : undefined;
    const isFile = file !== undefined && fs.statSync(file, { throwIfNoEntry: false })?.isFile();
    if (source !== undefined && file !== undefined && (path.basename(file) !== name || !isFile)) {
      const scripts = fs.readdirSync(folder).filter((f) => f.endsWith(".py"));
      const message =
        `${JSON.stringify(name)} is not a file directly under container/job/, whose scripts ` +
        `are ${scripts.sort().join(", ")}: name one of them, or add the file there`;
      problems.push(problemAt(source.doc, at, message));
    } else {
      groups.set(file, [...(groups.get(file) ?? []), item]);
    }
  }
  return { groups, problems };
}

const optionSchema = z.looseObject({
  env: z.string().min(1),
  /** Other names that select the same option (its argparse dest). */
  aliases: z.array(z.string()).default([]),
  flag: z.string(),
  kind: z.enum(["value", "flag", "list"]),
  required: z.boolean(),
  /** argparse action name, e.g. "store", "count", "boolean_optional". */
  action: z.string().optional(),
});

const describeSchema = z.looseObject({
  script: z.string(),
  options: z.array(optionSchema),
  /** Mutually exclusive groups, by option env name. */
  groups: z
    .array(z.looseObject({ required: z.boolean(), options: z.array(z.string()) }))
    .default([]),
});

export type ScriptDescription = z.infer<typeof describeSchema> & {
  /** Names the user declared plain environment (`jobs:submit --plain-env`). */
  readonly plainEnv?: ReadonlySet<string>;
};

export function parseDescription(text: string, source: string): ScriptDescription {
  const value = jsonOrFatal(
    text,
    (why) => `${source} did not print JSON (${why}): ${text.slice(0, 200)}`,
  );
  const parsed = describeSchema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new FatalError(
      `${source} printed an unexpected description (${first?.path.join(".")}: ${first?.message}); ` +
        `expected {"script": ..., "options": [{"env", "flag", "kind", "required"}]}`,
    );
  }
  return parsed.data;
}

export interface CheckAnswer {
  readonly plainEnv: readonly string[];
  readonly names: readonly (string | null)[];
  readonly values: readonly (readonly string[])[];
  readonly sets: readonly {
    readonly problems: readonly { readonly name?: string; readonly message: string }[];
    readonly missing: readonly string[];
  }[];
  readonly setNames: readonly (string | null)[];
  readonly skipped: readonly { readonly option: string; readonly reason: string }[];
}

/** One script's process: its options, then one request. */
export type ScriptProbe = ReturnType<typeof probeScript>;

/** `jobs:submit --script-options FILE`, read. */
export type SavedDescription = { readonly file: string; readonly description: ScriptDescription };

const ENVIRONMENT = ["containerOverrides", "environment"] as const;

/** Problems of a sweep's sets shown one by one; the rest are counted. */
const SHOWN_SET_PROBLEMS = 10;

/**
 * A job's (or a sweep base's) own environment; in a file that failed the schema, each named
 * entry, its value undefined where it is not a string.
 */
function variablesOf(item: Checked) {
  const source = fieldsSource(item);
  if (source === undefined) {
    return [];
  }
  const list = [...source.path, ...ENVIRONMENT];
  const env = valueAt(source.doc.value, list);
  return (Array.isArray(env) ? env : []).flatMap((entry: unknown, i) => {
    const { name, value } = (entry ?? {}) as { name?: unknown; value?: unknown };
    const text = typeof value === "string" ? value : undefined;
    const at = (m: string, part: "name" | "value") => problemAt(source.doc, [...list, i, part], m);
    return typeof name === "string" ? [{ name, value: text, at }] : [];
  });
}

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

function question(desc: ScriptDescription) {
  // `sets` index `values`; `setNames` are the names the sets of sweeps vary.
  const request = {
    names: [] as string[],
    values: [] as [string, string][],
    sets: [] as number[][],
    setNames: [] as string[],
    plainEnv: [...(desc.plainEnv ?? [])],
  };
  const [nameAt, setNameAt] = [indexer(request.names), indexer(request.setNames)];
  const [pairAt, setAt] = [indexer(request.values), indexer(request.sets)];
  // Whether the set rules read a variable's value, not only its name: flags, counts and lists
  // can leave an option off; two names can disagree.
  const readsValue = new Map<string, boolean>();
  for (const o of desc.options) {
    const reads = o.kind !== "value" || o.action === "count" || o.aliases.length > 0;
    [o.env, ...o.aliases].forEach((name) => readsValue.set(name, reads));
  }
  return {
    request,
    name: (name: string) => nameAt(name, () => name),
    setName: (name: string) => setNameAt(name, () => name),
    pair: (name: string, value: string) => pairAt(`${name}\u0000${value}`, () => [name, value]),
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
      return setAt(key, () => chosen);
    },
  };
}

type Question = ReturnType<typeof question>;
export type CheckRequest = Question["request"];

/** The request's set index of each sweep set, or of the job's environment. */
function ask(q: Question, item: Checked): number[] {
  const own = new Map<string, number>();
  for (const v of variablesOf(item)) {
    q.name(v.name);
    const pair = v.value === undefined ? -1 : q.pair(v.name, v.value);
    own.set(v.name, own.get(v.name) ?? pair);
  }
  if (!("kind" in item)) {
    return [];
  }
  if (item.kind === "job") {
    return [q.set(own)];
  }
  for (const name of item.keySources.keys()) {
    q.name(name);
    q.setName(name);
  }
  return item.sets.map((set) => {
    const vars = new Map(own);
    set.forEach((value, name) => vars.set(name, q.pair(name, value)));
    return q.set(vars);
  });
}

/** The problems of an item's own environment, then of a job's as a whole or a sweep's sets. */
function locate(
  q: Question,
  answer: CheckAnswer,
  item: Checked,
  sets: readonly number[],
  array: boolean,
): Problem[] {
  const problems: Problem[] = [];
  const own = new Map<string, ReturnType<typeof variablesOf>[number]>();
  for (const v of variablesOf(item)) {
    const nameProblem = answer.names[q.name(v.name)];
    problems.push(...(nameProblem !== null ? [v.at(nameProblem, "name")] : []));
    const valueProblems = v.value === undefined ? [] : answer.values[q.pair(v.name, v.value)];
    problems.push(...valueProblems.map((m) => v.at(m, "value")));
    if (own.has(v.name)) {
      problems.push(v.at(`"${v.name}" is set twice; keep one of them`, "name"));
    } else {
      own.set(v.name, v);
    }
  }
  if (!("kind" in item)) {
    return problems;
  }
  if (item.kind === "sweep") {
    return [...problems, ...locateSets(q, answer, item, sets, array)];
  }
  // The environment as a whole: required options, two names for one option, groups.
  const { missing, problems: found } = answer.sets[sets[0]];
  const whole = (message: string) => problemAt(item.doc, ENVIRONMENT, message);
  const placed = found.map(
    (p) => own.get(p.name ?? "")?.at(p.message, "value") ?? whole(p.message),
  );
  return [...problems, ...missing.map(whole), ...placed];
}

/** A sweep's names, then its sets' values and the sets as wholes, the first few one by one. */
function locateSets(
  q: Question,
  answer: CheckAnswer,
  item: LoadedSweep,
  sets: readonly number[],
  array: boolean,
): Problem[] {
  const problems: Problem[] = [];
  const arrayJob = array && item.sets.length >= ARRAY_MIN_SIZE;
  for (const [name, source] of item.keySources) {
    const found = [answer.names[q.name(name)], arrayJob ? answer.setNames[q.setName(name)] : null];
    problems.push(...found.flatMap((p) => (p !== null ? [source(p)] : [])));
  }
  let shown = 0;
  const setProblem = (name: string | undefined, setNumber: number, message: string) => {
    if (shown++ < SHOWN_SET_PROBLEMS) {
      const source = item.keySources.get(name ?? "") ?? item.problemAt;
      problems.push(source(`set ${setNumber}: ${message}`, setNumber));
    }
  };
  item.sets.forEach((set, setNumber) =>
    set.forEach((value, name) =>
      answer.values[q.pair(name, value)].forEach((m) => setProblem(name, setNumber, m)),
    ),
  );
  // A required option some sets lack is one problem.
  const lacking = new Map<string, number[]>();
  sets.forEach((s, setNumber) => {
    answer.sets[s].problems.forEach((p) => setProblem(p.name, setNumber, p.message));
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

/** A file that failed the schema (a JsonDocument) still has its names and values checked. */
export async function checkVariables(
  items: readonly Checked[],
  desc: ScriptDescription,
  asked: (request: CheckRequest) => Promise<CheckAnswer>,
  array = true,
): Promise<{ problems: Problem[]; notes: string[] }> {
  const q = question(desc);
  const sets = items.map((item) => ask(q, item));
  const answer = await asked(q.request);
  return {
    problems: [
      ...answer.plainEnv.map((message) => ({ message })),
      ...items.flatMap((item, i) => locate(q, answer, item, sets[i], array)),
    ],
    notes: answer.skipped.map(
      (s) => `note: values of "${s.option}" were not checked before submission: ${s.reason}`,
    ),
  };
}

const SHOWN = "python3 container/run_job.py --check-values";
/** How long a script may take to reach parse_args(), where its description is printed. */
const DESCRIBE_TIMEOUT_MS = 30_000;

/**
 * Starts `run_job.py --check-values`, while the job files load: it describes the script (unless
 * `saved` does), then checks the one request it reads on stdin.
 */
export function probeScript(root: string, script: string | undefined, saved?: SavedDescription) {
  const argv = [
    path.join(root, "container", "run_job.py"),
    "--check-values",
    ...(script !== undefined ? ["--script", script] : []),
    ...(saved !== undefined ? ["--script-options", saved.file] : []),
  ];
  const child = spawn("python3", argv, { cwd: root, stdio: "pipe" });
  // A process that exits before its input is written (a bad script) closes stdin under us.
  child.stdin.on("error", () => undefined);
  let [stdout, stderr] = ["", ""];
  child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text));
  child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  const ended = new Promise<string>((resolve, reject) => {
    child.on("error", (err) => {
      const why = `could not run \`${SHOWN}\` to check the job files' variables (${err.message})`;
      reject(new FatalError(`${why}; install python3`));
    });
    child.on("close", (code) =>
      code === 0
        ? resolve(stdout)
        : reject(new FatalError(`\`${SHOWN}\` exited ${code}: ${stderr.trim() || stdout.trim()}`)),
    );
  });
  const timer = setTimeout(() => child.kill(), DESCRIBE_TIMEOUT_MS);
  const firstLine = new Promise<string>((resolve, reject) => {
    const look = () => stdout.includes("\n") && resolve(stdout.slice(0, stdout.indexOf("\n")));
    child.stdout.on("data", look);
    void ended.then((out) => resolve(out.split("\n")[0]), reject);
  });
  // Nobody may ask (a saved description); `ended` is handled through `firstLine`.
  const described = awaitedLater(firstLine.finally(() => clearTimeout(timer)));
  return {
    description: async (): Promise<ScriptDescription> =>
      saved?.description ?? parseDescription(await described, `\`${SHOWN}\``),
    check: async (request: CheckRequest) => {
      child.stdin.end(JSON.stringify(request));
      const out = await ended;
      const text = saved === undefined ? out.slice(out.indexOf("\n") + 1) : out;
      const answer = jsonValue(text);
      if (answer === undefined) {
        throw new FatalError(`\`${SHOWN}\` printed no JSON: ${text.slice(0, 200)}`);
      }
      return answer.value as CheckAnswer;
    },
    stop: () => {
      clearTimeout(timer);
      child.kill();
    },
  };
}
