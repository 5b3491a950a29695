// Penstock web UI: a small single-page app over the server's own REST API (KFP v2beta1 plus
// /apis/penstock/v1). The entry module: hash routes (Kubeflow's, so links printed by kfp.Client
// work) to the page modules under pages/.
import { showUser, stopAll } from './api.js';
import { errorBox, h, main } from './dom.js';
import { artifactPage, artifactsPage } from './pages/artifacts.js';
import { comparePage } from './pages/compare.js';
import { newRunPage } from './pages/create-run.js';
import { experimentPage, experimentsPage } from './pages/experiments.js';
import { pipelinePage, pipelinesPage } from './pages/pipelines.js';
import { recurringRunPage, recurringRunsPage } from './pages/recurring.js';
import { runPage } from './pages/run.js';
import { runsPage } from './pages/runs.js';

// ---- routing ------------------------------------------------------------------------------

const ROUTES = [
  [/^\/?$/, () => runsPage()],
  [/^\/runs$/, () => runsPage()],
  [/^\/runs\/new$/, (m, q) => newRunPage(q)],
  [/^\/runs\/details\/([^/]+)$/, m => runPage(m[1])],
  [/^\/experiments$/, () => experimentsPage()],
  [/^\/experiments\/details\/([^/]+)$/, m => experimentPage(m[1])],
  [/^\/pipelines$/, () => pipelinesPage()],
  [/^\/pipelines\/details\/([^/]+)(?:\/version\/([^/]+))?$/, m => pipelinePage(m[1], m[2])],
  [/^\/recurringruns$/, () => recurringRunsPage()],
  [/^\/recurringrun\/details\/([^/]+)$/, m => recurringRunPage(m[1])],
  [/^\/compare$/, (m, q) => comparePage((q.get('runlist') || '').split(',').filter(Boolean))],
  [/^\/artifacts$/, () => artifactsPage()],
  [/^\/artifacts\/([^/]+)$/, m => artifactPage(m[1])],
];

export function route() {
  stopAll();
  const hash = location.hash.replace(/^#/, '') || '/runs';
  const [path, query] = hash.split('?');
  const q = new URLSearchParams(query || '');
  const section = path.split('/')[1] || 'runs';
  document.querySelectorAll('[data-nav]').forEach(a => {
    const on = a.dataset.nav === section || (section === 'recurringrun' && a.dataset.nav === 'recurringruns') || (section === 'compare' && a.dataset.nav === 'runs');
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
  for (const [re, page] of ROUTES) {
    const m = path.match(re);
    if (m) { Promise.resolve(page(m, q)).catch(e => main(h('h1', {}, 'Error'), errorBox(e))); document.getElementById('main').focus({ preventScroll: true }); return; }
  }
  main(h('h1', {}, 'Not found'), h('p', {}, 'No page at ', h('code', {}, hash), '. ', h('a', { href: '#/runs' }, 'Go to runs')));
}
window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', () => { showUser(); route(); });
