/** From validated files to the exact SubmitJob requests, without side effects. */
import { createHash } from "crypto";
import { BUCKET_PREFIXES, VARS } from "../../components/contract";
import { definedOnly } from "../../components/defined";
import {
  ARRAY_MIN_SIZE,
  chunkJobName,
  chunkRanges,
  derivedNameProblem,
  setJobName,
} from "./derived-names";
import type { Problem } from "../errors";
import type { EnvVar, JobFileFields, SubmitJobRequest } from "./job-file";
import { MISSING_OUTPUTS_FIX, type StackOutputs } from "./outputs";
import type { Loaded, LoadedSweep, ParameterSet } from "./sweep";
import { formatNumber } from "../output/numbers";
import { manifestBody, manifestKey } from "./manifest";
import { groupBy } from "../status";

export type Submission = {
  readonly file: string;
  readonly jobName: string;
  readonly request: SubmitJobRequest;
  readonly hash: string;
  /** The sweep this job is a chunk or a retry of. */
  readonly sweep?: string;
} & (
  | { readonly kind: "single"; readonly arraySize?: number }
  | {
      readonly kind: "array";
      readonly arraySize: number;
      readonly manifest: { readonly key: string; readonly body: string; readonly sets: number };
    }
);

export const TOKEN_TAG = "batchpy:submission-token";

/** @see https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html (tags, size) */
const MAX_JOB_TAGS = 50;
const SUBMIT_JOB_MAX_BYTES = 30 * 1024;

function tokenTagProblems(s: Submission): Problem[] {
  const tags = s.request.tags ?? {};
  const n = Object.keys(tags).length;
  if (TOKEN_TAG in tags) {
    const message = `"${TOKEN_TAG}" is set by jobs:submit to make submission exactly-once; remove it from the file`;
    return [{ file: s.file, path: `tags.${TOKEN_TAG}`, message }];
  }
  if (n < MAX_JOB_TAGS) {
    return [];
  }
  const message = `"${s.jobName}" has ${n} tags; jobs:submit adds "${TOKEN_TAG}" and AWS allows ${MAX_JOB_TAGS}; remove at least ${n - MAX_JOB_TAGS + 1}`;
  return [{ file: s.file, path: "tags", message }];
}

/** What to say when the stack's outputs lack what the files rely on. */
function missingOutputsMessage(submissions: readonly Submission[], source: string) {
  const [queue, definition] = (["jobQueue", "jobDefinition"] as const).map((field) => {
    const files = new Set(submissions.filter((s) => s.request[field] === "").map((s) => s.file));
    const shown = [...files].slice(0, 3).join(", ") + (files.size > 3 ? ", ..." : "");
    const which = field === "jobQueue" ? " that leave out jobQueue" : "";
    return files.size > 0
      ? `"${field}Arn" (needed by ${files.size} file(s)${which}: ${shown})`
      : "";
  });
  const parts = [queue, definition].filter((part) => part !== "");
  const ownQueue = queue !== "" ? ", or set jobQueue in the files" : "";
  return parts.length > 0
    ? `stack output ${parts.join(" and ")} missing from ${source}; ${MISSING_OUTPUTS_FIX}${ownQueue}`
    : undefined;
}

/** A Map: with an object, `"constructor" in vars` is true for any vars. */
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

/** Field order as in the API docs; filed (BATCHPY_JOB_NAME) under its own name or a sweep's. */
function single(
  file: string,
  jobName: string,
  fields: JobFileFields,
  vars: ParameterSet,
  resolved: Resolved,
  filedAs = jobName,
): Submission {
  const { jobQueue, containerOverrides, script, resultsOf, ...rest } = fields;
  delete rest.jobName;
  // batchpy's own fields reach the entrypoint as variables; Batch never sees them.
  const own = Object.entries({ [VARS.script]: script, [VARS.resultsOf]: resultsOf?.join(",") });
  const request: SubmitJobRequest = {
    jobName,
    jobQueue: jobQueue ?? resolved.jobQueue,
    jobDefinition: resolved.jobDefinition,
    ...rest,
    containerOverrides: {
      ...containerOverrides,
      environment: mergeEnvironment(
        containerOverrides?.environment,
        new Map([
          ...own.filter((e): e is [string, string] => e[1] !== undefined),
          ...vars,
          [VARS.jobName, filedAs],
        ]),
      ),
    },
  };
  const arraySize = request.arrayProperties?.size;
  const hash = requestHash(request);
  return { kind: "single", file, jobName, request, hash, ...definedOnly({ arraySize }) };
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
 * Array jobs over sets `indexes` (any order), chunked so a child downloads its chunk, not the
 * sweep; a lone set as a plain job with its number and the sweep's name, so its files land where
 * a child's would.
 */
export function sweepSubmissions(
  sweep: LoadedSweep,
  jobName: string,
  indexes: readonly number[],
  resolved: Resolved,
): Submission[] {
  const { file, base, jobName: of } = sweep;
  const ranges = chunkRanges(indexes.length);
  const sorted = [...indexes].sort((a, b) => a - b);
  return ranges.map(({ first, count }, c): Submission => {
    const name = ranges.length > 1 ? chunkJobName(jobName, c) : jobName;
    const numbers = sorted.slice(first, first + count);
    const sets = numbers.map((i) => sweep.sets[i]);
    if (count < ARRAY_MIN_SIZE) {
      const vars = new Map([...sets[0], [VARS.setIndex, String(numbers[0])]]);
      return { ...single(file, name, base, vars, resolved, of), sweep: of };
    }
    const body = manifestBody(sets, name === of ? undefined : numbers);
    const key = manifestKey(name, body);
    const vars = new Map([[VARS.arrayManifest, key]]);
    const s = single(file, name, { ...base, arrayProperties: { size: count } }, vars, resolved, of);
    const hash = requestHash(s.request, body);
    const manifest = { key, body, sets: count };
    const sweepOf = name !== of ? { sweep: of } : {};
    return { ...s, kind: "array", hash, arraySize: count, manifest, ...sweepOf };
  });
}

function submissionsOf(item: Loaded, array: boolean, resolved: Resolved) {
  if (item.kind === "job") {
    return [single(item.doc.file, item.jobName, item.fields, new Map(), resolved)];
  }
  const { file, jobName, base, sets } = item;
  if (sets.length < ARRAY_MIN_SIZE) {
    return [single(file, jobName, base, sets[0], resolved)];
  }
  return array
    ? sweepSubmissions(item, jobName, Array.from(sets.keys()), resolved)
    : sets.map((set, i) => single(file, setJobName(jobName, i), base, set, resolved));
}

export function buildPlan(
  items: readonly Loaded[],
  /** No `outputs` for --locally. */
  opts: { readonly outputs?: { outputs: StackOutputs; source: string }; readonly array: boolean },
) {
  const stack = opts.outputs?.outputs;
  // A file's own jobQueue comes first (single).
  const resolved = {
    jobQueue: stack === undefined ? "local" : (stack.jobQueueArn ?? ""),
    jobDefinition: stack === undefined ? "local" : (stack.jobDefinitionArn ?? ""),
  };
  const problems: Problem[] = [];
  // flatMap, not push(...): one job per set (--no-array) can be a million arguments.
  const submissions = items.flatMap((item) => {
    const [file, fields] =
      item.kind === "job" ? [item.doc.file, item.fields] : [item.file, item.base];
    const sets = item.kind === "sweep" ? item.sets.length : undefined;
    const waits = fields.dependsOn?.some((d) => d.jobName !== undefined);
    const bad = derivedNameProblem(item.jobName, { sets, array: opts.array, waits });
    if (bad !== undefined) {
      problems.push({ file, path: "jobName", message: bad });
      return [];
    }
    return submissionsOf(item, opts.array, resolved);
  });
  const source = opts.outputs?.source;
  return {
    submissions,
    problems: [
      ...problems,
      ...submissions.flatMap((s) => sizeProblems(s.file, s.request)),
      ...(stack !== undefined ? submissions.flatMap(tokenTagProblems) : []),
      ...duplicateNameProblems(submissions),
    ],
    missingOutputs: source !== undefined ? missingOutputsMessage(submissions, source) : undefined,
  };
}

function duplicateNameProblems(submissions: readonly Submission[]): Problem[] {
  return [...groupBy(submissions, (s) => s.jobName).values()].flatMap(([first, ...rest]) =>
    rest.map((s) => {
      const where = first.file === s.file ? `twice in ${s.file}` : `by ${first.file} and ${s.file}`;
      const message =
        `job name "${s.jobName}" is used ${where}; names must be unique in a run because the ledger, ` +
        `${BUCKET_PREFIXES.results} and ${BUCKET_PREFIXES.logs} are keyed by name; rename one`;
      return { file: s.file, message };
    }),
  );
}
