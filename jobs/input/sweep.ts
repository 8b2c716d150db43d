/**
 * Sweeps: one script, many parameter sets.
 *
 * A sweep is either a CSV/TSV file with a header row (one parameter set per row, like
 * dsub's `--tasks`), or a JSON file (strict JSON, no comments) with at least one of
 * `grid`, `zip` or `rows`:
 *
 *   {
 *     "jobName": "lr-sweep",
 *     "base": "sample_job_1.json",
 *     "grid": { "var_a": [1, 2, 3], "var_b": ["x", "y"] },
 *     "zip": { "seed": [1, 2], "tag": ["a", "b"] },
 *     "rows": "params.csv"
 *   }
 *
 * - `jobName`: optional; default: the file name.
 * - `base`: optional; a job file, or inline submit-job fields.
 * - `grid`: every combination (6 sets here); `zip`: paired by position (2 sets).
 * - `rows`: a CSV/TSV file (by extension), or inline `[{"var_a": "1"}, ...]`.
 *
 * Blocks combine as a product, rows outermost and grid innermost (the last grid key varies
 * fastest), so set numbers are stable for a given file. Keys are environment variable names
 * and follow the same rules as `containerOverrides.environment` names. Values may be
 * strings, numbers or booleans and are passed as strings.
 */
import * as path from "path";
import { parse as parseCsv } from "csv-parse/sync";
import { z } from "zod";
import type { Problem } from "../errors";
import {
  checkJobName,
  defaultJobName,
  environmentProblems,
  overrideProblems,
  reservedNameProblems,
  schemaProblems,
  submitJobSchema,
  type JobFileFields,
} from "./job-file";
import { parseJsonDocument, problemAt, type JsonDocument, type JsonPath } from "./json-source";
import {
  checkEnvName,
  missingRequired,
  valueProblems,
  type ScriptDescription,
} from "./script-options";
import { variableNameProblem, variableValueProblem } from "./variables";

/** A sweep that would expand beyond this is almost certainly a mistake (and memory-hungry). */
export const MAX_SWEEP_SETS = 1_000_000;

/**
 * One set of variables. A Map, not an object: names are the user's (`constructor`,
 * `toString`, `__proto__` are fine option names) and must never meet Object.prototype.
 */
export type ParameterSet = ReadonlyMap<string, string>;
type Scalar = string | number | boolean;

/** Where a sweep key was declared, for error messages. */
interface KeySource {
  readonly problemAt: (message: string) => Problem;
}

export interface LoadedSweep {
  readonly kind: "sweep";
  /** The sweep file as shown to the user. */
  readonly file: string;
  readonly jobName: string;
  /** SubmitJob fields shared by every set (no jobName or arrayProperties). */
  readonly base: JobFileFields;
  /** Where `base` lives, to locate its problems. */
  readonly baseDoc?: JsonDocument;
  readonly basePrefix: JsonPath;
  readonly sets: readonly ParameterSet[];
  /** Absolute paths of CSV/TSV files this sweep reads, so they are not also run alone. */
  readonly consumedFiles: readonly string[];
  readonly keySources: ReadonlyMap<string, KeySource>;
}

/** Reads a file relative to the sweep file; returns undefined when it does not exist. */
export type ReadFile = (absolutePath: string) => string | undefined;

/** A JSON value is a sweep when it has one of the sweep blocks at the top level. */
export function isSweepValue(value: unknown): boolean {
  return (
    value !== null &&
    typeof value === "object" &&
    !Array.isArray(value) &&
    ["grid", "zip", "rows"].some((k) => k in (value as object))
  );
}

/** A sweep block: variable name -> its values, as a Map or as the object JSON gave. */
export type Block =
  ReadonlyMap<string, readonly Scalar[]> | Readonly<Record<string, readonly Scalar[]>>;

function blockEntries(block: Block): [string, readonly Scalar[]][] {
  // Object.entries reads own properties only, so "__proto__" from JSON.parse is kept as a name.
  return block instanceof Map ? [...block] : Object.entries(block);
}

/**
 * Every combination; the last key varies fastest (like itertools.product). Each set is
 * built once from its entries: O(sets x keys), however many keys there are.
 */
export function expandGrid(grid: Block): ParameterSet[] {
  const entries = blockEntries(grid).map(([k, values]) => [k, values.map(String)] as const);
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

/** Paired by position; all lists must have the same length (checked by the caller). */
export function expandZip(zip: Block): ParameterSet[] {
  const entries = blockEntries(zip);
  const n = entries.length > 0 ? entries[0][1].length : 0;
  return Array.from({ length: n }, (_, i) => new Map(entries.map(([k, v]) => [k, String(v[i])])));
}

/** Cartesian product of blocks, first block outermost. */
export function combineBlocks(blocks: readonly (readonly ParameterSet[])[]): ParameterSet[] {
  let sets: ParameterSet[] = [new Map()];
  for (const block of blocks) {
    const next: ParameterSet[] = [];
    for (const a of sets) {
      for (const b of block) {
        next.push(a.size === 0 ? b : new Map([...a, ...b]));
      }
    }
    sets = next;
  }
  return sets;
}

/**
 * Parses CSV/TSV rows (header row first). Returns the sets and the header with each
 * column's 1-based column position on line 1.
 */
export function parseRows(
  file: string,
  text: string,
  delimiter: "," | "\t",
): { sets: ParameterSet[]; header: { name: string; column: number }[]; problems: Problem[] } {
  let records: string[][];
  try {
    records = parseCsv(text, {
      delimiter,
      bom: true,
      skip_empty_lines: true,
      relax_quotes: false,
    }) as string[][];
  } catch (err) {
    const e = err as Error & { lines?: number };
    return {
      sets: [],
      header: [],
      problems: [
        {
          file,
          line: e.lines,
          message: `invalid ${delimiter === "," ? "CSV" : "TSV"}: ${e.message}`,
        },
      ],
    };
  }
  if (records.length === 0) {
    return {
      sets: [],
      header: [],
      problems: [
        { file, line: 1, message: "empty file: expected a header row and at least one row" },
      ],
    };
  }
  const starts = fieldStarts(text.replace(/^\uFEFF/, ""), delimiter);
  const header = records[0].map((name, i) => ({ name, column: (starts[i] ?? 0) + 1 }));
  const problems: Problem[] = [];
  const seen = new Set<string>();
  header.forEach((h, i) => {
    if (h.name.trim() === "") {
      problems.push({
        file,
        line: 1,
        column: h.column,
        message: `header column ${i + 1} is empty; name it`,
      });
    } else if (h.name !== h.name.trim()) {
      problems.push({
        file,
        line: 1,
        column: h.column,
        message: `header "${h.name}" has surrounding spaces; remove them`,
      });
    } else if (seen.has(h.name)) {
      problems.push({
        file,
        line: 1,
        column: h.column,
        message: `header "${h.name}" appears twice; rename one`,
      });
    }
    seen.add(h.name);
  });
  if (records.length === 1 && problems.length === 0) {
    problems.push({ file, line: 2, message: "no rows under the header: nothing to run" });
  }
  const sets: ParameterSet[] = records
    .slice(1)
    .map((row) => new Map(header.map((h, i) => [h.name, row[i] ?? ""])));
  return { sets, header, problems };
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
const baseSchema = submitJobSchema.omit({ jobName: true, arrayProperties: true });

/** A sweep from a bare CSV/TSV file: the job is named after the file, fields from the stack. */
export function loadRowsSweep(
  file: string,
  absolutePath: string,
  text: string,
): { sweep?: LoadedSweep; problems: Problem[] } {
  const delimiter = absolutePath.toLowerCase().endsWith(".tsv") ? "\t" : ",";
  const rows = parseRows(file, text, delimiter);
  const jobName = defaultJobName(file);
  const problems = [...rows.problems];
  const nameProblem = checkJobName(jobName);
  if (nameProblem !== undefined) {
    problems.push({
      file,
      message: `${nameProblem} (taken from the file name); rename the file or use a sweep JSON file with "rows"`,
    });
  }
  if (problems.length > 0) {
    return { problems };
  }
  return {
    problems: [],
    sweep: {
      kind: "sweep",
      file,
      jobName,
      base: {},
      basePrefix: [],
      sets: rows.sets,
      consumedFiles: [absolutePath],
      keySources: new Map(
        rows.header.map((h) => [
          h.name,
          { problemAt: (message: string) => ({ file, line: 1, column: h.column, message }) },
        ]),
      ),
    },
  };
}

/** Validates a sweep JSON document and expands it into parameter sets. */
export function loadSweep(
  doc: JsonDocument,
  absolutePath: string,
  readFile: ReadFile,
): { sweep?: LoadedSweep; problems: Problem[] } {
  const problems = schemaProblems(doc, sweepSchema, doc.value);
  if (problems.length > 0) {
    return { problems };
  }
  const spec = sweepSchema.parse(doc.value);
  const dir = path.dirname(absolutePath);
  const keySources = new Map<string, KeySource>();
  const consumedFiles: string[] = [];

  const jobName = spec.jobName ?? defaultJobName(doc.file);
  const nameProblem = checkJobName(jobName);
  if (nameProblem !== undefined) {
    problems.push(
      problemAt(
        doc,
        ["jobName"],
        nameProblem +
          (spec.jobName === undefined ? " (taken from the file name; set jobName)" : ""),
      ),
    );
  }

  // base: inline fields or another job file.
  let base: JobFileFields = {};
  let baseDoc: JsonDocument | undefined = doc;
  let basePrefix: JsonPath = ["base"];
  if (typeof spec.base === "string") {
    const basePath = path.resolve(dir, spec.base);
    const baseText = readFile(basePath);
    if (baseText === undefined) {
      problems.push(problemAt(doc, ["base"], `file "${spec.base}" not found (looked in ${dir})`));
    } else {
      const shown = path.join(path.dirname(doc.file), spec.base);
      const parsed = parseJsonDocument(shown, baseText);
      problems.push(...parsed.problems);
      if (parsed.doc !== undefined) {
        const baseProblems = schemaProblems(parsed.doc, submitJobSchema, parsed.doc.value);
        problems.push(...baseProblems);
        if (baseProblems.length === 0) {
          // The sweep names its jobs; the base file's own name is not used.
          const rest = submitJobSchema.parse(parsed.doc.value);
          delete rest.jobName;
          if (rest.arrayProperties !== undefined) {
            problems.push(
              problemAt(
                parsed.doc,
                ["arrayProperties"],
                "a sweep sets arrayProperties itself; remove it from the base job",
              ),
            );
          }
          base = rest;
          baseDoc = parsed.doc;
          basePrefix = [];
        }
      }
    }
  } else if (spec.base !== undefined) {
    const raw = spec.base;
    if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
      for (const [key, why] of [
        ["jobName", "put jobName at the top level of the sweep file"],
        ["arrayProperties", "a sweep sets arrayProperties itself; remove it"],
      ] as const) {
        if (key in raw) {
          problems.push(problemAt(doc, ["base", key], why, { key: true }));
        }
      }
    }
    const rest =
      raw !== null && typeof raw === "object" && !Array.isArray(raw)
        ? Object.fromEntries(
            Object.entries(raw).filter(([k]) => k !== "jobName" && k !== "arrayProperties"),
          )
        : raw;
    const baseProblems = schemaProblems(doc, baseSchema, rest, ["base"]);
    problems.push(...baseProblems);
    if (baseProblems.length === 0) {
      base = baseSchema.parse(rest);
    }
  }

  const blocks: ParameterSet[][] = [];
  const claim = (key: string, where: string, source: KeySource): void => {
    const previous = keySources.get(key);
    if (previous !== undefined) {
      problems.push(
        source.problemAt(
          `"${key}" is also set by another block of this sweep (${where}); keep one`,
        ),
      );
    } else {
      keySources.set(key, source);
    }
  };
  let expected = 1;

  if (spec.rows !== undefined) {
    if (typeof spec.rows === "string") {
      const rowsPath = path.resolve(dir, spec.rows);
      const lower = rowsPath.toLowerCase();
      const rowsText = readFile(rowsPath);
      if (!lower.endsWith(".csv") && !lower.endsWith(".tsv")) {
        problems.push(problemAt(doc, ["rows"], `"${spec.rows}" must be a .csv or .tsv file`));
      } else if (rowsText === undefined) {
        problems.push(problemAt(doc, ["rows"], `file "${spec.rows}" not found (looked in ${dir})`));
      } else {
        const shown = path.join(path.dirname(doc.file), spec.rows);
        const parsed = parseRows(shown, rowsText, lower.endsWith(".tsv") ? "\t" : ",");
        problems.push(...parsed.problems);
        consumedFiles.push(rowsPath);
        for (const h of parsed.header) {
          claim(h.name, "rows", {
            problemAt: (message) => ({ file: shown, line: 1, column: h.column, message }),
          });
        }
        blocks.push(parsed.sets);
        expected *= parsed.sets.length;
      }
    } else {
      const rows = rawRows(doc, problems);
      const sets: ParameterSet[] = rows.map(
        (row) => new Map([...row].map(([k, v]) => [k, String(v)])),
      );
      rows.forEach((row, i) => {
        for (const key of row.keys()) {
          if (!keySources.has(key)) {
            claim(key, "rows", {
              problemAt: (message) => problemAt(doc, ["rows", i, key], message, { key: true }),
            });
          }
        }
      });
      blocks.push(sets);
      expected *= sets.length;
    }
  }
  if (spec.zip !== undefined) {
    const zip = rawBlock(doc, "zip", problems);
    const lengths = [...zip].map(([k, v]) => [k, v.length] as const);
    const distinct = new Set(lengths.map(([, n]) => n));
    if (distinct.size > 1) {
      problems.push(
        problemAt(
          doc,
          ["zip"],
          `zip lists must have the same length (${lengths.map(([k, n]) => `${k}: ${n}`).join(", ")}); ` +
            `use "grid" for every combination`,
        ),
      );
    }
    for (const key of zip.keys()) {
      claim(key, "zip", {
        problemAt: (message) => problemAt(doc, ["zip", key], message, { key: true }),
      });
    }
    if (zip.size === 0) {
      problems.push(problemAt(doc, ["zip"], "zip is empty; add at least one variable"));
    }
    blocks.push(expandZipSafe(zip));
    expected *= lengths.length > 0 ? Math.min(...lengths.map(([, n]) => n)) : 0;
  }
  if (spec.grid !== undefined) {
    const grid = rawBlock(doc, "grid", problems);
    for (const key of grid.keys()) {
      claim(key, "grid", {
        problemAt: (message) => problemAt(doc, ["grid", key], message, { key: true }),
      });
    }
    if (grid.size === 0) {
      problems.push(problemAt(doc, ["grid"], "grid is empty; add at least one variable"));
    }
    const size = [...grid.values()].reduce((n, v) => n * v.length, 1);
    expected *= size;
    if (expected <= MAX_SWEEP_SETS) {
      blocks.push(expandGrid(grid));
    }
  }
  if (expected > MAX_SWEEP_SETS) {
    problems.push(
      problemAt(
        doc,
        [],
        `the sweep expands to ${expected.toLocaleString("en-US")} parameter sets; the limit per file is ` +
          `${MAX_SWEEP_SETS.toLocaleString("en-US")}; split it into several sweep files`,
      ),
    );
  }
  if (problems.length > 0) {
    return { problems };
  }
  return {
    problems: [],
    sweep: {
      kind: "sweep",
      file: doc.file,
      jobName,
      base,
      baseDoc,
      basePrefix,
      sets: combineBlocks(blocks),
      consumedFiles,
      keySources,
    },
  };
}

function expandZipSafe(zip: ReadonlyMap<string, readonly Scalar[]>): ParameterSet[] {
  const n = Math.min(...[...zip.values()].map((v) => v.length));
  return expandZip(new Map([...zip].map(([k, v]) => [k, v.slice(0, n)])));
}

/**
 * A `grid` or `zip` block as a Map, read from the parsed JSON itself: zod's record output
 * leaves out a key named `__proto__`, which is still a name a script may declare. Keys zod
 * did not see are checked here with the same rule.
 */
function rawBlock(
  doc: JsonDocument,
  name: "grid" | "zip",
  problems: Problem[],
): Map<string, readonly Scalar[]> {
  const raw = (doc.value as Record<string, unknown>)[name] as Record<string, unknown>;
  const out = new Map<string, readonly Scalar[]>();
  for (const [key, values] of Object.entries(raw)) {
    const found = schemaProblems(doc, blockValues, values, [name, key]);
    problems.push(...found);
    if (found.length === 0) {
      out.set(key, values as Scalar[]);
    }
  }
  return out;
}

/** Inline `rows` as Maps, from the parsed JSON itself (see rawBlock). */
function rawRows(doc: JsonDocument, problems: Problem[]): ReadonlyMap<string, Scalar>[] {
  const raw = (doc.value as { rows: Record<string, unknown>[] }).rows;
  return raw.map((row, i) => {
    const out = new Map<string, Scalar>();
    for (const [key, value] of Object.entries(row)) {
      const found = schemaProblems(doc, scalar, value, ["rows", i, key]);
      problems.push(...found);
      if (found.length === 0) {
        out.set(key, value as Scalar);
      }
    }
    return out;
  });
}

/** Content checks: set keys and base environment against the script's options. */
export function sweepProblems(sweep: LoadedSweep, desc: ScriptDescription): Problem[] {
  const problems: Problem[] = [];
  for (const [key, source] of sweep.keySources) {
    const reason = variableNameProblem(key) ?? checkEnvName(key, desc);
    if (reason !== undefined) {
      problems.push(source.problemAt(reason));
    }
  }
  const baseEnv = sweep.base.containerOverrides?.environment;
  if (sweep.baseDoc !== undefined) {
    problems.push(
      ...environmentProblems(sweep.baseDoc, baseEnv, desc, {
        prefix: [...sweep.basePrefix, "containerOverrides", "environment"],
        checkRequired: false,
      }),
      ...reservedNameProblems(sweep.baseDoc, sweep.base),
      ...overrideProblems(sweep.baseDoc, sweep.base, { prefix: sweep.basePrefix, sweep: true }),
    );
  }
  // Required options: the base environment plus each set must supply them.
  const baseNames = new Set((baseEnv ?? []).map((v) => v.name));
  const lacking = new Map<string, number[]>();
  sweep.sets.forEach((set, i) => {
    const names = new Set([...baseNames, ...set.keys()]);
    for (const o of missingRequired(names, desc)) {
      const list = lacking.get(o.env) ?? [];
      list.push(i);
      lacking.set(o.env, list);
    }
  });
  // Values, per set as the child will see them: the set over the base environment.
  const baseVars = new Map((baseEnv ?? []).map((v) => [v.name, v.value]));
  let shown = 0;
  let more = 0;
  const flags = new Map(desc.options.flatMap((o) => [o.env, ...o.aliases].map((n) => [n, o.flag])));
  sweep.sets.forEach((set, i) => {
    // The same rules as a single job's variables: NUL bytes and the kernel's size limit.
    for (const [name, value] of set) {
      const bad = variableValueProblem(name, value, flags.get(name));
      if (bad === undefined) {
        continue;
      }
      if (shown >= 10) {
        more++;
        continue;
      }
      shown++;
      const source = sweep.keySources.get(name);
      const message = `set ${i}: ${bad}`;
      problems.push(
        source !== undefined ? source.problemAt(message) : { file: sweep.file, message },
      );
    }
    const vars = new Map([...baseVars, ...set]);
    for (const p of valueProblems(vars, desc)) {
      if (shown >= 10) {
        more++;
        continue;
      }
      shown++;
      const source = p.name !== undefined ? sweep.keySources.get(p.name) : undefined;
      const message = `set ${i}: ${p.message}`;
      problems.push(
        source !== undefined ? source.problemAt(message) : { file: sweep.file, message },
      );
    }
  });
  if (more > 0) {
    problems.push({ file: sweep.file, message: `... and ${more} more problems in other sets` });
  }
  for (const [name, indexes] of lacking) {
    const which =
      indexes.length === sweep.sets.length
        ? "any set"
        : `sets ${indexes.slice(0, 5).join(", ")}${indexes.length > 5 ? ` and ${indexes.length - 5} more` : ""}`;
    problems.push({
      file: sweep.file,
      message: `required option "${name}" is not set in ${which}; add it to the sweep or to base.containerOverrides.environment`,
    });
  }
  return problems;
}
