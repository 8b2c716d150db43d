/**
 * Drives test/container/fixtures/harness.py: many cases through run_job's Python functions
 * in one python3 process (a start costs ~50 ms; property tests need hundreds of cases).
 */
import * as assert from "assert";
import * as path from "path";
import { explain, runPython } from "../helpers/python";

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

export async function harness(cases: HarnessCase[]): Promise<HarnessResult[]> {
  const result = await runPython([path.join(FIXTURES, "harness.py")], {
    input: JSON.stringify({ cases }),
  });
  assert.strictEqual(result.code, 0, explain(result));
  return JSON.parse(result.stdout) as HarnessResult[];
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
