/**
 * The trace pages, plain HTML with a little CSS and script, served by the gateway (no build step, no
 * external resources). Data is embedded as JSON (with `<` escaped) and drawn with `textContent`, so
 * nothing from a trace is ever interpreted as markup. The script runs under a per-response nonce.
 */
import type { Trace, TraceSummary } from './trace.js';

/** JSON safe to embed in a `<script type="application/json">` element. */
function embed(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The Content-Security-Policy of a page with this nonce. */
export function pageCsp(nonce: string): string {
  return `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`;
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d2330;background:#fff}
h1{font-size:1.2rem;margin:0 0 .5rem}
.meta{color:#555;margin-bottom:1rem}
.meta span{margin-right:1.2rem}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #e3e6ec;white-space:nowrap}
a{color:#1452c4}
.wf{position:relative;border:1px solid #d6dae2;border-radius:4px}
.row{display:flex;align-items:center;height:24px;border-bottom:1px solid #f0f2f5;cursor:pointer}
.row:hover,.row.selected{background:#eef3fc}
.label{width:300px;flex:none;padding:0 .5rem;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;font-size:12px}
.track{position:relative;flex:1;height:100%;margin-right:8px}
.bar{position:absolute;top:5px;height:14px;border-radius:2px;min-width:2px}
.bar.ok{background:#2f9e44}.bar.retried{background:#f08c00}.bar.error{background:#e03131}.bar.cancelled{background:#adb5bd}
.bar.cache{background:#1c7ed6;height:8px;top:8px}
.axis{display:flex;height:18px;font-size:11px;color:#666;border-bottom:1px solid #d6dae2}
.axis .track{position:relative}
.tick{position:absolute;top:2px;transform:translateX(-50%);white-space:nowrap}
.tick.first{transform:none}.tick.last{transform:translateX(-100%)}
.legend span{display:inline-block;margin-right:1rem;font-size:12px}
.legend i.bar{position:static;display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px;vertical-align:middle}
#details{margin-top:1rem;padding:.75rem;border:1px solid #d6dae2;border-radius:4px;background:#f8f9fb;min-height:3rem}
#details pre{white-space:pre-wrap;word-break:break-all;margin:0;font-size:12px}
.err{color:#c92a2a}
`;

const WATERFALL_SCRIPT = `
(function () {
  var t = JSON.parse(document.getElementById('trace-data').textContent);
  var wf = document.getElementById('waterfall');
  var details = document.getElementById('details');
  var total = Math.max(t.durationMs, 0.001);
  function pct(ms) { return Math.min(100, Math.max(0, (ms / total) * 100)); }
  var rows = [];
  t.calls.forEach(function (c, i) { rows.push({ kind: 'call', at: c.offsetMs, c: c, i: i }); });
  t.cache.forEach(function (c, i) { rows.push({ kind: 'cache', at: c.offsetMs, c: c, i: i }); });
  rows.sort(function (a, b) { return a.at - b.at || (a.kind === b.kind ? a.i - b.i : a.kind === 'call' ? -1 : 1); });
  var axis = document.createElement('div');
  axis.className = 'axis';
  var axisLabel = document.createElement('div');
  axisLabel.className = 'label';
  axisLabel.textContent = 'ms from the request start';
  var axisTrack = document.createElement('div');
  axisTrack.className = 'track';
  [0, 0.25, 0.5, 0.75, 1].forEach(function (f, k) {
    var tick = document.createElement('span');
    tick.className = 'tick' + (k === 0 ? ' first' : k === 4 ? ' last' : '');
    tick.style.left = f * 100 + '%';
    tick.textContent = (Math.round(total * f * 10) / 10) + ' ms';
    axisTrack.appendChild(tick);
  });
  axis.appendChild(axisLabel);
  axis.appendChild(axisTrack);
  wf.appendChild(axis);
  function show(row, el) {
    Array.prototype.forEach.call(wf.querySelectorAll('.row.selected'), function (r) { r.classList.remove('selected'); });
    el.classList.add('selected');
    details.textContent = '';
    var h = document.createElement('h2');
    h.style.fontSize = '1rem';
    h.textContent = row.kind === 'call' ? row.c.method + ' ' + row.c.upstream + '.' + row.c.endpoint : 'cache ' + row.c.status + ' ' + row.c.upstream + '.' + row.c.endpoint;
    var pre = document.createElement('pre');
    pre.textContent = JSON.stringify(row.c, null, 2);
    details.appendChild(h);
    details.appendChild(pre);
  }
  rows.forEach(function (row) {
    var c = row.c;
    var el = document.createElement('div');
    el.className = 'row ' + row.kind;
    el.setAttribute('role', 'button');
    el.tabIndex = 0;
    var label = document.createElement('div');
    label.className = 'label';
    var bar = document.createElement('div');
    if (row.kind === 'call') {
      label.textContent = c.upstream + '.' + c.endpoint + ' #' + c.attempt + (c.hedge ? ' (hedge)' : '') + ' ' + (c.status || c.error || '');
      bar.className = 'bar call ' + c.outcome;
      bar.style.width = Math.max(pct(c.durationMs), 0.2) + '%';
      bar.title = c.method + ' ' + c.path + ' ' + c.durationMs + ' ms';
    } else {
      label.textContent = c.upstream + '.' + c.endpoint + ' cache ' + c.status + ' (' + c.keys + ')';
      bar.className = 'bar cache ' + c.status;
      bar.style.width = '0.6%';
      bar.title = 'cache ' + c.status + ' from ' + c.store;
    }
    bar.style.left = pct(c.offsetMs) + '%';
    bar.dataset.offset = String(c.offsetMs);
    var track = document.createElement('div');
    track.className = 'track';
    track.appendChild(bar);
    el.appendChild(label);
    el.appendChild(track);
    el.addEventListener('click', function () { show(row, el); });
    el.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') show(row, el); });
    wf.appendChild(el);
  });
  if (rows.length === 0) {
    var none = document.createElement('p');
    none.textContent = 'No upstream calls: everything came from the cache or needed none.';
    wf.appendChild(none);
  }
})();
`;

function page(title: string, nonce: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style nonce="${nonce}">${STYLE}</style></head>
<body>${body}</body></html>`;
}

/** `GET /traces/{id}` for a browser: the waterfall of one request. */
export function waterfallPage(t: Trace, nonce: string): string {
  const meta = [
    ['operation', `${t.operationType ?? ''} ${t.operationName ?? '(anonymous)'}`],
    ['request id', t.requestId],
    ['trace id', t.traceId],
    ['start', t.start],
    ['duration', `${t.durationMs} ms`],
    ['status', String(t.status)],
    ['calls', String(t.calls.length)],
    ['user', t.userId ?? '-'],
    ['client', t.client ?? '-'],
  ]
    .map(([k, v]) => `<span>${escapeHtml(k!)}: <b>${escapeHtml(v!)}</b></span>`)
    .join('');
  const errors = t.errors.length
    ? `<ul class="err">${t.errors.map((e) => `<li>${escapeHtml(e.code ?? '')} ${escapeHtml(e.message)} ${escapeHtml((e.path ?? []).join('.'))}</li>`).join('')}</ul>`
    : '';
  const legend = ['ok', 'retried', 'error', 'cancelled']
    .map((k) => `<span><i class="bar ${k}"></i>${k}</span>`)
    .join('') + '<span><i class="bar cache"></i>cache hit / stale / coalesced</span>';
  return page(
    `Trace ${t.requestId}`,
    nonce,
    `<p><a href="/traces">All traces</a></p>
<h1>Trace of ${escapeHtml(t.operationName ?? 'an anonymous operation')}</h1>
<div class="meta">${meta}</div>${errors}
<div class="legend">${legend}</div>
<div id="waterfall" class="wf"></div>
<div id="details">Click a call to see its details.</div>
<script id="trace-data" type="application/json">${embed(t)}</script>
<script nonce="${nonce}">${WATERFALL_SCRIPT}</script>`,
  );
}

/** `GET /traces` for a browser: the newest traces, each linking to its waterfall. */
export function listPage(traces: readonly TraceSummary[], nonce: string): string {
  const rows = traces
    .map(
      (t) => `<tr><td><a href="/traces/${encodeURIComponent(t.requestId)}">${escapeHtml(t.requestId)}</a></td><td>${escapeHtml(t.operationName ?? '(anonymous)')}</td><td>${escapeHtml(t.operationType ?? '')}</td><td>${escapeHtml(t.start)}</td><td>${t.durationMs}</td><td>${t.status}</td><td class="${t.outcome === 'error' ? 'err' : ''}">${t.outcome}</td><td>${t.calls}</td><td>${t.failedCalls}</td><td>${t.errors}</td></tr>`,
    )
    .join('\n');
  return page(
    'Traces',
    nonce,
    `<h1>Traces (newest first)</h1>
<form method="get" action="/traces"><label>operation <input name="operation"></label> <label>status <select name="status"><option value="">any</option><option>ok</option><option>error</option></select></label> <label>min ms <input name="minDurationMs" size="5"></label> <button>Filter</button></form>
<table id="traces"><thead><tr><th>request id</th><th>operation</th><th>type</th><th>start</th><th>ms</th><th>HTTP</th><th>outcome</th><th>calls</th><th>failed</th><th>errors</th></tr></thead>
<tbody>${rows}</tbody></table>`,
  );
}
