/**
 * Runs the jobs CLI in tests: in-process through `run()` with captured output (fast), or as
 * a real `batchpy jobs` child process (for signals and crashes). AWS endpoints reach
 * the SDK the way users set them: AWS_ENDPOINT_URL_* environment variables.
 */
import * as assert from "assert";
import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { run } from "../../jobs/cli";
import { createAwsClients } from "../../jobs/aws/api";
import type { Context, Io } from "../../jobs/context";
import type { CommandResult } from "../../jobs/input/outputs";
import type { CrashPoint, Faults } from "../../jobs/aws/exactly-once";
import type { FaultSpec } from "./cli-with-faults";
import { parseDescription, type ScriptDescription } from "../../jobs/input/variables";
import {
  probeScript,
  type CheckAnswer,
  type CheckRequest,
  type ScriptProbe,
} from "../../jobs/input/variables";
import { stackStateName } from "../../jobs/input/outputs";
import { FakeBatch, type FakeBatchOptions, type FakeJob } from "./fake-batch";
import { Ledger, ledgerPath } from "../../jobs/state/ledger";
import { FakeCloudWatchLogs } from "./fake-cloudwatch-logs";
import { FakeEcs } from "./fake-ecs";
import { FakeS3, S3RVER_KEY } from "./fake-s3";
import { MemoryS3 } from "./fake-s3-memory";
import { STATE_PREFIX } from "../../components/contract";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
/** The package's `bin` (bin/batchpy.js): the compiled fast path the npm scripts run. */
export const BATCHPY_BIN = path.join(REPO_ROOT, "bin", "batchpy.js");
/** The same CLI with faults injected through its context (see the file). */
const CLI_WITH_FAULTS = path.join(__dirname, "cli-with-faults.ts");

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
});
export const SCRIPT_DESCRIPTION: ScriptDescription = parseDescription(
  SCRIPT_DESCRIPTION_JSON,
  "fixture",
);

/** A description as a `--script-options` file, written once per description. */
const descriptionFiles = new WeakMap<ScriptDescription, string>();
function descriptionFile(desc: ScriptDescription): string {
  let file = descriptionFiles.get(desc);
  if (file === undefined) {
    file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "jobs-desc-")), "script-options.json");
    fs.writeFileSync(file, JSON.stringify(desc));
    descriptionFiles.set(desc, file);
  }
  return file;
}

/** The entrypoint's check of a job's variables against `desc`, as a submit asks it. */
export function checkAgainst(
  desc: ScriptDescription,
): (request: CheckRequest) => Promise<CheckAnswer> {
  return (request) => savedProbe(desc).check(request);
}

/**
 * The real entrypoint's answers against saved descriptions, by description, script and
 * request: no script runs, so the answer is a function of the three, and many tests ask alike.
 */
const savedAnswers = new Map<string, Promise<CheckAnswer>>();

/** The real entrypoint's check against `desc`, a saved description, started when asked. */
function savedProbe(desc: ScriptDescription, script?: string): ScriptProbe {
  const saved = { file: descriptionFile(desc), description: desc };
  return {
    description: async () => desc,
    check: (request) => {
      const key = JSON.stringify([saved.file, script ?? null, request]);
      const answer = savedAnswers.get(key) ?? probeScript(REPO_ROOT, script, saved).check(request);
      savedAnswers.set(key, answer);
      return answer;
    },
    stop: () => undefined,
  };
}

export interface Endpoints {
  readonly batch?: string;
  readonly s3?: string;
  readonly logs?: string;
  readonly ecs?: string;
}

/** Environment for the SDK: endpoints, dummy credentials (s3rver's), no instance metadata. */
export function awsEnv(endpoints: Endpoints): Record<string, string> {
  return {
    ...(endpoints.batch !== undefined ? { AWS_ENDPOINT_URL_BATCH: endpoints.batch } : {}),
    ...(endpoints.s3 !== undefined ? { AWS_ENDPOINT_URL_S3: endpoints.s3 } : {}),
    ...(endpoints.logs !== undefined ? { AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: endpoints.logs } : {}),
    ...(endpoints.ecs !== undefined ? { AWS_ENDPOINT_URL_ECS: endpoints.ecs } : {}),
    // Any service a test did not point anywhere goes to a closed port on this machine,
    // never to AWS: the SDK takes AWS_ENDPOINT_URL when no service-specific one is set.
    AWS_ENDPOINT_URL: "http://127.0.0.1:1",
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
  "AWS_ENDPOINT_URL_ECS",
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
  computeType: "SPOT",
};

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface InProcessOptions {
  readonly cwd?: string;
  /** The script's options; "real": the entrypoint describes the script, as a submit does. */
  readonly describe?: ScriptDescription | "real";
  readonly pulumi?: (args: readonly string[]) => CommandResult | undefined;
  readonly signal?: AbortSignal;
  readonly env?: NodeJS.ProcessEnv;
  readonly stderrIsTTY?: boolean;
  /** Crashes and short waits, in this process's context. */
  readonly faults?: Faults;
  /** The project root the command sees (its container/job/ and run_job.py). */
  readonly repoRoot?: string;
}

/** Runs `jobs <argv>` in this process with the real SDK clients. */
export async function runJobs(
  argv: readonly string[],
  opts: InProcessOptions = {},
): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const io = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: opts.stderrIsTTY ?? false },
  };
  const ctx = testContext(io, opts);
  const code = await run(argv, { io, env: ctx.env, load: async () => ctx });
  return { code, stdout, stderr };
}

/** A command's context in this process, with the real SDK clients. */
export function testContext(io: Io, opts: InProcessOptions = {}): Context {
  const describe = opts.describe ?? SCRIPT_DESCRIPTION;
  return {
    io,
    cwd: opts.cwd ?? REPO_ROOT,
    env: opts.env ?? process.env,
    repoRoot: opts.repoRoot ?? REPO_ROOT,
    // Unpaced: the local servers throttle nothing unless a test asks them to.
    clients: (region) =>
      createAwsClients({
        region,
        submitTimeoutMs: opts.faults?.submitTimeoutMs,
        batchCallsPerSecond: Infinity,
      }),
    // A made-up description is checked by the real entrypoint as a saved one.
    probe: (script, saved) =>
      describe === "real" || saved !== undefined
        ? probeScript(REPO_ROOT, script, saved)
        : savedProbe(describe, script),
    pulumi: opts.pulumi ?? (() => undefined),
    signal: opts.signal ?? new AbortController().signal,
    ...(opts.faults !== undefined ? { faults: opts.faults } : {}),
  };
}

/**
 * Starts `batchpy jobs <argv>` as a child process: the package's bin as npm runs it, or with
 * `faults` the same CLI through test/helpers/cli-with-faults.ts.
 */
export function spawnJobs(
  argv: readonly string[],
  env: Record<string, string>,
  cwd = REPO_ROOT,
  faults?: FaultSpec,
): { child: ChildProcess; done: Promise<CliResult> } {
  const entry =
    faults === undefined
      ? [BATCHPY_BIN, "jobs"]
      : ["-r", path.join(REPO_ROOT, "bin", "register.js"), CLI_WITH_FAULTS, JSON.stringify(faults)];
  const child = spawn(process.execPath, [...entry, ...argv], {
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

/** Writes `n` job files named job-0000.json ... (or `<prefix>-0000.json` ...) into `dir`; returns their names. */
export function writeJobFiles(
  dir: string,
  n: number,
  extra: Record<string, unknown> = {},
  prefix = "job",
): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const jobName = `${prefix}-${String(i).padStart(4, "0")}`;
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

/** `singles` job files and `<sweep>.json`, a sweep of 4 sets (var_a 0..3), in `dir`/jobs. */
export function writeJobsAndSweep(dir: string, singles: number, sweep: string): void {
  writeJobFiles(path.join(dir, "jobs"), singles);
  fs.writeFileSync(
    path.join(dir, "jobs", `${sweep}.json`),
    JSON.stringify({
      grid: { var_a: [0, 1, 2, 3] },
      base: { containerOverrides: { environment: [{ name: "save_name", value: "r" }] } },
    }),
  );
}

/**
 * A run frozen at the `at`-th `point`: every lane stops at its next step, no new request
 * starts (the signal aborts) and nothing more reaches the ledger, as after a SIGKILL.
 */
export function freezeAt(
  point: CrashPoint,
  at: number,
  base: Faults,
): { faults: Faults; signal: AbortSignal; crashed: Promise<void> } {
  const controller = new AbortController();
  let seen = 0;
  let frozen = false;
  let onCrash = (): void => undefined;
  const crashed = new Promise<void>((resolve) => (onCrash = resolve));
  return {
    signal: controller.signal,
    crashed,
    faults: {
      ...base,
      checkpoint: (p) => {
        if (!frozen && p === point && ++seen === at) {
          frozen = true;
          controller.abort();
          onCrash();
        }
        return frozen ? new Promise<void>(() => undefined) : undefined;
      },
    },
  };
}

export interface LocalAwsOptions {
  /**
   * An S3 server for the file, in the CLI's environment: s3rver, or "memory" for MemoryS3,
   * whose conditional writes are atomic (s3rver ignores them). @default true
   */
  readonly s3?: boolean | "memory";
  /**
   * Events per GetLogEvents page of the file's CloudWatch Logs server (which always runs,
   * with the stack's log group). @default 3
   */
  readonly logsPageSize?: number;
  /** Starts a FakeBatch before each test with these options. @default - on demand: startBatch() */
  readonly batch?: FakeBatchOptions;
  /** Crashes and short waits for every `jobs` run. @default - none */
  readonly faults?: Faults;
}

export interface RunOptions {
  readonly faults?: Faults;
  readonly signal?: AbortSignal;
}

/** The servers, folders and runner of one test; see useLocalAws. */
export interface LocalAws {
  readonly s3: { readonly url: string };
  /** The file's MemoryS3 (option `s3: "memory"`). */
  readonly memoryS3: MemoryS3;
  /** An S3 client on the fake bucket's server. */
  readonly client: S3Client;
  readonly logs: FakeCloudWatchLogs;
  /** ECS's DescribeTasks, emptied before each test. */
  readonly ecs: FakeEcs;
  /** The test's FakeBatch; throws when none runs. */
  readonly batch: FakeBatch;
  /** The test's temp folder: the CLI's cwd; removed after the test. */
  readonly dir: string;
  /** The stack outputs file (STACK_OUTPUTS) in `dir`. */
  readonly outputs: string;
  /** `--state-dir`: `dir`/state; a test may point it elsewhere. */
  state: string;
  /** The stack's ledger (under every label). */
  ledgerFile(): string;
  /** (Re)starts the test's FakeBatch and points the CLI's environment at it. */
  startBatch(opts?: FakeBatchOptions): Promise<FakeBatch>;
  /** Runs `jobs <args> --outputs <outputs> --state-dir <state>` in-process, in `dir`. */
  jobs(args: readonly string[], opts?: RunOptions): Promise<CliResult>;
  put(key: string, body: string): Promise<unknown>;
  /** An object of the fake bucket as text, or undefined when it does not exist. */
  getText(key: string): Promise<string | undefined>;
  /** Writes ledger entries (name → job ID) as if these jobs had been submitted. */
  record(entries: Record<string, string>): void;
  /** The job the FakeBatch was sent under `name`; fails the test when there is none. */
  findJob(name: string): FakeJob;
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) {
    throw new Error(`useLocalAws: no ${what} (see its options)`);
  }
  return value;
}

/**
 * Registers mocha hooks for in-process CLI tests against local AWS servers: S3 (and a
 * client), CloudWatch Logs and ECS per file; per test a temp folder with stack outputs and a
 * state folder, and a FakeBatch (before each test, or on demand) with the SDK's environment
 * pointed at the servers. After each test the environment is restored, the FakeBatch
 * closed and the folder removed; after the file, the servers stop.
 */
export function useLocalAws(label: string, options: LocalAwsOptions = {}): LocalAws {
  let s3: FakeS3 | MemoryS3 | undefined;
  let client: S3Client | undefined;
  let logs: FakeCloudWatchLogs | undefined;
  let ecs: FakeEcs | undefined;
  let batch: FakeBatch | undefined;
  let restoreEnv: (() => void) | undefined;
  let dir: string | undefined;
  let outputs: string | undefined;

  const stopBatch = async (): Promise<void> => {
    restoreEnv?.();
    restoreEnv = undefined;
    await batch?.close();
    batch = undefined;
  };
  const bucket = (key: string) => ({ Bucket: STACK_OUTPUTS.bucketName, Key: key });
  /** A fresh Batch stands for a fresh stack: the claims of the one before go. */
  const clearState = async (): Promise<void> => {
    if (s3 instanceof MemoryS3) {
      s3.clear(STATE_PREFIX);
    } else if (client !== undefined) {
      const Bucket = STACK_OUTPUTS.bucketName;
      const listed = await client.send(new ListObjectsV2Command({ Bucket, Prefix: STATE_PREFIX }));
      const Objects = (listed.Contents ?? []).map((o) => ({ Key: o.Key }));
      if (Objects.length > 0) {
        await client.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects } }));
      }
    }
  };

  const aws: LocalAws = {
    get s3() {
      return required(s3, "S3 server");
    },
    get memoryS3() {
      return required(s3 instanceof MemoryS3 ? s3 : undefined, 'MemoryS3 (option s3: "memory")');
    },
    get client() {
      return required(client, "S3 server");
    },
    get logs() {
      return required(logs, "CloudWatch Logs server");
    },
    get ecs() {
      return required(ecs, "ECS server");
    },
    get batch() {
      return required(batch, "FakeBatch running");
    },
    get dir() {
      return required(dir, "test folder outside a test");
    },
    get outputs() {
      return required(outputs, "test folder outside a test");
    },
    state: "",
    ledgerFile: () => ledgerPath(aws.state, stackStateName(STACK_OUTPUTS)),
    async startBatch(opts = {}) {
      await stopBatch();
      await clearState();
      batch = await FakeBatch.start(opts);
      restoreEnv = setProcessEnv(
        awsEnv({ batch: batch.url, s3: s3?.url, logs: logs?.url, ecs: ecs?.url }),
      );
      return batch;
    },
    jobs: (args, opts = {}) => {
      const faults = opts.faults ?? options.faults;
      return runJobs([...args, "--outputs", aws.outputs, "--state-dir", aws.state], {
        cwd: aws.dir,
        ...(faults !== undefined ? { faults } : {}),
        ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      });
    },
    put: (key, body) => aws.client.send(new PutObjectCommand({ ...bucket(key), Body: body })),
    async getText(key) {
      try {
        const obj = await aws.client.send(new GetObjectCommand(bucket(key)));
        return (await obj.Body?.transformToString()) ?? "";
      } catch (err) {
        if ((err as Error).name === "NoSuchKey") {
          return undefined;
        }
        throw err;
      }
    },
    record(entries) {
      const ledger = Ledger.open(aws.ledgerFile());
      for (const [jobName, jobId] of Object.entries(entries)) {
        ledger.append({
          v: 1,
          jobName,
          jobId,
          kind: "single",
          hash: "h",
          run: "r",
          submittedAt: "t",
        });
      }
      ledger.close();
    },
    findJob(name) {
      const job = aws.batch.submitted().find((j) => j.jobName === name);
      assert.ok(job, `job ${name} was submitted`);
      return job;
    },
  };

  before(async function () {
    if (options.s3 ?? true) {
      s3 =
        options.s3 === "memory"
          ? await MemoryS3.start(STACK_OUTPUTS.bucketName)
          : await FakeS3.start(STACK_OUTPUTS.bucketName);
      client = new S3Client({
        region: "us-east-1",
        endpoint: s3.url,
        forcePathStyle: true,
        credentials: { accessKeyId: S3RVER_KEY, secretAccessKey: S3RVER_KEY },
      });
    }
    logs = await FakeCloudWatchLogs.start(options.logsPageSize);
    logs.createLogGroup(STACK_OUTPUTS.logGroupName);
    ecs = await FakeEcs.start();
  });
  after(async function () {
    client?.destroy();
    await s3?.close();
    await logs?.close();
    await ecs?.close();
  });
  beforeEach(async function () {
    ecs?.reset();
    dir = tempDir(label);
    outputs = writeOutputs(dir, STACK_OUTPUTS);
    aws.state = path.join(dir, "state");
    if (options.batch !== undefined) {
      await aws.startBatch(options.batch);
    }
  });
  afterEach(async function () {
    await stopBatch();
    if (dir !== undefined) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    dir = undefined;
    outputs = undefined;
  });
  return aws;
}
