/**
 * One `jobs:submit` per ledger at a time. Two runs on the same stack would both read the
 * ledger, both find a job missing and both submit it; an exclusive lock file next to the
 * ledger, taken before the ledger is read, makes the second run stop instead.
 *
 * The lock is a file created with O_EXCL ("wx") holding the owner's pid, host and start
 * time. A lock whose pid no longer runs on this host (a hard kill, a crash) is taken over
 * with a warning; a lock held by a live process, or by another host whose processes cannot
 * be checked from here, stops the run with the file to delete if the owner is gone.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { FatalError } from "../errors";

export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  /** ISO time the lock was taken. */
  readonly time: string;
}

/** What the lock needs from the system, injected in tests. */
export interface LockEnv {
  readonly pid: number;
  readonly host: string;
  now(): Date;
  /** Whether `pid` is a running process on this host. */
  isAlive(pid: number): boolean;
}

/** Signal 0 checks existence; EPERM means it exists but belongs to another user. */
export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const SYSTEM_LOCK_ENV: LockEnv = {
  pid: process.pid,
  host: os.hostname(),
  now: () => new Date(),
  isAlive: processIsAlive,
};

/** The lock file of the ledger `ledgerFile`: in the same folder. */
export function lockPath(ledgerFile: string): string {
  return path.join(path.dirname(ledgerFile), "submit.lock");
}

/** Parses a lock file; undefined when it is not one this tool wrote (or is half written). */
export function parseLock(text: string): LockOwner | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockOwner> | null;
    if (
      v !== null &&
      typeof v === "object" &&
      typeof v.pid === "number" &&
      Number.isInteger(v.pid) &&
      v.pid > 0 &&
      typeof v.host === "string" &&
      typeof v.time === "string"
    ) {
      return { pid: v.pid, host: v.host, time: v.time };
    }
  } catch {
    // not JSON: reported by the caller
  }
  return undefined;
}

/** Pure: whether a lock held by `owner` may be taken over by a process on `env.host`. */
export function isStale(owner: LockOwner, env: Pick<LockEnv, "host" | "isAlive">): boolean {
  return owner.host === env.host && !env.isAlive(owner.pid);
}

/** The error for a lock that is held: the file, the owner and what to do. */
export function heldMessage(file: string, owner: LockOwner | undefined, host: string): string {
  if (owner === undefined) {
    return (
      `another jobs:submit holds the lock ${file} (its content is not readable); ` +
      "if no jobs:submit is running for this stack, delete the file and re-run"
    );
  }
  const where = owner.host === host ? "" : ` on host ${owner.host}`;
  return (
    `another jobs:submit (pid ${owner.pid}${where}, since ${owner.time}) is submitting to this stack ` +
    `(lock ${file}); wait for it to finish and re-run. If pid ${owner.pid}${where} is not a jobs:submit, ` +
    `delete ${file} and re-run`
  );
}

export interface Lock {
  readonly file: string;
  /** Removes the lock file if it is still ours; safe to call twice. */
  release(): void;
}

function readOwner(file: string): { text: string; owner: LockOwner | undefined } | undefined {
  try {
    const text = fs.readFileSync(file, "utf8");
    return { text, owner: parseLock(text) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      return undefined;
    }
    throw err;
  }
}

function createExclusive(file: string, owner: LockOwner): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, "wx");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      return false;
    }
    throw err;
  }
  try {
    fs.writeSync(fd, `${JSON.stringify(owner)}\n`);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/**
 * Takes the lock or throws FatalError naming the holder. The folder must exist. The file is
 * also removed when the process exits through process.exit (a second Ctrl-C), since
 * `finally` blocks do not run then.
 */
export function acquireLock(
  file: string,
  warn: (message: string) => void,
  env: LockEnv = SYSTEM_LOCK_ENV,
): Lock {
  const owner: LockOwner = { pid: env.pid, host: env.host, time: env.now().toISOString() };
  let taken = createExclusive(file, owner);
  if (!taken) {
    const held = readOwner(file);
    if (held === undefined) {
      // Released between our attempt and the read: try once more.
      taken = createExclusive(file, owner);
    } else if (held.owner !== undefined && isStale(held.owner, env)) {
      // Remove only the stale lock we inspected: a run that took it over in the meantime
      // wrote a different one, and the exclusive create below then fails for us.
      const again = readOwner(file);
      if (again !== undefined && again.text === held.text) {
        fs.rmSync(file, { force: true });
      }
      taken = createExclusive(file, owner);
      if (taken) {
        warn(
          `took over the lock ${file} left by pid ${held.owner.pid} (started ${held.owner.time}), which is no longer running`,
        );
      }
    }
    if (!taken) {
      throw new FatalError(heldMessage(file, readOwner(file)?.owner ?? held?.owner, env.host));
    }
  }
  let released = false;
  const release = (): void => {
    if (released) {
      return;
    }
    released = true;
    process.removeListener("exit", release);
    const current = readOwner(file)?.owner;
    if (
      current !== undefined &&
      current.pid === owner.pid &&
      current.host === owner.host &&
      current.time === owner.time
    ) {
      fs.rmSync(file, { force: true });
    }
  };
  process.on("exit", release);
  return { file, release };
}
