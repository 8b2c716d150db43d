/**
 * Which script of container/job/ each job runs (its `"script"` field), refused before
 * anything is sent when there is no such file. The entrypoint finds it the same way (cli.py).
 */
import * as fs from "fs";
import * as path from "path";
import type { Problem } from "../errors";
import type { LoadedJob } from "./job-file";
import { problemAt, type JsonDocument } from "./json-source";
import type { LoadedSweep } from "./sweep";

/** A loaded job or sweep, or a job file that failed the schema. */
type Checked = LoadedJob | LoadedSweep | JsonDocument;

/** The script an item names, and where a problem with it is reported. */
function namedScript(item: Checked): { name?: string; at: (message: string) => Problem } {
  if (!("kind" in item)) {
    const raw = (item.value as { script?: unknown } | null)?.script;
    const name = typeof raw === "string" ? raw : undefined;
    return { ...(name !== undefined ? { name } : {}), at: (m) => problemAt(item, ["script"], m) };
  }
  if (item.kind === "job") {
    return { name: item.fields.script, at: (m) => problemAt(item.doc, ["script"], m) };
  }
  const doc = item.baseDoc;
  return {
    name: item.base.script,
    at: (m) => (doc ? problemAt(doc, [...item.basePrefix, "script"], m) : item.problemAt(m)),
  };
}

function isFile(file: string): boolean {
  return fs.statSync(file, { throwIfNoEntry: false })?.isFile() === true;
}

/**
 * The items by the script they run: its absolute path, or undefined for the default
 * (jobs:submit's --script-file, else script.py). A name that is not a file directly under
 * container/job/ is a problem naming the scripts there.
 */
export function byScript(
  items: readonly Checked[],
  repoRoot: string,
): { groups: Map<string | undefined, Checked[]>; problems: Problem[] } {
  const folder = path.join(repoRoot, "container", "job");
  const groups = new Map<string | undefined, Checked[]>([[undefined, []]]);
  const problems: Problem[] = [];
  for (const item of items) {
    const { name, at } = namedScript(item);
    const file = name === undefined ? undefined : path.join(folder, name);
    if (file !== undefined && (path.basename(file) !== name || !isFile(file))) {
      const scripts = fs.readdirSync(folder).filter((f) => f.endsWith(".py"));
      problems.push(
        at(
          `${JSON.stringify(name)} is not a file directly under container/job/, whose scripts ` +
            `are ${scripts.sort().join(", ")}: name one of them, or add the file there`,
        ),
      );
      continue;
    }
    groups.set(file, [...(groups.get(file) ?? []), item]);
  }
  return { groups, problems };
}
