/** jobs:why against the local Batch fake (120 ms per answer), and its pure steps. */
import * as assert from "assert";
import * as fs from "fs";
import { cancelledAt, explainJob, placeOf } from "../../jobs/commands/why";
import { resourcesOf } from "../../jobs/status";
import { waitReason } from "../../jobs/wait-reason";
import { when } from "../../jobs/output/status-print";
import { STACK_OUTPUTS, useLocalAws, writeJobFiles } from "../helpers/jobs-harness";
import type { WhyResult } from "../../jobs/commands/why";
import type { JobDetail } from "../../jobs/aws/api";

const CAPACITY =
  "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type [m5a.large]";
const LIMITS = [
  { reason: "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", maxTimeSeconds: 600, action: "CANCEL" },
];

describe("jobs:why: why a job waits", function () {
  const aws = useLocalAws("why", { s3: "memory", batch: { autoAdvance: false, latencyMs: 120 } });

  /** job-0000 and job-0001 RUNNABLE, job-0000 at the head held for `reason`. */
  async function twoRunnable(reason: string, extra: Record<string, unknown> = {}) {
    writeJobFiles(`${aws.dir}/jobs`, 2, extra);
    const r = await aws.jobs(["submit", "jobs", "--concurrency", "1"]);
    assert.strictEqual(r.code, 0, r.stderr);
    aws.batch.advanceAll(2);
    aws.findJob("job-0000").statusReason = reason;
  }

  it("explains a job behind a blocked head, the queue and its environment", async function () {
    await twoRunnable(CAPACITY);
    const r = await aws.jobs(["why", "job-0001"]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(r.stdout, /job-0001 [0-9a-f-]+: RUNNABLE/);
    assert.match(r.stdout, /place 2 of the 2 RUNNABLE jobs listed, there since /);
    assert.match(
      r.stdout,
      /behind job-0000, which Batch holds because EC2 has no spare instances .*; fix: wait/,
    );
    assert.match(r.stdout, /runnableTimeoutSeconds\) cancels that job about \S+Z \(in 60 min\)/);
    assert.match(
      r.stdout,
      /queue batchpy-queue: ENABLED, VALID; RUNNABLE time limits: CANCEL after 3600 s held for MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT, MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE, CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY\n/,
    );
    assert.match(
      r.stdout,
      /compute environment batchpy-ce: ENABLED, VALID; vCPUs desired 0, min 0, max 16; m5a.large/,
    );
    assert.match(r.stdout, /no jobLimits output/);
    assert.strictEqual(r.stderr, "");
  });

  it("names a call the credentials may not make and still shows the rest, an INVALID environment with its reason", async function () {
    await twoRunnable("ACTION_REQUIRED - CE(s) associated with the job queue are invalid.");
    aws.batch.environments = [
      {
        ...aws.batch.environments[0],
        status: "INVALID",
        statusReason: "CLIENT_ERROR - Not authorized to perform sts:AssumeRole\x1b[2J",
      },
    ];
    aws.batch.denied.add("getjobqueuesnapshot");
    const r = await aws.jobs(["why", "job-0000"]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /which means a compute environment of the queue is INVALID and takes no jobs; fix: npm run jobs:why -- job-0000 shows its reason/,
    );
    assert.match(
      r.stdout,
      /batchpy-ce: ENABLED, INVALID \(CLIENT_ERROR - Not authorized to perform sts:AssumeRole\\x1b\[2J\)/,
    );
    assert.doesNotMatch(r.stdout, /place \d/);
    assert.match(r.stderr, /may not call batch:GetJobQueueSnapshot \(AccessDeniedException/);
  });

  it("--json: the head job's reason, place and cancel time; a job too large for the stack", async function () {
    await twoRunnable(CAPACITY, {
      containerOverrides: {
        environment: [{ name: "save_name", value: "out" }],
        resourceRequirements: [{ type: "VCPU", value: "4" }],
      },
    });
    fs.writeFileSync(
      aws.outputs,
      JSON.stringify({
        ...STACK_OUTPUTS,
        jobLimits: {
          maxVcpus: 16,
          maxGpus: 0,
          largestJob: { vcpus: 2, memoryMiB: 7000, gpus: 0 },
          basis: ["m5a.large"],
        },
      }),
    );
    const r = await aws.jobs(["why", "job-0000", "--json"]);
    assert.strictEqual(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as WhyResult;
    const [job] = out.jobs;
    assert.strictEqual(job.place, 1);
    assert.strictEqual(job.reason?.code, "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY");
    assert.strictEqual(job.behind, undefined);
    assert.strictEqual(job.headCancelledAt, aws.findJob("job-0000").createdAt + 3600_000);
    assert.match(
      job.tooLarge?.[0] ?? "",
      /4 vCPUs per job, but the largest job m5a.large can place has 2/,
    );
    assert.strictEqual(out.environments[0].maxvCpus, 16);
    assert.deepStrictEqual(out.unavailable, []);
  });

  it("refuses a name the ledger does not hold, with exit 2 and no call", async function () {
    await twoRunnable(CAPACITY);
    const before = aws.batch.requests.length;
    const r = await aws.jobs(["why", "nope"]);
    assert.strictEqual(r.code, 2);
    assert.match(r.stderr, /not in the ledger of stack .*: nope; check the names, or pass --stack/);
    assert.strictEqual(aws.batch.requests.length, before);
  });

  /** Makes `name` look submitted `minutes` ago. */
  const submittedAgo = (name: string, minutes: number): void => {
    const job = aws.findJob(name) as { createdAt: number };
    job.createdAt -= minutes * 60_000;
  };

  it("jobs:status gives each job RUNNABLE 5 min after its submit a line of reason and fix", async function () {
    await twoRunnable(CAPACITY);
    submittedAgo("job-0000", 12);
    submittedAgo("job-0001", 12);
    const r = await aws.jobs(["status"]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /waiting 5 min or more since submit:\n {2}job-0000 \([0-9a-f-]+\), submitted 12 min ago: EC2 has no spare instances .*; fix: wait .*\n {2}job-0001 \([0-9a-f-]+\), submitted 12 min ago: Batch gives a reason only to the job at the head of the queue; see npm run jobs:why -- job-0001\n/,
    );
    const json = await aws.jobs(["status", "--json"]);
    const waiting = (JSON.parse(json.stdout) as { waiting: { jobName: string }[] }).waiting;
    assert.deepStrictEqual(
      waiting.map((w) => w.jobName),
      ["job-0000", "job-0001"],
    );
  });

  it("jobs:status is silent about a job RUNNABLE for less than 5 min", async function () {
    await twoRunnable(CAPACITY);
    submittedAgo("job-0000", 4);
    const r = await aws.jobs(["status"]);
    assert.doesNotMatch(r.stdout, /waiting/);
  });

  it("jobs:watch says once on stderr why a job waits long", async function () {
    await aws.startBatch({ latencyMs: 0 });
    writeJobFiles(`${aws.dir}/jobs`, 1);
    assert.strictEqual((await aws.jobs(["submit", "jobs"])).code, 0);
    submittedAgo("job-0000", 9);
    aws.batch.advanceAll(1);
    aws.findJob("job-0000").statusReason = "UNDETERMINED";
    const r = await aws.jobs(["watch", "--interval", "0.01"]);
    assert.strictEqual(r.code, 0, r.stderr);
    const lines = r.stderr.split("\n").filter((l) => l.includes("submitted 9 min ago"));
    assert.strictEqual(lines.length, 1, r.stderr);
    assert.match(
      lines[0],
      /Batch cannot place the job and cannot tell why; fix: npm run jobs:why -- job-0000 shows/,
    );
  });

  it("places a job, or an array's first child, by ARN among the RUNNABLE ones", function () {
    const front = {
      jobs: [
        { jobArn: "arn:job/a", earliestTimeAtPosition: 1 },
        { jobArn: "arn:job/b:3", earliestTimeAtPosition: 2 },
      ],
    };
    assert.deepStrictEqual(placeOf("arn:job/a", front), { place: 1, since: 1 });
    assert.deepStrictEqual(placeOf("arn:job/b", front), { place: 2, since: 2 });
    assert.strictEqual(placeOf("arn:job/c", front), undefined);
    assert.strictEqual(placeOf("arn:job/b:3", { jobs: [] }), undefined);
  });

  it("explains a sweep by its child at the head, which carries the reason its parent lacks", function () {
    const front = { jobs: [{ jobArn: "arn:job/p:0", earliestTimeAtPosition: 1000 }] };
    const head = { jobArn: "arn:job/p:0", statusReason: CAPACITY, reason: waitReason(CAPACITY) };
    const row = {
      jobName: "sw",
      jobId: "p",
      status: "PENDING" as const,
      children: { RUNNABLE: 4 },
    };
    const seen = { front, head, timeLimits: LIMITS };
    const job = explainJob(row, { jobArn: "arn:job/p" } as JobDetail, seen);
    assert.strictEqual(job.place, 1);
    assert.strictEqual(job.reason?.code, "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY");
    assert.strictEqual(job.behind, undefined);
    assert.strictEqual(job.headCancelledAt, 601_000);
    assert.strictEqual(job.tooLarge, undefined);
    const other = explainJob({ ...row, jobId: "q" }, { jobArn: "arn:job/q" } as JobDetail, seen);
    assert.strictEqual(other.place, undefined);
    assert.strictEqual(other.behind?.jobArn, "arn:job/p:0");
    assert.strictEqual(other.reason, undefined);
  });

  it("cancels the head only for a reason the queue has a limit for", function () {
    assert.strictEqual(cancelledAt(CAPACITY, 1000, LIMITS), 601_000);
    assert.strictEqual(cancelledAt("UNDETERMINED", 1000, LIMITS), undefined);
    assert.strictEqual(cancelledAt(CAPACITY, undefined, LIMITS), undefined);
  });

  it("reads the job's size from its resource requirements", function () {
    const detail = {
      container: {
        resourceRequirements: [
          { type: "VCPU" as const, value: "2" },
          { type: "MEMORY" as const, value: "4096" },
        ],
      },
    };
    assert.deepStrictEqual(resourcesOf(detail.container?.resourceRequirements), {
      vcpus: 2,
      memoryMiB: 4096,
    });
    assert.deepStrictEqual(resourcesOf(undefined), {});
  });

  it("says when, in UTC and relative to now", function () {
    const now = Date.UTC(2026, 11, 6, 22, 0, 0);
    assert.strictEqual(when(now + 48 * 60_000, now), "2026-12-06T22:48:00Z (in 48 min)");
    assert.strictEqual(when(now - 12 * 60_000, now), "2026-12-06T21:48:00Z (12 min ago)");
  });
});
