/** `jobs:results`: like `aws s3 sync`, each file through a temporary one, never half written. */
import * as fs from "fs";
import * as path from "path";
import {
  createProgress,
  localRoot,
  withStack,
  type Context,
  type OpenStack,
  type StackOptions,
} from "../context";
import { BadInputError, describeError, exitCode, isMissingFile, orFallback } from "../errors";
import { requireOutput } from "../input/outputs";
import { runPool } from "../aws/pool";
import { entriesFor } from "../state/ledger";
import { listLocal } from "../state/local-runs";
import {
  matchesPrefix,
  planSync,
  prefixesFor,
  type LocalInfo,
  type SourceObject,
  type SyncPlan,
} from "../state/sync";
import { printResults, printResultsJson } from "../output/results-print";
import { visible } from "../output/visible";

export interface ResultsOptions extends StackOptions {
  readonly names: readonly string[];
  readonly out?: string;
  readonly locally?: boolean;
  readonly localRoot?: string;
  readonly concurrency: number;
}

function statOrUndefined(file: string): LocalInfo | undefined {
  const s = orFallback(() => fs.statSync(file), undefined, isMissingFile);
  return s?.isFile() === true ? { size: s.size, mtimeMs: s.mtimeMs } : undefined;
}

/** results/<name>/, logs/<name>[.log]. */
function localJobNames(root: string): Set<string> {
  const list = (dir: string): fs.Dirent[] =>
    orFallback(
      () => fs.readdirSync(path.join(root, dir), { withFileTypes: true }),
      [],
      isMissingFile,
    );
  return new Set(
    [...list("results"), ...list("logs")].flatMap((e) =>
      e.isDirectory() ? [e.name] : e.isFile() ? (/^(.*)\.log$/s.exec(e.name)?.slice(1) ?? []) : [],
    ),
  );
}

function checkNames(names: readonly string[], known: (name: string) => boolean, where: string) {
  const unknown = names.filter((n) => !known(n));
  if (unknown.length > 0) {
    throw new BadInputError(
      `not ${where}: ${unknown.join(", ")}; check the names (npm run jobs:status lists the ledger's), ` +
        "or pass --stack",
    );
  }
}

type Source = ReturnType<typeof localSource>;

/** Git ignores the folder. */
export function defaultOutDir(stack: string | undefined): string {
  return path.join("batchpy-results", stack ?? "local");
}

function localSource(opts: ResultsOptions, ctx: Context) {
  const root = localRoot(ctx, opts.localRoot);
  // --locally runs are not in a ledger: a name is known when the folder has its files.
  const local = localJobNames(root);
  checkNames(opts.names, (n) => local.has(n), `jobs with results or logs in ${root}`);
  return {
    list: async (): Promise<SourceObject[]> => listLocal(root, ["results", "logs"]),
    from: root,
    fetch: (s: SourceObject, tmp: string) =>
      fs.promises.copyFile(path.join(root, ...s.key.split("/")), tmp),
  };
}

function bucketSource({ outputs, ledger, clients }: OpenStack, opts: ResultsOptions): Source {
  const latest = ledger.latest();
  checkNames(
    opts.names,
    // A sweep's chunks and retries file their results under the sweep's name.
    (n) => entriesFor(latest, n).length > 0,
    `in the ledger of stack "${outputs.stack}" (${ledger.file})`,
  );
  const bucket = requireOutput(outputs, "bucketName", "to download results");
  return {
    async list() {
      const prefixes = prefixesFor(opts.names);
      const listed = await Promise.all(prefixes.map((p) => clients.storage.listObjects(bucket, p)));
      return [...new Map(listed.flat().map((o) => [o.key, o])).values()];
    },
    from: `s3://${bucket}/`,
    fetch: (s, tmp) => clients.storage.download(bucket, s.key, tmp),
  };
}

async function downloadAll(plan: SyncPlan, source: Source, opts: ResultsOptions, ctx: Context) {
  // Removed also on process.exit (a second Ctrl-C), where no `finally` runs: hence synchronous.
  const partials = new Set<string>();
  const removePartials = (): void => {
    partials.forEach((f) => fs.rmSync(f, { force: true }));
    partials.clear();
  };
  process.on("exit", removePartials);
  const progress = createProgress(ctx.io, {
    total: plan.copy.length,
    json: opts.json,
    label: "downloading",
  });
  let done = 0;
  let bytes = 0;
  try {
    const { values, failed, notRun } = await runPool(
      plan.copy,
      async ({ source: s, dest }) => {
        await fs.promises.mkdir(path.dirname(dest), { recursive: true });
        const tmp = `${dest}.part-${process.pid}`;
        partials.add(tmp);
        try {
          await source.fetch(s, tmp);
          // Same time as the source: the next sync sees the file as unchanged.
          await fs.promises.utimes(tmp, s.lastModified, s.lastModified);
          await fs.promises.rename(tmp, dest);
        } finally {
          await fs.promises.rm(tmp, { force: true });
          partials.delete(tmp);
        }
        bytes += s.size;
        progress.update(++done);
        return s.key;
      },
      { concurrency: opts.concurrency, signal: ctx.signal },
    );
    const errors = failed.map((f) => ({ key: f.item.source.key, error: describeError(f.reason) }));
    return { copied: values, failed: errors, bytes, notCopied: notRun.length };
  } finally {
    progress.stop();
    removePartials();
    process.removeListener("exit", removePartials);
  }
}

async function syncFrom(source: Source, opts: ResultsOptions, ctx: Context, stack?: string) {
  const prefixes = prefixesFor(opts.names);
  const sources = (await source.list()).filter((s) =>
    prefixes.some((p) => matchesPrefix(s.key, p)),
  );
  const outDir = path.resolve(ctx.cwd, opts.out ?? defaultOutDir(stack));
  const plan = planSync(sources, outDir, statOrUndefined);
  plan.skipped.forEach((k) =>
    ctx.io.stderr.write(`warning: skipped "${visible(k)}": not a safe file path\n`),
  );
  return {
    from: source.from,
    outDir,
    found: sources.length,
    unchanged: plan.unchanged,
    skipped: plan.skipped,
    ...(await downloadAll(plan, source, opts, ctx)),
  };
}

export async function resultsCommand(opts: ResultsOptions, ctx: Context): Promise<number> {
  const result = opts.locally
    ? await syncFrom(localSource(opts, ctx), opts, ctx)
    : await withStack(opts, ctx, (s) =>
        syncFrom(bucketSource(s, opts), opts, ctx, s.outputs.stack),
      );
  (opts.json ? printResultsJson : printResults)(result, ctx.io, ctx.cwd);
  return exitCode(ctx.signal.aborted && result.notCopied > 0, result.failed.length > 0);
}
