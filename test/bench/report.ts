/**
 * `jobs:report` over a 10,000-child sweep, against the local Batch fake, the in-memory S3
 * and the local CloudWatch Logs: every child finished, wrote metrics.json and a pickle, and
 * its log holds the metrics line the entrypoint prints. s3rver spends milliseconds per
 * request on its own files, which would swamp the tool's figure. The CLI runs as its own
 * process, as `npm run jobs:report` does, so its start-up is part of the figure. Twice: as
 * the stack is, and once the log's lines are gone (retention), so every metrics file is a
 * GetObject.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { FakeBatch } from "../helpers/fake-batch";
import { MemoryS3 } from "../helpers/fake-s3-memory";
import { FakeCloudWatchLogs } from "../helpers/fake-cloudwatch-logs";
import { METRICS } from "../../components/contract";
import { STACK_OUTPUTS, awsEnv, spawnJobs, writeOutputs } from "../helpers/jobs-harness";
import type { BenchResult } from "./result";

const SETS = 10_000;
const RUNS = 3;

export async function benchReport(): Promise<BenchResult[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-report-"));
  const batch = await FakeBatch.start({
    autoAdvance: false,
    outcome: ({ index }) =>
      index !== undefined && index % 100 === 7
        ? { status: "FAILED", exitCode: 1 }
        : { status: "SUCCEEDED" },
  });
  const s3 = await MemoryS3.start(STACK_OUTPUTS.bucketName);
  const logs = await FakeCloudWatchLogs.start();
  const expired = await FakeCloudWatchLogs.start();
  try {
    const env = awsEnv({ batch: batch.url, s3: s3.url, logs: logs.url });
    const common = [
      "--outputs",
      writeOutputs(dir, STACK_OUTPUTS),
      "--state-dir",
      path.join(dir, "state"),
    ];
    const side = Math.sqrt(SETS);
    const sweep = path.join(dir, "sweep.json");
    fs.writeFileSync(
      sweep,
      JSON.stringify({
        jobName: "bench-report",
        base: { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } },
        grid: {
          var_a: Array.from({ length: side }, (_, i) => i),
          var_b: Array.from({ length: side }, (_, i) => i),
        },
      }),
    );
    const submitted = await spawnJobs(["submit", sweep, ...common], env, dir).done;
    if (submitted.code !== 0) {
      throw new Error(`submit failed: ${submitted.stderr}`);
    }
    batch.finishAll();
    // What the children would have uploaded (metrics.json and a result file each), and
    // printed to their log streams.
    for (let i = 0; i < SETS; i++) {
      if (i % 100 !== 7) {
        const a = Math.floor(i / side);
        const metrics = JSON.stringify({ product: a * (i % side) });
        s3.put(`results/bench-report/${i}/${METRICS.file}`, metrics);
        s3.put(`results/bench-report/${i}/r.p`, "pickle");
        logs.put(STACK_OUTPUTS.logGroupName, `batchpy/default/${i}`, [
          `${a} * ${i % side} = ${a * (i % side)}`,
          METRICS.logLinePrefix + metrics,
        ]);
      }
    }
    // The same stack once its log's retention has passed: the group is there, the lines not.
    expired.createLogGroup(STACK_OUTPUTS.logGroupName);
    const expiredEnv = { ...env, ...awsEnv({ logs: expired.url }) };

    const cold = await timeReports(RUNS);
    const gone = await timeReports(RUNS, expiredEnv);
    const sets = SETS.toLocaleString("en-US");
    return [
      {
        name: `report: jobs:report --json, ${sets}-child finished sweep (median of ${RUNS})`,
        value: cold.seconds,
        unit: "s",
        target: "<= 5 s",
      },
      {
        name: `report: the same, the log's metrics lines expired: all from S3 (median of ${RUNS})`,
        value: gone.seconds,
        unit: "s",
      },
      {
        name: "report: DescribeJobs calls per report (100 IDs each)",
        value: cold.describe,
        unit: "calls",
        target: "101",
      },
      {
        name: "report: S3 requests per report (list pages, manifest, claims listing, metrics)",
        value: cold.s3,
        unit: `requests (${gone.s3} with the lines expired)`,
        target: "20 + 1 + 1 (20 + 1 + 1 + 9,900)",
      },
      {
        name: "report: FilterLogEvents calls per report",
        value: cold.logs,
        unit: "calls",
        target: "1",
      },
      {
        name: "report: rows with metrics merged in / with the lines expired",
        value: cold.rows,
        unit: `/ ${gone.rows} rows`,
        target: `${SETS - SETS / 100}`,
      },
    ];

    /** `runs` reports: median seconds, requests per report, rows with metrics in the last. */
    async function timeReports(
      runs: number,
      runEnv = env,
    ): Promise<{ seconds: number; describe: number; s3: number; rows: number; logs: number }> {
      const s3Reads = (): number =>
        (s3.requests.get("ListObjectsV2") ?? 0) + (s3.requests.get("GetObject") ?? 0);
      const filterCalls = (): number =>
        logs.requests.filter((r) => r.target.endsWith("FilterLogEvents")).length;
      const describeBefore = batch.count("describejobs");
      const s3Before = s3Reads();
      const logsBefore = filterCalls();
      const times: number[] = [];
      let rows = 0;
      for (let run = 0; run < runs; run++) {
        const start = process.hrtime.bigint();
        const r = await spawnJobs(["report", ...common, "--json"], runEnv, dir).done;
        times.push(Number(process.hrtime.bigint() - start) / 1e9);
        if (r.code !== 0) {
          throw new Error(`report failed: ${r.stderr}`);
        }
        const doc = JSON.parse(r.stdout) as { rows: { metrics: { product?: number } }[] };
        rows = doc.rows.filter((x) => x.metrics.product !== undefined).length;
      }
      return {
        seconds: [...times].sort((a, b) => a - b)[Math.floor(runs / 2)],
        describe: (batch.count("describejobs") - describeBefore) / runs,
        s3: (s3Reads() - s3Before) / runs,
        logs: (filterCalls() - logsBefore) / runs,
        rows,
      };
    }
  } finally {
    await batch.close();
    await s3.close();
    await logs.close();
    await expired.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
