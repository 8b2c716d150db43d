/**
 * Exactly once across machines: two state folders (two machines' ledgers) submitting to one
 * stack, whose claims live in its bucket, against the project's S3 with atomic conditional
 * writes (MemoryS3): simultaneous runs, a lost PUT answer, a 409, a refused write to the
 * state prefix, a claim whose sender died, the same name with another request.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { Ledger, ledgerPath } from "../../jobs/state/ledger";
import { lockPath } from "../../jobs/state/lock";
import { stackStateName } from "../../jobs/input/outputs";
import { TOKEN_TAG } from "../../jobs/input/plan";
import type { CrashPoint, Faults } from "../../jobs/aws/exactly-once";
import { Claims, claimKey, type Claim } from "../../jobs/aws/claims";
import { createAwsClients } from "../../jobs/aws/api";
import { withStack } from "../../jobs/context";
import type { FaultSpec } from "../helpers/cli-with-faults";
import {
  STACK_OUTPUTS,
  awsEnv,
  freezeAt,
  runJobs,
  spawnJobs,
  testContext,
  useLocalAws,
  writeJobFiles,
} from "../helpers/jobs-harness";

const FAST: Faults = { listingWaitMs: 300, submitTimeoutMs: 300 };
/**
 * For real processes racing on a loaded machine (a fresh clone's cold caches, three test
 * workers and the checks on two cores): a process starved for seconds would leave a live
 * claim open past a short wait, and another would take it over (the wait in use is
 * minutes), or find every SubmitJob answer late and never reach the step it is to die at.
 * Only a dead process's claims make anyone wait this long.
 */
const SPAWNED: FaultSpec = { listingWaitMs: 5000, submitTimeoutMs: 3000 };

describe("jobs:submit claims: one job per name across machines", function () {
  const aws = useLocalAws("claims", { s3: "memory", batch: { autoAdvance: false } });

  /** `jobs submit <args>` with the ledger in `machine`'s own state folder. */
  const submitFrom = (machine: string, args: string[], faults = FAST, signal?: AbortSignal) =>
    runJobs(
      ["submit", ...args, "--outputs", aws.outputs, "--state-dir", path.join(aws.dir, machine)],
      { cwd: aws.dir, faults, ...(signal !== undefined ? { signal } : {}) },
    );
  /** The same as a real process, with `spec`'s faults (a SIGKILL at a crash point). */
  const spawnFrom = (machine: string, folder: string, spec: FaultSpec) =>
    spawnJobs(
      ["submit", folder, "--outputs", aws.outputs, "--state-dir", path.join(aws.dir, machine)],
      awsEnv({ batch: aws.batch.url, s3: aws.s3.url }),
      aws.dir,
      spec,
    );
  const ledgerOf = (machine: string) =>
    Ledger.open(ledgerPath(path.join(aws.dir, machine), stackStateName(STACK_OUTPUTS)));

  /**
   * A run of `machine` frozen once its first intent is on disk, as after a SIGKILL: its
   * claim is made, nothing is sent, and its lock goes as a killed process's is taken over.
   */
  async function crash(machine: string): Promise<void> {
    const exitHandlers = new Set(process.listeners("exit"));
    const f = freezeAt("intent-durable", 1, FAST);
    void submitFrom(machine, ["jobs", "--concurrency", "1"], f.faults, f.signal);
    await f.crashed;
    for (const handler of process.listeners("exit")) {
      if (!exitHandlers.has(handler)) {
        process.removeListener("exit", handler);
      }
    }
    fs.rmSync(lockPath(ledgerOf(machine).file), { force: true });
  }

  /** FAST's waits, and `stall` run once, at the run's first durable intent. */
  function stallAfterIntent(stall: () => Promise<unknown>): Faults {
    let stalled = false;
    return {
      ...FAST,
      checkpoint: async (point) => {
        if (point === "intent-durable" && !stalled) {
          stalled = true;
          await stall();
        }
      },
    };
  }

  /** job-0000 … job-0002 but `name`. */
  const names3 = (name: string) => ["job-0000", "job-0001", "job-0002"].filter((n) => n !== name);

  /** One Batch job per name of `names`, and every machine's ledger records that job. */
  function assertOneJobPerName(names: readonly string[], machines: readonly string[]): void {
    const wanted = new Set(names);
    const jobs = aws.batch.submitted().filter((j) => wanted.has(j.jobName));
    assert.deepStrictEqual(jobs.map((j) => j.jobName).sort(), [...names].sort());
    for (const machine of machines) {
      const latest = ledgerOf(machine).latest();
      for (const j of jobs) {
        assert.strictEqual(latest.get(j.jobName)?.jobId, j.jobId, `${machine}: ${j.jobName}`);
        assert.strictEqual(latest.get(j.jobName)?.token, j.tags?.[TOKEN_TAG]);
      }
    }
  }

  it("two processes with two state folders sending the same 300 files at the same moment make 300 jobs, both ledgers hold them", async function () {
    const names = writeJobFiles(path.join(aws.dir, "jobs"), 300);
    const [a, b] = await Promise.all(["a", "b"].map((m) => spawnFrom(m, "jobs", SPAWNED).done));
    assert.strictEqual(a.code, 0, a.stderr);
    assert.strictEqual(b.code, 0, b.stderr);
    assertOneJobPerName(names, ["a", "b"]);
    assert.match(
      a.stderr + b.stderr,
      /note: job-\d{4}: already sent as \S+ by \S+@\S+ at \S+ \(claim s3:\/\/batchpy-test-bucket\/state\/claims\/job-\d{4}\/0\.json\); recorded in this ledger, not sent again/,
    );
    const claim = JSON.parse(
      aws.memoryS3.objects.get("state/claims/job-0007/0.json")!.body.toString(),
    );
    assert.strictEqual(
      claim.job.jobId,
      aws.findJob("job-0007").jobId,
      "the claim holds the job ID",
    );
  });

  // Each case has job names of its own, so the cases share the servers and run at once; 30
  // files a case keep the matrix quick (the 300-file race above is the same path, unkilled).
  it("both processes SIGKILLed, each at every step of a submission, then re-run: one job per name, in both ledgers", async function () {
    const points: readonly CrashPoint[] = [
      "claim-created",
      "intent-durable",
      "answer-received",
      "claim-answered",
    ];
    await Promise.all(
      points.map(async (point, n) => {
        const names = writeJobFiles(path.join(aws.dir, point), 30, {}, point);
        const machines = [`${point}-a`, `${point}-b`];
        // A dies at this step, B at the next one, later: B runs on beside A's wreck a while.
        const crashes = [
          { point, at: 2 },
          { point: points[(n + 1) % points.length], at: 5 },
        ];
        const killed = await Promise.all(
          machines.map((m, i) => spawnFrom(m, point, { ...SPAWNED, crash: crashes[i] }).done),
        );
        killed.forEach((r) => assert.strictEqual(r.code, 137, `${point}: ${r.stderr}`));
        const again = await Promise.all(machines.map((m) => submitFrom(m, [point], SPAWNED)));
        again.forEach((r) => assert.strictEqual(r.code, 0, `${point}: ${r.stderr}`));
        assertOneJobPerName(names, machines);
      }),
    );
  });

  it("two processes, one SIGKILLed mid-way: one job per name, in both ledgers after its re-run", async function () {
    const names = writeJobFiles(path.join(aws.dir, "jobs"), 50);
    const killed = spawnFrom("a", "jobs", {
      ...SPAWNED,
      crash: { point: "intent-durable", at: 10 },
    });
    // B starts once A sends: A then reaches its tenth intent before B can claim every name.
    let exited = false;
    void killed.done.then(() => (exited = true));
    while (!exited && ledgerOf("a").intents.length === 0) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const other = spawnFrom("b", "jobs", SPAWNED);
    const [a, b] = await Promise.all([killed.done, other.done]);
    assert.strictEqual(a.code, 137, a.stderr);
    assert.strictEqual(b.code, 0, b.stderr);
    const again = await submitFrom("a", ["jobs"], SPAWNED);
    assert.strictEqual(again.code, 0, again.stderr);
    assertOneJobPerName(names, ["a", "b"]);
  });

  it("a lost PUT answer and a 409 are settled by reading the claim", async function () {
    const names = writeJobFiles(path.join(aws.dir, "jobs"), 4);
    aws.memoryS3.dropNextPuts(2);
    aws.memoryS3.conflictNextPuts(2);
    const r = await submitFrom("a", ["jobs", "--concurrency", "1"]);
    assert.strictEqual(r.code, 0, r.stderr);
    assertOneJobPerName(names, ["a"]);
  });

  it("of two runs taking one claim over with the same token and time, one wins", async function () {
    const clients = [0, 1].map(() => createAwsClients());
    try {
      const bucket = STACK_OUTPUTS.bucketName;
      const [a, b] = await Promise.all(clients.map((c) => Claims.open(c.storage, bucket, "u@h")));
      const key = claimKey("job-0000", 0);
      const at = "2026-01-01T00:00:00.000Z";
      const intent = { v: 1, type: "intent", jobName: "job-0000", kind: "single" } as const;
      const line = { ...intent, hash: "h", run: at, token: "t", jobQueue: "q", at };
      const claim: Claim = { v: 1, intent: line, who: "u@h", at };
      assert.strictEqual((await a.put(key, claim)).ours, true);
      const seen = await Promise.all([a.read(key), b.read(key)]);
      const taken = { ...claim, at: "2026-01-01T00:10:00.000Z" };
      const won = await Promise.all(
        [a, b].map(async (c, i) => (await c.put(key, taken, seen[i]?.etag))?.ours),
      );
      assert.deepStrictEqual(won.sort(), [false, true]);
    } finally {
      clients.forEach((c) => c.destroy());
    }
  });

  it("credentials that may not use the state prefix stop the run before anything is sent", async function () {
    writeJobFiles(path.join(aws.dir, "jobs"), 2);
    aws.memoryS3.denyPrefix("state/");
    try {
      const r = await submitFrom("a", ["jobs"]);
      assert.strictEqual(r.code, 1);
      assert.match(
        r.stderr,
        /s3:(ListBucket|PutObject|GetObject) on arn:aws:s3:::batchpy-test-bucket\S* .*was refused .*grant s3:\w+ on arn:aws:s3:::batchpy-test-bucket.*; nothing was submitted/,
      );
      assert.strictEqual(aws.batch.requests.length, 0);
    } finally {
      aws.memoryS3.denyPrefix(undefined);
    }
  });

  it("a claim whose sender died is taken over after the wait and sent with its token", async function () {
    const names = writeJobFiles(path.join(aws.dir, "jobs"), 3);
    await crash("a");
    const [dead] = ledgerOf("a").openIntents();
    // Long enough that a loaded machine still starts B inside A's wait, which B then notes.
    const r = await submitFrom("b", ["jobs"], { ...FAST, listingWaitMs: 3000 });
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`note: ${dead.jobName}: \\S+ claimed it at .* and has no job ID yet`),
    );
    assertOneJobPerName(names, ["b"]);
    assert.strictEqual(
      aws.findJob(dead.jobName).tags?.[TOKEN_TAG],
      dead.token,
      "the claim's token",
    );
  });

  it("a run stalled past the wait, whose claim another run took over and sent, adopts that job", async function () {
    const names = writeJobFiles(path.join(aws.dir, "jobs"), 1);
    // A stalls after its intent, long enough for B to wait its claim out and take it over.
    const a = await submitFrom(
      "a",
      ["jobs"],
      stallAfterIntent(async () => {
        const b = await submitFrom("b", ["jobs"]);
        assert.strictEqual(b.code, 0, b.stderr);
      }),
    );
    assert.strictEqual(a.code, 0, a.stderr);
    assert.match(
      a.stderr,
      /job-0000: its claim was taken over, or is old enough to be, while this run was slow/,
    );
    assertOneJobPerName(names, ["a", "b"]);
  });

  it("a run stalled past the wait sends only once it has looked its claim's token up", async function () {
    const names = writeJobFiles(path.join(aws.dir, "jobs"), 1);
    // Past FAST's 300 ms wait: another run could be taking the claim over by now.
    const stall = stallAfterIntent(() => new Promise((r) => setTimeout(r, 400)));
    const a = await submitFrom("a", ["jobs"], stall);
    assert.strictEqual(a.code, 0, a.stderr);
    assert.match(a.stderr, /job-0000: its claim was taken over, or is old enough to be/);
    assert.match(
      a.stderr,
      /job-0000: not in Batch's job list .* sending it again with the same token/,
    );
    assertOneJobPerName(names, ["a"]);
  });

  it("recovery that closes an intent closes its claim: no other machine waits for it, a changed file goes as it is", async function () {
    writeJobFiles(path.join(aws.dir, "jobs"), 3);
    await crash("a");
    const [open] = ledgerOf("a").openIntents();
    const key = `state/claims/${open.jobName}/0.json`;
    const others = names3(open.jobName).map((n) => `jobs/${n}.json`);
    const r = await submitFrom("a", others);
    assert.strictEqual(r.code, 0, r.stderr);
    const claim = JSON.parse(aws.memoryS3.objects.get(key)!.body.toString());
    assert.match(claim.closed, /not in this run/);
    const changed = { save_name: "changed" };
    writeJobFiles(path.join(aws.dir, "jobs"), 3, { parameters: changed });
    const b = await submitFrom("b", [`jobs/${open.jobName}.json`]);
    assert.strictEqual(b.code, 0, b.stderr);
    assert.doesNotMatch(b.stderr, /waiting/, "closed: nothing to wait for");
    assert.deepStrictEqual(aws.findJob(open.jobName).request.parameters, changed);
  });

  it("a re-run after a crash sends an open name's changed file, closing the earlier claim", async function () {
    writeJobFiles(path.join(aws.dir, "jobs"), 2);
    await crash("a");
    const [open] = ledgerOf("a").openIntents();
    const changed = { save_name: "changed" };
    writeJobFiles(path.join(aws.dir, "jobs"), 2, { parameters: changed });
    const r = await submitFrom("a", ["jobs"]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(aws.batch.named(open.jobName).length, 1);
    assert.deepStrictEqual(aws.findJob(open.jobName).request.parameters, changed);
  });

  it("the same name with another request is refused, naming who and when, unless --force", async function () {
    writeJobFiles(path.join(aws.dir, "jobs"), 2);
    assert.strictEqual((await submitFrom("a", ["jobs"])).code, 0);
    writeJobFiles(path.join(aws.dir, "other"), 2, { tags: { team: "b" } });
    const sent = aws.batch.count("submitjob");
    const r = await submitFrom("b", ["other"]);
    assert.strictEqual(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /other\/job-0000\.json: job-0000 was already submitted with another request by \S+@\S+ at \S+ \(s3:\/\/batchpy-test-bucket\/state\/claims\/job-0000\/0\.json\); pass --force/,
    );
    assert.strictEqual(aws.batch.count("submitjob"), sent, "nothing sent");
    const forced = await submitFrom("b", ["other", "--force"]);
    assert.strictEqual(forced.code, 0, forced.stderr);
    assert.strictEqual(aws.batch.named("job-0000").length, 2);
    assert.ok(aws.memoryS3.objects.has("state/claims/job-0000/1.json"), "the next generation");
  });

  it("a claim whose text could forge a line is refused, naming its key and field, and nothing is sent under its name", async function () {
    writeJobFiles(path.join(aws.dir, "jobs"), 1);
    assert.strictEqual((await submitFrom("a", ["jobs"])).code, 0);
    const key = "state/claims/job-0000/0.json";
    const claim = JSON.parse(aws.memoryS3.objects.get(key)!.body.toString());
    aws.memoryS3.put(key, JSON.stringify({ ...claim, who: "x\nnote: forged \u001b[2K" }));
    const sent = aws.batch.count("submitjob");
    const r = await submitFrom("b", ["jobs"]);
    assert.strictEqual(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /s3:\/\/batchpy-test-bucket\/state\/claims\/job-0000\/0\.json is not a claim jobs:submit can read \(who: holds control characters\)/,
    );
    assert.doesNotMatch(r.stderr, /^note: forged/m);
    assert.strictEqual(aws.batch.count("submitjob"), sent, "nothing sent");
    const status = await runJobs(
      ["status", "--outputs", aws.outputs, "--state-dir", path.join(aws.dir, "c")],
      { cwd: aws.dir },
    );
    assert.match(
      status.stderr,
      /warning: left out s3:\/\/batchpy-test-bucket\/state\/claims\/job-0000\/0\.json \(who: holds control characters\)/,
    );
    assert.doesNotMatch(status.stdout + status.stderr, /forged/, "not added from the stack");
  });

  it("three labels of one stack share one ledger and one lock: one job per name", async function () {
    const names = writeJobFiles(path.join(aws.dir, "jobs"), 3);
    // An older version's ledger under the label "dev": moved into the stack's one ledger.
    const byLabel = ledgerPath(path.join(aws.dir, "a"), "dev");
    fs.mkdirSync(path.dirname(byLabel), { recursive: true });
    fs.writeFileSync(byLabel, "");
    for (const label of [["--stack", "dev"], ["--stack", "org/p/dev"], []]) {
      const r = await submitFrom("a", ["jobs", ...label]);
      assert.strictEqual(r.code, 0, r.stderr);
    }
    assertOneJobPerName(names, ["a"]);
    assert.strictEqual(fs.existsSync(byLabel), false, "moved");
  });

  it("a dry run reads a ledger still under a label without moving it", async function () {
    writeJobFiles(path.join(aws.dir, "jobs"), 2);
    const byLabel = ledgerPath(path.join(aws.dir, "a"), "dev");
    fs.mkdirSync(path.dirname(byLabel), { recursive: true });
    const line = { v: 1, jobName: "job-0000", jobId: "id-0", kind: "single", hash: "h", run: "r" };
    fs.writeFileSync(
      byLabel,
      `${JSON.stringify({ ...line, submittedAt: "2026-01-01T00:00:00Z" })}\n`,
    );
    const r = await submitFrom("a", ["jobs", "--stack", "dev", "--dry-run", "--json"]);
    assert.strictEqual(r.code, 0, r.stderr);
    const preview = JSON.parse(r.stdout);
    assert.deepStrictEqual(
      preview.skipped.map((j: { jobId: string }) => j.jobId),
      ["id-0"],
      "read",
    );
    assert.ok(fs.existsSync(byLabel), "not moved");
    assert.strictEqual(fs.existsSync(ledgerOf("a").file), false, "nothing written");
  });

  it("after a crash, names never tried are sent without waiting for the open ones", async function () {
    const names = writeJobFiles(path.join(aws.dir, "jobs"), 6);
    await crash("a");
    const [open] = ledgerOf("a").openIntents();
    const before = aws.batch.requests.length;
    const r = await submitFrom("a", ["jobs"], { ...FAST, listingWaitMs: 1500 });
    assert.strictEqual(r.code, 0, r.stderr);
    assertOneJobPerName(names, ["a"]);
    const sends = aws.batch.requests
      .slice(before)
      .filter((q) => q.operation === "submitjob")
      .map((q) => (q.body as { jobName: string }).jobName);
    assert.notStrictEqual(sends[0], open.jobName, `untried names first: ${sends.join()}`);
    assert.strictEqual(sends[sends.length - 1], open.jobName);
  });

  it("a command that reads the stack closes its ledger as it ends, with a bucket or without", async function () {
    writeJobFiles(path.join(aws.dir, "jobs"), 1);
    assert.strictEqual((await submitFrom("a", ["jobs"])).code, 0);
    const bare = path.join(aws.dir, "bare.json");
    fs.writeFileSync(bare, JSON.stringify({ region: STACK_OUTPUTS.region }));
    const io = { stdout: { write: () => true }, stderr: { write: () => true } };
    for (const outputs of [aws.outputs, bare]) {
      let fd = -1;
      const flags = { outputs, stateDir: path.join(aws.dir, "c"), json: false };
      await withStack(flags, testContext(io, { cwd: aws.dir }), async ({ ledger }) => {
        fd = ledger.openForAppend();
      });
      assert.throws(() => fs.fstatSync(fd), { code: "EBADF" }, outputs);
    }
  });

  it("a third machine's status, results and report show and fetch the jobs the others sent", async function () {
    const names = writeJobFiles(path.join(aws.dir, "jobs"), 3);
    assert.strictEqual((await submitFrom("a", ["jobs"])).code, 0);
    aws.batch.finishAll();
    aws.memoryS3.put("results/job-0001/out.txt", "from a");
    const stack = ["--outputs", aws.outputs, "--state-dir", path.join(aws.dir, "c")];
    const status = await runJobs(["status", ...stack], { cwd: aws.dir });
    assert.strictEqual(status.code, 0, status.stderr);
    assert.match(
      status.stderr,
      /note: 3 job\(s\) sent from other machines added to the ledger from the stack's claims/,
    );
    names.forEach((name) => assert.match(status.stdout, new RegExp(`${name}\\b`)));
    assertOneJobPerName(names, ["a", "c"]);
    const out = path.join(aws.dir, "fetched");
    const results = await runJobs(["results", "job-0001", "--out", out, ...stack], {
      cwd: aws.dir,
    });
    assert.strictEqual(results.code, 0, results.stderr);
    assert.strictEqual(
      fs.readFileSync(path.join(out, "results", "job-0001", "out.txt"), "utf8"),
      "from a",
    );
    const again = await runJobs(["status", ...stack], { cwd: aws.dir });
    assert.doesNotMatch(again.stderr, /added to the ledger/, "the ledger is the cache now");
    const fourth = ["--outputs", aws.outputs, "--state-dir", path.join(aws.dir, "d")];
    const report = await runJobs(["report", "--json", ...fourth], { cwd: aws.dir });
    assert.strictEqual(report.code, 0, report.stderr);
    const rows = (JSON.parse(report.stdout) as { rows: { name: string }[] }).rows;
    assert.deepStrictEqual(rows.map((r) => r.name).sort(), names);
  });

  it("a ledger from before claims is uploaded once; where two disagree, the first stands", async function () {
    writeJobFiles(path.join(aws.dir, "jobs"), 1);
    const legacy = (machine: string, jobId: string): void => {
      const file = ledgerOf(machine).file;
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const line = { v: 1, jobName: "old", jobId, kind: "single", hash: "h", run: "r" };
      fs.writeFileSync(
        file,
        `${JSON.stringify({ ...line, submittedAt: "2026-01-01T00:00:00Z" })}\n`,
      );
    };
    legacy("a", "id-a");
    legacy("b", "id-b");
    const a = await submitFrom("a", ["jobs"]);
    assert.strictEqual(a.code, 0, a.stderr);
    assert.match(a.stderr, /note: uploaded 1 job\(s\) this ledger recorded before claims/);
    const b = await submitFrom("b", ["jobs"]);
    assert.strictEqual(b.code, 0, b.stderr);
    assert.match(
      b.stderr,
      /note: old: this ledger has id-b, the stack's claim \(\S+@\S+, 2026-01-01T00:00:00Z\) has id-a; the claim stands/,
    );
    assert.strictEqual(ledgerOf("b").latest().get("old")?.jobId, "id-a");
    const again = await submitFrom("a", ["jobs"]);
    assert.doesNotMatch(again.stderr, /uploaded|the claim stands/, "once");
    // A legacy name forced in the run that uploads it goes out as its next generation.
    legacy("c", "id-c");
    fs.writeFileSync(
      path.join(aws.dir, "jobs", "old.json"),
      JSON.stringify({
        jobName: "old",
        containerOverrides: { environment: [{ name: "save_name", value: "o" }] },
      }),
    );
    const forced = await submitFrom("c", ["jobs/old.json", "--force"]);
    assert.strictEqual(forced.code, 0, forced.stderr);
    assert.strictEqual(aws.batch.named("old").length, 1, "sent, not adopted");
    assert.ok(aws.memoryS3.objects.has("state/claims/old/1.json"));
  });
});
