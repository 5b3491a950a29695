// Penstock web UI: a small single-page app over the server's own REST API (KFP v2beta1 plus
// /apis/penstock/v1). Hash routes match Kubeflow's, so links printed by kfp.Client work.
'use strict';

const BASE = location.pathname.replace(/\/(index\.html)?$/, '');
const API = BASE + '/apis/v2beta1';
const PAPI = BASE + '/apis/penstock/v1';
const COLORS = ['#0b57d0', '#cf222e', '#1a7f37', '#8250df', '#bf8700', '#0a7e8c', '#d63384', '#57606a', '#fb8500', '#2f4858'];
const DASHES = ['', '6 3', '2 3', '8 3 2 3', '1 2', '10 4', '4 4', '12 2', '3 6', '6 1'];
const ICONS = { SUCCEEDED: '✔', FAILED: '✖', RUNNING: '⟳', PENDING: '◷', SKIPPED: '⤼', CACHED: '☁', CANCELED: '■', CANCELING: '■', ENABLED: '●', DISABLED: '○' };
const TERMINAL = ['SUCCEEDED', 'FAILED', 'CANCELED', 'SKIPPED'];

let timers = [];
let streams = [];
function every(ms, fn) { timers.push(setInterval(fn, ms)); }
function stopAll() { timers.forEach(clearInterval); timers = []; streams.forEach(s => s.abort()); streams = []; }

async function api(path, opts = {}) {
  const r = await fetch(path, Object.assign({ headers: { 'content-type': 'application/json' } }, opts));
  if (r.status === 401 && !path.endsWith('/session')) { signInPage(); throw new Error('Sign in to continue.'); }
  const text = await r.text();
  let body = {};
  try { body = text ? JSON.parse(text) : {}; } catch (e) { body = { message: text }; }
  if (!r.ok) throw new Error(body.message || body.error_message || (r.status + ' ' + r.statusText));
  return body;
}
const post = (path, body) => api(path, { method: 'POST', body: JSON.stringify(body || {}) });

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
function svg(tag, attrs, ...kids) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v); else el.setAttribute(k, v);
  }
  for (const kid of kids.flat(Infinity)) if (kid !== null && kid !== undefined) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return el;
}

function status(state) {
  const s = state || 'PENDING';
  return h('span', { class: 'status s-' + s }, h('span', { 'aria-hidden': 'true' }, ICONS[s] || '?'), s.charAt(0) + s.slice(1).toLowerCase());
}
function when(t) { return t ? new Date(t).toLocaleString() : '–'; }
function duration(a, b) {
  if (!a) return '–';
  const ms = (b ? new Date(b) : new Date()) - new Date(a);
  if (ms < 1000) return ms + ' ms';
  const s = Math.round(ms / 100) / 10;
  return s < 120 ? s + ' s' : Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
}
function fmt(v) { return typeof v === 'string' ? v : JSON.stringify(v); }
function num(v) { return Number.isInteger(v) ? String(v) : Number(v).toPrecision(6).replace(/\.?0+$/, ''); }
function errorBox(e) { return h('p', { class: 'error', role: 'alert' }, String(e.message || e)); }
function table(headers, rows, attrs) {
  return h('div', { class: 'scroll' }, h('table', attrs || {}, h('thead', {}, h('tr', {}, headers.map(x => h('th', { scope: 'col' }, x)))), h('tbody', {}, rows)));
}
function fill(el, ...kids) { el.replaceChildren(...kids.flat(Infinity).filter(k => k !== null && k !== undefined && k !== false).map(k => k instanceof Node ? k : document.createTextNode(String(k)))); return el; }
function main(...kids) { return fill(document.getElementById('main'), ...kids); }
function filterJson(preds) { return encodeURIComponent(JSON.stringify({ predicates: preds })); }

// A list paged on the server: each page's keyset token is remembered for Previous, an optional
// name filter box restarts from the first page, and an answer that arrives after a newer request
// (the filter changed meanwhile) is dropped. `url(filter)` is the request without its token,
// `rows(answer)` the items, `render(items, reload, filter)` the node shown (may be async).
function pagedList({ url, rows, render, noun, counted = true, filterLabel, filterPlaceholder }) {
  const state = { tokens: [''], page: 0, filter: '' };
  const body = h('div'), pager = h('div', { class: 'toolbar' });
  const filter = filterLabel ? h('input', { type: 'search', placeholder: filterPlaceholder || 'Filter by name', 'aria-label': filterLabel }) : null;
  let seq = 0;
  async function load() {
    const mine = ++seq;
    try {
      let u = url(state.filter);
      if (state.tokens[state.page]) u += '&page_token=' + encodeURIComponent(state.tokens[state.page]);
      const answer = await api(u);
      const node = await render(rows(answer), load, state.filter);
      if (mine !== seq) return;
      state.tokens[state.page + 1] = answer.next_page_token || '';
      fill(body, node);
      const total = answer.total_size || 0; // an empty count is left out of the answer
      fill(pager, h('span', { class: 'muted' }, (counted ? `${total} ${total === 1 ? noun.replace(/s$/, '') : noun} · ` : '') + `page ${state.page + 1}`),
        h('button', { disabled: state.page === 0, onclick: () => { state.page--; load(); } }, 'Previous'),
        h('button', { disabled: !answer.next_page_token, onclick: () => { state.page++; load(); } }, 'Next'));
    } catch (e) { if (mine === seq) fill(body, errorBox(e)); }
  }
  function restart() { state.tokens = ['']; state.page = 0; load(); }
  if (filter) filter.addEventListener('input', () => { state.filter = filter.value; restart(); });
  return { filter, body, pager, load, restart };
}

// ---- sign-in (servers started with --auth tokens) ------------------------------------------------------------
// The token goes to the server once; it answers with an HttpOnly, SameSite=Strict cookie that
// the page's own requests carry, so scripts never hold it afterwards.

function signInPage() {
  stopAll();
  const input = h('input', { id: 'signin-token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const form = h('form', { class: 'signin', 'aria-label': 'Sign in' },
    h('label', { for: 'signin-token' }, 'API token'), input, h('button', { type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    form.querySelectorAll('.error').forEach(e => e.remove());
    try { await post(PAPI + '/session', { token: input.value.trim() }); input.value = ''; await showUser(); route(); } catch (e) { form.append(errorBox(e)); }
  });
  main(h('h1', {}, 'Sign in'), h('p', {}, 'This Penstock server needs an API token. An administrator creates one with ',
    h('code', {}, 'penstock tokens create --name NAME'), '.'), form);
  input.focus();
}

async function showUser() {
  const slot = document.getElementById('who');
  if (!slot) return;
  try {
    const who = await api(PAPI + '/session');
    if (who.auth === 'none') { fill(slot); return; }
    const out = h('button', { type: 'button', class: 'link' }, 'Sign out');
    out.addEventListener('click', async () => { await api(PAPI + '/session', { method: 'DELETE' }); fill(slot); signInPage(); });
    fill(slot, h('span', { class: 'muted' }, 'Signed in as ', h('strong', {}, who.name),
      who.namespaces ? ' (' + who.namespaces.join(', ') + ')' : ''), ' ', who.auth === 'tokens' ? out : null);
  } catch (e) { fill(slot); }
}

// ---- routing ------------------------------------------------------------------------------

const ROUTES = [
  [/^\/?$/, () => runsPage()],
  [/^\/runs$/, () => runsPage()],
  [/^\/runs\/new$/, (m, q) => newRunPage(q)],
  [/^\/runs\/details\/([^/]+)$/, m => runPage(m[1])],
  [/^\/experiments$/, () => experimentsPage()],
  [/^\/experiments\/details\/([^/]+)$/, m => experimentPage(m[1])],
  [/^\/pipelines$/, () => pipelinesPage()],
  [/^\/pipelines\/details\/([^/]+)(?:\/version\/([^/]+))?$/, m => pipelinePage(m[1], m[2])],
  [/^\/recurringruns$/, () => recurringRunsPage()],
  [/^\/recurringrun\/details\/([^/]+)$/, m => recurringRunPage(m[1])],
  [/^\/compare$/, (m, q) => comparePage((q.get('runlist') || '').split(',').filter(Boolean))],
  [/^\/artifacts$/, () => artifactsPage()],
  [/^\/artifacts\/([^/]+)$/, m => artifactPage(m[1])],
];

function route() {
  stopAll();
  const hash = location.hash.replace(/^#/, '') || '/runs';
  const [path, query] = hash.split('?');
  const q = new URLSearchParams(query || '');
  const section = path.split('/')[1] || 'runs';
  document.querySelectorAll('[data-nav]').forEach(a => {
    const on = a.dataset.nav === section || (section === 'recurringrun' && a.dataset.nav === 'recurringruns') || (section === 'compare' && a.dataset.nav === 'runs');
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
  for (const [re, page] of ROUTES) {
    const m = path.match(re);
    if (m) { Promise.resolve(page(m, q)).catch(e => main(h('h1', {}, 'Error'), errorBox(e))); document.getElementById('main').focus({ preventScroll: true }); return; }
  }
  main(h('h1', {}, 'Not found'), h('p', {}, 'No page at ', h('code', {}, hash), '. ', h('a', { href: '#/runs' }, 'Go to runs')));
}
window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', () => { showUser(); route(); });

// ---- runs ------------------------------------------------------------------------------------

// Experiment names by id, fetched for the ids a page shows that are not known yet (one request).
const experimentNameCache = {};
async function experimentNames(ids) {
  const missing = [...new Set(ids)].filter(id => id && !(id in experimentNameCache)).slice(0, 200);
  if (missing.length) {
    const list = await api(`${API}/experiments?page_size=200&filter=${filterJson([{ key: 'experiment_id', operation: 'IN', string_values: { values: missing } }])}`);
    for (const id of missing) experimentNameCache[id] = id; // deleted ones show their id
    for (const e of list.experiments || []) experimentNameCache[e.experiment_id] = e.display_name;
  }
  return experimentNameCache;
}

const versionNameCache = {};
// "pipeline · version" for each referenced version (cached; deleted ones show their ids).
async function versionNames(refs) {
  await Promise.all(refs.filter(r => r && r.pipeline_version_id && !(r.pipeline_version_id in versionNameCache)).map(async r => {
    versionNameCache[r.pipeline_version_id] = r.pipeline_version_id.slice(0, 8);
    try {
      const [p, v] = await Promise.all([api(`${API}/pipelines/${r.pipeline_id}`), api(`${API}/pipelines/${r.pipeline_id}/versions/${r.pipeline_version_id}`)]);
      versionNameCache[r.pipeline_version_id] = `${p.display_name} · ${v.display_name}`;
    } catch (e) { /* deleted: keep the id */ }
  }));
  return versionNameCache;
}

function runsTable(scope) {
  const box = h('section', { 'aria-label': 'Runs' });
  const state = { archived: false, selected: new Set(), sort: 'created_at desc', metrics: [] };
  const BASE_SORTS = [['created_at desc', 'Newest first'], ['created_at', 'Oldest first'], ['name', 'Name A–Z'], ['name desc', 'Name Z–A'], ['finished_at desc', 'Recently finished']];
  const sortSel = h('select', { 'aria-label': 'Sort runs' });
  function sortOptions() {
    const opts = BASE_SORTS.concat(state.metrics.flatMap(m => [[`metric:${m} desc`, `${m} (highest first)`], [`metric:${m}`, `${m} (lowest first)`]]));
    fill(sortSel, opts.map(([v, l]) => h('option', { value: v, selected: v === state.sort }, l)));
  }
  sortOptions();
  const metricNames = h('datalist', { id: 'metric-names' });
  api(PAPI + '/scalar-names').then(r => fill(metricNames, r.names.map(n => h('option', { value: n })))).catch(() => {});
  const metricInput = h('input', { list: 'metric-names', placeholder: 'Metric columns, e.g. accuracy, loss', 'aria-label': 'Metric columns' });
  const archivedBox = h('input', { type: 'checkbox', id: 'show-archived' });
  const compare = h('button', { disabled: true, onclick: () => { location.hash = '#/compare?runlist=' + [...state.selected].join(','); } }, 'Compare runs');
  const archive = h('button', { disabled: true, onclick: async () => { for (const id of state.selected) await post(`${API}/runs/${id}:${state.archived ? 'unarchive' : 'archive'}`); state.selected.clear(); list.load(); } }, 'Archive');
  const del = h('button', { disabled: true, onclick: async () => { if (!confirm('Delete the selected runs and their artifacts?')) return; for (const id of state.selected) await api(`${API}/runs/${id}`, { method: 'DELETE' }); state.selected.clear(); list.load(); } }, 'Delete');
  function updateButtons() {
    const n = state.selected.size;
    compare.disabled = n < 2 || n > 10;
    archive.disabled = n === 0; archive.textContent = state.archived ? 'Restore' : 'Archive';
    del.disabled = n === 0;
  }
  function url(filter) {
    const preds = [{ key: 'storage_state', operation: 'EQUALS', string_value: state.archived ? 'ARCHIVED' : 'AVAILABLE' }];
    if (filter) preds.push({ key: 'name', operation: 'IS_SUBSTRING', string_value: filter });
    if (scope.recurringRunId) preds.push({ key: 'recurring_run_id', operation: 'EQUALS', string_value: scope.recurringRunId });
    return `${API}/runs?page_size=20&sort_by=${encodeURIComponent(state.sort)}&filter=${filterJson(preds)}` + (scope.experimentId ? '&experiment_id=' + scope.experimentId : '');
  }
  async function render(runs) {
    const names = await experimentNames(runs.map(r => r.experiment_id));
    const versions = await versionNames(runs.map(r => r.pipeline_version_reference));
    const values = {};
    if (state.metrics.length && runs.length) {
      const sc = await api(`${PAPI}/scalars?run_ids=${runs.map(r => r.run_id).join(',')}`);
      for (const x of sc.scalars) { const k = x.run_id + '\u0000' + x.name; values[k] = k in values ? Math.max(values[k], x.value) : x.value; }
    }
    updateButtons();
    return runs.length ? table(['', 'Run name', 'Status', 'Duration', 'Experiment', 'Pipeline version', 'Start time', ...state.metrics], runs.map(r => {
      const box = h('input', { type: 'checkbox', 'aria-label': 'Select ' + r.display_name, checked: state.selected.has(r.run_id) });
      box.addEventListener('change', () => { box.checked ? state.selected.add(r.run_id) : state.selected.delete(r.run_id); updateButtons(); });
      const ref = r.pipeline_version_reference;
      return h('tr', { 'data-run': r.run_id }, h('td', {}, box), h('td', {}, h('a', { href: '#/runs/details/' + r.run_id }, r.display_name)), h('td', {}, status(r.state)),
        h('td', {}, duration(r.created_at, r.finished_at)), h('td', {}, r.experiment_id ? h('a', { href: '#/experiments/details/' + r.experiment_id }, names[r.experiment_id] || r.experiment_id) : '–'),
        h('td', {}, ref ? h('a', { href: `#/pipelines/details/${ref.pipeline_id}/version/${ref.pipeline_version_id}` }, versions[ref.pipeline_version_id] || ref.pipeline_version_id) : h('span', { class: 'muted' }, 'inline spec')), h('td', {}, when(r.created_at)),
        state.metrics.map(m => { const v = values[r.run_id + '\u0000' + m]; return h('td', { 'data-metric': m }, v === undefined ? '–' : num(v)); }));
    }), { 'aria-label': 'Runs' }) : h('p', { class: 'muted' }, 'No runs.');
  }
  const list = pagedList({ noun: 'runs', filterLabel: 'Filter runs by name', url, rows: answer => answer.runs || [], render });
  sortSel.addEventListener('change', () => { state.sort = sortSel.value; list.restart(); });
  archivedBox.addEventListener('change', () => { state.archived = archivedBox.checked; list.restart(); });
  metricInput.addEventListener('change', () => {
    state.metrics = metricInput.value.split(',').map(x => x.trim()).filter(Boolean);
    const sortGone = state.sort.startsWith('metric:') && !state.metrics.includes(state.sort.slice(7).replace(/ desc$/, ''));
    if (sortGone) state.sort = 'created_at desc';
    sortOptions();
    // Page tokens belong to their sort: a changed sort starts again from the first page.
    sortGone ? list.restart() : list.load();
  });
  box.append(h('div', { class: 'toolbar' }, list.filter, sortSel, metricInput, metricNames, h('label', { for: 'show-archived', style: 'display:inline;font-weight:400' }, archivedBox, ' Archived'), compare, archive, del), list.body, list.pager);
  list.load();
  every(3000, list.load);
  return box;
}

function runsPage() {
  main(h('h1', {}, 'Runs'), h('div', { class: 'toolbar' }, h('a', { class: 'button', href: '#/runs/new' }, 'Create run')), runsTable({}));
}

// ---- pipeline graphs ---------------------------------------------------------------------------

function specOf(run) {
  const s = run.pipeline_spec || {};
  return s.pipeline_spec || s;
}
function dagAt(spec, parentPath) {
  let dag = (spec.root || {}).dag || { tasks: {} };
  if (!parentPath) return dag;
  for (const seg of parentPath.split('/')) {
    const base = seg.replace(/\[\d+\]$/, '');
    const t = (dag.tasks || {})[base];
    if (!t) return { tasks: {} };
    const comp = (spec.components || {})[t.componentRef.name] || {};
    dag = comp.dag || { tasks: {} };
  }
  return dag;
}
function depsOf(taskSpec) {
  const deps = new Set(taskSpec.dependentTasks || []);
  const inputs = taskSpec.inputs || {};
  for (const p of Object.values(inputs.parameters || {})) if (p.taskOutputParameter) deps.add(p.taskOutputParameter.producerTask);
  for (const a of Object.values(inputs.artifacts || {})) if (a.taskOutputArtifact) deps.add(a.taskOutputArtifact.producerTask);
  return [...deps];
}

// The graph itself (layout, drawing, collapsing, zoom) is in graph.js.

// What a spec task is, in a few words: a loop, a condition, a nested pipeline, or the image its
// container runs.
function specTaskKind(spec, t) {
  const comp = (spec.components || {})[(t.componentRef || {}).name] || {};
  if (t.parameterIterator || t.artifactIterator) return 'loop';
  if (t.triggerPolicy && t.triggerPolicy.condition) return 'condition';
  if (comp.dag) return (t.componentRef.name || '').startsWith('comp-exit-handler') ? 'exit handler' : 'pipeline';
  const exec = (((spec.deploymentSpec || {}).executors || {})[comp.executorLabel]) || {};
  if (exec.importer) return 'importer';
  if (exec.container) return exec.container.image || 'container';
  return 'task';
}

// A JSON value as YAML (block style), for showing specs the way the SDK writes them.
function toYaml(v, indent = '') {
  const scalar = x => {
    if (x === null) return 'null';
    if (typeof x !== 'string') return String(x);
    return /^[A-Za-z0-9_./@-][A-Za-z0-9_ ./@()=-]*$/.test(x) && !/^(true|false|null|yes|no|on|off|~|[-+]?[0-9.]+(e[-+]?[0-9]+)?)$/i.test(x) && !x.endsWith(' ') ? x : JSON.stringify(x);
  };
  const isScalar = x => x === null || typeof x !== 'object' || (Array.isArray(x) ? x.length === 0 : Object.keys(x).length === 0);
  const inline = x => Array.isArray(x) ? '[]' : (x !== null && typeof x === 'object' ? '{}' : scalar(x));
  if (isScalar(v)) return inline(v) + '\n';
  let out = '';
  if (Array.isArray(v)) {
    for (const item of v) out += isScalar(item) ? `${indent}- ${inline(item)}\n` : `${indent}-\n${toYaml(item, indent + '  ')}`;
  } else {
    for (const [k, item] of Object.entries(v)) out += isScalar(item) ? `${indent}${scalar(k)}: ${inline(item)}\n` : `${indent}${scalar(k)}:\n${toYaml(item, indent + '  ')}`;
  }
  return out;
}

// ---- charts ------------------------------------------------------------------------------------

function lineChart(title, series, xLabel) {
  const W = 520, H = 220, L = 56, R = 12, T = 24, B = 32;
  const pts = series.flatMap(s => s.points);
  if (!pts.length) return h('p', { class: 'muted' }, 'No points for ' + title);
  let [x0, x1] = [Math.min(...pts.map(p => p.x)), Math.max(...pts.map(p => p.x))];
  let [y0, y1] = [Math.min(...pts.map(p => p.y)), Math.max(...pts.map(p => p.y))];
  if (x0 === x1) x1 = x0 + 1; if (y0 === y1) y1 = y0 + 1;
  const X = x => L + (x - x0) / (x1 - x0) * (W - L - R), Y = y => H - B - (y - y0) / (y1 - y0) * (H - T - B);
  const chart = svg('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title },
    svg('text', { x: L, y: 14, style: 'font-weight:600;fill:#1f2328' }, title),
    svg('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#d1d9e0' }), svg('line', { x1: L, y1: T, x2: L, y2: H - B, stroke: '#d1d9e0' }),
    svg('text', { x: L - 4, y: Y(y1) + 4, 'text-anchor': 'end' }, num(y1)), svg('text', { x: L - 4, y: Y(y0), 'text-anchor': 'end' }, num(y0)),
    svg('text', { x: L, y: H - 12 }, num(x0)), svg('text', { x: W - R, y: H - 12, 'text-anchor': 'end' }, num(x1)),
    svg('text', { x: (L + W) / 2, y: H - 4, 'text-anchor': 'middle' }, xLabel || 'step'));
  series.forEach((s, i) => {
    const d = s.points.map((p, j) => (j ? 'L' : 'M') + X(p.x).toFixed(1) + ',' + Y(p.y).toFixed(1)).join(' ');
    chart.append(svg('path', { d, fill: 'none', stroke: COLORS[i % 10], 'stroke-width': 2, 'stroke-dasharray': DASHES[i % 10], 'data-series': s.label }));
    for (const p of s.points) chart.append(svg('circle', { cx: X(p.x), cy: Y(p.y), r: 2.5, fill: COLORS[i % 10] }, svg('title', {}, `${s.label}: ${num(p.y)} at ${num(p.x)}`)));
  });
  const legend = h('div', { class: 'legend' }, series.map((s, i) => h('span', {},
    svg('svg', { width: 26, height: 10, 'aria-hidden': 'true' }, svg('line', { x1: 0, y1: 5, x2: 26, y2: 5, stroke: COLORS[i % 10], 'stroke-width': 2, 'stroke-dasharray': DASHES[i % 10] })),
    ' ', s.label, s.points.length ? ` (last ${num(s.points[s.points.length - 1].y)})` : '')));
  return h('figure', { class: 'figure' }, chart, legend);
}

function confusionMatrix(meta) {
  const cm = meta.confusionMatrix || (meta.confusion_matrix) || {};
  const labels = (cm.annotationSpecs || []).map(a => a.displayName);
  const rows = (cm.rows || []).map(r => r.row || []);
  if (!labels.length) return null;
  const max = Math.max(1, ...rows.flat());
  return table(['actual \\ predicted', ...labels], rows.map((r, i) => h('tr', {}, h('th', { scope: 'row' }, labels[i]),
    r.map(v => h('td', { style: `background:rgba(11,87,208,${(v / max * 0.6).toFixed(2)})` }, v)))), { class: 'cm', 'aria-label': 'Confusion matrix' });
}

function rocSeries(meta, label) {
  const pts = (meta.confidenceMetrics || []).filter(p => p.falsePositiveRate !== undefined).map(p => ({ x: p.falsePositiveRate, y: p.recall }));
  pts.sort((a, b) => a.x - b.x);
  return pts.length ? { label, points: pts } : null;
}

async function artifactView(runId, taskId, name, a) {
  const url = `${PAPI}/runs/${runId}/tasks/${taskId}/artifacts/${encodeURIComponent(name)}`;
  const box = h('div', {}, h('p', {}, h('strong', {}, name), ' ', h('span', { class: 'muted' }, a.schema_title), ' · ', h('a', { href: url, download: name }, 'download'), h('br'), h('code', { class: 'muted' }, a.uri)));
  const meta = a.metadata || {};
  const shownMeta = Object.entries(meta).filter(([k]) => k !== 'display_name');
  if (shownMeta.length && !['system.Metrics', 'system.ClassificationMetrics'].includes(a.schema_title)) {
    box.append(h('details', { class: 'metadata', open: true }, h('summary', {}, 'Metadata'),
      table(['Key', 'Value'], shownMeta.map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, fmt(v)))), { 'aria-label': 'Metadata of ' + name })));
  }
  if (a.schema_title === 'system.Metrics') {
    box.append(table(['Metric', 'Value'], Object.entries(meta).filter(([k]) => k !== 'display_name').map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, fmt(v))))));
  } else if (a.schema_title === 'system.ClassificationMetrics') {
    const cm = confusionMatrix(meta); if (cm) box.append(cm);
    const roc = rocSeries(meta, name); if (roc) box.append(lineChart('ROC curve', [roc], 'false positive rate'));
  } else if (a.schema_title === 'system.HTML') {
    box.append(h('iframe', { class: 'html', sandbox: '', src: url, title: name }));
  } else if (a.schema_title === 'system.Markdown') {
    box.append(h('iframe', { class: 'html', sandbox: '', src: url + '?format=html', title: name }));
  } else if (!a.uri.includes('://') || a.uri.startsWith('file://')) {
    try {
      const r = await fetch(url);
      const type = r.headers.get('content-type') || '';
      if (type.includes('json') && a.schema_title !== 'system.Markdown') {
        const j = await r.json();
        if (j.files) box.append(h('p', {}, 'Folder: ', j.files.map(f => h('a', { href: url + '?file=' + encodeURIComponent(f) }, f + ' '))));
        else box.append(h('pre', { class: 'code' }, JSON.stringify(j, null, 2).slice(0, 2000)));
      } else {
        const text = (await r.text()).slice(0, 4000);
        if (a.schema_title === 'system.Dataset' && text.includes(',')) {
          const lines = text.split('\n').filter(Boolean).slice(0, 11).map(l => l.split(','));
          box.append(table(lines[0], lines.slice(1).map(c => h('tr', {}, c.map(x => h('td', {}, x))))));
        } else box.append(h('pre', { class: 'code' }, text));
      }
    } catch (e) { box.append(errorBox(e)); }
  }
  return box;
}

// ---- one run -------------------------------------------------------------------------------------

async function runPage(id) {
  const view = { selected: null, tab: 'io', run: null, logFor: null };
  const head = h('div'), graphBox = h('div'), panel = h('aside', { class: 'panel', 'aria-label': 'Task' }, h('p', { class: 'muted' }, 'Select a task in the graph.'));
  const details = h('section'), tracking = h('section', { 'aria-label': 'Tracking' });
  main(head, h('div', { class: 'cols' }, graphBox, panel), details, tracking);
  view.gv = graphView({ label: 'Run graph', onSelect: sel => { view.selected = sel; view.tab = view.tab || 'io'; stopStreams(); renderPanel(); } });
  async function act(verb) {
    try { if (verb === 'delete') { await api(`${API}/runs/${id}`, { method: 'DELETE' }); location.hash = '#/runs'; return; } await post(`${API}/runs/${id}:${verb}`); await refresh(); } catch (e) { head.append(errorBox(e)); }
  }
  function renderPanel() {
    const t = (view.run.run_details.task_details || []).find(x => x.task_id === view.selected);
    if (!t) return;
    const tabs = [['io', 'Input/Output'], ['details', 'Task details'], ['logs', 'Logs']];
    const body = h('div');
    const children = (view.run.run_details.task_details || []).filter(c => c.parent_task_id === t.task_id);
    const structure = children.length ? h('div', { class: 'toolbar' },
      h('button', { id: 'toggle-children', 'aria-expanded': String(view.gv.isOpen(t.task_id)), onclick: () => { view.gv.toggle(t.task_id); renderPanel(); } },
        view.gv.isOpen(t.task_id) ? 'Collapse' : `Expand (${children.length} inside)`),
      t.penstock.kind === 'loop' && h('select', { 'aria-label': 'Show iteration', onchange: ev => { if (!ev.target.value) return; view.selected = ev.target.value; view.gv.showIteration(t.task_id, ev.target.value); stopStreams(); renderPanel(); } },
        h('option', { value: '' }, 'Show iteration…'), children.map(c => h('option', { value: c.task_id }, c.display_name + ' ' + (ICONS[c.penstock.state] || '') + ' ' + (c.penstock.state || 'pending').toLowerCase())))) : null;
    fill(panel, h('h2', {}, t.display_name, ' ', status(t.penstock.state)), structure,
      h('div', { class: 'tabs', role: 'tablist' }, tabs.map(([k, label]) => h('button', { role: 'tab', 'aria-selected': String(view.tab === k), onclick: () => { view.tab = k; view.logFor = null; renderPanel(); } }, label))), body);
    if (view.tab === 'io') {
      for (const [side, io] of [['Inputs', t.penstock.inputs], ['Outputs', t.penstock.outputs]]) {
        body.append(h('h3', {}, side));
        const params = Object.entries(io.parameters || {});
        body.append(params.length ? table(['Parameter', 'Value'], params.map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, fmt(v))))) : h('p', { class: 'muted' }, 'No parameters.'));
        for (const [name, list] of Object.entries(io.artifacts || {})) for (const a of list) {
          const holder = h('div'); body.append(holder);
          const owner = side === 'Outputs' ? t.task_id : null;
          if (owner) artifactView(id, owner, name, a).then(v => fill(holder, v));
          else {
            holder.append(h('p', {}, h('strong', {}, name), ' ', h('span', { class: 'muted' }, a.schema_title), h('br'), h('code', { class: 'muted' }, a.uri)));
            const meta = Object.entries(a.metadata || {}).filter(([k]) => k !== 'display_name');
            if (meta.length) holder.append(table(['Key', 'Value'], meta.map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, fmt(v)))), { 'aria-label': 'Metadata of ' + name }));
          }
        }
      }
    } else if (view.tab === 'details') {
      const p = t.penstock;
      body.append(h('dl', { class: 'kv' }, h('dt', {}, 'Task ID'), h('dd', {}, t.task_id), h('dt', {}, 'Path'), h('dd', {}, p.path), h('dt', {}, 'Kind'), h('dd', {}, p.kind),
        h('dt', {}, 'Status'), h('dd', {}, status(p.state)), h('dt', {}, 'Created'), h('dd', {}, when(t.create_time)), h('dt', {}, 'Started'), h('dd', {}, when(t.start_time)),
        h('dt', {}, 'Finished'), h('dd', {}, when(t.end_time)), h('dt', {}, 'Duration'), h('dd', {}, duration(t.start_time, t.end_time)), h('dt', {}, 'Attempts'), h('dd', {}, p.attempts),
        h('dt', {}, 'Cache'), h('dd', {}, p.cache ? (p.cache.hit ? 'hit: ' : 'miss: ') + p.cache.reason : '–'), h('dt', {}, 'Error'), h('dd', { class: t.error ? 'error' : '' }, t.error ? t.error.message : '–')));
    } else {
      const pre = h('pre', { class: 'log', 'aria-live': 'polite', 'data-log': t.penstock.path }, '');
      body.append(pre);
      const live = !TERMINAL.includes(t.penstock.state) && t.penstock.state !== 'CACHED';
      const ctl = new AbortController(); streams.push(ctl);
      view.logFor = t.task_id;
      fetch(`${PAPI}/runs/${id}/tasks/${t.task_id}/logs${live ? '?follow=true' : ''}`, { signal: ctl.signal }).then(async r => {
        if (!r.ok) { pre.textContent = (await r.json()).message; return; }
        const reader = r.body.getReader(); const dec = new TextDecoder();
        for (;;) { const { value, done } = await reader.read(); if (done) break; pre.textContent += dec.decode(value, { stream: true }); pre.scrollTop = pre.scrollHeight; }
      }).catch(() => {});
    }
  }
  async function renderTracking() {
    try {
      const m = await api(`${PAPI}/runs/${id}/metrics`);
      // The run's parameters (its config) are shown once, in Details above.
      const kids = [h('h2', {}, 'Summary')];
      kids.push(m.scalars.length ? table(['Task', 'Metric', 'Value'], m.scalars.map(s => h('tr', {}, h('td', {}, s.task), h('td', {}, s.name), h('td', {}, num(s.value))))) : h('p', { class: 'muted' }, 'No scalars yet.'));
      if (m.series.length) {
        kids.push(h('h2', {}, 'Curves'));
        kids.push(h('div', { class: 'toolbar' }, m.series.map(s => lineChart(`${s.task} · ${s.name}`, [{ label: s.name, points: s.points.map(p => ({ x: p.step, y: p.value })) }]))));
      }
      fill(tracking, ...kids);
    } catch (e) { fill(tracking, errorBox(e)); }
  }
  async function refresh() {
    const run = await api(`${API}/runs/${id}`);
    if (run.pipeline_version_reference && !run.pipeline_spec) {
      const ref = run.pipeline_version_reference;
      try { run.pipeline_spec = (await api(`${API}/pipelines/${ref.pipeline_id}/versions/${ref.pipeline_version_id}`)).pipeline_spec; } catch (e) { run.pipeline_spec = {}; }
    }
    view.run = run;
    if (!run.run_details) run.run_details = { task_details: [] };
    const s = run.state;
    if (!view.names) view.names = await experimentNames([run.experiment_id]).catch(() => ({}));
    fill(head, h('div', {}, h('h1', {}, status(s), ' ', run.display_name),
      h('p', { class: 'muted' }, 'Experiment: ', run.experiment_id ? h('a', { href: '#/experiments/details/' + run.experiment_id }, view.names[run.experiment_id] || run.experiment_id) : '–'),
      h('div', { class: 'toolbar' },
        ['PENDING', 'RUNNING'].includes(s) && h('button', { onclick: () => act('terminate') }, 'Terminate'),
        s === 'FAILED' && h('button', { class: 'primary', onclick: () => act('retry') }, 'Retry'),
        h('a', { class: 'button', href: '#/runs/new?clone=' + id }, 'Clone run'),
        run.storage_state === 'ARCHIVED' ? h('button', { onclick: () => act('unarchive') }, 'Restore') : h('button', { onclick: () => act('archive') }, 'Archive'),
        h('button', { onclick: () => { if (confirm('Delete this run and its artifacts?')) act('delete'); } }, 'Delete')),
      run.error && h('p', { class: 'error', role: 'status' }, run.error.message)));
    const tree = runGraphTree(run);
    if (tree.children.length) {
      if (graphBox.firstChild !== view.gv.el) fill(graphBox, view.gv.el);
      view.gv.update(tree);
    } else fill(graphBox, h('p', { class: 'muted' }, 'No tasks yet.'));
    const params = Object.entries((run.runtime_config || {}).parameters || {});
    fill(details, h('h2', {}, 'Details'), h('dl', { class: 'kv' }, h('dt', {}, 'Run ID'), h('dd', {}, run.run_id), h('dt', {}, 'Status'), h('dd', {}, status(s)),
      h('dt', {}, 'Created'), h('dd', {}, when(run.created_at)), h('dt', {}, 'Finished'), h('dd', {}, when(run.finished_at)), h('dt', {}, 'Duration'), h('dd', {}, duration(run.created_at, run.finished_at)),
      run.recurring_run_id && [h('dt', {}, 'Recurring run'), h('dd', {}, h('a', { href: '#/recurringrun/details/' + run.recurring_run_id }, run.recurring_run_id)), h('dt', {}, 'Scheduled at'), h('dd', {}, when(run.scheduled_at))]),
      h('h2', {}, 'Run parameters'), params.length ? table(['Parameter', 'Value'], params.map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, fmt(v))))) : h('p', { class: 'muted' }, 'None.'));
    if (view.selected && view.tab !== 'logs') renderPanel();
    renderTracking();
    return run;
  }
  function stopStreams() { streams.forEach(c => c.abort()); streams = []; view.logFor = null; }
  await refresh();
  every(1500, async () => { if (view.run && TERMINAL.includes(view.run.state) && view.ended) return; const r = await refresh().catch(() => null); if (r && TERMINAL.includes(r.state)) view.ended = true; });
}

// ---- experiments -------------------------------------------------------------------------------

async function experimentsPage() {
  const name = h('input', { id: 'exp-name', required: true }), desc = h('input', { id: 'exp-desc' });
  const form = h('form', { class: 'form', 'aria-label': 'Create experiment', onsubmit: async ev => {
    ev.preventDefault();
    try { const e = await post(API + '/experiments', { display_name: name.value, description: desc.value }); location.hash = '#/experiments/details/' + e.experiment_id; } catch (e) { form.append(errorBox(e)); }
  } }, h('label', { for: 'exp-name' }, 'Name'), name, h('label', { for: 'exp-desc' }, 'Description'), desc, h('p', {}, h('button', { class: 'primary' }, 'Create experiment')));
  const list = pagedList({
    noun: 'experiments', filterLabel: 'Filter experiments by name',
    url: f => API + '/experiments?page_size=20&sort_by=created_at%20desc' + (f ? '&filter=' + filterJson([{ key: 'name', operation: 'IS_SUBSTRING', string_value: f }]) : ''),
    rows: answer => answer.experiments || [],
    render: async (exps, reload, f) => {
      if (!exps.length) return h('p', { class: 'muted' }, f ? 'No experiments match.' : 'No experiments.');
      // The recent runs of every experiment on the page in one request (no request per row).
      const recent = (await api(`${PAPI}/recent-runs?per_experiment=5&experiment_ids=${exps.map(e => encodeURIComponent(e.experiment_id)).join(',')}`)).experiments;
      const runsOf = Object.fromEntries(recent.map(x => [x.experiment_id, x.runs]));
      return table(['Experiment', 'Description', 'Recent runs', 'State', ''], exps.map(e => h('tr', { 'data-experiment': e.experiment_id },
        h('td', {}, h('a', { href: '#/experiments/details/' + e.experiment_id }, e.display_name)), h('td', {}, e.description || ''),
        h('td', { class: 'recent-runs' }, (runsOf[e.experiment_id] || []).map(r => { const word = r.state.charAt(0) + r.state.slice(1).toLowerCase();
          // Compact: the state's icon (its shape differs per state), named in full for screen readers and on hover.
          return h('a', { href: '#/runs/details/' + r.run_id, title: `${r.display_name}: ${word}`, 'aria-label': `${r.display_name}: ${word}`, class: 'status s-' + r.state }, ICONS[r.state] || '?'); })),
        h('td', {}, e.storage_state === 'ARCHIVED' ? 'archived' : 'active'),
        h('td', {}, h('button', { onclick: async () => { await post(`${API}/experiments/${e.experiment_id}:${e.storage_state === 'ARCHIVED' ? 'unarchive' : 'archive'}`); reload(); } }, e.storage_state === 'ARCHIVED' ? 'Restore' : 'Archive')))), { 'aria-label': 'Experiments' });
    },
  });
  main(h('h1', {}, 'Experiments'), h('div', { class: 'toolbar' }, list.filter), list.body, list.pager, h('h2', {}, 'New experiment'), form);
  await list.load();
  every(4000, list.load);
}

async function experimentPage(id) {
  const e = await api(`${API}/experiments/${id}`);
  const rr = await api(`${API}/recurringruns?experiment_id=${id}&page_size=100`);
  main(h('h1', {}, 'Experiment: ', e.display_name), h('p', {}, e.description || h('span', { class: 'muted' }, 'No description.')),
    h('div', { class: 'toolbar' }, h('a', { class: 'button', href: '#/runs/new?experiment=' + id }, 'Create run'),
      h('button', { onclick: async () => { await post(`${API}/experiments/${id}:${e.storage_state === 'ARCHIVED' ? 'unarchive' : 'archive'}`); route(); } }, e.storage_state === 'ARCHIVED' ? 'Restore' : 'Archive')),
    h('h2', {}, 'Recurring runs'), recurringTable(rr.recurringRuns || []), h('h2', {}, 'Runs'), runsTable({ experimentId: id }));
}

// ---- pipelines ------------------------------------------------------------------------------------

async function pipelinesPage() {
  const list = pagedList({
    noun: 'pipelines', filterLabel: 'Search pipelines', filterPlaceholder: 'Search pipelines',
    url: f => API + '/pipelines?page_size=20&sort_by=created_at%20desc' + (f ? '&filter=' + filterJson([{ key: 'name', operation: 'IS_SUBSTRING', string_value: f }]) : ''),
    rows: answer => answer.pipelines || [],
    render: (pipelines, reload, f) => pipelines.length ? table(['Pipeline', 'Description', 'Uploaded'], pipelines.map(p => h('tr', { 'data-pipeline': p.pipeline_id },
      h('td', {}, h('a', { href: '#/pipelines/details/' + p.pipeline_id }, p.display_name)), h('td', {}, p.description || ''), h('td', {}, when(p.created_at)))), { 'aria-label': 'Pipelines' })
      : h('p', { class: 'muted' }, f ? 'No pipelines match.' : 'No pipelines.'),
  });
  const file = h('input', { type: 'file', id: 'up-file', accept: '.yaml,.yml,.json', required: true }), pname = h('input', { id: 'up-name' }), pdesc = h('input', { id: 'up-desc' });
  const form = h('form', { class: 'form', 'aria-label': 'Upload pipeline', onsubmit: async ev => {
    ev.preventDefault();
    const fd = new FormData(); fd.append('uploadfile', file.files[0]);
    const q = new URLSearchParams(); if (pname.value) q.set('name', pname.value); if (pdesc.value) q.set('description', pdesc.value);
    try { const p = await api(`${API}/pipelines/upload?${q}`, { method: 'POST', body: fd, headers: {} }); location.hash = '#/pipelines/details/' + p.pipeline_id; } catch (e) { form.append(errorBox(e)); }
  } }, h('label', { for: 'up-file' }, 'Compiled pipeline (YAML or JSON)'), file, h('label', { for: 'up-name' }, 'Name (default: the file name)'), pname, h('label', { for: 'up-desc' }, 'Description'), pdesc, h('p', {}, h('button', { class: 'primary' }, 'Upload pipeline')));
  main(h('h1', {}, 'Pipelines'), h('div', { class: 'toolbar' }, list.filter), list.body, list.pager, h('h2', {}, 'Upload a pipeline'), form);
  await list.load();
}

async function pipelinePage(pid, vid) {
  const p = await api(`${API}/pipelines/${pid}`);
  const versions = (await api(`${API}/pipelines/${pid}/versions?page_size=200&sort_by=created_at%20desc`)).pipeline_versions || [];
  const v = vid ? await api(`${API}/pipelines/${pid}/versions/${vid}`) : versions[0];
  const file = h('input', { type: 'file', id: 'ver-file', accept: '.yaml,.yml,.json', required: true }), vname = h('input', { id: 'ver-name', required: true });
  const form = h('form', { class: 'form', 'aria-label': 'Upload version', onsubmit: async ev => {
    ev.preventDefault();
    const fd = new FormData(); fd.append('uploadfile', file.files[0]);
    try { const nv = await api(`${API}/pipelines/upload_version?pipelineid=${pid}&name=${encodeURIComponent(vname.value)}`, { method: 'POST', body: fd, headers: {} }); location.hash = `#/pipelines/details/${pid}/version/${nv.pipeline_version_id}`; } catch (e) { form.append(errorBox(e)); }
  } }, h('label', { for: 'ver-file' }, 'File'), file, h('label', { for: 'ver-name' }, 'Version name'), vname, h('p', {}, h('button', {}, 'Upload version')));
  const spec = v ? (v.pipeline_spec.pipeline_spec || v.pipeline_spec) : {};
  const tree = specGraphTree(spec);
  const gv = graphView({ label: 'Pipeline graph', onSelect: id => {
    const it = gv.items.get(id);
    fill(picked, it ? [h('strong', {}, it.label), ' · path ', h('code', {}, it.path), it.component ? [' · component ', h('code', {}, it.component)] : null, ' · ', it.sub || ''] : '');
  } });
  const picked = h('p', { class: 'muted', 'aria-live': 'polite', 'data-graph-detail': '' });
  main(h('h1', {}, 'Pipeline: ', p.display_name), h('p', {}, p.description || ''),
    h('div', { class: 'toolbar' }, v && h('a', { class: 'button', href: `#/runs/new?pipeline=${pid}&version=${v.pipeline_version_id}` }, 'Create run'),
      h('label', { for: 'ver-select', style: 'display:inline' }, 'Version '),
      h('select', { id: 'ver-select', onchange: ev => { location.hash = `#/pipelines/details/${pid}/version/${ev.target.value}`; } }, versions.map(x => h('option', { value: x.pipeline_version_id, selected: v && x.pipeline_version_id === v.pipeline_version_id }, x.display_name)))),
    h('h2', {}, 'Graph'), tree.children.length ? [gv.el, picked] : h('p', { class: 'muted' }, 'No tasks.'),
    h('h2', {}, 'Pipeline spec'), h('pre', { class: 'code', 'data-format': 'yaml' }, toYaml(spec)),
    h('h2', {}, 'New version'), form);
  gv.update(tree);
}

// ---- creating runs ---------------------------------------------------------------------------------

function paramInput(name, def, value) {
  const type = def.parameterType;
  const id = 'param-' + name;
  const v = value !== undefined ? value : def.defaultValue;
  let input;
  if (type === 'BOOLEAN') input = h('select', { id, 'data-type': type }, h('option', { value: 'true', selected: v === true }, 'true'), h('option', { value: 'false', selected: v !== true }, 'false'));
  else if (type === 'NUMBER_INTEGER' || type === 'NUMBER_DOUBLE') input = h('input', { id, type: 'number', step: type === 'NUMBER_INTEGER' ? '1' : 'any', value: v === undefined ? '' : v, 'data-type': type });
  else if (type === 'LIST' || type === 'STRUCT') input = h('textarea', { id, rows: 2, 'data-type': type }, v === undefined ? '' : JSON.stringify(v));
  else input = h('input', { id, value: v === undefined ? '' : v, 'data-type': type || 'STRING' });
  return h('div', { class: 'row' }, h('label', { for: id }, name, ' ', h('span', { class: 'muted' }, `(${(type || 'STRING').toLowerCase()}${def.isOptional ? ', optional' : ''})`)), input);
}
function readParams(box) {
  const out = {};
  for (const el of box.querySelectorAll('[data-type]')) {
    const name = el.id.replace(/^param-/, ''), t = el.dataset.type, raw = el.value;
    if (raw === '') continue;
    out[name] = t === 'BOOLEAN' ? raw === 'true' : (t === 'NUMBER_INTEGER' || t === 'NUMBER_DOUBLE') ? Number(raw) : (t === 'LIST' || t === 'STRUCT') ? JSON.parse(raw) : raw;
  }
  return out;
}

// A select whose options come from a server list (newest 50), with a search box beside it that
// asks the server again, so every item stays reachable however long the list. The preselected
// item is fetched by id and always offered. Fires `change` on the select when a search changes
// its value.
async function serverChoice({ id, searchLabel, list, one, key, selected, leading }) {
  const select = h('select', { id });
  const search = h('input', { type: 'search', placeholder: 'Search', 'aria-label': searchLabel, 'aria-controls': id });
  const pinned = selected ? await api(one(selected)).catch(() => null) : null;
  let seq = 0;
  async function refill() {
    const mine = ++seq;
    const items = await list(search.value);
    if (mine !== seq) return;
    const before = select.value, keep = before || (leading ? '' : selected);
    const all = pinned && !items.some(x => x[key] === pinned[key]) ? [pinned, ...items] : items;
    fill(select, leading || null, all.map(x => h('option', { value: x[key], selected: x[key] === keep }, x.display_name)));
    if (select.value !== before && before !== '') select.dispatchEvent(new Event('change'));
  }
  search.addEventListener('input', () => refill().catch(() => {}));
  await refill();
  return { select, search };
}

async function newRunPage(q) {
  const clone = q.get('clone') ? await api(`${API}/runs/${q.get('clone')}`) : null;
  const byName = f => f ? '&filter=' + filterJson([{ key: 'name', operation: 'IS_SUBSTRING', string_value: f }]) : '';
  const cloneRef = clone && clone.pipeline_version_reference;
  const pipelineChoice = await serverChoice({
    id: 'run-pipeline', searchLabel: 'Search pipelines', key: 'pipeline_id',
    list: async f => (await api(`${API}/pipelines?page_size=50&sort_by=created_at%20desc${byName(f)}`)).pipelines || [],
    one: id => `${API}/pipelines/${id}`,
    selected: q.get('pipeline') || (cloneRef && cloneRef.pipeline_id),
    leading: clone && !cloneRef && h('option', { value: '' }, 'the cloned run\'s spec'),
  });
  const experimentChoice = await serverChoice({
    id: 'run-experiment', searchLabel: 'Search experiments', key: 'experiment_id',
    list: async f => (await api(`${API}/experiments?page_size=50&sort_by=created_at%20desc${byName(f)}`)).experiments || [],
    one: id => `${API}/experiments/${id}`,
    selected: q.get('experiment') || (clone && clone.experiment_id),
  });
  const psel = pipelineChoice.select, esel = experimentChoice.select;
  const vsel = h('select', { id: 'run-version' });
  const name = h('input', { id: 'run-name', required: true, value: clone ? 'Clone of ' + clone.display_name : '' });
  const paramsBox = h('fieldset', {}, h('legend', {}, 'Parameters'));
  const kind = h('select', { id: 'run-kind' }, h('option', { value: 'once' }, 'One-off'), h('option', { value: 'recurring' }, 'Recurring'));
  const trig = h('select', { id: 'trigger-kind' }, h('option', { value: 'periodic' }, 'Periodic'), h('option', { value: 'cron' }, 'Cron'));
  const every_ = h('input', { id: 'trigger-every', type: 'number', min: 1, value: 3600 });
  const cron = h('input', { id: 'trigger-cron', value: '0 0 9 * * 1-5' });
  const zone = h('input', { id: 'trigger-zone', value: 'UTC' });
  const conc = h('input', { id: 'trigger-concurrency', type: 'number', min: 1, max: 10, value: 1 });
  const catchup = h('input', { id: 'trigger-catchup', type: 'checkbox', checked: true });
  const preview = h('div', { 'aria-live': 'polite' });
  const recurringBox = h('fieldset', { hidden: true }, h('legend', {}, 'Trigger'), h('label', { for: 'trigger-kind' }, 'Kind'), trig,
    h('label', { for: 'trigger-every' }, 'Every (seconds)'), every_, h('label', { for: 'trigger-cron' }, 'Cron (6 fields, seconds first; or 5)'), cron,
    h('label', { for: 'trigger-zone' }, 'Time zone'), zone, h('label', { for: 'trigger-concurrency' }, 'Maximum concurrent runs'), conc,
    h('label', { for: 'trigger-catchup' }, catchup, ' Catch up missed runs'), preview);
  let spec = clone && !clone.pipeline_version_reference ? specOf(clone) : null;
  function trigger() { return trig.value === 'cron' ? { cron_schedule: { cron: cron.value, time_zone: zone.value || 'UTC' } } : { periodic_schedule: { interval_second: Number(every_.value) } }; }
  async function showPreview() {
    try { const p = await post(PAPI + '/schedule-preview', { trigger: trigger() }); fill(preview, h('p', {}, p.description, ' — next: '), h('ul', {}, p.next.map(t => h('li', {}, new Date(t).toUTCString())))); }
    catch (e) { fill(preview, errorBox(e)); }
  }
  [trig, every_, cron, zone].forEach(el => el.addEventListener('change', showPreview));
  kind.addEventListener('change', () => { recurringBox.hidden = kind.value !== 'recurring'; if (!recurringBox.hidden) showPreview(); });
  async function loadVersions() {
    if (!psel.value) { fill(vsel, ); renderParams(); return; }
    const vs = (await api(`${API}/pipelines/${psel.value}/versions?page_size=200&sort_by=created_at%20desc`)).pipeline_versions || [];
    fill(vsel, vs.map(v => h('option', { value: v.pipeline_version_id, selected: v.pipeline_version_id === q.get('version') }, v.display_name)));
    await loadSpec();
  }
  async function loadSpec() {
    if (psel.value && vsel.value) { const v = await api(`${API}/pipelines/${psel.value}/versions/${vsel.value}`); spec = v.pipeline_spec.pipeline_spec || v.pipeline_spec; }
    renderParams();
  }
  function renderParams() {
    const defs = (((spec || {}).root || {}).inputDefinitions || {}).parameters || {};
    const given = clone ? ((clone.runtime_config || {}).parameters || {}) : {};
    fill(paramsBox, h('legend', {}, 'Parameters'), Object.keys(defs).length ? Object.entries(defs).map(([n, d]) => paramInput(n, d, given[n])) : h('p', { class: 'muted' }, 'This pipeline has no parameters.'));
  }
  psel.addEventListener('change', loadVersions); vsel.addEventListener('change', loadSpec);
  const errors = h('div');
  const form = h('form', { class: 'form', 'aria-label': 'Create run', onsubmit: async ev => {
    ev.preventDefault(); fill(errors, );
    try {
      const source = psel.value ? { pipeline_version_reference: { pipeline_id: psel.value, pipeline_version_id: vsel.value } } : { pipeline_spec: clone.pipeline_spec };
      const body = Object.assign({ display_name: name.value, experiment_id: esel.value, runtime_config: { parameters: readParams(paramsBox) } }, source);
      if (kind.value === 'recurring') {
        const rr = await post(API + '/recurringruns', Object.assign(body, { trigger: trigger(), max_concurrency: Number(conc.value), no_catchup: !catchup.checked, mode: 'ENABLE' }));
        location.hash = '#/recurringrun/details/' + rr.recurring_run_id;
      } else {
        const run = await post(API + '/runs', body);
        location.hash = '#/runs/details/' + run.run_id;
      }
    } catch (e) { fill(errors, errorBox(e)); }
  } }, h('label', { for: 'run-pipeline' }, 'Pipeline'), h('div', { class: 'toolbar' }, psel, pipelineChoice.search), h('label', { for: 'run-version' }, 'Version'), vsel,
    h('label', { for: 'run-experiment' }, 'Experiment'), h('div', { class: 'toolbar' }, esel, experimentChoice.search),
    h('label', { for: 'run-name' }, 'Run name'), name, paramsBox, h('label', { for: 'run-kind' }, 'Run type'), kind, recurringBox, errors, h('p', {}, h('button', { class: 'primary', id: 'start-run' }, 'Start')));
  main(h('h1', {}, clone ? 'Clone run' : 'Create run'), form);
  await loadVersions();
}

// ---- recurring runs ---------------------------------------------------------------------------------

function triggerWords(t) {
  if (!t) return '–';
  if (t.periodic_schedule) return `every ${t.periodic_schedule.interval_second} s`;
  if (t.cron_schedule) return `cron "${t.cron_schedule.cron}" (${t.cron_schedule.time_zone || 'UTC'})`;
  return '–';
}
function recurringTable(list, reload) {
  if (!list.length) return h('p', { class: 'muted' }, 'No recurring runs.');
  return table(['Name', 'Status', 'Trigger', 'Created', ''], list.map(r => h('tr', { 'data-recurring': r.recurring_run_id },
    h('td', {}, h('a', { href: '#/recurringrun/details/' + r.recurring_run_id }, r.display_name)), h('td', {}, status(r.status)), h('td', {}, triggerWords(r.trigger)), h('td', {}, when(r.created_at)),
    h('td', {}, h('button', { 'aria-label': (r.status === 'ENABLED' ? 'Disable ' : 'Enable ') + r.display_name, onclick: async () => { await post(`${API}/recurringruns/${r.recurring_run_id}:${r.status === 'ENABLED' ? 'disable' : 'enable'}`); reload ? reload() : route(); } }, r.status === 'ENABLED' ? 'Disable' : 'Enable')))));
}
async function recurringRunsPage() {
  const list = pagedList({
    noun: 'recurring runs', filterLabel: 'Filter recurring runs by name',
    url: f => API + '/recurringruns?page_size=20&sort_by=created_at%20desc' + (f ? '&filter=' + filterJson([{ key: 'name', operation: 'IS_SUBSTRING', string_value: f }]) : ''),
    rows: answer => answer.recurringRuns || [],
    render: (items, reload) => recurringTable(items, reload),
  });
  main(h('h1', {}, 'Recurring runs'), h('div', { class: 'toolbar' }, h('a', { class: 'button', href: '#/runs/new' }, 'Create recurring run'), list.filter), list.body, list.pager);
  await list.load();
  every(4000, list.load);
}
async function recurringRunPage(id) {
  const r = await api(`${API}/recurringruns/${id}`);
  let preview = null;
  try { preview = await api(`${PAPI}/recurringruns/${id}/schedule`); } catch (e) { preview = null; }
  main(h('h1', {}, 'Recurring run: ', r.display_name, ' ', status(r.status)),
    h('div', { class: 'toolbar' }, h('button', { id: 'toggle-recurring', onclick: async () => { await post(`${API}/recurringruns/${id}:${r.status === 'ENABLED' ? 'disable' : 'enable'}`); route(); } }, r.status === 'ENABLED' ? 'Disable' : 'Enable'),
      h('button', { onclick: async () => { if (confirm('Delete this recurring run? Its runs stay.')) { await api(`${API}/recurringruns/${id}`, { method: 'DELETE' }); location.hash = '#/recurringruns'; } } }, 'Delete')),
    r.error && h('p', { class: 'error', role: 'alert' }, r.error.message),
    h('dl', { class: 'kv' }, h('dt', {}, 'Description'), h('dd', {}, r.description || '–'), h('dt', {}, 'Trigger'), h('dd', {}, triggerWords(r.trigger)),
      h('dt', {}, 'Max concurrent runs'), h('dd', {}, r.max_concurrency), h('dt', {}, 'Catch-up'), h('dd', {}, r.no_catchup ? 'no (only the latest missed run)' : 'yes (every missed run)'),
      h('dt', {}, 'Created'), h('dd', {}, when(r.created_at)), h('dt', {}, 'Experiment'), h('dd', {}, h('a', { href: '#/experiments/details/' + r.experiment_id }, r.experiment_id)),
      h('dt', {}, 'Next runs (UTC)'), h('dd', {}, preview && preview.next.length ? h('ul', {}, preview.next.map(t => h('li', {}, new Date(t).toUTCString()))) : (r.status === 'ENABLED' ? 'none (ended)' : 'disabled'))),
    h('h2', {}, 'Run parameters'), table(['Parameter', 'Value'], Object.entries((r.runtime_config || {}).parameters || {}).map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, fmt(v))))),
    h('h2', {}, 'Its runs'), runsTable({ recurringRunId: id }));
}

// ---- comparing runs ----------------------------------------------------------------------------------

async function comparePage(ids) {
  if (ids.length < 2 || ids.length > 10) { main(h('h1', {}, 'Compare runs'), h('p', {}, 'Select 2 to 10 runs in a runs list to compare them.')); return; }
  const both = (await api(`${PAPI}/compare?run_ids=${ids.map(encodeURIComponent).join(',')}`)).runs;
  const runs = both.map(x => x.run), metrics = both.map(x => x.metrics);
  const head = ['', ...runs.map(r => r.display_name)];
  const keys = [...new Set(metrics.flatMap(m => Object.keys(m.config)))].sort();
  const paramRows = keys.map(k => {
    const vals = metrics.map(m => k in m.config ? fmt(m.config[k]) : '–');
    const differs = vals.some(v => v !== vals[0]);
    return h('tr', { class: differs ? 'diff' : '' }, h('th', { scope: 'row' }, k, differs ? ' ≠' : ''), vals.map(v => h('td', {}, v)));
  });
  const scalarKeys = [...new Set(metrics.flatMap(m => m.scalars.map(s => s.task + '\u0000' + s.name)))].sort();
  const scalarRows = scalarKeys.map(key => {
    const [task, name] = key.split('\u0000');
    const vals = metrics.map(m => { const s = m.scalars.find(x => x.task === task && x.name === name); return s ? num(s.value) : '–'; });
    const differs = vals.some(v => v !== vals[0]);
    return h('tr', { class: differs ? 'diff' : '' }, h('th', { scope: 'row' }, `${task} · ${name}`, differs ? ' ≠' : ''), vals.map(v => h('td', {}, v)));
  });
  const seriesKeys = [...new Set(metrics.flatMap(m => m.series.map(s => s.task + '\u0000' + s.name)))].sort();
  const charts = seriesKeys.map(key => { const [task, name] = key.split('\u0000'); return lineChart(`${task} · ${name}`, metrics.map((m, i) => { const s = m.series.find(x => x.task === task && x.name === name); return s ? { label: runs[i].display_name, points: s.points.map(p => ({ x: p.step, y: p.value })) } : null; }).filter(Boolean)); });
  const cms = [], rocs = [];
  runs.forEach(r => (r.run_details.task_details || []).forEach(t => Object.entries(t.penstock.outputs.artifacts || {}).forEach(([name, list]) => list.forEach(a => {
    if (a.schema_title !== 'system.ClassificationMetrics') return;
    const cm = confusionMatrix(a.metadata || {}); if (cm) cms.push(h('div', {}, h('h3', {}, r.display_name, ' · ', t.display_name), cm));
    const roc = rocSeries(a.metadata || {}, r.display_name + ' · ' + name); if (roc) rocs.push(roc);
  }))));
  main(h('h1', {}, `Compare ${runs.length} runs`),
    h('h2', {}, 'Run overview'), table(['Run', 'Status', 'Duration', 'Created'], runs.map(r => h('tr', {}, h('td', {}, h('a', { href: '#/runs/details/' + r.run_id }, r.display_name)), h('td', {}, status(r.state)), h('td', {}, duration(r.created_at, r.finished_at)), h('td', {}, when(r.created_at))))),
    h('h2', {}, 'Parameters'), h('p', { class: 'muted' }, 'Rows marked ≠ differ between runs.'), table(head, paramRows, { 'aria-label': 'Parameters' }),
    h('h2', {}, 'Scalar metrics'), scalarRows.length ? [h('p', { class: 'muted' }, 'Rows marked ≠ differ between runs.'), table(head, scalarRows, { 'aria-label': 'Scalar metrics' })] : h('p', { class: 'muted' }, 'No scalars.'),
    h('h2', {}, 'Curves'), charts.length ? h('div', { class: 'toolbar' }, charts) : h('p', { class: 'muted' }, 'No logged curves.'),
    cms.length ? [h('h2', {}, 'Confusion matrices'), h('div', { class: 'toolbar' }, cms)] : null,
    rocs.length ? [h('h2', {}, 'ROC curves'), lineChart('ROC', rocs, 'false positive rate')] : null);
}

// ---- artifacts ---------------------------------------------------------------------------------------------

const ARTIFACT_TYPES = ['system.Artifact', 'system.Dataset', 'system.Model', 'system.Metrics', 'system.ClassificationMetrics',
  'system.SlicedClassificationMetrics', 'system.HTML', 'system.Markdown'];

function artifactsPage() {
  const typeSel = h('select', { 'aria-label': 'Artifact type' }, h('option', { value: '' }, 'All types'), ARTIFACT_TYPES.map(t => h('option', { value: t }, t)));
  const list = pagedList({
    noun: 'artifacts', counted: false, filterLabel: 'Filter artifacts by name',
    url: f => `${PAPI}/artifacts?page_size=50` + (typeSel.value ? '&type=' + encodeURIComponent(typeSel.value) : '') + (f ? '&name=' + encodeURIComponent(f) : ''),
    rows: answer => answer.artifacts || [],
    render: (arts, reload, f) => arts.length ? table(['Name', 'Type', 'Run', 'URI', 'Created'], arts.map(a => h('tr', { 'data-artifact': a.artifact_id },
      h('td', {}, h('a', { href: '#/artifacts/' + a.artifact_id }, a.name)), h('td', {}, a.schema_title), h('td', {}, a.run_id ? h('a', { href: '#/runs/details/' + a.run_id }, a.run_id.slice(0, 8)) : '–'),
      h('td', {}, h('code', {}, a.uri)), h('td', {}, when(a.created_at)))), { 'aria-label': 'Artifacts' })
      : h('p', { class: 'muted' }, typeSel.value || f ? 'No artifacts match.' : 'No artifacts yet.'),
  });
  typeSel.addEventListener('change', list.restart);
  main(h('h1', {}, 'Artifacts'), h('div', { class: 'toolbar' }, typeSel, list.filter), list.body, list.pager);
  list.load();
}

async function artifactPage(id) {
  const a = await api(`${PAPI}/artifacts/${id}`);
  const producers = a.events.filter(e => e.role === 'OUTPUT'), consumers = a.events.filter(e => e.role === 'INPUT');
  const nodes = [{ id: 'artifact', path: '1', label: a.artifact.name, kind: a.artifact.schema_title }];
  const edges = [];
  producers.forEach((e, i) => { nodes.push({ id: 'p' + i, path: '0' + i, label: e.task_path + ' (' + e.io_name + ')', kind: 'produced it' }); edges.push({ from: 'p' + i, to: 'artifact' }); });
  consumers.forEach((e, i) => { nodes.push({ id: 'c' + i, path: '2' + i, label: e.task_path + ' (' + e.io_name + ')', kind: 'consumed it' }); edges.push({ from: 'artifact', to: 'c' + i }); });
  const preview = h('div');
  const p = producers[0];
  if (p) artifactView(p.run_id, p.task_id, p.io_name, a.artifact).then(v => fill(preview, v));
  main(h('h1', {}, 'Artifact: ', a.artifact.name), h('dl', { class: 'kv' }, h('dt', {}, 'Type'), h('dd', {}, a.artifact.schema_title), h('dt', {}, 'URI'), h('dd', {}, h('code', {}, a.artifact.uri)),
    h('dt', {}, 'Metadata'), h('dd', {}, h('pre', { class: 'code' }, JSON.stringify(a.artifact.metadata, null, 2)))),
    h('h2', {}, 'Lineage'), graph(nodes, edges), h('ul', {}, a.events.map(e => h('li', {}, e.role === 'OUTPUT' ? 'Produced by ' : 'Consumed by ', h('a', { href: '#/runs/details/' + e.run_id }, e.task_path), ` (${e.io_name}) in run ${e.run_id.slice(0, 8)}`))),
    h('h2', {}, 'Preview'), preview);
}
