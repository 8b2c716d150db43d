/**
 * Claims: one object per logical submission under the stack bucket's STATE_PREFIX (which jobs
 * cannot touch), `claims/<job name>/<generation>.json`, each `--force` the next generation.
 * Created with `If-None-Match: *` before SubmitJob, so of two machines sending one name, one
 * sends and the other adopts its job; the job ID is written with `If-Match` on the ETag.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
 */
import * as os from "os";
import { z } from "zod";
import { httpStatus, submitFailure, type RemoteObject, type StorageApi } from "./api";
import { runAll } from "./pool";
import { FatalError, describeError } from "../errors";
import { jsonValue } from "../input/json-source";
import { entryOf, type IntentLine, type Ledger, type LedgerEntry } from "../state/ledger";
import { visible } from "../output/visible";
import { definedOnly } from "../../components/defined";
import { JOB_NAME_PATTERN, STATE_PREFIX } from "../../components/contract";

const CLAIMS = `${STATE_PREFIX}claims/`;

/** Claims read at once when a ledger catches up with the stack's. */
const READ_CONCURRENCY = 8;

/** Conflicts (409) or vanishings in a row before a claim's creation gives up. */
const MAX_CREATE_ATTEMPTS = 5;

/** Written and read once per run, before anything is sent: proves both permissions. */
const PROBE_KEY = `${STATE_PREFIX}access-check.json`;

export type ClaimedJob = Pick<LedgerEntry, "jobId" | "jobArn" | "submittedAt">;

export interface Claim {
  readonly v: 1;
  readonly intent: IntentLine;
  /** `user@host` of the machine that made the claim (or took it over). */
  readonly who: string;
  /** ISO time it was made or taken over: the listing wait runs from here. */
  readonly at: string;
  readonly job?: ClaimedJob;
  /** Why the submission created no job (AWS refused it): anyone may take the claim over. */
  readonly closed?: string;
}

export interface ReadClaim {
  readonly claim: Claim;
  readonly etag: string;
}

export function claimKey(jobName: string, generation: number): string {
  return `${CLAIMS}${jobName}/${generation}.json`;
}

export function whoAmI(env: NodeJS.ProcessEnv): string {
  let user = env.USER ?? env.USERNAME ?? "unknown";
  try {
    user = os.userInfo().username;
  } catch (err) {
    // A uid with no passwd entry (some containers): the environment's name stands.
    if (!(err instanceof Error && "code" in err)) {
      throw err;
    }
  }
  return `${user}@${os.hostname()}`;
}

/** Text another machine wrote that is printed: refused when the sanitiser would change it. */
const plain = z.string().refine((t) => visible(t) === t, "holds control characters");
const jobName = plain.refine((t) => JOB_NAME_PATTERN.test(t), "is not a job name");
const count = z.int().nonnegative();

/** A claim as another machine (or a hand) may have written it: every field checked. */
const claimSchema = z.object({
  v: z.literal(1),
  intent: z.object({
    v: z.literal(1),
    type: z.literal("intent"),
    jobName,
    kind: z.enum(["single", "array"]),
    arraySize: count.optional(),
    file: plain.optional(),
    hash: plain,
    of: plain.optional(),
    manifest: plain.optional(),
    run: plain,
    generation: count.optional(),
    token: plain,
    jobQueue: plain,
    at: plain,
  }),
  who: plain,
  at: plain,
  job: z.object({ jobId: plain, jobArn: plain.optional(), submittedAt: plain }).optional(),
  closed: plain.optional(),
});

/** The claim in `text` stored under `name`, or the first wrong field (not its hostile value). */
function parseClaim(text: string, name: string): Claim | string {
  const parsed = claimSchema.safeParse(jsonValue(text)?.value);
  if (!parsed.success) {
    const [issue] = parsed.error.issues;
    return `${issue.path.join(".") || "the object"}: ${issue.message}`;
  }
  return parsed.data.intent.jobName === name
    ? (parsed.data as Claim)
    : "intent.jobName: is not the job name of its key";
}

function claimKeys(
  listed: readonly RemoteObject[],
): { key: string; jobName: string; generation: number }[] {
  return listed.flatMap(({ key }) => {
    const m = /^([^/]+)\/(\d+)\.json$/.exec(key.slice(CLAIMS.length));
    return m === null ? [] : [{ key, jobName: m[1], generation: Number(m[2]) }];
  });
}

/**
 * Adds to `ledger` the jobs other machines sent (claims of generations it has no entry for),
 * oldest generation first so each name's latest stays latest; also the unreadable claims.
 */
export async function recordClaimedJobs(
  ledger: Ledger,
  storage: StorageApi,
  bucket: string,
): Promise<{ added: number; unreadable: string[] }> {
  const known = new Set(ledger.entries.map((e) => `${e.jobName}/${e.generation}`));
  const tokens = new Set(ledger.entries.map((e) => e.token));
  const keys = claimKeys(await storage.listObjects(bucket, CLAIMS)).filter(
    (k) => !known.has(`${k.jobName}/${k.generation}`),
  );
  const read = await runAll(keys, (k) => storage.getWithEtag(bucket, k.key), READ_CONCURRENCY);
  const unreadable: string[] = [];
  const found = keys
    .flatMap((k, i) => {
      const claim = read[i] && parseClaim(read[i].text, k.jobName);
      if (typeof claim === "string") {
        unreadable.push(`s3://${bucket}/${k.key} (${claim})`);
      }
      return typeof claim === "object" && claim.job !== undefined && !tokens.has(claim.intent.token)
        ? [{ k, claim }]
        : [];
    })
    .sort((a, b) => a.k.generation - b.k.generation);
  for (const { claim } of found) {
    const job = claim.job as ClaimedJob;
    ledger.append(entryOf(claim.intent, job, job.submittedAt));
  }
  return { added: found.length, unreadable };
}

function denied(bucket: string, action: string, err: unknown): FatalError {
  const resource =
    action === "s3:ListBucket"
      ? `arn:aws:s3:::${bucket} (prefix ${STATE_PREFIX})`
      : `arn:aws:s3:::${bucket}/${STATE_PREFIX}*`;
  return new FatalError(
    `${action} on ${resource} was refused (${describeError(err)}): jobs:submit keeps the ` +
      `stack's submission claims there so that every machine sends each job once; grant ` +
      `${action} on ${resource} (docs/jobs.md, "Permissions to submit"); nothing was submitted`,
  );
}

/** Rethrows a 403 as the permission to grant, anything else as it is. */
function permission(bucket: string, action: string): (err: unknown) => never {
  return (err) => {
    throw httpStatus(err) === 403 ? denied(bucket, action, err) : err;
  };
}

export class Claims {
  private readonly seen = new Map<string, ReadClaim>();
  /** Writes no send waits for (job IDs into claims); the run awaits them before it ends. */
  private readonly pending = new Set<Promise<void>>();

  private constructor(
    private readonly storage: StorageApi,
    readonly bucket: string,
    readonly who: string,
    /** The latest generation of each job name's claims, from the listing at the start. */
    private readonly generations: Map<string, number>,
  ) {}

  /** Lists the claims and checks that this caller may write and read them, before any send. */
  static async open(storage: StorageApi, bucket: string, who: string): Promise<Claims> {
    const probe = JSON.stringify({ who, at: new Date().toISOString() });
    const [listed] = await Promise.all([
      storage.listObjects(bucket, CLAIMS).catch(permission(bucket, "s3:ListBucket")),
      storage
        .putObject(bucket, PROBE_KEY, probe, "application/json")
        .catch(permission(bucket, "s3:PutObject"))
        .then(() => storage.getText(bucket, PROBE_KEY).catch(permission(bucket, "s3:GetObject"))),
    ]);
    const generations = new Map<string, number>();
    for (const { jobName, generation } of claimKeys(listed)) {
      generations.set(jobName, Math.max(generations.get(jobName) ?? 0, generation));
    }
    return new Claims(storage, bucket, who, generations);
  }

  /** Runs `write` beside the sends; `flush` waits for it. It must not reject. */
  later(write: Promise<void>): void {
    this.pending.add(write);
    void write.then(() => this.pending.delete(write));
  }

  async flush(): Promise<void> {
    await Promise.all(this.pending);
  }

  /**
   * Uploads, once, a ledger from before claims: each latest entry with no generation becomes
   * its name's generation-0 claim. Where that claim exists already it stands and the ledger
   * follows it; a different job there is returned as a conflict.
   */
  async uploadLedger(
    ledger: Ledger,
    jobQueue: string,
  ): Promise<{ uploaded: number; conflicts: string[] }> {
    // A name Batch would refuse (a ledger edited by hand) names no job: nothing to share.
    const legacy = [...ledger.latest().values()].filter(
      (e) => e.generation === undefined && JOB_NAME_PATTERN.test(e.jobName),
    );
    const out = { uploaded: 0, conflicts: [] as string[] };
    const upload = async (entry: LedgerEntry): Promise<void> => {
      // Field by field: a ledger line's other keys are not shared with other machines.
      const { v, jobName, jobId, jobArn, kind, hash, run, submittedAt, token = jobId } = entry;
      const intent: IntentLine = {
        ...{ v, jobName, kind, hash, run, token, jobQueue, at: submittedAt, generation: 0 },
        ...definedOnly({ arraySize: entry.arraySize, file: entry.file, of: entry.of }),
        ...definedOnly({ manifest: entry.manifest }),
        type: "intent",
      };
      const job = definedOnly({ jobId, jobArn, submittedAt });
      const claim: Claim = { v: 1, intent, who: this.who, at: submittedAt, job };
      const key = claimKey(jobName, 0);
      const got =
        (this.generations.has(jobName) ? await this.read(key) : undefined) ??
        (await this.create(key, claim));
      const stands = "created" in got ? claim : got.claim;
      if (stands.job?.jobId !== jobId) {
        out.conflicts.push(
          `${jobName}: this ledger has ${jobId}, the stack's claim (${stands.who}, ` +
            `${stands.at}) has ${stands.job?.jobId ?? "no job"}; the claim stands`,
        );
      }
      out.uploaded += "created" in got ? 1 : 0;
      // A `--force` of the name in this run takes the generation after it.
      this.generations.set(jobName, this.generations.get(jobName) ?? 0);
      if (stands.job !== undefined) {
        ledger.append(entryOf(stands.intent, stands.job, stands.job.submittedAt));
      }
    };
    await runAll(legacy, upload, READ_CONCURRENCY);
    return out;
  }

  latestGeneration(jobName: string): number | undefined {
    return this.generations.get(jobName);
  }

  /** The claim at `key`; one that cannot be read stops the run (its name may have been sent). */
  async read(key: string): Promise<ReadClaim | undefined> {
    const got = await this.storage
      .getWithEtag(this.bucket, key)
      .catch(permission(this.bucket, "s3:GetObject"));
    if (got === undefined) {
      return undefined;
    }
    const claim = parseClaim(got.text, key.slice(CLAIMS.length).split("/")[0]);
    if (typeof claim === "string") {
      throw new FatalError(
        `s3://${this.bucket}/${key} is not a claim jobs:submit can read (${claim}); it was ` +
          "not written by this tool as it is now: check who changed it, then delete it (its " +
          "name may then be sent again) or restore it; nothing was sent under its name",
      );
    }
    const read = { claim, etag: got.etag };
    this.seen.set(key, read);
    return read;
  }

  /**
   * Creates the claim at `key`, or returns the one that exists. After a 409 or a lost answer
   * the key is read: a claim holding `claim`'s token and time is this call's own.
   */
  async create(key: string, claim: Claim): Promise<{ created: true } | ReadClaim> {
    for (let attempt = 1; ; attempt++) {
      const put = await this.write(key, claim, { absent: true });
      if (typeof put === "object") {
        return { created: true };
      }
      const existing = await this.read(key);
      if (existing !== undefined) {
        return existing.claim.intent.token === claim.intent.token && existing.claim.at === claim.at
          ? { created: true }
          : existing;
      }
      // Gone between the write and the read (deleted by hand): create it again, a few times.
      if (attempt >= MAX_CREATE_ATTEMPTS) {
        throw new FatalError(
          `s3://${this.bucket}/${key} kept changing while jobs:submit created it ` +
            `(${attempt} attempts); re-run, the claims already made are kept`,
        );
      }
    }
  }

  /** Replaces the claim at `key` if it is still the one this run last saw. */
  async replace(key: string, claim: Claim): Promise<boolean> {
    const seen = this.seen.get(key);
    if (seen === undefined) {
      return false;
    }
    const put = await this.write(key, claim, { etag: seen.etag });
    if (put !== "lost") {
      // 412 and 409 say the write did not happen: a claim read back with the same token
      // and time may be another taker's (two runs resending one token in one millisecond).
      return typeof put === "object";
    }
    const now = await this.read(key);
    return now?.claim.intent.token === claim.intent.token && now.claim.at === claim.at;
  }

  /** Sets `change` on the claim at `key` while it holds `token`, re-read once if it changed. */
  async update(
    key: string,
    token: string,
    change: Pick<Claim, "job"> | Pick<Claim, "closed">,
  ): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const seen =
        attempt === 0 ? (this.seen.get(key) ?? (await this.read(key))) : await this.read(key);
      if (seen === undefined || seen.claim.intent.token !== token) {
        return false;
      }
      if (await this.replace(key, { ...seen.claim, ...change })) {
        return true;
      }
    }
    return false;
  }

  /** One conditional write; "lost": the write may have happened, the caller reads the key. */
  private async write(
    key: string,
    claim: Claim,
    condition: { absent: true } | { etag: string },
  ): Promise<{ etag: string } | "failed" | "conflict" | "lost"> {
    try {
      const put = await this.storage.putIf(this.bucket, key, JSON.stringify(claim), condition);
      if (typeof put === "object") {
        this.seen.set(key, { claim, etag: put.etag });
      }
      return put;
    } catch (err) {
      if (httpStatus(err) === 403) {
        throw denied(this.bucket, "s3:PutObject", err);
      }
      if (submitFailure(err) === "refused") {
        throw err;
      }
      return "lost";
    }
  }
}
