/**
 * A local AWS Batch endpoint speaking the real REST-JSON wire protocol (POST /v1/<op>, JSON
 * bodies, errors as HTTP status + `x-amzn-errortype` + {"message"}), for the AWS SDK's
 * `endpoint` to point at. It validates requests like the service, records every request,
 * injects throttling (429 TooManyRequestsException) and hard failures, and moves jobs
 * through Batch's lifecycle so watch/logs/cancel have something to observe.
 *
 * Exactly-once support: SubmitJob keeps `tags` (validated like the service: at most 50, no
 * `aws:` prefix) and DescribeJobs returns them; ListJobs takes a `jobQueue` with the
 * JOB_NAME filter (case-insensitive, a trailing `*` matches a prefix, every status, newest
 * first, at most 100 per page); `listLagMs` hides jobs from ListJobs for that long after
 * SubmitJob, as an eventually consistent listing would; `faultNextSubmits` makes the server
 * accept a job and then lose the answer (drop the connection, never answer, answer 500) or
 * hold the answer until `releasePaused()`. SubmitJob keeps `dependsOn` (at most 20; N_TO_N
 * only between array jobs of one size) and DescribeJobs returns it; a job waits in PENDING
 * until the jobs it depends on (N_TO_N aside) have SUCCEEDED, and goes to FAILED with
 * Batch's reason (DEPENDENT_JOB_FAILED) when one fails.
 *
 * Array jobs behave as the API reference describes them: the parent is only ever SUBMITTED,
 * PENDING, SUCCEEDED or FAILED (PENDING while any child runs); its children exist once it
 * leaves SUBMITTED; ListJobs without jobStatus (and without filters) lists only RUNNING
 * jobs. Stopping a parent (CancelJob or TerminateJob) stops only the children that have not
 * started: the reference promises no more, so the tool must terminate running children
 * itself.
 */
import { randomUUID } from "crypto";
import * as http from "http";
import { KEEP_ALIVE_TIMEOUT_MS, closeServer, listenOnLoopback } from "./http-server";

export const LIFECYCLE = ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"] as const;
export type FakeStatus = (typeof LIFECYCLE)[number] | "SUCCEEDED" | "FAILED";

/** The statusReason Batch gives a job it failed because a job it depends on failed. */
const DEPENDENT_JOB_FAILED = "Dependent Job failed";

const ended = (u: FakeUnit): boolean => u.status === "SUCCEEDED" || u.status === "FAILED";

export interface Outcome {
  readonly status: "SUCCEEDED" | "FAILED";
  readonly exitCode?: number;
  readonly statusReason?: string;
  /** Attempts the job took (earlier ones lost to the host, as with spot reclamation). @default 1 */
  readonly attempts?: number;
}

export interface FakeUnit {
  jobId: string;
  step: number;
  status: FakeStatus;
  outcome: Outcome;
  logStreamName?: string;
  statusReason?: string;
  exitCode?: number;
  index?: number;
  /** Epoch ms: when it entered RUNNING, and when it ended. */
  startedAt?: number;
  stoppedAt?: number;
}

export interface FakeJob extends FakeUnit {
  readonly jobName: string;
  readonly jobArn: string;
  readonly request: Record<string, unknown>;
  readonly env: Record<string, string>;
  readonly createdAt: number;
  /** An array job's children; Batch shows them only once `childrenCreated`. */
  readonly children?: FakeUnit[];
  /** Batch creates the children when the parent leaves SUBMITTED. */
  childrenCreated: boolean;
  readonly tags?: Record<string, string>;
}

/**
 * What happens to the answer of a SubmitJob the server accepted: "drop" closes the
 * connection without answering, "hang" never answers, "error500" answers HTTP 500
 * ServerException, "pause" holds the answer until releasePaused().
 */
export type SubmitFault = "drop" | "hang" | "error500" | "pause";

export interface RecordedRequest {
  readonly operation: string;
  readonly body: unknown;
  readonly status: number;
  /** The answer was lost on purpose (faultNextSubmits). */
  readonly fault?: SubmitFault;
}

export interface FakeBatchOptions {
  /** How a job (or array child) ends; default SUCCEEDED with exit code 0. */
  readonly outcome?: (job: {
    jobName: string;
    env: Record<string, string>;
    index?: number;
  }) => Outcome;
  /** Move every job one lifecycle step on each DescribeJobs call. @default true */
  readonly autoAdvance?: boolean;
  /** Delay before answering each SubmitJob (to interrupt a run mid-way). */
  readonly submitDelayMs?: number;
  /** Cap on ListJobs page size (below maxResults), small to exercise paging. @default 100 */
  readonly pageSize?: number;
  /** ListJobs leaves out jobs submitted less than this long ago. @default 0 */
  readonly listLagMs?: number;
  /** Delay before every answer, as a distant region would have. @default 0 */
  readonly latencyMs?: number;
  /**
   * Calls of any operation answered per rolling second; the rest get 429
   * TooManyRequestsException, as the account's Batch API rate does. @default - no limit
   */
  readonly callsPerSecond?: number;
}

/** A compute environment as DescribeComputeEnvironments shows it (INVALID ones with a reason). */
export interface FakeEnvironment {
  readonly name: string;
  readonly state: "ENABLED" | "DISABLED";
  readonly status: "VALID" | "INVALID" | "UPDATING" | "CREATING" | "DELETING";
  readonly statusReason?: string;
  readonly minvCpus: number;
  readonly maxvCpus: number;
  readonly desiredvCpus: number;
  readonly instanceTypes: readonly string[];
}

/** The stack's queue action: cancel a job held this long for these reasons (job-queue.ts). */
const TIME_LIMIT_REASONS = [
  "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
  "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
  "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
];

const REGION = "us-east-1";
const STATUSES = [...LIFECYCLE, "SUCCEEDED", "FAILED"];
const ACCOUNT = "123456789012";
const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export class FakeBatch {
  readonly requests: RecordedRequest[] = [];
  readonly jobs = new Map<string, FakeJob>();
  private readonly server: http.Server;
  private readonly opts: FakeBatchOptions;
  private throttles = new Map<string, number>();
  /** When the calls of the last second were answered (callsPerSecond). */
  private recentCalls: number[] = [];
  private failAfter:
    { count: number; status: number; type: string; times: number | undefined } | undefined;
  private accepted = 0;
  private readonly submitFaults: SubmitFault[] = [];
  private readonly paused: (() => void)[] = [];
  private readonly hung: http.ServerResponse[] = [];
  /** How long ListJobs hides a new job (starts as the `listLagMs` option). */
  listLagMs: number;
  /** The queue's compute environments, in order; every queue name is answered with them. */
  environments: FakeEnvironment[] = [
    {
      name: "batchpy-ce",
      state: "ENABLED",
      status: "VALID",
      minvCpus: 0,
      maxvCpus: 16,
      desiredvCpus: 0,
      instanceTypes: ["m5a.large"],
    },
  ];
  /** The queue's RUNNABLE time limit, as `batchpy:runnableTimeoutSeconds` sets it. */
  runnableTimeoutSeconds = 3600;
  /** When set, each attempt names an ECS task of this cluster (see taskArnOf). */
  ecsCluster: string | undefined;
  /** Operations (e.g. "getjobqueuesnapshot") answered 403 AccessDeniedException. */
  readonly denied = new Set<string>();
  url = "";

  private constructor(opts: FakeBatchOptions) {
    this.opts = opts;
    this.listLagMs = opts.listLagMs ?? 0;
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  }

  static async start(opts: FakeBatchOptions = {}): Promise<FakeBatch> {
    const fake = new FakeBatch(opts);
    fake.url = await listenOnLoopback(fake.server);
    return fake;
  }

  close(): Promise<void> {
    this.paused.splice(0);
    this.hung.splice(0).forEach((res) => res.destroy());
    return closeServer(this.server);
  }

  /** The next `n` calls of `operation` (e.g. "submitjob") answer 429 TooManyRequestsException. */
  /** Whether this call is past callsPerSecond; counts it when it is not. */
  private overRate(): boolean {
    const limit = this.opts.callsPerSecond;
    if (limit === undefined) {
      return false;
    }
    const now = Date.now();
    this.recentCalls = this.recentCalls.filter((t) => t > now - 1000);
    if (this.recentCalls.length >= limit) {
      return true;
    }
    this.recentCalls.push(now);
    return false;
  }

  throttleNext(n: number, operation = "submitjob"): void {
    this.throttles.set(operation, (this.throttles.get(operation) ?? 0) + n);
  }

  /**
   * Once `count` jobs were accepted, every further SubmitJob fails (default 400
   * ClientException), or only the next `times` of them.
   */
  failSubmitsAfter(
    count: number | undefined,
    status = 400,
    type = "ClientException",
    times?: number,
  ): void {
    this.failAfter = count === undefined ? undefined : { count, status, type, times };
  }

  /** The next `n` accepted SubmitJobs lose their answer the way `fault` says. */
  faultNextSubmits(n: number, fault: SubmitFault): void {
    for (let i = 0; i < n; i++) {
      this.submitFaults.push(fault);
    }
  }

  /** Answers held by the "pause" fault. */
  pausedCount(): number {
    return this.paused.length;
  }

  /** Sends every answer held by the "pause" fault. */
  releasePaused(): void {
    this.paused.splice(0).forEach((send) => send());
  }

  /** Jobs named `jobName`, oldest first. */
  named(jobName: string): FakeJob[] {
    return this.submitted().filter((j) => j.jobName === jobName);
  }

  /** Accepted SubmitJob requests, in order. */
  submitted(): FakeJob[] {
    return [...this.jobs.values()];
  }

  count(operation: string, status?: number): number {
    return this.requests.filter(
      (r) => r.operation === operation && (status === undefined || r.status === status),
    ).length;
  }

  /** Moves every job `steps` lifecycle steps forward. */
  advanceAll(steps = 1): void {
    for (let i = 0; i < steps; i++) {
      for (const job of this.jobs.values()) {
        this.advance(job);
      }
    }
  }

  /** Finishes every job now, with its outcome, each after the jobs it depends on. */
  finishAll(): void {
    do {
      this.advanceAll(LIFECYCLE.length + 1);
    } while (this.submitted().some((j) => !ended(j) && !this.held(j)));
  }

  /**
   * Whether `job` waits for a job it depends on (N_TO_N aside), in PENDING; once one of them
   * has failed, `job` fails as Batch fails it.
   */
  private held(job: FakeJob): boolean {
    const deps = ((job.request.dependsOn ?? []) as { jobId?: string; type?: string }[])
      .filter((d) => d.type === undefined)
      .flatMap((d) => this.jobs.get(d.jobId ?? "") ?? []);
    if (ended(job) || deps.length === 0) {
      return false;
    }
    if (deps.some((d) => d.status === "FAILED")) {
      Object.assign(job, { status: "FAILED", statusReason: DEPENDENT_JOB_FAILED });
      job.step = LIFECYCLE.length;
      return true;
    }
    if (deps.every((d) => d.status === "SUCCEEDED")) {
      return false;
    }
    if (job.status === "SUBMITTED") {
      Object.assign(job, { status: "PENDING", step: LIFECYCLE.indexOf("PENDING") });
    }
    return true;
  }

  private advanceUnit(u: FakeUnit): void {
    if (ended(u)) {
      return;
    }
    u.step++;
    if (u.step < LIFECYCLE.length) {
      u.status = LIFECYCLE[u.step];
      if (u.status === "STARTING") {
        u.logStreamName = `batchpy/default/${u.jobId.replace(":", "-")}`;
      }
      if (u.status === "RUNNING") {
        u.startedAt = Date.now();
      }
    } else {
      u.stoppedAt = Date.now();
      u.status = u.outcome.status;
      u.exitCode = u.outcome.exitCode ?? (u.outcome.status === "SUCCEEDED" ? 0 : 1);
      u.statusReason =
        u.outcome.statusReason ??
        (u.outcome.status === "FAILED" ? "Essential container in task exited" : undefined);
    }
  }

  private advance(job: FakeJob): void {
    if (this.held(job)) {
      return;
    }
    if (job.children === undefined) {
      this.advanceUnit(job);
      return;
    }
    if (job.status === "SUCCEEDED" || job.status === "FAILED") {
      return;
    }
    job.childrenCreated = true;
    job.children.forEach((c) => this.advanceUnit(c));
    this.settleParent(job);
  }

  /** An array parent is PENDING until every child has ended, then SUCCEEDED or FAILED. */
  private settleParent(job: FakeJob): void {
    const children = job.children ?? [];
    if (!job.childrenCreated || (job.status !== "SUBMITTED" && job.status !== "PENDING")) {
      return;
    }
    const open = children.filter((c) => c.status !== "SUCCEEDED" && c.status !== "FAILED");
    if (open.length > 0) {
      job.status = "PENDING";
      job.step = LIFECYCLE.indexOf("PENDING");
      return;
    }
    const failed = children.some((c) => c.status === "FAILED");
    job.status = failed ? "FAILED" : "SUCCEEDED";
    job.step = LIFECYCLE.length;
    job.statusReason = failed ? (job.statusReason ?? "Array Child Job failed") : undefined;
  }

  private newUnit(
    jobId: string,
    jobName: string,
    env: Record<string, string>,
    index?: number,
  ): FakeUnit {
    const outcome = this.opts.outcome?.({
      jobName,
      env,
      ...(index !== undefined ? { index } : {}),
    }) ?? {
      status: "SUCCEEDED",
    };
    return {
      jobId,
      step: 0,
      status: "SUBMITTED",
      outcome,
      ...(index !== undefined ? { index } : {}),
    };
  }

  private find(id: string): { job: FakeJob; unit: FakeUnit } | undefined {
    const [parentId, index] = id.split(":");
    const job = this.jobs.get(parentId);
    if (job === undefined) {
      return undefined;
    }
    if (index === undefined) {
      return { job, unit: job };
    }
    const unit = job.childrenCreated ? job.children?.[Number(index)] : undefined;
    return unit === undefined ? undefined : { job, unit };
  }

  /** The ECS task of attempt `attempt` of job (or child) `jobId`, in ECS's long ARN format. */
  taskArnOf(jobId: string, attempt: number): string {
    return `arn:aws:ecs:${REGION}:${ACCOUNT}:task/${this.ecsCluster}/${jobId.replace(":", "-")}-${attempt}`;
  }

  /** Attempts as DescribeJobs shows them once a unit has ended: earlier ones lost to the host. */
  private attempts(unit: FakeUnit): Record<string, unknown>[] {
    if (unit.stoppedAt === undefined || unit.startedAt === undefined) {
      return [];
    }
    const n = unit.outcome.attempts ?? 1;
    return Array.from({ length: n }, (_, i) => ({
      startedAt: unit.startedAt,
      stoppedAt: unit.stoppedAt,
      container: {
        ...(this.ecsCluster !== undefined ? { taskArn: this.taskArnOf(unit.jobId, i) } : {}),
        exitCode: i === n - 1 ? unit.exitCode : undefined,
        ...(i < n - 1 ? { reason: "Host EC2 (instance i-0abc) terminated." } : {}),
      },
      ...(i < n - 1 ? { statusReason: "Host EC2 (instance i-0abc) terminated." } : {}),
    }));
  }

  private detail(job: FakeJob, unit: FakeUnit): Record<string, unknown> {
    const isChild = unit !== job;
    const overrides = (job.request.containerOverrides ?? {}) as {
      resourceRequirements?: unknown[];
    };
    const summary: Record<string, number> = {};
    // Only a parent shows the summary; counting per child would make a 10,000-child
    // DescribeJobs quadratic.
    for (const c of job.childrenCreated && !isChild ? (job.children ?? []) : []) {
      summary[c.status] = (summary[c.status] ?? 0) + 1;
    }
    return {
      jobArn: isChild ? `${job.jobArn}:${unit.index}` : job.jobArn,
      jobName: job.jobName,
      jobId: unit.jobId,
      jobQueue: job.request.jobQueue,
      jobDefinition: job.request.jobDefinition,
      status: unit.status,
      ...(unit.statusReason !== undefined ? { statusReason: unit.statusReason } : {}),
      createdAt: job.createdAt,
      ...(job.tags !== undefined && !isChild ? { tags: job.tags } : {}),
      ...(job.request.dependsOn !== undefined ? { dependsOn: job.request.dependsOn } : {}),
      ...(unit.startedAt !== undefined ? { startedAt: unit.startedAt } : {}),
      ...(unit.stoppedAt !== undefined ? { stoppedAt: unit.stoppedAt } : {}),
      ...(job.children === undefined || isChild ? { attempts: this.attempts(unit) } : {}),
      ...(job.children !== undefined
        ? {
            arrayProperties: isChild
              ? { index: unit.index, size: job.children.length }
              : { size: job.children.length, statusSummary: summary },
          }
        : {}),
      ...(job.children === undefined || isChild
        ? {
            container: {
              ...(unit.exitCode !== undefined ? { exitCode: unit.exitCode } : {}),
              ...(unit.logStreamName !== undefined ? { logStreamName: unit.logStreamName } : {}),
              environment: Object.entries(job.env).map(([name, value]) => ({ name, value })),
              // The job definition's (1 vCPU, 1000 MiB in dev) unless the job overrides them.
              resourceRequirements: overrides.resourceRequirements ?? [
                { type: "VCPU", value: "1" },
                { type: "MEMORY", value: "1000" },
              ],
            },
          }
        : {}),
    };
  }

  private operation(op: string, body: Record<string, unknown>): unknown {
    switch (op) {
      case "submitjob":
        return this.submitJob(body);
      case "describejobs": {
        const ids = body.jobs;
        if (!Array.isArray(ids) || ids.length > 100) {
          throw new ServiceError(
            400,
            "ClientException",
            "jobs must be a list of at most 100 job IDs",
          );
        }
        if (this.opts.autoAdvance !== false) {
          this.advanceAll();
        }
        return {
          jobs: ids.flatMap((id: string) => {
            const found = this.find(id);
            return found === undefined ? [] : [this.detail(found.job, found.unit)];
          }),
        };
      }
      case "listjobs":
        return this.listJobs(body);
      case "describejobqueues":
        return this.describeJobQueues(body);
      case "describecomputeenvironments":
        return this.describeComputeEnvironments(body);
      case "getjobqueuesnapshot":
        return this.jobQueueSnapshot(body);
      case "canceljob":
      case "terminatejob": {
        const found = typeof body.jobId === "string" ? this.find(body.jobId) : undefined;
        if (found === undefined || typeof body.reason !== "string") {
          throw new ServiceError(400, "ClientException", "jobId and reason are required");
        }
        const reason = String(body.reason);
        const fail = (u: FakeUnit): void => {
          u.status = "FAILED";
          u.step = LIFECYCLE.length;
          u.statusReason = reason;
        };
        const started = (u: FakeUnit): boolean => u.status === "STARTING" || u.status === "RUNNING";
        const { job, unit } = found;
        if (unit === job && job.children !== undefined) {
          if (!ended(job)) {
            if (!job.childrenCreated) {
              // Stopped before Batch created the children: there are none to list.
              fail(job);
            } else {
              // Only the children that have not started; running ones keep running.
              job.children.filter((c) => !ended(c) && !started(c)).forEach(fail);
              job.statusReason = reason;
              this.settleParent(job);
            }
          }
        } else if (!ended(unit) && (op === "terminatejob" || !started(unit))) {
          // CancelJob leaves started jobs alone (and still succeeds), as the service does.
          fail(unit);
          if (unit !== job) {
            this.settleParent(job);
          }
        }
        return {};
      }
      default:
        throw new ServiceError(
          404,
          "UnknownOperationException",
          `operation ${op} is not supported by the fake`,
        );
    }
  }

  private describeJobQueues(body: Record<string, unknown>): unknown {
    const queues = body.jobQueues;
    if (!Array.isArray(queues) || queues.length > 100) {
      throw new ServiceError(400, "ClientException", "jobQueues must list at most 100 queues");
    }
    return {
      jobQueues: queues.map((q: string) => ({
        jobQueueName: q.replace(/^.*\//, ""),
        jobQueueArn: q.startsWith("arn:") ? q : `arn:aws:batch:${REGION}:${ACCOUNT}:job-queue/${q}`,
        state: "ENABLED",
        status: "VALID",
        priority: 1,
        computeEnvironmentOrder: this.environments.map((e, order) => ({
          order,
          computeEnvironment: this.environmentArn(e.name),
        })),
        jobStateTimeLimitActions: TIME_LIMIT_REASONS.map((reason) => ({
          reason,
          state: "RUNNABLE",
          maxTimeSeconds: this.runnableTimeoutSeconds,
          action: "CANCEL",
        })),
      })),
    };
  }

  private environmentArn(name: string): string {
    return `arn:aws:batch:${REGION}:${ACCOUNT}:compute-environment/${name}`;
  }

  private describeComputeEnvironments(body: Record<string, unknown>): unknown {
    const wanted = body.computeEnvironments;
    if (!Array.isArray(wanted) || wanted.length > 100) {
      throw new ServiceError(400, "ClientException", "computeEnvironments: at most 100");
    }
    const named = (e: FakeEnvironment): boolean =>
      wanted.includes(e.name) || wanted.includes(this.environmentArn(e.name));
    return {
      computeEnvironments: this.environments.filter(named).map((e) => ({
        computeEnvironmentName: e.name,
        computeEnvironmentArn: this.environmentArn(e.name),
        type: "MANAGED",
        state: e.state,
        status: e.status,
        ...(e.statusReason !== undefined ? { statusReason: e.statusReason } : {}),
        computeResources: {
          type: "EC2",
          minvCpus: e.minvCpus,
          maxvCpus: e.maxvCpus,
          desiredvCpus: e.desiredvCpus,
          instanceTypes: e.instanceTypes,
        },
      })),
    };
  }

  /** The first 100 RUNNABLE jobs and children of a queue, oldest first (a FIFO queue). */
  private jobQueueSnapshot(body: Record<string, unknown>): unknown {
    if (typeof body.jobQueue !== "string" || body.jobQueue === "") {
      throw new ServiceError(400, "ClientException", "jobQueue is required");
    }
    const queue = body.jobQueue;
    const front = this.submitted()
      .filter(
        (j) => j.request.jobQueue === queue || String(j.request.jobQueue).endsWith(`/${queue}`),
      )
      .sort((a, b) => a.createdAt - b.createdAt)
      .flatMap((j) =>
        (j.childrenCreated ? (j.children ?? []) : [j])
          .filter((u) => u.status === "RUNNABLE")
          .map((u) => ({
            jobArn: u === j ? j.jobArn : `${j.jobArn}:${u.index}`,
            earliestTimeAtPosition: j.createdAt,
          })),
      )
      .slice(0, 100);
    return { frontOfQueue: { jobs: front, lastUpdatedAt: Date.now() } };
  }

  private listJobs(body: Record<string, unknown>): unknown {
    const selectors = ["jobQueue", "arrayJobId", "multiNodeJobId"].filter(
      (k) => body[k] !== undefined,
    );
    if (selectors.length !== 1) {
      throw new ServiceError(
        400,
        "ClientException",
        "specify exactly one of jobQueue, arrayJobId and multiNodeJobId",
      );
    }
    const filters = body.filters as { name?: unknown; values?: unknown }[] | undefined;
    const max = body.maxResults ?? (filters !== undefined ? 100 : 1000);
    const limit = filters !== undefined ? 100 : 1000;
    if (typeof max !== "number" || !Number.isInteger(max) || max < 1 || max > limit) {
      throw new ServiceError(400, "ClientException", `maxResults must be 1 to ${limit}`);
    }
    const size = Math.min(max, this.opts.pageSize ?? 100);
    const start = typeof body.nextToken === "string" ? Number(body.nextToken) : 0;
    const page = <T>(all: T[], map: (t: T) => unknown): unknown => ({
      jobSummaryList: all.slice(start, start + size).map(map),
      ...(start + size < all.length ? { nextToken: String(start + size) } : {}),
    });
    if (typeof body.jobQueue === "string") {
      return page(this.queueJobs(body.jobQueue, filters, body.jobStatus), (j) => ({
        jobArn: j.jobArn,
        jobId: j.jobId,
        jobName: j.jobName,
        createdAt: j.createdAt,
        status: j.status,
        jobDefinition: j.request.jobDefinition,
        ...(j.children !== undefined ? { arrayProperties: { size: j.children.length } } : {}),
      }));
    }
    const job = typeof body.arrayJobId === "string" ? this.jobs.get(body.arrayJobId) : undefined;
    if (job?.children === undefined) {
      throw new ServiceError(400, "ClientException", "arrayJobId must name an array job");
    }
    if (filters !== undefined) {
      // The service ignores filters for children; the tool never sends them.
      throw new ServiceError(400, "ClientException", "filters are not supported by the fake here");
    }
    const status = this.statusParam(body.jobStatus);
    const matching = job.childrenCreated ? job.children.filter((c) => c.status === status) : [];
    return page(matching, (c) => ({
      jobArn: `${job.jobArn}:${c.index}`,
      jobId: c.jobId,
      jobName: job.jobName,
      status: c.status,
      ...(c.statusReason !== undefined ? { statusReason: c.statusReason } : {}),
      arrayProperties: { index: c.index, size: job.children?.length },
      container: { ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}) },
    }));
  }

  /** The service's default: no jobStatus (and no filters) lists RUNNING jobs only. */
  private statusParam(value: unknown): string {
    const status = value ?? "RUNNING";
    if (typeof status !== "string" || !STATUSES.includes(status)) {
      throw new ServiceError(400, "ClientException", `jobStatus ${String(status)} is invalid`);
    }
    return status;
  }

  /** Jobs of a queue (name or ARN), newest first; JOB_NAME filter or status; listing lag. */
  private queueJobs(
    queue: string,
    filters: { name?: unknown; values?: unknown }[] | undefined,
    jobStatus: unknown,
  ): FakeJob[] {
    const visibleBefore = Date.now() - this.listLagMs;
    let jobs = this.submitted().filter(
      (j) =>
        (j.request.jobQueue === queue || String(j.request.jobQueue).endsWith(`/${queue}`)) &&
        j.createdAt <= visibleBefore,
    );
    if (filters === undefined) {
      const status = this.statusParam(jobStatus);
      jobs = jobs.filter((j) => j.status === status);
    } else {
      const f = filters[0];
      const values = f?.values;
      if (
        filters.length !== 1 ||
        f.name !== "JOB_NAME" ||
        !Array.isArray(values) ||
        values.length !== 1 ||
        typeof values[0] !== "string"
      ) {
        throw new ServiceError(400, "ClientException", "the fake supports one JOB_NAME filter");
      }
      const want = values[0].toLowerCase();
      const prefix = want.endsWith("*");
      jobs = jobs.filter((j) => {
        const name = j.jobName.toLowerCase();
        return prefix ? name.startsWith(want.slice(0, -1)) : name === want;
      });
    }
    return jobs.sort((a, b) => b.createdAt - a.createdAt);
  }

  private checkTags(value: unknown): Record<string, string> | undefined {
    if (value === undefined) {
      return undefined;
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new ServiceError(400, "ClientException", "tags must be a map of strings");
    }
    const tags = value as Record<string, unknown>;
    const keys = Object.keys(tags);
    if (keys.length > 50) {
      throw new ServiceError(400, "ClientException", "a job can have at most 50 tags");
    }
    for (const k of keys) {
      if (k.length < 1 || k.length > 128 || k.toLowerCase().startsWith("aws:")) {
        throw new ServiceError(400, "ClientException", `tag key ${k} is invalid`);
      }
      if (typeof tags[k] !== "string" || (tags[k] as string).length > 256) {
        throw new ServiceError(400, "ClientException", `tag value of ${k} is invalid`);
      }
    }
    return tags as Record<string, string>;
  }

  /**
   * At most 20 dependencies; N_TO_N only from an array job on an array job of its size.
   * @see https://docs.aws.amazon.com/batch/latest/userguide/job_dependencies.html
   */
  private checkDependsOn(value: unknown, size: number | undefined): void {
    const deps = (value ?? []) as { jobId?: string; type?: string }[];
    if (!Array.isArray(deps) || deps.length > 20) {
      throw new ServiceError(400, "ClientException", "a job can depend on at most 20 jobs");
    }
    for (const d of deps.filter((x) => x.type === "N_TO_N")) {
      const parent = this.jobs.get(d.jobId ?? "");
      if (size === undefined || parent?.children?.length !== size) {
        throw new ServiceError(400, "ClientException", "N_TO_N needs two array jobs of one size");
      }
    }
  }

  private submitJob(body: Record<string, unknown>): unknown {
    for (const field of ["jobName", "jobQueue", "jobDefinition"]) {
      if (typeof body[field] !== "string" || body[field] === "") {
        throw new ServiceError(400, "ClientException", `${field} is required`);
      }
    }
    const jobName = String(body.jobName);
    if (!JOB_NAME.test(jobName)) {
      throw new ServiceError(400, "ClientException", `Job name ${jobName} is invalid`);
    }
    const overrides = (body.containerOverrides ?? {}) as {
      environment?: { name: string; value: string }[];
    };
    const env = Object.fromEntries((overrides.environment ?? []).map((v) => [v.name, v.value]));
    if (Object.keys(env).some((n) => n.startsWith("AWS_BATCH"))) {
      throw new ServiceError(
        400,
        "ClientException",
        "Environment variable names cannot start with AWS_BATCH",
      );
    }
    const size = (body.arrayProperties as { size?: number } | undefined)?.size;
    if (size !== undefined && (size < 2 || size > 10_000)) {
      throw new ServiceError(400, "ClientException", "Array size must be between 2 and 10000");
    }
    const tags = this.checkTags(body.tags);
    this.checkDependsOn(body.dependsOn, size);
    if (this.failAfter !== undefined && this.accepted >= this.failAfter.count) {
      const { status, type, times } = this.failAfter;
      if (times !== undefined) {
        this.failAfter = times > 1 ? { ...this.failAfter, times: times - 1 } : undefined;
      }
      throw new ServiceError(status, type, "simulated failure after accepted submissions");
    }
    this.accepted++;
    const jobId = randomUUID();
    const job: FakeJob = {
      ...this.newUnit(jobId, jobName, env),
      jobName,
      jobArn: `arn:aws:batch:${REGION}:${ACCOUNT}:job/${jobId}`,
      request: body,
      env,
      createdAt: Date.now(),
      childrenCreated: false,
      ...(tags !== undefined ? { tags } : {}),
      ...(size !== undefined
        ? {
            children: Array.from({ length: size }, (_, i) =>
              this.newUnit(`${jobId}:${i}`, jobName, env, i),
            ),
          }
        : {}),
    };
    this.jobs.set(jobId, job);
    return { jobArn: job.jobArn, jobName, jobId };
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const op = (req.url ?? "").replace(/^\/v1\//, "").replace(/\?.*$/, "");
      const raw = Buffer.concat(chunks).toString("utf8");
      let body: Record<string, unknown> = {};
      let status = 200;
      let payload: unknown;
      const headers: Record<string, string> = {
        "content-type": "application/json",
        "x-amzn-requestid": randomUUID(),
      };
      try {
        body = raw === "" ? {} : (JSON.parse(raw) as Record<string, unknown>);
        if (req.method !== "POST") {
          throw new ServiceError(405, "ClientException", "POST only");
        }
        if (this.denied.has(op)) {
          throw new ServiceError(
            403,
            "AccessDeniedException",
            `User is not authorized to perform: batch:${op}`,
          );
        }
        const throttled = this.throttles.get(op) ?? 0;
        if (throttled > 0 || this.overRate()) {
          this.throttles.set(op, throttled - 1);
          throw new ServiceError(429, "TooManyRequestsException", "Too Many Requests");
        }
        payload = this.operation(op, body);
      } catch (err) {
        const e =
          err instanceof ServiceError ? err : new ServiceError(500, "ServerException", String(err));
        status = e.status;
        headers["x-amzn-errortype"] = e.type;
        payload = { message: e.message };
      }
      const fault = op === "submitjob" && status === 200 ? this.submitFaults.shift() : undefined;
      this.requests.push({
        operation: op,
        body,
        status,
        ...(fault !== undefined ? { fault } : {}),
      });
      if (fault === "error500") {
        // Accepted, then answered as if it had failed: the job exists all the same.
        status = 500;
        headers["x-amzn-errortype"] = "ServerException";
        payload = { message: "simulated failure after the job was accepted" };
      }
      const send = (): void => {
        if (fault === "drop") {
          req.socket.destroy();
          return;
        }
        if (fault === "hang") {
          this.hung.push(res);
          return;
        }
        res.writeHead(status, headers);
        res.end(JSON.stringify(payload));
      };
      if (fault === "pause") {
        this.paused.push(send);
        return;
      }
      const delay =
        (op === "submitjob" ? (this.opts.submitDelayMs ?? 0) : 0) + (this.opts.latencyMs ?? 0);
      if (delay > 0) {
        setTimeout(send, delay);
      } else {
        send();
      }
    });
  }
}
