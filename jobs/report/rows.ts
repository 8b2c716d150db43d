/** The rows of `jobs:report`, pure: one per job or sweep set (its latest run). */
import type { JobDetail, RemoteObject } from "../aws/api";
import { priceRun, type Pricing } from "./prices";
import { attemptTimes, batchAttempts, seconds } from "./time-split";
import {
  asStatus,
  exitCodeOf,
  groupBy,
  parametersOf,
  pipelineOrder,
  resourcesOf,
  rowName,
  runsPerSet,
  type Status,
} from "../status";
import type { ParameterSet } from "../input/sweep";
import { BUCKET_PREFIXES, METRICS } from "../../components/contract";
import { definedOnly } from "../../components/defined";

export type MetricValue = number | string;

/** One run of a job or a sweep set, whatever ran it (Batch or --locally). */
export type RunUnit = ReturnType<typeof unitFromDetail> & { readonly after?: readonly string[] };

export type ResultFile = Pick<RemoteObject, "key" | "size" | "etag">;

export type ReportRow = ReturnType<typeof buildRow>;

/** Batch's status reason and the container's own reason (e.g. OutOfMemoryError), joined. */
function reasonOf({ statusReason, container, attempts }: JobDetail): string | undefined {
  const own = container?.reason ?? attempts?.at(-1)?.container?.reason;
  const parts = new Set([statusReason, own].filter((s) => s !== undefined && s !== ""));
  return parts.size > 0 ? [...parts].join(": ") : undefined;
}

/**
 * `job`: the name results are stored under (BATCHPY_JOB_NAME), the job or the whole sweep;
 * `index`: global within the sweep, whatever array job ran it.
 */
export function unitFromDetail(
  detail: JobDetail,
  where: { job: string; index?: number; set?: ParameterSet },
) {
  const c = detail.container;
  const asked = resourcesOf(c?.resourceRequirements);
  return definedOnly({
    job: where.job,
    jobId: detail.jobId ?? "",
    status: asStatus(detail.status),
    attempts: batchAttempts(detail),
    index: where.index,
    reason: reasonOf(detail),
    exitCode: exitCodeOf(detail),
    createdAt: detail.createdAt,
    startedAt: detail.startedAt,
    stoppedAt: detail.stoppedAt,
    vcpus: asked.vcpus ?? c?.vcpus,
    memoryMiB: asked.memoryMiB ?? c?.memory,
    gpus: asked.gpus,
    // A Map, so any name (`constructor`, `__proto__`) is only a name.
    params: parametersOf(c?.environment, where.set),
  });
}

export function latestRuns(units: readonly RunUnit[]): { unit: RunUnit; runs: number }[] {
  return runsPerSet(
    units,
    (u) => rowName(u.job, u.index),
    (u) => u.createdAt ?? -Infinity,
  ).map((runs) => ({ unit: runs[runs.length - 1], runs: runs.length }));
}

/** Result files by row: `results/<job>/<file>`, or a sweep's `results/<job>/<index>/<file>`. */
export function groupResultFiles(
  objects: readonly ResultFile[],
  isSweep: (job: string) => boolean,
): Map<string, ResultFile[]> {
  // "": no row's (outside results/, or in a sweep but not in a set's folder).
  const rowOf = ({ key }: ResultFile): string => {
    const [top, job, set, ...rest] = key.split("/");
    if (`${top}/` !== BUCKET_PREFIXES.results || set === undefined) {
      return "";
    }
    const inSet = rest.length > 0 && /^\d+$/.test(set);
    return !isSweep(job) ? job : inSet ? rowName(job, Number(set)) : "";
  };
  const rows = groupBy(
    objects.map(({ key, size }) => ({ key, size })),
    rowOf,
  );
  rows.delete("");
  return rows;
}

/** The metrics.json at the top of a row's results folder: results/<job>[/<index>]/. */
export const metricsKeyOf = (files: readonly ResultFile[]): string | undefined =>
  files.find(
    ({ key }) => /^[^/]+\/[^/]+\/(\d+\/)?[^/]+$/.test(key) && key.endsWith(`/${METRICS.file}`),
  )?.key;

export function parseMetrics(text: string): {
  metrics: Map<string, MetricValue>;
  problem?: string;
} {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    if (!(err instanceof SyntaxError)) {
      throw err;
    }
    return { metrics: new Map(), problem: `not JSON (${err.message})` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { metrics: new Map(), problem: "not a JSON object of numbers and strings" };
  }
  // JSON.parse makes every key an own property (`__proto__` too); the Map keeps it a name.
  const entries = Object.entries(value) as [string, unknown][];
  const ok = (v: unknown): v is MetricValue =>
    (typeof v === "number" && Number.isFinite(v)) || typeof v === "string";
  const metrics = new Map(entries.filter((e): e is [string, MetricValue] => ok(e[1])));
  const skipped = entries.filter(([, v]) => !ok(v)).map(([k]) => k);
  const problem = `left out ${skipped.join(", ")}: values must be numbers or strings`;
  return skipped.length > 0 ? { metrics, problem } : { metrics };
}

/** `runs`: submissions of this job or set (1 + retries). */
export function buildRow(
  entry: { unit: RunUnit; runs: number },
  files: readonly ResultFile[],
  metrics: ReadonlyMap<string, MetricValue>,
  pricing: Pricing,
  now: number,
) {
  const u = entry.unit;
  const billed = u.attempts.flatMap((a) =>
    a.startedAt === undefined ? [] : [Math.max(0, ((a.stoppedAt ?? now) - a.startedAt) / 1000)],
  );
  const vcpus = u.vcpus ?? 1; // when Batch does not say
  const job = { vcpus, ...definedOnly({ memoryMiB: u.memoryMiB, gpus: u.gpus }) };
  // Each attempt is billed on its own (Fargate's minute applies per attempt).
  const prices = billed.map((s) => priceRun(s, job, pricing));
  const noPrice = prices.flatMap((p) => ("noPrice" in p ? [p.noPrice] : []))[0];
  const cost = prices.reduce((sum, p) => sum + ("usd" in p ? p.usd : 0), 0);
  return {
    ...u,
    name: rowName(u.job, u.index),
    ...definedOnly({
      runSeconds: seconds(u.startedAt, u.stoppedAt),
      queueSeconds: seconds(u.createdAt, u.startedAt),
    }),
    attempts: attemptTimes(u.createdAt, u.attempts),
    vcpuHours: (billed.reduce((a, b) => a + b, 0) * vcpus) / 3600,
    ...definedOnly({ noPrice, cost: noPrice === undefined ? cost : undefined }),
    files,
    metrics,
    runs: entry.runs,
  };
}

/** Failed first, then unknown, the rest; by job and set; in a pipeline, a step after its needs. */
export function sortRows(rows: readonly ReportRow[]): ReportRow[] {
  const rank = (s: Status): number => (s === "FAILED" ? 0 : s === "UNKNOWN" ? 1 : 2);
  const sorted = [...rows].sort(
    (a, b) =>
      rank(a.status) - rank(b.status) ||
      (a.job < b.job ? -1 : a.job > b.job ? 1 : 0) ||
      (a.index ?? -1) - (b.index ?? -1),
  );
  return rows.some((r) => r.after !== undefined)
    ? pipelineOrder(
        sorted,
        (r) => r.job,
        (r) => r.after ?? [],
      ).map((o) => o.item)
    : sorted;
}

export function failureReason(r: Pick<ReportRow, "reason" | "exitCode">): string {
  const reason = r.reason ?? "no reason given";
  return r.exitCode !== undefined ? `${reason} (exit code ${r.exitCode})` : reason;
}

const SLOWEST_SHOWN = 5;

function keysInOrder(maps: readonly ReadonlyMap<string, unknown>[]): string[] {
  return [...new Set(maps.flatMap((m) => [...m.keys()]))];
}

export function summarizeRows(rows: readonly ReportRow[]) {
  const counts: Partial<Record<Status, number>> = {};
  rows.forEach((r) => (counts[r.status] = (counts[r.status] ?? 0) + 1));
  const failed = groupBy(
    rows.filter((r) => r.status === "FAILED"),
    failureReason,
  );
  const slowest = rows
    .flatMap(({ name, runSeconds }) => (runSeconds !== undefined ? [{ name, runSeconds }] : []))
    .sort((a, b) => b.runSeconds - a.runSeconds)
    .slice(0, SLOWEST_SHOWN);
  const params = keysInOrder(rows.map((r) => r.params));
  const varying = params.filter((p) => new Set(rows.map((r) => r.params.get(p))).size > 1);
  return {
    total: rows.length,
    counts,
    vcpuHours: rows.reduce((sum, r) => sum + r.vcpuHours, 0),
    cost: rows.reduce((sum, r) => sum + (r.cost ?? 0), 0),
    unpriced: rows.filter((r) => r.noPrice !== undefined).length,
    noPrice: [...new Set(rows.flatMap((r) => r.noPrice ?? []))],
    slowest,
    failures: [...failed]
      .map(([reason, list]) => ({ reason, count: list.length, names: list.map((r) => r.name) }))
      .sort((a, b) => b.count - a.count),
    params: [...varying, ...params.filter((p) => !varying.includes(p))],
    varying,
    metrics: keysInOrder(rows.map((r) => r.metrics)),
  };
}
