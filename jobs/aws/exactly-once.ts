/**
 * The submission protocol that makes every job name in the ledger map to exactly one Batch
 * job after a crash or a lost answer, and every ledger line it writes:
 *
 *   1. intent line (name, fresh token, request hash) durably in the ledger;
 *   2. SubmitJob with the token as a tag (the SDK retries only throttling);
 *   3. the job ID in the ledger (an entry), or a closing line when AWS refused the request.
 *
 * A crash between 1 and 3, or an answer lost to a timeout, a reset or a 5xx, leaves an open
 * intent. Open intents are looked up by token (`recoverOpenIntents`) before anything new is
 * sent: the job found is adopted; a job still absent after the listing wait is sent again
 * with the same token. A deliberate resubmission (`--force`) is a new logical submission: a
 * new intent with a new token, never confused with the first.
 *
 * SubmitJob has no idempotency token, so the tool brings its own: each logical submission
 * gets a fresh random token, written in the intent line before the request leaves and sent
 * as the job tag TOKEN_TAG (jobs/input/plan.ts refuses files that set it). A job found in Batch is adopted only if its tag
 * equals the intent's token, so a job of the same name submitted by someone else (or by an
 * earlier `--force`) is never mistaken for it.
 *
 * Lookup: ListJobs on the intent's queue with a JOB_NAME filter (with a filter, ListJobs
 * returns jobs of every status; its summaries carry no tags), then DescribeJobs on the
 * candidates, 100 IDs per call, to read their tags.
 *
 * ListJobs is a read of an eventually consistent store and AWS Batch publishes no bound for
 * how long a new job can be missing from it. A job absent from the list is therefore only
 * taken as never created once LISTING_WAIT_MS (plus the request's own timeout) have passed
 * since its intent was written; until then the lookup is repeated with backoff.
 */
import { randomUUID } from "crypto";
import type { AwsClients, BatchApi, JobDetail } from "./api";
import { submitFailure } from "./api";
import { FatalError, describeError } from "../errors";
import type { SubmitJobRequest } from "../input/job-file";
import type { IntentLine, Ledger, LedgerEntry } from "../state/ledger";
import { TOKEN_TAG, type Submission } from "../input/plan";
import { runPool, type PoolOutcome } from "./pool";
import { definedOnly } from "../../components/defined";
/**
 * How long a job missing from ListJobs may still turn up: 5 minutes. AWS Batch documents no
 * consistency window for ListJobs (DescribeJobs, too, can return nothing for a job just
 * submitted: Netflix/metaflow#543, apache/airflow#38998). The one bound AWS publishes for an
 * eventually consistent control-plane API is EC2's: retry a Describe "increasing gradually
 * up to five minutes of wait time" (docs.aws.amazon.com/ec2/latest/devguide/
 * eventual-consistency.html). Only a job whose answer was lost, or an intent left by a
 * crash less than this long ago, ever waits; a re-run later than that waits for nothing.
 */
export const LISTING_WAIT_MS = 5 * 60_000;

/** First pause between lookups while waiting; doubles up to the cap. */
const FIRST_POLL_MS = 2_000;
const MAX_POLL_MS = 30_000;

/** ListJobs calls in flight during a lookup (the account's ListJobs rate is shared). */
const LOOKUP_CONCURRENCY = 4;

export function newToken(): string {
  return randomUUID();
}

/** The request as sent: the file's own tags plus the token. */
export function withToken(request: SubmitJobRequest, token: string): SubmitJobRequest {
  return { ...request, tags: { ...(request.tags ?? {}), [TOKEN_TAG]: token } };
}

/**
 * The jobs carrying each intent's token, oldest first. `known` job IDs (already in the
 * ledger) are skipped: an entry closes its own token, so they cannot belong to an open one.
 */
async function findByToken(
  batch: BatchApi,
  intents: readonly IntentLine[],
  known: ReadonlySet<string>,
): Promise<Map<string, JobDetail[]>> {
  const listed = await runPool(intents, (i) => batch.listJobsByName(i.jobQueue, i.jobName), {
    concurrency: LOOKUP_CONCURRENCY,
    stopOnError: true,
  });
  const ids = new Set<string>();
  for (const o of listed) {
    if (o.status === "rejected") {
      throw o.reason;
    }
    if (o.status === "fulfilled") {
      o.value.forEach((j) => j.jobId !== undefined && !known.has(j.jobId) && ids.add(j.jobId));
    }
  }
  const tokens = new Set(intents.map((i) => i.token));
  const found = new Map<string, JobDetail[]>();
  for (const d of await batch.describeJobs([...ids])) {
    const token = d.tags?.[TOKEN_TAG];
    if (token !== undefined && tokens.has(token)) {
      found.set(token, [...(found.get(token) ?? []), d]);
    }
  }
  for (const jobs of found.values()) {
    jobs.sort((a, b) => (a.createdAt ?? 0) - (b.createdAt ?? 0));
  }
  return found;
}

export type Verdict =
  /** The job exists; `extra` are further jobs with the same token (see README's limits). */
  | { readonly kind: "found"; readonly job: JobDetail; readonly extra: readonly JobDetail[] }
  /** Not listed, and the listing had time to catch up: AWS never created it. */
  | { readonly kind: "absent" }
  /** Not listed yet, and it may still appear until `deadline` (ms since the epoch). */
  | { readonly kind: "wait"; readonly deadline: number };

/** The moment a missing job counts as never created. */
export function absentAfter(intent: IntentLine, waitMs: number, timeoutMs: number): number {
  const at = Date.parse(intent.at);
  // An unreadable time cannot start the wait: treat it as written now.
  return (Number.isNaN(at) ? Date.now() : at) + waitMs + timeoutMs;
}

/** What one lookup, made at `listedAt`, says about an intent; pure. */
export function verdict(
  intent: IntentLine,
  matches: readonly JobDetail[] | undefined,
  listedAt: number,
  waitMs: number,
  timeoutMs: number,
): Verdict {
  if (matches !== undefined && matches.length > 0) {
    return { kind: "found", job: matches[0], extra: matches.slice(1) };
  }
  const deadline = absentAfter(intent, waitMs, timeoutMs);
  return listedAt >= deadline ? { kind: "absent" } : { kind: "wait", deadline };
}

/** How long to wait for Batch's job list, and how (Ctrl-C cuts the wait short). */
interface LookupTiming {
  readonly waitMs: number;
  /** The SubmitJob request timeout: a request may reach AWS that long after its intent. */
  readonly timeoutMs: number;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly signal: AbortSignal;
}

/**
 * Looks intents up until each is found or known absent. Intents still waiting when the
 * signal aborts are left out of the result (they stay open in the ledger).
 */
async function reconcile(
  intents: readonly IntentLine[],
  ctx: SendContext,
): Promise<Map<string, Exclude<Verdict, { kind: "wait" }>>> {
  const deps = ctx.timing;
  const known = new Set(ctx.ledger.entries.map((e) => e.jobId));
  const settled = new Map<string, Exclude<Verdict, { kind: "wait" }>>();
  let pending = [...intents];
  let pause = Math.min(FIRST_POLL_MS, Math.max(1, Math.floor(deps.waitMs / 8)));
  let announced = false;
  while (pending.length > 0 && !deps.signal.aborted) {
    const listedAt = deps.now();
    const found = await findByToken(ctx.clients.batch, pending, known);
    const waiting: { intent: IntentLine; deadline: number }[] = [];
    for (const intent of pending) {
      const v = verdict(intent, found.get(intent.token), listedAt, deps.waitMs, deps.timeoutMs);
      if (v.kind === "wait") {
        waiting.push({ intent, deadline: v.deadline });
      } else {
        settled.set(intent.token, v);
      }
    }
    if (waiting.length === 0) {
      break;
    }
    const now = deps.now();
    const latest = Math.max(...waiting.map((w) => w.deadline));
    if (!announced) {
      ctx.note?.(
        `waiting up to ${Math.ceil(Math.max(0, latest - now) / 1000)} s for Batch's job list to ` +
          `show ${waiting.length} job(s) whose answer was lost before deciding to send them ` +
          `again (Batch's listing can lag; the wait is ${Math.round(deps.waitMs / 1000)} s from the send)`,
      );
      announced = true;
    }
    // Poll with backoff, but never sleep past the first deadline: the lookup just after it
    // is the one that may decide.
    const first = Math.min(...waiting.map((w) => w.deadline));
    await deps.sleep(Math.max(1, Math.min(pause, first - now)));
    pause = Math.min(pause * 2, MAX_POLL_MS);
    pending = waiting.map((w) => w.intent);
  }
  return settled;
}

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
  readonly timing: LookupTiming;
  readonly faults?: Faults;
  /** Called after each job is in the ledger (progress, per-job lines). */
  readonly onAccepted?: (entry: LedgerEntry, how: "submitted" | "recovered") => void;
  /** What the run does about a lost answer or an open intent, as it goes (one line each). */
  readonly note?: (line: string) => void;
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
      ctx.note?.(
        `note: ${s.jobName}: SubmitJob's answer was lost (${describeError(err)}); ` +
          "looking the job up by its token before sending it again",
      );
      return { status: "unknown", intent, error: err };
    }
    try {
      closeIntent(ctx.ledger, intent, describeError(err));
    } catch (closeErr) {
      // Left open, the intent is looked up (and found absent) by the next run: still right.
      ctx.note?.(
        `note: ${s.jobName}: its intent stays open (${describeError(closeErr)}); ` +
          "the next run looks it up before sending",
      );
    }
    throw err;
  }
  await ctx.faults?.checkpoint?.("answer-received", s.jobName);
  const entry = recordJob(ctx, intent, res, new Date().toISOString(), "submitted");
  return { status: "accepted", entry, resent };
}

/**
 * The entry that closes `intent` with the job Batch made (sent now, or found by the token),
 * in the ledger; UnrecordedError when it cannot be written.
 */
function recordJob(
  ctx: SendContext,
  intent: IntentLine,
  job: { readonly jobId: string; readonly jobArn?: string | undefined },
  submittedAt: string,
  how: "submitted" | "recovered",
): LedgerEntry {
  const entry: LedgerEntry = {
    v: 1,
    jobName: intent.jobName,
    jobId: job.jobId,
    ...definedOnly({ jobArn: job.jobArn }),
    kind: intent.kind,
    ...definedOnly({ arraySize: intent.arraySize, file: intent.file }),
    hash: intent.hash,
    ...definedOnly({ of: intent.of, manifest: intent.manifest }),
    run: intent.run,
    submittedAt,
    token: intent.token,
  };
  try {
    ctx.ledger.append(entry);
  } catch (failure) {
    throw new UnrecordedError(entry, failure);
  }
  ctx.onAccepted?.(entry, how);
  return entry;
}

/** The closing line of an intent that created no job. */
function closeIntent(ledger: Ledger, intent: IntentLine, reason: string): void {
  ledger.appendClosed({
    v: 1,
    type: "closed",
    jobName: intent.jobName,
    token: intent.token,
    reason,
    at: new Date().toISOString(),
  });
}

/** Further jobs that carry one token: the listing lagged past the wait (README, limits). */
export interface Duplicate {
  readonly jobName: string;
  readonly token: string;
  readonly recorded: string;
  readonly others: string[];
}

interface Reconciled {
  /** Entries written for jobs found by token. */
  readonly recovered: LedgerEntry[];
  /** Intents whose job never appeared: send again with the same token. */
  readonly absent: IntentLine[];
  /** Still undecided when the run was interrupted; they stay open. */
  readonly undecided: IntentLine[];
  readonly duplicates: Duplicate[];
}

/** Looks `intents` up by token and records the jobs found. */
async function reconcileAndAdopt(
  intents: readonly IntentLine[],
  ctx: SendContext,
): Promise<Reconciled> {
  const verdicts = await reconcile(intents, ctx);
  const out: Reconciled = { recovered: [], absent: [], undecided: [], duplicates: [] };
  for (const intent of intents) {
    const v = verdicts.get(intent.token);
    if (v === undefined) {
      out.undecided.push(intent);
    } else if (v.kind === "absent") {
      out.absent.push(intent);
    } else {
      const { jobId, jobArn, createdAt } = v.job;
      const at = createdAt !== undefined ? new Date(createdAt).toISOString() : intent.at;
      const entry = recordJob(ctx, intent, { jobId: jobId as string, jobArn }, at, "recovered");
      out.recovered.push(entry);
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

/**
 * Sends `items` with bounded concurrency; then reconciles every lost answer by token and
 * resends (same token) the ones AWS never created, up to MAX_SEND_ROUNDS times.
 */
export async function sendAll(
  items: readonly SendItem[],
  ctx: SendContext,
  concurrency: number,
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
      concurrency,
      stopOnError: true,
      signal: ctx.timing.signal,
    });
    const lost = collectRound(outcomes, batch, result);
    if (lost.length === 0) {
      break;
    }
    if (round + 1 >= MAX_SEND_ROUNDS || result.failures.length > 0 || ctx.timing.signal.aborted) {
      result.open.push(...lost);
      break;
    }
    batch = await resendable(lost, batch, ctx, result);
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
  result: MutableResult,
): Promise<SendItem[]> {
  let r: Reconciled;
  try {
    r = await reconcileAndAdopt(lost, ctx);
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

/** What recovery of an earlier run's open intents found, before anything new is sent. */
export interface Recovery {
  readonly recovered: LedgerEntry[];
  /** Intents never seen in Batch whose request this run has again: sent with their token. */
  readonly resend: SendItem[];
  readonly duplicates: Duplicate[];
  /** Intents still undecided when the run was interrupted; they stay open. */
  readonly undecided: number;
}

/**
 * Before anything new is sent: every intent an earlier run left open is looked up by token.
 * Found: adopted. Absent after the listing wait: resent with the same token if this run has
 * the same request, else closed (the name, if in this run, is then a new submission).
 */
export async function recoverOpenIntents(
  submissions: readonly Submission[],
  ctx: SendContext,
): Promise<Recovery> {
  const open = ctx.ledger.openIntents();
  if (open.length === 0) {
    return { recovered: [], resend: [], duplicates: [], undecided: 0 };
  }
  ctx.note?.(
    `${open.length} submission(s) from an earlier run have no job ID in the ledger (a crash ` +
      "or a lost answer); looking them up in Batch by their submission token first",
  );
  const r = await lookUpOpen(open, ctx);
  return {
    recovered: r.recovered,
    resend: resendOrClose(r.absent, submissions, ctx),
    duplicates: r.duplicates,
    undecided: r.undecided.length,
  };
}

/** The open intents looked up by token; a failure stops the run before anything new is sent. */
async function lookUpOpen(open: readonly IntentLine[], ctx: SendContext): Promise<Reconciled> {
  try {
    return await reconcileAndAdopt(open, ctx);
  } catch (err) {
    throw err instanceof UnrecordedError
      ? new FatalError(
          `${err.entry.jobName} was found in Batch as ${err.entry.jobId} but could not be recorded in the ledger ${ctx.ledger.file} (${describeError(err.failure)}); make it writable and re-run; nothing new was sent`,
        )
      : new FatalError(
          `looking up ${open.length} submission(s) an earlier run left open failed (${describeError(err)}); ` +
            "nothing new was sent; jobs:submit needs batch:ListJobs and batch:DescribeJobs besides batch:SubmitJob",
        );
  }
}

/**
 * Intents never seen in Batch: sent again with their token when this run has the same
 * request; otherwise closed in the ledger.
 */
function resendOrClose(
  absent: readonly IntentLine[],
  submissions: readonly Submission[],
  ctx: SendContext,
): SendItem[] {
  const byName = new Map(submissions.map((s) => [s.jobName, s]));
  const resend: SendItem[] = [];
  for (const intent of absent) {
    const s = byName.get(intent.jobName);
    if (s !== undefined && s.hash === intent.hash) {
      resend.push({ submission: s, token: intent.token });
      ctx.note?.(
        `note: ${intent.jobName}: not in Batch's job list ${describeAge(intent)} after it was sent; ` +
          `sending it again with the same token (${intent.token})`,
      );
    } else {
      const gone = s === undefined;
      closeIntent(
        ctx.ledger,
        intent,
        `not in Batch after the listing wait; ${gone ? "not in this run" : "its file changed"}`,
      );
      ctx.note?.(
        `note: ${intent.jobName}: the earlier submission never reached Batch and ` +
          `${gone ? "is not in this run" : "its file changed since"}; ` +
          `${gone ? "not sent" : "sending the new version"}`,
      );
    }
  }
  return resend;
}

function describeAge(intent: IntentLine): string {
  const ms = Date.now() - Date.parse(intent.at);
  return Number.isNaN(ms) ? "long" : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
