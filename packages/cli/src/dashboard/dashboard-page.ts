/**
 * The dashboard page: one self-contained HTML document (no framework, no CDN, no request but its
 * data route) that polls `/dashboard/data` every second and draws what it answers: figure tiles,
 * three SVG charts of up to the last five minutes (request rate, latency p50/p95, bundles per second),
 * and tables of endpoints, scopes with their sources, watch subscribers and the latest errors.
 *
 * It holds no data itself. When the data route refuses it (403, a caller off the server's machine),
 * it asks for the admin token, keeps it in the tab's sessionStorage (gone when the tab closes, never
 * in a URL) and sends it as `Authorization: Bearer`. Everything it shows comes from the server and
 * is written as text (`textContent`), never as markup, since scope, source and user ids are chosen
 * by clients. A Content-Security-Policy allows only this page's own script and style (by hash) and
 * requests to its own origin, and forbids framing.
 */
import { createHash } from "node:crypto";

const STYLE = `
:root { color-scheme: light; --ink: #1f2933; --muted: #66788a; --line: #d9e2ec; --panel: #ffffff;
  --bg: #f5f7fa; --a: #2563eb; --b: #dc2626; --c: #059669; --warn: #b45309; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, sans-serif; color: var(--ink); background: var(--bg); }
header { display: flex; align-items: baseline; gap: 16px; padding: 10px 16px; background: var(--ink); color: #fff; }
header h1 { font-size: 16px; margin: 0; }
header .meta { color: #cbd2d9; }
header #state { margin-left: auto; }
body[data-state=live] #state::before { content: "\\25CF  "; color: #34d399; }
body[data-state=unreachable] #state::before, body[data-state^=token] #state::before { content: "\\25CF  "; color: #f87171; }
button { font: inherit; padding: 3px 10px; border: 1px solid var(--line); border-radius: 4px; background: #fff; cursor: pointer; }
header button { background: transparent; color: #fff; border-color: #52606d; }
main { padding: 12px 16px; display: grid; gap: 12px; grid-template-columns: minmax(0, 1fr); }
section, #token-form { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; overflow-x: auto; }
h2 { font-size: 13px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
h2 span { text-transform: none; letter-spacing: 0; font-weight: 400; }
#token-form { max-width: 560px; }
#token-form input { font: inherit; width: 100%; padding: 5px 8px; margin: 6px 0; border: 1px solid var(--line); border-radius: 4px; }
#token-note { color: var(--b); }
[hidden] { display: none !important; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(130px, 1fr)); gap: 8px; }
.tile { border: 1px solid var(--line); border-radius: 4px; padding: 6px 8px; }
.tile .label { display: block; color: var(--muted); font-size: 11px; }
.tile .value { font-size: 20px; font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 12px; }
figure { margin: 0; }
figcaption { color: var(--muted); margin-bottom: 2px; }
svg { width: 100%; height: auto; display: block; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg text { fill: var(--muted); font-size: 10px; }
svg .line { fill: none; stroke-width: 1.6; }
.s-a { stroke: var(--a); } .s-b { stroke: var(--b); } .s-c { stroke: var(--c); }
.key { display: inline-block; width: 10px; height: 3px; vertical-align: middle; margin: 0 4px 0 10px; }
.key.s-a { background: var(--a); } .key.s-b { background: var(--b); } .key.s-c { background: var(--c); }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 500; }
td.num, th.num { text-align: right; }
tr.scope td { font-weight: 600; border-top: 2px solid var(--line); }
tr.source td:first-child { padding-left: 24px; }
td.wrap { white-space: normal; word-break: break-word; }
td.users { max-width: 220px; }
tr.warn td { color: var(--warn); }
tr.error td:nth-child(2) { color: var(--b); }
.empty { color: var(--muted); }
footer { padding: 0 16px 16px; color: var(--muted); }
`;

const SCRIPT = `
"use strict";
(function () {
  var TOKEN_KEY = "oversync-admin-token";
  var DATA_URL = location.pathname.replace(/\\/+$/, "") + "/data";
  var HISTORY_MS = 300000;
  var RETRY_MS = 2000;
  var SVG = "http://www.w3.org/2000/svg";
  var points = [];
  var lastT = 0;
  var polls = 0;
  var timer;

  function el(id) { return document.getElementById(id); }
  function storedToken() {
    try { return sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
  }
  function setState(state, text) {
    document.body.dataset.state = state;
    el("state").textContent = text;
    el("forget").hidden = storedToken() === null;
  }
  function num(value, digits) {
    if (value === null || value === undefined) return "\\u2013";
    return Number(value).toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 1 : digits });
  }
  function ago(iso, now) {
    if (!iso) return "\\u2013";
    var seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
    if (seconds < 90) return seconds + " s ago";
    if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
    return Math.round(seconds / 3600) + " h ago";
  }
  function cell(row, text, className) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }
  function emptyRow(tbody, columns, text) {
    var row = document.createElement("tr");
    var td = cell(row, text, "empty");
    td.colSpan = columns;
    tbody.appendChild(row);
  }
  function tile(id, value, text) {
    var node = el(id);
    node.dataset.value = value === null || value === undefined ? "" : String(value);
    node.textContent = text;
  }

  function showTokenForm(note) {
    clearTimeout(timer);
    el("token-form").hidden = false;
    el("token-note").textContent = note;
    el("token").focus();
  }

  async function poll() {
    clearTimeout(timer);
    var token = storedToken();
    var response;
    try {
      response = await fetch(DATA_URL + "?since=" + lastT, {
        headers: token === null ? {} : { authorization: "Bearer " + token },
        cache: "no-store",
        credentials: "omit",
      });
    } catch (error) {
      setState("unreachable", "server unreachable; retrying");
      timer = setTimeout(poll, RETRY_MS);
      return;
    }
    if (response.status === 403) {
      var refusal = await response.json().catch(function () { return {}; });
      if (token !== null) {
        sessionStorage.removeItem(TOKEN_KEY);
        setState("token-refused", "admin token refused");
        showTokenForm("The server refused that token. " + (refusal.message || ""));
      } else {
        setState("token-needed", "admin token needed");
        showTokenForm(refusal.message || "");
      }
      return;
    }
    if (!response.ok) {
      setState("unreachable", "data answered " + response.status + "; retrying");
      timer = setTimeout(poll, RETRY_MS);
      return;
    }
    var data = await response.json();
    el("token-form").hidden = true;
    render(data);
    polls += 1;
    document.body.dataset.polls = String(polls);
    setState("live", "live, updated " + new Date(data.generated_at).toLocaleTimeString("en-GB"));
    timer = setTimeout(poll, data.poll_interval_ms);
  }

  function render(data) {
    var now = Date.parse(data.generated_at);
    points = points.concat(data.series).filter(function (p) { return p.t >= now - HISTORY_MS; });
    if (points.length > 0) lastT = points[points.length - 1].t;
    var server = data.server;
    el("app").textContent = (server.app_name || "?") + " \\u00b7 " + (server.lifecycle || "status unavailable");
    el("started").textContent = "up since " + new Date(server.started_at).toLocaleString("en-GB");
    var c = data.current;
    var t = data.totals;
    tile("t-rps", c.requests_per_second, num(c.requests_per_second));
    tile("t-p50", c.p50_ms, num(c.p50_ms) + " ms");
    tile("t-p95", c.p95_ms, num(c.p95_ms) + " ms");
    tile("t-bps", c.bundles_per_second, num(c.bundles_per_second));
    var rows = c.rows_per_second;
    tile("t-rows", rows && rows.push + rows.pull + rows.snapshot,
      rows ? num(rows.push, 0) + " / " + num(rows.pull, 0) + " / " + num(rows.snapshot, 0) : "\\u2013");
    tile("t-eps", c.errors_per_second, num(c.errors_per_second));
    tile("t-watch", c.open_watch_streams, num(c.open_watch_streams, 0));
    tile("t-inflight", server.inflight_operations, num(server.inflight_operations, 0));
    tile("t-bundles", t.bundles_committed, num(t.bundles_committed, 0));
    tile("t-requests", t.requests, num(t.requests, 0));
    tile("t-conflicts", t.conflicts, num(t.conflicts, 0));
    tile("t-snapshots", t.snapshot_sessions_created, num(t.snapshot_sessions_created, 0));
    chart(el("chart-requests"), now, [["requests_per_second", "s-a"], ["errors_per_second", "s-b"]], "/s");
    chart(el("chart-latency"), now, [["p50_ms", "s-c"], ["p95_ms", "s-a"]], " ms");
    chart(el("chart-bundles"), now, [["bundles_per_second", "s-a"]], "/s");
    renderEndpoints(data.endpoints);
    renderScopes(data, now);
    renderWatch(data.watch);
    renderErrors(data.errors, now);
    el("limits").textContent = "Lists the " + data.limits.scopes + " most recently active of the " +
      data.scopes_tracked + " scopes this server process has heard from since it started (up to " +
      data.limits.sources_per_scope + " devices each), and its last " + data.limits.errors +
      " errors. Charts: the last " + Math.round(data.limits.history_seconds / 60) +
      " minutes this page or another dashboard watched, the dashboard's own requests left out." +
      (data.database_ok ? "" : " The database did not answer: its columns are empty.");
  }

  function niceMax(value) {
    if (!(value > 0)) return 1;
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= value) return steps[i] * power;
    return 10 * power;
  }

  function svgNode(name, attributes, text) {
    var node = document.createElementNS(SVG, name);
    for (var key in attributes) node.setAttribute(key, String(attributes[key]));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function span(seconds) {
    return seconds < 120 ? seconds + " s ago" : Math.round(seconds / 60) + " min ago";
  }

  function chart(svg, now, lines, unit) {
    var W = 480, H = 150, L = 44, R = 8, T = 8, B = 18;
    // From the first point on (at least a minute, at most the history), so a new page fills out.
    var first = points.length > 0 ? points[0].t : now;
    var range = Math.min(HISTORY_MS, Math.max(60000, now - first));
    var max = 0;
    points.forEach(function (p) {
      lines.forEach(function (line) { if (p[line[0]] !== null && p[line[0]] > max) max = p[line[0]]; });
    });
    var top = niceMax(max);
    var nodes = [];
    [0, 0.5, 1].forEach(function (f) {
      var y = T + (H - T - B) * (1 - f);
      nodes.push(svgNode("line", { class: "grid", x1: L, x2: W - R, y1: y, y2: y }));
      nodes.push(svgNode("text", { x: L - 4, y: y + 3, "text-anchor": "end" }, num(top * f, 2) + unit));
    });
    nodes.push(svgNode("text", { x: L, y: H - 4 }, span(Math.round(range / 1000))));
    nodes.push(svgNode("text", { x: W - R, y: H - 4, "text-anchor": "end" }, "now"));
    lines.forEach(function (line) {
      var segment = [];
      var flush = function () {
        if (segment.length > 0) nodes.push(svgNode("polyline", { class: "line " + line[1], points: segment.join(" ") }));
        segment = [];
      };
      points.forEach(function (p) {
        var value = p[line[0]];
        if (value === null) { flush(); return; }
        var x = L + (W - L - R) * (1 - (now - p.t) / range);
        var y = T + (H - T - B) * (1 - value / top);
        segment.push(x.toFixed(1) + "," + y.toFixed(1));
      });
      flush();
    });
    svg.replaceChildren.apply(svg, nodes);
    svg.dataset.points = String(points.length);
    svg.dataset.max = String(max);
  }

  function renderEndpoints(endpoints) {
    var tbody = el("endpoints");
    tbody.replaceChildren();
    endpoints.forEach(function (e) {
      var row = document.createElement("tr");
      row.dataset.endpoint = e.endpoint;
      cell(row, e.endpoint);
      cell(row, num(e.requests_per_second, 2), "num");
      cell(row, num(e.p50_ms), "num");
      cell(row, num(e.p95_ms), "num");
      cell(row, num(e.requests, 0), "num");
      cell(row, num(e.errors, 0), "num");
      tbody.appendChild(row);
    });
    if (endpoints.length === 0) emptyRow(tbody, 6, "No requests yet.");
  }

  function renderScopes(data, now) {
    var table = el("scopes");
    table.querySelectorAll("tbody").forEach(function (tbody) { tbody.remove(); });
    data.scopes.forEach(function (s) {
      var tbody = document.createElement("tbody");
      tbody.dataset.scope = s.scope_id;
      var row = document.createElement("tr");
      row.className = "scope";
      cell(row, s.scope_id);
      cell(row, s.user_ids.join(", "), "wrap users");
      cell(row, ago(s.last_seen, now));
      cell(row, s.scope_state);
      cell(row, num(s.latest_bundle_seq, 0), "num");
      cell(row, num(s.retained_floor, 0), "num");
      cell(row, "");
      cell(row, num(s.watch_subscribers, 0), "num");
      cell(row, num(s.pending_snapshots, 0), "num");
      tbody.appendChild(row);
      s.sources.forEach(function (d) {
        var line = document.createElement("tr");
        line.className = "source";
        line.dataset.source = d.source_id;
        cell(line, d.source_id);
        cell(line, "");
        cell(line, ago(d.last_seen, now) + " (" + d.last_endpoint + ")");
        cell(line, d.state === null ? "no commit yet" : d.state + (d.replaced_by_source_id ? " \\u2192 " + d.replaced_by_source_id : ""));
        cell(line, d.committed_source_bundle_id === null ? "" : "#" + d.committed_source_bundle_id, "num");
        cell(line, "");
        cell(line, d.last_commit_at === null ? "" : ago(d.last_commit_at, now));
        cell(line, "");
        cell(line, num(d.pending_snapshots, 0), "num");
        tbody.appendChild(line);
      });
      table.appendChild(tbody);
    });
    if (data.scopes.length === 0) {
      var empty = document.createElement("tbody");
      emptyRow(empty, 9, "No device has called this server process yet.");
      table.appendChild(empty);
    }
  }

  function renderWatch(watch) {
    el("watch-total").textContent = "\u00b7 " + num(watch.open_streams, 0) + " open in this process";
    var tbody = el("watch");
    tbody.replaceChildren();
    watch.scopes.forEach(function (w) {
      var row = document.createElement("tr");
      row.dataset.scope = w.scope_id;
      cell(row, w.scope_id);
      cell(row, num(w.subscribers, 0), "num");
      tbody.appendChild(row);
    });
    if (watch.scopes.length === 0) emptyRow(tbody, 2, "Nobody is watching.");
  }

  function renderErrors(errors, now) {
    var tbody = el("errors");
    tbody.replaceChildren();
    errors.forEach(function (e) {
      var row = document.createElement("tr");
      row.className = e.level;
      cell(row, ago(e.time, now));
      cell(row, e.level);
      cell(row, e.message, "wrap");
      cell(row, [e.code, e.path, e.scope_id || e.user_id, e.detail].filter(Boolean).join(" \\u00b7 "), "wrap");
      tbody.appendChild(row);
    });
    if (errors.length === 0) emptyRow(tbody, 4, "No errors.");
  }

  el("token-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var value = el("token").value.trim();
    if (value === "") return;
    sessionStorage.setItem(TOKEN_KEY, value);
    el("token").value = "";
    el("token-form").hidden = true;
    setState("loading", "checking the token");
    poll();
  });
  el("forget").addEventListener("click", function () {
    sessionStorage.removeItem(TOKEN_KEY);
    setState("loading", "token forgotten");
    poll();
  });
  setState("loading", "loading");
  poll();
})();
`;

const BODY = `
<header>
  <h1>oversync dashboard</h1>
  <span class="meta" id="app"></span>
  <span class="meta" id="started"></span>
  <span id="state"></span>
  <button type="button" id="forget" hidden>Forget token</button>
</header>
<main>
  <form id="token-form" hidden>
    <label for="token"><strong>Admin token</strong></label>
    <input id="token" type="password" autocomplete="off" spellcheck="false" placeholder="the server's OVERSYNC_ADMIN_TOKEN">
    <div id="token-note"></div>
    <p>The token stays in this tab (sessionStorage, gone when the tab closes) and is sent to the
      server as <code>Authorization: Bearer</code>, never in a URL.</p>
    <button type="submit">Open the dashboard</button>
  </form>
  <section>
    <div class="tiles">
      <div class="tile"><span class="label">requests/s</span><span class="value" id="t-rps">&#8211;</span></div>
      <div class="tile"><span class="label">latency p50</span><span class="value" id="t-p50">&#8211;</span></div>
      <div class="tile"><span class="label">latency p95</span><span class="value" id="t-p95">&#8211;</span></div>
      <div class="tile"><span class="label">5xx answers/s</span><span class="value" id="t-eps">&#8211;</span></div>
      <div class="tile"><span class="label">bundles/s</span><span class="value" id="t-bps">&#8211;</span></div>
      <div class="tile"><span class="label">rows/s push / pull / snapshot</span><span class="value" id="t-rows">&#8211;</span></div>
      <div class="tile"><span class="label">open watch streams</span><span class="value" id="t-watch">&#8211;</span></div>
      <div class="tile"><span class="label">operations in flight</span><span class="value" id="t-inflight">&#8211;</span></div>
      <div class="tile"><span class="label">bundles committed</span><span class="value" id="t-bundles">&#8211;</span></div>
      <div class="tile"><span class="label">requests</span><span class="value" id="t-requests">&#8211;</span></div>
      <div class="tile"><span class="label">push conflicts</span><span class="value" id="t-conflicts">&#8211;</span></div>
      <div class="tile"><span class="label">snapshot sessions</span><span class="value" id="t-snapshots">&#8211;</span></div>
    </div>
  </section>
  <section class="charts">
    <figure><figcaption>Requests per second<span class="key s-a"></span>all<span class="key s-b"></span>5xx</figcaption>
      <svg id="chart-requests" viewBox="0 0 480 150" role="img" aria-label="requests per second"></svg></figure>
    <figure><figcaption>Latency<span class="key s-c"></span>p50<span class="key s-a"></span>p95</figcaption>
      <svg id="chart-latency" viewBox="0 0 480 150" role="img" aria-label="latency"></svg></figure>
    <figure><figcaption>Bundles committed per second<span class="key s-a"></span>bundles</figcaption>
      <svg id="chart-bundles" viewBox="0 0 480 150" role="img" aria-label="bundles per second"></svg></figure>
  </section>
  <section>
    <h2>Users and devices</h2>
    <table id="scopes">
      <thead><tr><th>scope / device</th><th>users</th><th>last seen</th><th>state</th>
        <th class="num" title="a scope's latest bundle_seq; a device's latest committed source_bundle_id">bundle</th>
        <th class="num" title="retained bundle floor">floor</th><th>last commit</th>
        <th class="num" title="open watch streams">watch</th><th class="num" title="open snapshot sessions">snapshots</th></tr></thead>
    </table>
  </section>
  <section>
    <h2>Endpoints (rates and latencies over the last 10 s)</h2>
    <table>
      <thead><tr><th>endpoint</th><th class="num">req/s</th><th class="num">p50 ms</th><th class="num">p95 ms</th>
        <th class="num">requests</th><th class="num">5xx</th></tr></thead>
      <tbody id="endpoints"></tbody>
    </table>
  </section>
  <section>
    <h2>Watch subscribers <span id="watch-total"></span></h2>
    <table>
      <thead><tr><th>scope</th><th class="num">streams</th></tr></thead>
      <tbody id="watch"></tbody>
    </table>
  </section>
  <section>
    <h2>Latest errors</h2>
    <table>
      <thead><tr><th>when</th><th>level</th><th>message</th><th>details</th></tr></thead>
      <tbody id="errors"></tbody>
    </table>
  </section>
</main>
<footer id="limits"></footer>
`;

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>oversync dashboard</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body data-state="loading">
${BODY}
<script>${SCRIPT}</script>
</body>
</html>
`;

function sha256(text: string): string {
  return `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

/** Only this page's script and style, requests to its own origin, no framing, no form posts. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** The page, with headers that keep it out of caches and frames. */
export function dashboardPageResponse(): Response {
  return new Response(HTML, {
    status: 200,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": CONTENT_SECURITY_POLICY,
      "x-frame-options": "DENY",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    },
  });
}
