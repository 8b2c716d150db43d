/**
 * Finding out whether a submission whose answer was lost created a job, by the token it
 * carries as a tag. SubmitJob has no idempotency token, so the tool brings its own: each
 * logical submission gets a fresh random token, written in the ledger's intent line before
 * the request leaves and sent as the job tag `batchpy:submission-token`. A job found in
 * Batch is adopted only if its tag equals the intent's token, so a job of the same name
 * submitted by someone else (or by an earlier `--force`) is never mistaken for it.
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
import type { BatchApi, JobDetail } from "./api";
import type { Problem } from "../errors";
import type { SubmitJobRequest } from "../input/job-file";
import type { IntentLine } from "../state/ledger";
import type { Submission } from "../input/plan";
import { runPool } from "./pool";

/** The job tag that carries the submission token. */
export const TOKEN_TAG = "batchpy:submission-token";

/** AWS allows at most 50 tags per resource; the token takes one. */
const MAX_JOB_TAGS = 50;

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

/** A file may not set the token tag itself, nor use all 50 tags AWS allows. */
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

export interface ReconcileDeps {
  readonly batch: BatchApi;
  readonly known: ReadonlySet<string>;
  readonly waitMs: number;
  /** The SubmitJob request timeout: a request may reach AWS that long after its intent. */
  readonly timeoutMs: number;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly signal: AbortSignal;
  /** Called once, when the first lookup leaves jobs to wait for, with the longest wait. */
  readonly onWait?: (count: number, ms: number) => void;
}

/**
 * Looks intents up until each is found or known absent. Intents still waiting when the
 * signal aborts are left out of the result (they stay open in the ledger).
 */
export async function reconcile(
  intents: readonly IntentLine[],
  deps: ReconcileDeps,
): Promise<Map<string, Exclude<Verdict, { kind: "wait" }>>> {
  const settled = new Map<string, Exclude<Verdict, { kind: "wait" }>>();
  let pending = [...intents];
  let pause = Math.min(FIRST_POLL_MS, Math.max(1, Math.floor(deps.waitMs / 8)));
  let announced = false;
  while (pending.length > 0 && !deps.signal.aborted) {
    const listedAt = deps.now();
    const found = await findByToken(deps.batch, pending, deps.known);
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
      deps.onWait?.(waiting.length, Math.max(0, latest - now));
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
