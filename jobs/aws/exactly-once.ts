/**
 * Exactly one Batch job per logical submission: claim (claims.ts), durable intent, SubmitJob
 * tagged TOKEN_TAG, job ID in ledger and claim. SubmitJob has no idempotency token, so an intent
 * whose answer is unknown is looked up by token before a resend. See docs/jobs.md, "Exactly once".
 */
import { randomUUID } from "crypto";
import { submitFailure, type AwsClients, type JobDetail } from "./api";
import { BadInputError, FatalError, describeError } from "../errors";
import { entryOf, type IntentLine, type Ledger, type LedgerEntry } from "../state/ledger";
import { TOKEN_TAG, type Submission } from "../input/plan";
import { runAll, runPool } from "./pool";
import { namedDependencies, resolveDependencies } from "../input/depends";
import { groupBy } from "../status";
import { claimKey, sameClaim, type Claim, type Claims, type ReadClaim } from "./claims";
import { definedOnly } from "../../components/defined";

/**
 * How long a job missing from ListJobs may still turn up: Batch documents no window (its
 * DescribeJobs lags too: Netflix/metaflow#543, apache/airflow#38998), so EC2's guide sets it.
 * @see https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html
 */
export const LISTING_WAIT_MS = 5 * 60_000;

const FIRST_POLL_MS = 2_000;
const MAX_POLL_MS = 30_000;
/** Low: the account's ListJobs rate is shared. */
const LOOKUP_CONCURRENCY = 4;
/** Resends of a job whose answer was lost, in one run, before it is left open. */
const MAX_SEND_ROUNDS = 3;

export function withToken(request: Submission["request"], token: string) {
  return { ...request, tags: { ...(request.tags ?? {}), [TOKEN_TAG]: token } };
}

export type CrashPoint = "claim-created" | "intent-durable" | "answer-received" | "claim-answered";

/** Crashes (a checkpoint that never returns or resolves) and shorter waits tests inject. */
export interface Faults {
  readonly checkpoint?: (point: CrashPoint, jobName: string) => void | Promise<void>;
  readonly listingWaitMs?: number;
  readonly submitTimeoutMs?: number;
}

type How = "submitted" | "recovered" | "adopted";

interface SendContext {
  readonly clients: AwsClients;
  readonly ledger: Ledger;
  readonly claims: Claims;
  readonly force: boolean;
  readonly run: string;
  readonly waitMs: number;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  readonly sleep: (ms: number) => Promise<void>;
  readonly faults?: Faults;
  readonly concurrency: number;
  /** A level (0 first) is sent once the one before is in the ledger. */
  readonly levels: ReadonlyMap<string, number>;
  readonly computeType: string | undefined;
  readonly ledgerShown: string;
  readonly progress: { start(sends: number): void; accept(entry: LedgerEntry, how: How): void };
  readonly note: (line: string) => void;
}

/** A request may reach AWS up to its timeout after the intent; an unreadable time waits anew. */
function deadlineOf(at: string, waitMs: number, timeoutMs: number): number {
  const t = Date.parse(at);
  return (Number.isNaN(t) ? Date.now() : t) + waitMs + timeoutMs;
}

/** Doubling pauses, never past `until` (the poll just after decides). */
function poller(ctx: SendContext): (until: number) => Promise<void> {
  let pause = Math.min(FIRST_POLL_MS, Math.max(1, Math.floor(ctx.waitMs / 8)));
  return async (until) => {
    await ctx.sleep(Math.max(1, Math.min(pause, until - Date.now())));
    pause = Math.min(pause * 2, MAX_POLL_MS);
  };
}

async function findByToken(intents: readonly IntentLine[], ctx: SendContext) {
  const { batch } = ctx.clients;
  const list = (i: IntentLine) => batch.listJobsByName(i.jobQueue, i.jobName);
  const listed = await runAll(intents, list, LOOKUP_CONCURRENCY);
  const known = new Set(ctx.ledger.entries.map((e) => e.jobId));
  const ids = new Set(listed.flat().flatMap((j) => j.jobId ?? []));
  const details = await batch.describeJobs([...ids].filter((id) => !known.has(id)));
  const oldestFirst = details.sort((a, b) => (a.createdAt ?? 0) - (b.createdAt ?? 0));
  return groupBy(oldestFirst, (d) => d.tags?.[TOKEN_TAG] ?? "");
}

/** Further jobs with the token are duplicates (README, limits). */
export function verdict(
  intent: IntentLine,
  matches: readonly JobDetail[] | undefined,
  listedAt: number,
  waitMs: number,
  timeoutMs: number,
) {
  if (matches !== undefined && matches.length > 0) {
    return { kind: "found" as const, job: matches[0], extra: matches.slice(1) };
  }
  const deadline = deadlineOf(intent.at, waitMs, timeoutMs);
  return listedAt >= deadline ? { kind: "absent" as const } : { kind: "wait" as const, deadline };
}

/** `undecided`: interrupted before a verdict, they stay open. */
async function reconcile(intents: readonly IntentLine[], ctx: SendContext) {
  const found: [IntentLine, JobDetail, JobDetail[]][] = [];
  const absent: IntentLine[] = [];
  const pause = poller(ctx);
  let pending = [...intents];
  for (let round = 0; pending.length > 0 && !ctx.signal.aborted; round++) {
    const listedAt = Date.now();
    const listed = await findByToken(pending, ctx);
    const deadlines: number[] = [];
    pending = pending.filter((intent) => {
      const v = verdict(intent, listed.get(intent.token), listedAt, ctx.waitMs, ctx.timeoutMs);
      if (v.kind === "wait") {
        deadlines.push(v.deadline);
      } else if (v.kind === "absent") {
        absent.push(intent);
      } else {
        found.push([intent, v.job, v.extra]);
      }
      return v.kind === "wait";
    });
    if (pending.length > 0 && round === 0) {
      const s = Math.ceil(Math.max(0, Math.max(...deadlines) - Date.now()) / 1000);
      ctx.note(
        `waiting up to ${s} s for Batch's job list to show ${pending.length} job(s) whose ` +
          `answer was lost before deciding to send them again (Batch's listing can lag; the ` +
          `wait is ${Math.round(ctx.waitMs / 1000)} s from the send)`,
      );
    }
    if (pending.length > 0) {
      await pause(Math.min(...deadlines));
    }
  }
  const recovered: LedgerEntry[] = [];
  // Recorded once the lookups are done: a failed lookup leaves every intent open.
  for (const [intent, { jobId = "", jobArn, createdAt }] of found) {
    const at = createdAt !== undefined ? new Date(createdAt).toISOString() : intent.at;
    const entry = recordJob(ctx, entryOf(intent, { jobId, jobArn, submittedAt: at }), "recovered");
    await answerClaim(ctx, entry);
    recovered.push(entry);
  }
  const duplicates = found.flatMap(([{ jobName, token }, { jobId = "" }, extra]) => {
    const others = extra.map((j) => j.jobId ?? "");
    return others.length > 0 ? [{ jobName, token, recorded: jobId, others }] : [];
  });
  return { recovered, absent, undecided: pending, duplicates };
}

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

class ClaimRefusedError extends Error {
  override name = "ClaimRefusedError";
}

/** Why `s` may not be sent: its name's claim is open or answered for another request. */
function refusal(s: Submission, claim: Claim, key: string, ctx: SendContext) {
  return claim.intent.hash !== s.hash && claim.closed === undefined
    ? `${s.jobName} was already submitted with another request by ${claim.who} at ${claim.at} ` +
        `(s3://${ctx.claims.bucket}/${key}); pass --force to submit this one as well, or rename the job`
    : undefined;
}

type SendItem = Readonly<{ submission: Submission; token: string; generation: number }>;

type SendOutcome =
  | { readonly status: "accepted" | "adopted"; readonly entry: LedgerEntry }
  | { readonly status: "unknown"; readonly intent: IntentLine }
  | { readonly status: "interrupted"; readonly item: SendItem };

function intentFor(item: SendItem, run: string, at = new Date().toISOString()): IntentLine {
  const { submission: s, token, generation } = item;
  const manifest = s.kind === "array" ? s.manifest.key : undefined;
  return {
    generation,
    v: 1,
    type: "intent",
    jobName: s.jobName,
    token,
    hash: s.hash,
    jobQueue: s.request.jobQueue,
    kind: s.arraySize !== undefined ? "array" : "single",
    ...definedOnly({ arraySize: s.arraySize, file: s.file, of: s.sweep, manifest }),
    run,
    at,
  };
}

async function sendOne(item: SendItem, ctx: SendContext): Promise<SendOutcome> {
  const s = item.submission;
  const claimed = await acquireClaim(item, ctx);
  if ("status" in claimed) {
    return claimed;
  }
  await ctx.faults?.checkpoint?.("claim-created", s.jobName);
  const intent = intentFor(claimed.item, ctx.run);
  await ctx.ledger.recordIntent(intent);
  await ctx.faults?.checkpoint?.("intent-durable", s.jobName);
  if (!(await claimStillOurs(claimed, ctx))) {
    ctx.note(
      `note: ${s.jobName}: its claim was taken over, or is old enough to be, while this run ` +
        "was slow to send; looking the job up by its token instead of sending it",
    );
    return { status: "unknown", intent };
  }
  let res: { jobId: string; jobArn?: string };
  try {
    res = await ctx.clients.batch.submitJob(withToken(s.request, intent.token));
  } catch (err) {
    if (submitFailure(err) === "unknown") {
      ctx.note(
        `note: ${s.jobName}: SubmitJob's answer was lost (${describeError(err)}); ` +
          "looking the job up by its token before sending it again",
      );
      return { status: "unknown", intent };
    }
    // Left open, the intent is looked up (and found absent) by the next run: still right.
    await closeIntent(intent, describeError(err), ctx, claimed).catch((closeErr: unknown) =>
      ctx.note(
        `note: ${s.jobName}: its intent stays open (${describeError(closeErr)}); ` +
          "the next run looks it up before sending",
      ),
    );
    throw err;
  }
  await ctx.faults?.checkpoint?.("answer-received", s.jobName);
  const submittedAt = new Date().toISOString();
  const entry = recordJob(ctx, entryOf(intent, { ...res, submittedAt }), "submitted");
  // Only other machines wait for the claim's job ID: the lane goes on.
  ctx.claims.later.push(answerClaim(ctx, entry, claimed));
  return { status: "accepted", entry };
}

/** Another machine takes a claim over past its deadline, so a late send reads it first. */
async function claimStillOurs({ key, claim }: Claimed, ctx: SendContext) {
  const age = Date.now() - Date.parse(claim.at);
  if (age <= ctx.waitMs / 2) {
    return true;
  }
  if (!(age < ctx.waitMs)) {
    return false;
  }
  const now = await ctx.claims.read(key);
  return now !== undefined && sameClaim(now.claim, claim);
}

type Claimed = ReadClaim & { readonly item: SendItem; readonly key: string };
type ClaimJob = NonNullable<Claim["job"]>;

/** Creates the item's claim, or settles the one there (docs/jobs.md, "Exactly once"). */
async function acquireClaim(item: SendItem, ctx: SendContext): Promise<Claimed | SendOutcome> {
  const s = item.submission;
  const pause = poller(ctx);
  let send = item;
  let held: ReadClaim | undefined;
  let write = true;
  let waitingFor: string | undefined; // The ETag already noted as waited for.
  for (;;) {
    const key = claimKey(s.jobName, send.generation);
    if (write || held === undefined) {
      const intent = intentFor(send, ctx.run);
      const mine: Claim = { v: 1, intent, who: ctx.claims.who, at: intent.at };
      const put = await ctx.claims.put(key, mine, held?.etag);
      if (put?.ours === true) {
        return { ...put, item: send, key };
      }
      held = put;
    }
    write = true;
    if (held === undefined) {
      continue; // Deleted by hand under our If-Match: create it again.
    }
    const { claim, etag } = held;
    const theirs = { ...send, token: claim.intent.token };
    const deadline = deadlineOf(claim.at, ctx.waitMs, ctx.timeoutMs);
    const refused = refusal(s, claim, key, ctx);
    if (refused !== undefined) {
      if (!ctx.force) {
        throw new ClaimRefusedError(refused);
      }
      [send, held] = [{ ...item, generation: send.generation + 1 }, undefined];
    } else if (claim.job !== undefined) {
      return adopt(theirs, key, claim.who, claim.job, ctx);
    } else if (claim.closed !== undefined) {
      // It made no job, so this submission takes its place with its own token.
      send = { ...item, generation: send.generation };
    } else if (deadline > Date.now()) {
      if (waitingFor !== etag) {
        ctx.note(
          `note: ${s.jobName}: ${claim.who} claimed it at ${claim.at} and has no job ID yet; ` +
            `waiting up to ${Math.ceil((deadline - Date.now()) / 1000)} s for it`,
        );
        waitingFor = etag;
      }
      if (ctx.signal.aborted) {
        return { status: "interrupted", item };
      }
      await pause(deadline);
      [held, write] = [await ctx.claims.read(key), false];
    } else {
      const found = await lookUpStale(theirs, claim, ctx);
      if (found !== undefined) {
        return found;
      }
      // Taken with If-Match even when the token is ours: of two runs resending one token,
      // one sends and the other waits.
      send = theirs;
    }
  }
}

/** A claim open past its wait (even our own token's) may have been taken over and sent. */
async function lookUpStale(theirs: SendItem, claim: Claim, ctx: SendContext) {
  const r = await reconcile([intentFor(theirs, ctx.run, claim.at)], ctx);
  if (r.recovered.length > 0) {
    return { status: "adopted" as const, entry: r.recovered[0] };
  }
  return r.undecided.length > 0 ? { status: "interrupted" as const, item: theirs } : undefined;
}

function adopt(item: SendItem, key: string, who: string, job: ClaimJob, ctx: SendContext) {
  ctx.note(
    `note: ${item.submission.jobName}: already sent as ${job.jobId} by ${who} at ` +
      `${job.submittedAt} (claim s3://${ctx.claims.bucket}/${key}); recorded in this ledger, not sent again`,
  );
  const entry = recordJob(ctx, entryOf(intentFor(item, ctx.run), job), "adopted");
  return { status: "adopted" as const, entry };
}

async function answerClaim(ctx: SendContext, entry: LedgerEntry, seen?: ReadClaim): Promise<void> {
  const { jobId, jobArn, submittedAt } = entry;
  await updateClaim(ctx, entry, { job: definedOnly({ jobId, jobArn, submittedAt }) }, seen);
  await ctx.faults?.checkpoint?.("claim-answered", entry.jobName);
}

/** A failure is only a note: it delays other machines, which look the token up. */
async function updateClaim(
  ctx: SendContext,
  line: { readonly jobName: string; readonly token?: string; readonly generation?: number },
  change: Pick<Claim, "job"> | Pick<Claim, "closed">,
  seen?: ReadClaim,
): Promise<void> {
  if (line.generation === undefined || line.token === undefined) {
    return; // Sent before claims existed.
  }
  const key = claimKey(line.jobName, line.generation);
  const where = `s3://${ctx.claims.bucket}/${key}`;
  try {
    // A failed If-Match answers with what the key holds now: tried once more on that.
    let now: (ReadClaim & { ours?: boolean }) | undefined = seen ?? (await ctx.claims.read(key));
    for (let n = 0; n < 2 && now?.claim.intent.token === line.token; n++) {
      now = await ctx.claims.put(key, { ...now.claim, ...change }, now.etag);
      if (now?.ours === true) {
        return;
      }
    }
    ctx.note(`note: ${line.jobName}: its claim ${where} is no longer this run's; left as it is`);
  } catch (err) {
    ctx.note(
      `note: ${line.jobName}: could not update its claim ${where} (${describeError(err)}); ` +
        "other machines find its job by token after the listing wait",
    );
  }
}

function recordJob(ctx: SendContext, entry: LedgerEntry, how: How) {
  try {
    ctx.ledger.append(entry);
  } catch (failure) {
    throw new UnrecordedError(entry, failure);
  }
  ctx.progress.accept(entry, how);
  return entry;
}

async function closeIntent(intent: IntentLine, reason: string, ctx: SendContext, seen?: ReadClaim) {
  const { jobName, token } = intent;
  ctx.ledger.append({ v: 1, type: "closed", jobName, token, reason, at: new Date().toISOString() });
  await updateClaim(ctx, intent, { closed: reason }, seen);
}

/** Further jobs that carry one token: the listing lagged past the wait (README, limits). */
export type Duplicate = Awaited<ReturnType<typeof reconcile>>["duplicates"][number];
export type SkippedJob = ReturnType<typeof skipKnown>["skipped"][number];

interface SendAllResult {
  readonly accepted: LedgerEntry[];
  readonly adopted: LedgerEntry[];
  readonly recovered: LedgerEntry[];
  readonly open: IntentLine[];
  readonly duplicates: Duplicate[];
  readonly failures: { readonly item: SendItem; readonly reason: unknown }[];
  readonly notSent: SendItem[];
  readonly skipped: SkippedJob[];
  tried: boolean;
  lookupError?: unknown;
}

export function skipKnown(
  these: readonly Submission[],
  total: number,
  ctx: Pick<SendContext, "ledger" | "force" | "note" | "ledgerShown">,
) {
  const known = ctx.force ? new Map<string, LedgerEntry>() : ctx.ledger.latest();
  const todo = these.filter((s) => !known.has(s.jobName));
  const skipped = these.flatMap(({ jobName, hash }) => {
    const prior = known.get(jobName);
    return prior ? [{ jobName, jobId: prior.jobId, changed: prior.hash !== hash }] : [];
  });
  if (skipped.length > 0) {
    ctx.note(
      `${skipped.length} of ${total} already submitted (ledger ${ctx.ledgerShown}); ` +
        "skipping them, --force resubmits",
    );
  }
  for (const c of skipped.filter((s) => s.changed).slice(0, 10)) {
    ctx.note(
      `  note: ${c.jobName} changed since it was submitted as ${c.jobId}; pass --force or rename the job`,
    );
  }
  return { todo, skipped };
}

/** New sends at the next generation with `--force`, else the latest (settled as it is sent). */
async function newItems(submissions: readonly Submission[], ctx: SendContext): Promise<SendItem[]> {
  const { generations } = ctx.claims;
  const items = submissions.map((submission): SendItem => {
    const latest = generations.get(submission.jobName);
    const generation = ctx.force ? (latest ?? -1) + 1 : (latest ?? 0);
    return { submission, token: randomUUID(), generation };
  });
  const claimed = items.filter((i) => !ctx.force && generations.has(i.submission.jobName));
  const refused = async ({ submission: s, generation }: SendItem) => {
    const key = claimKey(s.jobName, generation);
    const claim = (await ctx.claims.read(key))?.claim;
    const message = claim && refusal(s, claim, key, ctx);
    return message !== undefined ? [{ file: s.file, message }] : [];
  };
  const problems = (await runAll(claimed, refused, LOOKUP_CONCURRENCY)).flat();
  if (problems.length > 0) {
    throw new BadInputError(problems);
  }
  return items;
}

/** Manifests first: a child that starts before its manifest exists would fail. */
async function uploadManifests(submissions: readonly Submission[], ctx: SendContext) {
  const { bucket } = ctx.claims;
  const manifests = submissions.flatMap((s) => (s.kind === "array" ? [s.manifest] : []));
  const upload = (m: (typeof manifests)[number]) =>
    ctx.clients.storage.putJson(bucket, m.key, m.body).catch((err: unknown) => {
      throw new FatalError(
        `uploading s3://${bucket}/${m.key} failed (${describeError(err)}); nothing was submitted`,
      );
    });
  await runAll(manifests, upload, 4);
}

/**
 * In rounds: each sends what is ready while the unknown answers (an earlier run's, then the
 * last round's) are looked up by token. See docs/jobs.md, "Exactly once".
 */
export async function sendAll(submissions: readonly Submission[], ctx: SendContext) {
  let unknown = ctx.ledger.openIntents();
  const [fresh, skipped] = await startRun(submissions, unknown, ctx);
  let pending = fresh;
  const r: SendAllResult = {
    ...{ accepted: [], adopted: [], recovered: [], open: [], duplicates: [], failures: [] },
    ...{ notSent: [], skipped, tried: false },
  };
  // Each name's request as last sent (names resolved), for a resend with its token.
  const requests = new Map(submissions.map((s) => [s.jobName, s]));
  const sends = new Map<string, number>();
  for (let round = 1; pending.length + unknown.length > 0; round++) {
    const batch = await readyToSend(pending, unknown.length > 0, ctx);
    pending = pending.filter((i) => !batch.taken.has(i));
    batch.items.forEach((i) => requests.set(i.submission.jobName, i.submission));
    r.tried ||= batch.items.length > 0;
    // Settled beside the sends; a failure is thrown once they end (no lane left running).
    const settling: Promise<Settled> = settle(unknown, requests, ctx).catch((err: unknown) =>
      lookupFailed(err, round, unknown, ctx),
    );
    const outcomes = await runPool(batch.items, (item) => sendOne(item, ctx), {
      concurrency: ctx.concurrency,
      stopOnError: true,
      signal: ctx.signal,
    });
    const settled = await settling;
    if (settled.fatal !== undefined) {
      throw settled.fatal;
    }
    const lost = tally(outcomes, r, sends);
    r.recovered.push(...settled.recovered);
    r.duplicates.push(...settled.duplicates);
    if (round === 1 && settled.undecided.length > 0 && r.accepted.length + r.adopted.length === 0) {
      return { undecided: settled.undecided.length };
    }
    const renewed = skipKnown(settled.renewed, submissions.length, ctx);
    r.skipped.push(...renewed.skipped);
    const next = [...settled.resend, ...(await newItems(renewed.todo, ctx))];
    const stop =
      r.failures.length + r.notSent.length + settled.undecided.length > 0 ||
      settled.lookupError !== undefined ||
      lost.some((i) => (sends.get(i.token) ?? 0) >= MAX_SEND_ROUNDS) ||
      ctx.signal.aborted;
    if (stop) {
      r.open.push(...settled.undecided, ...lost);
      r.notSent.push(...pending, ...next);
      r.lookupError = settled.lookupError;
      break;
    }
    [pending, unknown] = [[...pending, ...next], lost];
  }
  return r;
}

async function startRun(
  submissions: readonly Submission[],
  earlier: readonly IntentLine[],
  ctx: SendContext,
): Promise<[SendItem[], SkippedJob[]]> {
  const open = new Set(earlier.map((i) => i.jobName));
  const notOpen = submissions.filter((s) => !open.has(s.jobName));
  const fresh = skipKnown(notOpen, submissions.length, ctx);
  const items = await newItems(fresh.todo, ctx);
  await uploadManifests([...fresh.todo, ...submissions.filter((s) => open.has(s.jobName))], ctx);
  ctx.progress.start(items.length + open.size);
  if (earlier.length > 0) {
    ctx.note(
      `${earlier.length} submission(s) from an earlier run have no job ID in the ledger (a crash ` +
        "or a lost answer); looking them up in Batch by their submission token first",
    );
  }
  return [items, fresh.skipped];
}

/** A round's outcomes into `r`; returns the intents whose answer was lost, counted in `sends`. */
function tally(
  { values, failed, notRun }: Awaited<ReturnType<typeof runPool<SendItem, SendOutcome>>>,
  r: SendAllResult,
  sends: Map<string, number>,
): IntentLine[] {
  r.failures.push(...failed);
  r.notSent.push(...notRun);
  const lost: IntentLine[] = [];
  for (const sent of values) {
    if (sent.status === "interrupted") {
      r.notSent.push(sent.item);
    } else if (sent.status === "unknown") {
      lost.push(sent.intent);
      sends.set(sent.intent.token, (sends.get(sent.intent.token) ?? 0) + 1);
    } else {
      r[sent.status].push(sent.entry);
    }
  }
  return lost;
}

/** What waits for no name; else, with no answer unknown, the lowest level (or its barriers). */
async function readyToSend(pending: readonly SendItem[], unknown: boolean, ctx: SendContext) {
  const waitsForNone = pending.filter((i) => namedDependencies(i.submission).length === 0);
  if (waitsForNone.length > 0 || unknown || pending.length === 0) {
    return { items: waitsForNone, taken: new Set(waitsForNone) };
  }
  const level = (i: SendItem) => ctx.levels.get(i.submission.jobName) ?? 0;
  const lowest = Math.min(...pending.map(level));
  const items: SendItem[] = [];
  const barriers: Submission[] = [];
  const taken = new Set<SendItem>();
  for (const item of pending.filter((i) => level(i) === lowest)) {
    const resolved = resolveDependencies(item.submission, ctx.ledger.entries, ctx.computeType);
    if (resolved.kind === "ready") {
      items.push({ ...item, submission: resolved.submission });
      taken.add(item);
    } else {
      barriers.push(...resolved.barriers);
    }
  }
  return { items: [...items, ...(await newItems(barriers, ctx))], taken };
}

type Settled = Omit<Awaited<ReturnType<typeof settle>>, "absent"> & {
  readonly lookupError?: unknown;
  readonly fatal?: unknown;
};

/** Absent intents are resent if unchanged, else closed: no one waits for or is refused by them. */
async function settle(
  intents: readonly IntentLine[],
  requests: ReadonlyMap<string, Submission>,
  ctx: SendContext,
) {
  const r = await reconcile(intents, ctx);
  const resend: SendItem[] = [];
  // Absent, and their file changed since: sent as new submissions.
  const renewed = new Map<string, Submission>();
  const closing: Promise<void>[] = [];
  for (const intent of r.absent) {
    const s = requests.get(intent.jobName);
    if (s !== undefined && s.hash === intent.hash) {
      const generation = intent.generation ?? ctx.claims.generations.get(s.jobName) ?? 0;
      resend.push({ submission: s, token: intent.token, generation });
      const ms = Date.now() - Date.parse(intent.at);
      const age = Number.isNaN(ms) ? "long" : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
      ctx.note(
        `note: ${intent.jobName}: not in Batch's job list ${age} after it was sent; ` +
          `sending it again with the same token (${intent.token})`,
      );
    } else {
      const gone = s === undefined;
      const reason = `not in Batch after the listing wait; ${gone ? "not in this run" : "its file changed"}`;
      closing.push(closeIntent(intent, reason, ctx));
      ctx.note(
        `note: ${intent.jobName}: the earlier submission never reached Batch and ` +
          `${gone ? "is not in this run; not sent" : "its file changed since; sending the new version"}`,
      );
      if (!gone) {
        renewed.set(s.jobName, s);
      }
    }
  }
  await Promise.all(closing);
  // A name also resent, found or still open is not sent as new.
  [...resend.map((i) => i.submission), ...r.recovered, ...r.undecided].forEach((x) =>
    renewed.delete(x.jobName),
  );
  return { ...r, resend, renewed: [...renewed.values()] };
}

/** Of this run's lost answers, they stay open; of an earlier run's, the run stops. */
function lookupFailed(err: unknown, round: number, open: IntentLine[], ctx: SendContext): Settled {
  const none = { recovered: [], duplicates: [], resend: [], renewed: [], undecided: open };
  if (round > 1) {
    return err instanceof UnrecordedError ? { ...none, fatal: err } : { ...none, lookupError: err };
  }
  const fatal = new FatalError(
    err instanceof UnrecordedError
      ? `${err.entry.jobName} was found in Batch as ${err.entry.jobId} but could not be recorded in the ledger ${ctx.ledger.file} (${describeError(err.failure)}); make it writable and re-run; the names left open were not sent again`
      : `looking up ${open.length} submission(s) an earlier run left open failed (${describeError(err)}); ` +
          "those names were not sent again; jobs:submit needs batch:ListJobs and batch:DescribeJobs besides batch:SubmitJob",
  );
  return { ...none, fatal };
}
