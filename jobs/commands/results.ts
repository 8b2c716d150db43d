/**
 * `jobs:results [names...] [--out DIR] [--local]`: copy results/ and logs/ from the bucket
 * (or the local folder) like `aws s3 sync`: only new or changed files, in parallel, each
 * written to a temporary file first so an interrupted run leaves no half files.
 */
import * as fs from "fs";
import * as path from "path";
import {
  createProgress,
  displayPath,
  localRoot,
  openStack,
  type Context,
  type StackOptions,
} from "../context";
import { BadInputError, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, describeError } from "../errors";
import { requireOutput } from "../input/outputs";
import { runPool } from "../aws/pool";
import {
  matchesPrefix,
  planSync,
  prefixesFor,
  type LocalInfo,
  type SourceObject,
} from "../state/sync";
import { BUCKET_PREFIXES } from "../../components/contract";

export interface ResultsOptions extends StackOptions {
  readonly names: readonly string[];
  readonly out?: string;
  readonly local: boolean;
  readonly localRoot?: string;
  readonly concurrency: number;
}

export { DEFAULT_DOWNLOAD_CONCURRENCY } from "../defaults";

function statOrUndefined(file: string): LocalInfo | undefined {
  try {
    const s = fs.statSync(file);
    return s.isFile() ? { size: s.size, mtimeMs: s.mtimeMs } : undefined;
  } catch {
    return undefined;
  }
}

/** Every file under `root/<dir>` as a source object with a `/`-separated key. */
export function listLocal(root: string, dirs: readonly string[]): SourceObject[] {
  const out: SourceObject[] = [];
  const walk = (abs: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(abs, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(abs, e.name);
      if (e.isDirectory()) {
        walk(p);
      } else if (e.isFile()) {
        const s = fs.statSync(p);
        out.push({
          key: path.relative(root, p).split(path.sep).join("/"),
          size: s.size,
          lastModified: s.mtime,
        });
      }
    }
  };
  dirs.forEach((d) => walk(path.join(root, d)));
  return out;
}

/** Names that are not among `known`, in the order given; pure. */
export function unknownNames(names: readonly string[], known: ReadonlySet<string>): string[] {
  return names.filter((n) => !known.has(n));
}

/** Job names the local folder has results or logs of: results/<name>/, logs/<name>[.log]. */
export function localJobNames(root: string): Set<string> {
  const names = new Set<string>();
  const list = (dir: string): fs.Dirent[] => {
    try {
      return fs.readdirSync(path.join(root, dir), { withFileTypes: true });
    } catch {
      return [];
    }
  };
  for (const e of [...list("results"), ...list("logs")]) {
    if (e.isDirectory()) {
      names.add(e.name);
    } else if (e.isFile() && e.name.endsWith(".log")) {
      names.add(e.name.slice(0, -".log".length));
    }
  }
  return names;
}

/** `<dest>.part-<pid>`: the name a file is written under before it is renamed into place. */
export function partPath(dest: string, pid = process.pid): string {
  return `${dest}.part-${pid}`;
}

/**
 * Temporary files being written, removed when a copy fails and when the process exits
 * through process.exit (a second Ctrl-C), where no `finally` runs.
 */
export class PartialFiles {
  private readonly files = new Set<string>();

  add(file: string): void {
    this.files.add(file);
  }

  delete(file: string): void {
    this.files.delete(file);
  }

  /** Synchronous, so it also works in an "exit" handler. */
  removeAll(): void {
    for (const f of this.files) {
      fs.rmSync(f, { force: true });
    }
    this.files.clear();
  }
}

/** Writes `dest` through `partPath(dest)` and a rename, so `dest` is never half written. */
export async function writeThroughPart(
  dest: string,
  partials: PartialFiles,
  write: (tmp: string) => Promise<void>,
): Promise<void> {
  await fs.promises.mkdir(path.dirname(dest), { recursive: true });
  const tmp = partPath(dest);
  partials.add(tmp);
  try {
    await write(tmp);
    await fs.promises.rename(tmp, dest);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  } finally {
    partials.delete(tmp);
  }
}

function checkNames(names: readonly string[], known: ReadonlySet<string>, where: string): void {
  const unknown = unknownNames(names, known);
  if (unknown.length > 0) {
    throw new BadInputError(
      `not ${where}: ${unknown.join(", ")}; check the names (npm run jobs:status lists the ledger's), ` +
        "or pass --stack; nothing was downloaded",
    );
  }
}

export async function resultsCommand(opts: ResultsOptions, ctx: Context): Promise<number> {
  const prefixes = prefixesFor(opts.names);
  const keep = (key: string): boolean => prefixes.some((p) => matchesPrefix(key, p));
  let sources: SourceObject[];
  let outDir: string;
  let fetch: (source: SourceObject, tmp: string) => Promise<void>;
  let from: string;
  let cleanup = (): void => undefined;

  if (opts.local) {
    const root = localRoot(ctx, opts.localRoot);
    // --local runs are not in a ledger: a name is known when the folder has its files.
    checkNames(opts.names, localJobNames(root), `jobs with results or logs in ${root}`);
    sources = listLocal(root, ["results", "logs"]).filter((s) => keep(s.key));
    outDir = path.resolve(ctx.cwd, opts.out ?? path.join("batchpy-results", "local"));
    from = root;
    fetch = (s, tmp) => fs.promises.copyFile(path.join(root, ...s.key.split("/")), tmp);
  } else {
    const { outputs, ledger } = openStack(opts, ctx);
    checkNames(
      opts.names,
      // A sweep's chunks and retries file their results under the sweep's name.
      new Set([...ledger.latest().values()].flatMap((e) => [e.jobName, ...(e.of ?? [])])),
      `in the ledger of stack "${outputs.stack}" (${ledger.file})`,
    );
    const bucket = requireOutput(outputs, "bucketName", "to download results");
    const clients = ctx.clients(outputs.outputs.region);
    cleanup = () => clients.destroy();
    outDir = path.resolve(ctx.cwd, opts.out ?? path.join("batchpy-results", outputs.stack));
    from = `s3://${bucket}/`;
    try {
      const listed = await Promise.all(prefixes.map((p) => clients.storage.listObjects(bucket, p)));
      const byKey = new Map<string, SourceObject>();
      for (const o of listed.flat()) {
        if (keep(o.key)) {
          byKey.set(o.key, o);
        }
      }
      sources = [...byKey.values()];
    } catch (err) {
      cleanup();
      throw err;
    }
    fetch = (s, tmp) => clients.storage.download(bucket, s.key, tmp);
  }

  const partials = new PartialFiles();
  const removePartials = (): void => partials.removeAll();
  process.on("exit", removePartials);
  try {
    const plan = planSync(sources, outDir, statOrUndefined);
    plan.skipped.forEach((k) =>
      ctx.io.stderr.write(`warning: skipped "${k}": not a safe file path\n`),
    );
    const progress = createProgress(ctx.io, {
      total: plan.copy.length,
      json: opts.json,
      label: "downloading",
    });
    let done = 0;
    let bytes = 0;
    const outcomes = await runPool(
      plan.copy,
      async ({ source, dest }) => {
        await writeThroughPart(dest, partials, (tmp) => fetch(source, tmp));
        // Same time as the source: the next sync sees the file as unchanged.
        await fs.promises.utimes(dest, source.lastModified, source.lastModified);
        bytes += source.size;
        progress.update(++done);
        return source.key;
      },
      { concurrency: opts.concurrency, signal: ctx.signal },
    );
    progress.stop();
    const copied = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    const failed = outcomes.flatMap((o, i) =>
      o.status === "rejected"
        ? [{ key: plan.copy[i].source.key, error: describeError(o.reason) }]
        : [],
    );
    const notCopied = outcomes.filter((o) => o.status === "skipped").length;
    if (opts.json) {
      ctx.io.stdout.write(
        `${JSON.stringify({ from, out: outDir, copied, unchanged: plan.unchanged, bytes, failed, notCopied, skipped: plan.skipped })}\n`,
      );
    } else {
      failed.slice(0, 20).forEach((f) => ctx.io.stderr.write(`error: ${f.key}: ${f.error}\n`));
      const rel = displayPath(ctx.cwd, outDir);
      ctx.io.stdout.write(
        `${copied.length} file(s) copied (${formatBytes(bytes)}), ${plan.unchanged} unchanged, from ${from} to ${rel}/` +
          (failed.length > 0 ? `, ${failed.length} failed` : "") +
          "\n",
      );
      if (sources.length === 0) {
        ctx.io.stderr.write(
          `nothing under ${BUCKET_PREFIXES.results} or ${BUCKET_PREFIXES.logs} in ${from} yet; jobs upload when they finish\n`,
        );
      }
    }
    if (ctx.signal.aborted && notCopied > 0) {
      return EXIT_INTERRUPTED;
    }
    return failed.length > 0 ? EXIT_FAILURE : EXIT_OK;
  } finally {
    partials.removeAll();
    process.removeListener("exit", removePartials);
    cleanup();
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) {
    return `${n} B`;
  }
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}
