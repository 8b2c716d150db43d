/** Which run is each set's latest: the first run or a chunk of it, then retries (`<name>-r<n>`). */
import type { AwsClients, JobDetail, StorageApi } from "../aws/api";
import { describeError } from "../errors";
import type { Manifest } from "../input/manifest";
import { CHUNK_SIZE } from "../input/derived-names";
import type { LedgerEntry } from "./ledger";
import { runAll } from "../aws/pool";
import { VARS } from "../../components/contract";
import { groupOf, runsPerSet, variableOf } from "../status";
import { definedOnly } from "../../components/defined";

/** `""` for a single job. */
type SetKey = number | "";

/** Each set a run covers, with the array child that runs it (a plain job: none). */
export type Cover = ReadonlyMap<SetKey, number | undefined>;

/** A run of a set: a plain job, or the array child that ran it. */
export type Attempt = ReturnType<typeof attemptsOf>[number];

export function attemptJobId(a: Attempt): string {
  return a.child !== undefined ? `${a.entry.jobId}:${a.child}` : a.entry.jobId;
}

export function isRetryEntry(e: LedgerEntry): boolean {
  return retryNumber(e) !== undefined;
}

function suffixMatch(e: LedgerEntry, pattern: RegExp): RegExpExecArray | null {
  return e.of !== undefined && e.jobName.startsWith(e.of)
    ? pattern.exec(e.jobName.slice(e.of.length))
    : null;
}

/** n of a retry `<of>-r<n>` (or of a chunk of one). */
export function retryNumber(e: LedgerEntry): number | undefined {
  const m = suffixMatch(e, /^-r(\d+)(?:-c\d+)?$/);
  return m !== null ? Number(m[1]) : undefined;
}

type Known = { readonly indexes?: readonly number[]; readonly setIndex?: number } | undefined;

const childrenOf = (sets: readonly number[]): Cover => new Map(sets.map((set, i) => [set, i]));

/** A retry's cover is what `known` read; undefined while it is not known. */
export function coverOf(e: LedgerEntry, known: Known): Cover | undefined {
  if (isRetryEntry(e) && e.kind === "array") {
    return known?.indexes && childrenOf(known.indexes);
  }
  if (isRetryEntry(e) && known === undefined) {
    return undefined;
  }
  const chunk = suffixMatch(e, /^-c(\d+)$/);
  const first = chunk !== null ? Number(chunk[1]) * CHUNK_SIZE : 0;
  if (e.kind === "array") {
    return childrenOf(Array.from({ length: e.arraySize ?? 0 }, (_, i) => first + i));
  }
  return new Map([[chunk !== null ? first : (known?.setIndex ?? ""), undefined]]);
}

export function attemptsOf(
  entries: readonly LedgerEntry[],
  covers: ReadonlyMap<string, Cover>,
  group: string,
  set: SetKey,
) {
  const runs = entries.flatMap((entry) => {
    const cover = covers.get(entry.jobId);
    return groupOf(entry) !== group || cover?.has(set) !== true
      ? []
      : [{ entry, ...definedOnly({ child: cover.get(set) }) }];
  });
  const submitted = (a: { entry: LedgerEntry }) => a.entry.submittedAt;
  return runsPerSet(runs, () => "", submitted)[0] ?? [];
}

/**
 * The runs a later run of the same set replaced (watch and status leave them out); by retry
 * array, the set each child runs.
 */
export function supersededAttempts(
  entries: readonly LedgerEntry[],
  covers: ReadonlyMap<string, Cover>,
) {
  const attempts: Attempt[] = [];
  const counts = { sets: 0, jobs: 0 };
  for (const group of new Set(entries.filter(isRetryEntry).map(groupOf))) {
    const mine = entries.filter((x) => groupOf(x) === group);
    const retried = new Set(
      mine.filter(isRetryEntry).flatMap((e) => [...(covers.get(e.jobId)?.keys() ?? [])]),
    );
    for (const set of retried) {
      const runs = attemptsOf(mine, covers, group, set);
      if (runs.length > 1) {
        attempts.push(...runs.slice(0, -1));
        counts[set === "" ? "jobs" : "sets"]++;
      }
    }
  }
  const setNumbers = new Map(
    entries.flatMap((e) => {
      const cover = covers.get(e.jobId);
      return e.kind === "array" && isRetryEntry(e) && cover !== undefined
        ? [[e.jobName, [...cover.keys()].filter((k): k is number => k !== "")] as const]
        : [];
    }),
  );
  return { attempts, ...counts, setNumbers };
}

/** Reads a retry array's manifest or a plain job's set index where the ledger lacks them. */
export async function readCovers(
  entries: readonly LedgerEntry[],
  details: ReadonlyMap<string, JobDetail>,
  clients: AwsClients,
  bucket: string | undefined,
  cache: Map<string, Cover>,
): Promise<Map<string, Cover>> {
  const wanted = entries.filter((e) => !cache.has(e.jobId));
  // Older ledgers name no manifest: a child carries the array's environment for sure.
  const unnamed = wanted.filter((e) => e.kind === "array" && e.manifest === undefined);
  const firsts = unnamed.filter(isRetryEntry).map((e) => `${e.jobId}:0`);
  const described = await clients.batch.describeJobs(firsts);
  const firstChildren = new Map(described.map((d) => [d.jobId ?? "", d]));
  const read = async (e: LedgerEntry): Promise<Known> => {
    const detail = details.get(e.jobId);
    if (e.kind !== "array") {
      const v = variableOf(detail, VARS.setIndex) ?? "";
      return detail && (/^\d+$/.test(v) ? { setIndex: Number(v) } : {});
    }
    if (!isRetryEntry(e) || bucket === undefined) {
      return undefined;
    }
    const first = firstChildren.get(`${e.jobId}:0`) ?? detail;
    const { manifest } = await readManifest(e, first, clients.storage, bucket);
    return { indexes: manifest?.indexes };
  };
  // A manifest not read leaves its retry without a cover, as one not described yet.
  const known = await runAll(wanted, read, 8);
  wanted.forEach((e, i) => {
    const cover = coverOf(e, known[i]);
    if (cover !== undefined) {
      cache.set(e.jobId, cover);
    }
  });
  return cache;
}

/** Named by the ledger, or else by the first child's (or its own) environment. */
export async function readManifest(
  e: LedgerEntry,
  first: JobDetail | undefined,
  storage: StorageApi,
  bucket: string,
): Promise<{ manifest?: Manifest; warning?: string }> {
  const { parseManifest } = await import("../input/manifest");
  const key = e.manifest ?? variableOf(first, VARS.arrayManifest);
  if (key === undefined) {
    return {};
  }
  let text: string;
  try {
    text = await storage.getText(bucket, key);
  } catch (err) {
    const why = describeError(err);
    return { warning: `${e.jobName}: could not read its manifest (${why}); parameters left out` };
  }
  const manifest = parseManifest(text);
  return manifest !== undefined
    ? { manifest }
    : { warning: `s3://${bucket}/${key} is not a sweep manifest; parameters left out` };
}
