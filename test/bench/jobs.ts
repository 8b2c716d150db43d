/**
 * Jobs benchmark, against local endpoints (no AWS account needed): the Batch REST-JSON fake
 * and the in-memory S3 (whose conditional writes the claims need) run in this process; the CLI runs as its own process, as `npm run jobs:submit`
 * does, so its start-up is part of every figure.
 *
 *  - 1,000 job files with `jobs:submit` (one process, bounded concurrent requests), and
 *    what its exactly-once intent lines (fsync'ed) take alone: the same 1,000 lines recorded
 *    in this process by the submit's lanes with no request between them;
 *  - the tutorial's way: one `aws batch submit-job --cli-input-json` process per file, timed
 *    on 20 files and extrapolated to 1,000 (when an `aws` CLI is on PATH);
 *  - a 10,000-set array sweep: time and the number of SubmitJob requests;
 *  - what checking 10,000 distinct values with the script's argparse types adds;
 *  - 1,000 job files against servers as slow as AWS's, with Batch's account-wide call rate:
 *    SubmitJob answered in 120 ms, S3 (the claims) in 30 ms, 50 Batch calls a second.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { onPath } from "../helpers/on-path";
import { DEFAULT_SUBMIT_CONCURRENCY } from "../../jobs/aws/pool";
import { Ledger } from "../../jobs/state/ledger";
import { FakeBatch } from "../helpers/fake-batch";
import { MemoryS3 } from "../helpers/fake-s3-memory";
import {
  STACK_OUTPUTS,
  awsEnv,
  spawnJobs,
  writeJobFiles,
  writeOutputs,
} from "../helpers/jobs-harness";
import { median } from "./cli";
import type { BenchResult } from "./result";
import type { LoadedSweep } from "../../jobs/input/sweep";
import { checkVariables, probeScript } from "../../jobs/input/variables";
import { REPO_ROOT } from "../helpers/jobs-harness";

const FILES = 1000;
/** The figure: a few hundred files, where start-up weighs most. */
const FEW_FILES = 300;
const CLI_SAMPLE = 20;
const SWEEP_SETS = 10_000;
/** Each jobs:submit figure is the median of this many runs, each a fresh process. */
const RUNS = 3;

/**
 * Wall time of one `jobs` CLI process, in seconds; throws with its output on failure.
 * `unpaced`: through the tests' entry with no faults, the same CLI with its Batch calls
 * unpaced, so the figure is the tool's own speed (at AWS's 50 calls a second: aws-pace).
 */
async function timeCli(
  argv: readonly string[],
  env: Record<string, string>,
  cwd: string,
  unpaced = true,
): Promise<number> {
  const start = process.hrtime.bigint();
  const { code, stderr } = await spawnJobs(argv, env, cwd, unpaced ? {} : undefined).done;
  if (code !== 0) {
    throw new Error(`jobs ${argv.join(" ")} exited ${code}: ${stderr}`);
  }
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function runAws(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("aws", [...argv], { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`aws ${argv[1]} exited ${code}: ${stderr}`)),
    );
  });
}

/** Median wall time of RUNS fresh `jobs submit` processes; --force so each run submits all. */
async function medianSubmit(
  argv: readonly string[],
  env: Record<string, string>,
  cwd: string,
): Promise<number> {
  return (await timedSubmits(argv, env, cwd)).seconds;
}

/**
 * RUNS fresh `jobs submit` processes: the median wall time, and the median time from the
 * process's start to the first SubmitJob the local Batch server accepted.
 */
async function timedSubmits(
  argv: readonly string[],
  env: Record<string, string>,
  cwd: string,
  batch?: FakeBatch,
): Promise<{ seconds: number; firstRequest: number }> {
  const runs: number[] = [];
  const firsts: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const before = batch?.submitted().length ?? 0;
    const started = Date.now();
    runs.push(await timeCli([...argv, "--force"], env, cwd));
    const created =
      batch
        ?.submitted()
        .slice(before)
        .map((j) => j.createdAt) ?? [];
    firsts.push(created.length > 0 ? (Math.min(...created) - started) / 1000 : NaN);
  }
  return { seconds: median(runs), firstRequest: median(firsts) };
}

export async function benchJobs(): Promise<BenchResult[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-jobs-"));
  const batch = await FakeBatch.start({ autoAdvance: false });
  const s3 = await MemoryS3.start(STACK_OUTPUTS.bucketName);
  const results: BenchResult[] = [];
  try {
    const env = awsEnv({ batch: batch.url, s3: s3.url });
    const outputs = writeOutputs(dir, STACK_OUTPUTS);
    // The queue written out, so the aws CLI can take the very same files (and the stack's
    // job definition on its command line).
    const jobsDir = path.join(dir, "jobs");
    writeJobFiles(jobsDir, FILES, { jobQueue: STACK_OUTPUTS.jobQueueArn });
    const common = ["--outputs", outputs, "--state-dir", path.join(dir, "state")];
    const fewDir = path.join(dir, "jobs-few");
    fs.mkdirSync(fewDir);
    for (const f of fs.readdirSync(jobsDir).sort().slice(0, FEW_FILES)) {
      fs.copyFileSync(path.join(jobsDir, f), path.join(fewDir, f));
    }
    const few = await timedSubmits(
      ["submit", fewDir, ...common, "--stack", "bench-few"],
      env,
      dir,
      batch,
    );
    results.push({
      name: `jobs: submit ${FEW_FILES} job files with batchpy jobs submit, Batch calls unpaced (one process, median of ${RUNS})`,
      value: few.seconds,
      unit: "s",
    });
    results.push({
      name: `jobs: - first SubmitJob accepted, s after the process started (median of ${RUNS})`,
      value: few.firstRequest,
      unit: "s",
      target: "<= 1 s",
    });

    const submitSeconds = await medianSubmit(
      ["submit", jobsDir, ...common, "--stack", "bench"],
      env,
      dir,
    );
    const expected = (FEW_FILES + FILES) * RUNS;
    if (batch.count("submitjob", 200) !== expected) {
      throw new Error(
        `expected ${expected} accepted submissions, saw ${batch.count("submitjob", 200)}`,
      );
    }
    const intents = await intentSeconds(dir);
    results.push({
      name: `jobs: submit ${FILES} job files with batchpy jobs submit, Batch calls unpaced (one process, median of ${RUNS})`,
      value: submitSeconds,
      unit: "s",
    });
    results.push({
      name: `jobs: - its ${FILES} intent lines alone, recorded by ${DEFAULT_SUBMIT_CONCURRENCY} lanes (median of ${RUNS})`,
      value: intents,
      unit: "s",
    });
    results.push({
      name: "jobs: intent lines alone, as a share of that submit",
      value: Math.round((intents / submitSeconds) * 1000) / 10,
      unit: "%",
      target: "<= 10%",
    });

    if (onPath("aws") !== undefined) {
      const files = fs.readdirSync(jobsDir).sort().slice(0, CLI_SAMPLE);
      const start = process.hrtime.bigint();
      for (const f of files) {
        // Async: the fake Batch server answers from this very process.
        await runAws(
          [
            "batch",
            "submit-job",
            "--cli-input-json",
            `file://${path.join(jobsDir, f)}`,
            "--job-definition",
            STACK_OUTPUTS.jobDefinitionArn,
            "--endpoint-url",
            batch.url,
            "--region",
            "us-east-1",
          ],
          { ...process.env, ...env },
        );
      }
      const perFile = Number(process.hrtime.bigint() - start) / 1e9 / CLI_SAMPLE;
      const tutorial = perFile * FILES;
      results.push({
        name: `jobs: tutorial way, one aws CLI process per file (${CLI_SAMPLE} timed, x${FILES / CLI_SAMPLE}; ${perFile.toFixed(3)} s/file)`,
        value: tutorial,
        unit: "s",
      });
      results.push({
        name: `jobs: speed-up per job at ${FEW_FILES} files (tutorial s/file ÷ batchpy s/file)`,
        value: (perFile * FEW_FILES) / few.seconds,
        unit: "x",
        target: ">= 100x",
      });
      results.push({
        name: `jobs: speed-up per job at ${FILES} files`,
        value: tutorial / submitSeconds,
        unit: "x",
        target: ">= 100x",
      });
    } else {
      console.log(
        "jobs: no `aws` CLI on PATH (Debian: apt-get install awscli); skipped the tutorial-way comparison",
      );
    }

    const sweep = path.join(dir, "sweep.json");
    const side = Math.sqrt(SWEEP_SETS);
    fs.writeFileSync(
      sweep,
      JSON.stringify({
        jobName: "bench-sweep",
        base: { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } },
        grid: {
          var_a: Array.from({ length: side }, (_, i) => i),
          var_b: Array.from({ length: side }, (_, i) => i),
        },
      }),
    );
    const before = batch.count("submitjob");
    const sweepSeconds = await medianSubmit(
      ["submit", sweep, ...common, "--stack", "bench-sweep"],
      env,
      dir,
    );
    const requests = (batch.count("submitjob") - before) / RUNS;
    results.push({
      name: `jobs: submit a ${SWEEP_SETS.toLocaleString("en-US")}-set sweep as one array job (one process, median of ${RUNS})`,
      value: sweepSeconds,
      unit: "s",
      target: "< 2 s",
    });
    results.push({
      name: "jobs: SubmitJob requests per run of that sweep (plus 1 S3 PUT of its manifest)",
      value: requests,
      unit: "requests",
      target: "1",
    });
    results.push(...(await benchValueCheck()));
  } finally {
    await batch.close();
    await s3.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

/** Batch's rate: about 50 calls a second per account and region, every machine's together. */
const BATCH_CALLS_PER_SECOND = 50;

/**
 * One FILES-file submit against servers that answer as AWS does (SubmitJob 120 ms, S3 30 ms)
 * and refuse Batch calls past BATCH_CALLS_PER_SECOND: claims, intents, every Batch call and
 * the SDK's back-off after a 429 counted. The rate alone allows FILES / 50 s.
 */
export async function benchAwsPace(): Promise<BenchResult[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-pace-"));
  const jobsDir = path.join(dir, "jobs");
  writeJobFiles(jobsDir, FILES);
  const outputs = writeOutputs(dir, STACK_OUTPUTS);
  const batch = await FakeBatch.start({
    autoAdvance: false,
    submitDelayMs: 120,
    callsPerSecond: BATCH_CALLS_PER_SECOND,
  });
  const s3 = await MemoryS3.start(STACK_OUTPUTS.bucketName);
  s3.latencyMs = 30;
  try {
    const env = awsEnv({ batch: batch.url, s3: s3.url });
    const state = ["--state-dir", path.join(dir, "state-paced")];
    const argv = ["submit", jobsDir, "--outputs", outputs, ...state];
    const seconds = await timeCli(argv, env, dir, false);
    if (batch.count("submitjob", 200) !== FILES) {
      throw new Error(`expected ${FILES} jobs, saw ${batch.count("submitjob", 200)}`);
    }
    const floor = FILES / BATCH_CALLS_PER_SECOND;
    return [
      {
        name: `jobs: submit ${FILES} job files, SubmitJob 120 ms, S3 30 ms, Batch ${BATCH_CALLS_PER_SECOND} calls/s (one run; ${batch.count("submitjob", 429)} throttled)`,
        value: seconds,
        unit: "s",
        target: `<= ${(floor * 1.1).toFixed(0)} s (${floor} s the rate allows, +10%)`,
      },
    ];
  } finally {
    await batch.close();
    await s3.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The exactly-once intent lines of a FILES-job submit without the submit: each lane of
 * DEFAULT_SUBMIT_CONCURRENCY records its share one after another, as sendAll's lanes do, and
 * concurrent lines share an fsync as they do there. Median of RUNS fresh ledgers.
 */
async function intentSeconds(dir: string): Promise<number> {
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const ledger = Ledger.open(path.join(dir, `intents-${run}.jsonl`));
    const lane = async (first: number): Promise<void> => {
      for (let i = first; i < FILES; i += DEFAULT_SUBMIT_CONCURRENCY) {
        await ledger.recordIntent({
          v: 1,
          type: "intent",
          jobName: `job-${i}`,
          token: `token-${i}`,
          hash: "bench",
          jobQueue: STACK_OUTPUTS.jobQueueArn,
          kind: "single",
          run: "bench",
          at: new Date().toISOString(),
        });
      }
    };
    const start = process.hrtime.bigint();
    await Promise.all(Array.from({ length: DEFAULT_SUBMIT_CONCURRENCY }, (_, i) => lane(i)));
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
    ledger.close();
  }
  return median(times);
}

/**
 * What checking values with the script's argparse types adds to a 10,000-set sweep, worst
 * case: every set a distinct int value (pairs collected, one `run_job.py --check-values`
 * process, problems mapped back). Median of RUNS.
 */
async function benchValueCheck(): Promise<BenchResult[]> {
  const sets = Array.from(
    { length: SWEEP_SETS },
    (_, i) =>
      new Map([
        ["var_a", String(i)],
        ["save_name", "s"],
      ]),
  );
  const sweep: LoadedSweep = {
    kind: "sweep",
    file: "bench.json",
    jobName: "bench",
    base: {},
    sets,
    consumedFiles: [],
    keySources: new Map(),
    problemAt: (message) => ({ message }),
  };
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const start = process.hrtime.bigint();
    const probe = probeScript(REPO_ROOT, undefined);
    const checked = await checkVariables([sweep], await probe.description(), probe.check);
    if (checked.problems.length !== 0) {
      throw new Error("the bench sweep's values should all be valid ints");
    }
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  times.sort((a, b) => a - b);
  return [
    {
      name: `jobs: type-check ${SWEEP_SETS.toLocaleString("en-US")} distinct int values of a sweep, the script described and checked by one python3 (median of ${RUNS})`,
      value: times[Math.floor(RUNS / 2)],
      unit: "s",
      target: "well under 1 s added",
    },
  ];
}
