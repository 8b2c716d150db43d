/**
 * What `jobs:report` keeps of finished runs: a results folder's listing and the metrics.json
 * texts read from it, so a second report of a finished sweep makes no S3 request.
 *
 * A run that SUCCEEDED or FAILED writes nothing more (the entrypoint uploads before the job
 * ends), so a folder's files are fixed once every run that writes into it has ended. An
 * entry is keyed by its content's inputs: the bucket, the folder and every run's job ID and
 * status. A retry is a new job ID and a run still going has another status, so either makes
 * a new key and the folder is read afresh; an entry is never read, nor written, while any
 * of its runs is unfinished.
 *
 * One file per results folder, `<stack state dir>/report-cache/<sha256>.json`, beside the
 * ledger: a newer key replaces the older entry instead of piling up beside it. A file that
 * cannot be read or parsed is a miss and is written again.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { ResultFile, RunUnit } from "./report-rows";
import { TERMINAL } from "./status";

/** Bumped when an entry's shape or meaning changes: older entries are then misses. */
export const CACHE_VERSION = 1;

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
  read(folder: string, key: string): CachedFolder | undefined;
  /** Stores an entry; a failure to write is only a lost speed-up. */
  write(folder: string, key: string, entry: CachedFolder): void;
}

/**
 * The content key of a results folder given every run whose results go there, or
 * undefined while any of them is unfinished (its folder may still change).
 */
export function folderCacheKey(
  scope: string,
  folder: string,
  runs: readonly Pick<RunUnit, "jobId" | "status">[],
): string | undefined {
  if (runs.length === 0 || runs.some((r) => !TERMINAL.has(r.status))) {
    return undefined;
  }
  const ids = runs.map((r) => `${r.jobId} ${r.status}`).sort();
  return createHash("sha256")
    .update(JSON.stringify({ v: CACHE_VERSION, scope, folder, ids }))
    .digest("hex");
}

/** The file holding `folder`'s entry (one per folder, whatever its key). */
export function cacheFile(dir: string, scope: string, folder: string): string {
  const name = createHash("sha256")
    .update(JSON.stringify([scope, folder]))
    .digest("hex");
  return path.join(dir, `${name}.json`);
}

function isResultFile(v: unknown): v is ResultFile {
  const o = v as { key?: unknown; size?: unknown } | null;
  return (
    typeof o === "object" && o !== null && typeof o.key === "string" && typeof o.size === "number"
  );
}

/** An entry's text back to the entry, if it is whole and stored under `key`. */
export function parseCacheEntry(text: string, key: string): CachedFolder | undefined {
  let v: { v?: unknown; key?: unknown; objects?: unknown; metrics?: unknown };
  try {
    v = JSON.parse(text) as typeof v;
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== "object" || v.v !== CACHE_VERSION || v.key !== key) {
    return undefined;
  }
  const { objects, metrics } = v;
  if (!Array.isArray(objects) || !objects.every(isResultFile)) {
    return undefined;
  }
  if (
    metrics === null ||
    typeof metrics !== "object" ||
    Array.isArray(metrics) ||
    !Object.values(metrics).every((t) => typeof t === "string")
  ) {
    return undefined;
  }
  return {
    objects: objects.map((o) => ({ key: o.key, size: o.size })),
    metrics: Object.fromEntries(Object.entries(metrics as Record<string, string>)),
  };
}

export function formatCacheEntry(key: string, entry: CachedFolder): string {
  return JSON.stringify({ v: CACHE_VERSION, key, ...entry });
}

/** Entries as files under `dir`; `scope` (e.g. the bucket) keeps stacks' entries apart. */
export function fileCache(dir: string, scope: string): ReportCache {
  return {
    scope,
    read(folder, key) {
      try {
        return parseCacheEntry(fs.readFileSync(cacheFile(dir, scope, folder), "utf8"), key);
      } catch {
        return undefined;
      }
    },
    write(folder, key, entry) {
      const file = cacheFile(dir, scope, folder);
      const tmp = `${file}.part-${process.pid}`;
      try {
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(tmp, formatCacheEntry(key, entry));
        fs.renameSync(tmp, file);
      } catch {
        fs.rmSync(tmp, { force: true });
      }
    },
  };
}
