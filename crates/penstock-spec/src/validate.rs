//! Validation of every reference inside a parsed spec. Runs after deserialisation and reports
//! every problem with its path (`root.dag.tasks.train.inputs.parameters.lr`).
//!
//! Validation takes time linear in the size of the spec (up to logarithmic map lookups) and
//! never recurses along the nesting of DAGs, so a hostile spec is refused as quickly as it was
//! read: recursive components, nesting and task counts over the [`Limits`] are errors.

use crate::limits::Limits;
use crate::model::*;
use crate::placeholder::parse_arg;
use std::collections::{BTreeMap, BTreeSet};

/// One validation problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Where in the spec.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Checks every reference in the spec under the default [`Limits`]; returns all problems
/// found (empty when valid).
pub fn validate(spec: &PipelineSpec) -> Vec<ValidationError> {
    validate_with_limits(spec, &Limits::default())
}

/// Checks every reference in the spec and that it stays within `limits` (all but
/// [`Limits::max_spec_bytes`], which applies to the file before parsing); returns all problems
/// found (empty when valid). An exceeded limit's message names the limit's field.
pub fn validate_with_limits(spec: &PipelineSpec, limits: &Limits) -> Vec<ValidationError> {
    let mut v = Validator {
        spec,
        limits,
        errors: Vec::new(),
    };
    v.run();
    v.errors
}

struct Validator<'a> {
    spec: &'a PipelineSpec,
    limits: &'a Limits,
    errors: Vec<ValidationError>,
}

/// A name for use inside an error's path: long names are cut short.
fn shorten(name: &str) -> String {
    const KEEP: usize = 48;
    match name.char_indices().nth(KEEP) {
        Some((end, _)) => format!("{}...", &name[..end]),
        None => name.to_string(),
    }
}

/// `a -> b -> c` for a chain of `len` names, eliding the middle of long chains so that the
/// text stays short whatever the length.
fn chain_text<'n>(len: usize, name: impl Fn(usize) -> &'n str) -> String {
    const KEEP: usize = 8;
    let join = |range: std::ops::Range<usize>| range.map(&name).collect::<Vec<_>>().join(" -> ");
    if len <= 2 * KEEP + 1 {
        join(0..len)
    } else {
        format!(
            "{} -> ... ({} more) ... -> {}",
            join(0..KEEP),
            len - 2 * KEEP,
            join(len - KEEP..len)
        )
    }
}

/// Nodes of the component graph: the root (index 0) and every component, by name.
struct ComponentGraph<'a> {
    /// Name (`root` for the root) and spec of each node.
    nodes: Vec<(&'a str, &'a ComponentSpec)>,
    /// For each node, its tasks that use a DAG component: (task name, that component's node).
    edges: Vec<Vec<(&'a str, usize)>>,
}

impl<'a> ComponentGraph<'a> {
    fn new(spec: &'a PipelineSpec) -> Self {
        let nodes: Vec<(&str, &ComponentSpec)> = std::iter::once(("root", &spec.root))
            .chain(spec.components.iter().map(|(n, c)| (n.as_str(), c)))
            .collect();
        let index: BTreeMap<&str, usize> = spec
            .components
            .keys()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i + 1))
            .collect();
        let edges = nodes
            .iter()
            .map(|(_, comp)| match &comp.dag {
                Some(dag) => dag
                    .tasks
                    .iter()
                    .filter_map(|(task_name, task)| {
                        let child = *index.get(task.component_ref.name.as_str())?;
                        nodes[child]
                            .1
                            .dag
                            .is_some()
                            .then_some((task_name.as_str(), child))
                    })
                    .collect(),
                None => Vec::new(),
            })
            .collect();
        ComponentGraph { nodes, edges }
    }

    fn name(&self, node: usize) -> &'a str {
        self.nodes[node].0
    }

    /// The node's path in the spec (`root`, `components.comp-a`).
    fn path(&self, node: usize) -> String {
        if node == 0 {
            "root".to_string()
        } else {
            format!("components.{}", self.nodes[node].0)
        }
    }

    fn task_count(&self, node: usize) -> usize {
        self.nodes[node].1.dag.as_ref().map_or(0, |d| d.tasks.len())
    }
}

impl Validator<'_> {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ValidationError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Reports `name` (a `kind` name at `parent.name`) when it is longer than allowed.
    fn check_name(&mut self, parent: &str, kind: &str, name: &str) {
        let max = self.limits.max_name_length;
        // A name has at least as many bytes as characters: most names need no counting.
        if name.len() <= max {
            return;
        }
        let chars = name.chars().count();
        if chars > max {
            self.err(
                format!("{parent}.{}", shorten(name)),
                format!(
                    "the {kind} name is {chars} characters long, longer than the limit of {max} (max_name_length)"
                ),
            );
        }
    }

    fn run(&mut self) {
        let spec = self.spec;
        match spec.pipeline_info.name.as_deref() {
            None | Some("") => self.err(
                "pipelineInfo.name",
                "the pipeline has no name; expected a non-empty string",
            ),
            Some(name) => {
                let chars = name.chars().count();
                let max = self.limits.max_name_length;
                if chars > max {
                    self.err(
                        "pipelineInfo.name",
                        format!(
                            "the pipeline name is {chars} characters long, longer than the limit of {max} (max_name_length)"
                        ),
                    );
                }
            }
        }
        if spec.root.dag.is_none() {
            self.err("root.dag", "the root component must be a DAG");
        }
        let too_many_tasks = self.task_count();
        self.nesting(too_many_tasks);
        self.component("root", &spec.root);
        for (name, comp) in &spec.components {
            self.check_name("components", "component", name);
            self.component(&format!("components.{name}"), comp);
        }
        for (label, exec) in &spec.deployment_spec.executors {
            self.check_name("deploymentSpec.executors", "executor", label);
            self.executor(&format!("deploymentSpec.executors.{label}"), label, exec);
        }
    }

    /// Checks the number of tasks written in the spec; true when over the limit.
    fn task_count(&mut self) -> bool {
        let spec = self.spec;
        let max = self.limits.max_tasks;
        let dags = std::iter::once(("root".to_string(), &spec.root)).chain(
            spec.components
                .iter()
                .map(|(n, c)| (format!("components.{}", shorten(n)), c)),
        );
        let total: usize = std::iter::once(&spec.root)
            .chain(spec.components.values())
            .filter_map(|c| c.dag.as_ref())
            .map(|d| d.tasks.len())
            .fold(0, usize::saturating_add);
        if total <= max {
            return false;
        }
        // Point at the DAG whose tasks take the count over the limit.
        let mut seen = 0usize;
        for (path, comp) in dags {
            seen = seen.saturating_add(comp.dag.as_ref().map_or(0, |d| d.tasks.len()));
            if seen > max {
                self.err(
                    format!("{path}.dag.tasks"),
                    format!(
                        "the spec has {total} tasks in all, more than the limit of {max} (max_tasks)"
                    ),
                );
                break;
            }
        }
        true
    }

    /// Follows `componentRef`s from DAG to DAG, without recursion: refuses components that
    /// contain themselves, nesting deeper than [`Limits::max_dag_depth`] and a run that would
    /// expand into more than [`Limits::max_tasks`] tasks. Linear in the number of tasks.
    fn nesting(&mut self, too_many_tasks: bool) {
        let graph = ComponentGraph::new(self.spec);
        let n = graph.nodes.len();
        const NEW: u8 = 0;
        const OPEN: u8 = 1;
        const DONE: u8 = 2;
        let mut state = vec![NEW; n];
        // Where an open node sits on the DFS stack, to name a cycle without searching.
        let mut stack_pos = vec![0usize; n];
        // DAG levels from the node down, counting itself (a DAG is level 1).
        let mut height = vec![0usize; n];
        // The task leading to the deepest nesting below the node.
        let mut deepest: Vec<Option<(&str, usize)>> = vec![None; n];
        // Tasks a run creates for the node's DAG, sub-DAGs expanded.
        let mut expanded = vec![0usize; n];
        let mut recursive = false;
        for start in 0..n {
            if state[start] != NEW || graph.nodes[start].1.dag.is_none() {
                continue;
            }
            // (node, index of its next edge to follow)
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            state[start] = OPEN;
            stack_pos[start] = 0;
            while let Some(top) = stack.last_mut() {
                let (node, next) = *top;
                if let Some(&(task, child)) = graph.edges[node].get(next) {
                    top.1 += 1;
                    match state[child] {
                        NEW => {
                            state[child] = OPEN;
                            stack_pos[child] = stack.len();
                            stack.push((child, 0));
                        }
                        OPEN => {
                            recursive = true;
                            let from = stack_pos[child];
                            let on_stack = stack.len() - from;
                            let chain = chain_text(on_stack + 1, |i| {
                                if i < on_stack {
                                    graph.name(stack[from + i].0)
                                } else {
                                    graph.name(child)
                                }
                            });
                            self.err(
                                format!("{}.dag.tasks.{task}.componentRef.name", graph.path(node)),
                                format!(
                                    "component {:?} contains itself: {chain}",
                                    graph.name(child)
                                ),
                            );
                        }
                        _ => {}
                    }
                    continue;
                }
                let mut below = 0;
                let mut deepest_task = None;
                let mut count = graph.task_count(node);
                for &(task, child) in &graph.edges[node] {
                    // Edges back to open nodes are the recursion reported above.
                    if state[child] != DONE {
                        continue;
                    }
                    if height[child] > below {
                        below = height[child];
                        deepest_task = Some((task, child));
                    }
                    count = count.saturating_add(expanded[child]);
                }
                height[node] = below + 1;
                deepest[node] = deepest_task;
                expanded[node] = count;
                state[node] = DONE;
                stack.pop();
            }
        }
        if recursive || graph.nodes[0].1.dag.is_none() {
            return;
        }
        let max_depth = self.limits.max_dag_depth;
        if height[0] > max_depth {
            let mut chain = vec![0usize];
            let mut node = 0;
            while let Some((_, child)) = deepest[node] {
                chain.push(child);
                node = child;
            }
            // The task that opens the first level over the limit.
            let path = match max_depth.checked_sub(1).map(|i| (i, chain.get(i))) {
                Some((_, Some(&at))) => match deepest[at] {
                    Some((task, _)) => format!("{}.dag.tasks.{task}", graph.path(at)),
                    None => "root.dag".to_string(),
                },
                _ => "root.dag".to_string(),
            };
            let text = chain_text(chain.len(), |i| graph.name(chain[i]));
            self.err(
                path,
                format!(
                    "DAG nesting is deeper than the limit of {max_depth} (max_dag_depth): {} levels, {text}",
                    height[0]
                ),
            );
        }
        let max_tasks = self.limits.max_tasks;
        if !too_many_tasks && expanded[0] > max_tasks {
            let count = if expanded[0] == usize::MAX {
                format!("at least {}", usize::MAX)
            } else {
                expanded[0].to_string()
            };
            self.err(
                "root.dag.tasks",
                format!(
                    "a run of this pipeline would create {count} tasks by expanding its nested DAGs (each loop body counted once), more than the limit of {max_tasks} (max_tasks)"
                ),
            );
        }
    }

    fn component(&mut self, path: &str, comp: &ComponentSpec) {
        let (inputs, outputs) = (&comp.input_definitions, &comp.output_definitions);
        for name in inputs.parameters.keys() {
            self.check_name(
                &format!("{path}.inputDefinitions.parameters"),
                "parameter",
                name,
            );
        }
        for name in inputs.artifacts.keys() {
            self.check_name(
                &format!("{path}.inputDefinitions.artifacts"),
                "artifact",
                name,
            );
        }
        for name in outputs.parameters.keys() {
            self.check_name(
                &format!("{path}.outputDefinitions.parameters"),
                "parameter",
                name,
            );
        }
        for name in outputs.artifacts.keys() {
            self.check_name(
                &format!("{path}.outputDefinitions.artifacts"),
                "artifact",
                name,
            );
        }
        match (&comp.dag, &comp.executor_label) {
            (Some(dag), None) => self.dag(path, comp, dag),
            (None, Some(label)) => {
                if !self.spec.deployment_spec.executors.contains_key(label) {
                    self.err(
                        format!("{path}.executorLabel"),
                        format!("executor {label:?} is not defined in deploymentSpec.executors"),
                    );
                }
            }
            (Some(_), Some(_)) => self.err(
                path,
                "a component has either a dag or an executorLabel, not both",
            ),
            (None, None) => self.err(path, "a component needs a dag or an executorLabel"),
        }
    }

    fn dag(&mut self, path: &str, comp: &ComponentSpec, dag: &DagSpec) {
        let tasks = &dag.tasks;
        for (task_name, task) in tasks {
            self.check_name(&format!("{path}.dag.tasks"), "task", task_name);
            let tpath = format!("{path}.dag.tasks.{task_name}");
            let target = self.spec.components.get(&task.component_ref.name);
            if target.is_none() {
                self.err(
                    format!("{tpath}.componentRef.name"),
                    format!(
                        "component {:?} is not defined in components",
                        task.component_ref.name
                    ),
                );
            }
            for dep in &task.dependent_tasks {
                if !tasks.contains_key(dep) {
                    self.err(
                        format!("{tpath}.dependentTasks"),
                        format!("task {dep:?} does not exist in this DAG"),
                    );
                }
            }
            for (input, p) in &task.inputs.parameters {
                self.check_name(&format!("{tpath}.inputs.parameters"), "parameter", input);
                let ipath = format!("{tpath}.inputs.parameters.{input}");
                let sources = [
                    p.task_output_parameter.is_some(),
                    p.runtime_value.is_some(),
                    p.component_input_parameter.is_some(),
                    p.task_final_status.is_some(),
                ]
                .iter()
                .filter(|b| **b)
                .count();
                if sources != 1 {
                    self.err(&ipath, "expected exactly one of taskOutputParameter, runtimeValue, componentInputParameter, taskFinalStatus");
                }
                if let Some(r) = &p.task_output_parameter {
                    self.producer_param(&ipath, tasks, &r.producer_task, &r.output_parameter_key);
                }
                if let Some(name) = &p.component_input_parameter {
                    if !comp.input_definitions.parameters.contains_key(name) {
                        self.err(
                            &ipath,
                            format!("componentInputParameter {name:?} is not an input parameter of the enclosing component"),
                        );
                    }
                }
                if let Some(r) = &p.task_final_status {
                    if !tasks.contains_key(&r.producer_task) {
                        self.err(
                            &ipath,
                            format!(
                                "taskFinalStatus producer {:?} does not exist in this DAG",
                                r.producer_task
                            ),
                        );
                    }
                }
            }
            for (input, a) in &task.inputs.artifacts {
                self.check_name(&format!("{tpath}.inputs.artifacts"), "artifact", input);
                let ipath = format!("{tpath}.inputs.artifacts.{input}");
                match (&a.task_output_artifact, &a.component_input_artifact) {
                    (Some(r), None) => {
                        self.producer_artifact(
                            &ipath,
                            tasks,
                            &r.producer_task,
                            &r.output_artifact_key,
                        );
                    }
                    (None, Some(name)) => {
                        if !comp.input_definitions.artifacts.contains_key(name) {
                            self.err(&ipath, format!("componentInputArtifact {name:?} is not an input artifact of the enclosing component"));
                        }
                    }
                    _ => self.err(
                        &ipath,
                        "expected exactly one of taskOutputArtifact, componentInputArtifact",
                    ),
                }
                if let Some(target) = target {
                    let is_iter_input = task
                        .artifact_iterator
                        .as_ref()
                        .is_some_and(|it| it.item_input == *input);
                    if !is_iter_input && !target.input_definitions.artifacts.contains_key(input) {
                        self.err(
                            &ipath,
                            format!(
                                "component {:?} has no input artifact {input:?}",
                                task.component_ref.name
                            ),
                        );
                    }
                }
            }
            if let Some(it) = &task.parameter_iterator {
                let ipath = format!("{tpath}.parameterIterator");
                match (&it.items.raw, &it.items.input_parameter) {
                    (Some(raw), None) => match serde_json::from_str::<serde_json::Value>(raw) {
                        Ok(serde_json::Value::Array(items)) => {
                            let max = self.limits.max_loop_items;
                            if items.len() > max {
                                self.err(
                                    format!("{ipath}.items.raw"),
                                    format!(
                                        "the loop has {} items, more than the limit of {max} (max_loop_items)",
                                        items.len()
                                    ),
                                );
                            }
                        }
                        _ => {
                            let shown = if raw.len() > 200 {
                                format!("{:?}...", shorten(raw))
                            } else {
                                format!("{raw:?}")
                            };
                            self.err(
                                format!("{ipath}.items.raw"),
                                format!("expected a JSON list, found {shown}"),
                            );
                        }
                    },
                    (None, Some(name)) => {
                        if !task.inputs.parameters.contains_key(name) {
                            self.err(
                                format!("{ipath}.items.inputParameter"),
                                format!("{name:?} is not an input parameter of this task"),
                            );
                        }
                    }
                    _ => self.err(
                        format!("{ipath}.items"),
                        "expected exactly one of raw, inputParameter",
                    ),
                }
            }
            if let Some(it) = &task.artifact_iterator {
                if !task.inputs.artifacts.contains_key(&it.items.input_artifact) {
                    self.err(
                        format!("{tpath}.artifactIterator.items.inputArtifact"),
                        format!(
                            "{:?} is not an input artifact of this task",
                            it.items.input_artifact
                        ),
                    );
                }
            }
        }
        self.cycles(path, dag);
        for (name, out) in &dag.outputs.parameters {
            self.check_name(&format!("{path}.dag.outputs.parameters"), "parameter", name);
            let opath = format!("{path}.dag.outputs.parameters.{name}");
            let selectors: Vec<&ParameterSelector> = out
                .value_from_parameter
                .iter()
                .chain(
                    out.value_from_oneof
                        .iter()
                        .flat_map(|o| &o.parameter_selectors),
                )
                .collect();
            if selectors.is_empty() {
                self.err(&opath, "expected valueFromParameter or valueFromOneof");
            }
            for s in selectors {
                self.producer_param(&opath, tasks, &s.producer_subtask, &s.output_parameter_key);
            }
        }
        for (name, out) in &dag.outputs.artifacts {
            self.check_name(&format!("{path}.dag.outputs.artifacts"), "artifact", name);
            let opath = format!("{path}.dag.outputs.artifacts.{name}");
            for s in &out.artifact_selectors {
                self.producer_artifact(&opath, tasks, &s.producer_subtask, &s.output_artifact_key);
            }
        }
    }

    fn producer_param(
        &mut self,
        path: &str,
        tasks: &BTreeMap<String, TaskSpec>,
        producer: &str,
        key: &str,
    ) {
        let Some(task) = tasks.get(producer) else {
            self.err(
                path,
                format!("producer task {producer:?} does not exist in this DAG"),
            );
            return;
        };
        if let Some(comp) = self.spec.components.get(&task.component_ref.name) {
            if !comp.output_definitions.parameters.contains_key(key) {
                self.err(
                    path,
                    format!("task {producer:?} has no output parameter {key:?}"),
                );
            }
        }
    }

    fn producer_artifact(
        &mut self,
        path: &str,
        tasks: &BTreeMap<String, TaskSpec>,
        producer: &str,
        key: &str,
    ) {
        let Some(task) = tasks.get(producer) else {
            self.err(
                path,
                format!("producer task {producer:?} does not exist in this DAG"),
            );
            return;
        };
        if let Some(comp) = self.spec.components.get(&task.component_ref.name) {
            if !comp.output_definitions.artifacts.contains_key(key) {
                self.err(
                    path,
                    format!("task {producer:?} has no output artifact {key:?}"),
                );
            }
        }
    }

    /// Detects cycles among a DAG's tasks (dependencies = dependentTasks + producers), with
    /// Kahn's algorithm over in-degrees: linear in tasks and dependencies.
    fn cycles(&mut self, path: &str, dag: &DagSpec) {
        let index: BTreeMap<&str, usize> = dag
            .tasks
            .keys()
            .enumerate()
            .map(|(i, name)| (name.as_str(), i))
            .collect();
        let n = index.len();
        // Dependencies on tasks outside the DAG are reported elsewhere; they do not block.
        let mut waiting = vec![0usize; n];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, task) in dag.tasks.values().enumerate() {
            for dep in task_dependencies(task) {
                if let Some(&d) = index.get(dep) {
                    waiting[i] += 1;
                    dependents[d].push(i);
                }
            }
        }
        let mut ready: Vec<usize> = (0..n).filter(|i| waiting[*i] == 0).collect();
        let mut done = 0;
        while let Some(i) = ready.pop() {
            done += 1;
            for &d in &dependents[i] {
                waiting[d] -= 1;
                if waiting[d] == 0 {
                    ready.push(d);
                }
            }
        }
        if done < n {
            // Whatever remains is on or behind a cycle.
            const SHOWN: usize = 20;
            let remaining: Vec<&str> = dag
                .tasks
                .keys()
                .zip(&waiting)
                .filter(|(_, w)| **w > 0)
                .map(|(name, _)| name.as_str())
                .collect();
            let mut names = remaining
                .iter()
                .take(SHOWN)
                .map(|n| shorten(n))
                .collect::<Vec<_>>()
                .join(", ");
            if remaining.len() > SHOWN {
                names.push_str(&format!(" and {} more", remaining.len() - SHOWN));
            }
            self.err(
                format!("{path}.dag.tasks"),
                format!("dependency cycle among tasks {names}"),
            );
        }
    }

    fn executor(&mut self, path: &str, _label: &str, exec: &ExecutorSpec) {
        let kinds = [
            exec.container.is_some(),
            exec.importer.is_some(),
            exec.resolver.is_some(),
            exec.custom_job.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if kinds != 1 {
            self.err(
                path,
                "expected exactly one of container, importer, resolver, customJob",
            );
        }
        if let Some(c) = &exec.container {
            for (field, items) in [("command", &c.command), ("args", &c.args)] {
                for (i, item) in items.iter().enumerate() {
                    let ipath = format!("{path}.container.{field}[{i}]");
                    match item {
                        CommandLineItem::Text(s) => {
                            if let Err(e) = parse_arg(s) {
                                self.err(ipath, e);
                            }
                        }
                        CommandLineItem::Other(v) => {
                            self.err(ipath, format!("expected a string, found {v}"));
                        }
                    }
                }
            }
        }
    }
}

/// The tasks a task waits for: its `dependentTasks` and every producer it reads from.
pub fn task_dependencies(task: &TaskSpec) -> BTreeSet<&str> {
    let mut deps: BTreeSet<&str> = task.dependent_tasks.iter().map(String::as_str).collect();
    for p in task.inputs.parameters.values() {
        if let Some(r) = &p.task_output_parameter {
            deps.insert(&r.producer_task);
        }
        if let Some(r) = &p.task_final_status {
            deps.insert(&r.producer_task);
        }
    }
    for a in task.inputs.artifacts.values() {
        if let Some(r) = &a.task_output_artifact {
            deps.insert(&r.producer_task);
        }
    }
    deps
}
