/**
 * Drives test/container/fixtures/harness.py: many cases through run_job's Python functions
 * in one python3 process (a start costs ~50 ms, far more on a busy machine; property tests
 * need hundreds of cases). The process serves every `harness()` call of the test process,
 * one request per line; a test file that uses it calls `stopHarness` in a root `after`.
 */
import * as assert from "assert";
import { ChildProcessWithoutNullStreams, spawn } from "child_process";
import * as path from "path";
import { PYTHON, REPO_ROOT, baseEnv } from "../helpers/python";

export const FIXTURES = path.join(__dirname, "fixtures");
export const ECHO_ARGS = path.join(FIXTURES, "echo_args.py");

export type HarnessCase =
  | { op: "map"; script: string; env: Record<string, string> }
  | { op: "describe"; script: string }
  | { op: "manifest"; text: string; index: number }
  | { op: "config"; env: Record<string, string> }
  | {
      op: "job";
      script: string;
      env: Record<string, string>;
      /** Objects in the store, by key. */
      inputs?: Record<string, string>;
      /** A put of a key ending in NAME raises this Python exception (or "StorageError"). */
      fail?: Record<string, string>;
    };

/** What run_job reported for one case: its fields depend on the op. */
export interface HarnessResult {
  /** run_job's problems, one line each, when it refused the case. */
  readonly error?: string[];
  readonly code?: number;
  readonly argv?: string[];
  /** The script's argparse result for the mapped argv. */
  readonly args?: Record<string, unknown>;
  readonly argparse_error?: string;
  readonly [field: string]: unknown;
}

/** A running `harness.py --serve`: answers requests in the order they were sent. */
class HarnessProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: {
    resolve: (line: string) => void;
    reject: (err: Error) => void;
  }[] = [];
  private stdout = "";
  private stderr = "";
  private readonly exited: Promise<void>;

  constructor() {
    this.child = spawn(PYTHON, [path.join(FIXTURES, "harness.py"), "--serve"], {
      cwd: REPO_ROOT,
      env: baseEnv(),
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.child.stdout.on("data", (b: Buffer) => {
      this.stdout += b.toString("utf8");
      let end: number;
      while ((end = this.stdout.indexOf("\n")) >= 0) {
        const line = this.stdout.slice(0, end);
        this.stdout = this.stdout.slice(end + 1);
        this.waiting.shift()?.resolve(line);
      }
    });
    this.child.stderr.on("data", (b: Buffer) => (this.stderr += b.toString("utf8")));
    this.exited = new Promise((resolve) => {
      const fail = (why: string) => {
        const err = new assert.AssertionError({
          message: `harness.py ${why}\n--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`,
        });
        for (const w of this.waiting.splice(0)) {
          w.reject(err);
        }
        resolve();
      };
      this.child.on("error", (err) => fail(`could not start: ${err.message}`));
      this.child.on("close", (code, signal) => fail(`exited (${signal ?? `exit ${code}`})`));
    });
  }

  async request(cases: HarnessCase[]): Promise<HarnessResult[]> {
    const line = await new Promise<string>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(`${JSON.stringify({ cases })}\n`);
    });
    return JSON.parse(line) as HarnessResult[];
  }

  /** Closes its stdin (it exits at once); kills it if it has not after 10 s. */
  async stop(): Promise<void> {
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

let shared: HarnessProcess | undefined;

export function harness(cases: HarnessCase[]): Promise<HarnessResult[]> {
  shared ??= new HarnessProcess();
  return shared.request(cases);
}

/** Stops the harness process, if one was started (a later `harness()` starts another). */
export async function stopHarness(): Promise<void> {
  const running = shared;
  shared = undefined;
  await running?.stop();
}

/** Maps each env through echo_args.py (with its required --must set) and parses it. */
export function mapEcho(envs: Record<string, string>[]): Promise<HarnessResult[]> {
  return harness(envs.map((env) => ({ op: "map", script: ECHO_ARGS, env: { must: "m", ...env } })));
}

/** The one error line of a refused case that contains `needle`; fails showing the result. */
export function errorLine(result: HarnessResult, needle: string): string {
  const line = (result.error ?? []).find((l) => l.includes(needle));
  assert.ok(
    line,
    `expected an error mentioning ${JSON.stringify(needle)}, got ${JSON.stringify(result)}`,
  );
  return line;
}
