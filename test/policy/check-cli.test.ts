/**
 * `npm run policy:check` end to end: the real program under mocks with a stack's config,
 * the real policy pack as its own process, the verdict and the exit code. Exit paths 2, 130
 * and 143 each run the whole command as its own process (0 and 1 do in the docs test, through
 * npm: test/contract/docs-commands.test.ts); the other cases run the command's `main` in
 * this process against one shared pack process (each check configures
 * the pack afresh, as the engine does), which costs a program evaluation instead of two
 * node processes and a pack start each. The runs start in `before`; each test reads one.
 */
import { strict as assert } from "assert";
import { spawn, type ChildProcessByStdio } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Readable } from "stream";
import { main } from "../../policy/check/cli";
import { PolicyPackProcess, startPolicyPack } from "../../policy/check/pack";
import { TYPES } from "../../policy/resources";
import { childPids, isRunning } from "../helpers/processes";

const ROOT = path.resolve(__dirname, "..", "..");
const BATCHPY = path.join(ROOT, "bin", "batchpy.js");

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts the check as `npm run policy:check -- <args>` does (the bin, repository root). */
function startPolicyCheck(args: readonly string[]): ChildProcessByStdio<null, Readable, Readable> {
  return spawn(process.execPath, [BATCHPY, "policy", "check", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Runs the check to its end. */
function policyCheck(args: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = startPolicyCheck(args);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * One pack process for many checks run in this process: `main` gets it in place of a new
 * pack (and cannot stop it); `starts` counts the packs `main` asked for.
 */
class SharedPack {
  starts = 0;
  private constructor(private readonly pack: PolicyPackProcess) {}

  static async start(): Promise<SharedPack> {
    return new SharedPack(await startPolicyPack({}));
  }

  /** Runs `batchpy policy check <args>` as the CLI does, but in this process. */
  async check(args: readonly string[]): Promise<Run> {
    let stdout = "";
    let stderr = "";
    const startPack = async (): Promise<PolicyPackProcess> => {
      this.starts++;
      return { ...this.pack, stop: () => Promise.resolve() };
    };
    const code = await main(args, undefined, {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      startPack,
    });
    return { code, stdout, stderr };
  }

  stop(): Promise<void> {
    return this.pack.stop();
  }
}

interface InterruptedRun extends Run {
  /** The CLI's child processes (the pack) when the signal was sent. */
  readonly packPids: number[];
}

/**
 * Runs the check and sends it `signal` once its stderr matches `when` and it has started
 * the pack process (checked every 20 ms from then on).
 */
function interruptedPolicyCheck(
  args: readonly string[],
  when: RegExp,
  signal: NodeJS.Signals,
): Promise<InterruptedRun> {
  return new Promise((resolve, reject) => {
    const child = startPolicyCheck(args);
    let stdout = "";
    let stderr = "";
    let packPids: number[] = [];
    let signalled = false;
    const trySignal = () => {
      const pids = child.pid === undefined ? [] : childPids(child.pid);
      if (!signalled && when.test(stderr) && pids.length > 0) {
        packPids = pids;
        signalled = true;
        child.kill(signal);
      }
    };
    const poll = setInterval(trySignal, 20);
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      trySignal();
    });
    // Never leave a CLI behind if the signal is not handled.
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      resolve({ code, stdout, stderr, packPids });
    });
  });
}

function explain(run: Run): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

describe("npm run policy:check, with one policy pack for the in-process checks", function () {
  this.timeout(300_000);
  let shared: SharedPack;

  before(async () => {
    shared = await SharedPack.start();
  });

  after(async () => {
    await shared?.stop();
  });

  describe("npm run policy:check (end to end)", function () {
    this.timeout(300_000);
    let dir: string;
    const runs: Record<string, Run> = {};
    let badExtraStarts: number;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "batchpy-policy-check-"));
      const write = (name: string, content: unknown) => {
        const file = path.join(dir, name);
        fs.writeFileSync(file, JSON.stringify(content, null, 2));
        return file;
      };
      const admin = write("admin.json", [
        {
          type: TYPES.iamUserPolicyAttachment,
          name: "tutorial-user-admin",
          inputs: {
            user: "batch-tutorial",
            policyArn: "arn:aws:iam::aws:policy/AdministratorAccess",
          },
        },
      ]);
      const untimed = write("untimed.json", [
        {
          type: TYPES.jobDefinition,
          name: "untimed-def",
          inputs: {
            type: "container",
            containerProperties: JSON.stringify({
              image: "python:3.11",
              jobRoleArn: "arn:aws:iam::1:role/j",
            }),
          },
        },
        {
          type: TYPES.jobDefinition,
          name: "hasty-def",
          inputs: {
            type: "container",
            containerProperties: JSON.stringify({
              image: "python:3.11",
              jobRoleArn: "arn:aws:iam::1:role/j",
            }),
            timeout: { attemptDurationSeconds: 30 },
          },
        },
      ]);
      const advisory = write("advisory.json", { "batch-job-timeout-required": "advisory" });
      const invalid = write("invalid.json", {
        "batch-compute-max-vcpus-cap": { maxVcpus: "lots" },
      });
      const badExtra = write("bad-extra.json", [{ type: "Role", name: "r" }]);

      // Exit 0 and exit 1 also run as whole processes, through npm, in the docs test
      // (docs/policy.md's `npm run policy:check` lines).
      const cases: Record<string, string[]> = {
        dev: ["--stack", "dev"],
        minVcpus: ["--stack", "dev", "--config", "batchpy:minVcpus=2"],
        longTimeout: ["--stack", "dev", "--config", "batchpy:timeoutSeconds=172800"],
        untimed: ["--stack", "dev", "--extra-resources", untimed],
        admin: ["--stack", "dev", "--extra-resources", admin, "--json"],
        advisory: [
          "--stack",
          "dev",
          "--config",
          "batchpy:timeoutSeconds=172800",
          "--policy-pack-config",
          advisory,
        ],
        invalidConfig: ["--policy-pack-config", invalid],
      };
      // One after another: each evaluates the program under this process's mocks.
      for (const [name, args] of Object.entries(cases)) {
        runs[name] = await shared.check(args);
      }
      const startsBefore = shared.starts;
      runs.badExtra = await shared.check(["--stack", "dev", "--extra-resources", badExtra]);
      badExtraStarts = shared.starts - startsBefore;
    });

    after(() => {
      if (dir) {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("passes the dev stack with exit 0, printed like pulumi preview", () => {
      const run = runs.dev;
      assert.equal(run.code, 0, explain(run));
      assert.match(
        run.stdout,
        /^Policies:\n {4}✅ batchpy@v0\.1\.0 \(local: policy\)\n/,
        explain(run),
      );
      assert.match(run.stdout, /Stack dev: \d+ resources checked against 14 policies: passed\./);
    });

    it("fails a stack with minVcpus 2 on batch-compute-min-vcpus-zero, naming the resource and value", () => {
      const run = runs.minVcpus;
      assert.equal(run.code, 1, explain(run));
      assert.ok(
        run.stdout.includes(
          "- [mandatory]  batch-compute-min-vcpus-zero  (aws:batch/computeEnvironment:ComputeEnvironment: batchpy-dev-compute)",
        ),
        explain(run),
      );
      assert.match(run.stdout, /computeResources\.minVcpus is 2/);
      assert.match(run.stdout, /\[mandatory\] {2}batch-queue-compute-scales-to-zero/);
      assert.match(run.stdout, /failed: 2 mandatory violations/);
    });

    it("fails a stack whose timeout is above the ceiling on batch-job-timeout-required", () => {
      const run = runs.longTimeout;
      assert.equal(run.code, 1, explain(run));
      assert.match(
        run.stdout,
        /- \[mandatory\] {2}batch-job-timeout-required {2}\(aws:batch\/jobDefinition:JobDefinition: batchpy-dev-def\)/,
      );
      assert.match(run.stdout, /172800 \(48 h\), above the ceiling of 86400 \(24 h\)/);
    });

    it("fails job definitions with no timeout or one under 60 s on batch-job-timeout-required", () => {
      const run = runs.untimed;
      assert.equal(run.code, 1, explain(run));
      assert.match(
        run.stdout,
        /JobDefinition: untimed-def\)\n.*\n.*has no timeout\.attemptDurationSeconds/,
      );
      assert.match(
        run.stdout,
        /JobDefinition: hasty-def\)\n.*\n.*below AWS Batch's minimum of 60 seconds/,
      );
    });

    it("fails an added AdministratorAccess attachment on iam-no-admin-access (JSON output)", () => {
      const run = runs.admin;
      assert.equal(run.code, 1, explain(run));
      const report = JSON.parse(run.stdout) as {
        passed: boolean;
        diagnostics: {
          policyName: string;
          enforcementLevel: string;
          urn: string;
          message: string;
        }[];
      };
      assert.equal(report.passed, false);
      assert.deepEqual(
        report.diagnostics.map((d) => [d.policyName, d.enforcementLevel, d.urn]),
        [
          [
            "iam-no-admin-access",
            "mandatory",
            `urn:pulumi:dev::batchpy::${TYPES.iamUserPolicyAttachment}::tutorial-user-admin`,
          ],
        ],
      );
      assert.match(report.diagnostics[0].message, /attaches AdministratorAccess/);
    });

    it("turns the failure into a warning with exit 0 when the policy config makes it advisory", () => {
      const run = runs.advisory;
      assert.equal(run.code, 0, explain(run));
      assert.match(run.stdout, /⚠️ batchpy@v0\.1\.0/);
      assert.match(run.stdout, /- \[advisory\] {2}batch-job-timeout-required/);
      assert.match(run.stdout, /passed with 1 advisory warning\./);
    });

    it("refuses a bad --extra-resources file with exit 2 before the pack starts", () => {
      const run = runs.badExtra;
      assert.equal(run.code, 2, explain(run));
      assert.match(run.stderr, /--extra-resources .*bad-extra\.json .*\[0\]\.type: a type token/);
      assert.equal(badExtraStarts, 0, "no pack started");
      assert.equal(run.stdout, "");
    });

    it("refuses a policy config that breaks a policy's schema, with exit 2", () => {
      const run = runs.invalidConfig;
      assert.equal(run.code, 2, explain(run));
      assert.match(
        run.stderr,
        /"batch-compute-max-vcpus-cap": maxVcpus must be integer, not "lots"/,
      );
      assert.equal(run.stdout, "");
    });
  });

  /**
   * A copy of this project with its own stacks: `index.ts` and the stack files copied (the
   * evaluator re-runs the copied index.ts per stack), the rest linked.
   */
  function projectWithStacks(dir: string, stacks: Record<string, string>): string {
    const project = path.join(dir, "project");
    fs.mkdirSync(project);
    for (const file of ["index.ts", "Pulumi.yaml"]) {
      fs.copyFileSync(path.join(ROOT, file), path.join(project, file));
    }
    for (const link of ["components", "container", "node_modules"]) {
      fs.symlinkSync(path.join(ROOT, link), path.join(project, link));
    }
    for (const [stack, yaml] of Object.entries(stacks)) {
      fs.writeFileSync(path.join(project, `Pulumi.${stack}.yaml`), yaml);
    }
    return project;
  }

  describe("npm run policy:check -- --all-stacks", function () {
    this.timeout(300_000);
    let dir: string;
    let markdown: Run;
    let broken: Run;
    let packStarts: number;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "batchpy-policy-all-stacks-"));
      const dev = fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8");
      const twoStacks = projectWithStacks(fs.mkdtempSync(path.join(dir, "two-")), {
        dev,
        wasteful: dev.replace('batchpy:minVcpus: "0"', 'batchpy:minVcpus: "2"'),
      });
      const withBroken = projectWithStacks(fs.mkdtempSync(path.join(dir, "broken-")), {
        dev,
        broken: dev.replace('batchpy:timeoutSeconds: "60"', 'batchpy:timeoutSeconds: "30"'),
      });
      const startsBefore = shared.starts;
      markdown = await shared.check(["--all-stacks", "--project-dir", twoStacks, "--markdown"]);
      packStarts = shared.starts - startsBefore;
      broken = await shared.check(["--all-stacks", "--project-dir", withBroken]);
    });

    after(() => {
      if (dir) {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("checks every Pulumi.<stack>.yaml with one pack, exit 1 when one stack fails", () => {
      assert.equal(markdown.code, 1, explain(markdown));
      assert.equal(packStarts, 1, "one pack for every stack");
      assert.equal(
        markdown.stderr.match(/Policy pack serving \(pid \d+\)/g)?.length,
        1,
        explain(markdown),
      );
      assert.match(
        markdown.stderr,
        /Evaluating stack dev under mocks[\s\S]*Evaluating stack wasteful/,
      );
      assert.match(markdown.stdout, /^## Policy check: ❌ failed\n/);
      assert.match(markdown.stdout, /\n\| dev \| ✅ passed \| 0 \| 0 \| \d+ \|\n/);
      assert.match(markdown.stdout, /\n\| wasteful \| ❌ failed \| 2 \| 0 \| \d+ \|\n/);
      assert.match(
        markdown.stdout,
        /\n\| `batch-compute-min-vcpus-zero` \| mandatory \| batchpy-wasteful-\S+ \(aws:batch\/computeEnvironment:ComputeEnvironment\) \| .*minVcpus is 2/,
      );
    });

    it("reports a stack whose program fails and still checks the others, exit 2", () => {
      assert.equal(broken.code, 2, explain(broken));
      assert.match(
        broken.stdout,
        /Stack broken: could not be checked: the program failed for stack broken: Stack config 'batchpy:timeoutSeconds'/,
      );
      assert.match(
        broken.stdout,
        /Stack dev: \d+ resources checked against \d+ policies: passed\./,
      );
      assert.ok(!/exited \(SIGTERM\)|\n\s+at /.test(broken.stderr), explain(broken));
    });
  });
});

describe("npm run policy:check, when the program fails", function () {
  this.timeout(300_000);
  let run: Run;
  before(async () => {
    run = await policyCheck(["--config", "batchpy:timeoutSeconds=30"]);
  });

  it("prints only the program's config error, with exit 2, and stops the pack quietly", () => {
    assert.equal(run.code, 2, explain(run));
    assert.equal(run.stdout, "", explain(run));
    assert.equal(
      run.stderr,
      "Evaluating stack dev under mocks...\n" +
        "policy:check: the program failed for stack dev: Stack config 'batchpy:timeoutSeconds': " +
        "JobDefinition 'batchpy-dev' has 'timeoutSeconds' = 30; 'timeoutSeconds' must be an " +
        "integer from 60 to 1209600 (AWS Batch's minimum attempt timeout is 60 seconds).\n",
      explain(run),
    );
  });
});

describe("npm run policy:check, interrupted", function () {
  this.timeout(300_000);
  let dir: string;
  let serving: InterruptedRun;
  let starting: InterruptedRun;

  before(async function () {
    if (!fs.existsSync("/proc/self/stat")) {
      this.skip(); // the pack's pid is read from /proc
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "batchpy-policy-interrupt-"));
    // Enough resources that the check is still running seconds after the pack serves.
    const many = path.join(dir, "many.json");
    fs.writeFileSync(
      many,
      JSON.stringify(
        Array.from({ length: 3000 }, (_, i) => ({
          type: TYPES.ecrRepository,
          name: `repo-${i}`,
          inputs: { imageScanningConfiguration: { scanOnPush: true } },
        })),
      ),
    );
    [serving, starting] = await Promise.all([
      interruptedPolicyCheck(
        ["--stack", "dev", "--extra-resources", many],
        /Policy pack serving \(pid \d+\)/,
        "SIGTERM",
      ),
      // Signalled as soon as the pack process exists: it takes seconds to serve.
      interruptedPolicyCheck(["--stack", "dev"], /Evaluating stack dev/, "SIGINT"),
    ]);
  });

  after(() => {
    if (dir) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("stops the serving pack on SIGTERM and exits 143", () => {
    assert.equal(serving.code, 128 + 15, explain(serving));
    assert.match(serving.stderr, /policy:check: SIGTERM: stopping the policy pack\.\.\./);
    const announced = Number(/Policy pack serving \(pid (\d+)\)/.exec(serving.stderr)?.[1]);
    assert.deepEqual(serving.packPids, [announced], "the pack was the CLI's one child");
    assert.ok(!isRunning(announced), `the pack (pid ${announced}) is still running`);
    assert.equal(serving.stdout, "", "no verdict for an interrupted check");
  });

  it("gives up a pack still starting on SIGINT and exits 130", () => {
    assert.equal(starting.code, 128 + 2, explain(starting));
    assert.ok(!/Policy pack serving/.test(starting.stderr), "the pack never served");
    assert.equal(starting.packPids.length, 1, "the pack process had been started");
    assert.ok(!isRunning(starting.packPids[0]), "the pack process is still running");
  });
});
