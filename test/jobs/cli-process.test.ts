/**
 * The CLI as a real process: Ctrl-C and a hard kill half-way through a submission, SIGKILL
 * at each step of the exactly-once protocol (after the intent is on disk, after the request
 * was sent but before its answer, after the answer but before the job ID is written), then
 * a re-run that leaves exactly one job per name; --help and exit codes.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { openIntents, parseLedger } from "../../jobs/state/ledger";
import { lockPath } from "../../jobs/state/lock";
import type { FakeBatch } from "../helpers/fake-batch";
import {
  awsEnv,
  runJobs,
  useLocalAws,
  spawnJobs,
  writeJobFiles,
  type CliResult,
} from "../helpers/jobs-harness";

const JOBS = 40;

/** Short stand-ins for the 5-minute listing wait and the 30-second SubmitJob timeout. */
const FAST = { listingWaitMs: 300, submitTimeoutMs: 1000 };

/** Exactly one Batch job per name, every name there, no intent left open. */
function assertOnePerName(batch: FakeBatch, names: readonly string[], ledgerFile: string): void {
  assert.deepStrictEqual(
    batch
      .submitted()
      .map((j) => j.jobName)
      .sort(),
    [...names].sort(),
  );
  const parsed = parseLedger(fs.readFileSync(ledgerFile, "utf8"));
  assert.deepStrictEqual(openIntents(parsed), []);
  const latest = new Map(parsed.entries.map((e) => [e.jobName, e.jobId]));
  for (const j of batch.submitted()) {
    assert.strictEqual(latest.get(j.jobName), j.jobId, j.jobName);
  }
}

/** Polls `check`; fails early with the child's output if it ended first. */
async function waitFor(
  check: () => boolean,
  done: Promise<CliResult>,
  timeoutMs = 30_000,
): Promise<void> {
  const start = Date.now();
  let ended: CliResult | undefined;
  void done.then((r) => (ended = r));
  while (!check()) {
    if (ended !== undefined) {
      throw new Error(`the CLI ended first (exit ${ended.code}): ${ended.stderr}`);
    }
    if (Date.now() - start > timeoutMs) {
      throw new Error("timed out waiting");
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("jobs CLI as a process: interrupted submissions resume from the ledger", function () {
  // Slow answers, so the run is still going when it is interrupted.
  const aws = useLocalAws("process", {
    s3: "memory",
    batch: { submitDelayMs: 40, autoAdvance: false },
  });
  let names: string[];
  beforeEach(function () {
    names = writeJobFiles(path.join(aws.dir, "jobs"), JOBS);
  });

  const ledgerLines = (): number =>
    fs.existsSync(aws.ledgerFile())
      ? parseLedger(fs.readFileSync(aws.ledgerFile(), "utf8")).entries.length
      : 0;
  const argv = (): string[] => [
    "submit",
    "jobs",
    "--outputs",
    aws.outputs,
    "--state-dir",
    aws.state,
    "--concurrency",
    "2",
  ];

  /** Re-runs the same command in-process; returns how many jobs it submitted, and stderr. */
  async function rerun(): Promise<{ submitted: number; stderr: string }> {
    const before = aws.batch.submitted().length;
    const r = await runJobs(argv(), { cwd: aws.dir, faults: FAST });
    assert.strictEqual(r.code, 0, r.stderr);
    return { submitted: aws.batch.submitted().length - before, stderr: r.stderr };
  }

  it("Ctrl-C finishes and records the requests in flight, exits 130; the re-run submits the rest", async function () {
    const { child, done } = spawnJobs(
      argv(),
      awsEnv({ batch: aws.batch.url, s3: aws.s3.url }),
      aws.dir,
    );
    await waitFor(() => ledgerLines() >= 6, done);
    child.kill("SIGINT");
    const r = await done;
    assert.strictEqual(r.code, 130, r.stderr);
    assert.match(r.stderr, /stopping: finishing the requests in flight/);
    const recorded = ledgerLines();
    assert.ok(recorded < JOBS, `stopped early (${recorded} recorded)`);
    assert.strictEqual(
      aws.batch.submitted().length,
      recorded,
      "every accepted job is in the ledger",
    );
    assert.strictEqual(fs.existsSync(lockPath(aws.ledgerFile())), false, "the lock is released");

    const { submitted: resubmitted, stderr } = await rerun();
    assert.strictEqual(resubmitted, JOBS - recorded);
    assert.doesNotMatch(stderr, /lock/);
    assert.deepStrictEqual(
      aws.batch
        .submitted()
        .map((j) => j.jobName)
        .sort(),
      names,
      "each job exactly once",
    );
  });

  it("after a hard kill at a random moment, the re-run leaves exactly one job per name", async function () {
    const { child, done } = spawnJobs(
      argv(),
      awsEnv({ batch: aws.batch.url, s3: aws.s3.url }),
      aws.dir,
    );
    await waitFor(() => ledgerLines() >= 6, done);
    child.kill("SIGKILL");
    await done;
    const recorded = ledgerLines();
    assert.ok(fs.existsSync(lockPath(aws.ledgerFile())), "a killed run leaves its lock behind");
    const { stderr } = await rerun();
    assert.match(
      stderr,
      new RegExp(`warning: took over the lock .* left by pid ${child.pid}\\b.*no longer running`),
    );
    assert.ok(recorded < JOBS);
    // Requests in flight at the kill are found by their token, not sent twice.
    assertOnePerName(aws.batch, names, aws.ledgerFile());
  });

  for (const [label, crash] of [
    ["after its intent is on disk, before the request", { point: "intent-durable", at: 5 }],
    ["after SubmitJob answered, before the job ID is written", { point: "answer-received", at: 5 }],
  ] as const) {
    it(`SIGKILL ${label}: the re-run leaves one job per name`, async function () {
      const { done } = spawnJobs(
        argv(),
        awsEnv({ batch: aws.batch.url, s3: aws.s3.url }),
        aws.dir,
        { crash },
      );
      const r = await done;
      assert.strictEqual(r.code, 137, r.stderr);
      assert.ok(openIntents(parseLedger(fs.readFileSync(aws.ledgerFile(), "utf8"))).length > 0);
      const again = await rerun();
      assert.match(again.stderr, /from an earlier run have no job ID in the ledger/);
      assertOnePerName(aws.batch, names, aws.ledgerFile());
    });
  }

  it("SIGKILL after the request was sent, before its answer: the re-run adopts the job", async function () {
    const env = awsEnv({ batch: aws.batch.url, s3: aws.s3.url });
    const { child, done } = spawnJobs(argv(), env, aws.dir);
    await waitFor(() => ledgerLines() >= 4, done);
    // The next request AWS accepts keeps its answer: kill the CLI while it waits for it.
    aws.batch.faultNextSubmits(1, "pause");
    await waitFor(() => aws.batch.pausedCount() === 1, done);
    const held = aws.batch.requests.filter((q) => q.fault === "pause").length;
    assert.strictEqual(held, 1);
    child.kill("SIGKILL");
    await done;
    const pausedJob = aws.batch
      .submitted()
      .find(
        (j) =>
          !parseLedger(fs.readFileSync(aws.ledgerFile(), "utf8")).entries.some(
            (e) => e.jobId === j.jobId,
          ),
      );
    assert.ok(pausedJob !== undefined, "accepted by Batch, unknown to the ledger");
    const again = await rerun();
    assert.match(again.stderr, /from an earlier run have no job ID in the ledger/);
    assertOnePerName(aws.batch, names, aws.ledgerFile());
    assert.ok(
      parseLedger(fs.readFileSync(aws.ledgerFile(), "utf8")).entries.some(
        (e) => e.jobId === pausedJob.jobId,
      ),
      "adopted by its token",
    );
  });

  it("a second Ctrl-C quits at once and still removes the lock", async function () {
    const { child, done } = spawnJobs(
      argv(),
      awsEnv({ batch: aws.batch.url, s3: aws.s3.url }),
      aws.dir,
    );
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
    await waitFor(() => ledgerLines() >= 2, done);
    child.kill("SIGINT");
    await waitFor(() => stderr.includes("stopping:"), done);
    child.kill("SIGINT");
    const r = await done;
    assert.strictEqual(r.code, 130, r.stderr);
    assert.strictEqual(fs.existsSync(lockPath(aws.ledgerFile())), false);
  });

  it("--help works on every command and bad flags exit 2", async function () {
    for (const cmd of ["submit", "watch", "status", "logs", "results", "cancel"]) {
      const r = await runJobs([cmd, "--help"]);
      assert.strictEqual(r.code, 0, cmd);
      assert.match(r.stdout, /Exit codes:/, cmd);
    }
    const top = await runJobs(["--help"]);
    assert.match(top.stdout, /submit \[options\] <inputs\.\.\.>/);
    const bad = await runJobs(["submit", "x.json", "--concurrency", "0"]);
    assert.strictEqual(bad.code, 2);
    assert.match(bad.stderr, /expected a whole number of at least 1/);
    const unknown = await runJobs(["submit", "x.json", "--bogus"]);
    assert.strictEqual(unknown.code, 2);
  });
});
