// Reading pipeline specs: the DAG at a path, dependencies, task kinds, and YAML for display.

// ---- pipeline graphs ---------------------------------------------------------------------------

export function specOf(run) {
  const s = run.pipeline_spec || {};
  return s.pipeline_spec || s;
}
export function dagAt(spec, parentPath) {
  let dag = (spec.root || {}).dag || { tasks: {} };
  if (!parentPath) return dag;
  for (const seg of parentPath.split('/')) {
    const base = seg.replace(/\[\d+\]$/, '');
    const t = (dag.tasks || {})[base];
    if (!t) return { tasks: {} };
    const comp = (spec.components || {})[t.componentRef.name] || {};
    dag = comp.dag || { tasks: {} };
  }
  return dag;
}
export function depsOf(taskSpec) {
  const deps = new Set(taskSpec.dependentTasks || []);
  const inputs = taskSpec.inputs || {};
  for (const p of Object.values(inputs.parameters || {})) if (p.taskOutputParameter) deps.add(p.taskOutputParameter.producerTask);
  for (const a of Object.values(inputs.artifacts || {})) if (a.taskOutputArtifact) deps.add(a.taskOutputArtifact.producerTask);
  return [...deps];
}

// The graph itself (layout, drawing, collapsing, zoom) is in graph.js.

// What a spec task is, in a few words: a loop, a condition, a nested pipeline, or the image its
// container runs.
export function specTaskKind(spec, t) {
  const comp = (spec.components || {})[(t.componentRef || {}).name] || {};
  if (t.parameterIterator || t.artifactIterator) return 'loop';
  if (t.triggerPolicy && t.triggerPolicy.condition) return 'condition';
  if (comp.dag) return (t.componentRef.name || '').startsWith('comp-exit-handler') ? 'exit handler' : 'pipeline';
  const exec = (((spec.deploymentSpec || {}).executors || {})[comp.executorLabel]) || {};
  if (exec.importer) return 'importer';
  if (exec.container) return exec.container.image || 'container';
  return 'task';
}

// A JSON value as YAML (block style), for showing specs the way the SDK writes them.
export function toYaml(v, indent = '') {
  const scalar = x => {
    if (x === null) return 'null';
    if (typeof x !== 'string') return String(x);
    return /^[A-Za-z0-9_./@-][A-Za-z0-9_ ./@()=-]*$/.test(x) && !/^(true|false|null|yes|no|on|off|~|[-+]?[0-9.]+(e[-+]?[0-9]+)?)$/i.test(x) && !x.endsWith(' ') ? x : JSON.stringify(x);
  };
  const isScalar = x => x === null || typeof x !== 'object' || (Array.isArray(x) ? x.length === 0 : Object.keys(x).length === 0);
  const inline = x => Array.isArray(x) ? '[]' : (x !== null && typeof x === 'object' ? '{}' : scalar(x));
  if (isScalar(v)) return inline(v) + '\n';
  let out = '';
  if (Array.isArray(v)) {
    for (const item of v) out += isScalar(item) ? `${indent}- ${inline(item)}\n` : `${indent}-\n${toYaml(item, indent + '  ')}`;
  } else {
    for (const [k, item] of Object.entries(v)) out += isScalar(item) ? `${indent}${scalar(k)}: ${inline(item)}\n` : `${indent}${scalar(k)}:\n${toYaml(item, indent + '  ')}`;
  }
  return out;
}
