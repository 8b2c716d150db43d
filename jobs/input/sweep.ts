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
  parseAt,
  submitJobSchema,
  type JobFileFields,
  type LoadedJob,
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

const MAX_SWEEP_SETS = 1_000_000;

/** A Map, since `__proto__` or `constructor` are fine option names. */
export type ParameterSet = ReadonlyMap<string, string>;
type Scalar = string | number | boolean;

/** Where a key's problem is shown; `set`: the set number whose value it is about. */
type KeySource = (message: string, set?: number) => Problem;

export interface LoadedSweep {
  readonly kind: "sweep";
  readonly file: string;
  readonly jobName: string;
  readonly base: JobFileFields;
  /** None for a bare CSV/TSV sweep. */
  readonly baseAt?: JsonPlace;
  readonly sets: readonly ParameterSet[];
  /** So they are not also run alone. */
  readonly consumedFiles: readonly string[];
  readonly keySources: ReadonlyMap<string, KeySource>;
  readonly problemAt: (message: string) => Problem;
}

export type Loaded = LoadedJob | LoadedSweep;

type SweepResult = { sweep?: LoadedSweep; problems: Problem[] };

export type ReadFile = (absolutePath: string) => string | undefined;

export function isSweepValue(value: unknown): boolean {
  const isObject = value !== null && typeof value === "object" && !Array.isArray(value);
  return isObject && ["grid", "zip", "rows"].some((k) => k in value);
}

type Block = ReadonlyMap<string, readonly Scalar[]>;

/** The last key fastest (like itertools.product), without a Map per step (peak RSS). */
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

export function expandZip(zip: Block): ParameterSet[] {
  const entries = [...zip];
  const n = entries.length > 0 ? Math.min(...entries.map(([, v]) => v.length)) : 0;
  return Array.from({ length: n }, (_, i) => new Map(entries.map(([k, v]) => [k, String(v[i])])));
}

/** First block outermost. */
export function combineBlocks(blocks: readonly (readonly ParameterSet[])[]): ParameterSet[] {
  return blocks.reduce<ParameterSet[]>(
    (sets, block) =>
      sets.flatMap((a) => block.map((b) => (a.size === 0 ? b : new Map([...a, ...b])))),
    [new Map()],
  );
}

/** `file` as shown, whose extension picks the delimiter. */
export function parseRows(
  file: string,
  text: string,
): { sets: ParameterSet[]; keySources: Map<string, KeySource>; problems: Problem[] } {
  const delimiter = /\.tsv$/i.test(file) ? "\t" : ",";
  const none = { sets: [], keySources: new Map() };
  let records: string[][];
  try {
    const options = { delimiter, bom: true, skip_empty_lines: true, relax_quotes: false };
    records = parseCsv(text, options) as string[][];
  } catch (err) {
    const e = err as Error & { lines?: number };
    const message = `invalid ${delimiter === "," ? "CSV" : "TSV"}: ${e.message}`;
    return { ...none, problems: [{ file, line: e.lines, message }] };
  }
  if (records.length === 0) {
    const message = "empty file: expected a header row and at least one row";
    return { ...none, problems: [{ file, line: 1, message }] };
  }
  const starts = fieldStarts(text.replace(/^\uFEFF/, ""), delimiter);
  const header = records[0].map((name, i) => ({ name, column: (starts[i] ?? 0) + 1 }));
  const problems: Problem[] = header.flatMap(({ name, column }, i) => {
    const bad =
      name.trim() === ""
        ? `header column ${i + 1} is empty; name it`
        : name !== name.trim()
          ? `header "${name}" has surrounding spaces; remove them`
          : records[0].indexOf(name) < i
            ? `header "${name}" appears twice; rename one`
            : undefined;
    return bad !== undefined ? [{ file, line: 1, column, message: bad }] : [];
  });
  if (records.length === 1 && problems.length === 0) {
    problems.push({ file, line: 2, message: "no rows under the header: nothing to run" });
  }
  return {
    sets: records.slice(1).map((row) => new Map(header.map((h, i) => [h.name, row[i] ?? ""]))),
    keySources: new Map(
      header.map(({ name, column }) => [name, (message) => ({ file, line: 1, column, message })]),
    ),
    problems,
  };
}

/** 0-based start of each field on the first line. */
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
type Reading = { doc: JsonDocument; dir: string; readFile: ReadFile; problems: Problem[] };

const baseSchema = submitJobSchema.omit({ jobName: true, arrayProperties: true }).optional();

/** The job is named after the file. */
export function loadRowsSweep(file: string, text: string): SweepResult {
  const { sets, keySources, problems } = parseRows(file, text);
  const jobName = defaultJobName(file);
  const bad = checkJobName(jobName);
  if (bad !== undefined) {
    const fix = 'rename the file or use a sweep JSON file with "rows"';
    problems.push({ file, message: `${bad} (taken from the file name); ${fix}` });
  }
  const problemAt = (message: string) => ({ file, line: 1, column: 1, message });
  const sweep = { kind: "sweep" as const, file, jobName, base: {}, sets, keySources, problemAt };
  return problems.length > 0 ? { problems } : { problems, sweep: { ...sweep, consumedFiles: [] } };
}

export function loadSweep(doc: JsonDocument, absolute: string, readFile: ReadFile): SweepResult {
  const { data: spec, problems } = parseAt(doc, sweepSchema, doc.value);
  if (spec === undefined) {
    return { problems };
  }
  const { jobName, problems: named } = fileJobName(doc, spec.jobName);
  problems.push(...named);
  const reading = { doc, dir: path.dirname(absolute), readFile, problems };
  const base = sweepBase(reading, spec.base);
  const { blocks, grid, keySources, consumedFiles } = readBlocks(reading, spec);
  // The grid is expanded last, only within MAX_SWEEP_SETS.
  const expected = [...blocks, ...grid.values()].reduce((n, b) => n * b.length, 1);
  if (expected > MAX_SWEEP_SETS) {
    const message =
      `the sweep expands to ${formatNumber(expected)} parameter sets; the limit per file is ` +
      `${formatNumber(MAX_SWEEP_SETS)}; split it into several sweep files`;
    problems.push(problemAt(doc, [], message));
  }
  if (problems.length > 0) {
    return { problems };
  }
  const sets = combineBlocks([...blocks, ...(grid.size > 0 ? [expandGrid(grid)] : [])]);
  const sweep = { kind: "sweep" as const, file: doc.file, jobName, ...base, sets, consumedFiles };
  return { problems, sweep: { ...sweep, keySources, problemAt: (m) => problemAt(doc, [], m) } };
}

/** `base`: an object, or a job file whose own jobName the sweep's replaces. */
function sweepBase({ doc, dir, readFile, problems }: Reading, spec: unknown) {
  let baseAt: JsonPlace = { doc, path: ["base"] };
  const fromFile = typeof spec === "string";
  if (fromFile) {
    const text = readFile(path.resolve(dir, spec));
    if (text === undefined) {
      problems.push(problemAt(doc, ["base"], `file "${spec}" not found (looked in ${dir})`));
      return { base: {}, baseAt };
    }
    const parsed = parseJsonDocument(path.join(path.dirname(doc.file), spec), text);
    problems.push(...parsed.problems);
    if (parsed.doc === undefined) {
      return { base: {}, baseAt };
    }
    baseAt = { doc: parsed.doc, path: [] };
  }
  const raw = valueAt(baseAt.doc.value, baseAt.path);
  const isObject = raw !== null && typeof raw === "object" && !Array.isArray(raw);
  const { jobName, arrayProperties, ...rest } = (isObject ? raw : {}) as Record<string, unknown>;
  const refuse = (key: string, why: string) =>
    problems.push(problemAt(baseAt.doc, [...baseAt.path, key], why, { key: true }));
  if (jobName !== undefined && !fromFile) {
    refuse("jobName", "put jobName at the top level of the sweep file");
  }
  if (arrayProperties !== undefined) {
    const from = fromFile ? " from the base job" : "";
    refuse("arrayProperties", `a sweep sets arrayProperties itself; remove it${from}`);
  }
  const found = parseAt(baseAt.doc, baseSchema, isObject ? rest : raw, baseAt.path);
  problems.push(...found.problems);
  return { base: found.data ?? {}, baseAt };
}

/** The sets of `rows` and `zip`, the `grid` unexpanded, and which block declares each key. */
function readBlocks({ doc, dir, readFile, problems }: Reading, spec: z.infer<typeof sweepSchema>) {
  const keySources = new Map<string, KeySource>();
  const consumedFiles: string[] = [];
  const claim = (key: string, where: string, source: KeySource) => {
    const twice = `"${key}" is also set by another block of this sweep (${where}); keep one`;
    if (keySources.has(key)) {
      problems.push(source(twice));
    } else {
      keySources.set(key, source);
    }
  };
  const keyAt = (at: JsonPath) => (m: string) => problemAt(doc, at, m, { key: true });
  const readBlock = (name: "grid" | "zip"): Block => {
    const read = entries<readonly Scalar[]>(doc, [name], blockValues, problems);
    read.forEach((_, key) => claim(key, name, keyAt([name, key])));
    if (read.size === 0) {
      problems.push(problemAt(doc, [name], `${name} is empty; add at least one variable`));
    }
    return read;
  };
  const blocks: ParameterSet[][] = [];
  if (typeof spec.rows === "string") {
    const rowsPath = path.resolve(dir, spec.rows);
    const text = readFile(rowsPath);
    if (!/\.(csv|tsv)$/i.test(rowsPath)) {
      problems.push(problemAt(doc, ["rows"], `"${spec.rows}" must be a .csv or .tsv file`));
    } else if (text === undefined) {
      problems.push(problemAt(doc, ["rows"], `file "${spec.rows}" not found (looked in ${dir})`));
    } else {
      const rows = parseRows(path.join(path.dirname(doc.file), spec.rows), text);
      problems.push(...rows.problems);
      consumedFiles.push(rowsPath);
      rows.keySources.forEach((source, name) => claim(name, "rows", source));
      blocks.push(rows.sets);
    }
  } else if (spec.rows !== undefined) {
    const rows = spec.rows.map((_, i) => entries<Scalar>(doc, ["rows", i], scalar, problems));
    // Rows are the outermost block: set s is row floor(s / the sets of the other blocks).
    const inner = () => [...blocks.slice(1), ...grid.values()].reduce((n, b) => n * b.length, 1);
    const rowKey =
      (key: string, first: number): KeySource =>
      (m, set) =>
        keyAt(["rows", set !== undefined ? Math.floor(set / inner()) : first, key])(m);
    rows.forEach((row, i) =>
      row.forEach((_, key) => keySources.has(key) || claim(key, "rows", rowKey(key, i))),
    );
    blocks.push(rows.map((row) => new Map([...row].map(([k, v]) => [k, String(v)]))));
  }
  if (spec.zip !== undefined) {
    const zip = readBlock("zip");
    if (new Set([...zip.values()].map((v) => v.length)).size > 1) {
      const lengths = [...zip].map(([k, v]) => `${k}: ${v.length}`).join(", ");
      const message = `zip lists must have the same length (${lengths})`;
      problems.push(problemAt(doc, ["zip"], `${message}; use "grid" for every combination`));
    }
    blocks.push(expandZip(zip));
  }
  const grid = spec.grid !== undefined ? readBlock("grid") : new Map<string, Scalar[]>();
  return { blocks, grid, keySources, consumedFiles };
}

/** An object as a Map: zod's record output leaves out a key named `__proto__`. */
function entries<T>(doc: JsonDocument, at: JsonPath, schema: z.ZodType, problems: Problem[]) {
  const out = new Map<string, T>();
  for (const [key, value] of Object.entries(valueAt(doc.value, at) as Record<string, unknown>)) {
    const found = parseAt(doc, schema, value, [...at, key]).problems;
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
