// `jobs:report --write-html` in the browser: plain ES2020, inlined with Chart.js, the data,
// formatDuration and formatUsd.
(function () {
  "use strict";
  var $ = (id) => document.getElementById(id);
  var data = JSON.parse($("report-data").textContent);
  // As Maps, a user's `constructor` or `__proto__` is a name like any other.
  var rows = data.rows.map((r) => ({
    ...r,
    params: new Map(Object.entries(r.params)),
    metrics: new Map(Object.entries(r.metrics)),
  }));
  var summary = data.summary;
  var STATUS_COLOURS = {
    SUCCEEDED: "#2e7d32",
    FAILED: "#c62828",
    RUNNING: "#1565c0",
    STARTING: "#42a5f5",
    RUNNABLE: "#f9a825",
    PENDING: "#9e9e9e",
    SUBMITTED: "#bdbdbd",
    UNKNOWN: "#6d4c41",
  };
  var PALETTE = "#1565c0 #c62828 #2e7d32 #ef6c00 #6a1b9a #00838f #ad1457 #5d4037".split(" ");
  var TIMELINE_MAX = 400;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
    e.textContent = text ?? "";
    return e;
  }
  var isNumeric = (values) =>
    values.length > 0 && values.every((v) => v !== undefined && v !== "" && isFinite(Number(v)));

  function renderSummary() {
    var box = $("summary");
    var say = (text, attrs) => box.appendChild(el("p", attrs, text));
    var counts = say(undefined, { class: "counts" });
    Object.entries(summary.counts).forEach(([s, n]) => {
      var style = "background:" + (STATUS_COLOURS[s] || "#999");
      counts.appendChild(el("span", { class: "badge", style: style }, s + " " + n));
    });
    say(
      `${summary.total} row(s) · ${summary.vcpuHours.toFixed(3)} vCPU-hours · ${data.costEstimate}`,
    );
    if (summary.unpriced > 0) {
      say(`No price for ${summary.unpriced} row(s): ${summary.noPrice.join("; ")}.`);
    }
    var slowest = summary.slowest.map((x) => x.name + " " + formatDuration(x.runSeconds));
    if (slowest.length > 0) {
      say("Slowest: " + slowest.join(", "));
    }
    if (summary.failures.length > 0) {
      box.appendChild(el("h3", {}, "Failures by reason"));
      var list = box.appendChild(el("ul", { id: "failures" }));
      summary.failures.forEach((f) => {
        var names = f.names.slice(0, 20).join(", ") + (f.names.length > 20 ? ", …" : "");
        var li = list.appendChild(el("li"));
        li.append(el("strong", {}, f.count + " × " + f.reason), ": " + names);
      });
    }
    (data.warnings || []).forEach((w) => say("warning: " + w, { class: "warning" }));
  }

  var last = (r) => r.attempts.at(-1) || {};
  var col = (key, label, opts) => ({ key, label, get: (r) => r[key], ...opts });
  var num = (key, label, opts) => col(key, label, { num: true, ...opts });
  var user = (map, prefix) => (name) => {
    var get = (r) => r[map].get(name);
    var values = rows.map(get).filter((v) => v !== undefined);
    return { key: prefix + name, label: name, get, num: isNumeric(values) };
  };
  // As the terminal: only when ECS was read for a row.
  var split = rows.some((r) => last(r).placementSeconds !== undefined)
    ? [
        ["placementSeconds", "place"],
        ["pullSeconds", "pull"],
        ["startSeconds", "start"],
      ].map(([key, label]) => num(key, label, { show: formatDuration, get: (r) => last(r)[key] }))
    : [];
  var columns = [
    col("name", "job"),
    col("status", "status"),
    num("exitCode", "exit"),
    num("attempts", "attempts", { get: (r) => r.attempts.length }),
    num("runs", "runs"),
    num("runSeconds", "time", { show: formatDuration }),
    num("queueSeconds", "wait", { show: formatDuration }),
    ...split,
    num("vcpuHours", "vCPU-h", { show: (v) => v.toFixed(4) }),
    num("cost", "cost", { show: formatUsd, missing: "no price" }),
    ...summary.params.map(user("params", "param:")),
    ...summary.metrics.map(user("metrics", "metric:")),
    col("reason", "reason"),
    num("files", "files", { get: (r) => r.files.length }),
  ];
  var sortState = { key: null, dir: 1 };

  /** Empty cells last, whichever the direction. */
  function compare(col, a, b) {
    var [x, y] = [col.get(a), col.get(b)];
    var empty = (v) => v === undefined || v === null || v === "";
    var order = col.num
      ? Number(x) - Number(y)
      : String(x).localeCompare(String(y), undefined, { numeric: true });
    return empty(x) || empty(y) ? empty(x) - empty(y) : order * sortState.dir;
  }

  function visibleRows() {
    var text = $("filter").value.trim().toLowerCase();
    var status = $("status-filter").value;
    var matches = (v) => v !== undefined && String(v).toLowerCase().includes(text);
    var out = rows.filter(
      (r) =>
        (status === "" || r.status === status) &&
        (text === "" || columns.some((c) => matches(c.get(r)))),
    );
    var col = columns.find((c) => c.key === sortState.key);
    return col ? out.sort((a, b) => compare(col, a, b)) : out;
  }

  function renderTable() {
    var table = $("rows");
    var tr = table.appendChild(el("thead")).appendChild(el("tr"));
    columns.forEach((c) => {
      var th = el("th", { "data-key": c.key, title: "sort by " + c.label }, c.label);
      tr.appendChild(th).addEventListener("click", () => {
        sortState = { key: c.key, dir: sortState.key === c.key ? -sortState.dir : 1 };
        fillBody();
      });
    });
    table.appendChild(el("tbody"));
    var select = $("status-filter");
    Object.keys(summary.counts).forEach((s) => select.appendChild(el("option", { value: s }, s)));
    $("filter").addEventListener("input", fillBody);
    select.addEventListener("change", fillBody);
    fillBody();
  }

  function fillBody() {
    var tbody = el("tbody");
    var list = visibleRows();
    list.forEach((r) => {
      var tr = tbody.appendChild(el("tr", { class: "s-" + r.status }));
      columns.forEach((c) => {
        var v = c.get(r);
        var text = v === undefined ? c.missing || "" : c.show ? c.show(v) : String(v);
        var td = tr.appendChild(el("td", c.num ? { class: "num" } : {}, text));
        if (c.key === "files" && r.files.length > 0) {
          td.title = r.files.map((f) => f.key + " (" + f.size + " B)").join("\n");
        }
      });
    });
    $("rows").replaceChild(tbody, $("rows").tBodies[0]);
    document.querySelectorAll("#rows th").forEach((th) => {
      var sorted = th.getAttribute("data-key") === sortState.key;
      th.className = sorted ? (sortState.dir > 0 ? "asc" : "desc") : "";
    });
    $("shown").textContent = list.length + " of " + rows.length + " row(s)";
  }

  function timelineData(timed) {
    var t0 = timed[0].createdAt || timed[0].startedAt; // the earliest: sorted by it
    var now = Date.parse(data.generatedAt);
    // The last attempt's image pull and start, where ECS was read, end at RUNNING.
    var startFrom = (r) => last(r).startedAt - last(r).startSeconds * 1000;
    var pullFrom = (r) => startFrom(r) - last(r).pullSeconds * 1000;
    var byStatus = timed.map((r) => STATUS_COLOURS[r.status] || "#999");
    var waited = (r) => r.startedAt || r.stoppedAt || now;
    var parts = [
      ["queue wait", "rgba(158,158,158,0.45)", (r) => r.createdAt, waited],
      ["run (colour: status)", byStatus, (r) => r.startedAt, (r) => r.stoppedAt || now],
    ];
    if (split.length > 0) {
      parts.push(["image pull", "rgba(106,27,154,0.7)", pullFrom, startFrom]);
      parts.push(["start", "rgba(239,108,0,0.7)", startFrom, (r) => last(r).startedAt]);
    }
    return {
      labels: timed.map((r) => r.name),
      datasets: parts.map(([label, backgroundColor, from, to]) => ({
        label,
        data: timed.map((r) => {
          var ends = [from(r), to(r)];
          return ends.every(Number.isFinite) ? ends.map((ms) => (ms - t0) / 1000) : null;
        }),
        backgroundColor,
      })),
    };
  }

  function renderTimeline() {
    var timed = rows
      .filter((r) => r.startedAt !== undefined || r.createdAt !== undefined)
      .sort((a, b) => (a.createdAt || a.startedAt) - (b.createdAt || b.startedAt));
    $("timeline-note").textContent =
      timed.length === 0
        ? "No run has started yet."
        : timed.length > TIMELINE_MAX
          ? `Showing the first ${TIMELINE_MAX} of ${timed.length} runs by creation time.`
          : "";
    timed = timed.slice(0, TIMELINE_MAX);
    if (timed.length === 0) {
      return;
    }
    var canvas = $("timeline");
    canvas.parentNode.style.height = Math.max(160, 40 + timed.length * 18) + "px";
    new Chart(canvas, {
      type: "bar",
      data: timelineData(timed),
      options: {
        indexAxis: "y",
        grouped: false,
        scales: {
          x: {
            type: "linear",
            title: { display: true, text: "seconds since the first job was created" },
          },
          y: { ticks: { autoSkip: timed.length > 40 } },
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: (ctx) =>
                `${ctx.dataset.label.replace(/ \(.*\)$/, "")} ` +
                `${formatDuration(ctx.raw[1] - ctx.raw[0])} · ${timed[ctx.dataIndex].status}`,
            },
          },
        },
      },
    });
  }

  function selectOf(id, options, chosen) {
    var s = $(id);
    options.forEach((o) => {
      s.appendChild(el("option", { value: o }, o === "" ? "(none)" : o)).selected = o === chosen;
    });
    s.addEventListener("change", drawMetric);
  }

  function setupMetric() {
    var params = summary.params;
    var why =
      summary.metrics.length === 0
        ? "No run wrote metrics.json: write a flat JSON object of numbers and strings into the working folder to chart it here."
        : params.length === 0
          ? "The runs have no parameters to chart the metrics against."
          : "";
    if (why !== "") {
      $("metric-note").textContent = why;
      $("metric-controls").hidden = true;
      return;
    }
    var numeric = columns.filter((c) => c.key.startsWith("metric:") && c.num).map((c) => c.label);
    var metrics = numeric.length > 0 ? numeric : summary.metrics;
    selectOf("metric-y", metrics, metrics[0]);
    selectOf("metric-x", params, summary.varying[0] || params[0]);
    selectOf("metric-series", [""].concat(params), summary.varying[1] || "");
    drawMetric();
  }

  function drawMetric() {
    var [y, x, series] = ["metric-y", "metric-x", "metric-series"].map((id) => $(id).value);
    var points = rows.filter(
      (r) => r.metrics.has(y) && isFinite(Number(r.metrics.get(y))) && r.params.has(x),
    );
    var numericX = isNumeric(points.map((r) => r.params.get(x)));
    var categories = numericX ? [] : Array.from(new Set(points.map((r) => r.params.get(x))));
    var groups = new Map();
    points.forEach((r) => {
      var g =
        series === "" || series === x
          ? "all"
          : series + "=" + (r.params.has(series) ? r.params.get(series) : "-");
      (groups.get(g) || groups.set(g, []).get(g)).push({
        x: numericX ? Number(r.params.get(x)) : categories.indexOf(r.params.get(x)),
        y: Number(r.metrics.get(y)),
        name: r.name,
      });
    });
    var datasets = Array.from(groups, ([g, data], i) => ({
      label: g,
      data: data.sort((a, b) => a.x - b.x),
      showLine: true,
      borderColor: PALETTE[i % PALETTE.length],
      backgroundColor: PALETTE[i % PALETTE.length],
    }));
    Chart.getChart("metric")?.destroy();
    new Chart($("metric"), {
      type: "scatter",
      data: { datasets },
      options: {
        scales: {
          x: {
            type: "linear",
            title: { display: true, text: x },
            ticks: numericX ? {} : { stepSize: 1, callback: (v) => categories[v] },
          },
          y: { title: { display: true, text: y } },
        },
        plugins: {
          tooltip: { callbacks: { label: (ctx) => ctx.raw.name + ": " + y + " = " + ctx.raw.y } },
        },
      },
    });
    var left = points.length < rows.length ? " (rows without this metric are left out)" : "";
    $("metric-note").textContent = `${points.length} point(s)${left}`;
  }

  Object.assign(Chart.defaults, { animation: false, maintainAspectRatio: false });
  renderSummary();
  renderTable();
  renderTimeline();
  setupMetric();
  document.body.setAttribute("data-ready", "true");
})();
