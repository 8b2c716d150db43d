/**
 * Dependencies by name (docs/jobs.md, "Pipelines"): AWS Batch takes only a few job IDs
 * (https://docs.aws.amazon.com/batch/latest/userguide/job_dependencies.html). The hash stays
 * the file's request (with names); the IDs follow from the ledger, so a resend agrees.
 */
import { FARGATE_MEMORY_MIB } from "../../components/instance-types";
import { barrierJobName, CHUNK_SIZE, chunkRanges } from "./derived-names";
import type { Problem } from "../errors";
import { MAX_DEPENDENCIES, type SubmitJobRequest } from "./job-file";
import { requestHash, type Submission } from "./plan";
import { latestByName, type IntentLine, type LedgerEntry } from "../state/ledger";
import { isRetryEntry, retryNumber } from "../state/attempts";
import { groupBy } from "../status";
import { VARS } from "../../components/contract";

const EC2_BARRIER_MEMORY_MIB = 128;

type Dependency = NonNullable<SubmitJobRequest["dependsOn"]>[number];

type NamedDependency = ReturnType<typeof namedDependencies>[number];

export function namedDependencies(s: Submission) {
  return (s.request.dependsOn ?? []).flatMap((d, at) =>
    d.jobName !== undefined ? [{ name: d.jobName, nToN: d.type === "N_TO_N", at }] : [],
  );
}

/** Its sweep's name for a chunk or a retry. */
export const ownerOf = (s: Submission): string => s.sweep ?? s.jobName;

/** The parts of its latest submission, or of its latest retry, which reruns every failed set. */
export function standingRuns(entries: readonly LedgerEntry[], name: string): LedgerEntry[] {
  const mine = entries.filter((e) => e.jobName === name || e.of === name);
  const firsts = mine.filter((e) => !isRetryEntry(e));
  const since = mine.slice(mine.lastIndexOf(firsts[firsts.length - 1]) + 1);
  const last = Math.max(0, ...since.map((e) => retryNumber(e) ?? 0));
  const parts = last > 0 ? since.filter((e) => retryNumber(e) === last) : firsts;
  return [...latestByName(parts).values()];
}

export interface LedgerView {
  readonly entries: readonly LedgerEntry[];
  readonly open: readonly IntentLine[];
  readonly where?: string;
}

/** The run's submissions by level, parents first. */
export function dependencyOrder(submissions: readonly Submission[], ledger: LedgerView) {
  const owners = groupBy(submissions, ownerOf);
  const problems: Problem[] = submissions.flatMap((s) =>
    namedDependencies(s).flatMap((d) => {
      const bad = dependencyProblem(s, d, owners, ledger);
      return bad !== undefined ? [{ file: s.file, path: `dependsOn[${d.at}]`, message: bad }] : [];
    }),
  );
  const level = new Map<string, number>();
  const levelOf = (name: string, path: readonly string[]): number => {
    if (path.includes(name)) {
      const cycle = [...path.slice(path.indexOf(name)), name].join(" → ");
      const { file } = (owners.get(name) ?? [])[0];
      problems.push({ file, path: "dependsOn", message: `a cycle: ${cycle}; remove one` });
      return 0;
    }
    let n = level.get(name);
    if (n === undefined) {
      const parents = (owners.get(name) ?? []).flatMap(namedDependencies);
      const inRun = parents.filter((d) => owners.has(d.name));
      n = Math.max(0, ...inRun.map((d) => levelOf(d.name, [...path, name]) + 1));
      level.set(name, n);
    }
    return n;
  };
  const levels: Submission[][] = [];
  submissions.forEach((s) => (levels[levelOf(ownerOf(s), [])] ??= []).push(s));
  return { levels: levels.filter((l) => l !== undefined), problems };
}

function dependencyProblem(
  s: Submission,
  d: NamedDependency,
  owners: ReadonlyMap<string, readonly Submission[]>,
  ledger: LedgerView,
): string | undefined {
  const given = (s.request.dependsOn ?? [])[d.at];
  if (given.jobId !== undefined) {
    return `names both jobId and jobName; keep one`;
  }
  if (given.type === "SEQUENTIAL") {
    return `"SEQUENTIAL" takes no job (an array's children one after another); with jobName use "N_TO_N" or no type`;
  }
  const inRun = owners.get(d.name);
  const entries = inRun === undefined ? standingRuns(ledger.entries, d.name) : [];
  if (inRun === undefined && ledger.open.some((i) => i.jobName === d.name || i.of === d.name)) {
    return (
      `"${d.name}" has a submission whose outcome is not yet known (an interrupted run); ` +
      `submit its file again to settle it, then this one`
    );
  }
  if (inRun === undefined && entries.length === 0) {
    const where = ledger.where ?? "the stack's ledger";
    return `no job or sweep "${d.name}" in this submit or in ${where}; submit it first, or in the same command`;
  }
  if (!d.nToN) {
    return undefined;
  }
  // One array job each: a chunked sweep has several, a retried one its retry's sets only.
  const size = (parts: readonly (Submission | LedgerEntry)[]): number | undefined =>
    parts.length === 1 && parts[0].kind === "array" ? parts[0].arraySize : undefined;
  const parent = inRun ?? (entries.some(isRetryEntry) ? [] : entries);
  const mine = size(owners.get(ownerOf(s)) ?? []);
  return mine !== undefined && mine === size(parent)
    ? undefined
    : `N_TO_N (child i waits for child i) needs this and "${d.name}" to be sweeps of one array ` +
        `job each, of the same size (at most ${CHUNK_SIZE} sets), not retried; ` +
        `leave "type" out to wait for all of "${d.name}"`;
}

/** Each dependency whose parent this run sends nothing of, to check for failures first. */
export function parentsInLedger(
  submissions: readonly Submission[],
  entries: readonly LedgerEntry[],
  force: boolean,
) {
  const latest = latestByName(entries);
  const sent = new Set(submissions.filter((s) => force || !latest.has(s.jobName)).map(ownerOf));
  return submissions.flatMap((submission) =>
    namedDependencies(submission).flatMap(({ name, at }) =>
      sent.has(name) ? [] : [{ submission, at, name, runs: standingRuns(entries, name) }],
    ),
  );
}

/** Manifest keys, not manifests, which would outgrow a SubmitJob request. */
export function withParentManifests(
  s: Submission,
  manifestsOf: (name: string) => readonly string[],
): Submission {
  const environment = s.request.containerOverrides?.environment ?? [];
  const names = environment.find((v) => v.name === VARS.resultsOf)?.value.split(",") ?? [];
  const value = names.flatMap((n) => manifestsOf(n).map((key) => `${n}:${key}`)).join(",");
  if (value === "") {
    return s;
  }
  const containerOverrides = {
    ...s.request.containerOverrides,
    environment: [...environment, { name: VARS.parentManifests, value }],
  };
  return { ...s, request: { ...s.request, containerOverrides } };
}

/**
 * `entries` must hold every parent. Past MAX_DEPENDENCIES, the plain ones go through a tree of
 * barrier jobs; the barriers the ledger lacks (by name and hash) are returned to be sent first.
 */
export function resolveDependencies(
  given: Submission,
  entries: readonly LedgerEntry[],
  computeType: string | undefined,
) {
  const s = withParentManifests(given, (name) => {
    const firsts = entries.filter((e) => (e.jobName === name || e.of === name) && !isRetryEntry(e));
    return [...latestByName(firsts).values()].flatMap((e) => e.manifest ?? []);
  });
  if (namedDependencies(s).length === 0) {
    return { kind: "ready" as const, submission: s };
  }
  const typed: Dependency[] = [];
  let plain: Dependency[] = [];
  for (const d of s.request.dependsOn ?? []) {
    if (d.jobName === undefined) {
      (d.type === undefined ? plain : typed).push(d);
    } else if (d.type === "N_TO_N") {
      typed.push({ jobId: standingRuns(entries, d.jobName)[0].jobId, type: "N_TO_N" });
    } else {
      plain.push(...standingRuns(entries, d.jobName).map((e) => ({ jobId: e.jobId })));
    }
  }
  // A barrier runs `true`, asking for the least a job may (on Fargate, the smallest size).
  const [vcpus, [memory]] = [...FARGATE_MEMORY_MIB][0];
  const fargate = computeType?.startsWith("FARGATE") === true;
  const containerOverrides = {
    command: ["true"],
    resourceRequirements: [
      { type: "VCPU" as const, value: String(fargate ? vcpus : 1) },
      { type: "MEMORY" as const, value: String(fargate ? memory : EC2_BARRIER_MEMORY_MIB) },
    ],
  };
  const { jobQueue, jobDefinition } = s.request;
  const latest = latestByName(entries);
  let next = 0;
  while (typed.length + plain.length > MAX_DEPENDENCIES) {
    const tier = chunkRanges(plain.length, MAX_DEPENDENCIES).map(({ first, count }) => {
      const jobName = barrierJobName(s.jobName, next++);
      const dependsOn = plain.slice(first, first + count);
      const request = { jobName, jobQueue, jobDefinition, dependsOn, containerOverrides };
      const hash = requestHash(request);
      return { kind: "single" as const, file: s.file, jobName, request, hash };
    });
    const missing = tier.filter((b) => latest.get(b.jobName)?.hash !== b.hash);
    if (missing.length > 0) {
      return { kind: "barriers" as const, barriers: missing };
    }
    plain = tier.map((b) => ({ jobId: (latest.get(b.jobName) as LedgerEntry).jobId }));
  }
  const request = { ...s.request, dependsOn: [...typed, ...plain] };
  return { kind: "ready" as const, submission: { ...s, request } };
}
