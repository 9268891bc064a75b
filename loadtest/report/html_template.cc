// The HTML report page: static markup, a stylesheet and the drawing script. The data goes
// where @@DATA@@ stands (html_report.cc).
#include "loadtest/report/html_report.h"

namespace strata::loadtest {

const char* HtmlTemplate() {
  return R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>strata-loadtest report</title>
<style>
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1d2330; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 8px; border-bottom: 1px solid #dde1e8; padding-bottom: 4px; }
.sub { color: #5b6577; margin-bottom: 16px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eceff3; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f5f7fa; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 16px; }
.chart { border: 1px solid #e3e7ee; border-radius: 6px; padding: 8px; }
.chart h3 { font-size: 13px; margin: 0 0 4px; font-weight: 600; }
svg text { font: 11px system-ui, sans-serif; fill: #3b4456; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.legend i { display: inline-block; width: 12px; height: 3px; margin-right: 4px; vertical-align: middle; }
.note { color: #5b6577; font-size: 12px; }
pre { background: #f5f7fa; padding: 8px; overflow-x: auto; font-size: 12px; }
</style>
</head>
<body data-rendered="pending">
<h1>strata-loadtest report</h1>
<div class="sub" id="subtitle"></div>
<div class="legend" id="legend"></div>
<h2>Summary</h2>
<div id="summary"></div>
<h2>Latency distributions</h2>
<p class="note">Cumulative fraction of requests (of inter-token gaps for ITL); the x axis stops at the largest p99.9.</p>
<div class="grid" id="cdfs"></div>
<h2>Over time</h2>
<div class="grid" id="timelines"></div>
<h2>TTFT against prompt length</h2>
<div class="grid" id="scatter"></div>
<h2>Configuration</h2>
<div id="config"></div>
<script id="report-data" type="application/json">@@DATA@@</script>
<script>
"use strict";
window.addEventListener("error", function (e) {
  document.body.setAttribute("data-rendered", "error: " + e.message);
  document.title = "strata-loadtest report (error)";
});
(function () {
  const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d", "#4b5563"];
  const SVGNS = "http://www.w3.org/2000/svg";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const runs = data.runs;

  function el(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function html(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function fmt(v, digits) {
    if (v === undefined || v === null || (typeof v === "number" && !isFinite(v))) return "–";
    if (typeof v !== "number") return String(v);
    if (digits === 0) return Math.round(v).toLocaleString("en-US");
    return v.toFixed(digits === undefined ? 2 : digits);
  }
  // Round axis ticks: 1, 2, 5 times a power of ten.
  function ticks(lo, hi, count) {
    if (!(hi > lo)) hi = lo + 1;
    const raw = (hi - lo) / count;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map(m => m * p).find(s => s >= raw);
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
    return out;
  }

  // series: [{name, color, points: [[x, y], ...]}]; opts: {xlabel, ylabel, xmax, ymax, step, dots}
  function chart(parent, title, series, opts) {
    const box = html("div", undefined, "chart");
    box.appendChild(html("h3", title));
    const W = 460, H = 260, L = 56, R = 12, T = 10, B = 40;
    const svg = el("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img"});
    let xmax = opts.xmax, ymax = opts.ymax;
    let xmin = 0;
    const all = [].concat.apply([], series.map(s => s.points));
    if (xmax === undefined) xmax = Math.max(1e-9, ...all.map(p => p[0]));
    if (ymax === undefined) ymax = Math.max(1e-9, ...all.map(p => p[1]));
    const xt = ticks(xmin, xmax, 6), yt = ticks(0, ymax, 5);
    xmax = Math.max(xmax, xt[xt.length - 1]);
    ymax = Math.max(ymax, yt[yt.length - 1]);
    const sx = x => L + (W - L - R) * (x - xmin) / (xmax - xmin);
    const sy = y => H - B - (H - T - B) * y / ymax;
    for (const y of yt) {
      svg.appendChild(el("line", {x1: L, x2: W - R, y1: sy(y), y2: sy(y), stroke: "#eceff3"}));
      svg.appendChild(el("text", {x: L - 6, y: sy(y) + 4, "text-anchor": "end"}, fmt(y, y < 10 && y % 1 ? 2 : 0)));
    }
    for (const x of xt) {
      svg.appendChild(el("line", {x1: sx(x), x2: sx(x), y1: T, y2: H - B, stroke: "#f3f5f8"}));
      svg.appendChild(el("text", {x: sx(x), y: H - B + 14, "text-anchor": "middle"}, fmt(x, x < 10 && x % 1 ? 2 : 0)));
    }
    svg.appendChild(el("line", {x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: "#8a93a3"}));
    svg.appendChild(el("line", {x1: L, x2: L, y1: T, y2: H - B, stroke: "#8a93a3"}));
    svg.appendChild(el("text", {x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle"}, opts.xlabel));
    svg.appendChild(el("text", {x: 12, y: (T + H - B) / 2, "text-anchor": "middle",
                                transform: "rotate(-90 12 " + (T + H - B) / 2 + ")"}, opts.ylabel));
    const clipId = "clip" + Math.random().toString(36).slice(2);
    const clip = el("clipPath", {id: clipId});
    clip.appendChild(el("rect", {x: L, y: T - 2, width: W - L - R, height: H - T - B + 2}));
    svg.appendChild(clip);
    const g = el("g", {"clip-path": "url(#" + clipId + ")"});
    for (const s of series) {
      if (!s.points.length) continue;
      if (opts.dots) {
        for (const p of s.points) {
          g.appendChild(el("circle", {cx: sx(p[0]), cy: sy(p[1]), r: 2, fill: s.color, "fill-opacity": 0.55}));
        }
        continue;
      }
      let d = "";
      s.points.forEach((p, i) => {
        const x = sx(p[0]), y = sy(p[1]);
        if (i === 0) d += "M" + x.toFixed(1) + "," + y.toFixed(1);
        else if (opts.step) d += "H" + x.toFixed(1) + "V" + y.toFixed(1);
        else d += "L" + x.toFixed(1) + "," + y.toFixed(1);
      });
      g.appendChild(el("path", {d: d, fill: "none", stroke: s.color, "stroke-width": 1.6}));
    }
    svg.appendChild(g);
    if (!all.length) {
      svg.appendChild(el("text", {x: (L + W) / 2, y: (T + H - B) / 2, "text-anchor": "middle"}, "no data"));
    }
    box.appendChild(svg);
    parent.appendChild(box);
  }

  // Subtitle and legend.
  document.getElementById("subtitle").textContent = runs.map(r =>
    r.name + (r.summary.started_at ? " (" + r.summary.started_at + ")" : "")).join(" · ");
  const legend = document.getElementById("legend");
  runs.forEach((r, i) => {
    const s = html("span");
    const swatch = html("i");
    swatch.style.background = COLORS[i % COLORS.length];
    s.appendChild(swatch);
    s.appendChild(document.createTextNode(r.name));
    legend.appendChild(s);
  });

  // Summary table: one row per figure, one column per run.
  const rows = [
    ["completed", s => s.completed, 0], ["failed", s => s.failed, 0],
    ["duration (s)", s => s.duration_s, 3], ["input tokens", s => s.total_input_tokens, 0],
    ["output tokens", s => s.total_output_tokens, 0],
    ["request throughput (req/s)", s => s.request_throughput_req_s, 3],
    ["output throughput (tok/s)", s => s.output_throughput_tok_s, 2],
    ["total throughput (tok/s)", s => s.total_throughput_tok_s, 2],
    ["max in flight", s => s.max_in_flight, 0],
    ["goodput (req/s)", s => s.goodput_req_s, 3],
    ["goodput (fraction)", s => s.goodput_fraction, 3],
  ];
  for (const m of ["ttft", "tpot", "itl", "e2e"]) {
    for (const st of ["mean", "p50", "p90", "p99", "p99.9"]) {
      rows.push([m.toUpperCase() + " " + st + " (ms)", s => s[m + "_ms"] && s[m + "_ms"][st], 3]);
    }
  }
  const table = html("table");
  const head = html("tr");
  head.appendChild(html("th", "figure"));
  runs.forEach(r => head.appendChild(html("th", r.name)));
  table.appendChild(head);
  for (const [label, get, digits] of rows) {
    if (runs.every(r => get(r.summary) === undefined)) continue;
    const tr = html("tr");
    tr.appendChild(html("td", label));
    runs.forEach(r => tr.appendChild(html("td", fmt(get(r.summary), digits))));
    table.appendChild(tr);
  }
  document.getElementById("summary").appendChild(table);
  const errs = runs.filter(r => r.summary.errors && Object.keys(r.summary.errors).length);
  if (errs.length) {
    const p = html("p", "Errors: " + errs.map(r => r.name + ": " +
      Object.entries(r.summary.errors).map(([k, v]) => k + " × " + v).join(", ")).join("; "), "note");
    document.getElementById("summary").appendChild(p);
  }

  // CDFs.
  const cdfs = document.getElementById("cdfs");
  const names = {ttft: "Time to first token", tpot: "Time per output token", itl: "Inter-token latency", e2e: "End-to-end latency"};
  for (const m of ["ttft", "tpot", "itl", "e2e"]) {
    const xmax = Math.max(1e-6, ...runs.map(r => (r.summary[m + "_ms"] || {})["p99.9"] || 0));
    chart(cdfs, names[m] + " (CDF)", runs.map((r, i) => ({
      name: r.name, color: COLORS[i % COLORS.length], points: r.cdf[m] || []
    })), {xlabel: "ms", ylabel: "fraction", xmax: xmax, ymax: 1, step: true});
  }

  // Time series.
  const timelines = document.getElementById("timelines");
  function series(key) {
    return runs.map((r, i) => {
      const t = r.timeline || {};
      const values = t[key] || [], bin = t.bin_s || 1;
      return {name: r.name, color: COLORS[i % COLORS.length],
              points: values.map((v, j) => [(j + 0.5) * bin, v])};
    });
  }
  chart(timelines, "Output throughput", series("output_tok_s"), {xlabel: "seconds since start", ylabel: "tokens/s"});
  chart(timelines, "Completed requests", series("completed_req_s"), {xlabel: "seconds since start", ylabel: "requests/s"});
  chart(timelines, "Requests in flight (mean per interval)", series("in_flight"), {xlabel: "seconds since start", ylabel: "requests"});

  // Scatter.
  chart(document.getElementById("scatter"), "TTFT against prompt tokens", runs.map((r, i) => ({
    name: r.name, color: COLORS[i % COLORS.length], points: r.ttft_vs_prompt || []
  })), {xlabel: "prompt tokens", ylabel: "TTFT (ms)", dots: true});

  // Configuration of each run.
  const config = document.getElementById("config");
  runs.forEach(r => {
    config.appendChild(html("h3", r.name));
    config.appendChild(html("pre", JSON.stringify(r.summary.config || {}, null, 2)));
  });

  document.body.setAttribute("data-rendered", "ok");
  document.title = "strata-loadtest report (" + runs.length + (runs.length === 1 ? " run)" : " runs)");
})();
</script>
</body>
</html>
)HTML";
}

}  // namespace strata::loadtest
