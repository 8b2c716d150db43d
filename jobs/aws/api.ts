/**
 * AWS SDK v3 clients behind the few calls the tool makes.
 *
 * Credentials come from the SDK's default provider chain (environment, shared config, SSO,
 * instance/container roles). Endpoints follow the SDK convention: AWS_ENDPOINT_URL, or the
 * per-service AWS_ENDPOINT_URL_BATCH / AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_CLOUDWATCH_LOGS
 * (resolved by @smithy/core's getEndpointUrlConfig, so nothing here reads them for routing).
 * The region is the stack's `region` output, else the SDK's own region chain.
 */
import * as fs from "fs";
import * as path from "path";
import { pipeline } from "stream/promises";
import type { Readable } from "stream";
import {
  BatchClient,
  DescribeJobsCommand,
  ListJobsCommand,
  type ListJobsCommandInput,
  SubmitJobCommand,
  TerminateJobCommand,
  type JobDetail,
  type JobStatus,
  type JobSummary,
} from "@aws-sdk/client-batch";
import type { LeanGet } from "./lean-get";
import type { S3Client } from "@aws-sdk/client-s3";
import type {
  CloudWatchLogsClient,
  GetLogEventsCommandOutput,
} from "@aws-sdk/client-cloudwatch-logs";
import { AdaptiveRetryStrategy } from "@smithy/core/retry";
import type {
  RetryErrorInfo,
  RetryStrategyV2,
  RetryToken,
  StandardRetryToken,
} from "@smithy/types";
import type { SubmitJobRequest } from "../input/job-file";
import { definedOnly } from "../../components/defined";

export type { JobDetail, JobSummary, JobStatus };

/**
 * Attempts per call. Throttling (HTTP 429 TooManyRequestsException) is retried with the SDK's
 * adaptive mode, which also slows the client down after a throttle; 10 attempts ride out a
 * burst of several seconds instead of failing a 1,000-job submission.
 */
export const MAX_ATTEMPTS = 10;

/** DescribeJobs takes at most 100 job IDs per call. */
export const DESCRIBE_BATCH = 100;

/** ListJobs returns at most 1,000 jobs per page when a status is given. */
export const LIST_PAGE_SIZE = 1000;

/** ...and at most 100 when a filter is given (ListJobs `maxResults`, API reference). */
export const FILTERED_PAGE_SIZE = 100;

/**
 * How long a SubmitJob request may take before the tool stops waiting and reconciles by
 * token instead. A SubmitJob answer takes ~0.1-0.2 s; 30 s is far past any healthy one.
 */
export const SUBMIT_TIMEOUT_MS = 30_000;

/** Connecting must be quick; nothing has been sent while it is under way. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Failures where the request never reached AWS (no connection was made): a retry cannot
 * create a second job. Anything after the connection (reset, timeout, 5xx) may have.
 */
const NOT_SENT_CODES = ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"];

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Whether the SDK may retry a failed SubmitJob: only if AWS cannot have created the job. */
export function submitRetryable(info: {
  readonly errorType: RetryErrorInfo["errorType"];
  readonly error?: unknown;
}): boolean {
  return info.errorType === "THROTTLING" || NOT_SENT_CODES.includes(errorCode(info.error) ?? "");
}

/**
 * The SDK's adaptive retry for SubmitJob, minus the retries that could create a job twice.
 * SubmitJob has no idempotency token, and the SDK's standard strategy retries timeouts,
 * connection resets and HTTP 500/502/503/504 — answers lost after AWS may have accepted the
 * job. Those surface at once, and jobs:submit reconciles by token before sending again.
 * Throttling (429 TooManyRequestsException) is retried: AWS created nothing.
 */
export class SubmitRetryStrategy implements RetryStrategyV2 {
  private readonly inner: AdaptiveRetryStrategy;
  constructor(maxAttempts: number) {
    this.inner = new AdaptiveRetryStrategy(maxAttempts);
  }
  acquireInitialRetryToken(scope: string): Promise<RetryToken> {
    return this.inner.acquireInitialRetryToken(scope);
  }
  refreshRetryTokenForRetry(token: StandardRetryToken, info: RetryErrorInfo): Promise<RetryToken> {
    if (!submitRetryable(info)) {
      // The SDK then throws the request's own error.
      return Promise.reject(new Error("SubmitJob is not retried after this failure"));
    }
    return this.inner.refreshRetryTokenForRetry(token, info);
  }
  recordSuccess(token: StandardRetryToken): void {
    this.inner.recordSuccess(token);
  }
}

/**
 * What a failed SubmitJob means for the job. "refused": AWS answered with a 4xx (a 429 whose
 * retries ran out included), or no connection was made, so no job exists. "unknown": the
 * answer was lost (timeout, reset, 5xx, an unreadable answer) and the job may exist.
 */
export function submitFailure(err: unknown): "refused" | "unknown" {
  const status = (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
    ?.httpStatusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return "refused";
  }
  if (NOT_SENT_CODES.includes(errorCode(err) ?? "")) {
    return "refused";
  }
  // Credentials that cannot be loaded fail before any request is built.
  if (err instanceof Error && err.name === "CredentialsProviderError") {
    return "refused";
  }
  return "unknown";
}

export interface BatchApi {
  /** One SubmitJob; retried by the SDK only after throttling (see SubmitRetryStrategy). */
  submitJob(request: SubmitJobRequest): Promise<{ jobId: string; jobArn?: string }>;
  /**
   * Every job in `jobQueue` named exactly `jobName`, of any status (all pages). ListJobs'
   * JOB_NAME filter is case-insensitive, so other casings are dropped here.
   */
  listJobsByName(jobQueue: string, jobName: string): Promise<JobSummary[]>;
  /** Any number of IDs; batched by 100. Unknown IDs are simply absent from the result. */
  describeJobs(jobIds: readonly string[]): Promise<JobDetail[]>;
  /**
   * Children of an array job in `status` (all pages). The status is required: without one,
   * ListJobs returns only RUNNING jobs, which reads like "all children" and is not.
   */
  listArrayChildren(arrayJobId: string, status: JobStatus): Promise<JobSummary[]>;
  /**
   * Stops a job whatever its state: Batch cancels it before STARTING and terminates it
   * after (CancelJob silently leaves started jobs running).
   */
  terminateJob(jobId: string, reason: string): Promise<void>;
}

export interface RemoteObject {
  readonly key: string;
  readonly size: number;
  readonly lastModified: Date;
  /** The ETag without its quotes: the MD5 of the bytes for a one-part, non-KMS upload. */
  readonly etag?: string;
}

export interface StorageApi {
  putObject(bucket: string, key: string, body: string, contentType: string): Promise<void>;
  /** Every object under `prefix` (all pages). */
  listObjects(bucket: string, prefix: string): Promise<RemoteObject[]>;
  /**
   * Streams an object into `file` (created or truncated). The caller writes to a temporary
   * name and renames, so it alone knows which partial files to clean up.
   */
  download(bucket: string, key: string, file: string): Promise<void>;
  /** A small object's body as UTF-8 text (a manifest, a metrics.json). */
  getText(bucket: string, key: string): Promise<string>;
}

export interface LogEvent {
  readonly timestamp?: number;
  readonly message?: string;
}

export interface LogPage {
  readonly events: LogEvent[];
  readonly nextForwardToken?: string;
  /**
   * The group or stream does not exist (ResourceNotFoundException). CloudWatch creates a
   * job's stream on its first line of output, so this is "no output yet", not an error.
   */
  readonly missing?: true;
}

export interface FilteredPage {
  readonly events: LogEvent[];
  /** More to search: CloudWatch may return empty pages before the last one. */
  readonly nextToken?: string;
}

export interface LogsApi {
  getLogEvents(args: {
    logGroupName: string;
    logStreamName: string;
    nextToken?: string;
  }): Promise<LogPage>;
  /** One page of a group's events that match `filterPattern` within the time range. */
  filterLogEvents(args: {
    logGroupName: string;
    filterPattern: string;
    startTime: number;
    endTime: number;
    nextToken?: string;
  }): Promise<FilteredPage>;
}

export interface AwsClients {
  readonly batch: BatchApi;
  readonly storage: StorageApi;
  readonly logs: LogsApi;
  /** Closes sockets so the process can exit. */
  destroy(): void;
}

export interface ClientOptions {
  readonly region?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** @default SUBMIT_TIMEOUT_MS */
  readonly submitTimeoutMs?: number;
}

function common(opts: ClientOptions): { region?: string; retryMode: string; maxAttempts: number } {
  return {
    ...definedOnly({ region: opts.region }),
    retryMode: "adaptive",
    maxAttempts: MAX_ATTEMPTS,
  };
}

function unexpected(operation: string, response: unknown): Error {
  const shown = { ...((response ?? {}) as Record<string, unknown>) };
  delete shown.$metadata;
  return new Error(`${operation} returned an unexpected response: ${JSON.stringify(shown)}`);
}

/** DescribeJobs, DESCRIBE_BATCH IDs a call, one call after another. */
async function describeInPages(
  client: () => BatchClient,
  jobIds: readonly string[],
): Promise<JobDetail[]> {
  const details: JobDetail[] = [];
  for (let i = 0; i < jobIds.length; i += DESCRIBE_BATCH) {
    const out = await client().send(
      new DescribeJobsCommand({ jobs: jobIds.slice(i, i + DESCRIBE_BATCH) as string[] }),
    );
    if (!Array.isArray(out.jobs)) {
      throw unexpected("DescribeJobs", out);
    }
    details.push(...out.jobs);
  }
  return details;
}

/** Every page of one ListJobs query, following nextToken to the end. */
async function listAllJobs(
  client: () => BatchClient,
  input: Omit<ListJobsCommandInput, "nextToken">,
): Promise<JobSummary[]> {
  const all: JobSummary[] = [];
  let nextToken: string | undefined;
  do {
    const out = await client().send(
      new ListJobsCommand({ ...input, ...definedOnly({ nextToken }) }),
    );
    all.push(...(out.jobSummaryList ?? []));
    nextToken = out.nextToken;
  } while (nextToken !== undefined && nextToken !== "");
  return all;
}

/**
 * `client` is called on first use, so commands that never call Batch never build a client;
 * `submitClient` (default: `client`) is the one whose retries cannot duplicate a job.
 */
export function createBatchApi(
  client: () => BatchClient,
  submitClient: () => BatchClient = client,
): BatchApi {
  return {
    async submitJob(request) {
      const out = await submitClient().send(new SubmitJobCommand(request));
      if (typeof out.jobId !== "string" || out.jobId === "") {
        throw unexpected("SubmitJob", out);
      }
      return { jobId: out.jobId, ...definedOnly({ jobArn: out.jobArn }) };
    },
    describeJobs: (jobIds) => describeInPages(client, jobIds),
    listJobsByName: async (jobQueue, jobName) =>
      (
        await listAllJobs(client, {
          jobQueue,
          // With a filter, ListJobs ignores jobStatus and returns jobs of every status.
          filters: [{ name: "JOB_NAME", values: [jobName] }],
          maxResults: FILTERED_PAGE_SIZE,
        })
      ).filter((j) => j.jobName === jobName),
    listArrayChildren: (arrayJobId, status) =>
      listAllJobs(client, { arrayJobId, jobStatus: status, maxResults: LIST_PAGE_SIZE }),
    async terminateJob(jobId, reason) {
      await client().send(new TerminateJobCommand({ jobId, reason }));
    },
  };
}

/**
 * The S3 and CloudWatch Logs packages load on first use: a submit of job files calls neither
 * before its first SubmitJob, and only `logs` and `watch --logs` read CloudWatch. Each is
 * imported once and kept: compiled to CommonJS, every `import()` copies the package's
 * thousand-odd exports into a new object, which a report's metrics reads would pay per call.
 */
let s3Module: Promise<typeof import("@aws-sdk/client-s3")> | undefined;
let logsModule: Promise<typeof import("@aws-sdk/client-cloudwatch-logs")> | undefined;
const s3Sdk = (): Promise<typeof import("@aws-sdk/client-s3")> =>
  (s3Module ??= import("@aws-sdk/client-s3"));
const logsSdk = (): Promise<typeof import("@aws-sdk/client-cloudwatch-logs")> =>
  (logsModule ??= import("@aws-sdk/client-cloudwatch-logs"));

/** A listing page's objects as the tool holds them (the ETag without its quotes). */
function remoteObjects(
  contents: readonly { Key?: string; Size?: number; LastModified?: Date; ETag?: string }[],
): RemoteObject[] {
  return contents.flatMap((o) =>
    o.Key !== undefined
      ? [
          {
            key: o.Key,
            size: o.Size ?? 0,
            lastModified: o.LastModified ?? new Date(0),
            ...definedOnly({ etag: o.ETag?.replace(/"/g, "") }),
          },
        ]
      : [],
  );
}

/** Per bucket, the lean reader of small objects (lean-get.ts), made on the first read. */
function leanReaders(
  client: () => Promise<S3Client>,
): (bucket: string) => Promise<LeanGet | undefined> {
  const made = new Map<string, Promise<LeanGet | undefined>>();
  return (bucket) => {
    let reader = made.get(bucket);
    if (reader === undefined) {
      reader = import("./lean-get")
        .then(async ({ leanGetter }) => leanGetter(await client(), bucket))
        .catch(() => undefined);
      made.set(bucket, reader);
    }
    return reader;
  };
}

export function createStorageApi(client: () => Promise<S3Client>): StorageApi {
  const leanFor = leanReaders(client);
  return {
    async putObject(bucket, key, body, contentType) {
      const { PutObjectCommand } = await s3Sdk();
      await (
        await client()
      ).send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }),
      );
    },
    async listObjects(bucket, prefix) {
      const { ListObjectsV2Command } = await s3Sdk();
      const all: RemoteObject[] = [];
      let token: string | undefined;
      do {
        const out = await (
          await client()
        ).send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            ...definedOnly({ ContinuationToken: token }),
          }),
        );
        all.push(...remoteObjects(out.Contents ?? []));
        token = out.IsTruncated === true ? out.NextContinuationToken : undefined;
      } while (token !== undefined);
      return all;
    },
    async download(bucket, key, file) {
      const { GetObjectCommand } = await s3Sdk();
      const out = await (await client()).send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (out.Body === undefined) {
        throw unexpected("GetObject", out);
      }
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      await pipeline(out.Body as Readable, fs.createWriteStream(file));
    },
    async getText(bucket, key) {
      const text = await (await leanFor(bucket))?.(key);
      if (text !== undefined) {
        return text;
      }
      const { GetObjectCommand } = await s3Sdk();
      const out = await (await client()).send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (out.Body === undefined) {
        throw unexpected("GetObject", out);
      }
      return out.Body.transformToString("utf-8");
    },
  };
}

/** Whether `err` is the service's "no such log group or stream" answer. */
export function isResourceNotFound(err: unknown): boolean {
  return err instanceof Error && err.name === "ResourceNotFoundException";
}

export function createLogsApi(client: () => Promise<CloudWatchLogsClient>): LogsApi {
  return {
    async filterLogEvents(args) {
      const { FilterLogEventsCommand } = await logsSdk();
      const out = await (
        await client()
      ).send(
        new FilterLogEventsCommand({
          logGroupName: args.logGroupName,
          filterPattern: args.filterPattern,
          startTime: args.startTime,
          endTime: args.endTime,
          ...definedOnly({ nextToken: args.nextToken }),
        }),
      );
      return {
        events: (out.events ?? []).map((e) => ({ timestamp: e.timestamp, message: e.message })),
        ...definedOnly({ nextToken: out.nextToken }),
      };
    },
    async getLogEvents(args) {
      const { GetLogEventsCommand } = await logsSdk();
      let out: GetLogEventsCommandOutput;
      try {
        out = await (
          await client()
        ).send(
          new GetLogEventsCommand({
            logGroupName: args.logGroupName,
            logStreamName: args.logStreamName,
            startFromHead: true,
            ...definedOnly({ nextToken: args.nextToken }),
          }),
        );
      } catch (err) {
        if (isResourceNotFound(err)) {
          return { events: [], missing: true };
        }
        throw err;
      }
      return {
        events: (out.events ?? []).map((e) => ({ timestamp: e.timestamp, message: e.message })),
        ...definedOnly({ nextForwardToken: out.nextForwardToken }),
      };
    },
  };
}

/**
 * Clients are created on first use, so `jobs:watch` never builds an S3 client and
 * `--dry-run` never touches the network.
 */
export function createAwsClients(opts: ClientOptions = {}): AwsClients {
  const env = opts.env ?? process.env;
  let batch: BatchClient | undefined;
  let submitter: BatchClient | undefined;
  let s3: S3Client | undefined;
  let logs: CloudWatchLogsClient | undefined;
  let s3Made: Promise<S3Client> | undefined;
  let logsMade: Promise<CloudWatchLogsClient> | undefined;
  const batchClient = (): BatchClient => (batch ??= new BatchClient(common(opts)));
  const submitClient = (): BatchClient =>
    (submitter ??= new BatchClient({
      ...common(opts),
      retryStrategy: new SubmitRetryStrategy(MAX_ATTEMPTS),
      requestHandler: {
        requestTimeout: opts.submitTimeoutMs ?? SUBMIT_TIMEOUT_MS,
        throwOnRequestTimeout: true,
        connectionTimeout: CONNECT_TIMEOUT_MS,
      },
    }));
  const s3Client = (): Promise<S3Client> =>
    (s3Made ??= s3Sdk().then(
      (sdk) =>
        (s3 = new sdk.S3Client({
          ...common(opts),
          // S3-compatible endpoints (MinIO, LocalStack, s3rver) serve buckets by path, not by
          // virtual host; real S3 keeps the SDK's default.
          forcePathStyle: Boolean(env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL),
        })),
    ));
  const logsClient = (): Promise<CloudWatchLogsClient> =>
    (logsMade ??= logsSdk().then((sdk) => (logs = new sdk.CloudWatchLogsClient(common(opts)))));
  return {
    batch: createBatchApi(batchClient, submitClient),
    storage: createStorageApi(s3Client),
    logs: createLogsApi(logsClient),
    destroy() {
      batch?.destroy();
      submitter?.destroy();
      s3?.destroy();
      logs?.destroy();
    },
  };
}
