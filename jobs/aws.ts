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
  SubmitJobCommand,
  TerminateJobCommand,
  type JobDetail,
  type JobStatus,
  type JobSummary,
} from "@aws-sdk/client-batch";
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import {
  CloudWatchLogsClient,
  GetLogEventsCommand,
  type GetLogEventsCommandOutput,
} from "@aws-sdk/client-cloudwatch-logs";
import type { SubmitJobRequest } from "./job-file";

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

export interface BatchApi {
  submitJob(request: SubmitJobRequest): Promise<{ jobId: string; jobArn?: string }>;
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

export interface LogsApi {
  getLogEvents(args: {
    logGroupName: string;
    logStreamName: string;
    nextToken?: string;
  }): Promise<LogPage>;
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
}

function common(opts: ClientOptions): { region?: string; retryMode: string; maxAttempts: number } {
  return {
    ...(opts.region !== undefined ? { region: opts.region } : {}),
    retryMode: "adaptive",
    maxAttempts: MAX_ATTEMPTS,
  };
}

function unexpected(operation: string, response: unknown): Error {
  const shown = { ...((response ?? {}) as Record<string, unknown>) };
  delete shown.$metadata;
  return new Error(`${operation} returned an unexpected response: ${JSON.stringify(shown)}`);
}

/** `client` is called on first use, so commands that never call Batch never build a client. */
export function createBatchApi(client: () => BatchClient): BatchApi {
  return {
    async submitJob(request) {
      const out = await client().send(new SubmitJobCommand(request));
      if (typeof out.jobId !== "string" || out.jobId === "") {
        throw unexpected("SubmitJob", out);
      }
      return { jobId: out.jobId, ...(out.jobArn !== undefined ? { jobArn: out.jobArn } : {}) };
    },
    async describeJobs(jobIds) {
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
    },
    async listArrayChildren(arrayJobId, status) {
      const all: JobSummary[] = [];
      let nextToken: string | undefined;
      do {
        const out = await client().send(
          new ListJobsCommand({
            arrayJobId,
            jobStatus: status,
            maxResults: LIST_PAGE_SIZE,
            ...(nextToken !== undefined ? { nextToken } : {}),
          }),
        );
        all.push(...(out.jobSummaryList ?? []));
        nextToken = out.nextToken;
      } while (nextToken !== undefined && nextToken !== "");
      return all;
    },
    async terminateJob(jobId, reason) {
      await client().send(new TerminateJobCommand({ jobId, reason }));
    },
  };
}

export function createStorageApi(client: () => S3Client): StorageApi {
  return {
    async putObject(bucket, key, body, contentType) {
      await client().send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }),
      );
    },
    async listObjects(bucket, prefix) {
      const all: RemoteObject[] = [];
      let token: string | undefined;
      do {
        const out = await client().send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            ...(token !== undefined ? { ContinuationToken: token } : {}),
          }),
        );
        for (const o of out.Contents ?? []) {
          if (o.Key !== undefined) {
            all.push({
              key: o.Key,
              size: o.Size ?? 0,
              lastModified: o.LastModified ?? new Date(0),
            });
          }
        }
        token = out.IsTruncated === true ? out.NextContinuationToken : undefined;
      } while (token !== undefined);
      return all;
    },
    async download(bucket, key, file) {
      const out = await client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (out.Body === undefined) {
        throw unexpected("GetObject", out);
      }
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      await pipeline(out.Body as Readable, fs.createWriteStream(file));
    },
    async getText(bucket, key) {
      const out = await client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
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

export function createLogsApi(client: () => CloudWatchLogsClient): LogsApi {
  return {
    async getLogEvents(args) {
      let out: GetLogEventsCommandOutput;
      try {
        out = await client().send(
          new GetLogEventsCommand({
            logGroupName: args.logGroupName,
            logStreamName: args.logStreamName,
            startFromHead: true,
            ...(args.nextToken !== undefined ? { nextToken: args.nextToken } : {}),
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
        ...(out.nextForwardToken !== undefined ? { nextForwardToken: out.nextForwardToken } : {}),
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
  let s3: S3Client | undefined;
  let logs: CloudWatchLogsClient | undefined;
  const batchClient = (): BatchClient => (batch ??= new BatchClient(common(opts)));
  const s3Client = (): S3Client =>
    (s3 ??= new S3Client({
      ...common(opts),
      // S3-compatible endpoints (MinIO, LocalStack, s3rver) serve buckets by path, not by
      // virtual host; real S3 keeps the SDK's default.
      forcePathStyle: Boolean(env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL),
    }));
  const logsClient = (): CloudWatchLogsClient => (logs ??= new CloudWatchLogsClient(common(opts)));
  return {
    batch: createBatchApi(batchClient),
    storage: createStorageApi(s3Client),
    logs: createLogsApi(logsClient),
    destroy() {
      batch?.destroy();
      s3?.destroy();
      logs?.destroy();
    },
  };
}
