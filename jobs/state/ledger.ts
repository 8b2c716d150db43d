/**
 * `.batchpy/<stack folder>/submissions.jsonl`: append-only intents, entries (no type) and closing
 * lines (docs/jobs.md, "Exactly once"). Only intents are fsync'ed: a crash cannot lose a completed
 * write(2), and after a power cut an intent is reconciled by its token.
 */
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import { z } from "zod";
import { FatalError, describeError, orFallback } from "../errors";
import { readIfAny } from "./write-whole";
import { jsonValue } from "../input/json-source";
import { VARS } from "../../components/contract";
import { definedOnly } from "../../components/defined";

const submissionLine = z.object({
  v: z.literal(1),
  jobName: z.string(),
  kind: z.enum(["single", "array"]),
  arraySize: z.int().nonnegative().optional(),
  file: z.string().optional(),
  /** Of the request (and manifest): tells when a file changed after submission. */
  hash: z.string(),
  /** The sweep a chunk (`<sweep>-c<n>`) or retry (`<name>-r<n>`) is a part of. */
  of: z.string().optional(),
  /** So a sweep's sets are known before Batch shows its environment. */
  manifest: z.string().optional(),
  /** One per `jobs:submit`, so `watch --last` can pick the latest. */
  run: z.string(),
  generation: z.int().nonnegative().optional(),
});

export interface LedgerEntry extends z.infer<typeof submissionLine> {
  readonly jobId: string;
  readonly jobArn?: string;
  readonly submittedAt: string;
  /** Absent in ledgers from before tokens. */
  readonly token?: string;
}

/** The one shape of an intent: a ledger line, and the heart of a claim (claims.ts). */
export const intentLine = submissionLine.extend({
  type: z.literal("intent"),
  /** Fresh per logical submission; a resend after reconciliation reuses it. */
  token: z.string(),
  jobQueue: z.string(),
  at: z.string(),
});

export type IntentLine = z.infer<typeof intentLine>;

export function entryOf(
  intent: IntentLine,
  job: { jobId: string; jobArn?: string | undefined; submittedAt: string },
): LedgerEntry {
  const { v, jobName, kind, hash, run, token, arraySize, file, of, manifest, generation } = intent;
  const { jobId, jobArn, submittedAt } = job;
  return {
    ...{ v, jobName, jobId, kind, hash, run, submittedAt, token },
    ...definedOnly({ jobArn, arraySize, file, of, manifest, generation }),
  };
}

type ClosedLine = { readonly v: 1; readonly type: "closed" } & Readonly<
  Record<"jobName" | "token" | "reason" | "at", string>
>;

type ParsedLedger = Pick<Ledger, "entries" | "intents" | "closed" | "warnings">;

/**
 * Plain stack names keep their folder; any other byte (`%` too) becomes `%XX`, so
 * `org/project/stack` never meets `org_project_stack`; `.` and `..` are encoded too.
 */
export function stackFolderName(stack: string): string {
  if (stack === "") {
    return "%"; // No encoded name is a lone "%".
  }
  const encoded = stack.replace(/[^A-Za-z0-9._-]/gu, (c) =>
    Array.from(Buffer.from(c), (b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join(""),
  );
  return encoded === "." || encoded === ".." ? encoded.replace(/\./g, "%2E") : encoded;
}

export function ledgerPath(stateDir: string, stack: string): string {
  return path.join(stateDir, stackFolderName(stack), "submissions.jsonl");
}

/**
 * Refuses to start a ledger while the folder older versions gave the stack holds one (its jobs
 * would be sent again); that folder may be another stack's, so the user decides.
 */
export function checkedLedgerPath(stateDir: string, stack: string): string {
  const file = ledgerPath(stateDir, stack);
  const old = stack.replace(/[^A-Za-z0-9._-]/g, "_");
  const legacy = path.join(stateDir, old, "submissions.jsonl");
  const shared = ![stackFolderName(stack), ".", "..", ""].includes(old);
  if (shared && !fs.existsSync(file) && fs.existsSync(legacy)) {
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
 * Appends `from` to `into`, flushed before `from` goes; returns its line count. Lines appended
 * twice after a crash read the same: the latest line per name wins.
 */
export function mergeLedger(from: string, into: string): number {
  const text = fs.readFileSync(from, "utf8");
  fs.mkdirSync(path.dirname(into), { recursive: true });
  flushed(into, "a", (fd) =>
    fs.writeSync(fd, text.endsWith("\n") || text === "" ? text : `${text}\n`),
  );
  fs.rmSync(from);
  return text.split("\n").filter((l) => l.trim() !== "").length;
}

const lineKinds = {
  intents: intentLine,
  entries: submissionLine
    .pick({ v: true, jobName: true, kind: true, hash: true })
    .extend({ jobId: z.string(), type: z.undefined().optional() }),
  closed: z.object({ v: z.literal(1), type: z.literal("closed"), token: z.string() }),
};

const lineKind = (value: unknown) =>
  (["intents", "entries", "closed"] as const).find((k) => lineKinds[k].safeParse(value).success);

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
    const torn = i === lines.length - (lines.at(-1) === "" ? 2 : 1);
    into.warnings.push(
      `${file}:${i + 1}: skipped an unreadable line${torn ? " (cut short by an interrupted run)" : ""}`,
    );
  });
  return into;
}

/** The latest line per token (a resend rewrites the intent) with no entry or closing line. */
export function openIntents(parsed: ParsedLedger): IntentLine[] {
  const done = new Set([...parsed.entries, ...parsed.closed].map((line) => line.token));
  const open = parsed.intents.filter((i) => !done.has(i.token));
  const last = new Map(open.map((i, n) => [i.token, n]));
  return open.filter((i, n) => last.get(i.token) === n);
}

export function entriesFor(latest: ReadonlyMap<string, LedgerEntry>, name: string): LedgerEntry[] {
  return [...latest.values()].filter((e) => e.jobName === name || e.of === name);
}

export function latestByName(entries: readonly LedgerEntry[]): Map<string, LedgerEntry> {
  return new Map(entries.map((e) => [e.jobName, e]));
}

export class Ledger {
  readonly entries: LedgerEntry[] = [];
  readonly intents: IntentLine[] = [];
  readonly closed: ClosedLine[] = [];
  readonly warnings: string[] = [];
  private fd: number | undefined;
  /** Ends mid-line (a crash): the next line must start on a fresh one. */
  private torn = false;

  private constructor(readonly file: string) {}

  /** With `after`, read as if mergeLedger had moved its lines in. */
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

  openForAppend(): number {
    if (this.fd === undefined) {
      const dir = path.dirname(this.file);
      fs.mkdirSync(dir, { recursive: true });
      const created = !fs.existsSync(this.file);
      this.fd = fs.openSync(this.file, "a");
      if (created) {
        // A new file's name lives in its folder: unflushed, a power cut loses every intent.
        orFallback(() => flushed(dir, "r"), undefined, cannotSyncFolders);
      }
      if (this.torn) {
        fs.writeSync(this.fd, "\n");
      }
    }
    return this.fd;
  }

  /** A single write, so appends never interleave. */
  append(line: LedgerEntry | ClosedLine): void {
    fs.writeSync(this.openForAppend(), `${JSON.stringify(line)}\n`);
    ("type" in line ? this.closed : this.entries).push(line as never);
  }

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

/** `file` opened with `flag`, written by `write`, then flushed to disk. */
function flushed(file: string, flag: string, write?: (fd: number) => void): void {
  const fd = fs.openSync(file, flag);
  try {
    write?.(fd);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Platforms that cannot open or fsync a folder (Windows): nothing more to do there. */
const cannotSyncFolders = (err: unknown) =>
  ["EISDIR", "EPERM", "EACCES", "EINVAL"].includes(String((err as NodeJS.ErrnoException).code));
