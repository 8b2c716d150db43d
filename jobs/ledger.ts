/**
 * The submissions ledger: `.batchpy/<stack>/submissions.jsonl`, one JSON line per job
 * AWS accepted, appended the moment SubmitJob returns. A re-run after a crash or Ctrl-C
 * reads it and submits only the names that are not there. `jobs:submit` opens it for
 * appending before its first side effect, so a folder it cannot write stops the run before
 * anything is submitted rather than after AWS accepted jobs it cannot record.
 *
 * Append-only and without fsync: a crash can at worst tear the last line, which the reader
 * skips (the job it described is then submitted again). The same window exists between
 * AWS accepting a job and the line being written. SubmitJob has no idempotency token, and
 * the SDK retries a call whose answer was lost (timeout, HTTP 5xx), so such a retry can
 * also create a job twice; the ledger then records only the ID of the answer that arrived.
 */
import * as fs from "fs";
import * as path from "path";
import { FatalError, describeError } from "./errors";
import { VARS } from "../components/contract";

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
  /** One id per `jobs:submit` invocation, so `watch --last` can pick the latest run. */
  readonly run: string;
  readonly submittedAt: string;
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
export function legacyLedgerPath(stateDir: string, stack: string): string | undefined {
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
    typeof e.jobName === "string" &&
    typeof e.jobId === "string" &&
    (e.kind === "single" || e.kind === "array") &&
    typeof e.hash === "string"
  );
}

/** Parses ledger text; unreadable lines (a torn last line after a crash) become warnings. */
export function parseLedger(
  text: string,
  file = "ledger",
): { entries: LedgerEntry[]; warnings: string[] } {
  const entries: LedgerEntry[] = [];
  const warnings: string[] = [];
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") {
      return;
    }
    try {
      const value: unknown = JSON.parse(line);
      if (isEntry(value)) {
        entries.push(value);
        return;
      }
    } catch {
      // fall through to the warning
    }
    const torn =
      i === lines.length - 1 || (i === lines.length - 2 && lines[lines.length - 1] === "");
    warnings.push(
      `${file}:${i + 1}: skipped an unreadable line${torn ? " (cut short by an interrupted run)" : ""}`,
    );
  });
  return { entries, warnings };
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
  readonly warnings: string[];
  private fd: number | undefined;

  private constructor(file: string, entries: LedgerEntry[], warnings: string[]) {
    this.file = file;
    this.entries = entries;
    this.warnings = warnings;
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
    const { entries, warnings } = parseLedger(text, file);
    return new Ledger(file, entries, warnings);
  }

  latest(): Map<string, LedgerEntry> {
    return latestByName(this.entries);
  }

  /**
   * Creates the folder and opens the file for appending (idempotent); returns the file
   * descriptor. Throws the file system's error when the folder or file cannot be written.
   */
  openForAppend(): number {
    if (this.fd === undefined) {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
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
      } catch {
        prefix = "";
      }
      this.fd = fs.openSync(this.file, "a");
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

  close(): void {
    if (this.fd !== undefined) {
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
  }
}
