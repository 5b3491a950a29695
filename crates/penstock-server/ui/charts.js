// Charts (learning curves, ROC, confusion matrices) and artifact views.
import { PAPI } from './api.js';
import { COLORS, DASHES, errorBox, fill, fmt, h, num, svg, table } from './dom.js';

// ---- charts ------------------------------------------------------------------------------------

export function lineChart(title, series, xLabel) {
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

export function confusionMatrix(meta) {
  const cm = meta.confusionMatrix || (meta.confusion_matrix) || {};
  const labels = (cm.annotationSpecs || []).map(a => a.displayName);
  const rows = (cm.rows || []).map(r => r.row || []);
  if (!labels.length) return null;
  const max = Math.max(1, ...rows.flat());
  return table(['actual \\ predicted', ...labels], rows.map((r, i) => h('tr', {}, h('th', { scope: 'row' }, labels[i]),
    r.map(v => h('td', { style: `background:rgba(11,87,208,${(v / max * 0.6).toFixed(2)})` }, v)))), { class: 'cm', 'aria-label': 'Confusion matrix' });
}

export function rocSeries(meta, label) {
  const pts = (meta.confidenceMetrics || []).filter(p => p.falsePositiveRate !== undefined).map(p => ({ x: p.falsePositiveRate, y: p.recall }));
  pts.sort((a, b) => a.x - b.x);
  return pts.length ? { label, points: pts } : null;
}

// ---- KFP v1 output viewers (mlpipeline-ui-metadata) ----------------------------------------------
// The server reads the metadata (visualizations endpoint); everything it returns is untrusted: text
// goes into text nodes, HTML only into sandboxed frames (srcdoc, never same-origin).

const TENSORBOARD_NOTE = 'Penstock does not host TensorBoard. Open these logs with your own TensorBoard: ';

export function v1Viewer(v) {
  const box = h('section', { class: 'viewer', 'data-viewer': v.type, 'aria-label': 'Viewer: ' + v.type });
  if (v.type === 'markdown') box.append(h('iframe', { class: 'html', sandbox: '', srcdoc: v.html, title: 'Markdown' }));
  // A web app's own scripts do not run: the frame inherits the page's CSP (script-src 'self').
  else if (v.type === 'web-app') box.append(h('iframe', { class: 'html', sandbox: '', srcdoc: v.html, title: 'Web app' }));
  else if (v.type === 'table') {
    box.append(table(v.header || [], (v.rows || []).map(r => h('tr', {}, r.map(c => h('td', {}, c)))), { 'aria-label': 'Table' }));
    if (v.truncated) box.append(h('p', { class: 'muted' }, 'Only the first rows are shown.'));
  } else if (v.type === 'confusion_matrix') {
    const cm = confusionMatrix({ confusionMatrix: { annotationSpecs: (v.labels || []).map(l => ({ displayName: l })), rows: (v.matrix || []).map(r => ({ row: r })) } });
    if (cm) box.append(cm);
  } else if (v.type === 'roc') {
    const pts = (v.points || []).map(p => ({ x: p.fpr, y: p.tpr })).sort((a, b) => a.x - b.x);
    box.append(lineChart('ROC curve', [{ label: 'ROC', points: pts }], 'false positive rate'));
  } else if (v.type === 'tensorboard') {
    const src = String(v.source || '');
    const link = /^https?:\/\//.test(src) ? h('a', { href: src, rel: 'noopener noreferrer', target: '_blank' }, src) : h('code', {}, src);
    box.append(h('p', { class: 'tensorboard' }, h('strong', {}, 'TensorBoard logs: '), link, h('br'), h('span', { class: 'muted' }, TENSORBOARD_NOTE, h('code', {}, 'tensorboard --logdir ' + src))));
  } else box.append(h('p', { class: 'muted', role: 'note' }, 'Not shown: ', String(v.message || v.type)));
  return box;
}

async function v1Viewers(runId, taskId) {
  const r = await fetch(`${PAPI}/runs/${runId}/tasks/${encodeURIComponent(taskId)}/visualizations`);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.message || r.statusText);
  return h('div', { class: 'viewers' }, (body.visualizations || []).map(v1Viewer));
}

export async function artifactView(runId, taskId, name, a) {
  const url = `${PAPI}/runs/${runId}/tasks/${taskId}/artifacts/${encodeURIComponent(name)}`;
  const box = h('div', {}, h('p', {}, h('strong', {}, name), ' ', h('span', { class: 'muted' }, a.schema_title), ' · ', h('a', { href: url, download: name }, 'download'), h('br'), h('code', { class: 'muted' }, a.uri)));
  const meta = a.metadata || {};
  const shownMeta = Object.entries(meta).filter(([k]) => k !== 'display_name');
  if (shownMeta.length && !['system.Metrics', 'system.ClassificationMetrics'].includes(a.schema_title)) {
    box.append(h('details', { class: 'metadata', open: true }, h('summary', {}, 'Metadata'),
      table(['Key', 'Value'], shownMeta.map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, fmt(v)))), { 'aria-label': 'Metadata of ' + name })));
  }
  if (name === 'mlpipeline-ui-metadata') {
    try { box.append(await v1Viewers(runId, taskId)); } catch (e) { box.append(errorBox(e)); }
  } else if (a.schema_title === 'system.Metrics') {
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
