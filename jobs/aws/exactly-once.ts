/**
 * The submission protocol that makes every job name in the ledger map to exactly one Batch
 * job after a crash or a lost answer:
 *
 *   1. intent line (name, fresh token, request hash) durably in the ledger;
 *   2. SubmitJob with the token as a tag (the SDK retries only throttling);
 *   3. the job ID in the ledger.
 *
 * A crash between 1 and 3, or an answer lost to a timeout, a reset or a 5xx, leaves an open
 * intent. Open intents are reconciled by token (jobs/aws/reconcile.ts) before anything new is
 * sent: the job found is adopted; a job still absent after the listing wait is sent again
 * with the same token. A deliberate resubmission (`--force`) is a new logical submission: a
 * new intent with a new token, never confused with the first.
 */
import type { AwsClients, JobDetail } from "./api";
import { submitFailure } from "./api";
import { describeError } from "../errors";
import type { IntentLine, Ledger, LedgerEntry } from "../state/ledger";
import type { Submission } from "../input/plan";
import { runPool, type PoolOutcome } from "./pool";
import { reconcile, withToken, type ReconcileDeps } from "./reconcile";
import { definedOnly } from "../../components/defined";

/** Where a crash can be injected, in the order a submission passes them. */
export type CrashPoint = "intent-durable" | "answer-received";

/** Crashes and shorter waits that tests inject through the context they build. */
export interface Faults {
  /** At each crash point; may never return (a killed process) or never resolve (a frozen run). */
  readonly checkpoint?: (point: CrashPoint, jobName: string) => void | Promise<void>;
  /** Instead of LISTING_WAIT_MS and SUBMIT_TIMEOUT_MS. */
  readonly listingWaitMs?: number;
  readonly submitTimeoutMs?: number;
}

/** How many times one run resends a job whose answer was lost before leaving it open. */
const MAX_SEND_ROUNDS = 3;

/** A job AWS accepted whose ledger line could not be written. */
export class UnrecordedError extends Error {
  constructor(
    readonly entry: LedgerEntry,
    readonly failure: unknown,
  ) {
    super(describeError(failure));
    this.name = "UnrecordedError";
  }
}

/** One send: a submission and the token of its logical submission. */
export interface SendItem {
  readonly submission: Submission;
  readonly token: string;
}

type SendOutcome =
  | { readonly status: "accepted"; readonly entry: LedgerEntry; readonly resent: boolean }
  /** The answer was lost; the job may exist. Reconciled by token before any resend. */
  | { readonly status: "unknown"; readonly intent: IntentLine; readonly error: unknown };

export interface SendContext {
  readonly clients: AwsClients;
  readonly ledger: Ledger;
  readonly run: string;
  readonly faults?: Faults;
  /** Called after each job is in the ledger (progress, per-job lines). */
  readonly onAccepted?: (entry: LedgerEntry, how: "submitted" | "recovered") => void;
  readonly onLost?: (intent: IntentLine, error: unknown) => void;
}

function intentFor(item: SendItem, run: string): IntentLine {
  const s = item.submission;
  return {
    v: 1,
    type: "intent",
    jobName: s.jobName,
    token: item.token,
    hash: s.hash,
    jobQueue: s.request.jobQueue,
    kind: s.arraySize !== undefined ? "array" : "single",
    ...definedOnly({ arraySize: s.arraySize }),
    file: s.file,
    ...definedOnly({ of: s.sweep, manifest: s.kind === "array" ? s.manifest.key : undefined }),
    run,
    at: new Date().toISOString(),
  };
}

/**
 * Intent, SubmitJob, job ID. Throws when AWS refused the request (after closing the intent)
 * or the ledger cannot be written; returns "unknown" when the answer was lost.
 */
async function sendOne(item: SendItem, ctx: SendContext, resent = false): Promise<SendOutcome> {
  const s = item.submission;
  const intent = intentFor(item, ctx.run);
  await ctx.ledger.recordIntent(intent);
  await ctx.faults?.checkpoint?.("intent-durable", s.jobName);
  let res: { jobId: string; jobArn?: string };
  try {
    res = await ctx.clients.batch.submitJob(withToken(s.request, item.token));
  } catch (err) {
    if (submitFailure(err) === "unknown") {
      ctx.onLost?.(intent, err);
      return { status: "unknown", intent, error: err };
    }
    try {
      ctx.ledger.appendClosed({
        v: 1,
        type: "closed",
        jobName: s.jobName,
        token: item.token,
        reason: describeError(err),
        at: new Date().toISOString(),
      });
    } catch {
      // Left open, the intent is looked up (and found absent) by the next run: still right.
    }
    throw err;
  }
  await ctx.faults?.checkpoint?.("answer-received", s.jobName);
  const entry: LedgerEntry = {
    v: 1,
    jobName: s.jobName,
    jobId: res.jobId,
    ...definedOnly({ jobArn: res.jobArn }),
    kind: intent.kind,
    ...definedOnly({ arraySize: s.arraySize }),
    file: s.file,
    hash: s.hash,
    ...definedOnly({ of: s.sweep, manifest: intent.manifest }),
    run: ctx.run,
    submittedAt: new Date().toISOString(),
    token: item.token,
  };
  try {
    ctx.ledger.append(entry);
  } catch (failure) {
    throw new UnrecordedError(entry, failure);
  }
  ctx.onAccepted?.(entry, "submitted");
  return { status: "accepted", entry, resent };
}

/** The ledger entry for a job found by its intent's token. */
function adoptedEntry(intent: IntentLine, job: JobDetail): LedgerEntry {
  return {
    v: 1,
    jobName: intent.jobName,
    jobId: job.jobId as string,
    ...definedOnly({ jobArn: job.jobArn }),
    kind: intent.kind,
    ...definedOnly({ arraySize: intent.arraySize, file: intent.file }),
    hash: intent.hash,
    ...definedOnly({ of: intent.of, manifest: intent.manifest }),
    run: intent.run,
    submittedAt: job.createdAt !== undefined ? new Date(job.createdAt).toISOString() : intent.at,
    token: intent.token,
  };
}

/** Further jobs that carry one token: the listing lagged past the wait (README, limits). */
export interface Duplicate {
  readonly jobName: string;
  readonly token: string;
  readonly recorded: string;
  readonly others: string[];
}

export interface Reconciled {
  /** Entries written for jobs found by token. */
  readonly recovered: LedgerEntry[];
  /** Intents whose job never appeared: send again with the same token. */
  readonly absent: IntentLine[];
  /** Still undecided when the run was interrupted; they stay open. */
  readonly undecided: IntentLine[];
  readonly duplicates: Duplicate[];
}

/** Looks `intents` up by token and records the jobs found. */
export async function reconcileAndAdopt(
  intents: readonly IntentLine[],
  ctx: SendContext,
  deps: Omit<ReconcileDeps, "batch" | "known">,
): Promise<Reconciled> {
  const verdicts = await reconcile(intents, {
    ...deps,
    batch: ctx.clients.batch,
    known: new Set(ctx.ledger.entries.map((e) => e.jobId)),
  });
  const out: Reconciled = { recovered: [], absent: [], undecided: [], duplicates: [] };
  for (const intent of intents) {
    const v = verdicts.get(intent.token);
    if (v === undefined) {
      out.undecided.push(intent);
    } else if (v.kind === "absent") {
      out.absent.push(intent);
    } else {
      const entry = adoptedEntry(intent, v.job);
      try {
        ctx.ledger.append(entry);
      } catch (failure) {
        throw new UnrecordedError(entry, failure);
      }
      out.recovered.push(entry);
      ctx.onAccepted?.(entry, "recovered");
      if (v.extra.length > 0) {
        out.duplicates.push({
          jobName: intent.jobName,
          token: intent.token,
          recorded: entry.jobId,
          others: v.extra.map((j) => j.jobId as string),
        });
      }
    }
  }
  return out;
}

export interface SendAllResult {
  readonly accepted: LedgerEntry[];
  readonly recovered: LedgerEntry[];
  /** Answers lost and still not found or resent after MAX_SEND_ROUNDS, or interrupted. */
  readonly open: IntentLine[];
  readonly duplicates: Duplicate[];
  /** Rejections and ledger failures, by item index (the pool stopped after the first). */
  readonly failures: { readonly item: SendItem; readonly reason: unknown }[];
  /** Never sent: the pool stopped early (a failure or Ctrl-C). */
  readonly notSent: SendItem[];
  /** Looking lost answers up failed (ListJobs/DescribeJobs); their intents stay open. */
  readonly lookupError?: unknown;
}

type MutableResult = { -readonly [K in keyof SendAllResult]: SendAllResult[K] };

interface SendAllOptions {
  readonly concurrency: number;
  readonly signal: AbortSignal;
  readonly reconcile: Omit<ReconcileDeps, "batch" | "known">;
}

/**
 * Sends `items` with bounded concurrency; then reconciles every lost answer by token and
 * resends (same token) the ones AWS never created, up to MAX_SEND_ROUNDS times.
 */
export async function sendAll(
  items: readonly SendItem[],
  ctx: SendContext,
  opts: SendAllOptions,
): Promise<SendAllResult> {
  const result: MutableResult = {
    accepted: [],
    recovered: [],
    open: [],
    duplicates: [],
    failures: [],
    notSent: [],
  };
  let batch: readonly SendItem[] = items;
  for (let round = 0; batch.length > 0; round++) {
    const outcomes = await runPool(batch, (item) => sendOne(item, ctx, round > 0), {
      concurrency: opts.concurrency,
      stopOnError: true,
      signal: opts.signal,
    });
    const lost = collectRound(outcomes, batch, result);
    if (lost.length === 0) {
      break;
    }
    if (round + 1 >= MAX_SEND_ROUNDS || result.failures.length > 0 || opts.signal.aborted) {
      result.open.push(...lost);
      break;
    }
    batch = await resendable(lost, batch, ctx, opts, result);
  }
  return result;
}

/** One round's outcomes into `result`; returns the intents whose answer was lost. */
function collectRound(
  outcomes: readonly PoolOutcome<SendOutcome>[],
  batch: readonly SendItem[],
  result: MutableResult,
): IntentLine[] {
  const lost: IntentLine[] = [];
  outcomes.forEach((o, i) => {
    if (o.status === "fulfilled") {
      if (o.value.status === "accepted") {
        result.accepted.push(o.value.entry);
      } else {
        lost.push(o.value.intent);
      }
    } else if (o.status === "rejected") {
      result.failures.push({ item: batch[i], reason: o.reason });
    } else {
      result.notSent.push(batch[i]);
    }
  });
  return lost;
}

/**
 * The lost answers looked up by token: found jobs adopted into `result`, undecided ones left
 * open; returns the items Batch never created, to send again with the same token (none when
 * the lookup itself failed: then every lost intent stays open).
 */
async function resendable(
  lost: readonly IntentLine[],
  batch: readonly SendItem[],
  ctx: SendContext,
  opts: SendAllOptions,
  result: MutableResult,
): Promise<SendItem[]> {
  let r: Reconciled;
  try {
    r = await reconcileAndAdopt(lost, ctx, opts.reconcile);
  } catch (err) {
    if (err instanceof UnrecordedError) {
      throw err;
    }
    result.open.push(...lost);
    result.lookupError = err;
    return [];
  }
  result.recovered.push(...r.recovered);
  result.duplicates.push(...r.duplicates);
  result.open.push(...r.undecided);
  const byToken = new Map(batch.map((item) => [item.token, item]));
  return r.absent.flatMap((intent) => {
    const item = byToken.get(intent.token);
    return item !== undefined ? [item] : [];
  });
}
