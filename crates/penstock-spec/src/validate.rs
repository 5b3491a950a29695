//! Validation of every reference inside a parsed spec. Runs after deserialisation and reports
//! every problem with its path (`root.dag.tasks.train.inputs.parameters.lr`).

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

/// Checks every reference in the spec; returns all problems found (empty when valid).
pub fn validate(spec: &PipelineSpec) -> Vec<ValidationError> {
    let mut v = Validator {
        spec,
        errors: Vec::new(),
    };
    v.run();
    v.errors
}

struct Validator<'a> {
    spec: &'a PipelineSpec,
    errors: Vec<ValidationError>,
}

impl Validator<'_> {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ValidationError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn run(&mut self) {
        let spec = self.spec;
        match spec.pipeline_info.name.as_deref() {
            None | Some("") => self.err(
                "pipelineInfo.name",
                "the pipeline has no name; expected a non-empty string",
            ),
            _ => {}
        }
        if spec.root.dag.is_none() {
            self.err("root.dag", "the root component must be a DAG");
        }
        self.component("root", &spec.root);
        for (name, comp) in &spec.components {
            self.component(&format!("components.{name}"), comp);
        }
        for (label, exec) in &spec.deployment_spec.executors {
            self.executor(&format!("deploymentSpec.executors.{label}"), label, exec);
        }
    }

    fn component(&mut self, path: &str, comp: &ComponentSpec) {
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
                    (Some(raw), None) => {
                        if !matches!(
                            serde_json::from_str::<serde_json::Value>(raw),
                            Ok(serde_json::Value::Array(_))
                        ) {
                            self.err(
                                format!("{ipath}.items.raw"),
                                format!("expected a JSON list, found {raw:?}"),
                            );
                        }
                    }
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

    /// Detects cycles among a DAG's tasks (dependencies = dependentTasks + producers).
    fn cycles(&mut self, path: &str, dag: &DagSpec) {
        let deps: BTreeMap<&str, BTreeSet<&str>> = dag
            .tasks
            .iter()
            .map(|(name, t)| (name.as_str(), task_dependencies(t)))
            .collect();
        // Kahn's algorithm; whatever remains is on or behind a cycle.
        let mut remaining = deps.clone();
        loop {
            let ready: Vec<&str> = remaining
                .iter()
                .filter(|(_, d)| d.iter().all(|x| !remaining.contains_key(x)))
                .map(|(n, _)| *n)
                .collect();
            if ready.is_empty() {
                break;
            }
            for r in ready {
                remaining.remove(r);
            }
        }
        if !remaining.is_empty() {
            let names: Vec<&str> = remaining.keys().copied().collect();
            self.err(
                format!("{path}.dag.tasks"),
                format!("dependency cycle among tasks {}", names.join(", ")),
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
