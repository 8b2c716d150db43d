/**
 * The submissions ledger `.batchpy/<stack folder>/submissions.jsonl`: append-only JSON lines,
 * an intent (on disk before SubmitJob), an entry (no type: the job Batch made) or a closing
 * line (the intent made no job); an intent with neither for its token is open (the protocol
 * is jobs/aws/exactly-once.ts). Only intents are fsync'ed, off the main thread: a crash cannot
 * lose a completed write(2), and after a power cut the intent is reconciled by its token.
 */
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import { FatalError, describeError } from "../errors";
import { readIfAny } from "./write-whole";
import { jsonValue } from "../input/json-source";
import { VARS } from "../../components/contract";
import { definedOnly } from "../../components/defined";

/** What an intent and the entry that closes it both say of a submission. */
interface SubmissionLine {
  readonly v: 1;
  readonly jobName: string;
  /** "array" for an array sweep parent; its children are `<jobId>:<index>`. */
  readonly kind: "single" | "array";
  readonly arraySize?: number;
  /** The job or sweep file, as given on the command line. */
  readonly file?: string;
  /** Hash of the request (and manifest), to tell when a file changed after submission. */
  readonly hash: string;
  /**
   * The sweep this job is a part of: a chunk (`<sweep>-c<n>`) or a retry (`<name>-r<n>`).
   * Watch, status, results, cancel, report and retry take the sweep's name for every part.
   */
  readonly of?: string;
  /** A sweep array's manifest key, so its sets are known before Batch shows its environment. */
  readonly manifest?: string;
  /** One id per `jobs:submit` invocation, so `watch --last` can pick the latest run. */
  readonly run: string;
  /** The generation of the name's claim in the stack's bucket (jobs/aws/claims.ts). */
  readonly generation?: number;
}

export interface LedgerEntry extends SubmissionLine {
  readonly jobId: string;
  readonly jobArn?: string;
  readonly submittedAt: string;
  /** The submission token the job carries as a tag (absent in ledgers from before tokens). */
  readonly token?: string;
}

/** Written (and flushed to disk) before a SubmitJob request leaves. */
export interface IntentLine extends SubmissionLine {
  readonly type: "intent";
  /** Fresh per logical submission; a resend after reconciliation reuses it. */
  readonly token: string;
  /** The queue the request goes to: where reconciliation lists the name. */
  readonly jobQueue: string;
  /** ISO time the line was written, just before the request was sent. */
  readonly at: string;
}

/** The entry that closes `intent` with the job Batch made for it. */
export function entryOf(
  intent: IntentLine,
  job: { readonly jobId: string; readonly jobArn?: string | undefined },
  submittedAt: string,
): LedgerEntry {
  const { v, jobName, kind, hash, run, token } = intent;
  return {
    ...{ v, jobName, jobId: job.jobId, kind, hash, run, submittedAt, token },
    ...definedOnly({ jobArn: job.jobArn, arraySize: intent.arraySize, file: intent.file }),
    ...definedOnly({ of: intent.of, manifest: intent.manifest, generation: intent.generation }),
  };
}

/** Closes an intent that created no job: AWS refused the request, or it never reached Batch. */
interface ClosedLine {
  readonly v: 1;
  readonly type: "closed";
  readonly jobName: string;
  readonly token: string;
  readonly reason: string;
  readonly at: string;
}

interface ParsedLedger {
  readonly entries: LedgerEntry[];
  readonly intents: IntentLine[];
  readonly closed: ClosedLine[];
  readonly warnings: string[];
}

/**
 * The one folder name of a stack inside the state folder: letters, digits, `_`, `-` and `.`
 * stay (every plain Pulumi stack name keeps its folder); any other byte, `%` included,
 * becomes `%XX`, so `org/project/stack` never meets `org_project_stack`. The dots of `.` and
 * `..`, which would name the state folder or its parent, are encoded too.
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

export function ledgerPath(stateDir: string, stack: string): string {
  return path.join(stateDir, stackFolderName(stack), "submissions.jsonl");
}

/**
 * The ledger of `stack`, refusing to start a new one while the folder older versions gave it
 * (other characters became `_`) holds one: its jobs would be submitted again. That folder may
 * belong to another stack (the old names collided), so the user decides.
 */
export function checkedLedgerPath(stateDir: string, stack: string): string {
  const file = ledgerPath(stateDir, stack);
  const old = stack.replace(/[^A-Za-z0-9._-]/g, "_");
  if ([stackFolderName(stack), ".", "..", ""].includes(old) || fs.existsSync(file)) {
    return file;
  }
  const legacy = path.join(stateDir, old, "submissions.jsonl");
  if (fs.existsSync(legacy)) {
    throw new FatalError(
      `the ledger of stack "${stack}" is now ${file}, and ${legacy} exists, written by an older ` +
        `version that gave "${stack}" and "${old}" the same folder; ` +
        `if it holds this stack's jobs, move it: mv '${path.dirname(legacy)}' '${path.dirname(file)}'; ` +
        `otherwise create the new folder: mkdir '${path.dirname(file)}'`,
    );
  }
  return file;
}

/**
 * Moves the ledger `from` (one an older version kept under the label typed) to the end of
 * `into`, flushed before `from` goes; returns its number of lines. Run twice after a crash
 * in between, its lines appear twice, which reads the same: the latest line per name wins.
 */
export function mergeLedger(from: string, into: string): number {
  const text = fs.readFileSync(from, "utf8");
  fs.mkdirSync(path.dirname(into), { recursive: true });
  const fd = fs.openSync(into, "a");
  try {
    fs.writeSync(fd, text.endsWith("\n") || text === "" ? text : `${text}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.rmSync(from);
  return text.split("\n").filter((l) => l.trim() !== "").length;
}

/** Which list of a parsed ledger `value` belongs in, if it is a ledger line. */
function lineKind(value: unknown): "entries" | "intents" | "closed" | undefined {
  const e = (value ?? {}) as Record<string, unknown>;
  if (typeof value !== "object" || e.v !== 1) {
    return undefined;
  }
  const strings = (...keys: string[]): boolean => keys.every((k) => typeof e[k] === "string");
  const jobKind = e.kind === "single" || e.kind === "array";
  if (e.type === undefined) {
    return jobKind && strings("jobName", "jobId", "hash") ? "entries" : undefined;
  }
  if (e.type === "intent") {
    return jobKind && strings("jobName", "token", "hash", "jobQueue", "at") ? "intents" : undefined;
  }
  return e.type === "closed" && strings("token") ? "closed" : undefined;
}

/**
 * Parses ledger text into `into`; unreadable lines (a torn last line after a crash) become
 * warnings.
 */
export function parseLedger(
  text: string,
  file = "ledger",
  into: ParsedLedger = { entries: [], intents: [], closed: [], warnings: [] },
): ParsedLedger {
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") {
      return;
    }
    const value = jsonValue(line)?.value;
    const kind = lineKind(value);
    if (kind !== undefined) {
      (into[kind] as unknown[]).push(value);
      return;
    }
    // Not JSON, or not a line of ours: torn by a crash if it is the last.
    const torn =
      i === lines.length - 1 || (i === lines.length - 2 && lines[lines.length - 1] === "");
    into.warnings.push(
      `${file}:${i + 1}: skipped an unreadable line${torn ? " (cut short by an interrupted run)" : ""}`,
    );
  });
  return into;
}

/**
 * Intents with neither an entry nor a closing line for their token: the latest line per
 * token (a resend rewrites the intent with a later `at`), in ledger order.
 */
export function openIntents(
  parsed: Pick<ParsedLedger, "entries" | "intents" | "closed">,
): IntentLine[] {
  const done = new Set<string | undefined>([
    ...parsed.entries.map((e) => e.token),
    ...parsed.closed.map((c) => c.token),
  ]);
  const latest = new Map<string, IntentLine>();
  for (const i of parsed.intents.filter((i) => !done.has(i.token))) {
    latest.delete(i.token);
    latest.set(i.token, i);
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
  return new Map(entries.map((e) => [e.jobName, e]));
}

export class Ledger implements ParsedLedger {
  readonly entries: LedgerEntry[] = [];
  readonly intents: IntentLine[] = [];
  readonly closed: ClosedLine[] = [];
  readonly warnings: string[] = [];
  private fd: number | undefined;
  /** The file as read ends mid-line (a crash): the next line must start on a fresh one. */
  private torn = false;

  private constructor(readonly file: string) {}

  /**
   * The ledger in `file` (none there: an empty one); with `after`, read as if that ledger's
   * lines followed (as mergeLedger would move them in), neither file changed.
   */
  static open(file: string, after?: string): Ledger {
    const ledger = new Ledger(file);
    for (const f of after === undefined ? [file] : [file, after]) {
      let text: string;
      try {
        text = readIfAny(f) ?? "";
      } catch (err) {
        throw new FatalError(
          `cannot read the ledger ${f} (${describeError(err)}); fix the file or its ` +
            `permissions, or pass --state-dir DIR (or set ${VARS.stateDir})`,
        );
      }
      parseLedger(text, f, ledger);
      ledger.torn ||= f === file && text !== "" && !text.endsWith("\n");
    }
    return ledger;
  }

  latest(): Map<string, LedgerEntry> {
    return latestByName(this.entries);
  }

  openIntents(): IntentLine[] {
    return openIntents(this);
  }

  /** Creates the folder and opens the file for appending (idempotent). */
  openForAppend(): number {
    if (this.fd === undefined) {
      const dir = path.dirname(this.file);
      fs.mkdirSync(dir, { recursive: true });
      const created = !fs.existsSync(this.file);
      this.fd = fs.openSync(this.file, "a");
      if (created) {
        // A new file's name lives in its folder: flush the folder too, or a power cut can
        // lose the whole file with every intent fsync'ed into it.
        syncDirectory(dir);
      }
      if (this.torn) {
        fs.writeSync(this.fd, "\n");
      }
    }
    return this.fd;
  }

  /** Appends an entry or a closing line as a single write, so appends never interleave. */
  append(line: LedgerEntry | ClosedLine): void {
    fs.writeSync(this.openForAppend(), `${JSON.stringify(line)}\n`);
    ("type" in line ? this.closed : this.entries).push(line as never);
  }

  /** Appends an intent as a single write and resolves once it is on disk. */
  async recordIntent(intent: IntentLine): Promise<void> {
    const fd = this.openForAppend();
    fs.writeSync(fd, `${JSON.stringify(intent)}\n`);
    await promisify(fs.fdatasync)(fd);
    this.intents.push(intent);
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
      !["EISDIR", "EPERM", "EACCES", "EINVAL"].includes(String((err as { code?: unknown }).code))
    ) {
      throw err;
    }
  } finally {
    if (dfd !== undefined) {
      fs.closeSync(dfd);
    }
  }
}
