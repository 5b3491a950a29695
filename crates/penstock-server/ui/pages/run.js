// One run: graph, task panel (inputs/outputs, details, logs), config and tracking.
import { API, PAPI, api, every, post, streams } from '../api.js';
import { artifactView, lineChart } from '../charts.js';
import { ICONS, TERMINAL, duration, errorBox, fill, fmt, h, main, num, status, table, when } from '../dom.js';
import { graphView, runGraphTree } from '../graph.js';
import { experimentNames } from './runs.js';

// ---- one run -------------------------------------------------------------------------------------

export async function runPage(id) {
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
    // Nothing to draw again when the run and its tasks are as they were (a cheap signature: the
    // run's state and each task's state).
    const tasks = (run.run_details && run.run_details.task_details) || [];
    const sig = [run.state, run.storage_state, run.finished_at, run.error && run.error.message, tasks.length].join('|') + '|' + tasks.map(t => t.task_id + ':' + ((t.penstock || {}).state || t.state || '')).join(',');
    if (view.run && sig === view.sig) return view.run;
    view.sig = sig;
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
  function stopStreams() { streams.splice(0).forEach(c => c.abort()); view.logFor = null; }
  await refresh();
  // Polled every 1.5 s, less often for big runs (a 1,000-iteration run's JSON is 7.5 MB): the pause
  // grows with the number of tasks, up to 10 s, and a request never overlaps the previous one.
  every(1500, async () => {
    if (view.run && TERMINAL.includes(view.run.state) && view.ended) return;
    if (view.busy || Date.now() < (view.next || 0)) return;
    view.busy = true;
    const r = await refresh().catch(() => null);
    view.busy = false;
    const n = ((view.run && view.run.run_details && view.run.run_details.task_details) || []).length;
    view.next = Date.now() + Math.min(10000, 1500 * Math.max(1, n / 200)) - 200;
    if (r && TERMINAL.includes(r.state)) view.ended = true;
  });
}
