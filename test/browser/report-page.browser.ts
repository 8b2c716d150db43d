/**
 * The `jobs:report --write-html` page in a real browser: Debian's chromium, driven by
 * playwright-core (no browser download). Run with `npm run test:browser`; `.ci/run` installs
 * chromium when it is missing. The page must draw its table and charts from the file alone:
 * any network request fails the test. docs/report-grid-sweep.png is the screenshot of the
 * documented local grid sweep's page that the second test leaves.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { chromium, type Browser, type Page } from "playwright-core";
import { pricingOf } from "../../jobs/report/prices";
import { renderHtml } from "../../jobs/output/report-print";
import { buildRow, sortRows, summarizeRows, type RunUnit } from "../../jobs/report/rows";
import type { Report } from "../../jobs/report/sources";
import { REPO_ROOT, runJobs } from "../helpers/jobs-harness";

/** Debian's chromium; BATCHPY_CHROMIUM points elsewhere. */
const CHROMIUM = process.env.BATCHPY_CHROMIUM ?? "/usr/bin/chromium";

/** A 3 × 4 grid sweep: 10 succeeded with metrics, 1 failed, 1 retried into success. */
function mixedReport(): Report {
  const prices = pricingOf(undefined);
  const t0 = Date.parse("2026-11-30T08:00:00Z");
  const units: RunUnit[] = [];
  let i = 0;
  for (const a of [1, 2, 3]) {
    for (const b of [10, 20, 30, 40]) {
      const failed = i === 5;
      const createdAt = t0 + i * 1000;
      units.push({
        job: "grid",
        index: i,
        jobId: `p:${i}`,
        status: failed ? "FAILED" : "SUCCEEDED",
        ...(failed
          ? { reason: "Essential container in task exited", exitCode: 1 }
          : { exitCode: 0 }),
        attempts: [
          {
            startedAt: createdAt + 5000,
            stoppedAt: createdAt + 5000 + a * 1000,
            // ECS still knew the first set's task: placed 2 s, pulled 2 s, started in 1 s.
            ...(i === 0
              ? {
                  task: {
                    createdAt: createdAt + 1000,
                    pullStartedAt: createdAt + 2000,
                    pullStoppedAt: createdAt + 4000,
                  },
                }
              : {}),
          },
        ],
        createdAt,
        startedAt: createdAt + 5000,
        stoppedAt: createdAt + 5000 + a * 1000,
        vcpus: 1,
        params: new Map([
          ["var_a", String(a)],
          ["var_b", String(b)],
        ]),
      });
      i++;
    }
  }
  const now = t0 + 60_000;
  const rows = sortRows(
    units.map((u) =>
      buildRow(
        { unit: u, runs: u.index === 7 ? 2 : 1 },
        u.status === "FAILED" ? [] : [{ key: `results/grid/${u.index}/metrics.json`, size: 16 }],
        new Map<string, number | string>([
          ...(u.status === "FAILED"
            ? []
            : [
                ["product", Number(u.params.get("var_a")) * Number(u.params.get("var_b"))] as const,
              ]),
          // A metric named as a property of every object, in one row only.
          ...(u.index === 0 ? [["toString", "own"] as const] : []),
        ]),
        prices,
        now,
      ),
    ),
  );
  return {
    source: "stack test",
    generatedAt: new Date(now).toISOString(),
    prices,
    rows,
    summary: summarizeRows(rows),
    warnings: [],
  };
}

// Browser-side code goes to page.evaluate as text: the project compiles without DOM types.

/** Pixels the canvas has painted (alpha > 0). */
async function canvasInk(page: Page, id: string): Promise<number> {
  return page.evaluate<number>(`(() => {
    const c = document.getElementById(${JSON.stringify(id)});
    const ctx = c.getContext("2d");
    if (ctx === null || c.width === 0 || c.height === 0) { return 0; }
    const px = ctx.getImageData(0, 0, c.width, c.height).data;
    let inked = 0;
    for (let i = 3; i < px.length; i += 4) { if (px[i] > 0) { inked++; } }
    return inked;
  })()`);
}

/** The table's cells of one column, top to bottom. */
async function columnValues(page: Page, key: string): Promise<string[]> {
  return page.evaluate<string[]>(`(() => {
    const ths = [...document.querySelectorAll("#rows th")];
    const col = ths.findIndex((th) => th.getAttribute("data-key") === ${JSON.stringify(key)});
    return [...document.querySelectorAll("#rows tbody tr")].map((tr) => tr.cells[col].textContent);
  })()`);
}

describe("jobs:report --write-html in headless Chromium", function () {
  this.timeout(120_000);
  let browser: Browser;
  let dir: string;

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(
        `no browser at ${CHROMIUM}: apt-get install -y chromium (or set BATCHPY_CHROMIUM)`,
      );
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "report-browser-"));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
  });

  after(async function () {
    await browser?.close();
    // The screenshots stay for a look; the folder is in the system's temp area.
    console.log(`    screenshots: ${dir}`);
  });

  it("draws the table and both charts, sorts by a column, and requests nothing", async function () {
    const report = mixedReport();
    const file = path.join(dir, "report.html");
    fs.writeFileSync(file, renderHtml(report));
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const url = `file://${file}`;
    const requests: string[] = [];
    const errors: string[] = [];
    page.on("request", (r) => {
      if (r.url() !== url) {
        requests.push(r.url());
      }
    });
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.goto(url);
    await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });

    assert.deepStrictEqual(errors, []);
    assert.strictEqual(await page.locator("#rows tbody tr").count(), report.rows.length);
    assert.strictEqual((await columnValues(page, "status"))[0], "FAILED", "failed rows come first");
    assert.match((await page.locator("#failures").textContent()) ?? "", /1 × Essential container/);

    // Charts: Chart.js drew points and bars onto the canvases.
    assert.ok((await canvasInk(page, "metric")) > 500, "the metric chart drew");
    assert.ok((await canvasInk(page, "timeline")) > 500, "the timeline drew");
    const timeline = await page.evaluate<{ label: string; bars: number }[]>(
      "Chart.getChart('timeline').data.datasets.map((d) => ({ label: d.label, bars: d.data.filter((x) => x !== null).length }))",
    );
    assert.deepStrictEqual(timeline, [
      { label: "queue wait", bars: 12 },
      { label: "run (colour: status)", bars: 12 },
      { label: "image pull", bars: 1 },
      { label: "start", bars: 1 },
    ]);
    assert.deepStrictEqual(
      (await columnValues(page, "pullSeconds")).filter((v) => v !== ""),
      ["2s"],
    );
    const series = await page.evaluate<string[]>(
      "Chart.getChart('metric').data.datasets.map((d) => d.label)",
    );
    assert.deepStrictEqual(series, ["var_b=10", "var_b=20", "var_b=30", "var_b=40"]);
    const own = await columnValues(page, "metric:toString");
    assert.deepStrictEqual(
      own.filter((v) => v !== ""),
      ["own"],
      "a metric named toString stays in its row",
    );

    // Sorting: numeric, ascending then descending; the filter narrows the rows.
    await page.click('#rows th[data-key="metric:product"]');
    const up = (await columnValues(page, "metric:product")).filter((v) => v !== "").map(Number);
    assert.deepStrictEqual(
      up,
      [...up].sort((a, b) => a - b),
    );
    assert.strictEqual(up.length, 11);
    await page.click('#rows th[data-key="metric:product"]');
    const down = (await columnValues(page, "metric:product")).filter((v) => v !== "").map(Number);
    assert.deepStrictEqual(down, [...up].reverse());
    await page.selectOption("#status-filter", "FAILED");
    assert.strictEqual(await page.locator("#rows tbody tr").count(), 1);
    await page.selectOption("#status-filter", "");
    // The text filter matches any cell, ignoring case.
    await page.fill("#filter", "essential CONTAINER");
    assert.deepStrictEqual(await columnValues(page, "status"), ["FAILED"]);
    await page.fill("#filter", "no cell holds this");
    assert.strictEqual(await page.locator("#rows tbody tr").count(), 0);
    await page.fill("#filter", "");
    assert.strictEqual(await page.locator("#rows tbody tr").count(), report.rows.length);

    await page.screenshot({ path: path.join(dir, "report.png"), fullPage: true });
    assert.ok(fs.statSync(path.join(dir, "report.png")).size > 10_000);
    assert.deepStrictEqual(requests, [], "the page loads nothing from the network");
    await page.close();
  });

  it("says what the cost is priced as, and shows a row it cannot price as no price", async function () {
    const base = mixedReport();
    // A GPU job cannot run on the m5a.large the default pricing uses.
    const gpu: RunUnit = {
      job: "gpu",
      jobId: "g",
      status: "SUCCEEDED",
      attempts: [{ startedAt: 0, stoppedAt: 60_000 }],
      vcpus: 1,
      gpus: 1,
      params: new Map(),
    };
    const rows = [base.rows[0], buildRow({ unit: gpu, runs: 1 }, [], new Map(), base.prices, 0)];
    const file = path.join(dir, "cost.html");
    fs.writeFileSync(file, renderHtml({ ...base, rows, summary: summarizeRows(rows) }));
    const page = await browser.newPage();
    await page.goto(`file://${file}`);
    await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
    const summary = (await page.locator("#summary").textContent()) ?? "";
    assert.match(
      summary,
      /estimated <\$0\.01 for 1 of 2 rows \(m5a\.large on-demand, us-east-1 list prices of 2026-06; an estimate, not a bill\)/,
    );
    assert.match(summary, /No price for 1 row\(s\): the job does not fit on m5a\.large\./);
    assert.deepStrictEqual((await columnValues(page, "cost")).sort(), ["<$0.01", "no price"]);
    await page.close();
  });

  it("shows the documented local grid sweep: 6 sets with var_a, var_b and product", async function () {
    const sweep = path.join(REPO_ROOT, "jobs", "examples", "grid_sweep.json");
    const root = path.join(".batchpy", "local-bucket");
    const run = await runJobs(["submit", "--locally", sweep, "--local-root", root], {
      describe: "real",
      cwd: dir,
    });
    assert.strictEqual(run.code, 0, run.stderr);
    const report = await runJobs(["report", "--locally", "--local-root", root, "--write-html"], {
      cwd: dir,
    });
    assert.strictEqual(report.code, 0, report.stderr);
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    await page.goto(`file://${path.join(dir, "batchpy-results", "local", "report.html")}`);
    await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
    const sets = [1, 2, 3].flatMap((a) => [10, 20].map((b) => [`${a}`, `${b}`, `${a * b}`]));
    const columns = await Promise.all(
      ["param:var_a", "param:var_b", "metric:product"].map((k) => columnValues(page, k)),
    );
    assert.deepStrictEqual(
      columns[0].map((_, i) => columns.map((c) => c[i])),
      sets,
    );
    await page.screenshot({ path: path.join(dir, "report-grid-sweep.png"), fullPage: true });
    await page.close();
  });
});
