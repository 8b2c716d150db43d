/**
 * A sweep and a job with retries seen as one sweep, in-process against the local Batch, S3
 * and CloudWatch Logs servers: `status`/`watch` count each set once by its latest run and
 * exit by it, `logs <sweep>:<set>` shows the latest run (or the nth with --run), and
 * `results` holds the retry's files for a retried set.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import type { FakeBatch } from "../helpers/fake-batch";
import { STACK_OUTPUTS, useLocalAws, writeJobsAndSweep } from "../helpers/jobs-harness";

interface StatusJson {
  counts: Record<string, number>;
  total: number;
  done: number;
  retried?: { sets: number; jobs: number; runs: number };
  failures: { jobName: string; index?: number; set?: number }[];
}

describe("a sweep with retries seen as one sweep (status, watch, logs, results)", function () {
  this.timeout(60_000);
  const aws = useLocalAws("retry-views", { logsPageSize: 3 });
  const jobs = (...args: string[]) => aws.jobs(args);

  /**
   * "mix" (4 sets; 1 and 2 fail) and job-0000 (fails) submitted, finished, and retried;
   * `stillFailing` sets fail again in the retry (mix-r1's children run sets 1 and 2).
   */
  async function submitAndRetry(stillFailing: readonly number[]): Promise<FakeBatch> {
    const fake = await aws.startBatch({
      outcome: ({ jobName, index }) =>
        (jobName === "mix" && (index === 1 || index === 2)) ||
        (jobName === "mix-r1" && index !== undefined && stillFailing.includes(index + 1)) ||
        jobName === "job-0000"
          ? { status: "FAILED", exitCode: 3 }
          : { status: "SUCCEEDED" },
    });
    writeJobsAndSweep(aws.dir, 1, "mix");
    const submitted = await jobs("submit", "jobs");
    assert.strictEqual(submitted.code, 0, submitted.stderr);
    fake.finishAll();
    const first = await jobs("status", "mix", "job-0000");
    assert.strictEqual(first.code, 1);
    assert.match(first.stdout, /^SUCCEEDED 2 \| FAILED 3 \(5\/5 done\)$/m);
    assert.doesNotMatch(first.stdout, /retried/, "nothing retried yet: output as before");
    const retry = await jobs("retry", "mix", "job-0000");
    assert.strictEqual(retry.code, 0, retry.stderr);
    fake.finishAll();
    return fake;
  }

  it("status and watch count each set once, by its latest run, and exit 0 when all latest runs succeeded", async function () {
    await submitAndRetry([]);
    const status = await jobs("status", "mix", "job-0000");
    assert.strictEqual(status.code, 0, status.stdout + status.stderr);
    assert.match(status.stdout, /^SUCCEEDED 5 \(5\/5 done\)$/m);
    assert.match(
      status.stdout,
      /^2 sets and 1 job retried: each counted once, by its latest run \(3 earlier runs left out\)$/m,
    );
    assert.doesNotMatch(status.stdout, /failed:/);
    const json = JSON.parse(
      (await jobs("status", "mix", "job-0000", "--json")).stdout,
    ) as StatusJson;
    assert.deepStrictEqual(
      [json.counts, json.total, json.done, json.retried, json.failures],
      [{ SUCCEEDED: 5 }, 5, 5, { sets: 2, jobs: 1, runs: 3 }, []],
    );
    const watch = await jobs("watch", "mix", "job-0000", "--interval", "1");
    assert.strictEqual(watch.code, 0, watch.stdout + watch.stderr);
    assert.match(watch.stdout, /^SUCCEEDED 5 \(5\/5 done\)$/m);
    // --last: only the retry's runs, which replaced nothing among them.
    const last = JSON.parse((await jobs("status", "--last", "--json")).stdout) as StatusJson;
    assert.deepStrictEqual(
      [last.counts, last.total, last.retried],
      [{ SUCCEEDED: 3 }, 3, undefined],
    );
  });

  it("a set that fails again is one failure, its latest run's; exit 1", async function () {
    await submitAndRetry([2]);
    const status = await jobs("status", "mix", "--json");
    assert.strictEqual(status.code, 1);
    const json = JSON.parse(status.stdout) as StatusJson;
    assert.deepStrictEqual([json.counts, json.total], [{ SUCCEEDED: 3, FAILED: 1 }, 4]);
    assert.deepStrictEqual(
      json.failures.map((f) => [f.jobName, f.index, f.set]),
      [["mix-r1", 1, 2]],
    );
    const human = await jobs("status", "mix");
    assert.match(human.stdout, /^SUCCEEDED 3 \| FAILED 1 \(4\/4 done\)$/m);
    assert.match(human.stdout, /^2 sets retried: .*\(2 earlier runs left out\)$/m);
    assert.match(human.stdout, /^ {2}mix-r1\[1\] \(set 2\) \(/m);
    assert.doesNotMatch(human.stdout, /^ {2}mix\[/m);
  });

  it("logs <sweep>:<set> shows the latest run's log and says which; --run 1 the first", async function () {
    const fake = await submitAndRetry([]);
    const [mix] = fake.named("mix");
    const [mixR1] = fake.named("mix-r1");
    const [solo] = fake.named("job-0000");
    const [soloR1] = fake.named("job-0000-r1");
    const group = STACK_OUTPUTS.logGroupName;
    aws.logs.put(group, mix.children![2].logStreamName!, ["first run of set 2"]);
    aws.logs.put(group, mixR1.children![1].logStreamName!, ["retry of set 2"]);
    aws.logs.put(group, mix.children![0].logStreamName!, ["set 0"]);
    aws.logs.put(group, solo.logStreamName!, ["job first"]);
    aws.logs.put(group, soloR1.logStreamName!, ["job retried"]);

    const latest = await jobs("logs", "mix:2");
    assert.strictEqual(latest.code, 0, latest.stderr);
    assert.strictEqual(latest.stdout, "retry of set 2\n");
    assert.match(
      latest.stderr,
      new RegExp(
        `^mix\\[2\\]: run 2 of 2, mix-r1:1 \\(${mixR1.jobId}:1\\); --run 1 for the first$`,
        "m",
      ),
    );
    const first = await jobs("logs", "mix[2]", "--run", "1");
    assert.strictEqual(first.stdout, "first run of set 2\n");
    assert.match(first.stderr, /run 1 of 2, mix:2 .*leave out --run for the latest/);
    assert.strictEqual((await jobs("logs", "mix:0")).stdout, "set 0\n");
    assert.strictEqual((await jobs("logs", "job-0000")).stdout, "job retried\n");
    assert.strictEqual((await jobs("logs", "job-0000", "--run", "1")).stdout, "job first\n");
    const tooFar = await jobs("logs", "mix:2", "--run", "3");
    assert.strictEqual(tooFar.code, 2);
    assert.match(tooFar.stderr, /mix\[2\] ran 2 time\(s\); --run takes 1-2/);
  });

  it("results of a retried set are the retry's: its log and files replace the first run's", async function () {
    await submitAndRetry([]);
    // As the entrypoint stores them: the failed first run uploads its log only (no
    // results), then the retry, which starts after it ended, its results and log.
    await aws.put("logs/mix/2.log", "first run failed\n");
    const out = path.join(aws.dir, "out");
    assert.strictEqual((await jobs("results", "mix", "--out", out)).code, 0);
    assert.strictEqual(
      fs.readFileSync(path.join(out, "logs/mix/2.log"), "utf8"),
      "first run failed\n",
    );
    await aws.put("logs/mix/2.log", "retry succeeded, results uploaded\n");
    await aws.put("results/mix/2/out.txt", "from the retry\n");
    const again = await jobs("results", "mix", "--out", out);
    assert.strictEqual(again.code, 0, again.stderr);
    assert.strictEqual(
      fs.readFileSync(path.join(out, "logs/mix/2.log"), "utf8"),
      "retry succeeded, results uploaded\n",
    );
    assert.strictEqual(
      fs.readFileSync(path.join(out, "results/mix/2/out.txt"), "utf8"),
      "from the retry\n",
    );
  });
});
