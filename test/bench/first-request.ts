/**
 * `npm run bench -- first-request`: how soon a `jobs submit` process's first SubmitJob
 * reaches the local Batch server (the target: within 1 s of start),
 * without the rest of the jobs suite (1,000-file runs and a 10,000-set sweep). 300 job files
 * with a typed option (var_a, an int), so the values check runs as in real use. Each run is
 * a fresh process; the CPU (user + system) of the process and the Python children it waited
 * for is read from this process's /proc/self/stat (children's times), and the load average
 * is printed beside the figures: on a shared 2-core machine the wall time measures the
 * neighbours too.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
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

const FILES = 300;
const RUNS = 7;

/** CPU seconds of this process's waited-for children so far (cutime + cstime). */
function childrenCpu(): number {
  const stat = fs.readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 16 and 17 of proc(5), counted from after the command name (field 3 is index 0).
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

interface Run {
  readonly wall: number;
  readonly first: number;
  readonly cpu: number;
}

async function oneRun(
  argv: readonly string[],
  env: Record<string, string>,
  cwd: string,
  batch: FakeBatch,
): Promise<Run> {
  const before = batch.submitted().length;
  const cpuBefore = childrenCpu();
  const started = Date.now();
  const { code, stderr } = await spawnJobs([...argv, "--force"], env, cwd).done;
  const wall = (Date.now() - started) / 1000;
  if (code !== 0) {
    throw new Error(`jobs ${argv.join(" ")} exited ${code}: ${stderr}`);
  }
  const created = batch
    .submitted()
    .slice(before)
    .map((j) => j.createdAt);
  return { wall, first: (Math.min(...created) - started) / 1000, cpu: childrenCpu() - cpuBefore };
}

export async function benchFirstRequest(): Promise<BenchResult[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-first-"));
  const batch = await FakeBatch.start({ autoAdvance: false });
  const s3 = await MemoryS3.start(STACK_OUTPUTS.bucketName);
  try {
    const env = awsEnv({ batch: batch.url, s3: s3.url });
    const outputs = writeOutputs(dir, STACK_OUTPUTS);
    const jobsDir = path.join(dir, "jobs");
    writeJobFiles(jobsDir, FILES, { jobQueue: STACK_OUTPUTS.jobQueueArn });
    const argv = ["submit", jobsDir, "--outputs", outputs, "--state-dir", path.join(dir, "state")];
    const load = os.loadavg()[0];
    const runs: Run[] = [];
    for (let i = 0; i < RUNS; i++) {
      runs.push(await oneRun([...argv, "--stack", "first"], env, dir, batch));
    }
    const loadAfter = os.loadavg()[0];
    const pick = (k: keyof Run): number => median(runs.map((r) => r[k]));
    return [
      {
        name: `first-request: first SubmitJob accepted, s after start (${FILES} files, median of ${RUNS})`,
        value: pick("first"),
        unit: "s",
        target: "<= 1 s",
      },
      { name: "first-request: - whole submit, wall", value: pick("wall"), unit: "s" },
      {
        name: "first-request: - whole submit, CPU (user + system, Python children included)",
        value: pick("cpu"),
        unit: "s",
      },
      {
        name: "first-request: load average (1 min) before / after",
        value: Math.round(load * 100) / 100,
        unit: `/ ${loadAfter.toFixed(2)}`,
      },
    ];
  } finally {
    await batch.close();
    await s3.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
