/**
 * CLI start-up: `batchpy jobs status --help` through the package's bin, beside the ways
 * to reach the same help that add npm (`npm run jobs:status`, `npx batchpy`) and the
 * ts-node start the npm scripts used before the bin (`ts-node jobs/cli.ts`, compiling
 * TypeScript at every run). Each figure is the median of several fresh processes.
 */
import { spawn } from "child_process";
import * as path from "path";
import type { BenchResult } from "./result";

const ROOT = path.resolve(__dirname, "..", "..");
const RUNS = 7;
/** The slow ways take seconds each; fewer runs keep the bench short. */
const SLOW_RUNS = 3;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Wall seconds of `command args` to exit 0, with stdout ignored. */
function timeProcess(command: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(command, [...args], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve(Number(process.hrtime.bigint() - start) / 1e9)
        : reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${stderr}`)),
    );
  });
}

async function medianOf(runs: number, command: string, args: readonly string[]): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    times.push(await timeProcess(command, args));
  }
  return median(times);
}

export async function benchCli(): Promise<BenchResult[]> {
  const help = ["jobs", "status", "--help"];
  const bin = path.join(ROOT, "bin", "batchpy.js");
  // One run first, so the transpile cache holds the current sources.
  await timeProcess(process.execPath, [bin, ...help]);
  const ways: [string, number, string, readonly string[], string?][] = [
    [
      `bin/batchpy.js ${help.join(" ")} (the package's bin)`,
      RUNS,
      process.execPath,
      [bin, ...help],
      "<= 0.35 s",
    ],
    [
      "npm run jobs:status -- --help (npm adds its own start)",
      SLOW_RUNS,
      "npm",
      ["run", "-s", "jobs:status", "--", "--help"],
    ],
    [
      `npx batchpy ${help.join(" ")} (npm's self-install of the bin)`,
      SLOW_RUNS,
      "npx",
      ["batchpy", ...help],
    ],
    [
      "before: ts-node jobs/cli.ts status --help (transpile-only)",
      SLOW_RUNS,
      process.execPath,
      [
        "-r",
        "ts-node/register/transpile-only",
        path.join(ROOT, "jobs", "cli.ts"),
        "status",
        "--help",
      ],
    ],
  ];
  const results: BenchResult[] = [];
  for (const [name, runs, command, args, target] of ways) {
    results.push({
      name: `cli: ${name}, median of ${runs}`,
      value: await medianOf(runs, command, args),
      unit: "s",
      ...(target !== undefined ? { target } : {}),
    });
  }
  return results;
}
