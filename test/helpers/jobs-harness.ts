/**
 * Runs the jobs CLI in tests: in-process through `run()` with captured output (fast), or as
 * a real `batchpy jobs` child process (for signals and crashes). AWS endpoints reach
 * the SDK the way users set them: AWS_ENDPOINT_URL_* environment variables.
 */
import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { run } from "../../jobs/cli";
import { createAwsClients } from "../../jobs/aws/api";
import type { Context } from "../../jobs/context";
import type { CommandResult } from "../../jobs/input/outputs";
import type { TestHooks } from "../../jobs/aws/test-hooks";
import {
  describeScript,
  parseDescription,
  type ScriptDescription,
} from "../../jobs/input/script-options";
import { checkValuesWithPython } from "../../jobs/input/value-types";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
/** The package's `bin` (bin/batchpy.js): the compiled fast path the npm scripts run. */
export const BATCHPY_BIN = path.join(REPO_ROOT, "bin", "batchpy.js");

/** What `python3 container/run_job.py --describe` prints for container/job/script.py. */
export const SCRIPT_DESCRIPTION_JSON = JSON.stringify({
  script: "script.py",
  options: [
    { env: "var_a", aliases: [], flag: "--var_a", kind: "value", required: false, action: "store" },
    { env: "var_b", aliases: [], flag: "--var_b", kind: "value", required: false, action: "store" },
    {
      env: "save_name",
      aliases: [],
      flag: "--save_name",
      kind: "value",
      required: true,
      action: "store",
    },
  ],
  groups: [],
  flag_values: { true: ["true", "1", "yes"], false: ["false", "0", "no"] },
});
export const SCRIPT_DESCRIPTION: ScriptDescription = parseDescription(
  SCRIPT_DESCRIPTION_JSON,
  "fixture",
);

export interface Endpoints {
  readonly batch?: string;
  readonly s3?: string;
  readonly logs?: string;
}

/** Environment for the SDK: endpoints, dummy credentials (s3rver's), no instance metadata. */
export function awsEnv(endpoints: Endpoints): Record<string, string> {
  return {
    ...(endpoints.batch !== undefined ? { AWS_ENDPOINT_URL_BATCH: endpoints.batch } : {}),
    ...(endpoints.s3 !== undefined ? { AWS_ENDPOINT_URL_S3: endpoints.s3 } : {}),
    ...(endpoints.logs !== undefined ? { AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: endpoints.logs } : {}),
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    AWS_REGION: "us-east-1",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  };
}

const AWS_VARS = [
  "AWS_ENDPOINT_URL",
  "AWS_ENDPOINT_URL_BATCH",
  "AWS_ENDPOINT_URL_S3",
  "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
  "AWS_PROFILE",
  "AWS_SESSION_TOKEN",
];

/** Sets `env` on process.env (the SDK reads it there); returns the undo. */
export function setProcessEnv(env: Record<string, string>): () => void {
  const saved = new Map<string, string | undefined>();
  for (const k of [...AWS_VARS, ...Object.keys(env)]) {
    saved.set(k, process.env[k]);
    delete process.env[k];
  }
  Object.assign(process.env, env);
  return () => {
    for (const [k, v] of saved) {
      if (v === undefined) {
        delete process.env[k];
      } else {
        process.env[k] = v;
      }
    }
  };
}

export function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `jobs-${label}-`));
}

/** Writes the stack outputs file the CLI reads with --outputs. */
export function writeOutputs(dir: string, outputs: Record<string, string>): string {
  const file = path.join(dir, "outputs.json");
  fs.writeFileSync(file, JSON.stringify(outputs));
  return file;
}

export const STACK_OUTPUTS = {
  bucketName: "batchpy-test-bucket",
  jobQueueName: "batchpy-queue",
  jobQueueArn: "arn:aws:batch:us-east-1:123456789012:job-queue/batchpy-queue",
  jobDefinitionName: "batchpy-job",
  jobDefinitionArn: "arn:aws:batch:us-east-1:123456789012:job-definition/batchpy-job:1",
  imageUri: "123456789012.dkr.ecr.us-east-1.amazonaws.com/batchpy:latest",
  logGroupName: "/aws/batch/batchpy",
  region: "us-east-1",
};

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface InProcessOptions {
  readonly cwd?: string;
  /** The script's options; "real" runs `python3 container/run_job.py --describe`. */
  readonly describe?: ScriptDescription | "real";
  readonly pulumi?: (args: readonly string[]) => CommandResult | undefined;
  readonly signal?: AbortSignal;
  readonly env?: NodeJS.ProcessEnv;
  readonly stderrIsTTY?: boolean;
  /** Fault injection and short waits (jobs/aws/test-hooks.ts). */
  readonly hooks?: TestHooks;
}

/** Runs `jobs <argv>` in this process with the real SDK clients. */
export async function runJobs(
  argv: readonly string[],
  opts: InProcessOptions = {},
): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const describe = opts.describe ?? SCRIPT_DESCRIPTION;
  const ctx: Context = {
    io: {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s), isTTY: opts.stderrIsTTY ?? false },
    },
    cwd: opts.cwd ?? REPO_ROOT,
    env: opts.env ?? process.env,
    repoRoot: REPO_ROOT,
    clients: (region) =>
      createAwsClients({
        region,
        env: process.env,
        ...(opts.hooks?.submitTimeoutMs !== undefined
          ? { submitTimeoutMs: opts.hooks.submitTimeoutMs }
          : {}),
      }),
    describe: async (script) =>
      describe === "real" ? describeScript({ repoRoot: REPO_ROOT, script }) : describe,
    ...(describe === "real"
      ? {
          checkValues: (
            script: string | undefined,
            pairs: readonly (readonly [string, string])[],
          ) => checkValuesWithPython(REPO_ROOT, script, pairs),
        }
      : {}),
    pulumi: opts.pulumi ?? (() => undefined),
    signal: opts.signal ?? new AbortController().signal,
    ...(opts.hooks !== undefined ? { hooks: opts.hooks } : {}),
  };
  const code = await run(argv, ctx);
  return { code, stdout, stderr };
}

/** Starts `batchpy jobs <argv>` as a child process, the package's bin as npm runs it. */
export function spawnJobs(
  argv: readonly string[],
  env: Record<string, string>,
  cwd = REPO_ROOT,
): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [BATCHPY_BIN, "jobs", ...argv], {
    cwd,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? os.tmpdir(),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (b: Buffer) => (stdout += b.toString()));
  child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<CliResult>((resolve) => {
    child.on("close", (code, signal) =>
      resolve({ code: code ?? (signal === "SIGKILL" ? 137 : 128), stdout, stderr }),
    );
  });
  return { child, done };
}

/** Writes `n` job files named job-0000.json ... into `dir`; returns their names. */
export function writeJobFiles(
  dir: string,
  n: number,
  extra: Record<string, unknown> = {},
): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const jobName = `job-${String(i).padStart(4, "0")}`;
    names.push(jobName);
    fs.writeFileSync(
      path.join(dir, `${jobName}.json`),
      JSON.stringify({
        jobName,
        containerOverrides: {
          environment: [
            { name: "var_a", value: String(i) },
            { name: "save_name", value: `out-${i}` },
          ],
        },
        ...extra,
      }),
    );
  }
  return names;
}
