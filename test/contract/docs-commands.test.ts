/**
 * Every command the docs show runs as shown, through real npm. The lines of the ```bash
 * blocks of README.md and docs/*.md that run `npm run` (and `pulumi stack output`, which a
 * fake pulumi answers) run in order, one docs file after another, in a scratch copy of
 * the repository (its git files, node_modules linked) against local fakes of Batch, S3
 * and CloudWatch Logs, as a user following that file would run them. The markers of
 * docs/development.md ("Commands in the docs") say which lines are not run and which exit
 * non-zero; every other line must exit 0, without a stack trace, and leave no file that
 * `git status` (and so `npm test`) would see. Every npm script that runs the tool also runs
 * with `--help` appended, as `npm run <script> -- --help` runs it.
 */
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { FakeBatch } from "../helpers/fake-batch";
import { FakeCloudWatchLogs } from "../helpers/fake-cloudwatch-logs";
import { MemoryS3 } from "../helpers/fake-s3-memory";
import { REPO_ROOT, STACK_OUTPUTS, awsEnv, tempDir } from "../helpers/jobs-harness";

/** One command of the docs, with what it must do. */
interface DocCommand {
  readonly where: string;
  readonly command: string;
  /** The exit code the docs announce; undefined: shown, not run. */
  readonly exit: number | undefined;
}

const FENCE = /^```(\S*)/;
/** A placeholder (`<file>`), a line shown as what not to do, an announced exit. */
const PLACEHOLDER = /<[^>\s]+>/;
const WRONG = /#\s*wrong\b/;
const EXIT = /#\s*exit (\d+)\b/;

/** The commands of one docs file's ```bash blocks, in order. */
function docCommands(file: string, text: string): DocCommand[] {
  const commands: DocCommand[] = [];
  let fence: string | undefined;
  let pending = "";
  text.split("\n").forEach((raw, i) => {
    const open = FENCE.exec(raw);
    if (open !== null) {
      fence = fence === undefined ? open[1] : undefined;
      return;
    }
    if (fence !== "bash") {
      return;
    }
    // A line ending in \ goes on on the next.
    if (raw.endsWith("\\")) {
      pending += `${raw.slice(0, -1).trim()} `;
      return;
    }
    const line = pending + (pending === "" ? raw : raw.trim());
    pending = "";
    const code = line.replace(/\s+#.*$/, "");
    // `npm ci && npm run local`: the npm run part (the copy has node_modules already).
    const runs = code
      .split("&&")
      .map((s) => s.trim())
      .filter((s) => /^npm run\b/.test(s) || /^pulumi stack output\b/.test(s));
    for (const command of runs) {
      const shown = PLACEHOLDER.test(command) || WRONG.test(line);
      commands.push({
        where: `${file}:${i + 1}`,
        command,
        exit: shown ? undefined : Number(EXIT.exec(line)?.[1] ?? 0),
      });
    }
  });
  return commands;
}

/** The docs files whose commands run: README.md and docs/*.md. */
function docsFiles(): string[] {
  const docs = fs
    .readdirSync(path.join(REPO_ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => path.join("docs", f));
  return ["README.md", ...docs.sort()];
}

const SCRATCH = path.join(
  os.tmpdir(),
  `batchpy-docs-${createHash("sha256").update(REPO_ROOT).digest("hex").slice(0, 8)}`,
);

/**
 * A scratch copy of the repository's git files (as on disk), node_modules linked, staged.
 * Its path is the same at every run of this checkout, so the TypeScript cache
 * (bin/register.js, keyed by path and content) holds its files after the first run.
 */
function scratchCopy(label: string): string {
  const dir = path.join(SCRATCH, label);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const files = spawnSync("git", ["ls-files", "-z"], { cwd: REPO_ROOT, encoding: "utf8" })
    .stdout.split("\0")
    .filter((f) => f !== "" && fs.existsSync(path.join(REPO_ROOT, f)));
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(path.join(REPO_ROOT, f), path.join(dir, f));
  }
  fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(dir, "node_modules"));
  for (const args of [
    ["init", "-q"],
    ["add", "-A"],
  ]) {
    assert.strictEqual(spawnSync("git", args, { cwd: dir }).status, 0, `git ${args[0]}`);
  }
  return dir;
}

/** What `git status` would show in `dir`: new files not ignored, and changed files. */
function leftBehind(dir: string): string[] {
  const git = (...args: string[]) =>
    spawnSync("git", args, { cwd: dir, encoding: "utf8" }).stdout.split("\n");
  return [...git("ls-files", "--others", "--exclude-standard"), ...git("diff", "--name-only")]
    .filter((f) => f !== "")
    .sort();
}

/** A `pulumi` that answers `stack output --json --show-secrets` and `stack --show-name`. */
function fakePulumi(dir: string): string {
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(dir, "outputs.json"), JSON.stringify(STACK_OUTPUTS));
  fs.writeFileSync(
    path.join(bin, "pulumi"),
    [
      "#!/bin/sh",
      'case "$*" in',
      `  "stack output --json --show-secrets"*) cat '${path.join(dir, "outputs.json")}' ;;`,
      '  "stack --show-name") echo dev ;;',
      '  *) echo "fake pulumi: $*" >&2; exit 1 ;;',
      "esac",
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  return bin;
}

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `command` with bash in `cwd`, killing it after `timeoutMs`. */
function sh(
  command: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
  timeoutMs = 90_000,
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", command], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The environment of the docs' commands: this one without npm's, the tool's or AWS's, and
 * without PYTHONDONTWRITEBYTECODE, so that Python keeps the copy's bytecode as it does a
 * user's checkout (git ignores it) instead of compiling the package at every start.
 */
function baseEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^(npm_|BATCHPY_|AWS_|INIT_CWD$|PYTHONDONTWRITEBYTECODE$)/i.test(k),
    ),
  );
}

/** Runs `tasks` with at most `size` at a time; resolves to their results in order. */
async function pool<T>(size: number, tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const k = next++;
      results[k] = await tasks[k]();
    }
  };
  await Promise.all(Array.from({ length: size }, worker));
  return results;
}

/** What is wrong with a run of `c`, or undefined. */
function problem(c: DocCommand, r: Ran): string | undefined {
  const out = `\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
  if (r.code !== c.exit) {
    return `${c.where}: \`${c.command}\` exited ${r.code}, the docs say ${c.exit}${out}`;
  }
  if (/^\s+at .+:\d+:\d+\)?$|^Traceback \(most recent call last\)/m.test(r.stdout + r.stderr)) {
    return `${c.where}: \`${c.command}\` printed a stack trace${out}`;
  }
  if (/--json\b/.test(c.command) && !/[|>]/.test(c.command)) {
    try {
      JSON.parse(r.stdout);
    } catch (err) {
      if (!(err instanceof SyntaxError)) {
        throw err;
      }
      return `${c.where}: \`${c.command}\` printed no JSON on stdout (npm run -s?)${out}`;
    }
  }
  return undefined;
}

/** Runs one docs file's commands in order in a fresh copy and stack; their problems. */
async function runDocsFile(file: string): Promise<string[]> {
  const commands = docCommands(file, fs.readFileSync(path.join(REPO_ROOT, file), "utf8"));
  if (!commands.some((c) => c.exit !== undefined)) {
    return [];
  }
  const dir = scratchCopy(path.basename(file, ".md"));
  const fakes = tempDir("docs-fakes");
  const s3 = await MemoryS3.start(STACK_OUTPUTS.bucketName);
  const logs = await FakeCloudWatchLogs.start();
  logs.createLogGroup(STACK_OUTPUTS.logGroupName);
  // As in the docs' screens: grid_sweep's child 4 fails, everything else succeeds.
  const batch = await FakeBatch.start({
    autoAdvance: false,
    outcome: (job) =>
      job.jobName === "grid_sweep" && job.index === 4
        ? { status: "FAILED", exitCode: 1, statusReason: "Essential container in task exited" }
        : { status: "SUCCEEDED", exitCode: 0 },
  });
  const env = {
    ...baseEnv(),
    ...awsEnv({ batch: batch.url, s3: s3.url, logs: logs.url }),
    PATH: `${fakePulumi(fakes)}${path.delimiter}${process.env.PATH ?? ""}`,
    npm_config_update_notifier: "false",
  };
  const problems: string[] = [];
  try {
    for (const c of commands.filter((x) => x.exit !== undefined)) {
      // Between two commands the stack had time to run what was submitted.
      batch.finishAll();
      const found = problem(c, await sh(c.command, dir, env));
      if (found !== undefined) {
        problems.push(found);
      }
    }
    const left = leftBehind(dir);
    if (left.length > 0) {
      problems.push(`${file}'s commands left files git status shows: ${left.join(", ")}`);
    }
  } finally {
    await batch.close();
    await logs.close();
    await s3.close();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(fakes, { recursive: true, force: true });
  }
  return problems;
}

/** Scripts that are not the tool and take no --help, and why. */
const NOT_THE_TOOL = new Map([
  ["prepare", "warms the TypeScript cache (npm ci runs it)"],
  ["test", "the whole suite, which holds this test"],
  ["test:unit", "the suite's mocha run"],
  ["test:browser", "the report page in a browser"],
  ["test:profile", "times every test file"],
  ["typecheck", "tsc"],
  ["lint", "eslint, prettier and knip over the checkout"],
  ["format", "rewrites the checkout"],
  ["bench", "the benchmarks, minutes long"],
  ["smoke", "fetches other Node builds"],
]);

describe("docs: every command README.md and docs/ show runs as shown, through npm", function () {
  this.timeout(600_000);

  it("reads the docs' commands and their markers", function () {
    const text = [
      "```bash",
      "npm ci && npm run local",
      "npm run jobs:submit -- <files>        # a placeholder",
      "npm run jobs:submit jobs/ --dry-run   # wrong: npm keeps --dry-run",
      "npm run policy:check -- \\",
      "  --stack dev                         # exit 1: a violation",
      "pulumi up",
      "```",
      "```",
      "next: npm run jobs:watch",
      "```",
    ].join("\n");
    assert.deepStrictEqual(
      docCommands("x.md", text).map((c) => [c.where, c.command, c.exit]),
      [
        ["x.md:2", "npm run local", 0],
        ["x.md:3", "npm run jobs:submit -- <files>", undefined],
        ["x.md:4", "npm run jobs:submit jobs/ --dry-run", undefined],
        ["x.md:6", "npm run policy:check -- --stack dev", 1],
      ],
    );
  });

  it("runs each docs file's commands in order, and every tool script with --help", async function () {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    const scripts = Object.entries(pkg.scripts);
    const undecided = scripts.filter(
      ([name, cmd]) => !cmd.includes("bin/batchpy.js") && !NOT_THE_TOOL.has(name),
    );
    assert.deepStrictEqual(undecided, [], "a script that is neither the tool nor in NOT_THE_TOOL");
    // --help only prints: it runs in the checkout itself, whose TypeScript cache is warm.
    // The script's own command with --help appended is what `npm run -s X -- --help` runs;
    // npm itself is proven by the docs' commands, and would double each check's cost.
    const help = scripts
      .filter(([, cmd]) => cmd.includes("bin/batchpy.js"))
      .map(([name, cmd]) => async () => {
        const c = { where: `package.json "${name}"`, command: `${cmd} --help`, exit: 0 };
        const r = await sh(c.command, REPO_ROOT, baseEnv());
        return problem(c, r) ?? (/Usage:/.test(r.stdout) ? [] : [`${c.where}: no usage`]);
      });
    try {
      const files = docsFiles().map((f) => () => runDocsFile(f));
      const problems = (await pool(2, [...files, ...help])).flat();
      assert.deepStrictEqual(problems, []);
    } finally {
      fs.rmSync(SCRATCH, { recursive: true, force: true });
    }
  });
});
