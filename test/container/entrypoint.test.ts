/**
 * container/run_job.py end to end with the local-folder store (BATCHPY_LOCAL_ROOT): real
 * python3 processes, real environment variables, real files.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import {
  PythonResult,
  REPO_ROOT,
  explain,
  makeTempDir,
  readTree,
  removeDir,
  runEntrypoint,
  runPython,
} from "../helpers/python";
import { ECHO_ARGS, FIXTURES } from "./harness";
import { isRunning } from "../helpers/processes";

const WORKER = path.join(FIXTURES, "worker.py");

interface SubmitJobFile {
  jobName: string;
  containerOverrides: { environment: { name: string; value: string }[] };
}

function readJobFile(name: string): SubmitJobFile {
  return JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "jobs", name), "utf8")) as SubmitJobFile;
}

/** The environment AWS Batch would give the job, plus the local store. */
function jobEnv(job: SubmitJobFile, root: string): Record<string, string> {
  const env: Record<string, string> = { BATCHPY_LOCAL_ROOT: root, BATCHPY_JOB_NAME: job.jobName };
  for (const { name, value } of job.containerOverrides.environment) {
    env[name] = value;
  }
  return env;
}

function writeFile(root: string, rel: string, text: string): void {
  const full = path.join(root, ...rel.split("/"));
  fs.mkdirSync(path.dirname(full), { recursive: true });
  fs.writeFileSync(full, text);
}

/** The pid the worker fixture's leftover process printed. */
function leftoverPid(output: string): number {
  const match = /worker: leftover ready pid=(\d+)/.exec(output);
  assert.ok(match, `the leftover process did not start:\n${output}`);
  return Number(match[1]);
}

/** The one `run_job:` line on stderr that contains `needle`. */
function runJobLine(result: PythonResult, needle: string): string {
  const line = result.stderr
    .split("\n")
    .find((l) => l.startsWith("run_job: ") && l.includes(needle));
  assert.ok(line, `no run_job line with ${JSON.stringify(needle)}\n${explain(result)}`);
  return line;
}

describe("container: run_job.py end to end (local folder)", function () {
  let root: string;

  beforeEach(function () {
    root = makeTempDir("local-bucket");
  });

  afterEach(function () {
    removeDir(root);
  });

  it("runs the tutorial's sample_job_1: 6 * 2 pickled into results/sample_job_1/", async function () {
    const job = readJobFile("sample_job_1.json");
    const run = await runEntrypoint(jobEnv(job, root));
    assert.strictEqual(run.code, 0, explain(run));
    const result = path.join(root, "results", "sample_job_1", "sample_job_1.p");
    const unpickled = await runPython([
      "-c",
      "import pickle, sys; print(pickle.load(open(sys.argv[1], 'rb')))",
      result,
    ]);
    assert.strictEqual(unpickled.stdout.trim(), "12", explain(unpickled));
    assert.deepStrictEqual(Object.keys(readTree(root)).sort(), [
      "logs/sample_job_1.log",
      "results/sample_job_1/metrics.json",
      "results/sample_job_1/sample_job_1.p",
    ]);
    assert.deepStrictEqual(
      JSON.parse(
        fs.readFileSync(path.join(root, "results", "sample_job_1", "metrics.json"), "utf8"),
      ),
      { product: 12 },
    );
    assert.strictEqual(
      fs.readFileSync(path.join(root, "logs", "sample_job_1.log"), "utf8"),
      "6 * 2 = 12\nsaved sample_job_1.p\n",
    );
  });

  it("sample job files set only options container/script.py declares, and all it requires", async function () {
    const described = await runEntrypoint({}, ["--describe"]);
    assert.strictEqual(described.code, 0, explain(described));
    const desc = JSON.parse(described.stdout) as {
      script: string;
      options: { env: string; required: boolean }[];
    };
    assert.strictEqual(desc.script, "script.py");
    for (const file of ["sample_job_1.json", "sample_job_2.json"]) {
      const names = readJobFile(file).containerOverrides.environment.map((e) => e.name);
      for (const name of names) {
        assert.ok(
          desc.options.some((o) => o.env === name),
          `${file}: ${name} is not an option`,
        );
      }
      for (const option of desc.options.filter((o) => o.required)) {
        assert.ok(names.includes(option.env), `${file} lacks the required ${option.env}`);
      }
    }
  });

  it("carries hard values from the environment to the script's argv unchanged", async function () {
    const env = {
      BATCHPY_LOCAL_ROOT: root,
      must: "two words $HOME ${PATH} *.p a=b",
      text: "line one\nline two\n",
      "out-name": `it's "quoted"`,
      s: "-x",
      tag: JSON.stringify(["naïve 日本語 🚀", "--flag", "a,b"]),
      items: "*,?,[a]",
    };
    const run = await runEntrypoint(env, ["--script", ECHO_ARGS]);
    assert.strictEqual(run.code, 0, explain(run));
    const echoed = JSON.parse(run.stdout) as { args: Record<string, unknown> };
    assert.strictEqual(echoed.args.must, env.must);
    assert.strictEqual(echoed.args.text, env.text);
    assert.strictEqual(echoed.args.out_name, env["out-name"]);
    assert.strictEqual(echoed.args.short, "-x");
    assert.deepStrictEqual(echoed.args.tag, ["naïve 日本語 🚀", "--flag", "a,b"]);
    assert.deepStrictEqual(echoed.args.items, ["*", "?", "[a]"], "no globbing");
  });

  it("fails before the script runs when a required option has no variable", async function () {
    const run = await runEntrypoint({ BATCHPY_LOCAL_ROOT: root, text: "x" }, [
      "--script",
      ECHO_ARGS,
    ]);
    assert.strictEqual(run.code, 2, explain(run));
    assert.match(
      runJobLine(run, "error:"),
      /^run_job: error: echo_args\.py requires --must: set the variable "must"/,
    );
    assert.strictEqual(run.stdout, "", "the script printed nothing: it never ran");
    assert.deepStrictEqual(readTree(root), {}, "nothing stored");
  });

  it("never maps -h/--help, and warns about (then ignores) undeclared lower-case variables", async function () {
    const run = await runEntrypoint(
      { BATCHPY_LOCAL_ROOT: root, must: "m", h: "1", help: "true", var_zzz: "1", OTHER: "x" },
      ["--script", ECHO_ARGS],
    );
    assert.strictEqual(run.code, 0, explain(run));
    assert.deepStrictEqual((JSON.parse(run.stdout) as { argv: string[] }).argv, ["--must=m"]);
    runJobLine(run, `warning: "var_zzz" is not an option of echo_args.py (declared: `);
    assert.ok(!run.stderr.includes('"OTHER"'), "upper-case names are plain environment");
  });

  it("exits with the script's exit code and still uploads the log, both streams in it", async function () {
    const run = await runEntrypoint(
      { BATCHPY_LOCAL_ROOT: root, BATCHPY_JOB_NAME: "fails", code: "3", write: "partial.txt=x" },
      ["--script", WORKER],
    );
    assert.strictEqual(run.code, 3, explain(run));
    const log = fs.readFileSync(path.join(root, "logs", "fails.log"), "utf8");
    assert.match(log, /worker: to stdout\n/);
    assert.match(log, /worker: to stderr\n/);
    assert.ok(!log.includes("run_job:"), "the log file holds the script's output only");
    // The container log (our stdout) got the same output, and the probe's did not leak in.
    assert.strictEqual(run.stdout, log);
    assert.strictEqual(run.stdout.split("worker: top level").length - 1, 1);
    assert.ok(!fs.existsSync(path.join(root, "results")), "a failed job uploads no results");
    runJobLine(run, "results not uploaded because the script failed");
  });

  it("reports a signal as 128+N and keeps the log", async function () {
    const run = await runEntrypoint(
      { BATCHPY_LOCAL_ROOT: root, BATCHPY_JOB_NAME: "killed", kill: "SIGKILL" },
      ["--script", WORKER],
    );
    assert.strictEqual(run.code, 128 + 9, explain(run));
    assert.match(fs.readFileSync(path.join(root, "logs", "killed.log"), "utf8"), /to stdout/);
  });

  it("passes SIGTERM (AWS Batch TerminateJob) to the script and uploads the log", async function () {
    const run = await runEntrypoint(
      { BATCHPY_LOCAL_ROOT: root, BATCHPY_JOB_NAME: "terminated", sleep: "20" },
      ["--script", WORKER],
      {
        onSpawn: (child) => {
          child.stdout?.on("data", (chunk: Buffer) => {
            if (chunk.toString().includes("worker: sleeping")) {
              child.kill("SIGTERM");
            }
          });
        },
      },
    );
    assert.strictEqual(run.code, 128 + 15, explain(run));
    assert.match(fs.readFileSync(path.join(root, "logs", "terminated.log"), "utf8"), /sleeping/);
  });

  it("stops a process the script left running instead of waiting for it to end", async function () {
    // The leftover would sleep 10 minutes; a run_job that waited for it is killed by the
    // harness after 20 s (exit code null), so finishing with 0 means it did not wait.
    const run = await runEntrypoint(
      { BATCHPY_LOCAL_ROOT: root, BATCHPY_JOB_NAME: "leftover", leftover: "600", write: "r.txt=R" },
      ["--script", WORKER],
      { timeoutMs: 20_000 },
    );
    assert.strictEqual(run.code, 0, explain(run));
    assert.match(
      runJobLine(run, "left processes running"),
      /warning: worker\.py exited but left processes running; stopping them \(SIGTERM, then SIGKILL after 2 s\)/,
    );
    const log = fs.readFileSync(path.join(root, "logs", "leftover.log"), "utf8");
    assert.ok(!isRunning(leftoverPid(log)), "the leftover process was stopped");
    assert.deepStrictEqual(readTree(path.join(root, "results")), { "leftover/r.txt": "R" });
  });

  it("uploads the log of a terminated job whose leftover process ignores SIGTERM", async function () {
    this.timeout(90_000);
    let output = "";
    let signalled = false;
    const run = await runEntrypoint(
      {
        BATCHPY_LOCAL_ROOT: root,
        BATCHPY_JOB_NAME: "stubborn",
        leftover: "60",
        "leftover-ignores-sigterm": "true",
        sleep: "30",
      },
      ["--script", WORKER],
      {
        onSpawn: (child) => {
          child.stdout?.on("data", (chunk: Buffer) => {
            output += chunk.toString();
            // TerminateJob once the leftover ignores SIGTERM and the script is busy.
            if (!signalled && output.includes("leftover ready") && output.includes("sleeping")) {
              signalled = true;
              child.kill("SIGTERM");
              // As AWS Batch does: SIGKILL 30 s after SIGTERM. Exiting 143 means run_job
              // stopped the leftover and stored the log before that.
              const kill = setTimeout(() => child.kill("SIGKILL"), 30_000);
              child.on("exit", () => clearTimeout(kill));
            }
          });
        },
        timeoutMs: 60_000,
      },
    );
    assert.strictEqual(run.code, 128 + 15, explain(run));
    const log = fs.readFileSync(path.join(root, "logs", "stubborn.log"), "utf8");
    assert.match(log, /worker: sleeping/);
    assert.ok(!isRunning(leftoverPid(log)), "the leftover process was killed");
  });

  it("downloads inputs, then uploads only the files the script created or changed", async function () {
    writeFile(root, "inputs/data.txt", "data");
    writeFile(root, "inputs/models/a.txt", "A");
    writeFile(root, "inputs/models/deep/b.txt", "B");
    const run = await runEntrypoint(
      {
        BATCHPY_LOCAL_ROOT: root,
        BATCHPY_JOB_NAME: "io",
        BATCHPY_INPUTS: "data.txt, models/",
        show: "data.txt,models/deep/b.txt",
        append: "models/a.txt=+",
        write: "out/result.txt=R",
      },
      ["--script", WORKER],
    );
    assert.strictEqual(run.code, 0, explain(run));
    assert.match(run.stdout, /worker: data\.txt: data\n/);
    assert.match(run.stdout, /worker: models\/deep\/b\.txt: B\n/);
    const tree = readTree(path.join(root, "results"));
    assert.deepStrictEqual(tree, { "io/models/a.txt": "A+", "io/out/result.txt": "R" });
  });

  it("uploads the declared BATCHPY_OUTPUT_DIR only, relative to it", async function () {
    const run = await runEntrypoint(
      {
        BATCHPY_LOCAL_ROOT: root,
        BATCHPY_JOB_NAME: "declared",
        BATCHPY_OUTPUT_DIR: "out",
        write: "out/sub/r.txt=R,scratch.txt=S",
      },
      ["--script", WORKER],
    );
    assert.strictEqual(run.code, 0, explain(run));
    assert.deepStrictEqual(readTree(path.join(root, "results")), { "declared/sub/r.txt": "R" });
  });

  it("runs array child N with sets[N] of the manifest merged over the job's variables", async function () {
    writeFile(
      root,
      "inputs/sweeps/sweep.json",
      JSON.stringify({
        version: 1,
        sets: [
          { write: "r.txt=zero" },
          { write: "r.txt=one", GREETING: "hello from set 1" },
          { write: "r.txt=two" },
        ],
      }),
    );
    const run = await runEntrypoint(
      {
        BATCHPY_LOCAL_ROOT: root,
        BATCHPY_JOB_NAME: "sweep",
        BATCHPY_ARRAY_MANIFEST: "inputs/sweeps/sweep.json",
        AWS_BATCH_JOB_ARRAY_INDEX: "1",
        write: "r.txt=from the job",
        env: "GREETING",
      },
      ["--script", WORKER],
    );
    assert.strictEqual(run.code, 0, explain(run));
    assert.match(run.stdout, /worker: GREETING=hello from set 1\n/);
    const tree = readTree(root);
    assert.strictEqual(tree["results/sweep/1/r.txt"], "one");
    assert.ok("logs/sweep/1.log" in tree, Object.keys(tree).join(", "));
  });

  it("fails with 66 naming the missing input, before the script runs", async function () {
    const run = await runEntrypoint({ BATCHPY_LOCAL_ROOT: root, BATCHPY_INPUTS: "missing.csv" }, [
      "--script",
      WORKER,
    ]);
    assert.strictEqual(run.code, 66, explain(run));
    assert.match(runJobLine(run, "error:"), /could not download input .*missing\.csv: no file/);
    assert.ok(!run.stdout.includes("worker: to stdout"));
  });

  it("refuses to run without a bucket or a local folder, saying how to set one", async function () {
    const run = await runEntrypoint({ save_name: "x" });
    assert.strictEqual(run.code, 2, explain(run));
    assert.match(runJobLine(run, "BATCHPY_BUCKET"), /BATCHPY_LOCAL_ROOT/);
  });

  it("maps the options of a pre-parser and of the full parser built from it, running the body once", async function () {
    const marker = path.join(root, "body-ran.txt");
    const run = await runEntrypoint(
      { BATCHPY_LOCAL_ROOT: root, BODY_MARKER: marker, config: "defaults.ini", name: "n" },
      ["--script", path.join(FIXTURES, "pre_parser.py")],
    );
    assert.strictEqual(run.code, 0, explain(run));
    assert.deepStrictEqual(JSON.parse(run.stdout), { config: "defaults.ini", size: 10, name: "n" });
    assert.strictEqual(fs.readFileSync(marker, "utf8"), "pre_parser ran\n", "not in the probe");
  });

  it("stops the probe at parse_known_args() on an ordinary parser: the body runs once", async function () {
    const marker = path.join(root, "body-ran.txt");
    const run = await runEntrypoint({ BATCHPY_LOCAL_ROOT: root, BODY_MARKER: marker, beta: "b" }, [
      "--script",
      path.join(FIXTURES, "known_only.py"),
    ]);
    assert.strictEqual(run.code, 0, explain(run));
    assert.strictEqual(fs.readFileSync(marker, "utf8"), "known_only ran with beta=b\n");
  });

  it("finds a parser built in a helper module of the script's folder", async function () {
    const script = path.join(FIXTURES, "uses_helper.py");
    const described = await runEntrypoint({}, ["--describe", "--script", script]);
    assert.strictEqual(described.code, 0, explain(described));
    const options = (JSON.parse(described.stdout) as { options: { env: string }[] }).options;
    assert.deepStrictEqual(
      options.map((o) => o.env),
      ["alpha", "beta"],
    );
    const run = await runEntrypoint({ BATCHPY_LOCAL_ROOT: root, alpha: "A", beta: "2" }, [
      "--script",
      script,
    ]);
    assert.strictEqual(run.code, 0, explain(run));
    assert.strictEqual(run.stdout, "uses_helper: alpha=A beta=2\n");
  });

  it("runs a script without argparse with no arguments, and uploads what it wrote", async function () {
    const run = await runEntrypoint(
      { BATCHPY_LOCAL_ROOT: root, BATCHPY_JOB_NAME: "plain", var_a: "1" },
      ["--script", path.join(FIXTURES, "no_parser.py")],
    );
    assert.strictEqual(run.code, 0, explain(run));
    assert.strictEqual(run.stdout, "no_parser: argv=[]\n");
    assert.deepStrictEqual(readTree(path.join(root, "results")), { "plain/done.txt": "done" });
  });
});
