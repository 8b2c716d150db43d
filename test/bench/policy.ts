/**
 * How long `npm run policy:check` takes for the dev stack: the whole command through the
 * package's bin, as the npm script runs it (node start, the program under mocks, the policy
 * pack's own process, every Analyze call and AnalyzeStack), and its phases.
 */
import { spawn } from "child_process";
import * as path from "path";
import { performance } from "perf_hooks";
import { BenchResult } from "./result";

const ROOT = path.resolve(__dirname, "..", "..");
const RUNS = 3;

interface CheckRun {
  readonly seconds: number;
  readonly timings: Record<string, number>;
  readonly resources: number;
}

function runCheck(): Promise<CheckRun> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(
      process.execPath,
      [path.join(ROOT, "bin", "batchpy.js"), "policy", "check", "--stack", "dev", "--json"],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const seconds = (performance.now() - start) / 1000;
      if (code !== 0) {
        reject(new Error(`policy:check --stack dev exited ${code}:\n${stdout}\n${stderr}`));
        return;
      }
      const report = JSON.parse(stdout) as {
        timings: Record<string, number>;
        resourcesAnalyzed: number;
      };
      resolve({ seconds, timings: report.timings, resources: report.resourcesAnalyzed });
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export async function benchPolicy(): Promise<BenchResult[]> {
  const runs: CheckRun[] = [];
  for (let i = 0; i < RUNS; i++) {
    runs.push(await runCheck());
  }
  const phase = (key: string) => median(runs.map((r) => r.timings[key]));
  return [
    {
      name: `policy: batchpy policy check --stack dev, whole command through the bin (median of ${RUNS})`,
      value: median(runs.map((r) => r.seconds)),
      unit: "s",
      target: "<= 2 s",
    },
    {
      name: "policy: - program evaluated under mocks, s after start (pack starting alongside)",
      value: phase("program evaluated"),
      unit: "s",
    },
    {
      name: "policy: - pack process serving, s after start (transpile cache, no type-check)",
      value: phase("pack serving"),
      unit: "s",
    },
    {
      name: "policy: - verdict (every Analyze and AnalyzeStack answered), s after start",
      value: phase("verdict"),
      unit: "s",
    },
    { name: "policy: resources analyzed for dev", value: runs[0].resources, unit: "resources" },
  ];
}
