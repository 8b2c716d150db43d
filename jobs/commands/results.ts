/**
 * `jobs:results`: like `aws s3 sync`, each file through a temporary one, never half written; a
 * download takes the source's time, so it is then skipped.
 */
import * as fs from "fs";
import * as path from "path";
import {
  checkNames,
  createProgress,
  localRoot,
  selectEntries,
  withStack,
  type Context,
  type OpenStack,
  type StackOptions,
} from "../context";
import { describeError, exitCode, isMissingFile, orFallback } from "../errors";
import { requireOutput } from "../input/outputs";
import { runPool } from "../aws/pool";
import type { RemoteObject } from "../aws/api";
import { BUCKET_PREFIXES } from "../../components/contract";
import { listLocal } from "../state/local-runs";
import { printResults, printResultsJson } from "../output/results-print";
import { visible } from "../output/visible";

type SourceObject = Omit<RemoteObject, "etag">;

type LocalInfo = Pick<fs.Stats, "size" | "mtimeMs">;

/** S3 times have one-second resolution; compare in whole seconds. */
export function needsCopy(source: SourceObject, local: LocalInfo | undefined): boolean {
  return (
    local === undefined ||
    local.size !== source.size ||
    Math.floor(source.lastModified.getTime() / 1000) > Math.floor(local.mtimeMs / 1000)
  );
}

export function localPathFor(outDir: string, key: string): string | undefined {
  const parts = key.split("/");
  // An empty first or last part: a leading or trailing "/", or no key at all.
  if ([parts[0], parts[parts.length - 1]].includes("") || parts.some((p) => /^\.\.?$/.test(p))) {
    return undefined;
  }
  const dest = path.join(outDir, ...parts);
  const rel = path.relative(outDir, dest);
  return rel.startsWith("..") || path.isAbsolute(rel) ? undefined : dest;
}

type Downloads = ReturnType<typeof planSync>["copy"];

export function planSync(
  sources: readonly SourceObject[],
  outDir: string,
  stat: (file: string) => LocalInfo | undefined,
) {
  const placed = sources.map((source) => ({ source, dest: localPathFor(outDir, source.key) }));
  const skipped = placed.flatMap(({ source, dest }) => (dest === undefined ? [source.key] : []));
  const safe = placed.flatMap(({ source, dest }) => (dest !== undefined ? [{ source, dest }] : []));
  const copy = safe.filter(({ source, dest }) => needsCopy(source, stat(dest)));
  return { copy, unchanged: safe.length - copy.length, skipped };
}

export function prefixesFor(names: readonly string[]): string[] {
  const { results, logs } = BUCKET_PREFIXES;
  return names.length === 0
    ? [results, logs]
    : names.flatMap((n) => [`${results}${n}/`, `${logs}${n}.log`, `${logs}${n}/`]);
}

/** `logs/a.log` must match the whole key, or it would also pull `logs/a.log2`. */
export function matchesPrefix(key: string, prefix: string): boolean {
  return prefix.endsWith("/") ? key.startsWith(prefix) : key === prefix;
}

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

const FIX = "check the names (npm run jobs:status lists the ledger's)";

type Source = ReturnType<typeof localSource>;

/** Git ignores the folder. */
export function defaultOutDir(stack: string | undefined): string {
  return path.join("batchpy-results", stack ?? "local");
}

function localSource(opts: ResultsOptions, ctx: Context) {
  const root = localRoot(ctx, opts.localRoot);
  // --locally runs are not in a ledger: a name is known when the folder has its files,
  // results/<name>/ or logs/<name>[.log].
  const list = (dir: string) =>
    orFallback(
      () => fs.readdirSync(path.join(root, dir), { withFileTypes: true }),
      [],
      isMissingFile,
    );
  const local = new Set(
    [...list("results"), ...list("logs")].flatMap((e) =>
      e.isDirectory() ? [e.name] : e.isFile() ? (/^(.*)\.log$/s.exec(e.name)?.slice(1) ?? []) : [],
    ),
  );
  checkNames(opts.names, (n) => local.has(n), `jobs with results or logs in ${root}`, FIX);
  return {
    list: async (): Promise<SourceObject[]> => listLocal(root, ["results", "logs"]),
    from: root,
    fetch: (s: SourceObject, tmp: string) =>
      fs.promises.copyFile(path.join(root, ...s.key.split("/")), tmp),
  };
}

function bucketSource({ outputs, ledger, clients }: OpenStack, opts: ResultsOptions): Source {
  // A sweep's chunks and retries file their results under the sweep's name.
  selectEntries(ledger, opts.names, false, outputs.stack, FIX);
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

async function downloadAll(copy: Downloads, source: Source, opts: ResultsOptions, ctx: Context) {
  // Removed also on process.exit (a second Ctrl-C), where no `finally` runs: hence synchronous.
  const partials = new Set<string>();
  const removePartials = (): void => partials.forEach((f) => fs.rmSync(f, { force: true }));
  process.on("exit", removePartials);
  const progress = createProgress(ctx.io, {
    total: copy.length,
    json: opts.json,
    label: "downloading",
  });
  let done = 0;
  let bytes = 0;
  try {
    const { values, failed, notRun } = await runPool(
      copy,
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
  const { copy, unchanged, skipped } = planSync(sources, outDir, statOrUndefined);
  skipped.forEach((k) =>
    ctx.io.stderr.write(`warning: skipped "${visible(k)}": not a safe file path\n`),
  );
  const downloaded = await downloadAll(copy, source, opts, ctx);
  return { from: source.from, outDir, found: sources.length, unchanged, skipped, ...downloaded };
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
