/**
 * `npm run test:profile [-- <files or globs>]`: where the test suite's time goes, per file.
 * Runs each test file in its own mocha process (as `npm run test:unit` loads it) and prints
 * its wall time and the CPU it and its children used (node, python, the policy pack),
 * slowest first. CPU is the figure to read on a busy machine: wall time there mostly
 * measures the neighbours. Needs bash (its `time` counts the children's CPU).
 */
import { spawn } from "child_process";
import * as path from "path";
import fg from "fast-glob";
// Once here, not in each file's mocha process: they inherit the PATH it sets.
import "./helpers/real-python";
import { mochaGlobalSetup as compileContainerPython } from "./helpers/python-bytecode";

const ROOT = path.resolve(__dirname, "..");
const MOCHA = require.resolve("mocha/bin/mocha.js", { paths: [ROOT] });

interface FileProfile {
  readonly file: string;
  readonly wall: number;
  readonly cpu: number;
  readonly passed: boolean;
}

function profileFile(file: string): Promise<FileProfile> {
  return new Promise((resolve, reject) => {
    const command = `TIMEFORMAT='%R %U %S'; time "$0" "$1" --reporter dot "$2" >/dev/null 2>&1`;
    const child = spawn("bash", ["-c", command, process.execPath, MOCHA, file], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const [wall, user, sys] = stderr.trim().split("\n").pop()!.split(" ").map(Number);
      resolve({ file, wall, cpu: user + sys, passed: code === 0 });
    });
  });
}

async function main(): Promise<void> {
  // As `npm run test:unit` does before its workers start.
  compileContainerPython();
  const patterns = process.argv.slice(2);
  const files = (
    await fg(patterns.length > 0 ? patterns : ["test/**/*.test.ts"], { cwd: ROOT })
  ).sort();
  const profiles: FileProfile[] = [];
  for (const file of files) {
    const p = await profileFile(file);
    profiles.push(p);
    process.stderr.write(`${p.file} ${p.wall.toFixed(1)} s wall, ${p.cpu.toFixed(1)} s CPU\n`);
  }
  profiles.sort((a, b) => b.cpu - a.cpu);
  const total = (key: "wall" | "cpu") => profiles.reduce((sum, p) => sum + p[key], 0);
  console.log(`${"file".padEnd(48)} ${"wall s".padStart(8)} ${"CPU s".padStart(8)}`);
  for (const p of profiles) {
    const failed = p.passed ? "" : "  (failed)";
    console.log(
      `${p.file.padEnd(48)} ${p.wall.toFixed(1).padStart(8)} ${p.cpu.toFixed(1).padStart(8)}${failed}`,
    );
  }
  console.log(
    `${"total (one process per file)".padEnd(48)} ${total("wall").toFixed(1).padStart(8)} ${total("cpu").toFixed(1).padStart(8)}`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
