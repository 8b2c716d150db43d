/** `jobs:report --write-html`: Chart.js, report-page.js and the data inlined: it loads nothing. */
import * as fs from "fs";
import * as path from "path";
import { formatUsd } from "./numbers";
import type { Report } from "../report/rows";
import { costEstimate, formatDuration, reportDocument } from "./report-print";

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

const STYLE = `
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
`;

export function renderHtml(report: Report): string {
  const title = `batchpy report: ${report.source}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
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
