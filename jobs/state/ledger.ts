/**
 * The submissions ledger: `.batchpy/<stack>/submissions.jsonl`, append-only JSON lines.
 *
 * Three kinds of line make submission exactly-once (see jobs/aws/exactly-once.ts):
 *  - an intent `{"type":"intent", jobName, token, hash, at, ...}`, written and fsync'ed
 *    before the SubmitJob request leaves. The token is fresh per logical submission and
 *    travels as a tag on the job, so a job found in Batch matches exactly one intent;
 *  - an entry `{jobName, jobId, token, ...}` (no type), written when AWS answers with the
 *    job's ID, or when reconciliation finds the job by its token. Entries are what watch,
 *    status, logs, results and cancel read;
 *  - a closing line `{"type":"closed", token, reason}`: AWS answered "no" (a 4xx), so the
 *    intent created nothing and needs no reconciliation.
 *
 * An intent without an entry or a closing line is open: the run that wrote it crashed or
 * lost SubmitJob's answer, and the next run reconciles it before sending anything new.
 * Only intents are fsync'ed, and in groups (one fdatasync covers every line written
 * before it), so concurrent submissions never wait on each other's disk flush. Entries and
 * closing lines need no fsync: a process crash cannot lose a completed write(2), and if
 * the machine loses power the intent, which is on disk, is reconciled by its token.
 *
 * `jobs:submit` opens the ledger for appending before its first side effect, so a folder it
 * cannot write stops the run before anything is submitted. A torn last line (a crash
 * mid-write) is skipped with a warning.
 */
import * as fs from "fs";
import * as path from "path";
import { FatalError, describeError, isMissingFile } from "../errors";
import { jsonValue } from "../input/json-source";
import { VARS } from "../../components/contract";

export interface LedgerEntry {
  readonly v: 1;
  readonly jobName: string;
  readonly jobId: string;
  readonly jobArn?: string;
  /** "array" for an array sweep parent; its children are `<jobId>:<index>`. */
  readonly kind: "single" | "array";
  readonly arraySize?: number;
  /** The job or sweep file, as given on the command line. */
  readonly file?: string;
  /** Hash of the request (and manifest), to tell when a file changed after submission. */
  readonly hash: string;
  /**
   * The sweep this job is one part of: a chunk of a sweep past 10,000 sets (`<sweep>-c<n>`)
   * or a retry (`<name>-r<n>`). Watch, status, results, cancel, report and retry take the
   * sweep's name for every part.
   */
  readonly of?: string;
  /**
   * A sweep array's manifest key (its sets, and their numbers for a chunk or a retry), so
   * the sets a run covers are known before Batch shows its environment.
   */
  readonly manifest?: string;
  /** One id per `jobs:submit` invocation, so `watch --last` can pick the latest run. */
  readonly run: string;
  readonly submittedAt: string;
  /** The submission token the job carries as a tag (absent in ledgers from before tokens). */
  readonly token?: string;
}

/** Written (and flushed to disk) before a SubmitJob request leaves. */
export interface IntentLine {
  readonly v: 1;
  readonly type: "intent";
  readonly jobName: string;
  /** Fresh per logical submission; a resend after reconciliation reuses it. */
  readonly token: string;
  readonly hash: string;
  /** The queue the request goes to: where reconciliation lists the name. */
  readonly jobQueue: string;
  readonly kind: "single" | "array";
  readonly arraySize?: number;
  readonly file?: string;
  /** The sweep this job is one part of (see LedgerEntry.of), for the entry adopted later. */
  readonly of?: string;
  /** See LedgerEntry.manifest. */
  readonly manifest?: string;
  readonly run: string;
  /** ISO time the line was written, just before the request was sent. */
  readonly at: string;
}

/** Closes an intent that created no job: AWS refused the request, or reconciliation gave up on it. */
export interface ClosedLine {
  readonly v: 1;
  readonly type: "closed";
  readonly jobName: string;
  readonly token: string;
  readonly reason: string;
  readonly at: string;
}

export interface ParsedLedger {
  readonly entries: LedgerEntry[];
  readonly intents: IntentLine[];
  readonly closed: ClosedLine[];
  readonly warnings: string[];
}

/**
 * The one folder name of a stack reference inside the state folder: letters, digits, `_`,
 * `-` and `.` stay as they are (every plain Pulumi stack name keeps its folder); any other
 * byte, `%` included, becomes `%XX` (UTF-8), so `org/project/stack` is `org%2Fproject%2Fstack`
 * and never meets the stack `org_project_stack`. `.` and `..`, which Pulumi's stack-name rule
 * allows, would name the state folder itself or its parent: their dots are encoded too.
 */
export function stackFolderName(stack: string): string {
  if (stack === "") {
    return "%"; // No encoded name is a lone "%".
  }
  const encoded = Array.from(Buffer.from(stack, "utf8"))
    .map((b) =>
      /[A-Za-z0-9._-]/.test(String.fromCharCode(b)) && b < 0x80
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, "0")}`,
    )
    .join("");
  return encoded === "." || encoded === ".." ? encoded.replace(/\./g, "%2E") : encoded;
}

/** The ledger of `stack`: `<stateDir>/<stackFolderName(stack)>/submissions.jsonl`. */
export function ledgerPath(stateDir: string, stack: string): string {
  return path.join(stateDir, stackFolderName(stack), "submissions.jsonl");
}

/**
 * Where versions before `stackFolderName` kept the ledger of a stack whose name has other
 * characters than letters, digits, `.`, `_` and `-` (`/` became `_`); undefined when that is
 * the same folder, or was not a folder of its own (`.`, `..`).
 */
function legacyLedgerPath(stateDir: string, stack: string): string | undefined {
  const legacy = stack.replace(/[^A-Za-z0-9._-]/g, "_");
  if (legacy === stackFolderName(stack) || legacy === "." || legacy === ".." || legacy === "") {
    return undefined;
  }
  return path.join(stateDir, legacy, "submissions.jsonl");
}

/**
 * The ledger of `stack`, refusing to start a new, empty one while an older version's ledger
 * of the same name exists: its jobs would be submitted again. The older folder may belong to
 * another stack (the old names collided), so the user decides.
 */
export function checkedLedgerPath(stateDir: string, stack: string): string {
  const file = ledgerPath(stateDir, stack);
  const legacy = legacyLedgerPath(stateDir, stack);
  if (legacy !== undefined && !fs.existsSync(file) && fs.existsSync(legacy)) {
    throw new FatalError(
      `the ledger of stack "${stack}" is now ${file}, and ${legacy} exists, written by an older ` +
        `version that gave "${stack}" and "${path.basename(path.dirname(legacy))}" the same folder; ` +
        `if it holds this stack's jobs, move it: mv '${path.dirname(legacy)}' '${path.dirname(file)}'; ` +
        `otherwise create the new folder: mkdir '${path.dirname(file)}'`,
    );
  }
  return file;
}

function isEntry(v: unknown): v is LedgerEntry {
  if (v === null || typeof v !== "object") {
    return false;
  }
  const e = v as Record<string, unknown>;
  return (
    e.v === 1 &&
    e.type === undefined &&
    typeof e.jobName === "string" &&
    typeof e.jobId === "string" &&
    (e.kind === "single" || e.kind === "array") &&
    typeof e.hash === "string"
  );
}

function isIntent(v: unknown): v is IntentLine {
  const e = v as Record<string, unknown>;
  return (
    e.v === 1 &&
    e.type === "intent" &&
    typeof e.jobName === "string" &&
    typeof e.token === "string" &&
    typeof e.hash === "string" &&
    typeof e.jobQueue === "string" &&
    (e.kind === "single" || e.kind === "array") &&
    typeof e.at === "string"
  );
}

function isClosed(v: unknown): v is ClosedLine {
  const e = v as Record<string, unknown>;
  return e.v === 1 && e.type === "closed" && typeof e.token === "string";
}

/** Parses ledger text; unreadable lines (a torn last line after a crash) become warnings. */
export function parseLedger(text: string, file = "ledger"): ParsedLedger {
  const entries: LedgerEntry[] = [];
  const intents: IntentLine[] = [];
  const closed: ClosedLine[] = [];
  const warnings: string[] = [];
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") {
      return;
    }
    // Not JSON, or not a line of ours: a torn or foreign line, warned about below.
    const value = jsonValue(line)?.value;
    if (typeof value === "object" && value !== null) {
      if (isEntry(value)) {
        entries.push(value);
        return;
      }
      if (isIntent(value)) {
        intents.push(value);
        return;
      }
      if (isClosed(value)) {
        closed.push(value);
        return;
      }
    }
    const torn =
      i === lines.length - 1 || (i === lines.length - 2 && lines[lines.length - 1] === "");
    warnings.push(
      `${file}:${i + 1}: skipped an unreadable line${torn ? " (cut short by an interrupted run)" : ""}`,
    );
  });
  return { entries, intents, closed, warnings };
}

/**
 * Intents with neither an entry nor a closing line for their token: the latest line per
 * token (a resend rewrites the intent with a later `at`), in ledger order.
 */
export function openIntents(
  parsed: Pick<ParsedLedger, "entries" | "intents" | "closed">,
): IntentLine[] {
  const done = new Set<string>();
  for (const e of parsed.entries) {
    if (e.token !== undefined) {
      done.add(e.token);
    }
  }
  for (const c of parsed.closed) {
    done.add(c.token);
  }
  const latest = new Map<string, IntentLine>();
  for (const i of parsed.intents) {
    if (!done.has(i.token)) {
      latest.delete(i.token);
      latest.set(i.token, i);
    }
  }
  return [...latest.values()];
}

/**
 * The latest entries named `name` or recorded as its parts (chunks, retries), in ledger
 * order; empty when the ledger knows no such name.
 */
export function entriesFor(latest: ReadonlyMap<string, LedgerEntry>, name: string): LedgerEntry[] {
  return [...latest.values()].filter((e) => e.jobName === name || e.of === name);
}

/** The latest entry per job name (a forced resubmission replaces the earlier one). */
export function latestByName(entries: readonly LedgerEntry[]): Map<string, LedgerEntry> {
  const map = new Map<string, LedgerEntry>();
  for (const e of entries) {
    map.set(e.jobName, e);
  }
  return map;
}

export class Ledger {
  readonly file: string;
  readonly entries: LedgerEntry[];
  readonly intents: IntentLine[];
  readonly closed: ClosedLine[];
  readonly warnings: string[];
  private fd: number | undefined;
  /** Intent lines waiting for the next group flush, with their writers' callbacks. */
  private pending: { line: string; done: (err?: Error) => void }[] = [];
  private flushing = false;
  /** Disk flushes (fdatasync) so far: fewer than intents when they arrive together. */
  diskFlushes = 0;

  private constructor(file: string, parsed: ParsedLedger) {
    this.file = file;
    this.entries = parsed.entries;
    this.intents = parsed.intents;
    this.closed = parsed.closed;
    this.warnings = parsed.warnings;
  }

  /**
   * Reads the ledger. A file that does not exist (ENOENT, or ENOTDIR under a path that is
   * a file) is an empty ledger; whether it can be created is openForAppend's question.
   */
  static open(file: string): Ledger {
    let text = "";
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") {
        throw new FatalError(
          `cannot read the ledger ${file} (${describeError(err)}); fix the file or its ` +
            `permissions, or pass --state-dir DIR (or set ${VARS.stateDir})`,
        );
      }
    }
    return new Ledger(file, parseLedger(text, file));
  }

  latest(): Map<string, LedgerEntry> {
    return latestByName(this.entries);
  }

  /** Intents an earlier run left without a job ID or a closing line. */
  openIntents(): IntentLine[] {
    return openIntents(this);
  }

  /**
   * Creates the folder and opens the file for appending (idempotent); returns the file
   * descriptor. Throws the file system's error when the folder or file cannot be written.
   */
  openForAppend(): number {
    if (this.fd === undefined) {
      const dir = path.dirname(this.file);
      fs.mkdirSync(dir, { recursive: true });
      const existed = fs.existsSync(this.file);
      // After a torn last line, start on a fresh line so the new entry stays readable.
      let prefix = "";
      try {
        const size = fs.statSync(this.file).size;
        if (size > 0) {
          const buf = Buffer.alloc(1);
          const rfd = fs.openSync(this.file, "r");
          fs.readSync(rfd, buf, 0, 1, size - 1);
          fs.closeSync(rfd);
          prefix = buf.toString() === "\n" ? "" : "\n";
        }
      } catch (err) {
        if (!isMissingFile(err)) {
          throw err;
        }
        prefix = "";
      }
      this.fd = fs.openSync(this.file, "a");
      if (!existed) {
        // A new file's name lives in its folder: flush the folder too, or a power cut can
        // lose the whole file with every intent fsync'ed into it.
        syncDirectory(dir);
      }
      if (prefix !== "") {
        fs.writeSync(this.fd, prefix);
      }
    }
    return this.fd;
  }

  /** Appends one entry as a single write, so concurrent appends never interleave. */
  append(entry: LedgerEntry): void {
    fs.writeSync(this.openForAppend(), `${JSON.stringify(entry)}\n`);
    this.entries.push(entry);
  }

  /** Closes an intent that created no job. */
  appendClosed(line: ClosedLine): void {
    fs.writeSync(this.openForAppend(), `${JSON.stringify(line)}\n`);
    this.closed.push(line);
  }

  /**
   * Appends an intent and resolves once it is on disk. Lines that arrive while a flush is
   * under way go together in the next one (one write, one fdatasync on the thread pool),
   * so N concurrent submissions cost about one disk flush each round, not N in a row.
   */
  recordIntent(intent: IntentLine): Promise<void> {
    const fd = this.openForAppend();
    return new Promise<void>((resolve, reject) => {
      this.pending.push({
        line: `${JSON.stringify(intent)}\n`,
        done: (err) => {
          if (err === undefined) {
            this.intents.push(intent);
            resolve();
          } else {
            reject(err);
          }
        },
      });
      if (!this.flushing) {
        this.flush(fd);
      }
    });
  }

  private flush(fd: number): void {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) {
      this.flushing = false;
      return;
    }
    this.flushing = true;
    const finish = (err?: Error | null): void => {
      batch.forEach((b) => b.done(err ?? undefined));
      this.flush(fd);
    };
    try {
      fs.writeSync(fd, batch.map((b) => b.line).join(""));
    } catch (err) {
      finish(err as Error);
      return;
    }
    this.diskFlushes++;
    fs.fdatasync(fd, finish);
  }

  close(): void {
    if (this.fd !== undefined) {
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

/** fsync of a folder, where the file system supports it (not on Windows). */
function syncDirectory(dir: string): void {
  let dfd: number | undefined;
  try {
    dfd = fs.openSync(dir, "r");
    fs.fsyncSync(dfd);
  } catch (err) {
    // Platforms that cannot open or fsync a folder (Windows): nothing more to do there.
    if (
      !["EISDIR", "EPERM", "EACCES", "EINVAL"].includes(String((err as NodeJS.ErrnoException).code))
    ) {
      throw err;
    }
  } finally {
    if (dfd !== undefined) {
      fs.closeSync(dfd);
    }
  }
}
