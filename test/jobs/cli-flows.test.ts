/**
 * watch, status, logs, results and cancel, in-process against local Batch, CloudWatch Logs
 * and S3 endpoints speaking the AWS wire protocols.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { FakeBatch, LIFECYCLE, type FakeJob } from "../helpers/fake-batch";
import { FakeCloudWatchLogs } from "../helpers/fake-cloudwatch-logs";
import { FakeS3 } from "../helpers/fake-s3";
import {
  STACK_OUTPUTS,
  awsEnv,
  runJobs,
  setProcessEnv,
  tempDir,
  writeJobFiles,
  writeOutputs,
} from "../helpers/jobs-harness";

describe("jobs: watch, status, logs, results and cancel against local AWS endpoints", function () {
  let batch: FakeBatch;
  let logs: FakeCloudWatchLogs;
  let s3: FakeS3;
  let restoreEnv: () => void;
  let dir: string;
  let outputs: string;
  let state: string;

  before(async function () {
    s3 = await FakeS3.start(STACK_OUTPUTS.bucketName);
    logs = await FakeCloudWatchLogs.start(3);
  });
  after(async function () {
    await s3.close();
    await logs.close();
  });
  beforeEach(function () {
    dir = tempDir("flows");
    outputs = writeOutputs(dir, STACK_OUTPUTS);
    state = path.join(dir, "state");
  });
  afterEach(async function () {
    restoreEnv?.();
    await batch?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function startBatch(opts: Parameters<typeof FakeBatch.start>[0]): Promise<void> {
    batch = await FakeBatch.start(opts);
    restoreEnv = setProcessEnv(awsEnv({ batch: batch.url, s3: s3.url, logs: logs.url }));
  }

  const jobs = (...args: string[]) =>
    runJobs([...args, "--outputs", outputs, "--state-dir", state], { cwd: dir });

  /** Two single jobs (job-0001 fails with exit 3) and a sweep of 4 whose child 2 fails. */
  async function submitMix(): Promise<void> {
    writeJobFiles(path.join(dir, "jobs"), 2);
    fs.writeFileSync(
      path.join(dir, "jobs", "sw.json"),
      JSON.stringify({
        grid: { var_a: [0, 1, 2, 3] },
        base: { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } },
      }),
    );
    const r = await jobs("submit", "jobs");
    assert.strictEqual(r.code, 0, r.stderr);
  }

  function findJob(name: string): FakeJob {
    const job = batch.submitted().find((j) => j.jobName === name);
    assert.ok(job, `job ${name} was submitted`);
    return job;
  }

  it("watch polls until every job has ended, then lists failures with reason and exit code", async function () {
    await startBatch({
      outcome: ({ jobName, index }) =>
        jobName === "job-0001"
          ? { status: "FAILED", exitCode: 3, statusReason: "Essential container in task exited" }
          : index === 2
            ? {
                status: "FAILED",
                exitCode: 137,
                statusReason: "OutOfMemoryError: Container killed due to memory usage",
              }
            : { status: "SUCCEEDED" },
    });
    await submitMix();
    const early = await jobs("status");
    assert.strictEqual(early.code, 0, early.stderr);
    assert.match(early.stdout, /PENDING 6 \(0\/6 done\)/);

    const before = batch.count("describejobs");
    const r = await jobs("watch", "--interval", "0.01");
    assert.strictEqual(r.code, 1, "a failed job makes watch exit 1");
    assert.match(r.stdout, /SUCCEEDED 4 \| FAILED 2 \(6\/6 done\)/);
    assert.match(
      r.stdout,
      /job-0001 \([0-9a-f-]+\): Essential container in task exited, exit code 3/,
    );
    assert.match(
      r.stdout,
      /sw\[2\] \([0-9a-f-]+:2\): OutOfMemoryError: Container killed due to memory usage, exit code 137/,
    );
    assert.match(
      r.stderr,
      /RUNNING 6 \(0\/6 done\)/,
      "progress lines on stderr when it is not a terminal",
    );
    // The fake moves jobs one step per DescribeJobs: watch had to poll until they ended.
    const polls = batch.count("describejobs") - before;
    assert.ok(polls >= 4, `polled ${polls} times`);

    const json = await jobs("status", "--json");
    const parsed = JSON.parse(json.stdout) as {
      counts: Record<string, number>;
      failures: { jobName: string; index?: number; exitCode?: number }[];
    };
    assert.deepStrictEqual(parsed.counts, { SUCCEEDED: 4, FAILED: 2 });
    assert.deepStrictEqual(
      parsed.failures.map((f) => [f.jobName, f.index, f.exitCode]),
      [
        ["job-0001", undefined, 3],
        ["sw", 2, 137],
      ],
    );
    assert.strictEqual(json.code, 1);
  });

  it("status with names and --last; an unknown name is bad input", async function () {
    await startBatch({});
    await submitMix();
    const one = await jobs("status", "job-0000", "--json");
    assert.strictEqual((JSON.parse(one.stdout) as { jobs: unknown[] }).jobs.length, 1);
    const bad = await jobs("status", "nope");
    assert.strictEqual(bad.code, 2);
    assert.match(bad.stderr, /not in the ledger of stack "default".*: nope/);
  });

  it("logs prints a job's CloudWatch stream, following pages, for array children too", async function () {
    await startBatch({});
    await submitMix();
    batch.finishAll();
    const job = findJob("job-0000");
    const lines = Array.from({ length: 7 }, (_, i) => `line ${i}`);
    logs.put(STACK_OUTPUTS.logGroupName, job.logStreamName!, lines);
    const r = await jobs("logs", "job-0000");
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(r.stdout, lines.map((l) => `${l}\n`).join(""));
    assert.ok(logs.requests.length >= 3, "paged through the stream");

    const sw = findJob("sw");
    logs.put(STACK_OUTPUTS.logGroupName, sw.children![2].logStreamName!, ["child two"]);
    assert.strictEqual((await jobs("logs", "sw:2")).stdout, "child two\n");
    assert.strictEqual((await jobs("logs", `${sw.jobId}[2]`)).stdout, "child two\n");
    const json = await jobs("logs", "sw:2", "--json");
    assert.strictEqual((JSON.parse(json.stdout) as { message: string }).message, "child two");

    const parent = await jobs("logs", "sw");
    assert.strictEqual(parent.code, 2);
    assert.match(
      parent.stderr,
      /sw is an array job of 4 children, each with its own log; pass sw:<index> \(0-3\)/,
    );
    const unknown = await jobs("logs", "nobody");
    assert.strictEqual(unknown.code, 2);
  });

  it("logs says when a job has not started, and --follow waits and streams until it ends", async function () {
    await startBatch({ autoAdvance: false });
    writeJobFiles(path.join(dir, "jobs"), 1);
    await jobs("submit", "jobs");
    const notYet = await jobs("logs", "job-0000");
    assert.strictEqual(notYet.code, 1);
    assert.match(notYet.stderr, /has no log stream yet \(status SUBMITTED\); use --follow/);

    const following = jobs("logs", "job-0000", "--follow", "--interval", "0.02");
    const job = findJob("job-0000");
    await new Promise((r) => setTimeout(r, 100));
    batch.advanceAll(LIFECYCLE.indexOf("RUNNING"));
    logs.put(STACK_OUTPUTS.logGroupName, job.logStreamName!, ["one", "two"]);
    await new Promise((r) => setTimeout(r, 150));
    logs.put(STACK_OUTPUTS.logGroupName, job.logStreamName!, ["three", "four"]);
    await new Promise((r) => setTimeout(r, 100));
    batch.finishAll();
    const r = await following;
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(r.stdout, "one\ntwo\nthree\nfour\n");
    assert.match(r.stderr, /waiting for job-0000 to start/);
  });

  it("results downloads results/ and logs/ like aws s3 sync: only new or changed files", async function () {
    await startBatch({});
    const client = new S3Client({
      region: "us-east-1",
      endpoint: s3.url,
      forcePathStyle: true,
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    });
    const put = (Key: string, Body: string) =>
      client.send(new PutObjectCommand({ Bucket: STACK_OUTPUTS.bucketName, Key, Body }));
    try {
      await put("results/a/out.p", "pickle-a");
      await put("results/sw/0/out.p", "pickle-0");
      await put("logs/a.log", "log a");
      await put("logs/sw/0.log", "log 0");
      await put("inputs/sweeps/sw.json", "{}");
      const out = path.join(dir, "dl");
      const first = await jobs("results", "--out", out);
      assert.strictEqual(first.code, 0, first.stderr);
      assert.match(first.stdout, /4 file\(s\) copied \(\d+ B\), 0 unchanged/);
      assert.strictEqual(
        fs.readFileSync(path.join(out, "results", "sw", "0", "out.p"), "utf8"),
        "pickle-0",
      );
      assert.ok(!fs.existsSync(path.join(out, "inputs")), "only results/ and logs/");

      const second = await jobs("results", "--out", out, "--json");
      const parsed = JSON.parse(second.stdout) as { copied: string[]; unchanged: number };
      assert.deepStrictEqual(parsed.copied, []);
      assert.strictEqual(parsed.unchanged, 4);

      await put("logs/a.log", "log a, longer now");
      const third = await jobs("results", "--out", out, "--json");
      assert.deepStrictEqual((JSON.parse(third.stdout) as { copied: string[] }).copied, [
        "logs/a.log",
      ]);
      assert.strictEqual(
        fs.readFileSync(path.join(out, "logs", "a.log"), "utf8"),
        "log a, longer now",
      );

      const only = await jobs("results", "sw", "--out", path.join(dir, "only-sw"), "--json");
      assert.deepStrictEqual((JSON.parse(only.stdout) as { copied: string[] }).copied.sort(), [
        "logs/sw/0.log",
        "results/sw/0/out.p",
      ]);
      const leftovers = fs.readdirSync(dir).filter((f) => f.endsWith(".part"));
      assert.deepStrictEqual(leftovers, []);
    } finally {
      client.destroy();
    }
  });

  it("results --local copies from the local bucket folder", async function () {
    await startBatch({});
    const root = path.join(dir, "local-bucket");
    fs.mkdirSync(path.join(root, "results", "j"), { recursive: true });
    fs.mkdirSync(path.join(root, "logs"), { recursive: true });
    fs.writeFileSync(path.join(root, "results", "j", "r.p"), "r");
    fs.writeFileSync(path.join(root, "logs", "j.log"), "l");
    const out = path.join(dir, "copy");
    const r = await runJobs(["results", "--local", "--local-root", root, "--out", out], {
      cwd: dir,
    });
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(fs.readFileSync(path.join(out, "results", "j", "r.p"), "utf8"), "r");
    const again = await runJobs(["results", "--local", "--local-root", root, "--out", out], {
      cwd: dir,
    });
    assert.match(again.stdout, /0 file\(s\) copied .*2 unchanged/);
  });

  it("cancel cancels waiting jobs, terminates running ones and leaves finished ones", async function () {
    await startBatch({ autoAdvance: false });
    writeJobFiles(path.join(dir, "jobs"), 3);
    await jobs("submit", "jobs");
    const set = (name: string, status: "RUNNABLE" | "RUNNING" | "SUCCEEDED"): void => {
      const job = findJob(name);
      job.status = status;
      job.step = status === "SUCCEEDED" ? LIFECYCLE.length : LIFECYCLE.indexOf(status);
    };
    set("job-0000", "RUNNABLE");
    set("job-0001", "RUNNING");
    set("job-0002", "SUCCEEDED");

    const none = await jobs("cancel");
    assert.strictEqual(none.code, 2);
    const unknown = await jobs("cancel", "job-0000", "nope");
    assert.strictEqual(unknown.code, 2);
    assert.strictEqual(
      batch.count("canceljob") + batch.count("terminatejob"),
      0,
      "nothing cancelled on bad input",
    );

    const r = await jobs("cancel", "--all", "--reason", "wrong parameters");
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(r.stdout, /cancelled job-0000 .* \(was RUNNABLE\)/);
    assert.match(r.stdout, /terminated job-0001 .* \(was RUNNING\)/);
    assert.match(r.stdout, /2 stopped, 1 already finished/);
    assert.deepStrictEqual(
      batch.requests
        .filter((q) => q.operation === "canceljob" || q.operation === "terminatejob")
        .map((q) => [q.operation, (q.body as { reason: string }).reason])
        .sort(),
      [
        ["canceljob", "wrong parameters"],
        ["terminatejob", "wrong parameters"],
      ],
    );
    assert.strictEqual(findJob("job-0000").status, "FAILED");
  });
});
