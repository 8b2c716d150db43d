/** `jobs:report`: one row per job or sweep set, as a table, `--json`, CSV or an HTML page. */
import * as path from "path";
import {
  displayPath,
  localRoot,
  selectEntries,
  withStack,
  type Context,
  type StackOptions,
} from "../context";
import { BadInputError, EXIT_OK, FatalError, describeError } from "../errors";
import { requireOutput } from "../input/outputs";
import { pricingOf } from "../report/prices";
import { writeWhole } from "../state/write-whole";
import { formatCsv, printReport, renderHtml, printReportJson } from "../output/report-print";
import { awsSource, collectReport, localSource } from "../report/sources";
import { defaultOutDir } from "./results";
import { definedOnly } from "../../components/defined";
import { taskStoreFile } from "../state/ecs-tasks";

export interface ReportOptions extends StackOptions {
  readonly names: readonly string[];
  readonly last?: boolean;
  readonly locally?: boolean;
  readonly localRoot?: string;
  /** `true`: report.csv (report.html) in the default folder (defaultOutDir). */
  readonly writeCsv?: string | true;
  readonly writeHtml?: string | true;
  readonly limit?: number;
  readonly pricing?: readonly string[];
  readonly priceVcpuHour?: number;
  readonly priceGbHour?: number;
}

async function buildReport(opts: ReportOptions, ctx: Context) {
  const user = definedOnly({
    types: opts.pricing,
    usdPerVcpuHour: opts.priceVcpuHour,
    usdPerGbHour: opts.priceGbHour,
  });
  if (opts.locally === true) {
    const root = localRoot(ctx, opts.localRoot);
    const localFolder = displayPath(ctx.cwd, root);
    const source = localSource(root, { names: opts.names, last: opts.last === true });
    const seen = { source: `local runs in ${localFolder}`, localFolder };
    const report = await collectReport(source, pricingOf(undefined, user), seen);
    return { report, folder: defaultOutDir(undefined) };
  }
  return withStack(opts, ctx, async ({ outputs, ledger, clients }) => {
    const entries = selectEntries(ledger, opts.names, opts.last === true, outputs.stack);
    const bucket = requireOutput(outputs, "bucketName", "to read results and metrics");
    const { logGroupName } = outputs.outputs;
    const source = awsSource(entries, clients, bucket, logGroupName, taskStoreFile(ledger.file));
    const seen = { source: `stack ${outputs.stack}` };
    const report = await collectReport(source, pricingOf(outputs.outputs, user), seen);
    return { report, folder: defaultOutDir(outputs.stack) };
  });
}

const FILES = [
  { flag: "--write-csv", option: "writeCsv", ext: ".csv", format: formatCsv },
  { flag: "--write-html", option: "writeHtml", ext: ".html", format: renderHtml },
] as const;

export async function reportCommand(opts: ReportOptions, ctx: Context): Promise<number> {
  if (opts.locally === true && (opts.stack !== undefined || opts.outputs !== undefined)) {
    throw new BadInputError(
      "--locally reports runs on this machine; it takes no --stack or --outputs",
    );
  }
  // A file named after the flag ends in its type's extension, or is a job name.
  for (const { flag, option, ext } of FILES) {
    const file = opts[option];
    if (typeof file === "string" && path.extname(file).toLowerCase() !== ext) {
      throw new BadInputError(
        `${flag} ${file}: a file name ending in ${ext}, or none for report${ext} in ` +
          `batchpy-results/; to report ${file}, put it before ${flag}`,
      );
    }
  }
  const { report, folder } = await buildReport(opts, ctx);
  const written = FILES.flatMap(({ flag, option, ext, format }) => {
    const given = opts[option];
    const file = given === true ? path.join(folder, `report${ext}`) : given;
    if (file === undefined) {
      return [];
    }
    const abs = path.resolve(ctx.cwd, file);
    const text = format(report);
    try {
      writeWhole(abs, text);
    } catch (err) {
      throw new FatalError(`${flag} ${file}: cannot write it (${describeError(err)})`);
    }
    return [{ file: displayPath(ctx.cwd, abs), bytes: Buffer.byteLength(text) }];
  });
  const { localRoot, limit } = opts;
  const result = { report, ...definedOnly({ localRoot, limit }), written };
  (opts.json ? printReportJson : printReport)(result, ctx.io);
  return EXIT_OK;
}
