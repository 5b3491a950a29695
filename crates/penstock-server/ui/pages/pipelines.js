// The pipelines list and one pipeline (version, graph, YAML).
import { API, api } from '../api.js';
import { errorBox, fill, filterJson, h, main, pagedList, table, when } from '../dom.js';
import { graphView, specGraphTree } from '../graph.js';
import { toYaml } from '../spec.js';

// ---- pipelines ------------------------------------------------------------------------------------

export async function pipelinesPage() {
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

export async function pipelinePage(pid, vid) {
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
