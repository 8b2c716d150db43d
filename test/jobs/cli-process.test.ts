/**
 * The CLI as a real process: Ctrl-C and a hard kill half-way through a submission, then a
 * re-run that submits only what is missing; --help and exit codes.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { parseLedger } from "../../jobs/ledger";
import { lockPath } from "../../jobs/lock";
import { outputsLedgerName } from "../../jobs/outputs";
import { FakeBatch } from "../helpers/fake-batch";
import {
  STACK_OUTPUTS,
  awsEnv,
  runJobs,
  setProcessEnv,
  spawnJobs,
  tempDir,
  writeJobFiles,
  writeOutputs,
  type CliResult,
} from "../helpers/jobs-harness";

const JOBS = 40;

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
  let batch: FakeBatch;
  let dir: string;
  let outputs: string;
  let state: string;
  let ledgerFile: string;
  let restoreEnv: (() => void) | undefined;
  let names: string[];

  beforeEach(async function () {
    // Slow answers, so the run is still going when it is interrupted.
    batch = await FakeBatch.start({ submitDelayMs: 40, autoAdvance: false });
    dir = tempDir("process");
    outputs = writeOutputs(dir, STACK_OUTPUTS);
    state = path.join(dir, "state");
    ledgerFile = path.join(state, outputsLedgerName(STACK_OUTPUTS), "submissions.jsonl");
    names = writeJobFiles(path.join(dir, "jobs"), JOBS);
  });
  afterEach(async function () {
    restoreEnv?.();
    restoreEnv = undefined;
    await batch.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const ledgerLines = (): number =>
    fs.existsSync(ledgerFile) ? parseLedger(fs.readFileSync(ledgerFile, "utf8")).entries.length : 0;
  const argv = (): string[] => [
    "submit",
    "jobs",
    "--outputs",
    outputs,
    "--state-dir",
    state,
    "--concurrency",
    "2",
  ];

  /** Re-runs the same command in-process; returns how many jobs it submitted, and stderr. */
  async function rerun(): Promise<{ submitted: number; stderr: string }> {
    restoreEnv = setProcessEnv(awsEnv({ batch: batch.url }));
    const before = batch.submitted().length;
    const r = await runJobs(argv(), { cwd: dir });
    assert.strictEqual(r.code, 0, r.stderr);
    return { submitted: batch.submitted().length - before, stderr: r.stderr };
  }

  it("Ctrl-C finishes and records the requests in flight, exits 130; the re-run submits the rest", async function () {
    const { child, done } = spawnJobs(argv(), awsEnv({ batch: batch.url }), dir);
    await waitFor(() => ledgerLines() >= 6, done);
    child.kill("SIGINT");
    const r = await done;
    assert.strictEqual(r.code, 130, r.stderr);
    assert.match(r.stderr, /stopping: finishing the requests in flight/);
    const recorded = ledgerLines();
    assert.ok(recorded < JOBS, `stopped early (${recorded} recorded)`);
    assert.strictEqual(batch.submitted().length, recorded, "every accepted job is in the ledger");
    assert.strictEqual(fs.existsSync(lockPath(ledgerFile)), false, "the lock is released");

    const { submitted: resubmitted, stderr } = await rerun();
    assert.strictEqual(resubmitted, JOBS - recorded);
    assert.doesNotMatch(stderr, /lock/);
    assert.deepStrictEqual(
      batch
        .submitted()
        .map((j) => j.jobName)
        .sort(),
      names,
      "each job exactly once",
    );
  });

  it("after a hard kill, the re-run submits exactly the jobs missing from the ledger", async function () {
    const { child, done } = spawnJobs(argv(), awsEnv({ batch: batch.url }), dir);
    await waitFor(() => ledgerLines() >= 6, done);
    child.kill("SIGKILL");
    await done;
    const recorded = ledgerLines();
    assert.ok(fs.existsSync(lockPath(ledgerFile)), "a killed run leaves its lock behind");
    const { submitted: resubmitted, stderr } = await rerun();
    assert.strictEqual(resubmitted, JOBS - recorded);
    assert.match(
      stderr,
      new RegExp(`warning: took over the lock .* left by pid ${child.pid}\\b.*no longer running`),
    );
    // A request AWS accepted in the instant before the kill may be submitted twice (the
    // documented window); none is ever lost.
    assert.deepStrictEqual([...new Set(batch.submitted().map((j) => j.jobName))].sort(), names);
    assert.ok(batch.submitted().length - JOBS <= 2, "at most the in-flight requests repeat");
  });

  it("a second Ctrl-C quits at once and still removes the lock", async function () {
    const { child, done } = spawnJobs(argv(), awsEnv({ batch: batch.url }), dir);
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
    await waitFor(() => ledgerLines() >= 2, done);
    child.kill("SIGINT");
    await waitFor(() => stderr.includes("stopping:"), done);
    child.kill("SIGINT");
    const r = await done;
    assert.strictEqual(r.code, 130, r.stderr);
    assert.strictEqual(fs.existsSync(lockPath(ledgerFile)), false);
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
