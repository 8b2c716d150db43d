/**
 * What `jobs:report` keeps of finished runs, so a later report of a finished sweep makes one
 * DescribeJobs call and no S3 request: a results folder's listing with its metrics.json
 * texts, and a finished array job's children as report units. A run that has ended writes
 * nothing more (the entrypoint uploads first), so a key holds every run's job ID and ended
 * status: a retry or a run still going makes another key.
 *
 * One file per folder or array job, `<stack state dir>/report-cache/<sha256>.json`: a newer
 * key replaces the older entry. A file that cannot be read or parsed is a miss, written again.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { ResultFile, RunUnit } from "../report/rows";
import { STATUSES, TERMINAL, type Status } from "../status";
import { isFileSystemError } from "../errors";
import { writeWhole } from "./write-whole";
import { jsonValue } from "../input/json-source";
import { z } from "zod";

/** Bumped when an entry's shape or meaning changes: older entries are then misses. */
export const CACHE_VERSION = 2;

/** The folder under the stack's state directory that holds the entries. */
export const CACHE_FOLDER = "report-cache";

/** A finished results folder: every object in it, and the metrics.json texts read. */
export interface CachedFolder {
  readonly objects: readonly ResultFile[];
  /** S3 key to the file's text, as read. */
  readonly metrics: Readonly<Record<string, string>>;
}

export interface ReportCache {
  /** What the entries are of (e.g. `s3://bucket`): part of every key. */
  readonly scope: string;
  /** The entry stored under `key` for `folder`, if any and whole. */
  readFolder(folder: string, key: string): CachedFolder | undefined;
  /** Stores an entry; a failure to write is only a lost speed-up. */
  writeFolder(folder: string, key: string, entry: CachedFolder): void;
  /** An array job's children as report units, if stored under `key`. */
  readChildren(arrayJobId: string, key: string): RunUnit[] | undefined;
  writeChildren(arrayJobId: string, key: string, units: readonly RunUnit[]): void;
}

function sha256(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex");
}

/** The key of a results folder given every run writing there; undefined while one runs. */
export function folderCacheKey(
  scope: string,
  folder: string,
  runs: readonly Pick<RunUnit, "jobId" | "status">[],
): string | undefined {
  if (runs.length === 0 || runs.some((r) => !TERMINAL.has(r.status))) {
    return undefined;
  }
  const ids = runs.map((r) => `${r.jobId} ${r.status}`).sort();
  return sha256({ v: CACHE_VERSION, scope, folder, ids });
}

/** The key of an array job's children: undefined until the parent has ended. */
export function childrenCacheKey(
  scope: string,
  arrayJobId: string,
  parentStatus: string,
): string | undefined {
  return TERMINAL.has(parentStatus as Status)
    ? sha256({ v: CACHE_VERSION, scope, arrayJobId, parentStatus })
    : undefined;
}

type EntryKind = "folder" | "children";

/** The file holding one folder's or array job's entry, whatever its key. */
export function cacheFile(dir: string, scope: string, kind: EntryKind, name: string): string {
  return path.join(dir, `${sha256([scope, kind, name])}.json`);
}

const numbers = z.record(z.string(), z.number());
const strings = z.record(z.string(), z.string());
const optionalNumber = z.number().optional();
const folderEntry = z.object({
  objects: z.array(z.object({ key: z.string(), size: z.number() })),
  metrics: strings,
});
const storedUnit = z.object({
  job: z.string(),
  jobId: z.string(),
  status: z.enum(STATUSES),
  index: optionalNumber,
  reason: z.string().optional(),
  exitCode: optionalNumber,
  createdAt: optionalNumber,
  startedAt: optionalNumber,
  stoppedAt: optionalNumber,
  vcpus: optionalNumber,
  memoryMiB: optionalNumber,
  gpus: optionalNumber,
  attempts: z.array(numbers),
  params: strings,
});

/** A run unit as stored: its parameters as a JSON object. */
type StoredUnit = Omit<RunUnit, "params"> & { readonly params: Readonly<Record<string, string>> };

/** Whether `v` has a stored run unit's shape (what formatCacheEntry wrote of one). */
export function isRunUnit(v: unknown): v is StoredUnit {
  return storedUnit.safeParse(v).success;
}

/** An entry's body, if `text` is a whole entry of this version stored under `key`. */
function entryBody(text: string, key: string): Record<string, unknown> | undefined {
  const v = jsonValue(text)?.value as Record<string, unknown> | null | undefined;
  return v?.v === CACHE_VERSION && v.key === key ? v : undefined;
}

/** A folder entry's text back to the entry, if it is whole and stored under `key`. */
export function parseCacheEntry(text: string, key: string): CachedFolder | undefined {
  const body = entryBody(text, key);
  const parsed = folderEntry.safeParse(body);
  // The text's own metrics, not zod's copy: a key named __proto__ stays a key.
  const metrics = Object.fromEntries(Object.entries(body?.metrics ?? {}));
  return parsed.success ? { objects: parsed.data.objects, metrics } : undefined;
}

/** A children entry's text back to the units, if whole and stored under `key`. */
export function parseChildrenEntry(text: string, key: string): RunUnit[] | undefined {
  const units = entryBody(text, key)?.units;
  return Array.isArray(units) && units.length > 0 && units.every(isRunUnit)
    ? units.map((u) => ({ ...u, params: new Map(Object.entries(u.params)) }))
    : undefined;
}

export function formatCacheEntry(
  key: string,
  entry: CachedFolder | { readonly units: readonly RunUnit[] },
): string {
  const body =
    "units" in entry
      ? { units: entry.units.map((u) => ({ ...u, params: Object.fromEntries(u.params) })) }
      : entry;
  return JSON.stringify({ v: CACHE_VERSION, key, ...body });
}

/** Entries as files under `dir`; `scope` (e.g. the bucket) keeps stacks' entries apart. */
export function fileCache(dir: string, scope: string): ReportCache {
  const read = <T>(kind: EntryKind, name: string, parse: (text: string) => T): T | undefined => {
    try {
      return parse(fs.readFileSync(cacheFile(dir, scope, kind, name), "utf8"));
    } catch (err) {
      // Not there, or not readable: a miss, read from AWS and written again.
      if (isFileSystemError(err)) {
        return undefined;
      }
      throw err;
    }
  };
  const write = (kind: EntryKind, name: string, text: string): void => {
    try {
      writeWhole(cacheFile(dir, scope, kind, name), text);
    } catch (err) {
      // No cache this time: the report itself is complete without it.
      if (!isFileSystemError(err)) {
        throw err;
      }
    }
  };
  return {
    scope,
    readFolder: (folder, key) => read("folder", folder, (t) => parseCacheEntry(t, key)),
    writeFolder: (folder, key, entry) => write("folder", folder, formatCacheEntry(key, entry)),
    readChildren: (id, key) => read("children", id, (t) => parseChildrenEntry(t, key)),
    writeChildren: (id, key, units) => write("children", id, formatCacheEntry(key, { units })),
  };
}
