/** Command-line arguments (files, directories, glob patterns) to validated jobs and sweeps. */
import * as fs from "fs";
import * as path from "path";
import fg from "fast-glob";
import { displayPath } from "../context";
import { formatProblem, orFallback, type Problem } from "../errors";
import { loadJob } from "./job-file";
import { lineColumnAt, parseJsonDocument, type JsonDocument } from "./json-source";
import { isSweepValue, loadRowsSweep, loadSweep, type Loaded, type ReadFile } from "./sweep";

type InputFile = { readonly shown: string; readonly absolute: string };

const isJobFile = (file: string) => /\.(json|csv|tsv)$/i.test(file);
const isRows = (file: string) => /\.(csv|tsv)$/i.test(file);

export function expandInputs(args: readonly string[], cwd: string) {
  const files = new Map<string, InputFile>();
  const problems: Problem[] = [];
  for (const arg of args) {
    const [found, none] = filesOfArg(arg, cwd);
    if (found.length === 0) {
      problems.push({ file: arg, message: none });
    }
    found.forEach((f) => files.set(f, { shown: displayPath(cwd, f), absolute: f }));
  }
  if (args.length === 0) {
    problems.push({ message: "no job files given; pass files, directories or glob patterns" });
  }
  return { files: [...files.values()], problems };
}

/** `dir` is never read as a pattern. */
export function jobFilesIn(dir: string): string[] {
  return fg
    .sync(["*.json", "*.csv", "*.tsv"], { cwd: dir, onlyFiles: true, caseSensitiveMatch: false })
    .sort();
}

/** The absolute paths `arg` stands for, and what to say when there are none. */
function filesOfArg(arg: string, cwd: string): [string[], string] {
  const absolute = path.resolve(cwd, arg);
  const stat = orFallback(() => fs.statSync(absolute), undefined);
  if (stat?.isFile() === true) {
    return [[absolute].filter(isJobFile), "not a job or sweep file: expected .json, .csv or .tsv"];
  }
  if (stat?.isDirectory() === true) {
    const found = jobFilesIn(absolute).map((f) => path.join(absolute, f));
    return [found, "the directory has no .json, .csv or .tsv files"];
  }
  if (!fg.isDynamicPattern(arg)) {
    return [[], "no such file or directory"];
  }
  const pattern = arg.split(path.sep).join("/");
  const found = fg.sync(pattern, { cwd, onlyFiles: true, absolute: true }).filter(isJobFile);
  return [
    found.sort().map((f) => path.resolve(f)),
    "the pattern matches no .json, .csv or .tsv files",
  ];
}

/** The first U+FFFD in the decoded text that the bytes do not spell stands for a bad sequence. */
export function notUtf8At(bytes: Buffer): { line: number; column: number } | undefined {
  const text = bytes.toString("utf8");
  for (let i = text.indexOf("\uFFFD"); i >= 0; i = text.indexOf("\uFFFD", i + 1)) {
    const at = Buffer.byteLength(text.slice(0, i));
    if (!bytes.subarray(at, at + 3).equals(Buffer.from("\uFFFD"))) {
      return lineColumnAt(text, i);
    }
  }
  return undefined;
}

/** A Latin-1 CSV would otherwise reach Batch with U+FFFD in its values. */
function utf8Reader(files: readonly InputFile[], problems: Problem[]): ReadFile {
  const shown = new Map(files.map((f) => [f.absolute, f.shown]));
  return (absolute) => {
    const bytes = orFallback(() => fs.readFileSync(absolute), undefined);
    const at = bytes && notUtf8At(bytes);
    if (at !== undefined) {
      const message = "the file is not UTF-8 text from here on; save it with UTF-8 encoding";
      problems.push({ file: shown.get(absolute) ?? absolute, ...at, message });
    }
    return bytes?.toString("utf8");
  };
}

export function loadInputs(files: readonly InputFile[]) {
  const loaded: { item: Loaded; absolute: string }[] = [];
  const invalid: JsonDocument[] = [];
  const problems: Problem[] = [];
  const readFile = utf8Reader(files, problems);
  const take = (r: { problems: Problem[]; sweep?: Loaded; job?: Loaded }, absolute: string) => {
    problems.push(...r.problems);
    const item = r.sweep ?? r.job;
    loaded.push(...(item !== undefined ? [{ item, absolute }] : []));
    return item;
  };
  for (const f of files) {
    const text = readFile(f.absolute);
    if (text === undefined) {
      problems.push({ file: f.shown, message: "cannot read the file" });
    } else if (isRows(f.absolute)) {
      take(loadRowsSweep(f.shown, text), f.absolute);
    } else {
      const { doc, problems: found } = parseJsonDocument(f.shown, text);
      problems.push(...found);
      if (doc !== undefined && isSweepValue(doc.value)) {
        take(loadSweep(doc, f.absolute, readFile), f.absolute);
      } else if (doc !== undefined && take(loadJob(doc), f.absolute) === undefined) {
        invalid.push(doc);
      }
    }
  }
  // A directory or glob that picks up a sweep's rows file must not also run it alone.
  const consumed = new Set(
    loaded.flatMap(({ item }) => (item.kind === "sweep" ? item.consumedFiles : [])),
  );
  const items = loaded.filter((l) => !consumed.has(l.absolute)).map((l) => l.item);
  return { items, invalid, problems };
}

/** Problems once each, by file in the order given (others where first met), then by position. */
export function sortProblems(problems: readonly Problem[], files: readonly InputFile[] = []) {
  const names = new Set([...files.map((f) => f.shown), ...problems.map((p) => p.file ?? "")]);
  const fileOrder = new Map([...names].map((name, i) => [name, i]));
  const order = (p: Problem) => [fileOrder.get(p.file ?? "") ?? 0, p.line ?? 0, p.column ?? 0];
  const unique = [...new Map(problems.map((p) => [formatProblem(p), p])).values()];
  return unique.sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  });
}
