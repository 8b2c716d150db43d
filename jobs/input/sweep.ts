/**
 * Sweeps (docs/jobs.md): a CSV/TSV file, or a JSON file of `grid`, `zip` and `rows` blocks.
 * Blocks combine as a product, rows outermost and the last grid key fastest, so set numbers
 * are stable for a given file.
 */
import * as path from "path";
import { parse as parseCsv } from "csv-parse/sync";
import { z } from "zod";
import type { Problem } from "../errors";
import {
  checkJobName,
  defaultJobName,
  fileJobName,
  schemaProblems,
  submitJobSchema,
  type JobFileFields,
} from "./job-file";
import {
  parseJsonDocument,
  problemAt,
  valueAt,
  type JsonDocument,
  type JsonPath,
  type JsonPlace,
} from "./json-source";
import { formatNumber } from "../output/numbers";

/** Beyond this a sweep is almost certainly a mistake. */
const MAX_SWEEP_SETS = 1_000_000;

/** One set of variables: a Map, since `__proto__` or `constructor` are fine option names. */
export type ParameterSet = ReadonlyMap<string, string>;
type Scalar = string | number | boolean;

/** Locates a problem of one sweep key where it is declared. */
type KeySource = (message: string) => Problem;

export interface LoadedSweep {
  readonly kind: "sweep";
  readonly file: string;
  readonly jobName: string;
  /** SubmitJob fields every set shares (no jobName or arrayProperties). */
  readonly base: JobFileFields;
  /** Where `base` is written; none for a bare CSV/TSV sweep. */
  readonly baseAt?: JsonPlace;
  readonly sets: readonly ParameterSet[];
  /** CSV/TSV files this sweep reads (absolute), so they are not also run alone. */
  readonly consumedFiles: readonly string[];
  readonly keySources: ReadonlyMap<string, KeySource>;
  /** A problem of the whole sweep, located at the top of its file. */
  readonly problemAt: (message: string) => Problem;
}

type SweepResult = { sweep?: LoadedSweep; problems: Problem[] };

/** A file's text, or undefined when it does not exist. */
export type ReadFile = (absolutePath: string) => string | undefined;

export function isSweepValue(value: unknown): boolean {
  return (
    value !== null &&
    typeof value === "object" &&
    !Array.isArray(value) &&
    ["grid", "zip", "rows"].some((k) => k in (value as object))
  );
}

/** A sweep block: variable name -> its values. */
type Block = ReadonlyMap<string, readonly Scalar[]>;

/** Every combination, the last key fastest (like itertools.product), without a Map per step. */
export function expandGrid(grid: Block): ParameterSet[] {
  const entries = [...grid].map(([k, values]) => [k, values.map(String)] as const);
  const total = entries.reduce((n, [, v]) => n * v.length, 1);
  const sets: ParameterSet[] = [];
  for (let n = 0; n < total; n++) {
    const set: [string, string][] = new Array(entries.length);
    let rest = n;
    for (let k = entries.length - 1; k >= 0; k--) {
      const values = entries[k][1];
      set[k] = [entries[k][0], values[rest % values.length]];
      rest = Math.floor(rest / values.length);
    }
    sets.push(new Map(set));
  }
  return sets;
}

/** Paired by position, as many sets as the shortest list has values. */
export function expandZip(zip: Block): ParameterSet[] {
  const entries = [...zip];
  const n = entries.length > 0 ? Math.min(...entries.map(([, v]) => v.length)) : 0;
  return Array.from({ length: n }, (_, i) => new Map(entries.map(([k, v]) => [k, String(v[i])])));
}

/** Cartesian product of blocks, first block outermost. */
export function combineBlocks(blocks: readonly (readonly ParameterSet[])[]): ParameterSet[] {
  return blocks.reduce<ParameterSet[]>(
    (sets, block) =>
      sets.flatMap((a) => block.map((b) => (a.size === 0 ? b : new Map([...a, ...b])))),
    [new Map()],
  );
}

type Header = { name: string; column: number }[];

/** CSV/TSV rows (header row first): the sets, and each header's 1-based column on line 1. */
export function parseRows(
  file: string,
  text: string,
  delimiter: "," | "\t",
): { sets: ParameterSet[]; header: Header; problems: Problem[] } {
  const records = readRecords(file, text, delimiter);
  if (!Array.isArray(records) || records.length === 0) {
    const empty = {
      file,
      line: 1,
      message: "empty file: expected a header row and at least one row",
    };
    return { sets: [], header: [], problems: [Array.isArray(records) ? empty : records] };
  }
  const starts = fieldStarts(text.replace(/^\uFEFF/, ""), delimiter);
  const header = records[0].map((name, i) => ({ name, column: (starts[i] ?? 0) + 1 }));
  const problems = headerProblems(file, header);
  if (records.length === 1 && problems.length === 0) {
    problems.push({ file, line: 2, message: "no rows under the header: nothing to run" });
  }
  const sets: ParameterSet[] = records
    .slice(1)
    .map((row) => new Map(header.map((h, i) => [h.name, row[i] ?? ""])));
  return { sets, header, problems };
}

function readRecords(file: string, text: string, delimiter: "," | "\t"): string[][] | Problem {
  try {
    return parseCsv(text, {
      delimiter,
      bom: true,
      skip_empty_lines: true,
      relax_quotes: false,
    }) as string[][];
  } catch (err) {
    const e = err as Error & { lines?: number };
    return {
      file,
      line: e.lines,
      message: `invalid ${delimiter === "," ? "CSV" : "TSV"}: ${e.message}`,
    };
  }
}

/** Header names must be non-empty, trimmed and unique. */
function headerProblems(file: string, header: Header): Problem[] {
  const problems: Problem[] = [];
  const seen = new Set<string>();
  header.forEach((h, i) => {
    const at = { file, line: 1, column: h.column };
    if (h.name.trim() === "") {
      problems.push({ ...at, message: `header column ${i + 1} is empty; name it` });
    } else if (h.name !== h.name.trim()) {
      problems.push({ ...at, message: `header "${h.name}" has surrounding spaces; remove them` });
    } else if (seen.has(h.name)) {
      problems.push({ ...at, message: `header "${h.name}" appears twice; rename one` });
    }
    seen.add(h.name);
  });
  return problems;
}

/** 0-based start of each field on the first line, honouring quotes. */
function fieldStarts(text: string, delimiter: string): number[] {
  const starts = [0];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      quoted = !quoted;
    } else if (!quoted && c === delimiter) {
      starts.push(i + 1);
    } else if (!quoted && (c === "\n" || c === "\r")) {
      break;
    }
  }
  return starts;
}

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const blockValues = z.array(scalar).min(1);
const block = z.record(z.string(), blockValues);
const sweepSchema = z.strictObject({
  jobName: z.string().optional(),
  base: z.unknown().optional(),
  grid: block.optional(),
  zip: block.optional(),
  rows: z.union([z.string(), z.array(z.record(z.string(), scalar)).min(1)]).optional(),
});
const baseSchema = submitJobSchema.omit({ jobName: true, arrayProperties: true }).optional();

/** A sweep from a bare CSV/TSV file: the job is named after the file, fields from the stack. */
export function loadRowsSweep(file: string, absolutePath: string, text: string): SweepResult {
  const rows = rowsFile(file, absolutePath, text);
  const jobName = defaultJobName(file);
  const problems = [...rows.problems];
  const nameProblem = checkJobName(jobName);
  if (nameProblem !== undefined) {
    problems.push({
      file,
      message: `${nameProblem} (taken from the file name); rename the file or use a sweep JSON file with "rows"`,
    });
  }
  return loaded(problems, () => ({
    kind: "sweep",
    file,
    jobName,
    base: {},
    sets: rows.sets,
    consumedFiles: [absolutePath],
    problemAt: (message) => ({ file, line: 1, column: 1, message }),
    keySources: new Map(rows.sources),
  }));
}

/** A CSV/TSV file's rows (`parseRows`), and where each header is, to locate its problems. */
function rowsFile(shown: string, absolutePath: string, text: string) {
  const rows = parseRows(shown, text, absolutePath.toLowerCase().endsWith(".tsv") ? "\t" : ",");
  const sources = rows.header.map((h): [string, KeySource] => [
    h.name,
    (message) => ({ file: shown, line: 1, column: h.column, message }),
  ]);
  return { ...rows, sources };
}

/** The sweep, built only when nothing is wrong; else the problems. */
function loaded(problems: Problem[], sweep: () => LoadedSweep): SweepResult {
  return problems.length > 0 ? { problems } : { problems: [], sweep: sweep() };
}

/** A sweep's blocks as they are read: who declared each key, files read. */
interface Expansion {
  readonly doc: JsonDocument;
  readonly dir: string;
  readonly problems: Problem[];
  readonly keySources: Map<string, KeySource>;
  readonly consumedFiles: string[];
}

/** Validates a sweep JSON document and expands it into parameter sets. */
export function loadSweep(
  doc: JsonDocument,
  absolutePath: string,
  readFile: ReadFile,
): SweepResult {
  const problems = schemaProblems(doc, sweepSchema, doc.value);
  if (problems.length > 0) {
    return { problems };
  }
  const spec = sweepSchema.parse(doc.value);
  const dir = path.dirname(absolutePath);
  const { jobName, problem } = fileJobName(doc, spec.jobName);
  problems.push(...(problem !== undefined ? [problem] : []));
  const base = sweepBase(doc, spec.base, dir, readFile, problems);
  const x: Expansion = { doc, dir, problems, keySources: new Map(), consumedFiles: [] };
  const rows = typeof spec.rows === "string" ? fileRows(x, spec.rows, readFile) : inlineRows(x);
  const blocks = [rows, spec.zip !== undefined ? zipSets(x) : undefined].filter(
    (b) => b !== undefined,
  );
  // The grid is expanded last, only for a sweep within MAX_SWEEP_SETS.
  const grid = spec.grid !== undefined ? readBlock(x, "grid") : new Map<string, Scalar[]>();
  const expected = [
    ...blocks.map((b) => b.length),
    ...[...grid.values()].map((v) => v.length),
  ].reduce((n, k) => n * k, 1);
  if (expected > MAX_SWEEP_SETS) {
    const sets = formatNumber(expected);
    const limit = formatNumber(MAX_SWEEP_SETS);
    const message = `the sweep expands to ${sets} parameter sets; the limit per file is ${limit}`;
    problems.push(problemAt(doc, [], `${message}; split it into several sweep files`));
  }
  return loaded(problems, () => ({
    kind: "sweep",
    file: doc.file,
    jobName,
    ...base,
    sets: combineBlocks([...blocks, ...(grid.size > 0 ? [expandGrid(grid)] : [])]),
    consumedFiles: x.consumedFiles,
    keySources: x.keySources,
    problemAt: (message) => problemAt(doc, [], message),
  }));
}

/**
 * The fields a sweep's sets share, and where they are written: its `base` object, or the job
 * file `base` names, whose own jobName the sweep's replaces. `{}` when there is no base or
 * it has problems.
 */
function sweepBase(
  doc: JsonDocument,
  spec: unknown,
  dir: string,
  readFile: ReadFile,
  problems: Problem[],
): { base: JobFileFields; baseAt: JsonPlace } {
  const inline: JsonPlace = { doc, path: ["base"] };
  let baseAt = inline;
  if (typeof spec === "string") {
    const text = readFile(path.resolve(dir, spec));
    const parsed =
      text === undefined
        ? undefined
        : parseJsonDocument(path.join(path.dirname(doc.file), spec), text);
    if (parsed === undefined) {
      problems.push(problemAt(doc, ["base"], `file "${spec}" not found (looked in ${dir})`));
    }
    problems.push(...(parsed?.problems ?? []));
    if (parsed?.doc === undefined) {
      return { base: {}, baseAt };
    }
    baseAt = { doc: parsed.doc, path: [] };
  }
  const raw = valueAt(baseAt.doc.value, baseAt.path);
  const isObject = raw !== null && typeof raw === "object" && !Array.isArray(raw);
  const fromFile = baseAt === inline ? "" : " from the base job";
  const own = new Map([
    ["jobName", fromFile === "" ? "put jobName at the top level of the sweep file" : undefined],
    ["arrayProperties", `a sweep sets arrayProperties itself; remove it${fromFile}`],
  ]);
  for (const [key, why] of own) {
    if (isObject && key in raw && why !== undefined) {
      problems.push(problemAt(baseAt.doc, [...baseAt.path, key], why, { key: true }));
    }
  }
  const rest = isObject
    ? Object.fromEntries(Object.entries(raw).filter(([k]) => !own.has(k)))
    : raw;
  const found = schemaProblems(baseAt.doc, baseSchema, rest, baseAt.path);
  problems.push(...found);
  return { base: (found.length === 0 ? baseSchema.parse(rest) : undefined) ?? {}, baseAt };
}

/** Records which block declares `key`; a key declared by two blocks is a problem. */
function claim(x: Expansion, key: string, where: string, source: KeySource): void {
  if (x.keySources.has(key)) {
    x.problems.push(
      source(`"${key}" is also set by another block of this sweep (${where}); keep one`),
    );
  } else {
    x.keySources.set(key, source);
  }
}

function fileRows(x: Expansion, file: string, readFile: ReadFile): ParameterSet[] | undefined {
  const rowsPath = path.resolve(x.dir, file);
  const rowsText = readFile(rowsPath);
  if (!/\.(csv|tsv)$/i.test(rowsPath)) {
    x.problems.push(problemAt(x.doc, ["rows"], `"${file}" must be a .csv or .tsv file`));
    return undefined;
  }
  if (rowsText === undefined) {
    x.problems.push(problemAt(x.doc, ["rows"], `file "${file}" not found (looked in ${x.dir})`));
    return undefined;
  }
  const parsed = rowsFile(path.join(path.dirname(x.doc.file), file), rowsPath, rowsText);
  x.problems.push(...parsed.problems);
  x.consumedFiles.push(rowsPath);
  parsed.sources.forEach(([name, source]) => claim(x, name, "rows", source));
  return parsed.sets;
}

/** `rows` written inline as objects; each key is located at the first row that has it. */
function inlineRows(x: Expansion): ParameterSet[] | undefined {
  const { doc } = x;
  const count = (doc.value as { rows?: unknown[] }).rows?.length;
  if (count === undefined) {
    return undefined;
  }
  const rows = Array.from({ length: count }, (_, i) =>
    rawEntries<Scalar>(doc, ["rows", i], scalar, x.problems),
  );
  const sets: ParameterSet[] = rows.map((row) => new Map([...row].map(([k, v]) => [k, String(v)])));
  rows.forEach((row, i) => {
    for (const key of row.keys()) {
      if (!x.keySources.has(key)) {
        claim(x, key, "rows", (message) =>
          problemAt(doc, ["rows", i, key], message, { key: true }),
        );
      }
    }
  });
  return sets;
}

/** A `grid` or `zip` block's lists, each key claimed. */
function readBlock(x: Expansion, name: "grid" | "zip"): Block {
  const { doc } = x;
  const block = rawEntries<readonly Scalar[]>(doc, [name], blockValues, x.problems);
  for (const key of block.keys()) {
    claim(x, key, name, (message) => problemAt(doc, [name, key], message, { key: true }));
  }
  if (block.size === 0) {
    x.problems.push(problemAt(doc, [name], `${name} is empty; add at least one variable`));
  }
  return block;
}

function zipSets(x: Expansion): ParameterSet[] {
  const zip = readBlock(x, "zip");
  const lengths = [...zip].map(([k, v]) => `${k}: ${v.length}`);
  if (new Set([...zip.values()].map((v) => v.length)).size > 1) {
    const message = `zip lists must have the same length (${lengths.join(", ")})`;
    x.problems.push(problemAt(x.doc, ["zip"], `${message}; use "grid" for every combination`));
  }
  return expandZip(zip);
}

/**
 * An object of the parsed JSON (`grid`, `zip`, a row) as a Map, each value checked with
 * `schema`: zod's record output leaves out a key named `__proto__`, which a script may
 * still declare.
 */
function rawEntries<T>(
  doc: JsonDocument,
  at: JsonPath,
  schema: z.ZodType,
  problems: Problem[],
): Map<string, T> {
  const out = new Map<string, T>();
  for (const [key, value] of Object.entries(valueAt(doc.value, at) as Record<string, unknown>)) {
    const found = schemaProblems(doc, schema, value, [...at, key]);
    problems.push(...found);
    if (found.length === 0) {
      out.set(key, value as T);
    }
  }
  return out;
}

export function whichSets(indexes: readonly number[], total: number): string {
  if (indexes.length === total) {
    return "any set";
  }
  const more = indexes.length > 5 ? ` and ${indexes.length - 5} more` : "";
  return `sets ${indexes.slice(0, 5).join(", ")}${more}`;
}
