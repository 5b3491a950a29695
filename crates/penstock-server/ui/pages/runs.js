// The runs list (also embedded in an experiment's page).
import { API, PAPI, api, every, post } from '../api.js';
import { duration, fill, filterJson, h, main, num, pagedList, status, table, when } from '../dom.js';

// ---- runs ------------------------------------------------------------------------------------

// Experiment names by id, fetched for the ids a page shows that are not known yet (one request).
export const experimentNameCache = {};
export async function experimentNames(ids) {
  const missing = [...new Set(ids)].filter(id => id && !(id in experimentNameCache)).slice(0, 200);
  if (missing.length) {
    const list = await api(`${API}/experiments?page_size=200&filter=${filterJson([{ key: 'experiment_id', operation: 'IN', string_values: { values: missing } }])}`);
    for (const id of missing) experimentNameCache[id] = id; // deleted ones show their id
    for (const e of list.experiments || []) experimentNameCache[e.experiment_id] = e.display_name;
  }
  return experimentNameCache;
}

export const versionNameCache = {};
// "pipeline · version" for each referenced version (cached; deleted ones show their ids).
export async function versionNames(refs) {
  await Promise.all(refs.filter(r => r && r.pipeline_version_id && !(r.pipeline_version_id in versionNameCache)).map(async r => {
    versionNameCache[r.pipeline_version_id] = r.pipeline_version_id.slice(0, 8);
    try {
      const [p, v] = await Promise.all([api(`${API}/pipelines/${r.pipeline_id}`), api(`${API}/pipelines/${r.pipeline_id}/versions/${r.pipeline_version_id}`)]);
      versionNameCache[r.pipeline_version_id] = `${p.display_name} · ${v.display_name}`;
    } catch (e) { /* deleted: keep the id */ }
  }));
  return versionNameCache;
}

export function runsTable(scope) {
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

export function runsPage() {
  main(h('h1', {}, 'Runs'), h('div', { class: 'toolbar' }, h('a', { class: 'button', href: '#/runs/new' }, 'Create run')), runsTable({}));
}
