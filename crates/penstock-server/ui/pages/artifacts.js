// The artifacts list and one artifact with its lineage.
import { PAPI, api } from '../api.js';
import { artifactView } from '../charts.js';
import { fill, h, main, pagedList, table, when } from '../dom.js';
import { graph } from '../graph.js';

// ---- artifacts ---------------------------------------------------------------------------------------------

export const ARTIFACT_TYPES = ['system.Artifact', 'system.Dataset', 'system.Model', 'system.Metrics', 'system.ClassificationMetrics',
  'system.SlicedClassificationMetrics', 'system.HTML', 'system.Markdown'];

export function artifactsPage() {
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

export async function artifactPage(id) {
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
