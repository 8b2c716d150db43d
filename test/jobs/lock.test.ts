import * as assert from "assert";
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as readline from "readline";
import { FatalError } from "../../jobs/errors";
import {
  acquireLock,
  heldMessage,
  lockPath,
  parseLock,
  processIsAlive,
  type LockEnv,
} from "../../jobs/state/lock";
import { createHash } from "crypto";
import { REPO_ROOT, tempDir } from "../helpers/jobs-harness";

/** A pid that ran and has ended (the kernel does not reuse it within a test). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", ""]);
  assert.ok(r.pid !== undefined && r.pid > 0);
  return r.pid;
}

function env(pid: number, alive: readonly number[], host = "here"): LockEnv {
  return {
    pid,
    host,
    now: () => new Date("2026-01-02T03:04:05.000Z"),
    isAlive: (p) => alive.includes(p),
  };
}

/** A process racing for the lock (fixtures/lock-racer.ts), and its answers line by line. */
interface Racer {
  readonly child: ChildProcessWithoutNullStreams;
  next(): Promise<string>;
}

function startRacer(file: string): Racer {
  const child = spawn(
    process.execPath,
    [
      "-r",
      path.join(REPO_ROOT, "bin", "register.js"),
      path.join(__dirname, "fixtures", "lock-racer.ts"),
      file,
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  readline.createInterface({ input: child.stdout }).on("line", (line) => {
    const wake = waiting.shift();
    if (wake !== undefined) {
      wake(line);
    } else {
      lines.push(line);
    }
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.on("exit", (code) => {
    waiting.splice(0).forEach((wake) => wake(`exited ${code}: ${stderr}`));
  });
  return {
    child,
    next: () =>
      new Promise((resolve) => {
        const line = lines.shift();
        if (line !== undefined) {
          resolve(line);
        } else {
          waiting.push(resolve);
        }
      }),
  };
}

describe("jobs/state/lock: one jobs:submit per stack at a time", function () {
  let dir: string;
  let file: string;
  const warnings: string[] = [];
  const warn = (w: string): void => {
    warnings.push(w);
  };
  beforeEach(function () {
    dir = tempDir("lock");
    file = lockPath(path.join(dir, "submissions.jsonl"));
    warnings.length = 0;
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("lives next to the ledger and holds pid, host and time", function () {
    assert.strictEqual(file, path.join(dir, "submit.lock"));
    const lock = acquireLock(file, warn, env(42, [42]));
    assert.deepStrictEqual(parseLock(fs.readFileSync(file, "utf8")), {
      pid: 42,
      host: "here",
      time: "2026-01-02T03:04:05.000Z",
    });
    lock.release();
    assert.strictEqual(fs.existsSync(file), false);
    lock.release();
  });

  it("a held lock stops a second run, naming the file, the pid and the fix", function () {
    const first = acquireLock(file, warn, env(42, [42, 43]));
    assert.throws(
      () => acquireLock(file, warn, env(43, [42, 43])),
      (e: Error) =>
        e instanceof FatalError &&
        e.message ===
          `another jobs:submit (pid 42, since 2026-01-02T03:04:05.000Z) is submitting to this stack ` +
            `(lock ${file}); wait for it to finish and re-run. If pid 42 is not a jobs:submit, delete ${file} and re-run`,
    );
    first.release();
    acquireLock(file, warn, env(43, [43])).release();
    assert.deepStrictEqual(warnings, []);
  });

  it("takes over a lock whose process is gone on this host, with a warning", function () {
    const pid = deadPid();
    assert.strictEqual(processIsAlive(pid), false);
    assert.strictEqual(processIsAlive(process.pid), true);
    fs.writeFileSync(file, JSON.stringify({ pid, host: "here", time: "2026-01-01T00:00:00Z" }));
    const lock = acquireLock(file, warn, { ...env(process.pid, []), isAlive: processIsAlive });
    assert.strictEqual(parseLock(fs.readFileSync(file, "utf8"))?.pid, process.pid);
    assert.deepStrictEqual(warnings, [
      `took over the lock ${file} left by pid ${pid} (started 2026-01-01T00:00:00Z), which is no longer running`,
    ]);
    lock.release();
  });

  it("never takes over a lock from another host, whose processes it cannot see", function () {
    const owner = { pid: 7, host: "elsewhere", time: "t" };
    fs.writeFileSync(file, JSON.stringify(owner));
    assert.throws(() => acquireLock(file, warn, env(1, [])), /pid 7 on host elsewhere, since t/);
    assert.ok(fs.existsSync(file), "left alone");
  });

  it("a lock file it cannot read is not taken over", function () {
    fs.writeFileSync(file, "");
    assert.strictEqual(parseLock(""), undefined);
    assert.throws(
      () => acquireLock(file, warn, env(1, [])),
      new RegExp(
        `another jobs:submit holds the lock ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\(its content is not readable\\)`,
      ),
    );
    assert.strictEqual(heldMessage("f", undefined, "h").includes("delete the file"), true);
  });

  it("runs that find the same stale lock at once: exactly one takes it over (real processes)", async function () {
    const ROUNDS = 100;
    const racers = Array.from({ length: 4 }, () => startRacer(file));
    try {
      assert.deepStrictEqual(
        await Promise.all(racers.map((r) => r.next())),
        racers.map(() => "ready"),
      );
      const pid = deadPid();
      for (let round = 0; round < ROUNDS; round++) {
        fs.writeFileSync(
          file,
          JSON.stringify({ pid, host: os.hostname(), time: `round ${round}` }),
        );
        racers.forEach((r) => r.child.stdin.write("go\n"));
        const answers = await Promise.all(racers.map((r) => r.next()));
        const winners = racers.filter((_, i) => answers[i] === "won");
        assert.strictEqual(winners.length, 1, `round ${round}: ${answers.join(", ")}`);
        assert.strictEqual(parseLock(fs.readFileSync(file, "utf8"))?.pid, winners[0].child.pid);
        assert.deepStrictEqual(
          fs.readdirSync(dir).filter((f) => f.includes("takeover")),
          [],
        );
        winners[0].child.stdin.write("release\n");
        assert.strictEqual(await winners[0].next(), "released");
      }
    } finally {
      racers.forEach((r) => r.child.stdin.end());
      await Promise.all(
        racers.map((r) =>
          r.child.exitCode !== null
            ? undefined
            : new Promise((resolve) => r.child.on("exit", resolve)),
        ),
      );
    }
  });

  it("a takeover marker whose taker died is taken over too", function () {
    const pid = deadPid();
    const stale = JSON.stringify({ pid, host: "here", time: "2026-01-01T00:00:00Z" });
    fs.writeFileSync(file, stale);
    const live = { ...env(process.pid, []), isAlive: processIsAlive };
    // A run that died between creating the marker and removing the lock.
    const hash = createHash("sha256").update(stale).digest("hex").slice(0, 16);
    fs.writeFileSync(`${file}.takeover-${hash}`, JSON.stringify({ pid, host: "here", time: "t" }));
    const lock = acquireLock(file, warn, live);
    assert.strictEqual(parseLock(fs.readFileSync(file, "utf8"))?.pid, process.pid);
    assert.deepStrictEqual(fs.readdirSync(dir), ["submit.lock"]);
    lock.release();
  });

  it("release leaves a lock that another run took over in the meantime", function () {
    const lock = acquireLock(file, warn, env(42, [42]));
    fs.writeFileSync(file, JSON.stringify({ pid: 99, host: "here", time: "later" }));
    lock.release();
    assert.strictEqual(parseLock(fs.readFileSync(file, "utf8"))?.pid, 99);
  });
});
