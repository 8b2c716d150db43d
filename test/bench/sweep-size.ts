/**
 * The sweep size cap (MAX_SWEEP_SETS in jobs/sweep.ts): `jobs:submit --dry-run` of a
 * 100,000-set and a 1,000,000-set sweep side by side, each a fresh process doing what a
 * real submission does before its first request: expand and validate the grid, check every
 * value with the script's argparse types (one python3), plan the chunks and build their
 * manifests. Worst case for the value check: every set a distinct int value. Wall time and
 * the node process's peak RSS (process.resourceUsage().maxRSS at exit; python3 not counted),
 * at node's default heap limit.
 */
import * as fs from "fs";
import * as path from "path";
import { STACK_OUTPUTS, spawnJobs, tempDir, writeOutputs } from "../helpers/jobs-harness";
import type { BenchResult } from "./result";

const SIZES = [100_000, 1_000_000];

export async function benchSweepSize(): Promise<BenchResult[]> {
  const dir = tempDir("bench-sweep-size");
  const results: BenchResult[] = [];
  try {
    const outputs = writeOutputs(dir, STACK_OUTPUTS);
    const probe = path.join(dir, "maxrss.js");
    fs.writeFileSync(
      probe,
      'process.on("exit", () => process.stderr.write(`maxRSS ${process.resourceUsage().maxRSS}\\n`));\n',
    );
    for (const n of SIZES) {
      const file = path.join(dir, `sweep-${n}.json`);
      fs.writeFileSync(
        file,
        JSON.stringify({
          jobName: `size-${n}`,
          base: { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } },
          grid: { var_a: Array.from({ length: n }, (_, i) => i), var_b: [1] },
        }),
      );
      const start = process.hrtime.bigint();
      const run = spawnJobs(
        ["submit", file, "--dry-run", "--json", "--outputs", outputs, "--state-dir", dir],
        { NODE_OPTIONS: `--require ${probe}` },
        dir,
      );
      const { code, stdout, stderr } = await run.done;
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (code !== 0) {
        throw new Error(`dry run of ${n} sets exited ${code}: ${stderr}`);
      }
      const chunks = (JSON.parse(stdout) as { requests: unknown[] }).requests.length;
      const rss = /maxRSS (\d+)/.exec(stderr);
      const label = `${n.toLocaleString("en-US")} sets (${chunks} array jobs)`;
      results.push({
        name: `jobs: plan, validate, type-check and build manifests of ${label}`,
        value: seconds,
        unit: "s",
      });
      results.push({
        name: `jobs: peak RSS of that node process (${label})`,
        value: rss !== null ? Math.round(Number(rss[1]) / 1024) : NaN,
        unit: "MiB",
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return results;
}
