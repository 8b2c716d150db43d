/** Which script of container/job/ each job runs; the entrypoint finds it the same way. */
import * as fs from "fs";
import * as path from "path";
import type { Problem } from "../errors";
import { problemAt, valueAt, type JsonDocument, type JsonPlace } from "./json-source";
import type { Loaded } from "./sweep";

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
export function byScript(
  items: readonly Checked[],
  repoRoot: string,
): { groups: Map<string | undefined, Checked[]>; problems: Problem[] } {
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
