// The experiments list and one experiment.
import { API, PAPI, api, every, post } from '../api.js';
import { ICONS, errorBox, filterJson, h, main, pagedList, table } from '../dom.js';
import { route } from '../main.js';
import { recurringTable } from './recurring.js';
import { runsTable } from './runs.js';

// ---- experiments -------------------------------------------------------------------------------

export async function experimentsPage() {
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

export async function experimentPage(id) {
  const e = await api(`${API}/experiments/${id}`);
  const rr = await api(`${API}/recurringruns?experiment_id=${id}&page_size=100`);
  main(h('h1', {}, 'Experiment: ', e.display_name), h('p', {}, e.description || h('span', { class: 'muted' }, 'No description.')),
    h('div', { class: 'toolbar' }, h('a', { class: 'button', href: '#/runs/new?experiment=' + id }, 'Create run'),
      h('button', { onclick: async () => { await post(`${API}/experiments/${id}:${e.storage_state === 'ARCHIVED' ? 'unarchive' : 'archive'}`); route(); } }, e.storage_state === 'ARCHIVED' ? 'Restore' : 'Archive')),
    h('h2', {}, 'Recurring runs'), recurringTable(rr.recurringRuns || []), h('h2', {}, 'Runs'), runsTable({ experimentId: id }));
}
