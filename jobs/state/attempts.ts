/**
 * Which run is each set's latest: a set (or a job) may have run in the first run or a chunk
 * of it, then in retries (`<name>-r<n>`). Pure, apart from `readCovers`.
 */
import type { AwsClients, JobDetail } from "../aws/api";
import { CHUNK_SIZE } from "../input/chunks";
import type { LedgerEntry } from "./ledger";
import { runPool } from "../aws/pool";
import { VARS } from "../../components/contract";
import { runsPerSet } from "../status";

/**
 * The sets one run covers: child i of an array runs set `first + i` (the first run, a chunk)
 * or `indexes[i]` (a retry); a plain job runs `indexes[0]`, or is a single job, not a set.
 */
export type Cover =
  | { readonly kind: "job" }
  | { readonly kind: "range"; readonly first: number; readonly count: number }
  | { readonly kind: "list"; readonly indexes: readonly number[] };

/** One run of a set (or job): the entry, and the child that ran it in an array. */
export interface Attempt {
  readonly entry: LedgerEntry;
  readonly child?: number;
}

/** A run of a set, as Batch knows it: `<jobId>:<child>` for an array child. */
export function attemptJobId(a: Attempt): string {
  return a.child !== undefined ? `${a.entry.jobId}:${a.child}` : a.entry.jobId;
}

const RETRY = /^-r(\d+)(?:-c\d+)?$/;
const CHUNK = /^-c(\d+)$/;

/** The sweep or job an entry is a run of. */
export function groupOf(e: LedgerEntry): string {
  return e.of ?? e.jobName;
}

export function isRetryEntry(e: LedgerEntry): boolean {
  return retryNumber(e) !== undefined;
}

/** n of a retry `<of>-r<n>` (or of a chunk of one); undefined for any other entry. */
export function retryNumber(e: LedgerEntry): number | undefined {
  const m =
    e.of !== undefined && e.jobName.startsWith(e.of)
      ? RETRY.exec(e.jobName.slice(e.of.length))
      : null;
  return m !== null ? Number(m[1]) : undefined;
}

/** What a retry's cover is read from. */
export interface Known {
  readonly indexes?: readonly number[];
  readonly setIndex?: number;
}

/**
 * What an entry covers: the first run and its chunks by their numbers; a retry by what
 * `known` read. Undefined when that is not known (not described yet).
 */
export function coverOf(e: LedgerEntry, known: Known | undefined): Cover | undefined {
  const chunk = e.of !== undefined ? CHUNK.exec(e.jobName.slice(e.of.length)) : null;
  if (!isRetryEntry(e)) {
    const first =
      chunk !== null && e.jobName.startsWith(e.of ?? "") ? Number(chunk[1]) * CHUNK_SIZE : 0;
    if (e.kind === "array") {
      return { kind: "range", first, count: e.arraySize ?? 0 };
    }
    return chunk !== null ? { kind: "list", indexes: [first] } : setOrJob(known);
  }
  if (e.kind === "array") {
    return known?.indexes !== undefined ? { kind: "list", indexes: known.indexes } : undefined;
  }
  return known !== undefined ? setOrJob(known) : undefined;
}

function setOrJob(known: Known | undefined): Cover {
  return known?.setIndex !== undefined
    ? { kind: "list", indexes: [known.setIndex] }
    : { kind: "job" };
}

/** `""` for a job. */
type SetKey = number | "";

/** Child index by set number of a list cover, built once: a retry may rerun 100,000 sets. */
const positionsOf = new WeakMap<Cover, Map<number, number>>();
function positions(cover: Cover & { kind: "list" }): Map<number, number> {
  let map = positionsOf.get(cover);
  if (map === undefined) {
    map = new Map(cover.indexes.map((set, i) => [set, i]));
    positionsOf.set(cover, map);
  }
  return map;
}

/** The child of `cover` that runs `set`, if it does. */
function childFor(cover: Cover, set: SetKey, array: boolean): { child?: number } | undefined {
  if (cover.kind === "job") {
    return set === "" ? {} : undefined;
  }
  if (set === "") {
    return undefined;
  }
  const i = cover.kind === "range" ? set - cover.first : (positions(cover).get(set) ?? -1);
  const count = cover.kind === "range" ? cover.count : cover.indexes.length;
  if (i < 0 || i >= count) {
    return undefined;
  }
  return array ? { child: i } : {};
}

/** Every run of `set` ("" for a job) in `group`, first to latest, whose cover is known. */
export function attemptsOf(
  entries: readonly LedgerEntry[],
  covers: ReadonlyMap<string, Cover>,
  group: string,
  set: SetKey,
): Attempt[] {
  const mine = entries.filter((x) => groupOf(x) === group);
  // In the order they were submitted (ledger order breaks ties).
  const byTime = (a: Attempt): string => a.entry.submittedAt;
  return runsPerSet(runsIn(mine, covers, set), () => "", byTime)[0] ?? [];
}

/** The runs of `set` among one group's `entries`, in ledger order. */
function runsIn(
  entries: readonly LedgerEntry[],
  covers: ReadonlyMap<string, Cover>,
  set: SetKey,
): Attempt[] {
  const out: Attempt[] = [];
  for (const e of entries) {
    const cover = covers.get(e.jobId);
    const at = cover !== undefined ? childFor(cover, set, e.kind === "array") : undefined;
    if (at !== undefined) {
      out.push({ entry: e, ...at });
    }
  }
  return out;
}

/**
 * The runs a later run of the same set replaced (watch and status leave them out); only the
 * sets a retry covers are looked at.
 */
export function supersededAttempts(
  entries: readonly LedgerEntry[],
  covers: ReadonlyMap<string, Cover>,
): { attempts: Attempt[]; sets: number; jobs: number } {
  const runs: { attempt: Attempt; set: string; job: boolean }[] = [];
  for (const group of new Set(entries.filter(isRetryEntry).map(groupOf))) {
    const mine = entries.filter((x) => groupOf(x) === group);
    for (const key of retriedSets(mine, covers)) {
      const set = `${group}\0${key}`;
      runsIn(mine, covers, key).forEach((attempt) => runs.push({ attempt, set, job: key === "" }));
    }
  }
  const byTime = (r: (typeof runs)[number]): string => r.attempt.entry.submittedAt;
  const replaced = runsPerSet(runs, (r) => r.set, byTime).filter((list) => list.length > 1);
  return {
    attempts: replaced.flatMap((list) => list.slice(0, -1).map((r) => r.attempt)),
    sets: replaced.filter((list) => !list[0].job).length,
    jobs: replaced.filter((list) => list[0].job).length,
  };
}

/** The sets the retries among one group's entries cover ("" for a retried single job). */
function retriedSets(
  entries: readonly LedgerEntry[],
  covers: ReadonlyMap<string, Cover>,
): Set<SetKey> {
  const keys = new Set<SetKey>();
  for (const e of entries.filter(isRetryEntry)) {
    const cover = covers.get(e.jobId);
    if (cover?.kind === "job") {
      keys.add("");
    } else if (cover?.kind === "list") {
      cover.indexes.forEach((i) => keys.add(i));
    }
  }
  return keys;
}

/**
 * Covers of `entries`, reading each retry array's manifest and each plain job's set index
 * where the ledger does not say them; `cache` keeps what was read across polls.
 */
export async function readCovers(
  entries: readonly LedgerEntry[],
  details: ReadonlyMap<string, JobDetail>,
  clients: AwsClients,
  bucket: string | undefined,
  cache: Map<string, Known>,
): Promise<Map<string, Cover>> {
  const wanted = entries.filter(
    (e) => !cache.has(e.jobId) && details.has(e.jobId) && (isRetryEntry(e) || e.kind !== "array"),
  );
  // Loaded only when a retry is in view: logs and watch of plain jobs need neither.
  const { variableOf } = await import("../report/rows");
  const { parseManifest } = await import("../input/manifest");
  // Older ledgers name no manifest: a child carries the array's environment for sure.
  const arrays = wanted.filter((e) => e.kind === "array" && e.manifest === undefined);
  const firstChildren = new Map<string, JobDetail>();
  for (const d of await clients.batch.describeJobs(arrays.map((e) => `${e.jobId}:0`))) {
    firstChildren.set(d.jobId ?? "", d);
  }
  await runPool(
    wanted,
    async (e) => {
      if (e.kind !== "array") {
        const v = variableOf(details.get(e.jobId), VARS.setIndex);
        cache.set(e.jobId, v !== undefined && /^\d+$/.test(v) ? { setIndex: Number(v) } : {});
        return;
      }
      const d = firstChildren.get(`${e.jobId}:0`) ?? details.get(e.jobId);
      const key = e.manifest ?? variableOf(d, VARS.arrayManifest);
      if (key === undefined || bucket === undefined) {
        return;
      }
      const m = parseManifest(await clients.storage.getText(bucket, key));
      if (m?.indexes !== undefined) {
        cache.set(e.jobId, { indexes: m.indexes });
      }
    },
    { concurrency: 8 },
  );
  const covers = new Map<string, Cover>();
  for (const e of entries) {
    const cover = coverOf(e, cache.get(e.jobId));
    if (cover !== undefined) {
      covers.set(e.jobId, cover);
    }
  }
  return covers;
}
