/**
 * `jobs:report [names...] [--last] [--local]`: one row per job or sweep set with its
 * parameters, outcome, times, cost estimate, result files and metrics; as a terminal
 * table, `--csv FILE`, `--json`, or `--html FILE` (a self-contained page with charts).
 */
import * as fs from "fs";
import * as path from "path";
import { displayPath, localRoot, openStack, type Context, type StackOptions } from "../context";
import { BadInputError, EXIT_OK, FatalError, describeError } from "../errors";
import { requireOutput, type StackOutputs } from "../input/outputs";
import { PRICE_TABLE, defaultPricing, type Pricing } from "../report/prices";
import { CACHE_FOLDER, fileCache, type ReportCache } from "../state/report-cache";
import { writeWhole } from "../state/write-whole";
import { renderHtml } from "../output/report-html";
import {
  formatCsv,
  printReport,
  printReportJson,
  DEFAULT_TABLE_ROWS,
  type Report,
  type ReportResult,
} from "../output/report-print";
import { sortRows, summarizeRows } from "../report/rows";
import { awsSource, collectRows, localSource, type ReportSource } from "../report/sources";
import { selectEntries } from "./watch";
import { definedOnly } from "../../components/defined";
import { COMPUTE_TYPES, type ComputeType } from "../../components/instance-types";

export interface ReportOptions extends StackOptions {
  readonly names: readonly string[];
  readonly last: boolean;
  readonly local: boolean;
  readonly localRoot?: string;
  readonly csv?: string;
  readonly html?: string;
  /** Terminal rows shown (failed rows always are). */
  readonly limit?: number;
  /** Instance types, FARGATE or FARGATE_SPOT to price as (default: the stack's own). */
  readonly pricing?: readonly string[];
  readonly priceVcpuHour?: number;
  readonly priceGbHour?: number;
  /** Use and fill the cache of finished runs' listings and metrics. @default true */
  readonly cache?: boolean;
}

/** `FARGATE` or `FARGATE_SPOT` in --pricing (any case), if given. */
function fargateIn(flag: readonly string[]): ComputeType | undefined {
  const upper = flag.map((t) => t.toUpperCase());
  return upper.includes("FARGATE_SPOT")
    ? "FARGATE_SPOT"
    : upper.includes("FARGATE")
      ? "FARGATE"
      : undefined;
}

/**
 * How runs are priced: the stack's compute type, instance types (its jobLimits.basis) and
 * region; --pricing names other instance types or FARGATE / FARGATE_SPOT (Spot stays Spot);
 * --price-vcpu-hour and --price-gb-hour set the user's own prices. Local runs are priced as
 * if they had run in the table's region.
 */
export function pricingOf(
  opts: Pick<ReportOptions, "pricing" | "priceVcpuHour" | "priceGbHour">,
  outputs: StackOutputs | undefined,
): Pricing {
  const own = definedOnly({ usdPerVcpuHour: opts.priceVcpuHour, usdPerGbHour: opts.priceGbHour });
  const stated = COMPUTE_TYPES.find((t) => t === outputs?.computeType);
  const basis = outputs?.jobLimits?.basis ?? [];
  const stack: Pricing =
    outputs === undefined
      ? defaultPricing()
      : {
          compute: stated ?? (basis.includes("FARGATE") ? "FARGATE" : "EC2"),
          ...(stated === undefined ? { spotUnknown: true } : {}),
          instanceTypes:
            basis.length > 0 && !basis.includes("FARGATE") ? basis : defaultPricing().instanceTypes,
          region: outputs.region ?? PRICE_TABLE.region,
        };
  const flag = opts.pricing ?? [];
  if (flag.length === 0) {
    return { ...stack, ...own };
  }
  const fargate = fargateIn(flag);
  return {
    region: stack.region,
    compute: fargate ?? (stack.compute === "SPOT" ? "SPOT" : "EC2"),
    instanceTypes: fargate === undefined ? flag : [],
    ...own,
  };
}

/** Builds the report from the ledger's jobs (or local runs); no output written. */
async function buildReport(opts: ReportOptions, ctx: Context): Promise<Report> {
  let source: ReportSource;
  let label: string;
  let prices: Pricing;
  let cleanup = (): void => undefined;
  let cache: ReportCache | undefined;
  const warnings: string[] = [];
  if (opts.local) {
    const root = localRoot(ctx, opts.localRoot);
    source = localSource(root, { names: opts.names, last: opts.last });
    label = `local runs in ${displayPath(ctx.cwd, root)}`;
    prices = pricingOf(opts, undefined);
  } else {
    const { outputs, ledger } = openStack(opts, ctx);
    warnings.push(...ledger.warnings);
    const entries = selectEntries(ledger, opts.names, opts.last, outputs.stack);
    const bucket = requireOutput(outputs, "bucketName", "to read results and metrics");
    const clients = ctx.clients(outputs.outputs.region);
    cleanup = () => clients.destroy();
    if (opts.cache !== false) {
      cache = fileCache(path.join(path.dirname(ledger.file), CACHE_FOLDER), `s3://${bucket}`);
    }
    source = awsSource(entries, clients, bucket, cache, outputs.outputs.logGroupName);
    label = `stack ${outputs.stack}`;
    prices = pricingOf(opts, outputs.outputs);
  }
  try {
    const now = Date.now();
    const collected = await collectRows(source, prices, now, cache);
    const rows = sortRows(collected.rows);
    return {
      source: label,
      generatedAt: new Date(now).toISOString(),
      prices,
      rows,
      summary: summarizeRows(rows),
      warnings: [...warnings, ...collected.warnings],
    };
  } finally {
    cleanup();
  }
}

/** Writes `text` to `file` through a temporary name, so a failed write leaves no half file. */
function writeOutput(ctx: Context, file: string, text: string, flag: string): string {
  const abs = path.resolve(ctx.cwd, file);
  try {
    writeWhole(abs, text);
  } catch (err) {
    throw new FatalError(`${flag} ${file}: cannot write it (${describeError(err)})`);
  }
  return abs;
}

/** Builds the report and writes the --csv and --html files; prints nothing. */
async function makeReport(opts: ReportOptions, ctx: Context): Promise<ReportResult> {
  if (opts.local && (opts.stack !== undefined || opts.outputs !== undefined)) {
    throw new BadInputError(
      "--local reports runs on this machine; it takes no --stack or --outputs",
    );
  }
  const report = await buildReport(opts, ctx);
  const files: string[] = [];
  if (opts.csv !== undefined) {
    files.push(writeOutput(ctx, opts.csv, formatCsv(report), "--csv"));
  }
  if (opts.html !== undefined) {
    files.push(writeOutput(ctx, opts.html, renderHtml(report), "--html"));
  }
  return {
    report,
    local: opts.local,
    limit: opts.limit ?? DEFAULT_TABLE_ROWS,
    written: files.map((f) => ({ file: displayPath(ctx.cwd, f), bytes: fs.statSync(f).size })),
  };
}

export async function reportCommand(opts: ReportOptions, ctx: Context): Promise<number> {
  const result = await makeReport(opts, ctx);
  (opts.json ? printReportJson : printReport)(result, ctx.io);
  return EXIT_OK;
}
