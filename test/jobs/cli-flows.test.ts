/**
 * watch, status, logs, results and cancel, in-process against local Batch, CloudWatch Logs
 * and S3 endpoints speaking the AWS wire protocols.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { BatchClient, ListJobsCommand } from "@aws-sdk/client-batch";
import { LIFECYCLE, type FakeJob, type FakeUnit } from "../helpers/fake-batch";
import {
  STACK_OUTPUTS,
  runJobs,
  useLocalAws,
  writeJobFiles,
  writeJobsAndSweep,
} from "../helpers/jobs-harness";

describe("jobs: watch, status, logs, results and cancel against local AWS endpoints", function () {
  const aws = useLocalAws("flows", { logsPageSize: 3 });
  const jobs = (...args: string[]) => aws.jobs(args);

  /** Two single jobs (job-0001 fails with exit 3) and a sweep of 4 whose child 2 fails. */
  async function submitMix(): Promise<void> {
    writeJobsAndSweep(aws.dir, 2, "sw");
    const r = await jobs("submit", "jobs");
    assert.strictEqual(r.code, 0, r.stderr);
  }

  const { record, findJob } = aws;

  it("watch polls until every job has ended, then lists failures with reason and exit code", async function () {
    await aws.startBatch({
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

    const before = aws.batch.count("describejobs");
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
    const polls = aws.batch.count("describejobs") - before;
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

  it("every command that reads the ledger says which lines it skipped, once", async function () {
    await aws.startBatch({
      outcome: ({ jobName }) => ({ status: jobName === "job-0001" ? "FAILED" : "SUCCEEDED" }),
    });
    await submitMix();
    aws.batch.finishAll();
    fs.appendFileSync(aws.ledgerFile(), '{"torn');
    const skipped =
      /warning: \S+submissions.jsonl:\d+: skipped an unreadable line \(cut short by an interrupted run\)/;
    for (const args of [
      ["status"],
      ["why", "job-0000"],
      ["logs", "job-0000"],
      ["results", "job-0000"],
      ["report", "--json"],
      ["cancel", "job-0000"],
      ["retry", "job-0000"],
      ["retry", "job-0001", "--dry-run"],
      ["retry", "job-0001"],
    ]) {
      const r = await jobs(...args);
      assert.strictEqual(r.stderr.split(skipped).length, 2, `${args.join(" ")}: ${r.stderr}`);
    }
  });

  it("status with names and --last; an unknown name is bad input", async function () {
    await aws.startBatch({});
    await submitMix();
    const one = await jobs("status", "job-0000", "--json");
    assert.strictEqual((JSON.parse(one.stdout) as { jobs: unknown[] }).jobs.length, 1);
    const bad = await jobs("status", "nope");
    assert.strictEqual(bad.code, 2);
    assert.match(bad.stderr, /not in the ledger of stack "outputs-us-east-1-[0-9a-f]{8}".*: nope/);
  });

  it("logs prints a job's CloudWatch stream, following pages, for array children too", async function () {
    await aws.startBatch({});
    await submitMix();
    aws.batch.finishAll();
    const job = findJob("job-0000");
    const lines = Array.from({ length: 7 }, (_, i) => `line ${i}`);
    aws.logs.put(STACK_OUTPUTS.logGroupName, job.logStreamName!, lines);
    const r = await jobs("logs", "job-0000");
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(r.stdout, lines.map((l) => `${l}\n`).join(""));
    assert.ok(aws.logs.requests.length >= 3, "paged through the stream");

    const sw = findJob("sw");
    aws.logs.put(STACK_OUTPUTS.logGroupName, sw.children![2].logStreamName!, ["child two"]);
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
    await aws.startBatch({ autoAdvance: false });
    writeJobFiles(path.join(aws.dir, "jobs"), 1);
    await jobs("submit", "jobs");
    const notYet = await jobs("logs", "job-0000");
    assert.strictEqual(notYet.code, 1);
    assert.match(notYet.stderr, /has no log stream yet \(status SUBMITTED\); use --follow/);

    const described = aws.batch.count("describejobs");
    const following = jobs("logs", "job-0000", "--follow", "--interval", "0.02");
    const job = findJob("job-0000");
    // Started only once the follower has seen the job waiting, however slow the machine.
    while (aws.batch.count("describejobs") === described) {
      await new Promise((r) => setTimeout(r, 10));
    }
    aws.batch.advanceAll(LIFECYCLE.indexOf("RUNNING"));
    aws.logs.put(STACK_OUTPUTS.logGroupName, job.logStreamName!, ["one", "two"]);
    await new Promise((r) => setTimeout(r, 150));
    aws.logs.put(STACK_OUTPUTS.logGroupName, job.logStreamName!, ["three", "four"]);
    await new Promise((r) => setTimeout(r, 100));
    aws.batch.finishAll();
    const r = await following;
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(r.stdout, "one\ntwo\nthree\nfour\n");
    assert.match(r.stderr, /waiting for job-0000 to start/);
  });

  it("results downloads results/ and logs/ like aws s3 sync: only new or changed files", async function () {
    await aws.startBatch({});
    const put = (key: string, body: string) => aws.put(key, body);
    await put("results/a/out.p", "pickle-a");
    await put("results/sw/0/out.p", "pickle-0");
    await put("logs/a.log", "log a");
    await put("logs/sw/0.log", "log 0");
    await put("inputs/sweeps/sw.json", "{}");
    const out = path.join(aws.dir, "dl");
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

    record({ sw: "11111111-2222-3333-4444-555555555555" });
    const only = await jobs("results", "sw", "--out", path.join(aws.dir, "only-sw"), "--json");
    assert.deepStrictEqual((JSON.parse(only.stdout) as { copied: string[] }).copied.sort(), [
      "logs/sw/0.log",
      "results/sw/0/out.p",
    ]);
    const leftovers = fs
      .readdirSync(out, { recursive: true })
      .map(String)
      .filter((f) => f.includes(".part-"));
    assert.deepStrictEqual(leftovers, []);
  });

  it("results --locally copies from the local bucket folder", async function () {
    await aws.startBatch({});
    const root = path.join(aws.dir, "local-bucket");
    fs.mkdirSync(path.join(root, "results", "j"), { recursive: true });
    fs.mkdirSync(path.join(root, "logs"), { recursive: true });
    fs.writeFileSync(path.join(root, "results", "j", "r.p"), "r");
    fs.writeFileSync(path.join(root, "logs", "j.log"), "l");
    const out = path.join(aws.dir, "copy");
    const r = await runJobs(["results", "--locally", "--local-root", root, "--out", out], {
      cwd: aws.dir,
    });
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(fs.readFileSync(path.join(out, "results", "j", "r.p"), "utf8"), "r");
    const again = await runJobs(["results", "--locally", "--local-root", root, "--out", out], {
      cwd: aws.dir,
    });
    assert.match(again.stdout, /0 file\(s\) copied .*2 unchanged/);
  });

  it("cancel cancels waiting jobs, terminates running ones and leaves finished ones", async function () {
    await aws.startBatch({ autoAdvance: false });
    writeJobFiles(path.join(aws.dir, "jobs"), 3);
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
      aws.batch.count("canceljob") + aws.batch.count("terminatejob"),
      0,
      "nothing cancelled on bad input",
    );

    const r = await jobs("cancel", "--all", "--reason", "wrong parameters");
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(r.stdout, /cancelled job-0000 .* \(was RUNNABLE, not started\)/);
    assert.match(r.stdout, /terminated job-0001 .* \(was RUNNING\)/);
    assert.match(r.stdout, /2 stopped, 1 already finished/);
    // TerminateJob for both: it cancels what has not started, and has no race with a job
    // that starts between DescribeJobs and the call (CancelJob would then do nothing).
    assert.deepStrictEqual(
      aws.batch.requests
        .filter((q) => q.operation === "canceljob" || q.operation === "terminatejob")
        .map((q) => [q.operation, (q.body as { reason: string }).reason]),
      [
        ["terminatejob", "wrong parameters"],
        ["terminatejob", "wrong parameters"],
      ],
    );
    assert.strictEqual(findJob("job-0000").status, "FAILED");
    assert.strictEqual(findJob("job-0001").status, "FAILED");
  });

  /** Sets a job or child's status as if Batch had moved it there. */
  function setStatus(u: FakeUnit, status: (typeof LIFECYCLE)[number] | "SUCCEEDED"): void {
    u.status = status;
    u.step = status === "SUCCEEDED" ? LIFECYCLE.length : LIFECYCLE.indexOf(status);
  }

  /** A sweep of 4 (child i gets var_a=i) submitted as one array job. */
  async function submitSweep(): Promise<FakeJob> {
    fs.writeFileSync(
      path.join(aws.dir, "sw.json"),
      JSON.stringify({
        grid: { var_a: [0, 1, 2, 3] },
        base: { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } },
      }),
    );
    const r = await jobs("submit", "sw.json");
    assert.strictEqual(r.code, 0, r.stderr);
    return findJob("sw");
  }

  it("cancel terminates a sweep's running children, which stopping the parent leaves running", async function () {
    await aws.startBatch({ autoAdvance: false });
    const sw = await submitSweep();
    aws.batch.advanceAll(2);
    const children = sw.children!;
    setStatus(children[0], "RUNNING");
    setStatus(children[1], "STARTING");
    setStatus(children[3], "SUCCEEDED");
    assert.strictEqual(sw.status, "PENDING", "a parent is PENDING while its children run");

    // The fake answers ListJobs like the service: no jobStatus lists RUNNING jobs only.
    const client = new BatchClient({ region: "us-east-1", endpoint: aws.batch.url });
    try {
      const listed = await client.send(new ListJobsCommand({ arrayJobId: sw.jobId }));
      assert.deepStrictEqual(
        listed.jobSummaryList?.map((j) => j.jobId),
        [`${sw.jobId}:0`],
      );
    } finally {
      client.destroy();
    }

    const r = await jobs("cancel", "sw");
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /stopped sw [0-9a-f-]+ \(array of 4, was PENDING\): children not started cancelled, 2 running children terminated/,
    );
    assert.deepStrictEqual(
      children.map((c) => c.status),
      ["FAILED", "FAILED", "FAILED", "SUCCEEDED"],
    );
    assert.strictEqual(sw.status, "FAILED");
    assert.deepStrictEqual(
      aws.batch.requests
        .filter((q) => q.operation === "terminatejob")
        .map((q) => (q.body as { jobId: string }).jobId)
        .sort(),
      [sw.jobId, `${sw.jobId}:0`, `${sw.jobId}:1`].sort(),
      "the parent first, then exactly the started children",
    );
    assert.strictEqual(aws.batch.count("canceljob"), 0);
  });

  it("logs of an array index past the end says so; errors say what is true for the command", async function () {
    await aws.startBatch({ autoAdvance: false });
    await submitSweep();
    const r = await jobs("logs", "sw:9");
    assert.strictEqual(r.code, 2);
    assert.match(
      r.stderr,
      /error: sw:9: sw is an array job of 4 children, numbered 0-3; there is no child 9\n1 problem\(s\) found\n$/,
    );
    assert.doesNotMatch(r.stderr, /forgotten|nothing was submitted/);
    const unknown = await jobs("logs", "11111111-2222-3333-4444-555555555555");
    assert.strictEqual(unknown.code, 1);
    assert.match(
      unknown.stderr,
      /Batch does not know job 1111.* in region us-east-1: check --stack\/--outputs/,
    );
    const cancel = await jobs("cancel", "nope");
    assert.match(
      cancel.stderr,
      /^error: not in the ledger of stack .*: nope; check the names, or pass --stack\n1 problem\(s\) found; nothing was cancelled\n$/,
    );
    const results = await jobs("results", "nope");
    assert.match(
      results.stderr,
      /, or pass --stack\n1 problem\(s\) found; nothing was downloaded\n$/,
    );
  });

  it("status shows the reason of a sweep stopped before its children existed", async function () {
    await aws.startBatch({ autoAdvance: false });
    const sw = await submitSweep();
    const cancelled = await jobs("cancel", "sw", "--reason", "wrong grid");
    assert.strictEqual(cancelled.code, 0, cancelled.stderr);
    assert.strictEqual(sw.status, "FAILED");
    const r = await jobs("status");
    assert.strictEqual(r.code, 1);
    assert.match(r.stdout, /FAILED 4 \(4\/4 done\)/);
    assert.match(
      r.stdout,
      new RegExp(`sw \\(${sw.jobId}\\): wrong grid, 4 failed children not listed by Batch`),
    );
  });

  it("watch and status exit 1 when Batch knows none of the jobs (wrong stack or region)", async function () {
    await aws.startBatch({});
    record({
      a: "11111111-2222-3333-4444-555555555555",
      b: "66666666-7777-8888-9999-000000000000",
    });
    for (const cmd of [["status"], ["watch", "--interval", "0.01"]]) {
      const r = await jobs(...cmd);
      assert.strictEqual(r.code, 1, cmd.join(" "));
      assert.match(
        r.stderr,
        /warning: Batch knows none of the 2 job\(s\) in the ledger of stack "outputs-us-east-1-[0-9a-f]{8}" \(region us-east-1\); check --stack\/--outputs/,
      );
    }
  });

  it("cancel, watch and status never count jobs Batch does not return as finished", async function () {
    await aws.startBatch({ autoAdvance: false });
    writeJobFiles(path.join(aws.dir, "jobs"), 1);
    await jobs("submit", "jobs");
    const job = findJob("job-0000");
    job.status = "SUCCEEDED";
    job.step = LIFECYCLE.length;
    // Another region's or account's job, in this ledger by mistake: it may still be running.
    record({ elsewhere: "11111111-2222-3333-4444-555555555555" });

    const r = await jobs("cancel", "--all");
    assert.strictEqual(r.code, 1, r.stdout);
    assert.match(r.stdout, /0 stopped, 1 already finished, 1 not known to Batch \(not stopped\)/);
    assert.match(
      r.stderr,
      /warning: Batch does not know 1 job\(s\) in the ledger of stack .*not finished/,
    );
    const json = await jobs("cancel", "--all", "--json");
    assert.strictEqual(json.code, 1);
    const parsed = JSON.parse(json.stdout) as { alreadyFinished: number; unknown: unknown[] };
    assert.strictEqual(parsed.alreadyFinished, 1);
    assert.deepStrictEqual(parsed.unknown, [
      { jobName: "elsewhere", jobId: "11111111-2222-3333-4444-555555555555" },
    ]);

    for (const cmd of [["status"], ["watch", "--interval", "0.01"]]) {
      const w = await jobs(...cmd);
      assert.strictEqual(w.code, 1, cmd.join(" "));
      assert.match(w.stdout, /SUCCEEDED 1 \| UNKNOWN 1 \(1\/2 done\)/, cmd.join(" "));
      assert.match(w.stderr, /Batch does not know 1 job\(s\)/, cmd.join(" "));
    }
  });

  it("logs of a job with no output yet: a note and exit 0; --follow waits for the stream", async function () {
    await aws.startBatch({ autoAdvance: false });
    writeJobFiles(path.join(aws.dir, "jobs"), 1);
    await jobs("submit", "jobs");
    const job = findJob("job-0000");
    aws.batch.advanceAll(LIFECYCLE.indexOf("RUNNING"));
    job.logStreamName = `${job.logStreamName!}-quiet`;
    const quiet = await jobs("logs", "job-0000");
    assert.strictEqual(quiet.code, 0, quiet.stderr);
    assert.strictEqual(quiet.stdout, "");
    assert.match(
      quiet.stderr,
      /no output from job-0000 \(yet\): log stream .*-quiet does not exist in \/aws\/batch\/batchpy; CloudWatch creates it on the job's first line of output, so a job that prints nothing never gets one; use --follow to wait for it/,
    );

    // The stream appears only once --follow has asked for it and found none: on a loaded
    // machine a fixed sleep can end before the first request.
    const asked = aws.logs.requests.length;
    const following = jobs("logs", "job-0000", "--follow", "--interval", "0.02");
    while (aws.logs.requests.length === asked) {
      await new Promise((r) => setTimeout(r, 10));
    }
    aws.logs.put(STACK_OUTPUTS.logGroupName, job.logStreamName, ["at last"]);
    await new Promise((r) => setTimeout(r, 100));
    aws.batch.finishAll();
    const r = await following;
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(r.stdout, "at last\n");
    assert.match(r.stderr, /no output from job-0000 \(yet\).*; waiting for it/);
  });

  it("logs --follow switches to the new stream when a retry starts another attempt", async function () {
    await aws.startBatch({ autoAdvance: false });
    writeJobFiles(path.join(aws.dir, "jobs"), 1);
    await jobs("submit", "jobs");
    const job = findJob("job-0000");
    aws.batch.advanceAll(LIFECYCLE.indexOf("RUNNING"));
    const first = job.logStreamName!;
    aws.logs.put(STACK_OUTPUTS.logGroupName, first, ["attempt 1"]);
    // Each step waits for the follower to have read the stream it is about, not a fixed sleep
    // that a loaded machine can outlast.
    const readFrom = async (stream: string) => {
      while (!aws.logs.requests.some((q) => JSON.stringify(q.body).includes(`"${stream}"`))) {
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const following = jobs("logs", "job-0000", "--follow", "--interval", "0.02");
    await readFrom(first);
    // Attempt 1 ends with a line that arrives late; attempt 2 writes to its own stream.
    const second = `${first}-attempt2`;
    aws.logs.put(STACK_OUTPUTS.logGroupName, first, ["late line of attempt 1"]);
    aws.logs.put(STACK_OUTPUTS.logGroupName, second, ["attempt 2"]);
    job.logStreamName = second;
    await readFrom(second);
    aws.batch.finishAll();
    const r = await following;
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(
      r.stdout,
      `attempt 1\nlate line of attempt 1\n--- job-0000: new attempt, log stream ${second} ---\nattempt 2\n`,
    );
  });

  it("results refuses names the ledger (or the local folder) does not have, before copying", async function () {
    await aws.startBatch({});
    writeJobFiles(path.join(aws.dir, "jobs"), 1);
    await jobs("submit", "jobs");
    const r = await jobs("results", "job-0000", "nope", "other", "--out", path.join(aws.dir, "dl"));
    assert.strictEqual(r.code, 2);
    assert.match(
      r.stderr,
      /not in the ledger of stack "outputs-us-east-1-[0-9a-f]{8}" \(.*\): nope, other; check the names/,
    );
    assert.strictEqual(fs.existsSync(path.join(aws.dir, "dl")), false);

    const root = path.join(aws.dir, "local-bucket");
    fs.mkdirSync(path.join(root, "results", "j"), { recursive: true });
    fs.mkdirSync(path.join(root, "logs"), { recursive: true });
    fs.writeFileSync(path.join(root, "logs", "k.log"), "l");
    const local = (...names: string[]) =>
      runJobs(
        ["results", ...names, "--locally", "--local-root", root, "--out", path.join(aws.dir, "o")],
        {
          cwd: aws.dir,
        },
      );
    assert.strictEqual((await local("j", "k")).code, 0);
    const bad = await local("j", "x");
    assert.strictEqual(bad.code, 2);
    assert.match(bad.stderr, /not jobs with results or logs in .*local-bucket: x;/);
  });

  it("results --locally writes through a temporary file and leaves none when a copy fails", async function () {
    await aws.startBatch({});
    const root = path.join(aws.dir, "local-bucket");
    fs.mkdirSync(path.join(root, "results", "j"), { recursive: true });
    fs.writeFileSync(path.join(root, "results", "j", "ok.p"), "ok");
    fs.writeFileSync(path.join(root, "results", "j", "blocked.p"), "b");
    const out = path.join(aws.dir, "copy");
    // A folder where the file should go: the copy succeeds, the rename into place fails.
    fs.mkdirSync(path.join(out, "results", "j", "blocked.p", "inside"), { recursive: true });
    const r = await runJobs(["results", "--locally", "--local-root", root, "--out", out], {
      cwd: aws.dir,
    });
    assert.strictEqual(r.code, 1);
    assert.match(r.stderr, /error: results\/j\/blocked\.p: /);
    assert.strictEqual(fs.readFileSync(path.join(out, "results", "j", "ok.p"), "utf8"), "ok");
    const all = fs.readdirSync(out, { recursive: true }).map(String);
    assert.deepStrictEqual(
      all.filter((f) => f.includes(".part-")),
      [],
    );
  });
});
