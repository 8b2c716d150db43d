/**
 * `--locally` runs the real entrypoint (container/run_job.py) with python3 against a folder
 * laid out like the bucket; `npm run local` is `submit --locally jobs/sample_job_1.json`.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import {
  INHERITED_VARIABLES,
  localResultPaths,
  planLocal,
  runEnvironment,
  runLocal,
  type LocalResult,
  type LocalRun,
} from "../../jobs/commands/local";
import { readLocalRuns } from "../../jobs/state/local-runs";
import { buildPlan, type Submission } from "../../jobs/input/plan";
import { localResultsLine } from "../../jobs/output/submit-print";
import type { LoadedSweep } from "../../jobs/input/sweep";
import { REPO_ROOT, STACK_OUTPUTS, runJobs, tempDir } from "../helpers/jobs-harness";

const SAVE_NAME = { containerOverrides: { environment: [{ name: "save_name", value: "s" }] } };

describe("jobs --locally: the entrypoint on this machine", function () {
  let root: string;
  beforeEach(function () {
    root = tempDir("local");
  });
  afterEach(function () {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("a sweep past 10,000 sets runs locally as its chunks, filed under the sweep's set numbers", function () {
    const sweep: LoadedSweep = {
      kind: "sweep",
      file: "big.json",
      jobName: "big",
      base: { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } },
      sets: Array.from({ length: 10_001 }, (_, i) => new Map([["var_a", String(i)]])),
      consumedFiles: [],
      keySources: new Map(),
      problemAt: (message) => ({ message }),
    };
    const { submissions } = buildPlan([sweep], { array: true });
    const plan = planLocal([submissions], "/lb");
    const runs = plan.levels.flat();
    assert.strictEqual(runs.length, 10_001);
    const [child, lone] = [runs[9_999], runs[10_000]];
    assert.deepStrictEqual(
      [child.jobName, child.index, child.filedAs],
      ["big-c0", 9_999, { job: "big", index: 9_999 }],
    );
    assert.deepStrictEqual(
      [lone.jobName, lone.index, lone.filedAs],
      ["big-c1", undefined, { job: "big", index: 10_000 }],
    );
    const env = runEnvironment(lone, "/lb", {});
    assert.strictEqual(env.BATCHPY_JOB_NAME, "big");
    assert.strictEqual(env.BATCHPY_SET_INDEX, "10000");
    assert.strictEqual(env.AWS_BATCH_JOB_ARRAY_INDEX, undefined);
    assert.strictEqual(runEnvironment(child, "/lb", {}).BATCHPY_JOB_NAME, "big");
    assert.deepStrictEqual(localResultPaths(lone, "/lb"), {
      results: path.join("/lb", "results", "big", "10000"),
      log: path.join("/lb", "logs", "big", "10000.log"),
    });
    assert.strictEqual(
      localResultsLine(submissions[1], [], "/lb", "/"),
      "big-c1: no results (not run)",
    );
  });

  it("plans one run per job and per array child, with the manifest in the local inputs/", function () {
    const sweep: LoadedSweep = {
      kind: "sweep",
      file: "sw.json",
      jobName: "sw",
      base: { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } },
      sets: [new Map([["var_a", "1"]]), new Map([["var_a", "2"]])],
      consumedFiles: [],
      keySources: new Map(),
      problemAt: (message) => ({ message }),
    };
    const { submissions } = buildPlan([sweep], { array: true });
    const plan = planLocal([submissions], "/lb");
    assert.deepStrictEqual(
      plan.levels[0].map((r) => r.index),
      [0, 1],
    );
    const key = submissions[0].kind === "array" ? submissions[0].manifest.key : "";
    assert.match(key, /^inputs\/sweeps\/sw-[0-9a-f]{12}\.json$/);
    assert.deepStrictEqual(
      plan.manifests.map((m) => m.file),
      [path.join("/lb", ...key.split("/"))],
    );
    const env = runEnvironment(plan.levels[0][1], "/lb", {
      PATH: "/bin",
      npm_config_cache: "x",
      HOME: "/h",
    });
    assert.strictEqual(env.AWS_BATCH_JOB_ARRAY_INDEX, "1");
    assert.strictEqual(env.BATCHPY_ARRAY_MANIFEST, key);
    const failed = { run: "r", failed: new Set([1]), manifests: [] };
    const earlier = new Map([
      ["sw", failed],
      ["other", failed],
    ]);
    assert.deepStrictEqual(
      [...planLocal([submissions], "/lb", earlier).failedBefore.keys()],
      ["other"],
      "a job this submit runs again starts afresh",
    );
    assert.strictEqual(env.BATCHPY_LOCAL_ROOT, "/lb");
    assert.strictEqual(env.BATCHPY_JOB_NAME, "sw");
    assert.strictEqual(
      env.npm_config_cache,
      undefined,
      "a container starts from a clean environment",
    );
    assert.ok(INHERITED_VARIABLES.includes("PATH") && env.PATH === "/bin");
  });

  it("runs jobs/sample_job_1.json and puts its result where the bucket layout says", async function () {
    const r = await runJobs(
      ["submit", "--locally", "jobs/sample_job_1.json", "--local-root", root],
      {
        describe: "real",
      },
    );
    assert.strictEqual(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(path.join(root, "results", "sample_job_1", "sample_job_1.p")));
    assert.match(
      fs.readFileSync(path.join(root, "logs", "sample_job_1.log"), "utf8"),
      /6 \* 2 = 12/,
    );
    assert.match(r.stdout, /1 of 1 local run\(s\) succeeded/);
  });

  it("runs an array sweep child by child from the manifest", async function () {
    const file = path.join(root, "sw.json");
    fs.writeFileSync(
      file,
      JSON.stringify({
        base: path.join(REPO_ROOT, "jobs", "sample_job_2.json"),
        grid: { var_a: [1, 2, 3] },
      }),
    );
    const r = await runJobs([
      "submit",
      "--locally",
      file,
      "--local-root",
      path.join(root, "lb"),
      "--json",
    ]);
    assert.strictEqual(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      runs: { index: number; exitCode: number }[];
      failed: number;
    };
    assert.deepStrictEqual(out.runs.map((x) => [x.index, x.exitCode]).sort(), [
      [0, 0],
      [1, 0],
      [2, 0],
    ]);
    for (const i of [0, 1, 2]) {
      assert.ok(
        fs.existsSync(path.join(root, "lb", "results", "sw", String(i), "sample_job_2.p")),
        `child ${i}`,
      );
    }
  });

  it("runs the example pipeline's step after its sweep, on the parameters and results it left", async function () {
    const pipeline = path.join("jobs", "examples", "pipeline");
    const submit = (file: string) =>
      runJobs(["submit", "--locally", path.join(pipeline, file), "--local-root", root], {
        describe: "real",
      });
    // A later submit's names resolve against the earlier local runs (the same submit's are
    // ordered by jobs/input/depends.ts, which the docs' `--locally jobs/examples/pipeline` runs).
    for (const file of ["pipeline_grid.json", "pipeline_step.json"]) {
      const r = await submit(file);
      assert.strictEqual(r.code, 0, r.stderr);
    }
    const best = path.join(root, "results", "pipeline_step", "best.json");
    assert.deepStrictEqual(JSON.parse(fs.readFileSync(best, "utf8")), {
      sweep: "pipeline_grid",
      set: 5,
      var_a: "3",
      var_b: "20",
      product: 60,
    });
    assert.match(
      fs.readFileSync(path.join(root, "logs", "pipeline_step.log"), "utf8"),
      /best of 6 sets: {"var_a": "3", "var_b": "20", "product": 60}/,
    );
    const orphan = path.join(root, "orphan.json");
    fs.writeFileSync(orphan, JSON.stringify({ dependsOn: [{ jobName: "nope" }], ...SAVE_NAME }));
    const r = await runJobs(["submit", "--locally", orphan, "--local-root", root]);
    assert.strictEqual(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /dependsOn\[0\]: no job or sweep "nope" in this submit or in the local runs of/,
    );
  });

  it("fails a dependent whose parent failed without running it, as Batch does (N_TO_N: child i only)", async function () {
    // Runs that cannot start (a NUL byte) fail without python; blocked ones never try.
    const env = new Map([["var_a", "a\0b"]]);
    const run = (jobName: string, after: LocalRun["after"], index?: number): LocalRun => ({
      jobName,
      env,
      filedAs: { job: jobName, ...(index !== undefined ? { index } : {}) },
      after,
      ...(index !== undefined ? { index } : {}),
    });
    const grid = [{ name: "grid", nToN: false, at: 0 }];
    const results = await runLocal(
      {
        levels: [
          [
            run("pair", [{ ...grid[0], nToN: true }], 0),
            run("pair", [{ ...grid[0], nToN: true }], 1),
            run("step", grid),
          ],
          [run("last", [{ name: "pair", nToN: false, at: 0 }])],
        ],
        manifests: [],
        failedBefore: new Map([["grid", new Set([1])]]),
      },
      { repoRoot: REPO_ROOT, root, concurrency: 1, env: {} },
    );
    const name = (r: LocalResult) =>
      r.run.index === undefined ? r.run.jobName : `${r.run.jobName}[${r.run.index}]`;
    assert.deepStrictEqual(
      results.map((r) => [name(r), r.exitCode, r.notRun?.split(" failed")[0]]),
      [
        ["pair[0]", null, undefined],
        ["pair[1]", null, "not run: grid[1]"],
        ["step", null, "not run: grid[1]"],
        ["last", null, "not run: pair[0]"],
      ],
    );
    const records = readLocalRuns(root).records;
    assert.strictEqual(
      records.find((x) => x.job === "last")?.reason,
      "not run: pair[0] failed, and a job fails when a job it depends on fails",
    );
  });

  it("exits 1 and shows the end of the output when a run fails", async function () {
    const file = path.join(root, "bad.json");
    // var_a is an int option: argparse refuses "x", so the script exits 2.
    fs.writeFileSync(
      file,
      JSON.stringify({
        containerOverrides: {
          environment: [
            { name: "var_a", value: "x" },
            { name: "save_name", value: "s" },
          ],
        },
      }),
    );
    const r = await runJobs(["submit", "--locally", file, "--local-root", path.join(root, "lb")]);
    assert.strictEqual(r.code, 1);
    assert.match(r.stderr, /FAILED bad: exit 2/);
    assert.match(r.stderr, /invalid int value/);
    assert.match(r.stdout, /^bad: no results \(failed\)$/m);
    assert.doesNotMatch(r.stdout, /results in/);
  });

  it("--script-file X validates against X and runs X, not container/script.py", async function () {
    const dir = path.join(root, "mine");
    fs.mkdirSync(dir);
    fs.writeFileSync(
      path.join(dir, "greet.py"),
      [
        "import argparse",
        "p = argparse.ArgumentParser()",
        'p.add_argument("--greeting", required=True)',
        "a = p.parse_args()",
        'open("greeting.txt", "w").write(a.greeting)',
        "",
      ].join("\n"),
    );
    const job = path.join(dir, "hello.json");
    fs.writeFileSync(
      job,
      JSON.stringify({ containerOverrides: { environment: [{ name: "greeting", value: "hi" }] } }),
    );
    // Relative to the user's folder, as typed.
    const r = await runJobs(
      ["submit", "--locally", "hello.json", "--script-file", "greet.py", "--local-root", "lb"],
      { describe: "real", cwd: dir },
    );
    assert.strictEqual(r.code, 0, r.stdout + r.stderr);
    assert.strictEqual(
      fs.readFileSync(path.join(dir, "lb", "results", "hello", "greeting.txt"), "utf8"),
      "hi",
    );
  });

  it("says where results are only for runs that succeeded", async function () {
    const fail = { exitCode: 2, signal: null, tail: "" };
    const single = { kind: "single", file: "a.json", jobName: "a" } as unknown as Submission;
    const sweep = {
      kind: "array",
      file: "s.json",
      jobName: "s",
      arraySize: 3,
    } as unknown as Submission;
    const results: LocalResult[] = [
      {
        run: { jobName: "a", env: new Map(), filedAs: { job: "a" }, after: [] },
        ...fail,
        startedAt: 0,
        stoppedAt: 0,
      },
      {
        run: { jobName: "s", index: 0, env: new Map(), filedAs: { job: "s", index: 0 }, after: [] },
        ...fail,
        exitCode: 0,
        startedAt: 0,
        stoppedAt: 0,
      },
      {
        run: { jobName: "s", index: 1, env: new Map(), filedAs: { job: "s", index: 1 }, after: [] },
        ...fail,
        startedAt: 0,
        stoppedAt: 0,
      },
    ];
    assert.strictEqual(localResultsLine(single, results, "/lb", "/"), "a: no results (failed)");
    assert.strictEqual(
      localResultsLine(sweep, results, "/lb", "/"),
      "s: results in lb/results/s/<index>/ (1 of 3 children succeeded)",
    );
    assert.strictEqual(
      localResultsLine(single, [{ ...results[0], exitCode: 0 }], "/lb", "/"),
      "a: results in lb/results/a/",
    );
  });

  it("a run that cannot be started is a failure with its reason, not silently 'not started'", async function () {
    const run = {
      jobName: "nul",
      env: new Map([["var_a", "a\0b"]]),
      filedAs: { job: "nul" },
      after: [],
    };
    const results = await runLocal(
      { levels: [[run]], manifests: [], failedBefore: new Map() },
      { repoRoot: REPO_ROOT, root, concurrency: 1, env: {} },
    );
    assert.strictEqual(results.length, 1);
    assert.strictEqual(results[0].exitCode, null);
    assert.match(results[0].tail, /could not start python3: .*null bytes/);
  });

  it("the shipped samples and examples/ validate against the real script and plan as documented", async function () {
    const outputs = path.join(root, "outputs.json");
    fs.writeFileSync(outputs, JSON.stringify(STACK_OUTPUTS));
    const r = await runJobs(
      [
        "submit",
        "jobs/sample_job_1.json",
        "jobs/sample_job_2.json",
        "jobs/examples",
        "--dry-run",
        "--json",
        "--outputs",
        outputs,
        "--state-dir",
        root,
      ],
      { describe: "real" },
    );
    assert.strictEqual(r.code, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout) as {
      requests: { jobName: string; arrayProperties?: { size: number } }[];
    };
    assert.deepStrictEqual(
      out.requests.map((q) => [q.jobName, q.arrayProperties?.size]),
      [
        ["sample_job_1", undefined],
        ["sample_job_2", undefined],
        ["grid_sweep", 6],
        ["params", 3],
        ["zip_sweep", 3],
      ],
    );
  });
});
