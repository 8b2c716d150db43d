/**
 * Sweeps past 10,000 sets and `jobs:retry`, in-process against the local
 * Batch and S3 servers: a chunked sweep submitted, watched, reported and found by logs as
 * one sweep; a retry of failed sets whose report merges the attempts; a retry refused while
 * anything runs; a retry frozen at each crash point and re-run, never doubled.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { Ledger, openIntents, parseLedger } from "../../jobs/state/ledger";
import { lockPath } from "../../jobs/state/lock";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { resolveTarget } from "../../jobs/commands/logs";
import type { Faults } from "../../jobs/aws/exactly-once";
import type { FakeBatch } from "../helpers/fake-batch";
import {
  STACK_OUTPUTS,
  awsEnv,
  spawnJobs,
  useLocalAws,
  writeJobsAndSweep,
  freezeAt,
} from "../helpers/jobs-harness";

const FAST: Faults = { listingWaitMs: 300, submitTimeoutMs: 300 };

interface JsonRow {
  name: string;
  status: string;
  jobId: string;
  runs: number;
  params: Record<string, string>;
  metrics: Record<string, number | string>;
}

describe("sweeps past 10,000 sets and jobs:retry against local AWS endpoints", function () {
  this.timeout(60_000);
  const aws = useLocalAws("retry");

  const jobs = (args: string[], faults: Faults = FAST, signal?: AbortSignal) =>
    aws.jobs(args, { faults, signal });
  const getText = async (key: string): Promise<string> =>
    (await aws.getText(key)) ?? assert.fail(`${key} is in the bucket`);

  const sorted = (xs: string[]) => [...xs].sort();

  it("a sweep of 10,001 sets goes as chunks; status, report, logs and a retry treat them as one sweep", async function () {
    // Set 5 (child 5 of big-c0) and set 10,000 (big-c1, a plain job) fail.
    const fake = await aws.startBatch({
      outcome: ({ jobName, index }) =>
        (jobName === "big-c0" && index === 5) || jobName === "big-c1"
          ? { status: "FAILED", exitCode: 1 }
          : { status: "SUCCEEDED" },
    });
    fs.writeFileSync(
      path.join(aws.dir, "big.json"),
      JSON.stringify({
        jobName: "big",
        grid: { var_a: Array.from({ length: 10_001 }, (_, i) => i) },
        base: { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } },
      }),
    );
    const r = await jobs(["submit", "big.json"]);
    assert.strictEqual(r.code, 0, r.stderr);
    const [c0, c1] = ["big-c0", "big-c1"].map((n) => fake.named(n)[0]);
    assert.strictEqual(c0.children?.length, 10_000);
    assert.strictEqual(c0.env.BATCHPY_JOB_NAME, "big");
    assert.strictEqual(c1.children, undefined, "a last chunk of one set is a plain job");
    assert.deepStrictEqual(
      [c1.env.BATCHPY_JOB_NAME, c1.env.BATCHPY_SET_INDEX, c1.env.var_a],
      ["big", "10000", "10000"],
    );
    const manifest = JSON.parse(await getText(c0.env.BATCHPY_ARRAY_MANIFEST)) as {
      sets: unknown[];
      indexes: number[];
    };
    assert.strictEqual(manifest.sets.length, 10_000);
    assert.deepStrictEqual(manifest.indexes.slice(-1), [9_999]);
    // The ledger records which sweep each chunk belongs to.
    const entries = Ledger.open(aws.ledgerFile()).entries;
    assert.deepStrictEqual(sorted(entries.map((e) => `${e.jobName} of ${e.of}`)), [
      "big-c0 of big",
      "big-c1 of big",
    ]);

    const status = await jobs(["status", "big", "--json"]);
    assert.strictEqual((JSON.parse(status.stdout) as { total: number }).total, 10_001);
    fake.finishAll();
    const report = await jobs(["report", "big", "--json"]);
    assert.strictEqual(report.code, 0, report.stderr);
    const rows = (JSON.parse(report.stdout) as { rows: JsonRow[] }).rows;
    assert.strictEqual(rows.length, 10_001);
    const last = rows.find((x) => x.name === "big[10000]");
    assert.deepStrictEqual(last?.params, { save_name: "r", var_a: "10000" });
    assert.strictEqual(last?.status, "FAILED");
    assert.deepStrictEqual(rows.find((x) => x.name === "big[9999]")?.params, {
      save_name: "r",
      var_a: "9999",
    });
    // logs <sweep>:<set> finds the chunk and the child.
    const ledger = Ledger.open(aws.ledgerFile());
    assert.strictEqual(resolveTarget("big:9999", ledger, "s"), `${c0.jobId}:9999`);
    assert.strictEqual(resolveTarget("big:10000", ledger, "s"), c1.jobId);
    assert.throws(() => resolveTarget("big:10001", ledger, "s"), {
      message:
        "big:10001: big is a sweep of 10,001 sets in 2 jobs (big-c0 to big-c1), numbered " +
        "0-10,000; there is no set 10,001",
    });
    // cancel takes the sweep's name for its chunks (all finished: nothing to stop).
    const cancel = await jobs(["cancel", "big", "--json"]);
    assert.strictEqual(cancel.code, 0, cancel.stderr);

    // The failed sets of both chunks go again as one array job keeping their numbers.
    const retry = await jobs(["retry", "big"]);
    assert.strictEqual(retry.code, 0, retry.stderr);
    const [r1] = fake.named("big-r1");
    assert.strictEqual(r1.children?.length, 2);
    assert.deepStrictEqual(JSON.parse(await getText(r1.env.BATCHPY_ARRAY_MANIFEST)), {
      version: 1,
      sets: [{ var_a: "5" }, { var_a: "10000" }],
      indexes: [5, 10_000],
    });
    fake.finishAll();
    const after = await jobs(["report", "big", "--json"]);
    const merged = (JSON.parse(after.stdout) as { rows: JsonRow[] }).rows;
    assert.strictEqual(merged.length, 10_001);
    assert.deepStrictEqual(
      merged.filter((x) => x.runs > 1).map((x) => [x.name, x.status, x.runs]),
      [
        ["big[5]", "SUCCEEDED", 2],
        ["big[10000]", "SUCCEEDED", 2],
      ],
    );
  });

  it("logs knows a chunked sweep's whole range and names it (25,001 sets in 3 chunks)", async function () {
    // The stack's endpoints: logs reads its claims before it looks at the target.
    await aws.startBatch();
    const entry = (jobName: string, jobId: string, arraySize?: number) =>
      JSON.stringify({
        v: 1,
        jobName,
        jobId,
        kind: arraySize !== undefined ? "array" : "single",
        ...(arraySize !== undefined ? { arraySize } : {}),
        hash: "h",
        of: "big",
        run: "r",
        submittedAt: "2026-01-01T00:00:00Z",
      });
    fs.mkdirSync(path.dirname(aws.ledgerFile()), { recursive: true });
    fs.writeFileSync(
      aws.ledgerFile(),
      [
        entry("big-c0", "id-c0", 10_000),
        entry("big-c1", "id-c1", 10_000),
        entry("big-c2", "id-c2", 5_001),
        "",
      ].join("\n"),
    );
    const ledger = Ledger.open(aws.ledgerFile());
    assert.strictEqual(resolveTarget("big:0", ledger, "s"), "id-c0:0");
    assert.strictEqual(resolveTarget("big:19999", ledger, "s"), "id-c1:9999");
    assert.strictEqual(resolveTarget("big[20000]", ledger, "s"), "id-c2:0");
    assert.strictEqual(resolveTarget("big:25000", ledger, "s"), "id-c2:5000");
    const range = "big is a sweep of 25,001 sets in 3 jobs (big-c0 to big-c2), numbered 0-25,000";
    for (const [target, message] of [
      ["big:25001", `big:25001: ${range}; there is no set 25,001`],
      ["big:30000", `big:30000: ${range}; there is no set 30,000`],
      ["big", `${range}, each with its own log; pass big:<set>`],
    ]) {
      assert.throws(() => resolveTarget(target, ledger, "s"), { message });
      const r = await jobs(["logs", target]);
      assert.strictEqual(r.code, 2, r.stderr);
      assert.strictEqual(r.stderr, `error: ${message}\n1 problem(s) found\n`);
    }
  });

  /** "mix": 4 sets (`failing` fail the first time), job-0000 fails, job-0001 succeeds. */
  async function submitMix(failing: readonly number[] = [1, 2]): Promise<FakeBatch> {
    const fake = await aws.startBatch({
      outcome: ({ jobName, index }) =>
        (jobName === "mix" && index !== undefined && failing.includes(index)) ||
        jobName === "job-0000"
          ? { status: "FAILED", exitCode: 3 }
          : { status: "SUCCEEDED" },
    });
    writeJobsAndSweep(aws.dir, 2, "mix");
    const r = await jobs(["submit", "jobs"]);
    assert.strictEqual(r.code, 0, r.stderr);
    fake.finishAll();
    return fake;
  }

  it("jobs:retry reruns only the failed sets under their numbers; the report merges the attempts", async function () {
    const fake = await submitMix();
    const before = fake.submitted().length;
    const r = await jobs(["retry", "mix", "job-0000", "job-0001"]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, /nothing failed in job-0001/);
    const retries = fake.submitted().slice(before);
    assert.deepStrictEqual(sorted(retries.map((j) => j.jobName)), ["job-0000-r1", "mix-r1"]);
    const mixR1 = fake.named("mix-r1")[0];
    assert.strictEqual(mixR1.children?.length, 2);
    assert.strictEqual(mixR1.env.BATCHPY_JOB_NAME, "mix");
    assert.deepStrictEqual(JSON.parse(await getText(mixR1.env.BATCHPY_ARRAY_MANIFEST)), {
      version: 1,
      sets: [{ var_a: "1" }, { var_a: "2" }],
      indexes: [1, 2],
    });
    const soloR1 = fake.named("job-0000-r1")[0];
    assert.strictEqual(soloR1.env.BATCHPY_JOB_NAME, "job-0000");
    assert.strictEqual(soloR1.env.var_a, "0");
    const ledger = Ledger.open(aws.ledgerFile()).latest();
    assert.strictEqual(ledger.get("mix-r1")?.of, "mix");
    assert.strictEqual(ledger.get("job-0000-r1")?.of, "job-0000");

    // While the retry runs, another retry is refused before any side effect.
    const ledgerBefore = fs.readFileSync(aws.ledgerFile(), "utf8");
    const count = fake.count("submitjob");
    const again = await jobs(["retry", "mix"]);
    assert.strictEqual(again.code, 1);
    assert.match(
      again.stderr,
      /mix \(2 not finished\): a retry waits until every run has finished; .*jobs:watch -- mix.*nothing was submitted/,
    );
    assert.strictEqual(fake.count("submitjob"), count);
    assert.strictEqual(fs.readFileSync(aws.ledgerFile(), "utf8"), ledgerBefore);

    fake.finishAll();
    await aws.put("results/mix/2/metrics.json", JSON.stringify({ product: 4 }));
    const report = await jobs(["report", "mix", "job-0000", "--json"]);
    assert.strictEqual(report.code, 0, report.stderr);
    const rows = (JSON.parse(report.stdout) as { rows: JsonRow[] }).rows;
    assert.deepStrictEqual(sorted(rows.map((x) => x.name)), [
      "job-0000",
      "mix[0]",
      "mix[1]",
      "mix[2]",
      "mix[3]",
    ]);
    const set2 = rows.find((x) => x.name === "mix[2]");
    assert.strictEqual(set2?.status, "SUCCEEDED");
    assert.strictEqual(set2?.runs, 2);
    assert.deepStrictEqual(set2?.params, { save_name: "r", var_a: "2" });
    assert.deepStrictEqual(set2?.metrics, { product: 4 });
    assert.strictEqual(rows.find((x) => x.name === "job-0000")?.status, "SUCCEEDED");
    // watch and status take the sweep's name for the retry too, counting each set once.
    const status = await jobs(["status", "mix", "--json"]);
    assert.strictEqual((JSON.parse(status.stdout) as { total: number }).total, 4);

    const nothing = await jobs(["retry", "mix"]);
    assert.strictEqual(nothing.code, 0, nothing.stderr);
    assert.match(nothing.stdout, /nothing failed in mix: nothing to retry/);
  });

  it("a lone failed set is retried as a plain job under its set number; then nothing is left", async function () {
    const fake = await submitMix([3]);
    const dry = await jobs(["retry", "mix", "--dry-run", "--json"]);
    assert.strictEqual(dry.code, 0, dry.stderr);
    assert.deepStrictEqual(
      (JSON.parse(dry.stdout) as { requests: { jobName: string }[] }).requests.map(
        (q) => q.jobName,
      ),
      ["mix-r1"],
    );
    assert.strictEqual(fake.named("mix-r1").length, 0, "a dry run sends nothing");
    const r = await jobs(["retry", "mix"]);
    assert.strictEqual(r.code, 0, r.stderr);
    const [lone] = fake.named("mix-r1");
    assert.strictEqual(lone.children, undefined, "a plain job: arrays need 2 children");
    assert.deepStrictEqual(
      [lone.env.BATCHPY_JOB_NAME, lone.env.BATCHPY_SET_INDEX, lone.env.var_a],
      ["mix", "3", "3"],
    );
    fake.finishAll();
    const report = await jobs(["report", "mix", "--json"]);
    const rows = (JSON.parse(report.stdout) as { rows: JsonRow[] }).rows;
    assert.deepStrictEqual(rows.map((x) => [x.name, x.status, x.runs]).sort(), [
      ["mix[0]", "SUCCEEDED", 1],
      ["mix[1]", "SUCCEEDED", 1],
      ["mix[2]", "SUCCEEDED", 1],
      ["mix[3]", "SUCCEEDED", 2],
    ]);
    const none = await jobs(["retry", "mix", "--json"]);
    assert.strictEqual(none.code, 0, none.stderr);
    assert.deepStrictEqual((JSON.parse(none.stdout) as { submitted: unknown[] }).submitted, []);
  });

  it("refuses unknown names and combinations before anything else", async function () {
    await submitMix();
    const unknown = await jobs(["retry", "nope"]);
    assert.strictEqual(unknown.code, 2);
    assert.match(unknown.stderr, /not in the ledger .*nope/);
    const legacy = await jobs(["submit", "--retry-failed", "mix"]);
    assert.strictEqual(legacy.code, 0, legacy.stderr);
    assert.match(
      legacy.stderr,
      /^note: --retry-failed leaves jobs:submit in the next release; use npm run jobs:retry -- mix$/m,
    );
    const part = await jobs(["retry", "mix-r1"]);
    assert.strictEqual(part.code, 2);
    assert.match(
      part.stderr,
      /not of their chunks or retries: mix-r1 \(part of mix\); name the sweep/,
    );
    const forced = await jobs(["submit", "--retry-failed", "--force", "mix"]);
    assert.strictEqual(forced.code, 2);
    assert.match(forced.stderr, /--retry-failed cannot be combined with --force/);
    const retryForced = await jobs(["retry", "--force", "mix"]);
    assert.strictEqual(retryForced.code, 2);
    assert.match(retryForced.stderr, /unknown option '--force'/);
  });

  it("a name with no room for its retries is refused at submit; a retry checks its own names before any side effect", async function () {
    const fake = await aws.startBatch({
      outcome: ({ jobName }) =>
        jobName.startsWith("m") ? { status: "FAILED", exitCode: 3 } : { status: "SUCCEEDED" },
    });
    const sweepFile = (name: string) => {
      fs.mkdirSync(path.join(aws.dir, "jobs"), { recursive: true });
      fs.writeFileSync(
        path.join(aws.dir, "jobs", `${name}.json`),
        JSON.stringify({
          jobName: name,
          grid: { var_a: [0, 1, 2, 3] },
          base: { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } },
        }),
      );
      return `jobs/${name}.json`;
    };
    for (const n of [126, 127, 128]) {
      const r = await jobs(["submit", sweepFile("m".repeat(n))]);
      assert.strictEqual(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `jobs/m{${n}}\\.json: jobName: jobName has ${n} characters, .*"<jobName>-r999", 5 more, ` +
            "and AWS allows 128: shorten jobName to at most 123 characters",
        ),
      );
      fs.rmSync(path.join(aws.dir, "jobs"), { recursive: true });
    }
    assert.strictEqual(fake.count("submitjob"), 0);

    // 123 characters leave room for 999 retries; past those the retry's own check refuses.
    const name = "m".repeat(123);
    const file = sweepFile(name);
    assert.strictEqual((await jobs(["submit", file])).code, 0);
    fake.finishAll();
    assert.strictEqual((await jobs(["retry", name])).code, 0);
    fake.finishAll();
    const ledgerFile = aws.ledgerFile();
    const r999 = fs
      .readFileSync(ledgerFile, "utf8")
      .replaceAll(`"jobName":"${name}-r1"`, `"jobName":"${name}-r999"`);
    fs.writeFileSync(ledgerFile, r999);
    const count = fake.count("submitjob");
    const r = await jobs(["retry", name]);
    assert.strictEqual(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `${file}: jobName: job name "m+\\.\\.\\." is 129 characters; the limit is 128: the retry of ` +
          `${name} cannot be named; submit it again under a shorter jobName with --force; nothing was submitted`,
      ),
    );
    assert.strictEqual(fake.count("submitjob"), count);
    assert.strictEqual(fs.readFileSync(ledgerFile, "utf8"), r999, "no intent written");
    const manifests = await aws.client.send(
      new ListObjectsV2Command({
        Bucket: STACK_OUTPUTS.bucketName,
        Prefix: `inputs/sweeps/${name}-r1000`,
      }),
    );
    assert.strictEqual(manifests.KeyCount, 0, "no manifest uploaded");
  });

  it("a second retry while the first is still SUBMITTED, without children, is refused", async function () {
    // Jobs move only when the test says: the retry stays SUBMITTED, its children not created.
    const fake = await aws.startBatch({
      autoAdvance: false,
      outcome: ({ jobName, index }) =>
        jobName === "rt" && index !== undefined && index >= 3
          ? { status: "FAILED", exitCode: 3 }
          : { status: "SUCCEEDED" },
    });
    fs.mkdirSync(path.join(aws.dir, "jobs"));
    fs.writeFileSync(
      path.join(aws.dir, "jobs", "rt.json"),
      JSON.stringify({
        grid: { var_a: [0, 1, 2, 3, 4, 5] },
        base: { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } },
      }),
    );
    assert.strictEqual((await jobs(["submit", "jobs/rt.json"])).code, 0);
    fake.finishAll();
    const first = await jobs(["retry", "rt"]);
    assert.strictEqual(first.code, 0, first.stderr);
    const [r1] = fake.named("rt-r1");
    assert.strictEqual(r1.status, "SUBMITTED");
    assert.strictEqual(r1.childrenCreated, false);
    const count = fake.count("submitjob");
    const ledgerBefore = fs.readFileSync(aws.ledgerFile(), "utf8");
    const second = await jobs(["retry", "rt"]);
    assert.strictEqual(second.code, 1, second.stdout);
    assert.match(
      second.stderr,
      /rt \(3 not finished\): a retry waits until every run has finished/,
    );
    assert.strictEqual(fake.count("submitjob"), count);
    assert.deepStrictEqual(fake.named("rt-r2"), []);
    assert.strictEqual(fs.readFileSync(aws.ledgerFile(), "utf8"), ledgerBefore);
    // The ledger knows the sets the retry runs before Batch shows them: each counted once.
    const status = await jobs(["status", "rt", "--json"]);
    assert.deepStrictEqual(
      (JSON.parse(status.stdout) as { counts: Record<string, number>; total: number }).counts,
      { SUBMITTED: 3, SUCCEEDED: 3 },
    );
    const report = await jobs(["report", "rt", "--json"]);
    // A child Batch has not shown yet is named by its place in the retry's array, not its set.
    assert.deepStrictEqual(
      (JSON.parse(report.stdout) as { rows: JsonRow[] }).rows
        .slice(3)
        .map((x) => [x.name, x.status, x.jobId]),
      [
        ["rt[3]", "SUBMITTED", `${r1.jobId}:0`],
        ["rt[4]", "SUBMITTED", `${r1.jobId}:1`],
        ["rt[5]", "SUBMITTED", `${r1.jobId}:2`],
      ],
    );
    assert.deepStrictEqual(
      (JSON.parse(report.stdout) as { rows: JsonRow[] }).rows.map((x) => [x.name, x.status]),
      [
        ["rt[0]", "SUCCEEDED"],
        ["rt[1]", "SUCCEEDED"],
        ["rt[2]", "SUCCEEDED"],
        ["rt[3]", "SUBMITTED"],
        ["rt[4]", "SUBMITTED"],
        ["rt[5]", "SUBMITTED"],
      ],
    );
  });

  it("a file changed since the sweep was submitted is refused, naming it", async function () {
    await submitMix();
    fs.writeFileSync(
      path.join(aws.dir, "jobs", "mix.json"),
      JSON.stringify({
        grid: { var_a: [0, 1, 2, 3, 4] },
        base: { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } },
      }),
    );
    const r = await jobs(["retry", "mix"]);
    assert.strictEqual(r.code, 2);
    assert.match(r.stderr, /jobs\/mix\.json: changed since mix was submitted from it/);
  });

  it("a retry process killed (SIGKILL) after Batch accepted its job: the re-run adopts it", async function () {
    const fake = await submitMix();
    const args = ["retry", "mix", "--outputs", aws.outputs, "--state-dir", aws.state];
    const { done } = spawnJobs(args, awsEnv({ batch: fake.url, s3: aws.s3.url }), aws.dir, {
      ...FAST,
      crash: { point: "answer-received", at: 1 },
    });
    const killed = await done;
    assert.strictEqual(killed.code, 137, killed.stderr);
    assert.strictEqual(fake.named("mix-r1").length, 1, "Batch has the job");
    assert.strictEqual(Ledger.open(aws.ledgerFile()).latest().get("mix-r1"), undefined);
    const rerun = await jobs(["retry", "mix"]);
    assert.strictEqual(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stdout, /found in Batch by token/);
    assert.strictEqual(fake.named("mix-r1").length, 1, "not sent again");
    assert.strictEqual(Ledger.open(aws.ledgerFile()).latest().get("mix-r1")?.of, "mix");
  });

  for (const point of ["intent-durable", "answer-received"] as const) {
    it(`a retry frozen at ${point} and run again submits each retry job exactly once`, async function () {
      const fake = await submitMix();
      const args = ["retry", "mix", "job-0000", "--concurrency", "1"];
      const f = freezeAt(point, 1, FAST);
      const exitHandlers = new Set(process.listeners("exit"));
      const frozen = jobs(args, f.faults, f.signal);
      frozen.catch(() => undefined);
      await new Promise<void>((resolve) => {
        const poll = (): void => {
          if (f.signal.aborted) {
            setTimeout(resolve, 200);
          } else {
            setTimeout(poll, 20);
          }
        };
        poll();
      });
      for (const handler of process.listeners("exit")) {
        if (!exitHandlers.has(handler)) {
          process.removeListener("exit", handler);
        }
      }
      fs.rmSync(lockPath(aws.ledgerFile()), { force: true });
      assert.ok(openIntents(parseLedger(fs.readFileSync(aws.ledgerFile(), "utf8"))).length > 0);

      // After the listing wait, so an intent that never reached Batch is sent again.
      await new Promise((resolve) => setTimeout(resolve, 400));
      const rerun = await jobs(args);
      assert.strictEqual(rerun.code, 0, rerun.stderr);
      // Completed through reconciliation by token, not planned afresh.
      assert.match(
        rerun.stdout + rerun.stderr,
        point === "answer-received"
          ? /found in Batch by its submission token/
          : /sending it again with the same token/,
      );
      assert.strictEqual(fake.named("mix-r1").length, 1, "mix-r1 once");
      assert.strictEqual(fake.named("job-0000-r1").length, 1, "job-0000-r1 once");
      assert.strictEqual(fake.named("mix-r2").length, 0);
      const parsed = parseLedger(fs.readFileSync(aws.ledgerFile(), "utf8"));
      assert.deepStrictEqual(openIntents(parsed), []);
      assert.deepStrictEqual(
        sorted(parsed.entries.filter((e) => e.of !== undefined).map((e) => e.jobName)),
        ["job-0000-r1", "mix-r1"],
      );
      // Running it once more while the retries run: refused, nothing sent.
      const third = await jobs(args);
      assert.strictEqual(third.code, 1);
      assert.strictEqual(fake.submitted().length, 5);
    });
  }
});
