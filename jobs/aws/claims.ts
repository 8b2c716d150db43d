/**
 * Claims: `claims/<job name>/<generation>.json` under the bucket's STATE_PREFIX, created with
 * `If-None-Match: *` before SubmitJob so that of two machines one sends and the other adopts,
 * changed with `If-Match`. See docs/jobs.md, "Exactly once".
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
 */
import * as os from "os";
import { z } from "zod";
import { submitFailure, type RemoteObject, type StorageApi } from "./api";
import { runAll } from "./pool";
import { FatalError, describeError, httpStatus, orFallback } from "../errors";
import { jsonValue } from "../input/json-source";
import { entryOf, intentLine, type Ledger, type LedgerEntry } from "../state/ledger";
import { visible } from "../output/visible";
import { definedOnly } from "../../components/defined";
import { JOB_NAME_PATTERN, STATE_PREFIX } from "../../components/contract";

const CLAIMS = `${STATE_PREFIX}claims/`;
const READ_CONCURRENCY = 8;
const MAX_CREATE_ATTEMPTS = 5;
/** Written and read before anything is sent: proves both permissions. */
const PROBE_KEY = `${STATE_PREFIX}access-check.json`;

export function claimKey(jobName: string, generation: number): string {
  return `${CLAIMS}${jobName}/${generation}.json`;
}

export function whoAmI(env: NodeJS.ProcessEnv): string {
  // A uid with no passwd entry (some containers): the environment's name stands.
  const user = orFallback(() => os.userInfo().username, undefined) ?? env.USER ?? env.USERNAME;
  return `${user ?? "unknown"}@${os.hostname()}`;
}

/** Printed text another machine wrote: refused wherever the sanitiser would change it. */
function refusePrinted(value: unknown, ctx: z.RefinementCtx, path: PropertyKey[] = []): void {
  if (typeof value === "string" && visible(value) !== value) {
    ctx.addIssue({ code: "custom", path, message: "holds control characters" });
  } else if (typeof value === "object" && value !== null) {
    Object.entries(value).forEach(([k, v]) => refusePrinted(v, ctx, [...path, k]));
  }
}

const claimSchema = z
  .object({
    v: z.literal(1),
    intent: intentLine.extend({ jobName: z.string().regex(JOB_NAME_PATTERN, "is not a job name") }),
    who: z.string(),
    /** Made or taken over: the listing wait runs from here. */
    at: z.string(),
    job: z
      .object({ jobId: z.string(), jobArn: z.string().optional(), submittedAt: z.string() })
      .optional(),
    /** Why it created no job: anyone may take it over. */
    closed: z.string().optional(),
  })
  .superRefine((claim, ctx) => refusePrinted(claim, ctx));

export type Claim = z.infer<typeof claimSchema>;

export type ReadClaim = NonNullable<Awaited<ReturnType<Claims["read"]>>>;

type Held = ReadClaim & { readonly ours: boolean };

/** Answering or closing a claim keeps it the same. */
export function sameClaim(a: Claim, b: Claim): boolean {
  return a.at === b.at && a.intent.token === b.intent.token && a.intent.run === b.intent.run;
}

/** The claim, or the first wrong field (never its hostile value). */
function parseClaim(text: string, name: string): Claim | string {
  const parsed = claimSchema.safeParse(jsonValue(text)?.value);
  if (!parsed.success) {
    const [issue] = parsed.error.issues;
    return `${issue.path.join(".") || "the object"}: ${issue.message}`;
  }
  return parsed.data.intent.jobName === name
    ? parsed.data
    : "intent.jobName: is not the job name of its key";
}

function claimKeys(listed: readonly RemoteObject[]) {
  return listed.flatMap(({ key }) => {
    const m = /^([^/]+)\/(\d+)\.json$/.exec(key.slice(CLAIMS.length));
    return m === null ? [] : [{ key, jobName: m[1], generation: Number(m[2]) }];
  });
}

/** Adds the jobs other machines sent, oldest generation first so each name's latest stays so. */
export async function recordClaimedJobs(ledger: Ledger, storage: StorageApi, bucket: string) {
  const known = new Set(ledger.entries.map((e) => `${e.jobName}/${e.generation}`));
  const tokens = new Set(ledger.entries.map((e) => e.token));
  const keys = claimKeys(await storage.listObjects(bucket, CLAIMS))
    .filter((k) => !known.has(`${k.jobName}/${k.generation}`))
    .sort((a, b) => a.generation - b.generation);
  const read = await runAll(keys, (k) => storage.getWithEtag(bucket, k.key), READ_CONCURRENCY);
  const unreadable: string[] = [];
  const before = ledger.entries.length;
  keys.forEach((k, i) => {
    const claim = read[i] && parseClaim(read[i].text, k.jobName);
    if (typeof claim === "string") {
      unreadable.push(`s3://${bucket}/${k.key} (${claim})`);
    } else if (claim?.job !== undefined && !tokens.has(claim.intent.token)) {
      ledger.append(entryOf(claim.intent, claim.job));
    }
  });
  return { added: ledger.entries.length - before, unreadable };
}

function permission(bucket: string, action: string): (err: unknown) => never {
  return (err) => {
    if (httpStatus(err) !== 403) {
      throw err;
    }
    const resource =
      action === "s3:ListBucket"
        ? `arn:aws:s3:::${bucket} (prefix ${STATE_PREFIX})`
        : `arn:aws:s3:::${bucket}/${STATE_PREFIX}*`;
    throw new FatalError(
      `${action} on ${resource} was refused (${describeError(err)}): jobs:submit keeps the ` +
        `stack's submission claims there so that every machine sends each job once; grant ` +
        `${action} on ${resource} (docs/jobs.md, "Permissions to submit"); nothing was submitted`,
    );
  };
}

export class Claims {
  /** Writes no send waits for (none rejects); the run awaits them before it ends. */
  readonly later: Promise<void>[] = [];

  private constructor(
    private readonly storage: StorageApi,
    readonly bucket: string,
    readonly who: string,
    /** Each name's latest generation. */
    readonly generations: Map<string, number>,
  ) {}

  static async open(storage: StorageApi, bucket: string, who: string): Promise<Claims> {
    const [listed] = await Promise.all([
      storage.listObjects(bucket, CLAIMS).catch(permission(bucket, "s3:ListBucket")),
      storage
        .putJson(bucket, PROBE_KEY, JSON.stringify({ who, at: new Date().toISOString() }))
        .catch(permission(bucket, "s3:PutObject"))
        .then(() => storage.getText(bucket, PROBE_KEY).catch(permission(bucket, "s3:GetObject"))),
    ]);
    // Sorted, each name's latest generation is the one the Map keeps.
    const keys = claimKeys(listed).sort((a, b) => a.generation - b.generation);
    return new Claims(storage, bucket, who, new Map(keys.map((k) => [k.jobName, k.generation])));
  }

  /** A ledger from before claims becomes generation-0 claims; one already there stands. */
  async uploadLedger(ledger: Ledger, jobQueue: string) {
    // A name Batch would refuse (a hand-edited ledger) names no job.
    const legacy = [...ledger.latest().values()].filter(
      (e) => e.generation === undefined && JOB_NAME_PATTERN.test(e.jobName),
    );
    const out = { uploaded: 0, conflicts: [] as string[] };
    const upload = async (entry: LedgerEntry): Promise<void> => {
      // Field by field: a line's other keys are not shared.
      const { v, jobName, jobId, jobArn, kind, hash, run, submittedAt, token = jobId } = entry;
      const intent: Claim["intent"] = {
        ...{ v, jobName, kind, hash, run, token, jobQueue, at: submittedAt, generation: 0 },
        ...definedOnly({ arraySize: entry.arraySize, file: entry.file, of: entry.of }),
        ...definedOnly({ manifest: entry.manifest }),
        type: "intent",
      };
      const job = definedOnly({ jobId, jobArn, submittedAt });
      const key = claimKey(jobName, 0);
      const mine: Claim = { v: 1, intent, who: this.who, at: submittedAt, job };
      const got = this.generations.has(jobName) ? await this.read(key) : undefined;
      const { claim, ours } =
        got !== undefined ? { ...got, ours: false } : await this.put(key, mine);
      if (claim.job?.jobId !== jobId) {
        out.conflicts.push(
          `${jobName}: this ledger has ${jobId}, the stack's claim (${claim.who}, ` +
            `${claim.at}) has ${claim.job?.jobId ?? "no job"}; the claim stands`,
        );
      }
      out.uploaded += ours ? 1 : 0;
      // A `--force` of the name in this run takes the generation after it.
      this.generations.set(jobName, this.generations.get(jobName) ?? 0);
      if (claim.job !== undefined) {
        ledger.append(entryOf(claim.intent, claim.job));
      }
    };
    await runAll(legacy, upload, READ_CONCURRENCY);
    return out;
  }

  /** One that cannot be read stops the run: its name may have been sent. */
  async read(key: string) {
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
    return { claim, etag: got.etag };
  }

  /**
   * What `key` holds after writing `claim` if absent (no `etag`) or unchanged since `etag`
   * (undefined: deleted by hand); after a lost answer, `claim` read back is ours.
   */
  async put(key: string, claim: Claim): Promise<Held>;
  async put(key: string, claim: Claim, etag: string | undefined): Promise<Held | undefined>;
  async put(key: string, claim: Claim, etag?: string): Promise<Held | undefined> {
    for (let attempt = 1; ; attempt++) {
      const put = await this.storage
        .putIf(this.bucket, key, JSON.stringify(claim), etag)
        .catch((err: unknown) => {
          if (submitFailure(err) === "refused") {
            permission(this.bucket, "s3:PutObject")(err);
          }
          return "lost" as const;
        });
      if (typeof put === "object") {
        return { claim, etag: put.etag, ours: true };
      }
      const now = await this.read(key);
      if (now !== undefined || etag !== undefined) {
        // After a failed If-Match, `claim` read back may be another taker's (same token).
        const maybe = etag === undefined || put === "lost";
        return now && { ...now, ours: maybe && sameClaim(now.claim, claim) };
      }
      if (attempt >= MAX_CREATE_ATTEMPTS) {
        throw new FatalError(
          `s3://${this.bucket}/${key} kept changing while jobs:submit created it ` +
            `(${attempt} attempts); re-run, the claims already made are kept`,
        );
      }
    }
  }
}
