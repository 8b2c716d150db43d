/**
 * `jobs:retry`: failed sets go again as one array job `<sweep>-r<n>`, a failed job as
 * `<job>-r<n>`, planned again from the original files (whose hashes must match the ledger's).
 */
import { describeById, selectEntries, withStack, type Context } from "../context";
import type { AwsClients } from "../aws/api";
import { BadInputError, FatalError, type Problem } from "../errors";
import { latestByName, type LedgerEntry } from "../state/ledger";
import { retryJobName } from "../input/derived-names";
import { checkJobName } from "../input/job-file";
import { requireOutput, type LoadedOutputs } from "../input/outputs";
import { requestHash, sweepSubmissions, type Submission } from "../input/plan";
import { latestRuns, type RunUnit } from "../report/rows";
import { awsSource } from "../report/sources";
import { prepare, submitExitCode, submitWithinCost, type SubmitOptions } from "./submit";
import { printSubmitResult, type SubmitResult } from "../output/submit-print";
import type { Loaded } from "../input/sweep";
import { isRetryEntry, retryNumber } from "../state/attempts";
import { standingRuns } from "../input/depends";
import { TERMINAL, failedByDependency, groupOf, pipelineOf } from "../status";

/** Per name, its latest runs (of first run, chunks and retries) that failed or are not finished. */
export function selectRetry(names: readonly string[], units: readonly RunUnit[]) {
  const latest = latestRuns(units).map((l) => l.unit);
  return names.map((name) => {
    const mine = latest.filter((u) => u.job === name);
    return {
      name,
      failed: mine.filter((u) => u.status === "FAILED"),
      unfinished: mine.filter((u) => !TERMINAL.has(u.status)),
    };
  });
}

type RetrySelection = ReturnType<typeof selectRetry>[number];

export function nextRetryName(name: string, entries: readonly LedgerEntry[]): string {
  const n = entries.reduce((max, e) => Math.max(max, e.of === name ? (retryNumber(e) ?? 0) : 0), 0);
  return retryJobName(name, n + 1);
}

/** Still filed under its own name. */
export function planJobRetry(original: Submission, name: string, jobName: string): Submission {
  const request = { ...original.request, jobName };
  return {
    ...original,
    jobName,
    request,
    hash: requestHash(request, original.kind === "array" ? original.manifest.body : undefined),
    sweep: name,
  };
}

type RetryOptions = Omit<SubmitOptions, "files"> & { readonly names: readonly string[] };

async function planRetries(
  selection: readonly RetrySelection[],
  entries: readonly LedgerEntry[],
  opts: RetryOptions,
  ctx: Context,
  outputs: LoadedOutputs,
) {
  const found = selection.map((sel) => {
    const name = sel.name;
    const firsts = entries.filter((e) => e.jobName === name || (e.of === name && !isRetryEntry(e)));
    const file = firsts.find((e) => e.file !== undefined)?.file;
    if (file === undefined) {
      throw new BadInputError(
        `the ledger does not say which file ${name} came from, so its failed runs cannot be ` +
          `planned again; submit the file again with --force`,
      );
    }
    return { sel, firsts: latestByName(firsts), file };
  });
  const files = [...new Set(found.map((f) => f.file))];
  const { submissions, items, costCap } = await prepare({ ...opts, files }, ctx, outputs);
  const todo = found.flatMap(({ sel, firsts, file }) => {
    const name = sel.name;
    const mine = submissions.filter((s) => s.jobName === name || s.sweep === name);
    const item = items.find((i) => i.jobName === name || mine.some((s) => s.jobName === i.jobName));
    const changed = mine.some((s) => firsts.get(s.jobName)?.hash !== s.hash);
    if (item === undefined || mine.length === 0 || changed) {
      throw new BadInputError({
        file,
        message:
          `changed since ${name} was submitted from it, so its failed runs cannot be told ` +
          "apart from new ones; restore the file as it was, or submit it again with --force",
      });
    }
    return planRetry(sel, mine, item, entries);
  });
  return { todo, costCap };
}

function planRetry(
  sel: RetrySelection,
  mine: readonly Submission[],
  item: Loaded,
  entries: readonly LedgerEntry[],
): Submission[] {
  const jobName = nextRetryName(sel.name, entries);
  const indexes = sel.failed.flatMap((u) => (u.index !== undefined ? [u.index] : []));
  if (indexes.length === 0) {
    return [planJobRetry(mine[0], sel.name, jobName)];
  }
  if (item.kind !== "sweep") {
    throw new BadInputError({
      file: item.doc.file,
      message:
        `${sel.name} is an array job of a job file (arrayProperties), whose children cannot be ` +
        "rerun one by one; submit it again with --force, or make it a sweep",
    });
  }
  const outOfRange = indexes.filter((i) => i >= item.sets.length);
  if (outOfRange.length > 0) {
    throw new BadInputError({
      file: item.file,
      message: `has ${item.sets.length} sets, but ${sel.name}'s failed set(s) ${outOfRange.join(", ")} lie beyond; submit it again with --force`,
    });
  }
  return sweepSubmissions(item, jobName, indexes, mine[0].request);
}

function refuseUnfinished(selection: readonly RetrySelection[]): void {
  const busy = selection.filter((s) => s.unfinished.length > 0);
  if (busy.length === 0) {
    return;
  }
  const what = busy.map((b) => {
    const unknown = b.unfinished.filter((u) => u.status === "UNKNOWN").length;
    const check = unknown > 0 ? `, ${unknown} unknown to Batch: check --stack/--outputs` : "";
    return `${b.name} (${b.unfinished.length} not finished${check})`;
  });
  throw new FatalError(
    `${what.join(", ")}: a retry waits until every run has finished; wait for them ` +
      `(npm run jobs:watch -- ${busy.map((b) => b.name).join(" ")}), then retry; nothing was submitted`,
  );
}

function refuseParts(names: readonly string[], latest: ReadonlyMap<string, LedgerEntry>): void {
  const parts = names.flatMap((n) => {
    const of = latest.get(n)?.of;
    return of !== undefined && of !== n ? [`${n} (part of ${of})`] : [];
  });
  if (parts.length > 0) {
    throw new BadInputError(
      `jobs:retry takes the names of sweeps and jobs as submitted, not of their chunks or ` +
        `retries: ${parts.join(", ")}; name the sweep instead`,
    );
  }
}

export async function retryCommand(given: RetryOptions, ctx: Context): Promise<number> {
  const names = [...new Set(given.names)];
  const result = await withStack(given, ctx, async (stack): Promise<SubmitResult> => {
    const { outputs, ledger, clients } = stack;
    refuseParts(names, ledger.latest());
    const steps = await failedSteps(names, ledger.entries, clients);
    const opts = { ...given, names: [...names, ...steps.map((s) => s.name)] };
    // As of before an interrupted retry of these names, so running it again completes it.
    const resume = new Set(
      ledger
        .openIntents()
        .filter((i) => i.of !== undefined && opts.names.includes(i.of))
        .map((i) => i.run),
    );
    const asBefore = (e: LedgerEntry) => !resume.has(e.run);
    const before = ledger.entries.filter(asBefore);
    const known = selectEntries(ledger, opts.names, false, outputs.stack).filter(asBefore);
    const bucket = requireOutput(outputs, "bucketName", "to read what failed");
    const { units, warnings } = await awsSource(known, clients, bucket).units();
    warnings.forEach((w) => ctx.io.stderr.write(`warning: ${w}\n`));
    const selection = selectRetry(opts.names, units);
    refuseUnfinished(selection);
    const failed = selection.filter((sel) => sel.failed.length > 0);
    if (failed.length === 0) {
      return { kind: "retry-nothing", stack: outputs.stack, names: opts.names };
    }
    const { todo, costCap } = await planRetries(failed, before, opts, ctx, outputs);
    const notes: Problem[] = [
      ...selection
        .filter((sel) => sel.failed.length === 0)
        .map((sel) => ({ message: `nothing failed in ${sel.name}: nothing to retry there` })),
      ...steps.map(({ name, after }) => ({
        message: `${name} failed because ${after.join(", ")} failed (Batch failed it without running it): retried after ${after.length === 1 ? "its retry" : "their retries"}`,
      })),
    ];
    refuseRetryNames(todo, before);
    // Not --force: the ledger lacks the retry's names, but those an interrupted retry already sent.
    return submitWithinCost(todo, notes, outputs, opts, ctx, costCap);
  });
  printSubmitResult(result, ctx.io, { ...given, cwd: ctx.cwd });
  return submitExitCode(result);
}

/** Steps Batch failed because a job they wait for (among `names`, or these steps) failed. */
async function failedSteps(
  names: readonly string[],
  entries: readonly LedgerEntry[],
  clients: AwsClients,
): Promise<{ name: string; after: string[] }[]> {
  const runs = [...new Set(entries.map(groupOf))]
    .filter((g) => !names.includes(g))
    .flatMap((g) => standingRuns(entries, g));
  const ids = runs.map((e) => e.jobId);
  const details = await describeById(clients, ids);
  const { after } = pipelineOf(runs, details, entries);
  const failed = runs.filter((e) => {
    const d = details.get(e.jobId);
    return d !== undefined && failedByDependency(d);
  });
  const retried = new Set(names);
  const steps: { name: string; after: string[] }[] = [];
  for (let grew = true; grew;) {
    grew = false;
    for (const e of failed) {
      const mine = (after.get(e.jobId) ?? []).filter((p) => retried.has(p));
      if (!retried.has(groupOf(e)) && mine.length > 0) {
        retried.add(groupOf(e));
        steps.push({ name: groupOf(e), after: mine });
        grew = true;
      }
    }
  }
  return steps;
}

/** Names AWS would refuse, or that the ledger already holds for other jobs. */
function refuseRetryNames(todo: readonly Submission[], before: readonly LedgerEntry[]): void {
  const bad = todo.flatMap((s) => {
    const why = checkJobName(s.jobName);
    const message = `${why}: the retry of ${s.sweep ?? s.jobName} cannot be named; submit it again under a shorter jobName with --force; nothing was submitted`;
    return why === undefined ? [] : [{ file: s.file, path: "jobName", message }];
  });
  if (bad.length > 0) {
    throw new BadInputError(bad);
  }
  const taken = latestByName(before);
  const clash = todo.filter((s) => taken.has(s.jobName));
  if (clash.length > 0) {
    throw new FatalError(
      `the retry's job name(s) ${clash.map((s) => s.jobName).join(", ")} are already in the ledger ` +
        `for other jobs (${clash.map((s) => taken.get(s.jobName)?.file ?? "no file").join(", ")}); ` +
        "rename those jobs, or submit the sweep again under another jobName; nothing was submitted",
    );
  }
}
