/**
 * Exactly-once submission, in-process against the local Batch server: answers lost to a
 * dropped connection, a timeout or a 5xx; ListJobs lagging less and more than the wait;
 * runs frozen at every step (a crash as the ledger and Batch see it); a same-named job of
 * someone else; --force; sweeps. After each, a re-run leaves exactly one job per name.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import fc from "fast-check";
import { Ledger, openIntents, parseLedger } from "../../jobs/state/ledger";
import { lockPath } from "../../jobs/state/lock";
import { TOKEN_TAG } from "../../jobs/input/plan";
import type { CrashPoint, Faults } from "../../jobs/aws/exactly-once";
import type { SubmitFault } from "../helpers/fake-batch";
import {
  STACK_OUTPUTS,
  useLocalAws,
  writeJobFiles,
  type CliResult,
  freezeAt,
} from "../helpers/jobs-harness";

/** Short stand-ins for the 5-minute listing wait and the 30-second request timeout. */
const WAIT_MS = 300;
const TIMEOUT_MS = 300;
const FAST: Faults = { listingWaitMs: WAIT_MS, submitTimeoutMs: TIMEOUT_MS };

describe("jobs:submit exactly once: lost answers, listing lag, crashes", function () {
  const aws = useLocalAws("once", { s3: "memory", batch: { autoAdvance: false } });
  const ledger = () => parseLedger(fs.readFileSync(aws.ledgerFile(), "utf8"));
  const submit = (args: string[], faults: Faults = FAST, signal?: AbortSignal) =>
    aws.jobs(["submit", ...args], { faults, signal });

  /** Each name exactly once in Batch, and the ledger's entry for it is that job. */
  function assertOnePerName(names: readonly string[]): void {
    const jobs = aws.batch.submitted();
    assert.deepStrictEqual(
      jobs.map((j) => j.jobName).sort(),
      [...names].sort(),
      "one job per name",
    );
    const latest = Ledger.open(aws.ledgerFile()).latest();
    for (const j of jobs) {
      assert.strictEqual(latest.get(j.jobName)?.jobId, j.jobId, `${j.jobName} recorded`);
      assert.strictEqual(latest.get(j.jobName)?.token, j.tags?.[TOKEN_TAG], "with its token");
    }
    assert.deepStrictEqual(openIntents(ledger()), [], "no intent left open");
  }

  /**
   * Runs a submission frozen at a crash point; returns once it stands still, with whether
   * it crashed (a run with fewer steps than `at` ends normally).
   */
  async function crashedRun(args: string[], point: CrashPoint, at: number): Promise<boolean> {
    const f = freezeAt(point, at, FAST);
    const exitHandlers = new Set(process.listeners("exit"));
    const run = submit(args, f.faults, f.signal);
    let ended: CliResult | undefined;
    run.then((r) => (ended = r)).catch(() => undefined);
    await Promise.race([f.crashed, run]);
    // Let requests already sent get their answers and their lanes stop at the next step.
    let seen = -1;
    while (seen !== aws.batch.requests.length) {
      seen = aws.batch.requests.length;
      await new Promise((r) => setTimeout(r, 60));
    }
    // A killed process runs no exit handler and leaves its lock file; the next run takes
    // such a lock over (tested in cli-submit).
    for (const handler of process.listeners("exit")) {
      if (!exitHandlers.has(handler)) {
        process.removeListener("exit", handler);
      }
    }
    fs.rmSync(lockPath(aws.ledgerFile()), { force: true });
    return ended === undefined;
  }

  for (const fault of ["drop", "error500", "hang"] as const) {
    it(`an answer lost after AWS accepted the job (${fault}) is found by token, not resent`, async function () {
      const names = writeJobFiles(path.join(aws.dir, "jobs"), 6);
      aws.batch.faultNextSubmits(1, fault);
      const r = await submit(["jobs", "--concurrency", "2"]);
      assert.strictEqual(r.code, 0, r.stderr);
      const lost =
        /note: (job-\d{4}): SubmitJob's answer was lost \(.+\); looking the job up by its token/.exec(
          r.stderr,
        );
      assert.ok(lost, r.stderr);
      assert.match(
        r.stdout,
        new RegExp(`recovered ${lost[1]} .* \\(found in Batch by its submission token\\)`),
      );
      assert.match(r.stdout, /5 submitted, 0 already in the ledger, 1 found in Batch by token/);
      assert.strictEqual(aws.batch.count("submitjob"), 6, "the SDK did not retry the lost one");
      assertOnePerName(names);
      const again = await submit(["jobs"]);
      assert.match(again.stdout, /nothing to submit: all 6 job\(s\) are in the ledger/);
      assertOnePerName(names);
    });
  }

  it("a 5xx before anything was created is resent with the same token after the wait", async function () {
    const names = writeJobFiles(path.join(aws.dir, "jobs"), 3);
    // Exactly one 503: a later job's request must not meet it, however slow the machine.
    aws.batch.failSubmitsAfter(0, 503, "ServerException", 1);
    const r = await submit(["jobs", "--concurrency", "1"]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(aws.batch.count("submitjob", 503), 1, "not retried by the SDK");
    assert.match(r.stderr, /waiting up to \d+ s for Batch's job list/);
    const intents = ledger().intents.filter((i) => i.jobName === "job-0000");
    assert.strictEqual(intents.length, 2, "a second intent line before the resend");
    assert.strictEqual(intents[0].token, intents[1].token, "the same token");
    assert.ok(aws.batch.count("listjobs") >= 1 && aws.batch.count("describejobs") >= 0);
    assertOnePerName(names);
  });

  it("throttling (429) is retried by the SDK without any lookup", async function () {
    const names = writeJobFiles(path.join(aws.dir, "jobs"), 4);
    aws.batch.throttleNext(3);
    const r = await submit(["jobs"]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(aws.batch.count("submitjob", 429), 3);
    assert.strictEqual(aws.batch.count("listjobs"), 0);
    assertOnePerName(names);
  });

  it("a refusal (4xx) closes the intent: the re-run sends it fresh, with no lookup or wait", async function () {
    const names = writeJobFiles(path.join(aws.dir, "jobs"), 4);
    aws.batch.failSubmitsAfter(2);
    const first = await submit(["jobs", "--concurrency", "1"]);
    assert.strictEqual(first.code, 1);
    assert.deepStrictEqual(openIntents(ledger()), []);
    assert.strictEqual(ledger().closed.length, 1);
    aws.batch.failSubmitsAfter(undefined);
    const second = await submit(["jobs"], {});
    assert.strictEqual(second.code, 0, second.stderr);
    assert.strictEqual(aws.batch.count("listjobs"), 0);
    assertOnePerName(names);
  });

  for (const point of ["intent-durable", "answer-received"] as const) {
    it(`a run that crashed at ${point}: the re-run reconciles before sending anything new`, async function () {
      const names = writeJobFiles(path.join(aws.dir, "jobs"), 8);
      assert.ok(await crashedRun(["jobs", "--concurrency", "3"], point, 4));
      assert.ok(openIntents(ledger()).length > 0, "the crash left intents open");
      const before = aws.batch.requests.length;
      const r = await submit(["jobs"]);
      assert.strictEqual(r.code, 0, r.stderr);
      assert.match(r.stderr, /submission\(s\) from an earlier run have no job ID in the ledger/);
      const ops = aws.batch.requests.slice(before).map((q) => q.operation);
      const firstSubmit = ops.indexOf("submitjob");
      assert.ok(ops.indexOf("listjobs") >= 0 && ops.indexOf("listjobs") < firstSubmit, ops.join());
      assertOnePerName(names);
    });
  }

  for (const [point, at] of [
    ["answer-received", 1],
    ["intent-durable", 2],
  ] as const) {
    it(`a sweep and its step, crashed at ${point} of the ${at === 1 ? "sweep" : "step"}: one of each after the re-run`, async function () {
      const dir = path.join(aws.dir, "pipe");
      fs.mkdirSync(dir);
      const env = { environment: [{ name: "save_name", value: "s" }] };
      const grid = { grid: { var_a: [0, 1] }, base: { containerOverrides: env } };
      const step = { dependsOn: [{ jobName: "grid" }], containerOverrides: env };
      fs.writeFileSync(path.join(dir, "grid.json"), JSON.stringify(grid));
      fs.writeFileSync(path.join(dir, "step.json"), JSON.stringify(step));
      assert.ok(await crashedRun(["pipe"], point, at));
      const r = await submit(["pipe"]);
      assert.strictEqual(r.code, 0, r.stderr);
      assertOnePerName(["grid", "step"]);
      const [parent] = aws.batch.named("grid");
      assert.deepStrictEqual(aws.batch.named("step")[0].request.dependsOn, [
        { jobId: parent.jobId },
      ]);
    });
  }

  it("ListJobs lagging less than the wait: the job is found and adopted", async function () {
    const names = writeJobFiles(path.join(aws.dir, "jobs"), 3);
    aws.batch.listLagMs = WAIT_MS / 2;
    assert.ok(await crashedRun(["jobs", "--concurrency", "1"], "answer-received", 2));
    const r = await submit(["jobs"]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(r.stdout, /recovered job-0001 /);
    assertOnePerName(names);
  });

  it("ListJobs lagging more than the wait: sent again with the same token, as documented", async function () {
    const names = writeJobFiles(path.join(aws.dir, "jobs"), 3);
    aws.batch.listLagMs = 60_000;
    assert.ok(await crashedRun(["jobs", "--concurrency", "1"], "answer-received", 2));
    const [lost] = openIntents(ledger());
    const r = await submit(["jobs"]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `note: job-0001: not in Batch's job list [\\d.]+ s after it was sent; sending it again with the same token \\(${lost.token}\\)`,
      ),
    );
    // The documented limit: two jobs with one token; the ledger keeps the one it sent.
    const copies = aws.batch.named("job-0001");
    assert.strictEqual(copies.length, 2);
    assert.deepStrictEqual(
      copies.map((j) => j.tags?.[TOKEN_TAG]),
      [lost.token, lost.token],
    );
    assert.strictEqual(
      Ledger.open(aws.ledgerFile()).latest().get("job-0001")?.jobId,
      copies[1].jobId,
    );
    assert.deepStrictEqual(new Set(aws.batch.submitted().map((j) => j.jobName)), new Set(names));
    // Once the listing catches up, a re-run that looks the token up reports both.
    aws.batch.listLagMs = 0;
    assert.deepStrictEqual(openIntents(ledger()), []);
  });

  it("never adopts a same-named job that lacks the token (someone else's)", async function () {
    const names = writeJobFiles(path.join(aws.dir, "jobs"), 2);
    assert.ok(await crashedRun(["jobs", "--concurrency", "1"], "intent-durable", 1));
    const clients = (await import("../../jobs/aws/api")).createAwsClients({ region: "us-east-1" });
    const foreign = await clients.batch.submitJob({
      jobName: "job-0000",
      jobQueue: STACK_OUTPUTS.jobQueueArn,
      jobDefinition: STACK_OUTPUTS.jobDefinitionArn,
      tags: { [TOKEN_TAG]: "someone-elses-token" },
    });
    clients.destroy();
    const r = await submit(["jobs"]);
    assert.strictEqual(r.code, 0, r.stderr);
    const mine = Ledger.open(aws.ledgerFile()).latest().get("job-0000");
    assert.notStrictEqual(mine?.jobId, foreign.jobId);
    assert.strictEqual(aws.batch.named("job-0000").length, 2, "the foreign job and ours");
    assert.strictEqual(aws.batch.named("job-0001").length, 1);
    assert.deepStrictEqual(openIntents(ledger()), []);
    void names;
  });

  it("--force is a new logical submission; a crashed --force run is completed, not repeated", async function () {
    writeJobFiles(path.join(aws.dir, "jobs"), 2);
    assert.strictEqual((await submit(["jobs"])).code, 0);
    assert.ok(await crashedRun(["jobs", "--force", "--concurrency", "1"], "answer-received", 1));
    const r = await submit(["jobs", "--force"]);
    assert.strictEqual(r.code, 0, r.stderr);
    const tokens = aws.batch.submitted().map((j) => j.tags?.[TOKEN_TAG]);
    assert.strictEqual(new Set(tokens).size, 4, "every logical submission has its own token");
    assert.strictEqual(aws.batch.named("job-0000").length, 2, "first run + the forced one");
    assert.strictEqual(aws.batch.named("job-0001").length, 2);
    assert.deepStrictEqual(openIntents(ledger()), []);
  });

  it("array sweeps and --no-array sweeps get the same guarantee", async function () {
    fs.writeFileSync(
      path.join(aws.dir, "sw.json"),
      JSON.stringify({
        jobName: "sw",
        base: { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } },
        grid: { var_a: [1, 2, 3, 4] },
      }),
    );
    aws.batch.faultNextSubmits(1, "drop");
    const arr = await submit(["sw.json"]);
    assert.strictEqual(arr.code, 0, arr.stderr);
    assert.strictEqual(aws.batch.named("sw").length, 1);
    assert.match(arr.stdout, /recovered sw .* \(array of 4\)/);

    assert.ok(
      await crashedRun(["sw.json", "--no-array", "--concurrency", "2"], "answer-received", 2),
    );
    const r = await submit(["sw.json", "--no-array"]);
    assert.strictEqual(r.code, 0, r.stderr);
    for (const name of ["sw-0", "sw-1", "sw-2", "sw-3"]) {
      assert.strictEqual(aws.batch.named(name).length, 1, name);
    }
    assert.deepStrictEqual(openIntents(ledger()), []);
  });

  it("refuses files that set the token tag or use all 50 tags, before any call", async function () {
    writeJobFiles(path.join(aws.dir, "a"), 1, { tags: { [TOKEN_TAG]: "x" } });
    const tags = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`t${i}`, "v"]));
    writeJobFiles(path.join(aws.dir, "b"), 1, { tags });
    const r = await submit(["a", "b/job-0000.json"]);
    assert.strictEqual(r.code, 2);
    assert.match(
      r.stderr,
      /tags\.batchpy:submission-token: "batchpy:submission-token" is set by jobs:submit/,
    );
    assert.match(
      r.stderr,
      /has 50 tags; jobs:submit adds "batchpy:submission-token" and AWS allows 50; remove at least 1/,
    );
    assert.strictEqual(aws.batch.requests.length, 0);
  });

  it("property: random crash points and lost answers, then a re-run: names map one-to-one to jobs", async function () {
    this.timeout(240_000);
    const N = 6;
    const names = writeJobFiles(path.join(aws.dir, "jobs"), N);
    let round = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.option(
          fc.record({
            point: fc.constantFrom<CrashPoint>("intent-durable", "answer-received"),
            at: fc.integer({ min: 1, max: N }),
          }),
          { nil: undefined },
        ),
        fc.array(fc.constantFrom<SubmitFault>("drop", "error500"), { maxLength: 3 }),
        fc.integer({ min: 0, max: WAIT_MS / 2 }),
        fc.integer({ min: 1, max: 3 }),
        async (crash, faults, lag, concurrency) => {
          // A fresh stack per case: its own ledger, its own queue in the same server.
          aws.state = path.join(aws.dir, `state-${round++}`);
          await aws.startBatch({ autoAdvance: false });
          aws.batch.listLagMs = lag;
          faults.forEach((f) => aws.batch.faultNextSubmits(1, f));
          const args = ["jobs", "--concurrency", String(concurrency)];
          if (crash !== undefined) {
            await crashedRun(args, crash.point, crash.at);
          } else {
            await submit(args);
          }
          const again = await submit(["jobs"]);
          assert.strictEqual(again.code, 0, again.stderr);
          assertOnePerName(names);
        },
      ),
      { numRuns: 15 },
    );
  });
});
