/** Where `jobs:report` reads runs from: Batch, S3 and the job log, or the `--locally` folder. */
import * as fs from "fs";
import * as path from "path";
import { createHash } from "crypto";
import type { AwsClients, JobDetail, LogsApi, Unavailable } from "../aws/api";
import { FatalError, describeError } from "../errors";
import type { LedgerEntry } from "../state/ledger";
import { readManifest } from "../state/attempts";
import { withTaskTimes } from "../state/ecs-tasks";
import { listLocal, readLocalRuns, type LocalRunRecord } from "../state/local-runs";
import { runAll } from "../aws/pool";
import type { Manifest } from "../input/manifest";
import { jsonValue } from "../input/json-source";
import {
  buildRow,
  groupResultFiles,
  latestRuns,
  metricsKeyOf,
  parseMetrics,
  sortRows,
  summarizeRows,
  unitFromDetail,
  type ResultFile,
  type RunUnit,
} from "./rows";
import type { Pricing } from "./prices";
import { describeById, ofLastRun } from "../context";
import { unavailableLine } from "../output/status-print";
import { asStatus, groupOf, pipelineOf, rowName, variableOf } from "../status";
import { BUCKET_PREFIXES, METRICS, VARS } from "../../components/contract";
import { definedOnly } from "../../components/defined";

export interface ReportSource {
  units(): Promise<{ readonly units: RunUnit[]; readonly warnings: string[] }>;
  listResults(job: string): Promise<ResultFile[]>;
  readText(key: string): Promise<string>;
  /** Many small files at once, by ETag (the job log's metrics lines); the rest use readText. */
  textsByEtag?(
    etags: ReadonlySet<string>,
    runs: readonly RunUnit[],
  ): Promise<{ texts: Map<string, string>; warning?: string }>;
}

const READ_CONCURRENCY = { list: 8, metrics: 32 } as const;

/*
 * A sweep's metrics from the job log, where the entrypoint prints each uploaded metrics.json: one
 * FilterLogEvents page holds thousands. A line counts only when its MD5 is the object's ETag (the
 * MD5 of a single-part upload, unencrypted or SSE-S3); the rest come from S3.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html
 */

/** Past this, the rest of the files come from S3. */
const MAX_PAGES = 100;
/** A line's timestamp is when the container wrote it. */
const SLACK_MS = 5 * 60 * 1000;

export function metricsLineText(message: string): string | undefined {
  if (!message.startsWith(METRICS.logLinePrefix)) {
    return undefined;
  }
  const rest = message.slice(METRICS.logLinePrefix.length);
  const text = rest.startsWith('"') ? jsonValue(rest)?.value : rest;
  return typeof text === "string" ? text : undefined;
}

export function searchWindow(
  runs: readonly { createdAt?: number; startedAt?: number; stoppedAt?: number }[],
  now: number,
): { startTime: number; endTime: number } {
  // A loop, not Math.min(...runs): spreading a large sweep's runs overflows the call stack.
  let first = Infinity;
  let last = -Infinity;
  for (const run of runs) {
    first = Math.min(first, run.createdAt ?? run.startedAt ?? now);
    last = Math.max(last, run.stoppedAt ?? now);
  }
  // The end is not capped at `now`: a local clock behind AWS's would then miss the last lines.
  return { startTime: first - SLACK_MS, endTime: last + SLACK_MS };
}

/** By ETag, until each has its text. */
export async function textsFromLogs(
  logs: LogsApi,
  logGroupName: string,
  window: { startTime: number; endTime: number },
  etags: ReadonlySet<string>,
): Promise<{ texts: Map<string, string> }> {
  const texts = new Map<string, string>();
  // A term in double quotes matches that exact phrase (CloudWatch Logs filter pattern syntax).
  const filterPattern = `"${METRICS.logLinePrefix.trim()}"`;
  let nextToken: string | undefined;
  let calls = 0;
  do {
    const page = await logs.filterLogEvents({ logGroupName, filterPattern, ...window, nextToken });
    calls++;
    for (const text of page.events.flatMap((e) => metricsLineText(e.message ?? "") ?? [])) {
      const etag = createHash("md5").update(text, "utf8").digest("hex");
      if (etags.has(etag)) {
        texts.set(etag, text);
      }
    }
    nextToken = page.nextToken;
  } while (nextToken !== undefined && texts.size < etags.size && calls < MAX_PAGES);
  return { texts };
}

export function awsSource(
  entries: readonly LedgerEntry[],
  clients: AwsClients,
  bucket: string,
  logGroupName?: string,
  taskStore?: string,
): ReportSource {
  return {
    units: () => awsUnits(entries, clients, bucket, taskStore),
    listResults: (job) => clients.storage.listObjects(bucket, `${BUCKET_PREFIXES.results}${job}/`),
    readText: (key) => clients.storage.getText(bucket, key),
    // The metrics lines of the stack's log group; a failure only means reading S3 instead.
    textsByEtag: async (etags, runs) => {
      if (logGroupName === undefined || etags.size === 0) {
        return { texts: new Map() };
      }
      const window = searchWindow(runs, Date.now());
      return textsFromLogs(clients.logs, logGroupName, window, etags).catch((err: unknown) => ({
        texts: new Map(),
        warning:
          `metrics files read from S3, one request each: FilterLogEvents on ${logGroupName} ` +
          `failed (${describeError(err)})`,
      }));
    },
  };
}

async function awsUnits(
  entries: readonly LedgerEntry[],
  clients: AwsClients,
  bucket: string,
  taskStore: string | undefined,
) {
  const parents = await describeById(
    clients,
    entries.map((e) => e.jobId),
  );
  const size = (e: LedgerEntry): number =>
    parents.get(e.jobId)?.arrayProperties?.size ?? e.arraySize ?? 0;
  const arrays = entries.filter((e) => e.kind === "array");
  const children = await describeById(
    clients,
    arrays.flatMap((e) => Array.from({ length: size(e) }, (_, i) => `${e.jobId}:${i}`)),
  );
  const read = (e: LedgerEntry) =>
    readManifest(e, children.get(`${e.jobId}:0`) ?? parents.get(e.jobId), clients.storage, bucket);
  const manifests = await runAll(arrays, read, READ_CONCURRENCY.list);
  const manifestOf = new Map(arrays.map((e, i) => [e, manifests[i].manifest]));
  const warnings = manifests.flatMap((r) => (r.warning !== undefined ? [r.warning] : []));
  const { order, after } = pipelineOf(entries, parents);
  const units = order.flatMap(({ item: e }) => {
    const own = unitsOf(e, parents.get(e.jobId), size(e), children, manifestOf.get(e));
    const names = after.get(e.jobId);
    return names !== undefined ? own.map((u) => ({ ...u, after: names })) : own;
  });
  if (taskStore === undefined) {
    return { units, warnings };
  }
  const unavailable: Unavailable[] = [];
  const timed = await withTaskTimes(units, clients.ecs, taskStore, unavailable);
  const split = unavailable.map((u) => `placement, image pull and start ${unavailableLine(u)}`);
  return { units: timed, warnings: [...warnings, ...split] };
}

/**
 * A plain job, or an array job's children; a child Batch does not return takes the parent's
 * status and reason. A plain job that ran one set of a sweep (a chunk, a retry) names it.
 */
function unitsOf(
  e: LedgerEntry,
  parent: JobDetail | undefined,
  size: number,
  children: ReadonlyMap<string, JobDetail>,
  manifest: Manifest | undefined,
): RunUnit[] {
  const job = groupOf(e);
  const status = asStatus(parent?.status);
  const unlisted = (jobId: string, index?: number, set?: Manifest["sets"][number]): RunUnit =>
    definedOnly({
      job,
      index,
      jobId,
      status,
      reason: status === "FAILED" ? parent?.statusReason : undefined,
      attempts: [],
      createdAt: parent?.createdAt,
      params: new Map(set ?? []),
    });
  if (e.kind !== "array") {
    const set = variableOf(parent, VARS.setIndex);
    const index = set !== undefined && /^\d+$/.test(set) ? Number(set) : undefined;
    return [parent !== undefined ? unitFromDetail(parent, { job, index }) : unlisted(e.jobId)];
  }
  return Array.from({ length: size }, (_, i) => {
    const set = manifest?.sets[i];
    const index = manifest?.indexes?.[i] ?? i;
    const child = children.get(`${e.jobId}:${i}`);
    return child !== undefined
      ? unitFromDetail(child, { job, index, set })
      : unlisted(`${e.jobId}:${i}`, index, set);
  });
}

export function localSource(
  root: string,
  filter: { names: readonly string[]; last: boolean },
): ReportSource {
  return {
    async units() {
      const { records, skipped } = readLocalRuns(root);
      const warnings =
        skipped > 0 ? [`skipped ${skipped} unreadable line(s) in ${root}/.runs.jsonl`] : [];
      const missing = filter.names.filter((n) => !records.some((r) => r.job === n));
      if (missing.length > 0) {
        throw new FatalError(
          `no local runs of ${missing.join(", ")} in ${root}; run them with ` +
            "npm run jobs:submit -- --locally FILE, or pass --local-root",
        );
      }
      const chosen =
        filter.names.length > 0 ? records.filter((r) => filter.names.includes(r.job)) : records;
      return { units: (filter.last ? ofLastRun(chosen) : chosen).map(localUnit), warnings };
    },
    listResults: async (job) => listLocal(root, [path.join("results", job)]),
    readText: (key) => fs.promises.readFile(path.join(root, ...key.split("/")), "utf8"),
  };
}

function localUnit(r: LocalRunRecord): RunUnit {
  return definedOnly({
    job: r.job,
    index: r.index,
    jobId: `local:${r.run}`,
    status: r.exitCode === 0 ? ("SUCCEEDED" as const) : ("FAILED" as const),
    reason: r.reason ?? (r.signal !== null ? `stopped by ${r.signal}` : undefined),
    exitCode: r.exitCode ?? undefined,
    attempts: [{ startedAt: r.startedAt, stoppedAt: r.stoppedAt }],
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    stoppedAt: r.stoppedAt,
    vcpus: r.vcpus,
    memoryMiB: r.memoryMiB,
    gpus: r.gpus,
    // Own properties of the parsed line: a parameter named __proto__ stays a parameter.
    params: new Map(Object.entries(r.params)),
  });
}

export type Report = Awaited<ReturnType<typeof collectReport>>;

export async function collectReport(
  source: ReportSource,
  prices: Pricing,
  /** `localFolder`: --locally, the runs' folder as shown (where their logs are). */
  seen: { readonly source: string; readonly localFolder?: string },
) {
  const now = Date.now();
  const { units, warnings } = await source.units();
  const latest = latestRuns(units);
  // A sweep's results sit under <name>/<index>/: every run of it has a set number.
  const sweeps = new Set(units.filter((u) => u.index !== undefined).map((u) => u.job));
  const list = (job: string): Promise<ResultFile[]> =>
    source.listResults(job).catch((err: unknown) => {
      warnings.push(`${job}: could not list its results (${describeError(err)})`);
      return [];
    });
  const jobs = [...new Set(latest.map((l) => l.unit.job))];
  const objects = (await runAll(jobs, list, READ_CONCURRENCY.list)).flat();
  const files = groupResultFiles(objects, (j) => sweeps.has(j));
  const filesOf = (u: RunUnit): ResultFile[] => files.get(rowName(u.job, u.index)) ?? [];
  const keys = latest.map((l) => metricsKeyOf(filesOf(l.unit)));
  const etagOf = new Map(objects.map((o) => [o.key, o.etag]));
  // In bulk by ETag where the source can, the rest one by one.
  const etags = new Set(keys.flatMap((k) => (k !== undefined ? (etagOf.get(k) ?? []) : [])));
  const runs = latest.flatMap((l, i) => (keys[i] !== undefined ? [l.unit] : []));
  const bulk = (await source.textsByEtag?.(etags, runs)) ?? { texts: new Map<string, string>() };
  warnings.push(...(bulk.warning !== undefined ? [bulk.warning] : []));
  const problems: string[] = [];
  const read = async (key: string | undefined): Promise<string | undefined> =>
    key === undefined
      ? undefined
      : (bulk.texts.get(etagOf.get(key) ?? "") ??
        source.readText(key).catch((err: unknown) => {
          problems.push(`${key}: could not be read (${describeError(err)})`);
          return undefined;
        }));
  const texts = await runAll(keys, read, READ_CONCURRENCY.metrics);
  const rows = latest.map((l, i) => {
    const parsed = texts[i] !== undefined ? parseMetrics(texts[i]) : undefined;
    if (parsed?.problem !== undefined) {
      problems.push(`${keys[i]}: ${parsed.problem}`);
    }
    return buildRow(l, filesOf(l.unit), parsed?.metrics ?? new Map(), prices, now);
  });
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more metrics files)` : "";
    warnings.push(problems[0] + more);
  }
  const sorted = sortRows(rows);
  const generatedAt = new Date(now).toISOString();
  return { ...seen, generatedAt, prices, rows: sorted, summary: summarizeRows(sorted), warnings };
}
