// Recurring runs: the list and one recurring run.
import { API, PAPI, api, every, post } from '../api.js';
import { filterJson, fmt, h, main, pagedList, status, table, when } from '../dom.js';
import { route } from '../main.js';
import { runsTable } from './runs.js';

// ---- recurring runs ---------------------------------------------------------------------------------

export function triggerWords(t) {
  if (!t) return '–';
  if (t.periodic_schedule) return `every ${t.periodic_schedule.interval_second} s`;
  if (t.cron_schedule) return `cron "${t.cron_schedule.cron}" (${t.cron_schedule.time_zone || 'UTC'})`;
  return '–';
}
export function recurringTable(list, reload) {
  if (!list.length) return h('p', { class: 'muted' }, 'No recurring runs.');
  return table(['Name', 'Status', 'Trigger', 'Created', ''], list.map(r => h('tr', { 'data-recurring': r.recurring_run_id },
    h('td', {}, h('a', { href: '#/recurringrun/details/' + r.recurring_run_id }, r.display_name)), h('td', {}, status(r.status)), h('td', {}, triggerWords(r.trigger)), h('td', {}, when(r.created_at)),
    h('td', {}, h('button', { 'aria-label': (r.status === 'ENABLED' ? 'Disable ' : 'Enable ') + r.display_name, onclick: async () => { await post(`${API}/recurringruns/${r.recurring_run_id}:${r.status === 'ENABLED' ? 'disable' : 'enable'}`); reload ? reload() : route(); } }, r.status === 'ENABLED' ? 'Disable' : 'Enable')))));
}
export async function recurringRunsPage() {
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
export async function recurringRunPage(id) {
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
