// Talking to the server: the API base paths, fetch helpers, page timers and log streams, and
// the sign-in form (servers started with --auth tokens).
import { errorBox, fill, h, main } from './dom.js';
import { route } from './main.js';

export const BASE = location.pathname.replace(/\/(index\.html)?$/, '');
export const API = BASE + '/apis/v2beta1';
export const PAPI = BASE + '/apis/penstock/v1';
export const timers = [];
export const streams = [];
export function every(ms, fn) { timers.push(setInterval(fn, ms)); }
export function stopAll() { timers.splice(0).forEach(clearInterval); streams.splice(0).forEach(s => s.abort()); }

export async function api(path, opts = {}) {
  const r = await fetch(path, Object.assign({ headers: { 'content-type': 'application/json' } }, opts));
  if (r.status === 401 && !path.endsWith('/session')) { signInPage(); throw new Error('Sign in to continue.'); }
  const text = await r.text();
  let body = {};
  try { body = text ? JSON.parse(text) : {}; } catch (e) { body = { message: text }; }
  if (!r.ok) throw new Error(body.message || body.error_message || (r.status + ' ' + r.statusText));
  return body;
}
export const post = (path, body) => api(path, { method: 'POST', body: JSON.stringify(body || {}) });
// ---- sign-in (servers started with --auth tokens) ------------------------------------------------------------
// The token goes to the server once; it answers with an HttpOnly, SameSite=Strict cookie that
// the page's own requests carry, so scripts never hold it afterwards.

export function signInPage() {
  stopAll();
  const input = h('input', { id: 'signin-token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const form = h('form', { class: 'signin', 'aria-label': 'Sign in' },
    h('label', { for: 'signin-token' }, 'API token'), input, h('button', { type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    form.querySelectorAll('.error').forEach(e => e.remove());
    try { await post(PAPI + '/session', { token: input.value.trim() }); input.value = ''; await showUser(); route(); } catch (e) { form.append(errorBox(e)); }
  });
  main(h('h1', {}, 'Sign in'), h('p', {}, 'This Penstock server needs an API token. An administrator creates one with ',
    h('code', {}, 'penstock tokens create --name NAME'), '.'), form);
  input.focus();
}

export async function showUser() {
  const slot = document.getElementById('who');
  if (!slot) return;
  try {
    const who = await api(PAPI + '/session');
    if (who.auth === 'none') { fill(slot); return; }
    const out = h('button', { type: 'button', class: 'link' }, 'Sign out');
    out.addEventListener('click', async () => { await api(PAPI + '/session', { method: 'DELETE' }); fill(slot); signInPage(); });
    fill(slot, h('span', { class: 'muted' }, 'Signed in as ', h('strong', {}, who.name),
      who.namespaces ? ' (' + who.namespaces.join(', ') + ')' : ''), ' ', who.auth === 'tokens' ? out : null);
  } catch (e) { fill(slot); }
}
