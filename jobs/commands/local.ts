/** `--locally`: jobs run here as in the container, against a folder laid out like the bucket. */
import { spawn } from "child_process";
import * as path from "path";
import { BUCKET_PREFIXES, VARS } from "../../components/contract";
import { writeWhole } from "../state/write-whole";
import { appendLocalRun, entrypointError, type LocalParent } from "../state/local-runs";
import type { Submission } from "../input/plan";
import { namedDependencies, ownerOf, withParentManifests } from "../input/depends";
import { runAll } from "../aws/pool";
import { parseManifest } from "../input/manifest";
import type { ParameterSet } from "../input/sweep";
import { definedOnly } from "../../components/defined";
import { orFallback } from "../errors";
import { groupBy, parametersOf, resourcesOf, rowName } from "../status";

export interface LocalRun {
  readonly jobName: string;
  /** AWS_BATCH_JOB_ARRAY_INDEX. */
  readonly index?: number;
  readonly env: ReadonlyMap<string, string>;
  readonly set?: ParameterSet;
  readonly manifest?: string;
  readonly resources?: ReturnType<typeof resourcesOf>;
  /** Where results, log and record are filed: a sweep's part under its global set number. */
  readonly filedAs: { readonly job: string; readonly index?: number };
  readonly after: ReturnType<typeof namedDependencies>;
}

/** A step that reads sweeps' results gets their manifests from this submit, else `earlier`. */
export function planLocal(
  levels: readonly (readonly Submission[])[],
  root: string,
  earlier: ReadonlyMap<string, Pick<LocalParent, "failed" | "manifests">> = new Map(),
) {
  const all = levels.flat();
  const owners = groupBy(all, ownerOf);
  const manifestsOf = (name: string): readonly string[] =>
    owners.get(name)?.flatMap((s) => (s.kind === "array" ? [s.manifest.key] : [])) ??
    earlier.get(name)?.manifests ??
    [];
  return {
    levels: levels.map((level) =>
      level.flatMap((s) => localRuns(withParentManifests(s, manifestsOf))),
    ),
    manifests: all.flatMap((s) =>
      s.kind === "array"
        ? [{ file: path.join(root, ...s.manifest.key.split("/")), body: s.manifest.body }]
        : [],
    ),
    // What this submit runs again starts afresh.
    failedBefore: new Map<string, ReadonlySet<number | undefined>>(
      [...earlier].flatMap(([name, p]) => (owners.has(name) ? [] : [[name, p.failed]])),
    ),
  };
}

function localRuns(s: Submission): LocalRun[] {
  const overrides = s.request.containerOverrides;
  const env = new Map((overrides?.environment ?? []).map((v) => [v.name, v.value]));
  const common = {
    jobName: s.jobName,
    env,
    resources: resourcesOf(overrides?.resourceRequirements),
    after: namedDependencies(s),
  };
  if (s.arraySize === undefined) {
    const index = env.get(VARS.setIndex);
    const filedAs =
      s.sweep !== undefined && index !== undefined
        ? { job: s.sweep, index: Number(index) }
        : { job: s.jobName };
    return [{ ...common, filedAs }];
  }
  const manifest = s.kind === "array" ? parseManifest(s.manifest.body) : undefined;
  return Array.from({ length: s.arraySize }, (_, i) => ({
    ...common,
    index: i,
    ...definedOnly({
      set: manifest?.sets[i],
      manifest: s.kind === "array" ? s.manifest.key : undefined,
    }),
    filedAs: { job: ownerOf(s), index: manifest?.indexes?.[i] ?? i },
  }));
}

/** A container starts from a clean environment; the entrypoint reads others as script options. */
export const INHERITED_VARIABLES: readonly string[] =
  "PATH HOME TMPDIR TEMP TMP LANG LC_ALL LC_CTYPE TZ SYSTEMROOT".split(" ");

export function runEnvironment(
  run: LocalRun,
  root: string,
  host: NodeJS.ProcessEnv,
): NodeJS.ProcessEnv {
  return {
    ...definedOnly(Object.fromEntries(INHERITED_VARIABLES.map((k) => [k, host[k]]))),
    // As components/job-definition.ts sets them in the cloud.
    [VARS.inputsPrefix]: BUCKET_PREFIXES.inputs,
    [VARS.resultsPrefix]: BUCKET_PREFIXES.results,
    [VARS.logsPrefix]: BUCKET_PREFIXES.logs,
    // Own properties only (Object.fromEntries), so any variable name is kept as it is.
    ...Object.fromEntries(run.env),
    [VARS.localRoot]: root,
    [VARS.jobName]: run.filedAs.job,
    PYTHONUNBUFFERED: "1",
    ...definedOnly({ AWS_BATCH_JOB_ARRAY_INDEX: run.index?.toString() }),
  };
}

export interface LocalResult {
  readonly run: LocalRun;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly tail: string;
  readonly notRun?: string;
  readonly startedAt: number;
  readonly stoppedAt: number;
}

interface LocalOptions {
  readonly repoRoot: string;
  readonly root: string;
  readonly script?: string;
  readonly concurrency: number;
  readonly env: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
  /** Live output of a lone run (more than one run is captured, not interleaved). */
  readonly onOutput?: (chunk: string) => void;
  readonly onDone?: (result: LocalResult) => void;
}

const TAIL_BYTES = 4096;

function unrun(run: LocalRun, startedAt: number, why: Partial<LocalResult>): LocalResult {
  return { run, exitCode: null, signal: null, tail: "", startedAt, stoppedAt: Date.now(), ...why };
}

function runOne(run: LocalRun, opts: LocalOptions, live: boolean): Promise<LocalResult> {
  const entrypoint = path.join(opts.repoRoot, "container", "run_job.py");
  const script = opts.script !== undefined ? ["--script", opts.script] : [];
  const startedAt = Date.now();
  return new Promise<LocalResult>((resolve, reject) => {
    // spawn throws at once for what no process can be given (a NUL byte in a variable),
    // which rejects this promise: a failed run with the reason, never one "not started".
    const child = spawn("python3", [entrypoint, ...script], {
      cwd: opts.repoRoot,
      env: runEnvironment(run, opts.root, opts.env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let tail = "";
    const onData = (buf: Buffer): void => {
      const text = buf.toString("utf8");
      (live ? opts.onOutput : undefined)?.(text);
      tail = (tail + text).slice(-TAIL_BYTES);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      resolve({ run, exitCode: code, signal, tail, startedAt, stoppedAt: Date.now() });
    });
  }).catch((err: Error) =>
    unrun(run, startedAt, { tail: `could not start python3: ${err.message}` }),
  );
}

/**
 * A run whose parent (with N_TO_N: child i of it) failed fails without running, as on Batch.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/job_dependencies.html
 */
export async function runLocal(plan: ReturnType<typeof planLocal>, opts: LocalOptions) {
  const createdAt = Date.now();
  const runId = new Date(createdAt).toISOString();
  plan.manifests.forEach((m) => writeWhole(m.file, m.body));
  const live = plan.levels.flat().length === 1;
  const failed = new Map([...plan.failedBefore].map(([name, sets]) => [name, new Set(sets)]));
  const runOrFail = async (run: LocalRun): Promise<LocalResult> => {
    const parent = failedParent(run, failed);
    const r =
      parent === undefined
        ? await runOne(run, opts, live)
        : unrun(run, Date.now(), {
            notRun: `not run: ${parent} failed, and a job fails when a job it depends on fails`,
          });
    if (r.exitCode !== 0) {
      const { job, index } = run.filedAs;
      failed.set(job, (failed.get(job) ?? new Set()).add(index));
    }
    // The outcome matters more than its record, which a full disk leaves out of jobs:report.
    orFallback(() => recordRun(opts.root, runId, createdAt, r), undefined);
    opts.onDone?.(r);
    return r;
  };
  const results: LocalResult[] = [];
  for (const level of plan.levels) {
    results.push(...(await runAll(level, runOrFail, opts.concurrency, opts.signal)));
  }
  return results;
}

/** `failed`: the failed sets by job or sweep name; undefined: a job that is not a set. */
function failedParent(run: LocalRun, failed: ReadonlyMap<string, ReadonlySet<number | undefined>>) {
  for (const d of run.after) {
    const sets = [...(failed.get(d.name) ?? [])].filter((i) => !d.nToN || i === run.index);
    if (sets.length > 0) {
      return rowName(d.name, sets[0]);
    }
  }
  return undefined;
}

function recordRun(root: string, runId: string, createdAt: number, r: LocalResult): void {
  const { run } = r;
  const env = [...run.env].map(([name, value]) => ({ name, value }));
  appendLocalRun(root, {
    v: 1,
    run: runId,
    job: run.filedAs.job,
    ...definedOnly({ index: run.filedAs.index }),
    params: Object.fromEntries(parametersOf(env, run.set)),
    createdAt,
    startedAt: r.startedAt,
    stoppedAt: r.stoppedAt,
    exitCode: r.exitCode,
    signal: r.signal,
    ...definedOnly({ reason: r.notRun ?? entrypointError(r.tail), manifest: run.manifest }),
    ...run.resources,
  });
}

export function localResultPaths(run: LocalRun, root: string): { results: string; log: string } {
  const { job, index } = run.filedAs;
  const at = index === undefined ? [job] : [job, String(index)];
  return {
    results: path.join(root, "results", ...at),
    log: `${path.join(root, "logs", ...at)}.log`,
  };
}
