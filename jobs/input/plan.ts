/** From validated files to the exact SubmitJob requests, without side effects. */
import { createHash } from "crypto";
import { BUCKET_PREFIXES, VARS } from "../../components/contract";
import { definedOnly } from "../../components/defined";
import { CHUNK_SIZE, chunkJobName, chunkRanges } from "./chunks";
import { derivedNameProblem, setJobName } from "./derived-names";
import type { Problem } from "../errors";
import {
  ARRAY_MIN_SIZE,
  SUBMIT_JOB_MAX_BYTES,
  type EnvVar,
  type JobFileFields,
  type LoadedJob,
  type SubmitJobRequest,
} from "./job-file";
import { MISSING_OUTPUTS_FIX, type StackOutputs } from "./outputs";
import type { LoadedSweep, ParameterSet } from "./sweep";
import { formatNumber } from "../output/numbers";
import { manifestBody, manifestKey } from "./manifest";

interface SubmissionBase {
  readonly file: string;
  readonly jobName: string;
  readonly request: SubmitJobRequest;
  /** sha256 of the request (and manifest), first 16 hex digits. */
  readonly hash: string;
  readonly arraySize?: number;
  /** The sweep this job is a chunk or a retry of: the other commands take its name. */
  readonly sweep?: string;
}

export interface SingleSubmission extends SubmissionBase {
  readonly kind: "single";
}

export interface ArraySubmission extends SubmissionBase {
  readonly kind: "array";
  readonly arraySize: number;
  readonly manifest: { readonly key: string; readonly body: string; readonly sets: number };
}

export type Submission = SingleSubmission | ArraySubmission;

export const TOKEN_TAG = "batchpy:submission-token";

/** AWS allows at most 50 tags per resource; the token takes one. */
const MAX_JOB_TAGS = 50;

export function tokenTagProblems(submissions: readonly Submission[]): Problem[] {
  const problems: Problem[] = [];
  for (const s of submissions) {
    const tags = s.request.tags ?? {};
    if (TOKEN_TAG in tags) {
      problems.push({
        file: s.file,
        path: `tags.${TOKEN_TAG}`,
        message: `"${TOKEN_TAG}" is set by jobs:submit to make submission exactly-once; remove it from the file`,
      });
    } else if (Object.keys(tags).length >= MAX_JOB_TAGS) {
      problems.push({
        file: s.file,
        path: "tags",
        message: `"${s.jobName}" has ${Object.keys(tags).length} tags; jobs:submit adds "${TOKEN_TAG}" and AWS allows ${MAX_JOB_TAGS}; remove at least ${Object.keys(tags).length - MAX_JOB_TAGS + 1}`,
      });
    }
  }
  return problems;
}

interface MissingOutput {
  readonly key: "jobQueueArn" | "jobDefinitionArn";
  readonly field: "jobQueue" | "jobDefinition";
  readonly files: readonly string[];
}

/** One message for every missing output: the outputs, the files and both fixes. */
export function missingOutputsMessage(missing: readonly MissingOutput[], source: string): string {
  const parts = missing.map((m) => {
    const files = m.files.slice(0, 3).join(", ") + (m.files.length > 3 ? ", ..." : "");
    const which = m.field === "jobQueue" ? " that leave out jobQueue" : "";
    return `"${m.key}" (needed by ${m.files.length} file(s)${which}: ${files})`;
  });
  const ownQueue = missing.some((m) => m.field === "jobQueue")
    ? ", or set jobQueue in the files"
    : "";
  return `stack output ${parts.join(" and ")} missing from ${source}; ${MISSING_OUTPUTS_FIX}${ownQueue}`;
}

interface PlanOptions {
  /** Absent for --locally, where queue and definition are not used. */
  readonly outputs?: { readonly outputs: StackOutputs; readonly source: string };
  /** false with --no-array. */
  readonly array: boolean;
}

/**
 * `base` with `vars` set: same names replaced in place, new names appended in order. A Map:
 * with an object, `"constructor" in vars` is true for any vars.
 */
export function mergeEnvironment(
  base: readonly EnvVar[] | undefined,
  vars: ReadonlyMap<string, string>,
): EnvVar[] {
  const out = (base ?? []).map((v) => ({ name: v.name, value: vars.get(v.name) ?? v.value }));
  const present = new Set(out.map((v) => v.name));
  const added = [...vars].filter(([name]) => !present.has(name));
  return [...out, ...added.map(([name, value]) => ({ name, value }))];
}

type Resolved = { readonly jobQueue: string; readonly jobDefinition: string };

export function requestHash(request: SubmitJobRequest, manifest?: string): string {
  const h = createHash("sha256").update(JSON.stringify(request));
  if (manifest !== undefined) {
    h.update("\0").update(manifest);
  }
  return h.digest("hex").slice(0, 16);
}

/** Sets jobName/jobQueue/jobDefinition and the environment; field order as in the API docs. */
function buildRequest(
  jobName: string,
  fields: JobFileFields,
  vars: ReadonlyMap<string, string>,
  resolved: Resolved,
): SubmitJobRequest {
  const { jobQueue, containerOverrides, script, resultsOf, ...rest } = fields;
  delete rest.jobName;
  // batchpy's own fields reach the entrypoint as variables; Batch never sees them.
  const own = Object.entries({ [VARS.script]: script, [VARS.resultsOf]: resultsOf?.join(",") });
  return {
    jobName,
    jobQueue: jobQueue ?? resolved.jobQueue,
    jobDefinition: resolved.jobDefinition,
    ...rest,
    containerOverrides: {
      ...containerOverrides,
      environment: mergeEnvironment(
        containerOverrides?.environment,
        new Map([...own.filter((e): e is [string, string] => e[1] !== undefined), ...vars]),
      ),
    },
  };
}

function sizeProblems(file: string, request: SubmitJobRequest): Problem[] {
  const bytes = Buffer.byteLength(JSON.stringify(request), "utf8");
  if (bytes <= SUBMIT_JOB_MAX_BYTES) {
    return [];
  }
  const message =
    `the SubmitJob request for "${request.jobName}" is ${formatNumber(bytes)} bytes, over the ` +
    `${formatNumber(SUBMIT_JOB_MAX_BYTES)}-byte (30 KiB) limit; move large values into a file under ` +
    `${BUCKET_PREFIXES.inputs} (${VARS.inputs}) or into a sweep, whose sets travel in a manifest`;
  return [{ file, message }];
}

/**
 * An array job over `sets` of sweep `sweep`, named `jobName`; its manifest lists the sets'
 * numbers when `indexes` is given (a chunk, a retry). Pure.
 */
export function sweepArraySubmission(
  file: string,
  sweep: string,
  jobName: string,
  base: JobFileFields,
  sets: readonly ParameterSet[],
  indexes: readonly number[] | undefined,
  resolved: Resolved,
): ArraySubmission {
  const body = manifestBody(sets, indexes);
  const key = manifestKey(jobName, body);
  const request = buildRequest(
    jobName,
    { ...base, arrayProperties: { size: sets.length } },
    new Map([
      [VARS.arrayManifest, key],
      [VARS.jobName, sweep],
    ]),
    resolved,
  );
  return {
    kind: "array",
    file,
    jobName,
    request,
    hash: requestHash(request, body),
    arraySize: sets.length,
    manifest: { key, body, sets: sets.length },
    ...(jobName !== sweep ? { sweep } : {}),
  };
}

/**
 * A plain job that runs set number `index` of sweep `sweep` (arrays need 2 children): the
 * set's variables, the set number and the sweep's name, so its files land where an array
 * child's would. Pure.
 */
export function loneSetSubmission(
  file: string,
  sweep: string,
  jobName: string,
  base: JobFileFields,
  set: ParameterSet,
  index: number,
  resolved: Resolved,
): SingleSubmission {
  const request = buildRequest(
    jobName,
    base,
    new Map([...set, [VARS.setIndex, String(index)], [VARS.jobName, sweep]]),
    resolved,
  );
  return { kind: "single", file, jobName, request, hash: requestHash(request), sweep };
}

interface Plan {
  readonly submissions: Submission[];
  /** What only shows once everything is put together: sizes, derived and duplicate names. */
  readonly problems: Problem[];
  /** Stack outputs the files rely on and the outputs lack (not the files' fault). */
  readonly missingOutputs: MissingOutput[];
}

export function buildPlan(items: readonly (LoadedJob | LoadedSweep)[], opts: PlanOptions): Plan {
  const plan = new PlanBuilder(opts);
  for (const item of items) {
    const sets = item.kind === "sweep" ? item.sets.length : undefined;
    const fields = item.kind === "job" ? item.fields : item.base;
    const waits = fields.dependsOn?.some((d) => d.jobName !== undefined);
    const bad = derivedNameProblem(item.jobName, { sets, array: opts.array, waits });
    if (bad !== undefined) {
      const file = item.kind === "job" ? item.doc.file : item.file;
      plan.problems.push({ file, path: "jobName", message: bad });
    } else if (item.kind === "job") {
      plan.single(item.doc.file, item.jobName, item.fields, new Map());
    } else {
      plan.sweep(item, opts.array);
    }
  }
  return plan.finish();
}

class PlanBuilder {
  readonly problems: Problem[] = [];
  private readonly missing = new Map<MissingOutput["key"], MissingOutput & { files: string[] }>();
  private readonly submissions: Submission[] = [];

  constructor(private readonly opts: PlanOptions) {}

  /** Queue and definition: the fields' own queue, else the stack's outputs (a missing one noted). */
  private resolve(fields: JobFileFields, file: string): Resolved {
    return {
      jobQueue: fields.jobQueue ?? this.output(file, "jobQueue", "jobQueueArn"),
      jobDefinition: this.output(file, "jobDefinition", "jobDefinitionArn"),
    };
  }

  private output(file: string, field: MissingOutput["field"], key: MissingOutput["key"]): string {
    const v = this.opts.outputs?.outputs[key];
    if (v !== undefined && v !== "") {
      return v;
    }
    if (this.opts.outputs === undefined) {
      // --locally: the queue and definition are not used.
      return "local";
    }
    const m = this.missing.get(key) ?? { key, field, files: [] };
    if (!m.files.includes(file)) {
      m.files.push(file);
    }
    this.missing.set(key, m);
    return "";
  }

  private add(s: Submission): void {
    this.problems.push(...sizeProblems(s.file, s.request));
    this.submissions.push(s);
  }

  single(file: string, jobName: string, fields: JobFileFields, vars: ParameterSet): void {
    const request = buildRequest(
      jobName,
      fields,
      new Map([...vars, [VARS.jobName, jobName]]),
      this.resolve(fields, file),
    );
    const arraySize = request.arrayProperties?.size;
    const hash = requestHash(request);
    this.add({ kind: "single", file, jobName, request, hash, ...definedOnly({ arraySize }) });
  }

  sweep(item: LoadedSweep, array: boolean): void {
    const n = item.sets.length;
    if (n === 0) {
      this.problems.push({
        file: item.file,
        message: "the sweep has no parameter sets: nothing to run",
      });
    } else if (n < ARRAY_MIN_SIZE) {
      // AWS array jobs need at least 2 children; one set is an ordinary job.
      this.single(item.file, item.jobName, item.base, item.sets[0]);
    } else if (!array) {
      // --no-array: one job per set, named `<jobName>-<n>`.
      item.sets.forEach((set, i) => {
        this.single(item.file, setJobName(item.jobName, i), item.base, set);
      });
    } else if (n <= CHUNK_SIZE) {
      const { file, jobName, base, sets } = item;
      const resolved = this.resolve(base, file);
      this.add(sweepArraySubmission(file, jobName, jobName, base, sets, undefined, resolved));
    } else {
      this.chunkedSweep(item);
    }
  }

  /**
   * Past 10,000 sets: array jobs of at most 10,000 children, each with a manifest of its own
   * sets and their numbers, so a child downloads its chunk, not the sweep.
   */
  private chunkedSweep(item: LoadedSweep): void {
    const { file, jobName, base } = item;
    const resolved = this.resolve(base, file);
    chunkRanges(item.sets.length).forEach(({ first, count }, c) => {
      const name = chunkJobName(jobName, c);
      const sets = item.sets.slice(first, first + count);
      const indexes = sets.map((_, i) => first + i);
      this.add(
        count < ARRAY_MIN_SIZE
          ? loneSetSubmission(file, jobName, name, base, sets[0], first, resolved)
          : sweepArraySubmission(file, jobName, name, base, sets, indexes, resolved),
      );
    });
  }

  finish(): Plan {
    return {
      submissions: this.submissions,
      problems: [...this.problems, ...duplicateNameProblems(this.submissions)],
      missingOutputs: [...this.missing.values()],
    };
  }
}

/** Names key the ledger, results/<jobName>/ and logs/<jobName>.log: they must be unique. */
function duplicateNameProblems(submissions: readonly Submission[]): Problem[] {
  const problems: Problem[] = [];
  const byName = new Map<string, string>();
  for (const s of submissions) {
    const first = byName.get(s.jobName);
    if (first !== undefined) {
      const where = first === s.file ? `twice in ${s.file}` : `by ${first} and ${s.file}`;
      problems.push({
        file: s.file,
        message:
          `job name "${s.jobName}" is used ${where}; names must be unique in a run because the ledger, ` +
          `${BUCKET_PREFIXES.results} and ${BUCKET_PREFIXES.logs} are keyed by name; rename one`,
      });
    } else {
      byName.set(s.jobName, s.file);
    }
  }
  return problems;
}
