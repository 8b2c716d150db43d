/**
 * One `jobs:submit` per ledger at a time (two would both send a missing job): an O_EXCL file.
 * A lock whose pid no longer runs on this host is taken over by the one run that creates a
 * marker named after its content.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { FatalError, orFallback } from "../errors";
import { jsonValue } from "../input/json-source";
import { z } from "zod";
import { readIfAny } from "./write-whole";

const lockOwner = z.object({ pid: z.int().positive(), host: z.string(), time: z.string() });
type LockOwner = z.infer<typeof lockOwner>;

/** Signal 0 checks existence; EPERM means it exists but belongs to another user. */
export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const thisProcess = {
  pid: process.pid,
  host: os.hostname(),
  now: () => new Date(),
  isAlive: processIsAlive,
};

export type LockEnv = typeof thisProcess;

const lockText = (owner: LockOwner): string => `${JSON.stringify(owner)}\n`;

export function lockPath(ledgerFile: string): string {
  return path.join(path.dirname(ledgerFile), "submit.lock");
}

export function parseLock(text: string): LockOwner | undefined {
  return lockOwner.safeParse(jsonValue(text)?.value).data;
}

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

export type Lock = ReturnType<typeof acquireLock>;

function createOrTakeOver(file: string, owner: LockOwner, env: LockEnv) {
  const create = () =>
    orFallback(
      () => {
        fs.writeFileSync(file, lockText(owner), { flag: "wx" });
        return true;
      },
      false,
      (err) => (err as NodeJS.ErrnoException).code === "EEXIST",
    );
  if (create()) {
    return {};
  }
  const held = readIfAny(file);
  if (held === undefined) {
    return create() && {}; // Released meanwhile.
  }
  const from = parseLock(held);
  if (from === undefined || from.host !== env.host || env.isAlive(from.pid)) {
    return false;
  }
  // A marker whose taker died is stale in turn.
  const hash = createHash("sha256").update(held).digest("hex").slice(0, 16);
  const marker = `${file}.takeover-${hash}`;
  if (!createOrTakeOver(marker, owner, env)) {
    return false;
  }
  try {
    if (readIfAny(file) !== held) {
      return false;
    }
    fs.rmSync(file, { force: true });
  } finally {
    fs.rmSync(marker, { force: true });
  }
  return create() && { from };
}

/** Released on process.exit too (a second Ctrl-C), where `finally` blocks do not run. */
export function acquireLock(file: string, warn: (message: string) => void, env = thisProcess) {
  const owner: LockOwner = { pid: env.pid, host: env.host, time: env.now().toISOString() };
  const got = createOrTakeOver(file, owner, env);
  if (!got) {
    throw new FatalError(heldMessage(file, parseLock(readIfAny(file) ?? ""), env.host));
  }
  if (got.from !== undefined) {
    warn(
      `took over the lock ${file} left by pid ${got.from.pid} (started ${got.from.time}), which is no longer running`,
    );
  }
  const release = (): void => {
    process.removeListener("exit", release);
    if (readIfAny(file) === lockText(owner)) {
      fs.rmSync(file, { force: true });
    }
  };
  process.on("exit", release);
  return { release };
}
