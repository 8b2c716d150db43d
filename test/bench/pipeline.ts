/**
 * `npm run bench -- pipeline`: what a step after a sweep costs a submit. Against the local
 * Batch server answering each SubmitJob in SUBMIT_DELAY_MS, as AWS does from afar, a folder
 * of a sweep and one step after it should take at most one round trip more than the sweep
 * alone: the step goes once the sweep is in the ledger, and nothing else is asked. Fresh
 * processes, the two folders alternated, medians.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { FakeBatch } from "../helpers/fake-batch";
import { MemoryS3 } from "../helpers/fake-s3-memory";
import { STACK_OUTPUTS, awsEnv, spawnJobs, writeOutputs } from "../helpers/jobs-harness";
import { median } from "./cli";
import type { BenchResult } from "./result";

const SUBMIT_DELAY_MS = 120;
const RUNS = 5;

const env = [{ name: "save_name", value: "bench" }];
const SWEEP = {
  jobName: "grid",
  grid: { var_a: [1, 2, 3, 4, 5, 6] },
  base: { containerOverrides: { environment: env } },
};
const STEP = {
  jobName: "step",
  dependsOn: [{ jobName: "grid" }],
  containerOverrides: { environment: env },
};

function writeFolder(dir: string, files: Record<string, unknown>): string {
  fs.mkdirSync(dir);
  for (const [name, value] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, name), JSON.stringify(value));
  }
  return dir;
}

async function seconds(
  argv: readonly string[],
  vars: Record<string, string>,
  cwd: string,
): Promise<number> {
  const started = process.hrtime.bigint();
  const { code, stderr } = await spawnJobs([...argv, "--force"], vars, cwd).done;
  if (code !== 0) {
    throw new Error(`jobs ${argv.join(" ")} exited ${code}: ${stderr}`);
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export async function benchPipeline(): Promise<BenchResult[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-pipeline-"));
  const batch = await FakeBatch.start({ autoAdvance: false, submitDelayMs: SUBMIT_DELAY_MS });
  const s3 = await MemoryS3.start(STACK_OUTPUTS.bucketName);
  try {
    const vars = awsEnv({ batch: batch.url, s3: s3.url });
    const common = [
      "--outputs",
      writeOutputs(dir, STACK_OUTPUTS),
      "--state-dir",
      path.join(dir, "state"),
    ];
    const sweep = writeFolder(path.join(dir, "sweep"), { "grid.json": SWEEP });
    const both = writeFolder(path.join(dir, "pipeline"), { "grid.json": SWEEP, "step.json": STEP });
    const alone: number[] = [];
    const withStep: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      alone.push(await seconds(["submit", sweep, ...common, "--stack", "sweep"], vars, dir));
      withStep.push(await seconds(["submit", both, ...common, "--stack", "pipeline"], vars, dir));
    }
    const extra = (median(withStep) - median(alone)) / (SUBMIT_DELAY_MS / 1000);
    return [
      {
        name: `pipeline: submit a 6-set sweep alone, SubmitJob answered in ${SUBMIT_DELAY_MS} ms (median of ${RUNS})`,
        value: median(alone),
        unit: "s",
      },
      {
        name: `pipeline: - the same sweep and a step after it, one folder (median of ${RUNS})`,
        value: median(withStep),
        unit: "s",
      },
      {
        name: `pipeline: - the step's extra time, in ${SUBMIT_DELAY_MS} ms round trips`,
        value: Math.round(extra * 100) / 100,
        unit: "round trips",
        target: "<= 1",
      },
    ];
  } finally {
    await batch.close();
    await s3.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
