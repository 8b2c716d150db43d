import { displayPath, type Io } from "../context";
import { BUCKET_PREFIXES } from "../../components/contract";
import { visible } from "./visible";
import { formatBytes, formatNumber } from "./numbers";

export interface ResultsResult {
  /** `s3://<bucket>/` or the local runs' folder. */
  readonly from: string;
  readonly outDir: string;
  /** Copied or not. */
  readonly found: number;
  readonly copied: readonly string[];
  readonly unchanged: number;
  readonly bytes: number;
  readonly failed: readonly { readonly key: string; readonly error: string }[];
  readonly notCopied: number;
  /** Keys that are not safe file paths. */
  readonly skipped: readonly string[];
}

export function printResults(r: ResultsResult, io: Io, cwd: string): void {
  r.failed
    .slice(0, 20)
    .forEach((f) => io.stderr.write(`error: ${visible(`${f.key}: ${f.error}`)}\n`));
  io.stdout.write(
    `${formatNumber(r.copied.length)} file(s) copied (${formatBytes(r.bytes)}), ${formatNumber(r.unchanged)} unchanged, from ${r.from} to ${displayPath(cwd, r.outDir)}/` +
      (r.failed.length > 0 ? `, ${formatNumber(r.failed.length)} failed` : "") +
      "\n",
  );
  if (r.found === 0) {
    io.stderr.write(
      `nothing under ${BUCKET_PREFIXES.results} or ${BUCKET_PREFIXES.logs} in ${r.from} yet; jobs upload when they finish\n`,
    );
  }
}

export function printResultsJson(r: ResultsResult, io: Io): void {
  io.stdout.write(
    `${JSON.stringify({ from: r.from, out: r.outDir, copied: r.copied, unchanged: r.unchanged, bytes: r.bytes, failed: r.failed, notCopied: r.notCopied, skipped: r.skipped })}\n`,
  );
}
