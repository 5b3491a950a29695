// The form that starts a run or creates a recurring run.
import { API, PAPI, api, post } from '../api.js';
import { errorBox, fill, filterJson, h, main } from '../dom.js';
import { specOf } from '../spec.js';

// ---- creating runs ---------------------------------------------------------------------------------

export function paramInput(name, def, value) {
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
export function readParams(box) {
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
export async function serverChoice({ id, searchLabel, list, one, key, selected, leading }) {
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

export async function newRunPage(q) {
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
