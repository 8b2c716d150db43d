/** Helpers for tests that run python3 for real (the container entrypoint, its fixtures). */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
export const PYTHON = process.env.PYTHON ?? "python3";
export const ENTRYPOINT = path.join(REPO_ROOT, "container", "run_job.py");

export interface PythonResult {
  /** Exit code; null when a signal ended the process. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface PythonOptions {
  /** The whole environment of the child (see `baseEnv`); nothing leaks in from the host. */
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  /** Written to the child's stdin, which is then closed. */
  readonly input?: string;
  /** Kills the child after this long. @default 30000 */
  readonly timeoutMs?: number;
  /** Called once the child started, e.g. to watch its output or signal it. */
  readonly onSpawn?: (child: ChildProcess) => void;
}

/**
 * A minimal environment: the host's PATH and nothing else of it, so AWS_* or BATCHPY_*
 * variables of the machine running the tests cannot change what the child does.
 */
export function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    LANG: "C.UTF-8",
    // Importing run_job from a test would otherwise leave container/__pycache__ behind.
    PYTHONDONTWRITEBYTECODE: "1",
    ...extra,
  };
}

/**
 * Runs python3 with `args` and resolves with its exit code and output. Asynchronous on
 * purpose: tests that serve HTTP from this process (a local S3) would deadlock on spawnSync.
 */
export function runPython(
  args: readonly string[],
  opts: PythonOptions = {},
): Promise<PythonResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: opts.env ?? baseEnv(),
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
    opts.onSpawn?.(child);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({
        code,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** Runs `python3 container/run_job.py ARGS` with `env` on top of `baseEnv()`. */
export function runEntrypoint(
  env: Record<string, string>,
  args: readonly string[] = [],
  opts: Omit<PythonOptions, "env"> = {},
): Promise<PythonResult> {
  return runPython([ENTRYPOINT, ...args], { ...opts, env: baseEnv(env) });
}

/** A fresh temporary directory; remove it with `removeDir`. */
export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `batchpy-${prefix}-`));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Text of every file under `root`, keyed by its "/"-separated path relative to `root`. */
export function readTree(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (dir: string): void => {
    if (!fs.existsSync(dir)) {
      return;
    }
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(full);
      } else {
        files[path.relative(root, full).split(path.sep).join("/")] = fs.readFileSync(full, "utf8");
      }
    }
  };
  walk(root);
  return files;
}

/** Formats a failed run for an assertion message. */
export function explain(result: PythonResult): string {
  return `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}
