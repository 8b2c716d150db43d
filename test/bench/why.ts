/**
 * `npm run bench -- why`: how long `jobs why` takes, as a fresh process, to explain a job
 * behind a blocked head when every Batch answer takes 120 ms (the target: within 1.5 s).
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

const RUNS = 5;
const LATENCY_MS = 120;

export async function benchWhy(): Promise<BenchResult[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-why-"));
  const batch = await FakeBatch.start({ autoAdvance: false, latencyMs: LATENCY_MS });
  // The stack's bucket holds the submit's claims.
  const s3 = await MemoryS3.start(STACK_OUTPUTS.bucketName);
  try {
    const env = awsEnv({ batch: batch.url, s3: s3.url });
    const stack = ["--outputs", writeOutputs(dir, STACK_OUTPUTS), "--stack", "why"];
    const state = ["--state-dir", path.join(dir, "state")];
    writeJobFiles(path.join(dir, "jobs"), 2);
    const submit = await spawnJobs(["submit", "jobs", ...stack, ...state], env, dir).done;
    if (submit.code !== 0) {
      throw new Error(`jobs submit exited ${submit.code}: ${submit.stderr}`);
    }
    batch.advanceAll(2);
    const head = batch.submitted().find((j) => j.jobName === "job-0000");
    if (head === undefined) {
      throw new Error("job-0000 was not submitted");
    }
    head.statusReason = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY";
    const walls: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const started = Date.now();
      const why = await spawnJobs(["why", "job-0001", ...stack, ...state], env, dir).done;
      walls.push((Date.now() - started) / 1000);
      if (why.code !== 0) {
        throw new Error(`jobs why exited ${why.code}: ${why.stderr}`);
      }
    }
    return [
      {
        name: `why: jobs why of a job behind a blocked head, ${LATENCY_MS} ms per Batch answer, whole process (median of ${RUNS})`,
        value: median(walls),
        unit: "s",
        target: "<= 1.5 s",
      },
    ];
  } finally {
    await batch.close();
    await s3.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
