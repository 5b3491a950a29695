// Building the page: element and SVG helpers, state badges, formatting, tables and server-paged lists.
import { api } from './api.js';

export const COLORS = ['#0b57d0', '#cf222e', '#1a7f37', '#8250df', '#bf8700', '#0a7e8c', '#d63384', '#57606a', '#fb8500', '#2f4858'];
export const DASHES = ['', '6 3', '2 3', '8 3 2 3', '1 2', '10 4', '4 4', '12 2', '3 6', '6 1'];
export const ICONS = { SUCCEEDED: '✔', FAILED: '✖', RUNNING: '⟳', PENDING: '◷', SKIPPED: '⤼', CACHED: '☁', CANCELED: '■', CANCELING: '■', ENABLED: '●', DISABLED: '○' };
export const TERMINAL = ['SUCCEEDED', 'FAILED', 'CANCELED', 'SKIPPED'];

export function h(tag, attrs, ...kids) {
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
export function svg(tag, attrs, ...kids) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v); else el.setAttribute(k, v);
  }
  for (const kid of kids.flat(Infinity)) if (kid !== null && kid !== undefined) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return el;
}

export function status(state) {
  const s = state || 'PENDING';
  return h('span', { class: 'status s-' + s }, h('span', { 'aria-hidden': 'true' }, ICONS[s] || '?'), s.charAt(0) + s.slice(1).toLowerCase());
}
export function when(t) { return t ? new Date(t).toLocaleString() : '–'; }
export function duration(a, b) {
  if (!a) return '–';
  const ms = (b ? new Date(b) : new Date()) - new Date(a);
  if (ms < 1000) return ms + ' ms';
  const s = Math.round(ms / 100) / 10;
  return s < 120 ? s + ' s' : Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
}
export function fmt(v) { return typeof v === 'string' ? v : JSON.stringify(v); }
export function num(v) { return Number.isInteger(v) ? String(v) : Number(v).toPrecision(6).replace(/\.?0+$/, ''); }
export function errorBox(e) { return h('p', { class: 'error', role: 'alert' }, String(e.message || e)); }
export function table(headers, rows, attrs) {
  return h('div', { class: 'scroll' }, h('table', attrs || {}, h('thead', {}, h('tr', {}, headers.map(x => h('th', { scope: 'col' }, x)))), h('tbody', {}, rows)));
}
export function fill(el, ...kids) { el.replaceChildren(...kids.flat(Infinity).filter(k => k !== null && k !== undefined && k !== false).map(k => k instanceof Node ? k : document.createTextNode(String(k)))); return el; }
export function main(...kids) { return fill(document.getElementById('main'), ...kids); }
export function filterJson(preds) { return encodeURIComponent(JSON.stringify({ predicates: preds })); }

// A list paged on the server: each page's keyset token is remembered for Previous, an optional
// name filter box restarts from the first page, and an answer that arrives after a newer request
// (the filter changed meanwhile) is dropped. `url(filter)` is the request without its token,
// `rows(answer)` the items, `render(items, reload, filter)` the node shown (may be async).
export function pagedList({ url, rows, render, noun, counted = true, filterLabel, filterPlaceholder }) {
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
