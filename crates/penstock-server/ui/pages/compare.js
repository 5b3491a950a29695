// Comparing runs side by side.
import { PAPI, api } from '../api.js';
import { confusionMatrix, lineChart, rocSeries } from '../charts.js';
import { duration, fmt, h, main, num, status, table, when } from '../dom.js';

// ---- comparing runs ----------------------------------------------------------------------------------

export async function comparePage(ids) {
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
