/**
 * Where `jobs:report` reads runs from: Batch, S3 and the job log for the ledger's jobs, or
 * the local folder for `--locally` runs. Both give the same things, so the rows are built once.
 *
 * Reading is shaped for big sweeps: DescribeJobs takes 100 IDs per call and the calls run
 * in parallel (a 10,000-child sweep is 100 calls), results are listed with one
 * ListObjectsV2 pass per job or sweep (1,000 keys a page), metrics come from the job log's
 * lines where their MD5 is the listed ETag (metrics-log.ts: one call per 10,000), and the
 * other metrics files are fetched in parallel.
 */
import * as fs from "fs";
import * as path from "path";
import type { AwsClients, JobDetail } from "../aws/api";
import { DESCRIBE_BATCH } from "../aws/api";
import { FatalError, describeError } from "../errors";
import type { LedgerEntry } from "../state/ledger";
import { groupOf } from "../state/attempts";
import { readLocalRuns } from "../state/local-runs";
import { runPool, type PoolOutcome } from "../aws/pool";
import { parseManifest } from "../input/manifest";
import { searchWindow, textsFromLogs } from "./metrics-log";
import { childrenCacheKey, folderCacheKey, type ReportCache } from "../state/report-cache";
import {
  buildRow,
  groupResultFiles,
  latestRuns,
  metricsKeyOf,
  parseMetrics,
  rowKey,
  unitFromDetail,
  variableOf,
  type MetricValue,
  type ReportRow,
  type ResultFile,
  type RunUnit,
} from "./rows";
import type { Pricing } from "./prices";
import { listLocal } from "../commands/results";
import { TERMINAL, type Status } from "../status";
import type { ParameterSet } from "../input/sweep";
import { BUCKET_PREFIXES, VARS } from "../../components/contract";
import { definedOnly } from "../../components/defined";

interface Units {
  readonly units: RunUnit[];
  /** Names (results folders) that are sweeps: their files sit under <name>/<index>/. */
  readonly sweeps: ReadonlySet<string>;
  readonly warnings: string[];
}

export interface ReportSource {
  units(): Promise<Units>;
  /** Every object under results/<job>/. */
  listResults(job: string): Promise<ResultFile[]>;
  readText(key: string): Promise<string>;
  /**
   * Many small files at once, by ETag, for the files of `runs` (the AWS source: the metrics
   * lines of the job log, metrics-log.ts). What it does not return is read with readText.
   */
  textsByEtag?(
    etags: ReadonlySet<string>,
    runs: readonly RunUnit[],
  ): Promise<{ texts: Map<string, string>; warning?: string }>;
}

/** Calls in flight: DescribeJobs pages, listings, metrics files. */
const READ_CONCURRENCY = { describe: 10, list: 8, metrics: 32 } as const;

/** DescribeJobs for any number of IDs: pages of 100, `concurrency` in flight. */
async function describeAll(
  clients: AwsClients,
  ids: readonly string[],
  concurrency: number = READ_CONCURRENCY.describe,
): Promise<Map<string, JobDetail>> {
  const pages: string[][] = [];
  for (let i = 0; i < ids.length; i += DESCRIBE_BATCH) {
    pages.push(ids.slice(i, i + DESCRIBE_BATCH));
  }
  const outcomes = await runPool(pages, (p) => clients.batch.describeJobs(p), {
    concurrency,
    stopOnError: true,
  });
  const out = new Map<string, JobDetail>();
  for (const o of outcomes) {
    if (o.status === "rejected") {
      throw new FatalError(`DescribeJobs failed: ${describeError(o.reason)}`);
    }
    if (o.status === "fulfilled") {
      o.value.forEach((d) => d.jobId !== undefined && out.set(d.jobId, d));
    }
  }
  return out;
}

/**
 * A child Batch does not return: not created yet (its parent is still SUBMITTED), or
 * forgotten. It takes the parent's status, and a failed parent's reason.
 */
function missingChild(
  parent: JobDetail | undefined,
  entry: LedgerEntry,
  job: string,
  index: number,
  set: ParameterSet | undefined,
): RunUnit {
  const status = (parent?.status ?? "UNKNOWN") as Status;
  return {
    job,
    index,
    jobId: `${entry.jobId}:${index}`,
    status,
    ...(status === "FAILED" && parent?.statusReason !== undefined
      ? { reason: parent.statusReason }
      : {}),
    attempts: [],
    ...definedOnly({ createdAt: parent?.createdAt }),
    params: new Map(set ?? []),
  };
}

function setIndexOf(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

/**
 * The children of array jobs that have ended, from the cache: a parent SUCCEEDED or FAILED
 * once all its children completed (the CancelJob reference: "The array parent job is
 * canceled when all child jobs are completed"), and an ended child's details never change.
 */
function cachedChildren(
  entries: readonly LedgerEntry[],
  parents: ReadonlyMap<string, JobDetail>,
  cache: ReportCache | undefined,
): { keys: Map<string, string>; hits: Map<string, RunUnit[]> } {
  const keys = new Map<string, string>();
  const hits = new Map<string, RunUnit[]>();
  for (const e of cache !== undefined ? entries : []) {
    const parent = parents.get(e.jobId);
    const key =
      e.kind === "array" && parent?.status !== undefined
        ? childrenCacheKey(cache?.scope ?? "", e.jobId, parent.status)
        : undefined;
    if (key !== undefined) {
      keys.set(e.jobId, key);
      const hit = cache?.readChildren(e.jobId, key);
      if (hit !== undefined && hit.length > 0) {
        hits.set(e.jobId, hit);
      }
    }
  }
  return { keys, hits };
}

export function awsSource(
  entries: readonly LedgerEntry[],
  clients: AwsClients,
  bucket: string,
  cache?: ReportCache,
  logGroupName?: string,
): ReportSource {
  return {
    units: () => awsUnits(entries, clients, bucket, cache),
    listResults: (job) => clients.storage.listObjects(bucket, `${BUCKET_PREFIXES.results}${job}/`),
    readText: (key) => clients.storage.getText(bucket, key),
    ...(logGroupName !== undefined
      ? { textsByEtag: (etags, runs) => logTexts(clients, logGroupName, etags, runs) }
      : {}),
  };
}

/** The metrics lines of the stack's log group; a failure only means reading S3 instead. */
async function logTexts(
  clients: AwsClients,
  group: string,
  etags: ReadonlySet<string>,
  runs: readonly RunUnit[],
): Promise<{ texts: Map<string, string>; warning?: string }> {
  try {
    const window = searchWindow(runs, Date.now());
    return { texts: (await textsFromLogs(clients.logs, group, window, etags)).texts };
  } catch (err) {
    return {
      texts: new Map(),
      warning:
        `metrics files read from S3, one request each: FilterLogEvents on ${group} failed ` +
        `(${describeError(err)})`,
    };
  }
}

type Manifest = ReturnType<typeof parseManifest>;

/** The ledger's jobs as run units: parents, then children and manifests of unfinished arrays. */
async function awsUnits(
  entries: readonly LedgerEntry[],
  clients: AwsClients,
  bucket: string,
  cache: ReportCache | undefined,
): Promise<Units> {
  const warnings: string[] = [];
  const parents = await describeAll(
    clients,
    entries.map((e) => e.jobId),
  );
  const finished = cachedChildren(entries, parents, cache);
  const arrays = entries.filter((e) => e.kind === "array" && !finished.hits.has(e.jobId));
  const children = await describeAll(clients, childIds(arrays, parents));
  const manifests = await readManifests(arrays, parents, children, clients, bucket, warnings);
  const units: RunUnit[] = [];
  const sweeps = new Set<string>();
  for (const e of entries) {
    const parent = parents.get(e.jobId);
    const hit = finished.hits.get(e.jobId);
    if (e.kind !== "array") {
      const unit = plainUnit(e, parent);
      if (unit.index !== undefined) {
        sweeps.add(unit.job);
      }
      units.push(unit);
    } else if (hit !== undefined) {
      units.push(...hit);
      sweeps.add(hit[0].job);
    } else {
      const m = manifests.get(e) as PoolOutcome<Manifest>;
      if (m.status === "rejected") {
        warnings.push(
          `${e.jobName}: could not read its manifest (${describeError(m.reason)}); parameters left out`,
        );
      }
      const own = arrayUnits(e, parent, children, m.status === "fulfilled" ? m.value : undefined);
      units.push(...own.units);
      sweeps.add(own.job);
      const key = finished.keys.get(e.jobId);
      if (key !== undefined && own.whole) {
        cache?.writeChildren(e.jobId, key, own.units);
      }
    }
  }
  return { units, sweeps, warnings };
}

/** `<parent>:<i>` for every child of `arrays`, sized as Batch says, else as the ledger. */
function childIds(
  arrays: readonly LedgerEntry[],
  parents: ReadonlyMap<string, JobDetail>,
): string[] {
  return arrays.flatMap((e) => {
    const size = parents.get(e.jobId)?.arrayProperties?.size ?? e.arraySize ?? 0;
    return Array.from({ length: size }, (_, i) => `${e.jobId}:${i}`);
  });
}

/** Each array job's manifest, read once, in parallel; one that is not a manifest is warned of. */
async function readManifests(
  arrays: readonly LedgerEntry[],
  parents: ReadonlyMap<string, JobDetail>,
  children: ReadonlyMap<string, JobDetail>,
  clients: AwsClients,
  bucket: string,
  warnings: string[],
): Promise<Map<LedgerEntry, PoolOutcome<Manifest>>> {
  const outcomes = await runPool(
    arrays,
    async (e) => {
      const first = children.get(`${e.jobId}:0`) ?? parents.get(e.jobId);
      const key = e.manifest ?? variableOf(first, VARS.arrayManifest);
      if (key === undefined) {
        return undefined;
      }
      const parsed = parseManifest(await clients.storage.getText(bucket, key));
      if (parsed === undefined) {
        warnings.push(`s3://${bucket}/${key} is not a sweep manifest; parameters left out`);
      }
      return parsed;
    },
    { concurrency: READ_CONCURRENCY.list },
  );
  return new Map(arrays.map((e, i) => [e, outcomes[i]]));
}

/**
 * A plain job. One that ran one set of a sweep (a last chunk of one set, a retry of one set)
 * names its set number, so it is that set's row.
 */
function plainUnit(e: LedgerEntry, parent: JobDetail | undefined): RunUnit {
  const job = groupOf(e);
  const index = setIndexOf(variableOf(parent, VARS.setIndex));
  return parent !== undefined
    ? unitFromDetail(parent, { job, index })
    : { job, jobId: e.jobId, status: "UNKNOWN", attempts: [], params: new Map() };
}

/**
 * An array job's children, numbered as in its sweep; `whole` when Batch returned every child
 * and each has ended, whatever the parent says (only then are they cached).
 */
function arrayUnits(
  e: LedgerEntry,
  parent: JobDetail | undefined,
  children: ReadonlyMap<string, JobDetail>,
  manifest: Manifest,
): { job: string; units: RunUnit[]; whole: boolean } {
  const size = parent?.arrayProperties?.size ?? e.arraySize ?? 0;
  const job = groupOf(e);
  const units: RunUnit[] = [];
  let whole = manifest !== undefined && size > 0;
  for (let i = 0; i < size; i++) {
    const set = manifest?.sets[i];
    const index = manifest?.indexes?.[i] ?? i;
    const child = children.get(`${e.jobId}:${i}`);
    const unit =
      child !== undefined
        ? unitFromDetail(child, { job, index, set })
        : missingChild(parent, e, job, index, set);
    whole &&= child !== undefined && TERMINAL.has(unit.status);
    units.push(unit);
  }
  return { job, units, whole };
}

/** `--locally`: the runs recorded in the local folder, filtered like the ledger's jobs. */
export function localSource(
  root: string,
  filter: { names: readonly string[]; last: boolean },
): ReportSource {
  return {
    async units() {
      const { records, skipped } = readLocalRuns(root);
      const warnings =
        skipped > 0 ? [`skipped ${skipped} unreadable line(s) in ${root}/.runs.jsonl`] : [];
      let chosen = records;
      if (filter.names.length > 0) {
        const known = new Set(records.map((r) => r.job));
        const missing = filter.names.filter((n) => !known.has(n));
        if (missing.length > 0) {
          throw new FatalError(
            `no local runs of ${missing.join(", ")} in ${root}; run them with ` +
              "npm run jobs:submit -- --locally FILE, or pass --local-root",
          );
        }
        chosen = chosen.filter((r) => filter.names.includes(r.job));
      }
      if (filter.last && chosen.length > 0) {
        const run = chosen.reduce((m, r) => (r.run > m ? r.run : m), "");
        chosen = chosen.filter((r) => r.run === run);
      }
      const sweeps = new Set(chosen.filter((r) => r.index !== undefined).map((r) => r.job));
      const units = chosen.map((r): RunUnit => ({
        job: r.job,
        ...definedOnly({ index: r.index }),
        jobId: `local:${r.run}`,
        status: r.exitCode === 0 ? "SUCCEEDED" : "FAILED",
        ...(r.reason !== undefined
          ? { reason: r.reason }
          : r.signal !== null
            ? { reason: `stopped by ${r.signal}` }
            : {}),
        ...(r.exitCode !== null ? { exitCode: r.exitCode } : {}),
        attempts: [{ startedAt: r.startedAt, stoppedAt: r.stoppedAt }],
        createdAt: r.createdAt,
        startedAt: r.startedAt,
        stoppedAt: r.stoppedAt,
        ...definedOnly({ vcpus: r.vcpus, memoryMiB: r.memoryMiB, gpus: r.gpus }),
        // Own properties of the parsed line: a parameter named __proto__ stays a parameter.
        params: new Map(Object.entries(r.params)),
      }));
      return { units, sweeps, warnings };
    },
    async listResults(job) {
      return listLocal(root, [path.join("results", job)]);
    },
    readText: (key) => fs.promises.readFile(path.join(root, ...key.split("/")), "utf8"),
  };
}

/** A results folder's files and the metrics texts read from it, fresh or from the cache. */
interface FolderReads {
  readonly objects: ResultFile[];
  /** Metrics key to its text; a cached folder has every text it needs already. */
  readonly texts: Map<string, string>;
  /** The cache key to store the folder under once read (undefined: unfinished, or a hit). */
  readonly storeKey?: string;
  /** A listing or a metrics file could not be read: nothing of this folder is stored. */
  failed: boolean;
}

/** Step 1: each folder from the cache when every run writing into it has finished, else listed. */
async function listFolders(
  source: ReportSource,
  units: readonly RunUnit[],
  jobs: readonly string[],
  warnings: string[],
  cache: ReportCache | undefined,
): Promise<Map<string, FolderReads>> {
  const runsOf = new Map<string, RunUnit[]>();
  for (const u of units) {
    const runs = runsOf.get(u.job) ?? [];
    runs.push(u);
    runsOf.set(u.job, runs);
  }
  const out = new Map<string, FolderReads>();
  const toList: { job: string; key?: string }[] = [];
  for (const job of jobs) {
    const key =
      cache !== undefined ? folderCacheKey(cache.scope, job, runsOf.get(job) ?? []) : undefined;
    const hit = key !== undefined ? cache?.readFolder(job, key) : undefined;
    if (hit !== undefined) {
      out.set(job, {
        objects: [...hit.objects],
        texts: new Map(Object.entries(hit.metrics)),
        failed: false,
      });
    } else {
      toList.push({ job, key });
    }
  }
  const listed = await runPool(toList, (t) => source.listResults(t.job), {
    concurrency: READ_CONCURRENCY.list,
  });
  listed.forEach((o, i) => {
    const { job, key } = toList[i];
    if (o.status === "rejected") {
      warnings.push(`${job}: could not list its results (${describeError(o.reason)})`);
    }
    out.set(job, {
      objects: o.status === "fulfilled" ? o.value : [],
      texts: new Map(),
      ...definedOnly({ storeKey: key }),
      failed: o.status !== "fulfilled",
    });
  });
  return out;
}

/** What step 2 reads: row i's metrics key, its run and its ETag, and where texts go. */
interface MetricsWanted {
  readonly keys: readonly (string | undefined)[];
  readonly runs: readonly RunUnit[];
  readonly etagOf: ReadonlyMap<string, string | undefined>;
  readonly folderOf: (i: number) => FolderReads;
}

/**
 * Step 2a: the texts the source has in bulk (the log's metrics lines), each checked by
 * the listed ETag. Returns the rows still to read one by one.
 */
async function bulkMetrics(
  source: ReportSource,
  w: MetricsWanted,
  missing: readonly number[],
  warnings: string[],
): Promise<number[]> {
  const etags = new Set(missing.flatMap((i) => w.etagOf.get(w.keys[i] as string) ?? []));
  if (source.textsByEtag === undefined || etags.size === 0) {
    return [...missing];
  }
  const bulk = await source.textsByEtag(
    etags,
    missing.map((i) => w.runs[i]),
  );
  if (bulk.warning !== undefined) {
    warnings.push(bulk.warning);
  }
  return missing.filter((i) => {
    const key = w.keys[i] as string;
    const text = bulk.texts.get(w.etagOf.get(key) ?? "");
    if (text !== undefined) {
      w.folderOf(i).texts.set(key, text);
    }
    return text === undefined;
  });
}

/**
 * Step 2: the metrics.json texts not already known: in bulk where the source can, the rest
 * `READ_CONCURRENCY.metrics` in flight.
 */
async function readMetrics(
  source: ReportSource,
  w: MetricsWanted,
  warnings: string[],
): Promise<Map<number, PoolOutcome<string>>> {
  const { keys, folderOf } = w;
  const wanted = keys.flatMap((k, i) => (k !== undefined ? [i] : []));
  const unknown = wanted.filter((i) => !folderOf(i).texts.has(keys[i] as string));
  const missing = await bulkMetrics(source, w, unknown, warnings);
  const read = await runPool(missing, (i) => source.readText(keys[i] as string), {
    concurrency: READ_CONCURRENCY.metrics,
  });
  const out = new Map<number, PoolOutcome<string>>();
  for (const i of wanted) {
    const text = folderOf(i).texts.get(keys[i] as string);
    if (text !== undefined) {
      out.set(i, { status: "fulfilled", value: text });
    }
  }
  read.forEach((o, n) => {
    const i = missing[n];
    out.set(i, o);
    const folder = folderOf(i);
    if (o.status === "fulfilled") {
      folder.texts.set(keys[i] as string, o.value);
    } else {
      folder.failed = true;
    }
  });
  return out;
}

/** Step 3: folders read whole, whose runs have all finished, go into the cache. */
function storeFolders(folders: ReadonlyMap<string, FolderReads>, store: ReportCache): void {
  for (const [job, f] of folders) {
    if (f.storeKey !== undefined && !f.failed) {
      store.writeFolder(job, f.storeKey, {
        objects: f.objects,
        metrics: Object.fromEntries(f.texts),
      });
    }
  }
}

/**
 * Units to rows: latest run per set, one listing per job or sweep, metrics in parallel.
 * With a cache, finished folders are read from it and stored in it.
 */
export async function collectRows(
  source: ReportSource,
  pricing: Pricing,
  now: number,
  cache?: ReportCache,
): Promise<{ rows: ReportRow[]; warnings: string[] }> {
  const { units, sweeps, warnings } = await source.units();
  const latest = latestRuns(units);
  const jobs = [...new Set(latest.map((l) => l.unit.job))];
  const folders = await listFolders(source, units, jobs, warnings, cache);
  const objects = [...folders.values()].flatMap((f) => f.objects);
  const files = groupResultFiles(objects, (j) => sweeps.has(j));
  const filesOf = (u: RunUnit): ResultFile[] => files.get(rowKey(u.job, u.index)) ?? [];
  const metricKeys = latest.map((l) => metricsKeyOf(filesOf(l.unit)));
  const read = await readMetrics(
    source,
    {
      keys: metricKeys,
      runs: latest.map((l) => l.unit),
      etagOf: new Map(objects.map((o) => [o.key, o.etag])),
      folderOf: (i) => folders.get(latest[i].unit.job) as FolderReads,
    },
    warnings,
  );
  const metrics = new Map<number, ReadonlyMap<string, MetricValue>>();
  let badMetrics = 0;
  let firstBad = "";
  [...read.keys()]
    .sort((a, b) => a - b)
    .forEach((i) => {
      const o = read.get(i) as PoolOutcome<string>;
      const problem =
        o.status === "fulfilled"
          ? (() => {
              const parsed = parseMetrics(o.value);
              metrics.set(i, parsed.metrics);
              return parsed.problem;
            })()
          : o.status === "rejected"
            ? `could not be read (${describeError(o.reason)})`
            : undefined;
      if (problem !== undefined) {
        badMetrics++;
        firstBad ||= `${metricKeys[i]}: ${problem}`;
      }
    });
  if (badMetrics > 0) {
    warnings.push(
      `${firstBad}` + (badMetrics > 1 ? ` (and ${badMetrics - 1} more metrics files)` : ""),
    );
  }
  if (cache !== undefined) {
    storeFolders(folders, cache);
  }
  const rows = latest.map((l, i) =>
    buildRow(l, filesOf(l.unit), metrics.get(i) ?? new Map(), pricing, now),
  );
  return { rows, warnings };
}
