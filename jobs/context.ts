/** What a command needs from the outside world: tests run commands in-process, on local servers. */
import * as path from "path";
import { setTimeout as delay } from "timers/promises";
import { SingleBar } from "cli-progress";
import { createAwsClients, type AwsClients } from "./aws/api";
import { recordClaimedJobs } from "./aws/claims";
import { BadInputError, FatalError, describeError, httpStatus, isFileSystemError } from "./errors";
import * as fs from "fs";
import { Ledger, checkedLedgerPath, entriesFor, ledgerPath, mergeLedger } from "./state/ledger";
import {
  defaultPulumiRunner,
  loadOutputs,
  stackStateName,
  type LoadedOutputs,
  type PulumiRunner,
} from "./input/outputs";
import { probeScript, type SavedDescription, type ScriptProbe } from "./input/variables";
import { VARS } from "../components/contract";
import { formatNumber } from "./output/numbers";
import type { Io } from "./output/visible";
import type { Faults } from "./aws/exactly-once";

export type { Io, OutStream } from "./output/visible";

export interface Context {
  readonly io: Io;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly repoRoot: string;
  /** The caller destroys them. */
  clients(region: string | undefined): AwsClients;
  probe(script: string | undefined, saved?: SavedDescription): ScriptProbe;
  readonly pulumi: PulumiRunner;
  /** Aborted on Ctrl-C: stop starting work, finish and record what is in flight. */
  readonly signal: AbortSignal;
  /** Crashes and short waits a test's own context injects (test/helpers/cli-with-faults.ts). */
  readonly faults?: Faults;
}

export const REPO_ROOT = path.resolve(__dirname, "..");

export function defaultContext(io: Io, signal: AbortSignal): Context {
  return {
    io,
    cwd: process.cwd(),
    env: process.env,
    repoRoot: REPO_ROOT,
    clients: (region) => createAwsClients({ region }),
    probe: (script, saved) => probeScript(REPO_ROOT, script, saved),
    pulumi: defaultPulumiRunner(process.env, REPO_ROOT),
    signal,
  };
}

const folder =
  (variable: string, ...fallback: string[]) =>
  (ctx: Context, flag?: string) =>
    path.resolve(ctx.cwd, flag ?? ctx.env[variable] ?? path.join(ctx.repoRoot, ...fallback));

export const stateDir = folder(VARS.stateDir, ".batchpy");
export const localRoot = folder(VARS.localRoot, ".batchpy", "local-bucket");

/** A progress bar on stderr, only for humans at a terminal and more than a handful of items. */
export function createProgress(io: Io, opts: { total: number; json: boolean; label: string }) {
  if (opts.json || io.stderr.isTTY !== true || opts.total <= 5) {
    return { update: () => undefined, stop: () => undefined };
  }
  const bar = new SingleBar({
    stream: (io.stderr.raw ?? io.stderr) as unknown as NodeJS.WritableStream,
    format: `${opts.label} [{bar}] {value}/{total} {note}`,
    formatValue: (v, _o, type) =>
      type === "value" || type === "total" ? formatNumber(v) : String(v),
    hideCursor: true,
  });
  bar.start(opts.total, 0, { note: "" });
  return {
    update: (value: number, label?: string) => bar.update(value, { note: label ?? "" }),
    stop: () => bar.stop(),
  };
}

export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  await delay(ms, undefined, { signal }).catch((err: Error) => {
    if (err.name !== "AbortError") {
      throw err;
    }
  });
}

/** `p` relative to `cwd` when inside it, else absolute: short and never `../../tmp/x`. */
export function displayPath(cwd: string, p: string): string {
  const rel = path.relative(cwd, p);
  return rel === "" ? "." : rel.startsWith("..") || path.isAbsolute(rel) ? p : rel;
}

export interface StackOptions {
  readonly stack?: string;
  readonly outputs?: string;
  readonly stateDir?: string;
  readonly json: boolean;
}

export function stackOutputs({ stack, outputs }: StackOptions, ctx: Context): LoadedOutputs {
  return loadOutputs({ stack, outputsFile: outputs, cwd: ctx.cwd, pulumi: ctx.pulumi });
}

/** The stack's one ledger whatever label was typed, and one an old version kept by label. */
function ledgerFiles(flags: StackOptions, ctx: Context, loaded: LoadedOutputs) {
  const dir = stateDir(ctx, flags.stateDir);
  const file = ledgerPath(dir, stackStateName(loaded.outputs));
  const byLabel = checkedLedgerPath(dir, loaded.stack);
  return { file, byLabel: byLabel !== file && fs.existsSync(byLabel) ? byLabel : undefined };
}

/** An older version's ledger kept under the label is moved into the stack's, saying so. */
export function stackLedgerPath(flags: StackOptions, ctx: Context, loaded: LoadedOutputs): string {
  const { file, byLabel } = ledgerFiles(flags, ctx, loaded);
  if (byLabel !== undefined) {
    const lines = mergeLedger(byLabel, file);
    ctx.io.stderr.write(
      `note: moved ${lines} line(s) of the ledger ${displayPath(ctx.cwd, byLabel)} (kept under the ` +
        `stack's label "${loaded.stack}") into ${displayPath(ctx.cwd, file)}, the one ledger of ` +
        `this stack under every label\n`,
    );
  }
  return file;
}

/** As a run that changes nothing reads it: one under the label is read, not moved. */
export function readStackLedger(flags: StackOptions, ctx: Context, loaded: LoadedOutputs): Ledger {
  const { file, byLabel } = ledgerFiles(flags, ctx, loaded);
  return openLedger(ctx, file, byLabel);
}

const warnedOf = new WeakMap<Context, Set<string>>();

/** Each skipped line is told once per command, though jobs:retry reads again to send. */
export function openLedger(ctx: Context, file: string, byLabel?: string): Ledger {
  const ledger = Ledger.open(file, byLabel);
  const warned = warnedOf.get(ctx) ?? new Set<string>();
  warnedOf.set(ctx, warned);
  for (const w of ledger.warnings.filter((w) => !warned.has(w))) {
    warned.add(w);
    ctx.io.stderr.write(`warning: ${w}\n`);
  }
  return ledger;
}

export type OpenStack = { outputs: LoadedOutputs; ledger: Ledger; clients: AwsClients };

/** Runs `use` with the ledger caught up with the jobs other machines sent (the stack's claims). */
export async function withStack<T>(
  flags: StackOptions,
  ctx: Context,
  use: (stack: OpenStack) => Promise<T>,
): Promise<T> {
  const outputs = stackOutputs(flags, ctx);
  const ledger = openLedger(ctx, stackLedgerPath(flags, ctx, outputs));
  const stack = { outputs, ledger, clients: ctx.clients(outputs.outputs.region) };
  try {
    await addClaimedJobs(stack, ctx);
    return await use(stack);
  } finally {
    ledger.close();
    stack.clients.destroy();
  }
}

/** Unreadable claims leave the ledger as it is, with a warning: it knows this machine's jobs. */
async function addClaimedJobs({ outputs, ledger, clients }: OpenStack, ctx: Context) {
  const bucket = outputs.outputs.bucketName;
  if (!bucket) {
    return;
  }
  try {
    const { added, unreadable } = await recordClaimedJobs(ledger, clients.storage, bucket);
    unreadable.forEach((u) =>
      ctx.io.stderr.write(
        `warning: left out ${u}: not a claim this tool can read; jobs:submit stops at it\n`,
      ),
    );
    if (added > 0) {
      ctx.io.stderr.write(
        `note: ${added} job(s) sent from other machines added to the ledger from the stack's claims\n`,
      );
    }
  } catch (err) {
    const expected =
      httpStatus(err) !== undefined ||
      isFileSystemError(err) ||
      (err instanceof Error && err.name === "CredentialsProviderError");
    if (!expected) {
      throw err;
    }
    ctx.io.stderr.write(
      `warning: the stack's claims in s3://${bucket} could not be read or recorded ` +
        `(${describeError(err)}); showing the jobs this machine's ledger knows\n`,
    );
  }
}

export function checkNames(
  names: readonly string[],
  known: (name: string) => boolean,
  where: string,
  fix = "check the names",
): void {
  const unknown = names.filter((n) => !known(n));
  if (unknown.length > 0) {
    throw new BadInputError(`not ${where}: ${unknown.join(", ")}; ${fix}, or pass --stack`);
  }
}

/** Latest entry per name (all must exist); a sweep's name stands for its chunks and retries too. */
export function selectEntries(
  ledger: Ledger,
  names: readonly string[],
  last: boolean,
  stack: string,
  fix?: string,
) {
  const latest = ledger.latest();
  const where = `in the ledger of stack "${stack}" (${ledger.file})`;
  checkNames(names, (n) => entriesFor(latest, n).length > 0, where, fix);
  const entries =
    names.length > 0
      ? [...new Set(names.flatMap((n) => entriesFor(latest, n)))]
      : [...latest.values()];
  return last ? ofLastRun(entries) : entries;
}

/** Its ISO start time sorts last. */
export function ofLastRun<T extends { readonly run: string }>(items: readonly T[]): T[] {
  const run = items.reduce((m, e) => (e.run > m ? e.run : m), "");
  return items.filter((e) => e.run === run);
}

export async function describeById(clients: AwsClients, ids: readonly string[]) {
  const details = await clients.batch.describeJobs(ids).catch((err: unknown) => {
    throw new FatalError(`DescribeJobs failed: ${describeError(err)}`);
  });
  return new Map(details.flatMap((d) => (d.jobId !== undefined ? [[d.jobId, d] as const] : [])));
}
