// Penstock pipeline graphs: a nested model (tasks, sub-DAGs, loops and their iterations) laid out
// top to bottom with dagre (ui/vendor/dagre.min.js, a classic script that defines the global
// `dagre`), drawn as SVG with collapsible groups, zoom, pan, fit-to-view and a minimap.
import { ICONS, h, svg } from './dom.js';
import { dagAt, depsOf, specOf, specTaskKind } from './spec.js';

export const GRAPH = { W: 210, H: 48, HC: 66, HEAD: 30, PAD: 12, BIG_LOOP: 100, GAP: 24 };
export const SUMMARY_ORDER = ['SUCCEEDED', 'CACHED', 'FAILED', 'RUNNING', 'PENDING', 'SKIPPED', 'CANCELING', 'CANCELED'];
export const INTERNAL_NAME = /^(condition|condition-branches|for-loop|exit-handler)-\d+$/;

export function clip(s, n) { s = String(s); return s.length > n ? s.slice(0, n - 1) + '…' : s; }
export function stateLine(state, kind) { return state ? (ICONS[state] || '') + ' ' + state.toLowerCase() : (kind || ''); }

// A KFP condition (CEL) as the user wrote it: `int(inputs.parameter_values['pipelinechannel--n']) > 5`
// reads `n > 5`.
export function readableCondition(cel) {
  return String(cel || '')
    .replace(/inputs\.parameter_values\[\s*['"](?:pipelinechannel--)?([^'"]+)['"]\s*\]/g, '$1')
    .replace(/\b(?:int|double|string|bool)\(([\w.-]+)\)/g, '$1')
    .replace(/\s+/g, ' ').trim();
}

// What a loop iterates over: `["a", "b", …]` or the parameter's name.
export function loopSource(t) {
  const it = t.parameterIterator || t.artifactIterator || {};
  const items = it.items || {};
  if (items.raw !== undefined) {
    try {
      const v = JSON.parse(items.raw);
      if (Array.isArray(v)) return clip('[' + v.map(x => typeof x === 'string' ? x : JSON.stringify(x)).join(', ') + ']', 40);
    } catch (e) { /* not JSON: show as is */ }
    return clip(String(items.raw), 40);
  }
  const p = items.inputParameter || items.inputArtifact || '';
  return p.replace(/^pipelinechannel--/, '') || 'items';
}

// The label of a spec task: its display name, or for the compiler's own groups what they mean.
export function specLabel(name, t) {
  const shown = ((t || {}).taskInfo || {}).name || name;
  if (!t) return shown;
  const internal = INTERNAL_NAME.test(shown);
  if (t.parameterIterator || t.artifactIterator) return (internal ? '' : shown + ': ') + 'for each in ' + loopSource(t);
  const cond = t.triggerPolicy && t.triggerPolicy.condition;
  if (cond) return (internal ? '' : shown + ': ') + 'if ' + readableCondition(cond);
  if (/^condition-branches-\d+$/.test(shown)) return 'if / elif / else';
  if (/^exit-handler-\d+$/.test(shown)) return 'exit handler scope';
  return shown;
}

export function stateSummary(items) {
  const n = {};
  for (const c of items) { const s = c.state || 'PENDING'; n[s] = (n[s] || 0) + 1; }
  return SUMMARY_ORDER.filter(s => n[s]).map(s => `${n[s]} ${ICONS[s]}`).join(' ');
}

export function finishTree(root, total) {
  // Groups: their summaries and whether they start open. Failed and running parts open; loops with
  // many iterations start closed (their summary says how the iterations went), and in big graphs
  // so do finished groups.
  const big = total > 80;
  (function walk(item) {
    for (const c of item.children) {
      if (!c.children.length) continue;
      c.children.sort((a, b) => (a.order ?? 0) - (b.order ?? 0) || a.path.localeCompare(b.path, undefined, { numeric: true }));
      const noun = c.kind === 'loop' ? (c.children.length === 1 ? 'iteration' : 'iterations') : (c.children.length === 1 ? 'task' : 'tasks');
      c.summary = `${c.children.length} ${noun}` + (c.children.some(x => x.state) ? ' · ' + stateSummary(c.children) : '');
      const troubled = ['FAILED', 'RUNNING'].includes(c.state);
      c.defaultOpen = c.kind === 'loop' && c.children.length > 5 ? false : (troubled || !big || !c.state || !['SUCCEEDED', 'CACHED', 'SKIPPED'].includes(c.state));
      walk(c);
    }
  })(root);
  root.children.sort((a, b) => a.path.localeCompare(b.path, undefined, { numeric: true }));
  return root;
}

// A run's tasks as a tree: every sub-DAG, loop and iteration holds what it ran; edges join
// siblings (data and `.after` dependencies read from the spec).
export function runGraphTree(run) {
  const spec = specOf(run);
  const all = (run.run_details && run.run_details.task_details) || [];
  const root = { id: '', path: '', children: [], edges: [] };
  const items = {};
  for (const t of all) {
    const path = t.penstock.path;
    const cut = path.lastIndexOf('/');
    const parentPath = cut < 0 ? '' : path.slice(0, cut);
    const name = cut < 0 ? path : path.slice(cut + 1);
    const it = { id: t.task_id, path, state: t.penstock.state, kind: t.penstock.kind, children: [], edges: [], name, parentPath, title: `${path} — ${t.penstock.state || 'not started'}` };
    if (t.penstock.kind === 'iteration') {
      const m = name.match(/\[(\d+)\]$/);
      it.order = m ? +m[1] : 0;
      const item = Object.entries((t.penstock.inputs || {}).parameters || {}).find(([k]) => /loop-item/.test(k));
      it.label = `#${it.order}` + (item ? ': ' + clip(typeof item[1] === 'string' ? item[1] : JSON.stringify(item[1]), 24) : '');
    } else {
      it.spec = (dagAt(spec, parentPath).tasks || {})[name];
      it.label = it.spec ? specLabel(name, it.spec) : (t.display_name || name);
      if (t.display_name && it.spec && !INTERNAL_NAME.test(t.display_name) && t.display_name !== ((it.spec.taskInfo || {}).name)) it.label = t.display_name;
    }
    items[t.task_id] = it;
  }
  for (const t of all) (items[t.parent_task_id] || root).children.push(items[t.task_id]);
  (function edges(item) {
    const byName = {};
    for (const c of item.children) byName[c.name] = c;
    for (const c of item.children) {
      if (c.spec) for (const d of depsOf(c.spec)) if (byName[d]) item.edges.push({ from: byName[d].id, to: c.id });
      edges(c);
    }
  })(root);
  return finishTree(root, all.length);
}

// A pipeline spec as the same tree (no states): every DAG's tasks, nested DAGs holding theirs.
export function specGraphTree(spec) {
  const comps = spec.components || {};
  let total = 0;
  function walk(dag, prefix, depth) {
    const tasks = (dag || {}).tasks || {};
    const children = [], edges = [];
    for (const [n, t] of Object.entries(tasks)) {
      total++;
      const id = prefix + n;
      const comp = comps[(t.componentRef || {}).name] || {};
      const inner = comp.dag && depth < 32 ? walk(comp.dag, id + '/', depth + 1) : { children: [], edges: [] };
      const kind = specTaskKind(spec, t);
      children.push({ id, path: id, name: n, label: specLabel(n, t), sub: kind, kind: kind === 'loop' ? 'loop' : kind, children: inner.children, edges: inner.edges,
        title: `${id} — ${(t.componentRef || {}).name || ''}`, component: (t.componentRef || {}).name });
      for (const d of depsOf(t)) if (tasks[d]) edges.push({ from: prefix + d, to: id });
    }
    return { children, edges };
  }
  const top = walk((spec.root || {}).dag, '', 0);
  return finishTree({ id: '', path: '', children: top.children, edges: top.edges }, total);
}

// ---- the view -----------------------------------------------------------------------------------

// A graph that keeps its state (open groups, zoom, selection) across updates. update(tree) lays
// the graph out again only when what is drawn changes; state changes only touch classes and text.
export function graphView({ label = 'Pipeline graph', onSelect } = {}) {
  const gv = { open: new Map(), only: new Map(), selected: null, tree: null, key: null, t: null, moved: false, els: new Map(), items: new Map(), times: [] };
  const box = h('div', { class: 'graph', 'data-graph': label });
  const zoomBy = f => { const r = box.getBoundingClientRect(); zoomAt(f, r.width / 2, r.height / 2); };
  const tools = h('div', { class: 'toolbar graph-tools', role: 'toolbar', 'aria-label': label + ' controls' },
    h('button', { type: 'button', 'data-action': 'zoom-in', 'aria-label': 'Zoom in', onclick: () => zoomBy(1.25) }, '+'),
    h('button', { type: 'button', 'data-action': 'zoom-out', 'aria-label': 'Zoom out', onclick: () => zoomBy(0.8) }, '−'),
    h('button', { type: 'button', 'data-action': 'fit', onclick: () => { gv.moved = false; fit(); } }, 'Fit'),
    h('button', { type: 'button', 'data-action': 'expand-all', onclick: () => setAll(true) }, 'Expand all'),
    h('button', { type: 'button', 'data-action': 'collapse-all', onclick: () => setAll(false) }, 'Collapse all'),
    h('span', { class: 'muted graph-hint' }, 'Drag to pan, Ctrl+wheel to zoom'));
  gv.el = h('div', { class: 'graph-view' }, tools, box);

  gv.isOpen = id => { const it = gv.items.get(id); if (!it || !it.children.length) return false; return gv.open.has(id) ? gv.open.get(id) : it.defaultOpen; };
  gv.toggle = (id, open) => { gv.open.set(id, open === undefined ? !gv.isOpen(id) : open); if (!gv.isOpen(id)) gv.only.delete(id); gv.render(); };
  // Shows one iteration of a loop (all of them when the loop is small) and selects it.
  gv.showIteration = (loopId, iterId) => {
    const loop = gv.items.get(loopId);
    if (loop && loop.children.length > GRAPH.BIG_LOOP) gv.only.set(loopId, iterId); else gv.only.delete(loopId);
    gv.open.set(loopId, true);
    gv.open.set(iterId, true);
    gv.selected = iterId;
    gv.render();
  };
  gv.select = id => {
    gv.selected = id;
    for (const [k, e] of gv.els) e.el.classList.toggle('selected', k === id);
    if (onSelect) onSelect(id);
  };
  function setAll(open) {
    for (const it of gv.items.values()) if (it.children.length) {
      if (open && it.kind === 'loop' && it.children.length > GRAPH.BIG_LOOP) continue; // pick iterations instead
      gv.open.set(it.id, open);
    }
    if (!open) gv.only.clear();
    gv.render();
  }
  // The children of a group that are drawn.
  function shown(it) { const one = gv.only.get(it.id); return one ? it.children.filter(c => c.id === one) : it.children; }

  gv.update = tree => { gv.tree = tree; gv.render(); };
  gv.render = () => {
    const tree = gv.tree;
    if (!tree) return;
    const t0 = performance.now();
    gv.items.clear();
    (function index(it) { for (const c of it.children) { gv.items.set(c.id, c); index(c); } })(tree);
    const parts = [];
    (function key(it) {
      for (const c of shown(it)) { parts.push(c.id + (gv.isOpen(c.id) ? '+' : '') + '|' + c.label); if (gv.isOpen(c.id)) key(c); }
      for (const e of it.edges) parts.push(e.from + '>' + e.to);
    })(tree);
    const key = parts.join('\n');
    if (key === gv.key) { restyle(); gv.times.push({ kind: 'restyle', ms: performance.now() - t0 }); return; }
    gv.key = key;
    const lay = layoutLevel(tree);
    const t1 = performance.now();
    draw(lay);
    const t2 = performance.now();
    gv.times.push({ kind: 'layout', nodes: gv.els.size, layoutMs: t1 - t0, drawMs: t2 - t1 });
    box.dataset.renderMs = (t2 - t0).toFixed(1);
    try { performance.measure('penstock-graph-render', { start: t0, end: t2 }); performance.mark('penstock-graph-drawn'); } catch (e) { /* old browsers */ }
  };

  // Sizes and places a group's drawn children (recursively), in the group's own coordinates.
  function layoutLevel(it) {
    const kids = shown(it);
    for (const c of kids) {
      if (gv.isOpen(c.id)) {
        c._inner = layoutLevel(c);
        c._w = Math.max(c._inner.w + 2 * GRAPH.PAD, GRAPH.W + 40, gv.only.has(c.id) ? GRAPH.W + 180 : 0);
        c._h = c._inner.h + GRAPH.HEAD + GRAPH.PAD;
      } else { c._inner = null; c._w = GRAPH.W; c._h = c.children.length ? GRAPH.HC : GRAPH.H; }
    }
    const ids = new Set(kids.map(c => c.id));
    const edges = it.edges.filter(e => ids.has(e.from) && ids.has(e.to));
    const pos = new Map();
    let w = 0, hgt = 0;
    if (!edges.length && kids.length > 3) {
      // Independent siblings (loop iterations): a grid of equal columns, rows as tall as their tallest.
      const cw = Math.max(...kids.map(c => c._w));
      const cols = Math.max(1, Math.min(kids.length, Math.ceil(Math.sqrt(kids.length * 2.5 * Math.max(...kids.map(c => c._h)) / cw))));
      let y = 0;
      for (let r = 0; r * cols < kids.length; r++) {
        const row = kids.slice(r * cols, r * cols + cols);
        const rh = Math.max(...row.map(c => c._h));
        row.forEach((c, i) => pos.set(c.id, { x: i * (cw + GRAPH.GAP), y }));
        y += rh + GRAPH.GAP;
      }
      w = Math.min(kids.length, cols) * (cw + GRAPH.GAP) - GRAPH.GAP; hgt = y - GRAPH.GAP;
      return { kids, pos, edges: [], w, h: hgt };
    }
    const g = new dagre.graphlib.Graph();
    g.setGraph({ rankdir: 'TB', nodesep: GRAPH.GAP, ranksep: 40, edgesep: 12, marginx: 0, marginy: 0 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const c of kids) g.setNode(c.id, { width: c._w, height: c._h });
    for (const e of edges) g.setEdge(e.from, e.to);
    dagre.layout(g);
    for (const c of kids) { const n = g.node(c.id); pos.set(c.id, { x: n.x - c._w / 2, y: n.y - c._h / 2 }); }
    const routed = edges.map(e => ({ from: e.from, to: e.to, points: g.edge(e.from, e.to).points }));
    for (const c of kids) { const p = pos.get(c.id); w = Math.max(w, p.x + c._w); hgt = Math.max(hgt, p.y + c._h); }
    return { kids, pos, edges: routed, w, h: hgt };
  }

  function curve(pts, ox, oy) {
    const p = pts.map(q => [q.x + ox, q.y + oy]);
    let d = `M${p[0][0]},${p[0][1]}`;
    for (let i = 1; i < p.length - 1; i++) { const mx = (p[i][0] + p[i + 1][0]) / 2, my = (p[i][1] + p[i + 1][1]) / 2; d += ` Q${p[i][0]},${p[i][1]} ${i === p.length - 2 ? p[i + 1][0] : mx},${i === p.length - 2 ? p[i + 1][1] : my}`; }
    if (p.length === 2) d += ` L${p[1][0]},${p[1][1]}`;
    return d;
  }

  function activate(el, fn) {
    el.addEventListener('click', ev => { ev.stopPropagation(); fn(); });
    el.addEventListener('keydown', ev => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); ev.stopPropagation(); fn(); } });
  }

  function toggleButton(c, x, y, open) {
    const t = svg('g', { class: 'toggle', transform: `translate(${x},${y})`, tabindex: 0, role: 'button', 'aria-expanded': String(open), 'aria-label': (open ? 'Collapse ' : 'Expand ') + c.label, 'data-toggle': c.path },
      svg('rect', { width: 20, height: 20, rx: 4 }), svg('text', { x: 10, y: 15, 'text-anchor': 'middle' }, open ? '▾' : '▸'));
    activate(t, () => gv.toggle(c.id));
    return t;
  }

  let view, mini = null;
  function draw(lay) {
    gv.els.clear();
    const boxes = [];
    const groups = svg('g', { class: 'groups' }), edgesL = svg('g', { class: 'edges' }), nodes = svg('g', { class: 'nodes' });
    view = svg('g', { class: 'viewport' }, groups, edgesL, nodes);
    const root = svg('svg', { role: 'group', 'aria-label': label, width: '100%', height: '100%' },
      svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#8c959f' }))),
      view);
    (function place(level, ox, oy) {
      for (const e of level.edges) edgesL.append(svg('path', { class: 'edge', d: curve(e.points, ox, oy), 'marker-end': 'url(#arrow)', 'data-from': gv.items.get(e.from).path, 'data-to': gv.items.get(e.to).path }));
      for (const c of level.kids) {
        const p = level.pos.get(c.id), x = ox + p.x, y = oy + p.y;
        const sel = gv.selected === c.id ? ' selected' : '';
        if (c._inner) {
          const only = gv.only.get(c.id);
          const sub = stateLine(c.state, c.sub) + (only ? ` · showing 1 of ${c.children.length}` : '');
          const room = Math.floor((c._w - 44) / 7), subRoom = Math.min(sub.length, Math.max(8, Math.floor(room / 2)));
          const head = svg('g', { class: 'group-head', tabindex: 0, role: 'button', 'aria-label': `${c.label}: ${c.state ? c.state.toLowerCase() : c.sub || 'group'}` + (only ? `, showing 1 of ${c.children.length}` : '') },
            svg('rect', { class: 'head', x: 0, y: 0, width: c._w, height: GRAPH.HEAD - 4 }),
            svg('text', { x: 30, y: 18 }, clip(c.label, Math.max(6, room - subRoom))),
            svg('text', { class: 'state-text', x: c._w - 8, y: 18, 'text-anchor': 'end' }, clip(sub, subRoom)));
          const g = svg('g', { class: 'group s-' + (c.state || 'NONE') + sel, transform: `translate(${x},${y})`, 'data-group': c.path, 'data-task-path': c.path, 'data-kind': c.kind || '' },
            svg('title', {}, c.label + ' — ' + (c.state ? c.state.toLowerCase() : c.sub || '')), svg('rect', { class: 'body', width: c._w, height: c._h }), head);
          activate(head, () => gv.select(c.id));
          groups.append(g);
          boxes.push([x, y, c._w, c._h, 1]);
          nodes.append(toggleButton(c, x + 5, y + 3, true));
          gv.els.set(c.id, { el: g, state: head.querySelector('.state-text'), item: c, only, room: subRoom });
          place(c._inner, x + GRAPH.PAD, y + GRAPH.HEAD);
        } else {
          const grp = c.children.length > 0;
          const maxChars = grp ? 25 : 28;
          const g = svg('g', { class: 'node s-' + (c.state || 'NONE') + (grp ? ' collapsed' : '') + sel, transform: `translate(${x},${y})`, tabindex: 0, role: 'button',
            'data-task': c.path, 'data-task-path': c.path, 'data-group': grp ? c.path : null, 'data-kind': c.kind || '', 'aria-label': `${c.label}: ${c.state ? c.state.toLowerCase() : c.sub || 'not started'}` + (grp ? `, collapsed, ${c.summary}` : '') },
            svg('title', {}, c.label + ' — ' + (c.state ? c.state.toLowerCase() : c.sub || '')), svg('rect', { width: c._w, height: c._h, rx: 6 }),
            svg('text', { x: 10, y: 19 }, clip(c.label, maxChars)),
            svg('text', { class: 'state-text', x: 10, y: 37 }, stateLine(c.state, c.sub)),
            grp ? svg('text', { class: 'summary', x: 10, y: 55 }, clip(c.summary, 32)) : null);
          activate(g, () => gv.select(c.id));
          nodes.append(g);
          boxes.push([x, y, c._w, c._h, 0]);
          if (grp) nodes.append(toggleButton(c, x + c._w - 26, y + 6, false));
          gv.els.set(c.id, { el: g, state: g.querySelector('.state-text'), summary: g.querySelector('.summary'), item: c });
        }
      }
    })(lay, 0, 0);
    gv.size = { w: lay.w, h: lay.h };
    const width = box.clientWidth || (document.getElementById('main') || document.body).clientWidth * 0.6;
    const k0 = Math.max(0.45, Math.min(1, (width - 32) / Math.max(1, lay.w)));
    box.style.height = Math.round(Math.min(640, Math.max(140, lay.h * k0 + 40))) + 'px';
    // The minimap: the laid-out boxes scaled down (no labels) and the visible part; only for
    // graphs larger than their box.
    mini = null;
    if (box.clientWidth > 0 && (lay.w > box.clientWidth || lay.h > box.clientHeight)) {
      const s = Math.min(160 / Math.max(1, lay.w), 110 / Math.max(1, lay.h));
      const vr = svg('rect', { class: 'mm-view' });
      mini = { s, vr, el: svg('svg', { class: 'minimap', 'data-minimap': '', width: Math.ceil(lay.w * s) + 4, height: Math.ceil(lay.h * s) + 4, 'aria-hidden': 'true' },
        svg('g', { transform: 'translate(2,2)' }, ...boxes.map(([x, y, w, hh, grp]) => svg('rect', { class: grp ? 'mm-group' : 'mm-node', x: x * s, y: y * s, width: Math.max(1, w * s), height: Math.max(1, hh * s) })), vr)) };
      const centre = ev => {
        const r = mini.el.getBoundingClientRect(), bw = box.clientWidth, bh = box.clientHeight, k = gv.t.k;
        const gx = (ev.clientX - r.left - 2) / mini.s, gy = (ev.clientY - r.top - 2) / mini.s;
        gv.t = { k, x: bw / 2 - gx * k, y: bh / 2 - gy * k };
        gv.moved = true; apply();
      };
      let down = false;
      mini.el.addEventListener('pointerdown', ev => { if (ev.button !== 0 || !gv.t) return; ev.stopPropagation(); down = true; mini.el.setPointerCapture(ev.pointerId); centre(ev); });
      mini.el.addEventListener('pointermove', ev => { if (down) centre(ev); });
      const up = () => { down = false; };
      mini.el.addEventListener('pointerup', up); mini.el.addEventListener('pointercancel', up);
    }
    box.replaceChildren(root, ...(mini ? [mini.el] : []));
    if (!gv.moved || !gv.t) fit(); else apply();
  }

  function restyle() {
    for (const [id, e] of gv.els) {
      const c = gv.items.get(id) || e.item;
      const cls = (e.el.classList.contains('group') ? 'group' : 'node' + (c.children.length ? ' collapsed' : '')) + ' s-' + (c.state || 'NONE') + (gv.selected === id ? ' selected' : '');
      if (e.el.getAttribute('class') !== cls) e.el.setAttribute('class', cls);
      const st = e.el.classList.contains('group') ? stateLine(c.state, c.sub) + (e.only ? ` · showing 1 of ${c.children.length}` : '') : stateLine(c.state, c.sub);
      const stc = e.room ? clip(st, e.room) : st;
      if (e.state && e.state.textContent !== stc) e.state.textContent = stc;
      if (e.summary && c.summary && e.summary.textContent !== clip(c.summary, 32)) e.summary.textContent = clip(c.summary, 32);
      if (!e.el.classList.contains('group')) e.el.setAttribute('aria-label', `${c.label}: ${c.state ? c.state.toLowerCase() : c.sub || 'not started'}` + (c.children.length ? `, collapsed, ${c.summary}` : ''));
      e.item = c;
    }
  }

  // ---- zoom and pan ----
  function apply() {
    if (!view || !gv.t) return;
    view.setAttribute('transform', `translate(${gv.t.x},${gv.t.y}) scale(${gv.t.k})`);
    if (mini) {
      const { s, vr } = mini, k = gv.t.k;
      vr.setAttribute('x', (-gv.t.x / k) * s); vr.setAttribute('y', (-gv.t.y / k) * s);
      vr.setAttribute('width', box.clientWidth / k * s); vr.setAttribute('height', box.clientHeight / k * s);
    }
  }
  function fit() {
    if (!gv.size) return;
    const bw = box.clientWidth || 800, bh = box.clientHeight || 400;
    const k = Math.max(0.2, Math.min(1, (bw - 24) / Math.max(1, gv.size.w), (bh - 24) / Math.max(1, gv.size.h)));
    gv.t = { k, x: Math.max(12, (bw - gv.size.w * k) / 2), y: 12 };
    apply();
  }
  function zoomAt(f, cx, cy) {
    if (!gv.t) return;
    const k = Math.max(0.1, Math.min(3, gv.t.k * f));
    gv.t = { k, x: cx - (cx - gv.t.x) * k / gv.t.k, y: cy - (cy - gv.t.y) * k / gv.t.k };
    gv.moved = true; apply();
  }
  gv.fit = fit;
  box.addEventListener('wheel', ev => {
    if (!(ev.ctrlKey || ev.metaKey)) return;
    ev.preventDefault();
    const r = box.getBoundingClientRect();
    zoomAt(ev.deltaY < 0 ? 1.1 : 1 / 1.1, ev.clientX - r.left, ev.clientY - r.top);
  }, { passive: false });
  let drag = null;
  box.addEventListener('pointerdown', ev => {
    if (ev.button !== 0 || ev.target.closest('.node, .toggle, .group-head, .minimap') || !gv.t) return;
    drag = { x: ev.clientX, y: ev.clientY, t: Object.assign({}, gv.t) };
    box.setPointerCapture(ev.pointerId); box.classList.add('panning');
  });
  box.addEventListener('pointermove', ev => {
    if (!drag) return;
    gv.t = { k: drag.t.k, x: drag.t.x + ev.clientX - drag.x, y: drag.t.y + ev.clientY - drag.y };
    gv.moved = true; apply();
  });
  const end = () => { drag = null; box.classList.remove('panning'); };
  box.addEventListener('pointerup', end); box.addEventListener('pointercancel', end);
  return gv;
}

// A flat graph (the artifact lineage): nodes [{id, path, label, kind}], edges [{from, to}].
export function graph(nodes, edges) {
  const gv = graphView({ label: 'Lineage graph' });
  gv.update({ id: '', path: '', children: nodes.map(n => ({ id: n.id, path: n.path, label: n.label, sub: n.kind, state: n.state, children: [], edges: [], title: n.label })), edges });
  queueMicrotask(() => { if (gv.el.isConnected) { gv.key = null; gv.render(); } });
  return gv.el;
}
