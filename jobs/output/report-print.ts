/**
 * `jobs:report` printers, pure: the terminal table, CSV and JSON, and the human and --json
 * printers that write them. The HTML page is in report-html.ts.
 */
import type { Io } from "../context";
import type { Prices } from "../report/prices";
import type { ReportRow, ReportSummary } from "../report/rows";
import { failureReason } from "../report/rows";
import { formatCounts, STATUSES, type Status } from "./status";
import { formatNumber } from "./numbers";

/** Everything a printer needs. */
export interface Report {
  /** `stack dev` or `local folder <path>`. */
  readonly source: string;
  readonly generatedAt: string;
  readonly prices: Prices;
  readonly rows: readonly ReportRow[];
  readonly summary: ReportSummary;
  readonly warnings: readonly string[];
}

/** `s` cut to `n` characters, with an ellipsis when cut. */
function cut(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, Math.max(0, n - 1))}…`;
}

/** 42s, 3m05s, 2h07m. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined) {
    return "-";
  }
  const s = Math.round(seconds);
  if (s < 60) {
    return `${s}s`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  }
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** USD with enough digits for small jobs: $0.0012, $1.23. */
function formatUsd(usd: number): string {
  return usd === 0 ? "$0" : usd >= 1 ? `$${usd.toFixed(2)}` : `$${usd.toPrecision(2)}`;
}

function pairs(record: Readonly<Record<string, string | number>>, keys: readonly string[]): string {
  return keys
    .filter((k) => record[k] !== undefined)
    .map((k) => `${k}=${record[k]}`)
    .join(" ");
}

/** Rows shown in the terminal unless --limit says otherwise; failed rows always show. */
export const DEFAULT_TABLE_ROWS = 50;

export function formatTable(report: Report, limit = DEFAULT_TABLE_ROWS): string {
  const { rows, summary } = report;
  // Only the parameters that differ tell rows apart; the rest would repeat on every line.
  const shownParams = summary.varying.length > 0 ? summary.varying : summary.params;
  const failed = rows.filter((r) => r.status === "FAILED").length;
  const shown = rows.slice(0, Math.max(limit, failed));
  const header = ["STATUS", "JOB", "EXIT", "TRIES", "RUN", "WAIT", "COST", "PARAMETERS", "METRICS"];
  const table = shown.map((r) => [
    r.status,
    cut(r.name, 32),
    r.exitCode !== undefined ? String(r.exitCode) : "-",
    String(Math.max(r.attempts.length, 1)) + (r.runs > 1 ? `/${r.runs}` : ""),
    formatDuration(r.runSeconds),
    formatDuration(r.queueSeconds),
    formatUsd(r.cost),
    cut(pairs(r.params, shownParams), 40),
    cut(pairs(r.metrics, summary.metrics), 40) +
      (r.status === "FAILED" ? `  ${cut(failureReason(r), 70)}` : ""),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  const out = [line(header), ...table.map(line)];
  if (rows.length > shown.length) {
    out.push(
      `... ${formatNumber(rows.length - shown.length)} more rows (--limit N, or --csv/--html/--json for all)`,
    );
  }
  out.push("", ...formatSummary(report));
  return `${out.join("\n")}\n`;
}

function formatSummary(report: Report): string[] {
  const s = report.summary;
  const counts = Object.fromEntries(STATUSES.map((st) => [st, s.counts[st] ?? 0])) as Record<
    Status,
    number
  >;
  const lines = [
    `${formatCounts(counts)} (${formatNumber(s.total)} row(s), ${report.source})`,
    `${s.vcpuHours.toFixed(3)} vCPU-hours, estimated ${formatUsd(s.cost)} at $${report.prices.usdPerVcpuHour}/vCPU-hour` +
      (report.prices.usdPerGbHour > 0 ? ` + $${report.prices.usdPerGbHour}/GB-hour` : "") +
      ` (${report.prices.basis}; an estimate, not a bill)`,
  ];
  if (s.slowest.length > 0) {
    lines.push(
      `slowest: ${s.slowest.map((x) => `${x.name} ${formatDuration(x.runSeconds)}`).join(", ")}`,
    );
  }
  if (s.failures.length > 0) {
    lines.push("failures by reason:");
    for (const f of s.failures) {
      const names = f.names.slice(0, 8).join(", ") + (f.names.length > 8 ? ", ..." : "");
      lines.push(`  ${f.count} × ${f.reason}: ${names}`);
    }
    lines.push("logs: npm run jobs:logs -- <jobName>  (array child: <jobName>:<index>)");
  }
  return lines;
}

/** RFC 4180: quote fields with a comma, quote or line break; double the quotes. */
export function csvField(v: string | number | undefined): string {
  if (v === undefined) {
    return "";
  }
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const iso = (ms: number | undefined): string | undefined =>
  ms !== undefined ? new Date(ms).toISOString() : undefined;

export function formatCsv(report: Report): string {
  const { rows, summary } = report;
  const header = [
    "name",
    "job",
    "index",
    "jobId",
    "status",
    "reason",
    "exitCode",
    "attempts",
    "runs",
    "createdAt",
    "startedAt",
    "stoppedAt",
    "runSeconds",
    "queueSeconds",
    "vcpus",
    "memoryMiB",
    "vcpuHours",
    "costUsd",
    "files",
    ...summary.params.map((p) => `param:${p}`),
    ...summary.metrics.map((m) => `metric:${m}`),
  ];
  const lines = [header.map(csvField).join(",")];
  for (const r of rows) {
    lines.push(
      [
        r.name,
        r.job,
        r.index,
        r.jobId,
        r.status,
        r.reason,
        r.exitCode,
        r.attempts.length,
        r.runs,
        iso(r.createdAt),
        iso(r.startedAt),
        iso(r.stoppedAt),
        r.runSeconds,
        r.queueSeconds,
        r.vcpus,
        r.memoryMiB,
        Number(r.vcpuHours.toFixed(6)),
        Number(r.cost.toFixed(6)),
        r.files.map((f) => `${f.key} (${f.size})`).join("; "),
        ...summary.params.map((p) => r.params[p]),
        ...summary.metrics.map((m) => r.metrics[m]),
      ]
        .map(csvField)
        .join(","),
    );
  }
  return `${lines.join("\r\n")}\r\n`;
}

/** The --json document (also what the HTML page embeds). */
export function reportDocument(report: Report): Record<string, unknown> {
  return {
    source: report.source,
    generatedAt: report.generatedAt,
    prices: report.prices,
    summary: report.summary,
    rows: report.rows,
    warnings: report.warnings,
  };
}

/** What `jobs:report` made: the report and the files written beside it. */
export interface ReportResult {
  readonly report: Report;
  /** Local runs rather than a stack's jobs: what the empty-report hint suggests. */
  readonly local: boolean;
  /** Terminal rows shown (failed rows always are). */
  readonly limit: number;
  /** --csv and --html files, as the user would name them, with their sizes. */
  readonly written: readonly { readonly file: string; readonly bytes: number }[];
}

/** The table on stdout; warnings and the files written on stderr. */
export function printReport(r: ReportResult, io: Io): void {
  r.report.warnings.forEach((w) => io.stderr.write(`warning: ${w}\n`));
  if (r.report.rows.length === 0) {
    io.stdout.write(
      r.local
        ? `no local runs in ${r.report.source.replace(/^local runs in /, "")}; run some with npm run jobs:submit -- --local FILE\n`
        : `no jobs in the ledger of ${r.report.source}; submit some with npm run jobs:submit\n`,
    );
  } else {
    io.stdout.write(formatTable(r.report, r.limit));
  }
  for (const w of r.written) {
    io.stderr.write(`wrote ${w.file} (${(w.bytes / 1024).toFixed(0)} KiB)\n`);
  }
}

/** The --json document on stdout, nothing else. */
export function printReportJson(r: ReportResult, io: Io): void {
  io.stdout.write(`${JSON.stringify(reportDocument(r.report))}\n`);
}
