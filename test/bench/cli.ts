/**
 * CLI start-up: `batchpy jobs status --help` through the package's bin, beside a bare
 * `python3 -c pass` (the target is twice its time), the ways to reach the same help that add
 * npm (`npm run jobs:status`, `npx batchpy`) and the ts-node start the npm scripts used
 * before the bin (`ts-node jobs/cli.ts`, compiling TypeScript at every run). Each figure is
 * the median of several fresh processes, with its CPU beside it: on a shared machine the
 * wall time measures the neighbours too.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
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

interface Timing {
  readonly wall: number;
  /** User + system CPU of the process and its children: what a busy machine cannot inflate much. */
  readonly cpu: number;
}

/** Times `command args` to exit 0 (stdout ignored), through bash's `time` for the CPU. */
function timeProcess(command: string, args: readonly string[]): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const script = `TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>"$TIMING_STDERR"`;
    const stderrFile = path.join(os.tmpdir(), `batchpy-bench-${process.pid}.stderr`);
    const child = spawn("bash", ["-c", script, "bash", command, ...args], {
      cwd: ROOT,
      env: { ...process.env, TIMING_STDERR: stderrFile },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let timing = "";
    child.stderr.on("data", (b: Buffer) => (timing += b.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const stderr = fs.existsSync(stderrFile) ? fs.readFileSync(stderrFile, "utf8") : "";
      fs.rmSync(stderrFile, { force: true });
      if (code !== 0) {
        reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${stderr}`));
        return;
      }
      const [wall, user, sys] = timing.trim().split("\n").pop()!.split(" ").map(Number);
      resolve({ wall, cpu: user + sys });
    });
  });
}

async function medianOf(runs: number, command: string, args: readonly string[]): Promise<Timing> {
  const times: Timing[] = [];
  for (let i = 0; i < runs; i++) {
    times.push(await timeProcess(command, args));
  }
  return { wall: median(times.map((t) => t.wall)), cpu: median(times.map((t) => t.cpu)) };
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
      "<= 2x python3 -c pass",
    ],
    ["python3 -c pass (the yardstick)", RUNS, "python3", ["-c", "pass"]],
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
    const timing = await medianOf(runs, command, args);
    results.push({
      name: `cli: ${name}, median of ${runs}`,
      value: timing.wall,
      unit: "s",
      ...(target !== undefined ? { target } : {}),
    });
    results.push({
      name: "cli: - its CPU (user + system, children included)",
      value: timing.cpu,
      unit: "s",
    });
  }
  return results;
}
