/** What `jobs:submit`, `jobs:retry`, `--locally` and `--dry-run` did, for humans or as --json. */
import * as path from "path";
import { displayPath, type Io, type StackOptions } from "../context";
import { isServerError, isThrottlingError, isTransientError } from "@smithy/core/retry";
import { describeError } from "../errors";
import { UnrecordedError, type Duplicate, type SkippedJob } from "../aws/exactly-once";
import type { LedgerEntry } from "../state/ledger";
import { TOKEN_TAG, type Submission } from "../input/plan";
import { ownerOf } from "../input/depends";
import { rowName } from "../status";
import { localResultPaths, type LocalResult } from "../commands/local";
import { shellWord, visible } from "./visible";
import { formatBoundUsd, formatDuration, formatNumber } from "./numbers";
import type { CostBound, SubmissionBound } from "../report/prices";

export interface SentResult {
  readonly kind: "sent";
  readonly stack: string;
  readonly ledger: string;
  readonly submitted: readonly LedgerEntry[];
  /** Found in Batch by token, before the sends or after a lost answer. */
  readonly recovered: readonly LedgerEntry[];
  /** Sent by another machine, as the stack's claims say. */
  readonly adopted: readonly LedgerEntry[];
  readonly skipped: readonly SkippedJob[];
  readonly failed: readonly { jobName: string; file: string; error: string }[];
  /** Accepted by Batch, not written to the ledger. */
  readonly unrecorded: readonly { jobName: string; jobId: string; file?: string; error: string }[];
  /** Answers lost and still undecided: their intents stay open. */
  readonly open: readonly { jobName: string; token: string; file?: string }[];
  readonly duplicates: readonly Duplicate[];
  readonly notSubmitted: number;
  /** Looking lost answers up failed. */
  readonly lookupError?: unknown;
  readonly failureReasons: readonly unknown[];
  readonly aborted: boolean;
  readonly cost?: CostBound;
}

interface LocalRunsResult {
  readonly kind: "local";
  readonly root: string;
  /** --local-root as given, for the copy-out hint. */
  readonly localRoot?: string;
  readonly submissions: readonly Submission[];
  readonly planned: number;
  /** Runs that ended (the rest were not started). */
  readonly results: readonly LocalResult[];
  readonly aborted: boolean;
}

export type SubmitResult =
  | SentResult
  | LocalRunsResult
  | {
      readonly kind: "dry-run";
      readonly stack: string;
      readonly bucketName: string | undefined;
      readonly todo: readonly Submission[];
      readonly skipped: readonly SkippedJob[];
      readonly cost?: CostBound;
    }
  | {
      /** Everything was in the ledger already (or found in Batch by token). */
      readonly kind: "nothing";
      readonly stack: string;
      readonly total: number;
      readonly recovered: readonly { readonly jobName: string; readonly jobId: string }[];
      readonly skipped: readonly SkippedJob[];
      readonly duplicates: readonly Duplicate[];
    }
  /** Ctrl-C while waiting for Batch's job list, before anything new was sent. */
  | { readonly kind: "stopped"; readonly undecided: number }
  | { readonly kind: "retry-nothing"; readonly stack: string; readonly names: readonly string[] };

type PrintOptions = StackOptions & { readonly cwd: string };

export function printSubmitResult(result: SubmitResult, io: Io, opts: PrintOptions): void {
  if (result.kind === "stopped") {
    // Said either way: nothing else is printed, and the exit code alone would not say why.
    io.stderr.write(
      `stopped while waiting for Batch's job list; ${formatNumber(result.undecided)} submission(s) stay open in the ledger and are looked up again by the next run\n`,
    );
    return;
  }
  if (opts.json) {
    io.stdout.write(`${JSON.stringify(submitJson(result))}\n`);
    return;
  }
  switch (result.kind) {
    case "dry-run":
      return printDryRun(result, io);
    case "nothing":
      return printNothing(result, io);
    case "sent":
      return printSent(result, io, opts);
    case "retry-nothing":
      io.stdout.write(`nothing failed in ${result.names.join(", ")}: nothing to retry\n`);
      return;
    case "local":
      return printLocal(result, io, opts.cwd);
  }
}

// Members left undefined are left out of the JSON.
type Brief = Pick<LedgerEntry, "jobName" | "jobId"> & { readonly file?: string };
const brief = ({ jobName, jobId, file }: Brief) => ({ jobName, jobId, file });

function submitJson(result: Exclude<SubmitResult, { kind: "stopped" }>): object {
  switch (result.kind) {
    case "dry-run":
      return {
        stack: result.stack,
        requests: result.todo.map((s) => s.request),
        manifests: result.todo.flatMap((s) =>
          s.kind === "array"
            ? [{ jobName: s.jobName, key: s.manifest.key, sets: s.manifest.sets }]
            : [],
        ),
        skipped: result.skipped,
        cost: costJson(result.cost),
      };
    case "nothing":
    case "sent": {
      // A run that sent nothing: the members it lacks are empty, or left out when undefined.
      const sent = result.kind === "sent" ? result : undefined;
      return {
        stack: result.stack,
        submitted: sent?.submitted.map((e) => ({ ...brief(e), arraySize: e.arraySize })) ?? [],
        recovered: result.recovered.map(brief),
        adopted: sent?.adopted.map(brief),
        skipped: result.skipped,
        failed: sent?.failed ?? [],
        unrecorded: sent?.unrecorded ?? [],
        open: sent?.open ?? [],
        duplicates: result.duplicates,
        notSubmitted: sent?.notSubmitted ?? 0,
        ledger: sent?.ledger,
        cost: costJson(sent?.cost),
      };
    }
    case "retry-nothing":
      return { stack: result.stack, submitted: [], retried: 0 };
    case "local":
      return {
        localRoot: result.root,
        runs: result.results.map((x) => ({
          jobName: x.run.jobName,
          index: x.run.index,
          exitCode: x.exitCode,
          reason: x.notRun,
          ...localResultPaths(x.run, result.root),
        })),
        failed: result.results.filter((x) => x.exitCode !== 0).length,
        notRun: result.planned - result.results.length,
      };
  }
}

function printDryRun(r: Extract<SubmitResult, { kind: "dry-run" }>, io: Io): void {
  for (const s of r.todo) {
    const what =
      s.kind === "array"
        ? `array job of ${formatNumber(s.arraySize)} children (manifest ${s.manifest.key})`
        : s.arraySize !== undefined
          ? `array job of ${s.arraySize} children`
          : "job";
    io.stderr.write(`# ${visible(`${s.file}: ${s.jobName}`)} (${what})\n`);
    if (s.kind === "array") {
      io.stderr.write(`#   would upload s3://${r.bucketName}/${s.manifest.key} first\n`);
    }
    io.stdout.write(`${JSON.stringify(s.request, null, 2)}\n`);
  }
  io.stderr.write(
    `dry run: ${formatNumber(r.todo.length)} request(s) shown, nothing submitted; each is sent with the tag ` +
      `${TOKEN_TAG} set to a fresh submission token\n`,
  );
}

function printNothing(r: Extract<SubmitResult, { kind: "nothing" }>, io: Io): void {
  printDuplicates(io, r.duplicates);
  const n = r.recovered.length;
  const found = n > 0 ? ` (${formatNumber(n)} found in Batch by token)` : "";
  io.stdout.write(
    `nothing to submit: all ${formatNumber(r.total)} job(s) are in the ledger${found}; ` +
      "--force resubmits\n",
  );
}

function printDuplicates(io: Io, duplicates: readonly Duplicate[]): void {
  for (const d of duplicates) {
    io.stderr.write(
      `warning: ${d.jobName}: ${d.others.length + 1} jobs carry its token ${d.token} (${[d.recorded, ...d.others].join(", ")}): ` +
        `Batch's job list showed the first one later than the listing wait; the ledger keeps ${d.recorded}; ` +
        `stop the others with aws batch terminate-job if they are not wanted\n`,
    );
  }
}

function printSent(r: SentResult, io: Io, opts: PrintOptions): void {
  for (const u of r.unrecorded) {
    const what = visible(`${u.file}: ${u.jobName} was submitted as ${u.jobId}`);
    io.stderr.write(
      `error: ${what} but could not be recorded in the ledger ${r.ledger} (${visible(u.error)})\n`,
    );
  }
  for (const f of r.failed.slice(0, 20)) {
    io.stderr.write(`error: ${visible(`${f.file}: ${f.jobName}: ${f.error}`)}\n`);
  }
  if (r.failed.length > 20) {
    io.stderr.write(`... and ${formatNumber(r.failed.length - 20)} more errors\n`);
  }
  if (r.lookupError !== undefined) {
    io.stderr.write(
      `error: looking up jobs whose answer was lost failed: ${visible(describeError(r.lookupError))}\n`,
    );
  }
  printDuplicates(io, r.duplicates);
  const counts = [
    [r.submitted.length, "submitted"],
    [r.skipped.length, "already in the ledger"],
    [r.recovered.length, "found in Batch by token"],
    [r.adopted.length, "sent from another machine"],
    [r.unrecorded.length, "submitted but not in the ledger"],
    [r.open.length, "unresolved (answer lost)"],
    [r.notSubmitted, "not submitted"],
  ] as const;
  const said = counts.filter(([n], i) => i < 2 || n > 0);
  io.stdout.write(`${said.map(([n, what]) => `${formatNumber(n)} ${what}`).join(", ")}\n`);
  io.stderr.write(`${whatNext(r, opts)}\n`);
}

/** The one line of advice after a run: fix the ledger, re-run, or watch. */
function whatNext(r: SentResult, opts: PrintOptions): string {
  if (r.unrecorded.length > 0) {
    return (
      `make the ledger (${r.ledger}) writable and re-run: the re-run finds the ` +
      `${formatNumber(r.unrecorded.length)} job(s) above in Batch by their submission token instead of submitting them again`
    );
  }
  if (r.open.length > 0) {
    const names = r.open.slice(0, 5).map((x) => x.jobName);
    return (
      `re-run the same command: it looks the ${formatNumber(r.open.length)} job(s) whose answer was lost up by token ` +
      `(${names.join(", ")}${r.open.length > 5 ? ", ..." : ""}) and sends only what Batch never received`
    );
  }
  if (r.notSubmitted > 0) {
    return remainingAdvice(r.failureReasons, r.notSubmitted, r.aborted);
  }
  // The stack options this run was given, so the hint works as is.
  const given = { "--stack": opts.stack, "--outputs": opts.outputs, "--state-dir": opts.stateDir };
  const args = Object.entries(given).flatMap(([flag, v]) => (v !== undefined ? [flag, v] : []));
  return `next: npm run jobs:watch${args.length > 0 ? ` -- ${args.map(shellWord).join(" ")}` : ""}`;
}

// By the SDK's classification: a ClientException (a wrong queue) fails again until its cause
// is fixed, so no message may advise a plain re-run for it.
export function isRetryable(err: unknown): boolean {
  const e = err as Parameters<typeof isTransientError>[0];
  return e instanceof Object && (isThrottlingError(e) || isTransientError(e) || isServerError(e));
}

/** A plain re-run only when every failure may pass on a later attempt, or the run was cut. */
export function remainingAdvice(
  reasons: readonly unknown[],
  notSubmitted: number,
  interrupted: boolean,
): string {
  const lasting = reasons.filter((e) => !(e instanceof UnrecordedError) && !isRetryable(e));
  const rerun =
    `re-run the same command to submit the remaining ${formatNumber(notSubmitted)}: ` +
    "accepted jobs are in the ledger and are skipped";
  if (lasting.length === 0 || interrupted) {
    return rerun;
  }
  return (
    `${describeError(lasting[0])} is not a failure a re-run fixes: fix its cause first (for example ` +
    `the job queue or definition, in the files or in the stack's outputs), then ${rerun}`
  );
}

function printLocal(r: LocalRunsResult, io: Io, cwd: string): void {
  const failed = r.results.filter((x) => x.exitCode !== 0);
  const notRun = r.planned - r.results.length;
  for (const f of failed.slice(0, 10)) {
    const name = rowName(f.run.jobName, f.run.index);
    const lines = f.tail.trim() === "" ? [] : f.tail.trimEnd().split("\n").slice(-15);
    const why = f.notRun ?? `exit ${f.exitCode ?? f.signal}`;
    io.stderr.write(`FAILED ${name}: ${why}\n${lines.map((l) => `  | ${l}\n`).join("")}`);
  }
  r.submissions.forEach((s) => io.stdout.write(`${localResultsLine(s, r.results, r.root, cwd)}\n`));
  io.stdout.write(
    `${formatNumber(r.results.length - failed.length)} of ${formatNumber(r.planned)} local run(s) succeeded` +
      (notRun > 0 ? `, ${formatNumber(notRun)} not started` : "") +
      `; logs in ${displayPath(cwd, path.join(r.root, "logs"))}/; copy out with npm run jobs:results -- --locally` +
      (r.localRoot !== undefined ? ` --local-root ${shellWord(r.localRoot)}` : "") +
      "\n",
  );
}

/** Only of runs that succeeded: a failed run uploads no results, so its folder does not exist. */
export function localResultsLine(
  s: Submission,
  results: readonly LocalResult[],
  root: string,
  cwd: string,
): string {
  const runs = results.filter((r) => r.run.jobName === s.jobName);
  const ok = runs.filter((r) => r.exitCode === 0);
  if (ok.length === 0) {
    return `${s.jobName}: no results (${runs.length === 0 ? "not run" : "failed"})`;
  }
  if (s.arraySize === undefined) {
    const folder = localResultPaths(ok[0].run, root).results;
    return `${s.jobName}: results in ${displayPath(cwd, folder)}/`;
  }
  // A chunk's files are filed under its sweep.
  const rel = displayPath(cwd, path.join(root, "results", ownerOf(s)));
  const counts = `${formatNumber(ok.length)} of ${formatNumber(s.arraySize)} children succeeded`;
  return `${s.jobName}: results in ${rel}/<index>/${ok.length < s.arraySize ? ` (${counts})` : ""}`;
}

// The cost bound of a submit or dry run, printed before anything is sent (stderr) or as --json.
const LEFT_OUT =
  "time before RUNNING (Batch's attempt timeout counts from RUNNING, so instance start and " +
  "image pull are not bounded by it), instances left idle, EBS volumes, S3 requests and " +
  "storage, CloudWatch Logs and data transfer";

const SHOWN = 20;

function costJson(cost: CostBound | undefined): object | undefined {
  return cost && { ...cost, leftOut: LEFT_OUT };
}

export function printCostBound(cost: CostBound, io: Io): void {
  const longest = "the longest job's attempts one after another";
  const width =
    cost.maxVcpus !== undefined
      ? `${cost.vcpuHours.toFixed(1)} vCPU-hours over the compute environment's maxVcpus ` +
        `${formatNumber(cost.maxVcpus)}, or ${longest}`
      : `${longest}; the stack predates its "jobLimits" output, so its maxVcpus is not ` +
        "known: run `pulumi up` to add it";
  const lines = [
    `cost bound: the most the jobs' run time can cost (${cost.basis})`,
    ...cost.submissions.slice(0, SHOWN).map((b) => `  ${submissionLine(b)}`),
    ...(cost.submissions.length > SHOWN
      ? [`  ... and ${formatNumber(cost.submissions.length - SHOWN)} more (--json lists all)`]
      : []),
    `  total: at most ${formatBoundUsd(cost.usd)}` +
      (cost.unpriced > 0
        ? ` for the priced submission(s); ${formatNumber(cost.unpriced)} without a bound (above)`
        : ` for ${formatNumber(cost.submissions.length)} submission(s)`),
    `  left out: ${LEFT_OUT}`,
    "  time: if every attempt runs to its timeout, the whole takes at least " +
      `${formatDuration(cost.minHours * 3600)} at full width (${width})`,
  ];
  io.stderr.write(lines.map((l) => `${visible(l)}\n`).join(""));
}

function submissionLine(b: SubmissionBound): string {
  const name = `${b.jobName} (${b.file})`;
  if (b.usd === undefined || b.attempts === undefined || b.timeoutSeconds === undefined) {
    return `${name}: no bound: ${b.noPrice ?? "unknown"}`;
  }
  const runs = b.children * b.attempts;
  const perHour = runs > 0 ? b.usd / ((runs * b.timeoutSeconds) / 3600) : 0;
  const size = `${b.vcpus} vCPU, ${formatNumber(b.memoryMiB ?? 0)} MiB`;
  const on =
    b.instanceType !== undefined
      ? `: the larger of its vCPU and memory shares of ${b.instanceType}, the dearest type that holds it`
      : "";
  return (
    `${name}: ${formatNumber(b.children)} × ${b.attempts} attempt(s) × ` +
    `${formatDuration(b.timeoutSeconds)} × $${perHour.toFixed(4)}/h (${size}${on}) ` +
    `= at most ${formatBoundUsd(b.usd)}`
  );
}
