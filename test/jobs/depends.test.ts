/**
 * Dependencies by name: the pure rules (which jobs stand for a name, barrier trees), then
 * submissions against the local Batch server: parents first with their IDs, N_TO_N, barriers
 * for a chunked sweep, each refusal before anything is sent, and cancel of a waiting step.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { resolveDependencies, standingRuns } from "../../jobs/input/depends";
import { derivedNameProblem } from "../../jobs/input/derived-names";
import type { Submission } from "../../jobs/input/plan";
import { Ledger, type LedgerEntry } from "../../jobs/state/ledger";
import { freezeAt, useLocalAws } from "../helpers/jobs-harness";
import { lockPath } from "../../jobs/state/lock";

const entry = (jobName: string, of?: string, jobId = `id-${jobName}`): LedgerEntry => ({
  v: 1,
  jobName,
  jobId,
  kind: "array",
  arraySize: 2,
  hash: "h",
  run: "r",
  submittedAt: "t",
  ...(of !== undefined ? { of } : {}),
});

const env = [{ name: "save_name", value: "s" }];
const stepFile = (jobName: string, dependsOn: unknown[]) => ({
  jobName,
  dependsOn,
  containerOverrides: { environment: env },
});
const sweepFile = (jobName: string, sets: number, dependsOn?: unknown[]) => ({
  jobName,
  grid: { var_a: Array.from({ length: sets }, (_, i) => i) },
  base: { containerOverrides: { environment: env }, ...(dependsOn ? { dependsOn } : {}) },
});

describe("dependencies by name: the rules", function () {
  it("a name stands for its latest submission's parts, or its latest retry's", function () {
    const names = (es: LedgerEntry[]) => standingRuns(es, "g").map((e) => e.jobId);
    const first = [entry("g-c0", "g"), entry("g-c1", "g")];
    assert.deepStrictEqual(names(first), ["id-g-c0", "id-g-c1"]);
    const retried = [...first, entry("g-r1", "g"), entry("g-r2", "g")];
    assert.deepStrictEqual(names(retried), ["id-g-r2"]);
    const forced = [...retried, entry("g-c0", "g", "new0"), entry("g-c1", "g", "new1")];
    assert.deepStrictEqual(names(forced), ["new0", "new1"], "--force: the new submission");
  });

  it("a step that reads a sweep's results gets the keys of its latest submission's manifests", function () {
    const part = (jobName: string, manifest: string, id: string) => ({
      ...entry(jobName, "g", id),
      manifest,
    });
    const entries = [
      part("g-c0", "inputs/sweeps/old.json", "o"),
      part("g-c0", "inputs/sweeps/c0.json", "a"),
      part("g-c1", "inputs/sweeps/c1.json", "b"),
      part("g-r1", "inputs/sweeps/r1.json", "c"),
    ];
    const request = {
      jobName: "step",
      jobQueue: "q",
      jobDefinition: "d",
      containerOverrides: { environment: [{ name: "BATCHPY_RESULTS_OF", value: "g,other" }] },
    };
    const step: Submission = {
      kind: "single",
      file: "s.json",
      jobName: "step",
      request,
      hash: "h",
    };
    const r = resolveDependencies(step, entries, "EC2");
    assert.ok(r.kind === "ready");
    assert.deepStrictEqual(r.submission.request.containerOverrides?.environment?.[1], {
      name: "BATCHPY_PARENT_MANIFESTS",
      value: "g:inputs/sweeps/c0.json,g:inputs/sweeps/c1.json",
    });
    assert.strictEqual(r.submission.hash, "h", "the hash stays the file's request");
  });

  it("a job that waits by name leaves room for its barriers' names", function () {
    const waits = { array: true, waits: true };
    assert.strictEqual(derivedNameProblem("j".repeat(118), waits), undefined);
    assert.match(derivedNameProblem("j".repeat(119), waits) ?? "", /at most 118 characters/);
  });

  it("past 20 parents: barriers of 20, a tree past 400, each tier once the last is recorded", function () {
    const parts = Array.from({ length: 401 }, (_, i) => entry(`big-c${i}`, "big"));
    const step: Submission = {
      kind: "single",
      file: "step.json",
      jobName: "step",
      hash: "s",
      request: {
        jobName: "step",
        jobQueue: "q",
        jobDefinition: "d",
        dependsOn: [{ jobName: "big" }],
      },
    };
    const ledger = [...parts];
    const tiers: number[] = [];
    for (;;) {
      const r = resolveDependencies(step, ledger, "SPOT");
      if (r.kind === "ready") {
        assert.deepStrictEqual(r.submission.request.dependsOn, [
          { jobId: "id-step-b21" },
          { jobId: "id-step-b22" },
        ]);
        assert.strictEqual(r.submission.hash, "s", "the hash stays the file's");
        break;
      }
      tiers.push(r.barriers.length);
      assert.ok(r.barriers.every((b) => (b.request.dependsOn ?? []).length <= 20));
      ledger.push(
        ...r.barriers.map((b) => ({ ...entry(b.jobName), kind: "single" as const, hash: b.hash })),
      );
    }
    assert.deepStrictEqual(tiers, [21, 2]);
  });
});

describe("dependencies by name against the local Batch server", function () {
  const aws = useLocalAws("deps", { batch: { autoAdvance: false } });
  const write = (files: Record<string, unknown>) => {
    fs.mkdirSync(path.join(aws.dir, "pipe"), { recursive: true });
    for (const [name, value] of Object.entries(files)) {
      fs.writeFileSync(path.join(aws.dir, "pipe", name), JSON.stringify(value));
    }
  };
  const submit = (...args: string[]) => aws.jobs(["submit", ...args]);

  it("sends a folder parents first, the step depending on the sweep's job ID", async function () {
    // "a_step" sorts before "grid": the order comes from dependsOn, not the file names.
    write({
      "a_step.json": stepFile("a_step", [{ jobName: "grid" }]),
      "grid.json": sweepFile("grid", 4),
    });
    const r = await submit("pipe");
    assert.strictEqual(r.code, 0, r.stderr);
    const [grid, step] = aws.batch.submitted();
    assert.deepStrictEqual([grid.jobName, step.jobName], ["grid", "a_step"]);
    assert.deepStrictEqual(step.request.dependsOn, [{ jobId: grid.jobId }]);
    const again = await submit("pipe");
    assert.match(again.stdout, /nothing to submit/, "the step's hash is the file's");
    // A later step resolves the name from the ledger.
    write({ "z.json": stepFile("z", [{ jobName: "a_step" }, { jobId: grid.jobId }]) });
    assert.strictEqual((await submit("pipe/z.json")).code, 0);
    assert.deepStrictEqual(aws.batch.named("z")[0].request.dependsOn, [
      { jobId: step.jobId },
      { jobId: grid.jobId },
    ]);
  });

  it("N_TO_N between sweeps of one size; refused between sizes, before anything is sent", async function () {
    write({
      "grid.json": sweepFile("grid", 4),
      "next.json": sweepFile("next", 4, [{ jobName: "grid", type: "N_TO_N" }]),
    });
    assert.strictEqual((await submit("pipe")).code, 0);
    const grid = aws.findJob("grid");
    assert.deepStrictEqual(aws.findJob("next").request.dependsOn, [
      { jobId: grid.jobId, type: "N_TO_N" },
    ]);
    write({ "odd.json": sweepFile("odd", 3, [{ jobName: "grid", type: "N_TO_N" }]) });
    const r = await submit("pipe/odd.json");
    assert.strictEqual(r.code, 2);
    assert.match(r.stderr, /pipe\/odd\.json: dependsOn\[0\]: N_TO_N .* same size/);
    assert.strictEqual(aws.batch.submitted().length, 2);
  });

  it("waits for a chunked sweep's 25 parts through two barriers", async function () {
    const ledger = Ledger.open(aws.ledgerFile());
    Array.from({ length: 25 }, (_, i) => ledger.append(entry(`big-c${i}`, "big")));
    ledger.close();
    write({ "step.json": stepFile("step", [{ jobName: "big" }]) });
    const r = await submit("pipe");
    assert.strictEqual(r.code, 0, r.stderr);
    // The barriers go together, in any order, and the step after both.
    const names = aws.batch.submitted().map((j) => j.jobName);
    assert.deepStrictEqual([...names.slice(0, 2)].sort(), ["step-b0", "step-b1"]);
    assert.deepStrictEqual(names.slice(2), ["step"]);
    const [b0, b1, step] = ["step-b0", "step-b1", "step"].map((n) => aws.findJob(n));
    assert.deepStrictEqual(
      [b0, b1].map((b) => (b.request.dependsOn as unknown[]).length),
      [20, 5],
    );
    assert.deepStrictEqual(b0.request.containerOverrides, {
      command: ["true"],
      resourceRequirements: [
        { type: "VCPU", value: "1" },
        { type: "MEMORY", value: "128" },
      ],
    });
    assert.deepStrictEqual(step.request.dependsOn, [{ jobId: b0.jobId }, { jobId: b1.jobId }]);
    // Status folds the barriers into their step.
    const json = JSON.parse((await aws.jobs(["status", "--json"])).stdout) as {
      jobs: { jobName: string; after?: string[]; barriers?: number }[];
    };
    assert.ok(!json.jobs.some((j) => j.jobName.startsWith("step-b")));
    const row = json.jobs.find((j) => j.jobName === "step");
    assert.deepStrictEqual([row?.after, row?.barriers], [["big"], 2]);
  });

  it("refuses a cycle, an unknown or invalid name, jobId with jobName, SEQUENTIAL, an open submission and a failed parent, sending nothing", async function () {
    const refused = async (files: Record<string, unknown>, what: RegExp) => {
      fs.rmSync(path.join(aws.dir, "pipe"), { recursive: true, force: true });
      write(files);
      const sent = aws.batch.count("submitjob");
      const r = await submit("pipe");
      assert.strictEqual(r.code, 2, r.stderr);
      assert.match(r.stderr, what);
      assert.strictEqual(aws.batch.count("submitjob"), sent, "nothing sent");
    };
    await refused(
      { "a.json": stepFile("a", [{ jobName: "b" }]), "b.json": stepFile("b", [{ jobName: "a" }]) },
      /pipe\/a\.json: dependsOn: a cycle: a → b → a/,
    );
    await refused(
      { "s.json": stepFile("s", [{ jobName: "nope" }]) },
      /s\.json: dependsOn\[0\]: no job or sweep "nope"/,
    );
    await refused(
      { "s.json": stepFile("s", [{ jobName: "grid\nsweep" }]) },
      /s\.json:\d+:\d+: dependsOn\[0\]\.jobName: job name "grid\\nsweep" may contain only/,
    );
    await refused(
      {
        "s.json": stepFile("s", [
          { jobName: "x", jobId: "1" },
          { jobName: "x", type: "SEQUENTIAL" },
        ]),
      },
      /dependsOn\[0\]: names both jobId and jobName[^]*dependsOn\[1\]: "SEQUENTIAL" takes no job/,
    );
    fs.mkdirSync(path.dirname(aws.ledgerFile()), { recursive: true });
    const intent = {
      v: 1,
      type: "intent",
      jobName: "open",
      token: "t",
      hash: "h",
      jobQueue: "q",
      kind: "single",
      run: "r",
      at: new Date().toISOString(),
    };
    fs.writeFileSync(aws.ledgerFile(), `${JSON.stringify(intent)}\n`);
    await refused(
      { "s.json": stepFile("s", [{ jobName: "open" }]) },
      /"open" has a submission whose outcome is not yet known/,
    );
    fs.rmSync(aws.ledgerFile());
    const fake = await aws.startBatch({
      autoAdvance: false,
      outcome: () => ({ status: "FAILED" }),
    });
    write({ "grid.json": sweepFile("grid", 2) });
    assert.strictEqual((await submit("pipe/grid.json")).code, 0);
    fake.finishAll();
    await refused(
      { "grid.json": sweepFile("grid", 2), "s.json": stepFile("s", [{ jobName: "grid" }]) },
      /s\.json: dependsOn\[0\]: "grid" failed .* npm run jobs:retry -- grid/,
    );
  });

  it("after a failed set: jobs:retry of the sweep and its step, the step's retry after the sweep's", async function () {
    await aws.startBatch({
      autoAdvance: false,
      outcome: ({ jobName, index }) =>
        (jobName === "grid" && index === 1) || jobName === "step"
          ? { status: "FAILED", exitCode: 1 }
          : { status: "SUCCEEDED" },
    });
    write({
      "grid.json": sweepFile("grid", 2),
      "step.json": stepFile("step", [{ jobName: "grid" }]),
    });
    assert.strictEqual((await submit("pipe")).code, 0);
    aws.batch.finishAll();
    const r = await aws.jobs(["retry", "grid", "step"]);
    assert.strictEqual(r.code, 0, r.stderr);
    const retried = aws.findJob("grid-r1");
    assert.deepStrictEqual(aws.findJob("step-r1").request.dependsOn, [{ jobId: retried.jobId }]);
  });

  it("a pipeline as one thing: status under its parents, retry of the sweep retries the steps it failed, the report in order", async function () {
    await aws.startBatch({
      autoAdvance: false,
      // Set 1 fails once; then the step's retry fails on its own.
      outcome: ({ jobName, index }) =>
        (jobName === "grid" && index === 1) || jobName === "step-r1"
          ? { status: "FAILED", exitCode: 3 }
          : { status: "SUCCEEDED" },
    });
    write({
      "grid.json": sweepFile("grid", 2),
      "step.json": stepFile("step", [{ jobName: "grid" }]),
      "plot.json": stepFile("plot", [{ jobName: "step" }]),
    });
    assert.strictEqual((await submit("pipe")).code, 0);
    aws.batch.finishAll();
    const status = await aws.jobs(["status"]);
    assert.match(
      status.stdout,
      /^FAILED {4}grid \S+ {2}\[SUCCEEDED 1 \| FAILED 1\]\nFAILED {6}step \S+ {2}after grid\nFAILED {8}plot \S+ {2}after step\n/,
    );
    assert.match(status.stdout, /step \(\S+\): Dependent Job failed, no exit code/);
    assert.match(
      status.stdout,
      /\nDependent Job failed: Batch failed it without running it \(no log\)/,
    );
    assert.match((await aws.jobs(["watch"])).stdout, /\nFAILED {6}step \S+ {2}after grid\n/);
    const json = JSON.parse((await aws.jobs(["status", "--json"])).stdout) as {
      jobs: { jobName: string; after?: string[]; depth?: number }[];
    };
    assert.deepStrictEqual(
      json.jobs.map((j) => [j.jobName, j.after, j.depth]),
      [
        ["grid", undefined, undefined],
        ["step", ["grid"], 1],
        ["plot", ["step"], 2],
      ],
    );

    const retry = await aws.jobs(["retry", "grid"]);
    assert.strictEqual(retry.code, 0, retry.stderr);
    assert.match(retry.stderr, /note: step failed because grid failed .* retried after its retry/);
    assert.match(retry.stderr, /note: plot failed because step failed/);
    const [grid, step] = [aws.findJob("grid-r1"), aws.findJob("step-r1")];
    assert.deepStrictEqual(step.request.dependsOn, [{ jobId: grid.jobId }]);
    assert.deepStrictEqual(aws.findJob("plot-r1").request.dependsOn, [{ jobId: step.jobId }]);

    // The step's retry fails on its own and plot's because of it: neither is the sweep's to retry.
    aws.batch.finishAll();
    const again = await aws.jobs(["retry", "grid"]);
    assert.match(again.stdout, /nothing failed in grid: nothing to retry/);
    const report = JSON.parse((await aws.jobs(["report", "--json"])).stdout) as {
      rows: { name: string; after?: string[] }[];
    };
    assert.deepStrictEqual(
      report.rows.map((r) => [r.name, r.after]),
      [
        ["grid[0]", undefined],
        ["grid[1]", undefined],
        ["step", ["grid"]],
        ["plot", ["step"]],
      ],
    );
    const table = (await aws.jobs(["report", "--limit", "3"])).stdout;
    assert.match(
      table,
      /\nSUCCEEDED +grid\[0\] .*\nFAILED +step .*\nFAILED +plot .*\n\.\.\. 1 more rows/,
    );

    // The middle failed on its own: retrying it brings the step after it along, on its new run.
    const middle = await aws.jobs(["retry", "step"]);
    assert.strictEqual(middle.code, 0, middle.stderr);
    assert.match(middle.stderr, /note: plot failed because step failed/);
    assert.deepStrictEqual(aws.findJob("plot-r2").request.dependsOn, [
      { jobId: aws.findJob("step-r2").jobId },
    ]);
  });

  it("a retry that brought a step along, frozen before the step's request and run again, sends each retry once", async function () {
    await aws.startBatch({
      autoAdvance: false,
      outcome: ({ jobName, index }) =>
        jobName === "grid" && index === 1 ? { status: "FAILED" } : { status: "SUCCEEDED" },
    });
    write({
      "grid.json": sweepFile("grid", 2),
      "step.json": stepFile("step", [{ jobName: "grid" }]),
    });
    assert.strictEqual((await submit("pipe")).code, 0);
    aws.batch.finishAll();
    const fast = { listingWaitMs: 300, submitTimeoutMs: 300 };
    // The second intent is the step's: the sweep's retry has gone, the step's has not.
    const f = freezeAt("intent-durable", 2, fast);
    const exitHandlers = new Set(process.listeners("exit"));
    aws.jobs(["retry", "grid"], f).catch(() => undefined);
    await f.crashed;
    process
      .listeners("exit")
      .filter((h) => !exitHandlers.has(h))
      .forEach((h) => process.removeListener("exit", h));
    fs.rmSync(lockPath(aws.ledgerFile()), { force: true });
    await new Promise((resolve) => setTimeout(resolve, 400));
    const rerun = await aws.jobs(["retry", "grid"], { faults: fast });
    assert.strictEqual(rerun.code, 0, rerun.stderr);
    assert.deepStrictEqual(
      ["grid-r1", "step-r1"].map((n) => aws.batch.named(n).length),
      [1, 1],
    );
    assert.deepStrictEqual(aws.findJob("step-r1").request.dependsOn, [
      { jobId: aws.findJob("grid-r1").jobId },
    ]);
  });

  it("cancel of a step waiting for its parents says when Batch cancels it", async function () {
    write({
      "grid.json": sweepFile("grid", 2),
      "step.json": stepFile("step", [{ jobName: "grid" }]),
    });
    assert.strictEqual((await submit("pipe")).code, 0);
    aws.batch.advanceAll(1);
    const r = await aws.jobs(["cancel", "step"]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /cancelled step \S+ \(was PENDING, not started; Batch cancels a PENDING job only once its dependencies have finished\)/,
    );
  });
});
