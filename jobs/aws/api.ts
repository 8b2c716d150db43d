/**
 * AWS SDK v3 clients behind the few calls the tool makes. Credentials, endpoints and (without
 * the stack's `region` output) the region come from the SDK's own chains.
 */
import * as fs from "fs";
import * as path from "path";
import { pipeline } from "stream/promises";
import { setTimeout as delay } from "timers/promises";
import type { Readable } from "stream";
import {
  BatchClient,
  DescribeComputeEnvironmentsCommand,
  DescribeJobQueuesCommand,
  DescribeJobsCommand,
  GetJobQueueSnapshotCommand,
  SubmitJobCommand,
  TerminateJobCommand,
  paginateListJobs,
  type ListJobsCommandInput,
  type ComputeEnvironmentDetail,
  type FrontOfQueueDetail,
  type JobDetail,
  type JobQueueDetail,
  type JobStatus,
  type JobSummary,
} from "@aws-sdk/client-batch";
import {
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  paginateListObjectsV2,
} from "@aws-sdk/client-s3";
import {
  CloudWatchLogsClient,
  FilterLogEventsCommand,
  GetLogEventsCommand,
  type FilterLogEventsCommandInput,
  type OutputLogEvent,
} from "@aws-sdk/client-cloudwatch-logs";
import { DescribeTasksCommand, ECSClient } from "@aws-sdk/client-ecs";
import { StandardRetryStrategy } from "@smithy/core/retry";
import type { RetryErrorInfo, StandardRetryToken } from "@smithy/types";
import type { SubmitJobRequest } from "../input/job-file";
import { describeError, httpStatus } from "../errors";
import { definedOnly } from "../../components/defined";
import { runAll } from "./pool";

export type { ComputeEnvironmentDetail, FrontOfQueueDetail, JobDetail, JobQueueDetail, JobSummary };

/** Enough to ride out a burst of throttling. */
const MAX_ATTEMPTS = 10;

/**
 * Batch's fixed API rate per account and Region: pacing to it keeps a large submission unthrottled.
 * @see https://docs.aws.amazon.com/batch/latest/userguide/service_limits.html
 * @see https://repost.aws/knowledge-center/aws-batch-requests-error
 */
const BATCH_CALLS_PER_SECOND = 50;

const DESCRIBE_BATCH = 100;
const DESCRIBE_CONCURRENCY = 10;
const LIST_PAGE_SIZE = 1000;
const FILTERED_PAGE_SIZE = 100;
const TASKS_PER_CALL = 100;
const TASK_CALLS_IN_FLIGHT = 4;
export const SUBMIT_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 10_000;

/** No connection was made, so AWS created nothing (after a reset, timeout or 5xx it may have). */
const NOT_SENT_CODES = ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"];

function notSent(err: unknown): boolean {
  return NOT_SENT_CODES.includes(String((err as { code?: unknown } | undefined)?.code));
}

export function submitRetryable(info: { errorType: RetryErrorInfo["errorType"]; error?: unknown }) {
  return info.errorType === "THROTTLING" || notSent(info.error);
}

/**
 * The standard retry minus what could create a job twice, which jobs:submit reconciles by token.
 * Not adaptive: its limiter held a large submit below Batch's rate (`npm run bench -- aws-pace`).
 */
class SubmitRetryStrategy extends StandardRetryStrategy {
  override refreshRetryTokenForRetry(token: StandardRetryToken, info: RetryErrorInfo) {
    return submitRetryable(info)
      ? super.refreshRetryTokenForRetry(token, info)
      : Promise.reject(new Error("SubmitJob is not retried after this failure"));
  }
}

export type Unavailable = Readonly<{ call: string; error: string; denied: boolean }>;

/** A call a command can do without: an AWS failure is recorded in `unavailable`, a bug rethrown. */
export async function optional<T>(call: string, run: () => Promise<T>, unavailable: Unavailable[]) {
  try {
    return await run();
  } catch (err) {
    if ((err as { $metadata?: unknown }).$metadata === undefined) {
      throw err;
    }
    const denied =
      httpStatus(err) === 403 || /AccessDenied|UnauthorizedOperation/.test(String(err));
    unavailable.push({ call, error: describeError(err), denied });
    return undefined;
  }
}

/** "refused": no job exists (a 4xx, or no connection); "unknown": the answer was lost. */
export function submitFailure(err: unknown): "refused" | "unknown" {
  const status = httpStatus(err);
  const answered4xx = status !== undefined && status >= 400 && status < 500;
  // Credentials that cannot be loaded fail before any request is built.
  const noCredentials = err instanceof Error && err.name === "CredentialsProviderError";
  return answered4xx || notSent(err) || noCredentials ? "refused" : "unknown";
}

export type BatchApi = ReturnType<typeof batchApi>;
export type StorageApi = ReturnType<typeof storageApi>;
export type LogsApi = ReturnType<typeof logsApi>;
export type EcsApi = ReturnType<typeof ecsApi>;
export type AwsClients = ReturnType<typeof createAwsClients>;
export type LogEvent = Pick<OutputLogEvent, "timestamp" | "message">;

export type RemoteObject = Awaited<ReturnType<StorageApi["listObjects"]>>[number];

/** Every attempt of `clients` (after the SDK's retry step) waits for its slot, in order. */
function pace(callsPerSecond: number, ...clients: BatchClient[]): void {
  const gapMs = 1000 / callsPerSecond;
  let free = 0;
  for (const client of clients) {
    client.middlewareStack.add(
      (next) => async (args) => {
        const now = Date.now();
        const at = Math.max(now, free);
        free = at + gapMs;
        if (at > now) {
          await delay(at - now);
        }
        return next(args);
      },
      { step: "finalizeRequest", priority: "low", name: "batchpyPace" },
    );
  }
}

function unexpected(operation: string, response: object): Error {
  const shown = JSON.stringify(response, (k, v: unknown) => (k === "$metadata" ? undefined : v));
  return new Error(`${operation} returned an unexpected response: ${shown}`);
}

async function allPages<P, T>(pages: AsyncIterable<P>, items: (page: P) => T[] | undefined) {
  const all: T[] = [];
  for await (const page of pages) {
    all.push(...(items(page) ?? []));
  }
  return all;
}

async function inCalls<T, R>(
  items: readonly T[],
  size: number,
  inFlight: number,
  call: (part: T[]) => Promise<R>,
): Promise<R[]> {
  const parts = Array.from({ length: Math.ceil(items.length / size) }, (_, i) =>
    items.slice(i * size, (i + 1) * size),
  );
  return runAll(parts, call, inFlight);
}

function batchApi(client: BatchClient, submitClient: BatchClient) {
  const describePage = async (jobs: string[]): Promise<JobDetail[]> => {
    const out = await client.send(new DescribeJobsCommand({ jobs }));
    if (!Array.isArray(out.jobs)) {
      throw unexpected("DescribeJobs", out);
    }
    return out.jobs;
  };
  const listJobs = (input: ListJobsCommandInput) =>
    allPages(paginateListJobs({ client }, input), (page) => page.jobSummaryList);
  return {
    async submitJob(request: SubmitJobRequest): Promise<{ jobId: string; jobArn?: string }> {
      const out = await submitClient.send(new SubmitJobCommand(request));
      if (typeof out.jobId !== "string" || out.jobId === "") {
        throw unexpected("SubmitJob", out);
      }
      return { jobId: out.jobId, ...definedOnly({ jobArn: out.jobArn }) };
    },
    describeJobs: async (jobIds: readonly string[]) =>
      (await inCalls(jobIds, DESCRIBE_BATCH, DESCRIBE_CONCURRENCY, describePage)).flat(),
    // The JOB_NAME filter is case-insensitive and, like any filter, ignores jobStatus.
    async listJobsByName(jobQueue: string, jobName: string) {
      const filters = [{ name: "JOB_NAME", values: [jobName] }];
      const jobs = await listJobs({ jobQueue, filters, maxResults: FILTERED_PAGE_SIZE });
      return jobs.filter((j) => j.jobName === jobName);
    },
    // Without a status, ListJobs lists RUNNING only.
    listArrayChildren: (arrayJobId: string, status: JobStatus) =>
      listJobs({ arrayJobId, jobStatus: status, maxResults: LIST_PAGE_SIZE }),
    // CancelJob silently leaves started jobs running.
    terminateJob: (jobId: string, reason: string) =>
      client.send(new TerminateJobCommand({ jobId, reason })),
    describeJobQueue: async (queue: string): Promise<JobQueueDetail | undefined> =>
      (await client.send(new DescribeJobQueuesCommand({ jobQueues: [queue] }))).jobQueues?.[0],
    describeComputeEnvironments: async (computeEnvironments: string[]) =>
      (await client.send(new DescribeComputeEnvironmentsCommand({ computeEnvironments })))
        .computeEnvironments ?? [],
    getJobQueueSnapshot: async (jobQueue: string): Promise<FrontOfQueueDetail> =>
      (await client.send(new GetJobQueueSnapshotCommand({ jobQueue }))).frontOfQueue ?? {},
  };
}

// An ETag is the MD5 of the bytes for a one-part, non-KMS upload.
async function listObjects(client: S3Client, Bucket: string, Prefix: string) {
  const listed = await allPages(paginateListObjectsV2({ client }, { Bucket, Prefix }), (page) =>
    page.Contents?.filter((o) => o.Key !== undefined),
  );
  return listed.map(({ Key = "", Size = 0, LastModified = new Date(0), ETag }) => {
    const etag = ETag?.replace(/"/g, "");
    return { key: Key, size: Size, lastModified: LastModified, ...definedOnly({ etag }) };
  });
}

function storageApi(client: S3Client) {
  const body = async (bucket: string, key: string) => {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if (out.Body === undefined) {
      throw unexpected("GetObject", out);
    }
    return { body: out.Body, etag: out.ETag ?? "" };
  };
  const put = (Bucket: string, Key: string, Body: string, when = {}) =>
    client.send(
      new PutObjectCommand({ Bucket, Key, Body, ContentType: "application/json", ...when }),
    );
  return {
    putJson: (bucket: string, key: string, text: string) => put(bucket, key, text),
    /**
     * Written if absent (no `etag`) or unchanged since `etag`. "failed": a 412, a 404 for a
     * gone ETag, or a 409 (a concurrent write won).
     * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
     */
    async putIf(bucket: string, key: string, text: string, etag: string | undefined) {
      const when = etag === undefined ? { IfNoneMatch: "*" } : { IfMatch: etag };
      try {
        return { etag: (await put(bucket, key, text, when)).ETag ?? "" };
      } catch (err) {
        const status = httpStatus(err);
        if (status === 412 || status === 409 || (status === 404 && etag !== undefined)) {
          return "failed" as const;
        }
        throw err;
      }
    },
    async getWithEtag(bucket: string, key: string) {
      try {
        const got = await body(bucket, key);
        return { text: await got.body.transformToString("utf-8"), etag: got.etag };
      } catch (err) {
        if (err instanceof Error && err.name === "NoSuchKey") {
          return undefined;
        }
        throw err;
      }
    },
    listObjects: (bucket: string, prefix: string) => listObjects(client, bucket, prefix),
    async download(bucket: string, key: string, file: string): Promise<void> {
      const stream = (await body(bucket, key)).body;
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      await pipeline(stream as Readable, fs.createWriteStream(file));
    },
    getText: async (bucket: string, key: string): Promise<string> =>
      (await body(bucket, key)).body.transformToString("utf-8"),
  };
}

function logsApi(client: CloudWatchLogsClient) {
  return {
    // CloudWatch may return empty pages before the last one.
    async filterLogEvents(args: FilterLogEventsCommandInput) {
      const out = await client.send(new FilterLogEventsCommand(args));
      return { events: out.events ?? [], nextToken: out.nextToken };
    },
    // CloudWatch makes a stream at its first line.
    async getLogEvents(args: { logGroupName: string; logStreamName: string; nextToken?: string }) {
      try {
        const out = await client.send(new GetLogEventsCommand({ ...args, startFromHead: true }));
        return { events: out.events ?? [], nextForwardToken: out.nextForwardToken };
      } catch (err) {
        if (err instanceof Error && err.name === "ResourceNotFoundException") {
          return { events: [], missing: true as const };
        }
        throw err;
      }
    },
  };
}

function ecsApi(client: ECSClient) {
  return {
    /**
     * ECS forgets a stopped task after a while, then lists it under `failures` as MISSING.
     * @see https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeTasks.html
     * @see https://docs.aws.amazon.com/AmazonECS/latest/developerguide/api_failures_messages.html
     */
    async describeTasks(cluster: string, taskArns: readonly string[]) {
      const read = await inCalls(taskArns, TASKS_PER_CALL, TASK_CALLS_IN_FLIGHT, (tasks) =>
        client.send(new DescribeTasksCommand({ cluster, tasks })),
      );
      return {
        tasks: read.flatMap((r) => r.tasks ?? []),
        missing: read
          .flatMap((r) => r.failures ?? [])
          .flatMap((f) => (f.reason === "MISSING" && f.arn !== undefined ? [f.arn] : [])),
      };
    },
  };
}

export function createAwsClients(
  opts: { region?: string; submitTimeoutMs?: number; batchCallsPerSecond?: number } = {},
) {
  const common = { region: opts.region, retryMode: "adaptive", maxAttempts: MAX_ATTEMPTS };
  const batch = new BatchClient(common);
  const submitter = new BatchClient({
    ...common,
    retryStrategy: new SubmitRetryStrategy(MAX_ATTEMPTS),
    requestHandler: {
      requestTimeout: opts.submitTimeoutMs ?? SUBMIT_TIMEOUT_MS,
      throwOnRequestTimeout: true,
      connectionTimeout: CONNECT_TIMEOUT_MS,
    },
  });
  pace(opts.batchCallsPerSecond ?? BATCH_CALLS_PER_SECOND, batch, submitter);
  // S3-compatible endpoints (MinIO, LocalStack, s3rver) serve buckets by path.
  const forcePathStyle = Boolean(process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL);
  const s3 = new S3Client({ ...common, forcePathStyle });
  const logs = new CloudWatchLogsClient(common);
  const ecs = new ECSClient(common);
  return {
    batch: batchApi(batch, submitter),
    storage: storageApi(s3),
    logs: logsApi(logs),
    ecs: ecsApi(ecs),
    destroy: () => [batch, submitter, s3, logs, ecs].forEach((c) => c.destroy()),
  };
}
