/** `jobs:report` printers: the terminal table, CSV, JSON, and the HTML page, which loads nothing. */
import * as fs from "fs";
import * as path from "path";
import { PRICE_TABLE, pricingBasis } from "../report/prices";
import { failureReason, type ReportRow } from "../report/rows";
import type { Report } from "../report/sources";
import { LOGS_HINT, formatCounts } from "./status-print";
import { shellWord, visible, type Io } from "./visible";
import { formatBytes, formatDuration, formatNumber, formatUsd } from "./numbers";

type Column<T> = readonly [header: string, value: (r: ReportRow) => T];

function cut(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, Math.max(0, n - 1))}…`;
}

function pairs(values: ReadonlyMap<string, string | number>, keys: readonly string[]): string {
  return keys.flatMap((k) => (values.has(k) ? [visible(`${k}=${values.get(k)}`)] : [])).join(" ");
}

const lastAttempt = (r: ReportRow) => r.attempts.at(-1);

/** The last attempt's (--json has every attempt's). */
const SPLIT = [
  ["PLACE", "placementSeconds"],
  ["PULL", "pullSeconds"],
  ["START", "startSeconds"],
] as const;

const DEFAULT_TABLE_ROWS = 50;

/** Text is made visible before it is cut and padded, so widths are what the terminal shows. */
export function formatTable(report: Report, limit = DEFAULT_TABLE_ROWS): string {
  const { rows, summary } = report;
  // Only the parameters that differ tell rows apart; the rest would repeat on every line.
  const shownParams = summary.varying.length > 0 ? summary.varying : summary.params;
  const failed = rows.filter((r) => r.status === "FAILED").length;
  // Failed rows show wherever they are (a pipeline's order puts a step after its sweep).
  let room = Math.max(limit - failed, 0);
  const shown = rows.filter((r) => r.status === "FAILED" || room-- > 0);
  const columns: Column<string>[] = [
    ["STATUS", (r) => r.status],
    ["JOB", (r) => cut(visible(r.name), 32)],
    ["EXIT", (r) => (r.exitCode !== undefined ? String(r.exitCode) : "-")],
    ["RUNS", (r) => String(r.runs)],
    ["ATTEMPTS", (r) => (r.attempts.length > 0 ? String(r.attempts.length) : "-")],
    ["TIME", (r) => formatDuration(r.runSeconds)],
    ["WAIT", (r) => formatDuration(r.queueSeconds)],
    // Only when ECS was read for a shown row: local runs and old jobs have no split.
    ...(shown.some((r) => lastAttempt(r)?.placementSeconds !== undefined)
      ? SPLIT.map(([h, k]): Column<string> => [h, (r) => formatDuration(lastAttempt(r)?.[k])])
      : []),
    ["COST", (r) => formatUsd(r.cost)],
    ["PARAMETERS", (r) => cut(pairs(r.params, shownParams), 40)],
    ["METRICS", (r) => cut(pairs(r.metrics, summary.metrics), 40)],
  ];
  if (failed > 0) {
    columns.push([
      "REASON",
      (r) => (r.status === "FAILED" ? cut(visible(failureReason(r)), 70) : ""),
    ]);
  }
  const header = columns.map(([h]) => h);
  const table = shown.map((r) => columns.map(([, value]) => value(r)));
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  const out = [line(header), ...table.map(line)];
  if (rows.length > shown.length) {
    out.push(
      `... ${formatNumber(rows.length - shown.length)} more rows (--limit N, or --write-csv/--write-html/--json for all)`,
    );
  }
  out.push("", ...formatSummary(report).map(visible));
  return `${out.join("\n")}\n`;
}

function formatSummary(report: Report): string[] {
  const s = report.summary;
  const lines = [
    `${formatCounts(s.counts)} (${formatNumber(s.total)} row(s), ${report.source})`,
    `${s.vcpuHours.toFixed(3)} vCPU-hours, ${costEstimate(report)}`,
  ];
  if (s.unpriced > 0) {
    lines.push(
      `no price for ${formatNumber(s.unpriced)} row(s): ${s.noPrice.join("; ")}; ` +
        "give your own with --price-vcpu-hour USD (and --price-gb-hour USD)",
    );
  }
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
    const local = report.localFolder;
    lines.push(
      local !== undefined
        ? `logs: ${local}/logs/<job>/<index>.log  (a single job: ${local}/logs/<job>.log)`
        : LOGS_HINT,
    );
  }
  return lines;
}

function costEstimate(report: Report): string {
  const s = report.summary;
  const priced = s.total - s.unpriced;
  const figure =
    s.unpriced === 0
      ? `estimated ${formatUsd(s.cost)}`
      : priced === 0
        ? "no cost estimate"
        : `estimated ${formatUsd(s.cost)} for ${formatNumber(priced)} of ${formatNumber(s.total)} rows`;
  return `${figure} (${pricingBasis(report.prices)}; an estimate, not a bill)`;
}

/** What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection"). */
const FORMULA_START = /^[=+\-@\t\r]/;
/** A plain number, which a leading `-` or `+` leaves data: `-2`, `+0.5`, `1e-3`. */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** RFC 4180; a cell a spreadsheet would run as a formula gets a leading `'`, so shows as text. */
export function csvField(v: string | number | undefined): string {
  const s = String(v ?? "");
  const quoted = (t: string): string => `"${t.replace(/"/g, '""')}"`;
  if (FORMULA_START.test(s) && !NUMBER.test(s)) {
    return quoted(`'${s}`);
  }
  return /[",\r\n]/.test(s) ? quoted(s) : s;
}

const iso = (ms: number | undefined): string | undefined =>
  ms !== undefined ? new Date(ms).toISOString() : undefined;

type Value = string | number | undefined;
type Cell = Column<Value>;
type ScalarKey = {
  [K in keyof ReportRow]-?: ReportRow[K] extends Value ? K : never;
}[keyof ReportRow];

export function formatCsv(report: Report): string {
  const basis = pricingBasis(report.prices);
  const { params, metrics } = report.summary;
  const own = (...keys: ScalarKey[]): Cell[] => keys.map((k) => [k, (r) => r[k]]);
  const columns: Cell[] = [
    ...own("name", "job", "index", "jobId", "status", "reason", "exitCode"),
    ["attempts", (r) => r.attempts.length],
    ...own("runs"),
    ...(["createdAt", "startedAt", "stoppedAt"] as const).map((k): Cell => [k, (r) => iso(r[k])]),
    ...own("runSeconds", "queueSeconds"),
    ...SPLIT.map(([, k]): Cell => [k, (r) => lastAttempt(r)?.[k]]),
    ...own("vcpus", "memoryMiB"),
    ["vcpuHours", (r) => Number(r.vcpuHours.toFixed(6))],
    ["costUsd", (r) => (r.cost !== undefined ? Number(r.cost.toFixed(6)) : undefined)],
    ["costBasis", (r) => (r.noPrice !== undefined ? `no price: ${r.noPrice}` : basis)],
    ["files", (r) => r.files.map((f) => `${f.key} (${f.size})`).join("; ")],
    ...params.map((p): Cell => [`param:${p}`, (r) => r.params.get(p)]),
    ...metrics.map((m): Cell => [`metric:${m}`, (r) => r.metrics.get(m)]),
  ];
  const lines = [
    columns.map(([header]) => header),
    ...report.rows.map((r) => columns.map(([, value]) => value(r))),
  ];
  return lines.map((cells) => `${cells.map(csvField).join(",")}\r\n`).join("");
}

/** Also what the HTML page embeds. */
export function reportDocument(report: Report): Record<string, unknown> {
  return {
    source: report.source,
    generatedAt: report.generatedAt,
    prices: {
      ...report.prices,
      basis: pricingBasis(report.prices),
      table: { region: PRICE_TABLE.region, asOf: PRICE_TABLE.asOf },
    },
    summary: report.summary,
    // Object.fromEntries defines own properties: `__proto__` is written as a name like any other.
    rows: report.rows.map((r) => ({
      ...r,
      params: Object.fromEntries(r.params),
      metrics: Object.fromEntries(r.metrics),
    })),
    warnings: report.warnings,
  };
}

export interface ReportResult {
  readonly report: Report;
  /** --local-root as given, for the hints. */
  readonly localRoot?: string;
  readonly limit?: number;
  readonly written: readonly { readonly file: string; readonly bytes: number }[];
}

export function printReport(r: ReportResult, io: Io): void {
  r.report.warnings.forEach((w) => io.stderr.write(`warning: ${visible(w)}\n`));
  const root = r.localRoot !== undefined ? ` --local-root ${shellWord(r.localRoot)}` : "";
  const local = r.report.localFolder;
  const none =
    local !== undefined
      ? `no local runs in ${local}; run some with npm run jobs:submit -- --locally FILE${root}`
      : `no jobs in the ledger of ${r.report.source}; submit some with npm run jobs:submit`;
  io.stdout.write(r.report.rows.length > 0 ? formatTable(r.report, r.limit) : `${visible(none)}\n`);
  r.written.forEach((w) => io.stderr.write(`wrote ${visible(w.file)} (${formatBytes(w.bytes)})\n`));
}

export function printReportJson(r: ReportResult, io: Io): void {
  io.stdout.write(`${JSON.stringify(reportDocument(r.report))}\n`);
}

// --write-html: Chart.js, report-page.js and the data inlined.
/** Without the source map comment developer tools would fetch. */
function chartJsSource(): string {
  const file = path.join(path.dirname(require.resolve("chart.js")), "chart.umd.min.js");
  return fs.readFileSync(file, "utf8").replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, "\n");
}

/** No `</script`, no `<!--` (JSON and JS keep their meaning). */
export function scriptSafe(text: string): string {
  return text.replace(/<(\/script|!--)/gi, "<\\$1");
}

export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function renderHtml(report: Report): string {
  const title = `batchpy report: ${report.source}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #212121; }
h1 { font-size: 1.4em; margin: 0 0 .2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.muted { color: #757575; } .warning { color: #e65100; }
.badge { display: inline-block; color: #fff; border-radius: 3px; padding: 1px 7px; margin-right: 6px; }
.chart { position: relative; height: 320px; max-width: 1100px; }
#timeline-box { position: relative; max-width: 1100px; max-height: 600px; overflow-y: auto; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #e0e0e0; padding: 3px 8px; text-align: left; white-space: nowrap; }
th { cursor: pointer; background: #fafafa; position: sticky; top: 0; user-select: none; }
th.asc::after { content: " ▲"; } th.desc::after { content: " ▼"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.s-FAILED td { background: #ffebee; }
#table-box { max-height: 70vh; overflow: auto; }
label { margin-right: 1em; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="muted">Generated ${escapeHtml(report.generatedAt)} by npm run jobs:report</p>
<section id="summary"><h2>Summary</h2></section>
<section><h2>Metric against parameter</h2>
<p id="metric-controls"><label>metric <select id="metric-y"></select></label>
<label>against <select id="metric-x"></select></label>
<label>one line per <select id="metric-series"></select></label></p>
<p id="metric-note" class="muted"></p>
<div class="chart"><canvas id="metric"></canvas></div></section>
<section><h2>Timeline</h2>
<p class="muted">Grey: waiting for RUNNING (queue, capacity, placement); purple: image pull and orange: start, where ECS still knew the task; coloured: running (green succeeded, red failed, blue running). <span id="timeline-note"></span></p>
<div id="timeline-box"><div style="position:relative"><canvas id="timeline"></canvas></div></div></section>
<section><h2>Runs</h2>
<p><label>filter <input id="filter" type="search" placeholder="any text"></label>
<label>status <select id="status-filter"><option value="">all</option></select></label>
<span id="shown" class="muted"></span></p>
<div id="table-box"><table id="rows"></table></div></section>
<script id="report-data" type="application/json">${jsonForScript({ ...reportDocument(report), costEstimate: costEstimate(report) })}</script>
<script>${scriptSafe(chartJsSource())}</script>
<script>${scriptSafe(`${formatDuration}\n${formatUsd}\n${fs.readFileSync(path.join(__dirname, "report-page.js"), "utf8")}`)}</script>
</body>
</html>
`;
}
