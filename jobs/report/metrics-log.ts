/**
 * A sweep's metrics from the job log, where the entrypoint prints each uploaded metrics.json: one
 * FilterLogEvents page holds thousands. A line counts only when its MD5 is the object's ETag (the
 * MD5 of a single-part upload, unencrypted or SSE-S3); the rest come from S3.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html
 */
import { createHash } from "crypto";
import type { LogsApi } from "../aws/api";
import { METRICS } from "../../components/contract";
import { jsonValue } from "../input/json-source";

/** Past this, the rest of the files come from S3. */
const MAX_PAGES = 100;
/** A line's timestamp is when the container wrote it. */
const SLACK_MS = 5 * 60 * 1000;

export function md5Hex(text: string): string {
  return createHash("md5").update(text, "utf8").digest("hex");
}

export function metricsLineText(message: string): string | undefined {
  if (!message.startsWith(METRICS.logLinePrefix)) {
    return undefined;
  }
  const rest = message.slice(METRICS.logLinePrefix.length);
  const text = rest.startsWith('"') ? jsonValue(rest)?.value : rest;
  return typeof text === "string" ? text : undefined;
}

export function searchWindow(
  runs: readonly { createdAt?: number; startedAt?: number; stoppedAt?: number }[],
  now: number,
): { startTime: number; endTime: number } {
  // A loop, not Math.min(...runs): spreading a large sweep's runs overflows the call stack.
  let first = Infinity;
  let last = -Infinity;
  for (const run of runs) {
    first = Math.min(first, run.createdAt ?? run.startedAt ?? now);
    last = Math.max(last, run.stoppedAt ?? now);
  }
  // The end is not capped at `now`: a local clock behind AWS's would then miss the last lines.
  return { startTime: first - SLACK_MS, endTime: last + SLACK_MS };
}

/** By ETag, until each has its text. */
export async function textsFromLogs(
  logs: LogsApi,
  logGroupName: string,
  window: { startTime: number; endTime: number },
  etags: ReadonlySet<string>,
): Promise<{ texts: Map<string, string>; calls: number }> {
  const texts = new Map<string, string>();
  // A term in double quotes matches that exact phrase (CloudWatch Logs filter pattern syntax).
  const filterPattern = `"${METRICS.logLinePrefix.trim()}"`;
  let nextToken: string | undefined;
  let calls = 0;
  do {
    const page = await logs.filterLogEvents({ logGroupName, filterPattern, ...window, nextToken });
    calls++;
    for (const e of page.events) {
      const text = metricsLineText(e.message ?? "");
      const etag = text !== undefined ? md5Hex(text) : "";
      if (text !== undefined && etags.has(etag)) {
        texts.set(etag, text);
      }
    }
    nextToken = page.nextToken;
  } while (nextToken !== undefined && texts.size < etags.size && calls < MAX_PAGES);
  return { texts, calls };
}
