//! KFP v1 pipelines: the Argo `Workflow` YAML that `kfp` 1.8.x compiles, mapped onto the v2
//! pipeline IR so that one engine runs both formats.
//!
//! [`workflow_to_spec`] turns a workflow into the JSON of a v2 `PipelineSpec`, which then goes
//! through the same deserialisation and validation as any v2 file. The mapping:
//!
//! | Argo (KFP v1) | v2 IR |
//! |---|---|
//! | `spec.arguments.parameters` + the `pipelines.kubeflow.org/pipeline_spec` annotation | root inputs (Integer/Float typed, defaults from the annotation) |
//! | entrypoint DAG template | the root DAG |
//! | other DAG templates | DAG components |
//! | container templates | container components and executors |
//! | `{{inputs.parameters.x}}` in a container | `{{$.inputs.parameters['x']}}` |
//! | output/input file paths named in the command, args or env | `{{$.outputs.parameters['x'].output_file}}`, `{{$.outputs.artifacts['x'].path}}`, `{{$.inputs.artifacts['x'].path}}` |
//! | task `arguments` (`{{inputs…}}`, `{{tasks.t.outputs…}}`, `{{workflow.parameters…}}`, text around them) | task inputs; mixed text is a constant interpolating `pipelinechannel--…` inputs |
//! | a file path the step does not name (built into its program) | copied to/from the placeholder by the wrapper; listed in `PENSTOCK_V1_FIXED_PATHS` for a private `/tmp` |
//! | a constant input artifact (`raw`, an `InputPath` given a constant) | a private file under `{{$.workspace_path}}` written before the step |
//! | `dependencies` | `dependentTasks` |
//! | `task_display_name` annotation (`set_display_name`) | `taskInfo.name` |
//! | `when` | `triggerPolicy.condition` (CEL) |
//! | `withItems` / `withParam`, the loop template's `parallelism` | `parameterIterator`, `iteratorPolicy`; `{{item.f}}` is a selector in a one-task iteration DAG |
//! | `onExit` | a root task after all others with `ALL_UPSTREAM_TASKS_COMPLETED` |
//! | `{{workflow.status}}` in the exit handler | the `taskFinalStatus` of the task it wraps, as `Succeeded`/`Failed` |
//! | `retryStrategy` | `retryPolicy` |
//! | `activeDeadlineSeconds` (template) | the step runs under `timeout N` |
//! | `enable_caching` label, `max_cache_staleness` annotation (`P0D` = never reuse) | `cachingOptions.enableCache`; another duration becomes `cachingOptions.penstockMaxCacheStalenessSeconds` |
//! | the `mlpipeline-metrics` output artifact | a `system.Metrics` output (the launcher reads the file into its metadata: the run's metrics) |
//!
//! Argo trims one trailing newline from a parameter read from a file; a small `sh` wrapper
//! does the same after the step (and copies a file that is both an output parameter and an
//! output artifact to both places). Everything else Argo can express (volumes, sidecars,
//! Kubernetes resources, scripts, steps, …) is refused with the field that needs it.

use crate::parse::json_kind;
use crate::SpecError;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The annotation in which kfp 1.x records the pipeline's name, description and input types.
pub const PIPELINE_SPEC_ANNOTATION: &str = "pipelines.kubeflow.org/pipeline_spec";
/// The template annotation carrying `max_cache_staleness` (e.g. `P0D`).
pub const MAX_CACHE_STALENESS_ANNOTATION: &str = "pipelines.kubeflow.org/max_cache_staleness";
/// The template annotation carrying a task's display name (`op.set_display_name`).
pub const TASK_DISPLAY_NAME_ANNOTATION: &str = "pipelines.kubeflow.org/task_display_name";
/// The template label carrying `enable_caching` (`"true"` / `"false"`).
pub const ENABLE_CACHING_LABEL: &str = "pipelines.kubeflow.org/enable_caching";
/// The output artifact in which a kfp 1.x step writes its metrics (`{"metrics": [...]}`).
pub const METRICS_OUTPUT: &str = "mlpipeline-metrics";

/// The environment variable that lists, one per line, the absolute paths a step reads or
/// writes without naming them in its command (a program with `/tmp/outputs/x/data` built in).
/// The local launcher gives such a step a private `/tmp` holding them (see
/// `docs/launchers.md`); in a container they are the container's own.
pub const FIXED_PATHS_ENV: &str = "PENSTOCK_V1_FIXED_PATHS";

/// Input name of the whole loop list on a loop task.
const LOOP_ITEMS: &str = "penstock-loop-items";
/// Input name of one loop item in an iteration component.
const LOOP_ITEM: &str = "penstock-loop-item";
/// Input name of `{{workflow.status}}` in an exit handler's step.
const STATUS_INPUT: &str = "penstock-workflow-status";
/// How the exit handler's `taskFinalStatus` becomes Argo's workflow status.
const STATUS_SELECTOR: &str =
    "parseJson(string_value)[\"state\"] in [\"COMPLETE\", \"CACHED\"] ? \"Succeeded\" : \"Failed\"";
/// Why `{{workflow.status}}` is refused elsewhere.
const STATUS_ONLY_IN_EXIT: &str = "{{workflow.status}} is known only to the step that is the \
    workflow's exit handler (spec.onExit), as the status of the whole pipeline";
/// Prefix of workflow parameters passed down to nested components.
const GLOBAL_PREFIX: &str = "penstock-global--";

/// Whether a parsed document is an Argo `Workflow` (`apiVersion: argoproj.io/…`, `kind:
/// Workflow`).
pub fn is_argo_workflow(doc: &Value) -> bool {
    doc.get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("argoproj.io/"))
        && doc.get("kind").and_then(Value::as_str) == Some("Workflow")
}

/// The `apiVersion` and `kind` of a Kubernetes-style manifest that is not a pipeline (a Pod,
/// a `WorkflowTemplate`, …), so that it can be refused by name; `None` for anything else.
pub fn other_manifest(doc: &Value) -> Option<(String, String)> {
    let api = doc.get("apiVersion")?.as_str()?;
    let kind = doc.get("kind")?.as_str()?;
    if is_argo_workflow(doc) {
        return None;
    }
    Some((api.to_string(), kind.to_string()))
}

/// Converts a KFP v1 Argo workflow into the JSON of an equivalent v2 `PipelineSpec`, or
/// refuses it with the field that has no local equivalent. `source` names the file in errors.
pub fn workflow_to_spec(source: &str, doc: &Value) -> Result<Value, SpecError> {
    Converter::new(source, doc)?.convert()
}

/// A reference inside `{{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Ref {
    /// `inputs.parameters.x`
    Input(String),
    /// `inputs.artifacts.x`
    InputArtifact(String),
    /// `tasks.t.outputs.parameters.o`
    TaskParam(String, String),
    /// `tasks.t.outputs.artifacts.o`
    TaskArtifact(String, String),
    /// `workflow.parameters.x`
    Global(String),
    /// `item` or `item.field`
    Item(Option<String>),
    /// A run or task value with a v2 placeholder (`workflow.uid`, `pod.name`, …).
    Job(&'static str),
    /// `workflow.status`, known to the exit handler.
    Status,
}

#[derive(Debug, Clone)]
enum Seg {
    Text(String),
    Ref(Ref, String),
}

/// Splits text into literal parts and Argo references. References Argo would resolve but
/// Penstock does not map are errors; other `{{…}}` (e.g. a template in a user's script) stay text.
fn segments(text: &str) -> Result<Vec<Seg>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        let inner = rest[start + 2..start + 2 + len].trim();
        let whole = &rest[start..start + 2 + len + 2];
        match classify(inner)? {
            Some(r) => {
                if start > 0 {
                    out.push(Seg::Text(rest[..start].to_string()));
                }
                out.push(Seg::Ref(r, inner.to_string()));
            }
            None => out.push(Seg::Text(rest[..start + 2 + len + 2].to_string())),
        }
        let _ = whole;
        rest = &rest[start + 2 + len + 2..];
    }
    if !rest.is_empty() {
        out.push(Seg::Text(rest.to_string()));
    }
    // Merge adjacent text.
    let mut merged: Vec<Seg> = Vec::new();
    for s in out {
        match (merged.last_mut(), s) {
            (Some(Seg::Text(a)), Seg::Text(b)) => a.push_str(&b),
            (_, s) => merged.push(s),
        }
    }
    Ok(merged)
}

fn classify(inner: &str) -> Result<Option<Ref>, String> {
    let unsupported = || {
        Err(format!(
            "the reference {{{{{inner}}}}} is not supported; expected inputs.parameters.NAME, \
             inputs.artifacts.NAME, tasks.TASK.outputs.parameters.NAME, \
             tasks.TASK.outputs.artifacts.NAME, workflow.parameters.NAME, item, item.FIELD, \
             workflow.uid, workflow.name, workflow.creationTimestamp or pod.name"
        ))
    };
    if let Some(n) = inner.strip_prefix("inputs.parameters.") {
        return Ok(Some(Ref::Input(n.to_string())));
    }
    if let Some(n) = inner.strip_prefix("inputs.artifacts.") {
        return Ok(Some(Ref::InputArtifact(n.to_string())));
    }
    if let Some(n) = inner.strip_prefix("workflow.parameters.") {
        return Ok(Some(Ref::Global(n.to_string())));
    }
    if let Some(rest) = inner.strip_prefix("tasks.") {
        if let Some((t, o)) = rest.split_once(".outputs.parameters.") {
            return Ok(Some(Ref::TaskParam(t.to_string(), o.to_string())));
        }
        if let Some((t, o)) = rest.split_once(".outputs.artifacts.") {
            return Ok(Some(Ref::TaskArtifact(t.to_string(), o.to_string())));
        }
        return unsupported();
    }
    match inner {
        "item" => return Ok(Some(Ref::Item(None))),
        "workflow.uid" => return Ok(Some(Ref::Job("{{$.pipeline_job_uuid}}"))),
        "workflow.name" => return Ok(Some(Ref::Job("{{$.pipeline_job_name}}"))),
        "workflow.creationTimestamp" => {
            return Ok(Some(Ref::Job("{{$.pipeline_job_create_time_utc}}")))
        }
        "pod.name" => return Ok(Some(Ref::Job("{{$.pipeline_task_uuid}}"))),
        "workflow.status" => return Ok(Some(Ref::Status)),
        _ => {}
    }
    if let Some(f) = inner.strip_prefix("item.") {
        return Ok(Some(Ref::Item(Some(f.to_string()))));
    }
    if [
        "inputs.",
        "outputs.",
        "steps.",
        "workflow.",
        "pod.",
        "node.",
    ]
    .iter()
    .any(|p| inner.starts_with(p))
    {
        return unsupported();
    }
    Ok(None)
}

/// The name of the task input that carries `reference` into a constant or a condition.
fn channel(reference: &str) -> String {
    let clean: String = reference
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("pipelinechannel--{clean}")
}

fn param_placeholder(name: &str) -> String {
    format!("{{{{$.inputs.parameters['{name}']}}}}")
}

/// Where a DAG's task references resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScopeKind {
    /// The root DAG: workflow parameters are its inputs.
    Root,
    /// A DAG template: workflow parameters come in as `penstock-global--` inputs.
    Dag,
    /// The one-task DAG of a loop iteration: the item is an input, everything else is
    /// forwarded from the enclosing DAG.
    Iteration,
}

struct Scope<'s> {
    kind: ScopeKind,
    /// The enclosing component's input parameters (for `{{inputs.parameters.x}}`).
    inputs: &'s BTreeSet<String>,
    /// Its input artifacts.
    artifacts: &'s BTreeSet<String>,
}

/// References an iteration DAG forwards from the DAG around the loop.
type Forwards = BTreeMap<String, Ref>;

/// What a task that calls a container template takes from it.
#[derive(Debug, Clone, Default)]
struct TaskPolicies {
    retry: Option<Value>,
    enable_cache: bool,
    /// `max_cache_staleness` in seconds, when the template has one other than zero.
    max_staleness_seconds: Option<u64>,
    /// The step reads `{{workflow.status}}`.
    uses_status: bool,
}

struct Converter<'a> {
    source: &'a str,
    doc: &'a Value,
    templates: BTreeMap<String, &'a Value>,
    /// Workflow parameter names.
    globals: Vec<String>,
    components: Map<String, Value>,
    executors: Map<String, Value>,
    /// Template name → component name.
    converted: BTreeMap<String, String>,
    policies: BTreeMap<String, TaskPolicies>,
    in_progress: Vec<String>,
    needs_globals_memo: BTreeMap<String, bool>,
}

/// A scalar as Argo reads it: strings verbatim, numbers and booleans as their text.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Fields that only place a pod on a Kubernetes node or name its identity; they have no
/// meaning for one machine and are ignored, as the v2 platform spec's scheduling hints are.
const IGNORED_TEMPLATE_FIELDS: &[&str] = &[
    "nodeSelector",
    "tolerations",
    "affinity",
    "podSpecPatch",
    "serviceAccountName",
    "automountServiceAccountToken",
    "priorityClassName",
    "priority",
    "schedulerName",
    "securityContext",
    "metadata",
];

impl<'a> Converter<'a> {
    fn new(source: &'a str, doc: &'a Value) -> Result<Self, SpecError> {
        let mut c = Converter {
            source,
            doc,
            templates: BTreeMap::new(),
            globals: Vec::new(),
            components: Map::new(),
            executors: Map::new(),
            converted: BTreeMap::new(),
            policies: BTreeMap::new(),
            in_progress: Vec::new(),
            needs_globals_memo: BTreeMap::new(),
        };
        let templates = c
            .spec()?
            .get("templates")
            .ok_or_else(|| c.err("spec.templates", "missing; expected a list of templates"))?;
        let Value::Array(list) = templates else {
            return Err(c.err(
                "spec.templates",
                &format!("expected a list, found {}", json_kind(templates)),
            ));
        };
        for (i, t) in list.iter().enumerate() {
            let name = t.get("name").and_then(Value::as_str).ok_or_else(|| {
                c.err(
                    &format!("spec.templates[{i}].name"),
                    "missing; every template needs a name",
                )
            })?;
            if c.templates.insert(name.to_string(), t).is_some() {
                return Err(c.err(
                    &format!("spec.templates[{i}].name"),
                    &format!("template {name:?} is defined twice"),
                ));
            }
        }
        Ok(c)
    }

    fn err(&self, path: &str, message: &str) -> SpecError {
        SpecError::new(self.source, path, message)
    }

    fn spec(&self) -> Result<&'a Map<String, Value>, SpecError> {
        self.doc
            .get("spec")
            .and_then(Value::as_object)
            .ok_or_else(|| self.err("spec", "missing; an Argo Workflow needs a `spec` mapping"))
    }

    fn tpath(name: &str) -> String {
        format!("spec.templates[{name}]")
    }

    fn template(&self, name: &str, used_at: &str) -> Result<&'a Value, SpecError> {
        self.templates.get(name).copied().ok_or_else(|| {
            self.err(
                used_at,
                &format!("template {name:?} is not defined in spec.templates"),
            )
        })
    }

    fn convert(mut self) -> Result<Value, SpecError> {
        let spec = self.spec()?;
        for (key, value) in spec {
            match key.as_str() {
                "entrypoint"
                | "templates"
                | "arguments"
                | "onExit"
                | "serviceAccountName"
                | "imagePullSecrets"
                | "nodeSelector"
                | "tolerations"
                | "affinity"
                | "podGC"
                | "ttlStrategy"
                | "ttlSecondsAfterFinished"
                | "podMetadata"
                | "priorityClassName"
                | "securityContext"
                | "dnsPolicy"
                | "dnsConfig"
                | "hostNetwork"
                | "schedulerName"
                | "podDisruptionBudget" => {}
                "parallelism" if value.as_i64() == Some(0) || value.is_null() => {}
                "parallelism" => {
                    return Err(self.err(
                        "spec.parallelism",
                        &format!(
                            "a limit of {value} steps at once for the whole workflow is set per \
                             run in Penstock: remove it and use `penstock run --parallelism N` \
                             (or `penstock server --parallelism N`)"
                        ),
                    ))
                }
                "activeDeadlineSeconds" => {
                    return Err(self.err(
                        "spec.activeDeadlineSeconds",
                        &format!(
                            "a whole-workflow deadline ({value} s) is set per run in Penstock: \
                             remove it and use `penstock run --timeout DURATION` (or `penstock \
                             server --run-timeout`); a step's own activeDeadlineSeconds is kept"
                        ),
                    ))
                }
                "volumes" | "volumeClaimTemplates" => {
                    return Err(self.err(
                        &format!("spec.{key}"),
                        "Kubernetes volumes and persistent volume claims need a cluster; \
                         Penstock runs steps on one machine, where steps pass data as \
                         parameters and artifacts",
                    ))
                }
                other => {
                    return Err(self.err(
                        &format!("spec.{other}"),
                        "this Argo workflow field is not part of what KFP v1 pipelines use and \
                         Penstock runs",
                    ))
                }
            }
        }
        let entry = spec
            .get("entrypoint")
            .and_then(Value::as_str)
            .ok_or_else(|| self.err("spec.entrypoint", "missing; expected a template name"))?;
        // Workflow parameters, typed and defaulted from the pipeline_spec annotation.
        let annotation = self.pipeline_annotation()?;
        let mut root_inputs = Map::new();
        let args = spec
            .get("arguments")
            .and_then(|a| a.get("parameters"))
            .cloned()
            .unwrap_or(Value::Array(vec![]));
        let Value::Array(args) = args else {
            return Err(self.err(
                "spec.arguments.parameters",
                &format!("expected a list, found {}", json_kind(&args)),
            ));
        };
        let declared: BTreeMap<String, &Value> = annotation
            .get("inputs")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|i| Some((i.get("name")?.as_str()?.to_string(), i)))
                    .collect()
            })
            .unwrap_or_default();
        for (i, a) in args.iter().enumerate() {
            let path = format!("spec.arguments.parameters[{i}]");
            let name = a
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| self.err(&format!("{path}.name"), "missing"))?;
            let value = a.get("value").and_then(scalar_text);
            let info = declared.get(name);
            let default = info
                .and_then(|d| d.get("default"))
                .and_then(scalar_text)
                .or(value);
            let ty = info
                .and_then(|d| d.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("String");
            root_inputs.insert(
                name.to_string(),
                self.root_input(&path, name, ty, default.as_deref())?,
            );
            self.globals.push(name.to_string());
        }
        // The entrypoint's own inputs that are not workflow arguments keep their defaults.
        let entry_tpl = self.template(entry, "spec.entrypoint")?;
        for (name, def) in self.input_parameters(entry, entry_tpl)? {
            root_inputs.entry(name).or_insert(def);
        }
        let root_names: BTreeSet<String> = root_inputs.keys().cloned().collect();
        let no_artifacts = BTreeSet::new();
        let root_scope = Scope {
            kind: ScopeKind::Root,
            inputs: &root_names,
            artifacts: &no_artifacts,
        };
        let mut tasks = if entry_tpl.get("dag").is_some() {
            self.in_progress.push(entry.to_string());
            let tasks = self.dag_tasks(entry, entry_tpl, &root_scope)?;
            self.in_progress.pop();
            tasks
        } else {
            // A single-step workflow: the root runs its one template.
            let call = json!({"name": entry, "template": entry, "arguments": {"parameters":
                self.input_parameters(entry, entry_tpl)?.keys()
                    .map(|n| json!({"name": n, "value": format!("{{{{inputs.parameters.{n}}}}}")}))
                    .collect::<Vec<_>>()}});
            let mut tasks = Map::new();
            self.task(&call, "spec.entrypoint", &root_scope, &mut tasks)?;
            tasks
        };
        if let Some(exit) = spec.get("onExit") {
            let exit = exit
                .as_str()
                .ok_or_else(|| self.err("spec.onExit", "expected a template name"))?;
            let mut name = exit.to_string();
            while tasks.contains_key(&name) {
                name.push_str("-exit");
            }
            let call = json!({"name": name, "template": exit});
            let mut exit_tasks = Map::new();
            self.task(&call, "spec.onExit", &root_scope, &mut exit_tasks)?;
            let upstream: Vec<Value> = tasks.keys().map(|k| Value::String(k.clone())).collect();
            if self.policies.get(exit).is_some_and(|p| p.uses_status) {
                // Argo's workflow status is the status of the pipeline the handler wraps.
                let [only] = upstream.as_slice() else {
                    return Err(self.err(
                        "spec.onExit",
                        "the exit handler reads {{workflow.status}}, which Penstock can give only \
                         when the handler wraps the whole pipeline (one dsl.ExitHandler around \
                         every step)",
                    ));
                };
                for (_, t) in exit_tasks.iter_mut() {
                    if let Some(p) = t
                        .pointer_mut("/inputs/parameters")
                        .and_then(Value::as_object_mut)
                    {
                        p.insert(
                            STATUS_INPUT.to_string(),
                            json!({"taskFinalStatus": {"producerTask": only},
                                   "parameterExpressionSelector": STATUS_SELECTOR}),
                        );
                    }
                }
            }
            for (_, t) in exit_tasks.iter_mut() {
                if let Some(t) = t.as_object_mut() {
                    t.insert("dependentTasks".into(), Value::Array(upstream.clone()));
                    t.insert(
                        "triggerPolicy".into(),
                        json!({"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"}),
                    );
                }
            }
            tasks.extend(exit_tasks);
        }
        let meta = self.doc.get("metadata");
        let display = annotation
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                meta.and_then(|m| m.get("generateName"))
                    .and_then(Value::as_str)
                    .map(|g| g.trim_end_matches('-').to_string())
            })
            .or_else(|| {
                meta.and_then(|m| m.get("name"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| entry.to_string());
        let name: String = display
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .split('-')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let mut info = json!({"name": if name.is_empty() { entry.to_string() } else { name }, "displayName": display});
        if let Some(d) = annotation.get("description").and_then(Value::as_str) {
            info["description"] = Value::String(d.to_string());
        }
        let sdk = meta
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get("pipelines.kubeflow.org/kfp_sdk_version"))
            .and_then(Value::as_str)
            .map(|v| format!("kfp-{v}"))
            .unwrap_or_else(|| "kfp-1".to_string());
        Ok(json!({
            "pipelineInfo": info,
            "sdkVersion": sdk,
            "schemaVersion": "2.1.0",
            "deploymentSpec": {"executors": Value::Object(self.executors)},
            "components": Value::Object(self.components),
            "root": {
                "inputDefinitions": {"parameters": Value::Object(root_inputs)},
                "dag": {"tasks": Value::Object(tasks)},
            },
        }))
    }

    fn pipeline_annotation(&self) -> Result<Value, SpecError> {
        let Some(text) = self
            .doc
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get(PIPELINE_SPEC_ANNOTATION))
        else {
            return Ok(Value::Object(Map::new()));
        };
        let path = format!("metadata.annotations[{PIPELINE_SPEC_ANNOTATION}]");
        let text = text
            .as_str()
            .ok_or_else(|| self.err(&path, "expected a JSON string"))?;
        serde_json::from_str(text).map_err(|e| self.err(&path, &format!("malformed JSON: {e}")))
    }

    /// A root input: kfp 1.x `Integer` and `Float` inputs become typed numbers (their text
    /// is what steps see, as in Argo); every other type is a string.
    fn root_input(
        &self,
        path: &str,
        name: &str,
        ty: &str,
        default: Option<&str>,
    ) -> Result<Value, SpecError> {
        let kind = match ty {
            "Integer" | "int" => "NUMBER_INTEGER",
            "Float" | "float" => "NUMBER_DOUBLE",
            _ => "STRING",
        };
        let mut def = json!({"parameterType": kind});
        if let Some(d) = default {
            let value = match kind {
                "NUMBER_INTEGER" => d.trim().parse::<i64>().map(Value::from).ok(),
                "NUMBER_DOUBLE" => d.trim().parse::<f64>().ok().map(Value::from),
                _ => Some(Value::String(d.to_string())),
            };
            let value = value.ok_or_else(|| {
                self.err(
                    path,
                    &format!("the default {d:?} of input {name:?} is not a valid {ty}"),
                )
            })?;
            def["defaultValue"] = value;
            def["isOptional"] = Value::Bool(true);
        }
        Ok(def)
    }

    /// The input parameters a template declares, as v2 input definitions.
    fn input_parameters(&self, name: &str, tpl: &Value) -> Result<Map<String, Value>, SpecError> {
        let mut out = Map::new();
        let Some(params) = tpl.get("inputs").and_then(|i| i.get("parameters")) else {
            return Ok(out);
        };
        let path = format!("{}.inputs.parameters", Self::tpath(name));
        let list = params
            .as_array()
            .ok_or_else(|| self.err(&path, "expected a list"))?;
        for (i, p) in list.iter().enumerate() {
            let pname = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| self.err(&format!("{path}[{i}].name"), "missing"))?;
            for key in p.as_object().map(|m| m.keys()).into_iter().flatten() {
                if !["name", "value", "default", "description"].contains(&key.as_str()) {
                    return Err(self.err(
                        &format!("{path}[{pname}].{key}"),
                        "not supported; an input parameter has a name and an optional value or default",
                    ));
                }
            }
            let mut def = json!({"parameterType": "STRING"});
            if let Some(d) = p
                .get("value")
                .or_else(|| p.get("default"))
                .and_then(scalar_text)
            {
                def["defaultValue"] = Value::String(d);
                def["isOptional"] = Value::Bool(true);
            }
            out.insert(pname.to_string(), def);
        }
        Ok(out)
    }

    /// Whether a template (or one it calls) reads `{{workflow.parameters.…}}`.
    fn needs_globals(&mut self, name: &str) -> bool {
        if let Some(b) = self.needs_globals_memo.get(name) {
            return *b;
        }
        self.needs_globals_memo.insert(name.to_string(), false);
        let Some(tpl) = self.templates.get(name).copied() else {
            return false;
        };
        let mut needs = tpl.to_string().contains("workflow.parameters.");
        if let Some(tasks) = tpl
            .get("dag")
            .and_then(|d| d.get("tasks"))
            .and_then(Value::as_array)
        {
            for t in tasks {
                if let Some(callee) = t.get("template").and_then(Value::as_str) {
                    needs |= self.needs_globals(callee);
                }
            }
        }
        self.needs_globals_memo.insert(name.to_string(), needs);
        needs
    }

    /// The component for a template, converting it on first use.
    fn component(&mut self, name: &str, used_at: &str) -> Result<String, SpecError> {
        if let Some(c) = self.converted.get(name) {
            return Ok(c.clone());
        }
        if self.in_progress.iter().any(|n| n == name) {
            let chain = self.in_progress.join(" → ");
            return Err(self.err(
                used_at,
                &format!(
                    "template {name:?} calls itself ({chain} → {name}): recursive graph \
                     components (kfp 1.x `@graph_component` loops) have no equivalent in the v2 \
                     pipeline model; write the loop as a dsl.ParallelFor or unroll it"
                ),
            ));
        }
        let tpl = self.template(name, used_at)?;
        let tp = Self::tpath(name);
        for kind in [
            "resource", "script", "steps", "suspend", "data", "http", "plugin",
        ] {
            if tpl.get(kind).is_some() {
                let why = match kind {
                    "resource" => {
                        "creates a Kubernetes resource (dsl.ResourceOp, VolumeOp, \
                         VolumeSnapshotOp), which needs a cluster"
                    }
                    "script" => "is an Argo script template, which KFP v1 does not compile",
                    _ => "is a kind of Argo template that KFP v1 pipelines do not use",
                };
                return Err(self.err(&format!("{tp}.{kind}"), &format!("this step {why}")));
            }
        }
        self.in_progress.push(name.to_string());
        let comp_name = format!("comp-{name}");
        let result = if tpl.get("container").is_some() {
            self.container(name, tpl)
        } else if tpl.get("dag").is_some() {
            self.dag_component(name, tpl)
        } else {
            Err(self.err(
                &tp,
                "the template has neither `container` nor `dag`; expected one of them",
            ))
        };
        self.in_progress.pop();
        let component = result?;
        self.components.insert(comp_name.clone(), component);
        self.converted.insert(name.to_string(), comp_name.clone());
        Ok(comp_name)
    }

    fn global_inputs(&self) -> Map<String, Value> {
        self.globals
            .iter()
            .map(|g| {
                (
                    format!("{GLOBAL_PREFIX}{g}"),
                    json!({"parameterType": "STRING", "isOptional": true}),
                )
            })
            .collect()
    }

    fn dag_component(&mut self, name: &str, tpl: &'a Value) -> Result<Value, SpecError> {
        let tp = Self::tpath(name);
        for key in tpl.as_object().map(|m| m.keys()).into_iter().flatten() {
            match key.as_str() {
                "name" | "inputs" | "outputs" | "dag" | "parallelism" | "metadata" => {}
                k if IGNORED_TEMPLATE_FIELDS.contains(&k) => {}
                other => return Err(self.refused_template_field(&tp, other)),
            }
        }
        let mut inputs = self.input_parameters(name, tpl)?;
        if self.needs_globals(name) {
            inputs.extend(self.global_inputs());
        }
        let mut input_artifacts = Map::new();
        if let Some(list) = tpl
            .get("inputs")
            .and_then(|i| i.get("artifacts"))
            .and_then(Value::as_array)
        {
            for (i, a) in list.iter().enumerate() {
                let an = a.get("name").and_then(Value::as_str).ok_or_else(|| {
                    self.err(&format!("{tp}.inputs.artifacts[{i}].name"), "missing")
                })?;
                input_artifacts.insert(
                    an.to_string(),
                    json!({"artifactType": {"schemaTitle": "system.Artifact", "schemaVersion": "0.0.1"}}),
                );
            }
        }
        let names: BTreeSet<String> = inputs.keys().cloned().collect();
        let art_names: BTreeSet<String> = input_artifacts.keys().cloned().collect();
        let scope = Scope {
            kind: ScopeKind::Dag,
            inputs: &names,
            artifacts: &art_names,
        };
        let tasks = self.dag_tasks(name, tpl, &scope)?;
        // DAG outputs that select a task's output.
        let mut out_params = Map::new();
        let mut out_param_defs = Map::new();
        let mut out_arts = Map::new();
        let mut out_art_defs = Map::new();
        if let Some(outputs) = tpl.get("outputs") {
            for (i, p) in outputs
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let path = format!("{tp}.outputs.parameters[{i}]");
                let pn = p
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| self.err(&format!("{path}.name"), "missing"))?;
                let from = p
                    .get("valueFrom")
                    .and_then(|v| v.get("parameter"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match segments(from).map_err(|e| self.err(&path, &e))?.as_slice() {
                    [Seg::Ref(Ref::TaskParam(t, o), _)] => {
                        out_params.insert(pn.to_string(), json!({"valueFromParameter": {"producerSubtask": t, "outputParameterKey": o}}));
                        out_param_defs.insert(pn.to_string(), json!({"parameterType": "STRING"}));
                    }
                    _ => return Err(self.err(&format!("{path}.valueFrom"), "a DAG's output parameter must be `valueFrom: {parameter: '{{tasks.TASK.outputs.parameters.NAME}}'}`")),
                }
            }
            for (i, a) in outputs
                .get("artifacts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let path = format!("{tp}.outputs.artifacts[{i}]");
                let an = a
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| self.err(&format!("{path}.name"), "missing"))?;
                let from = a.get("from").and_then(Value::as_str).unwrap_or_default();
                match segments(from).map_err(|e| self.err(&path, &e))?.as_slice() {
                    [Seg::Ref(Ref::TaskArtifact(t, o), _)] => {
                        out_arts.insert(an.to_string(), json!({"artifactSelectors": [{"producerSubtask": t, "outputArtifactKey": o}]}));
                        out_art_defs.insert(an.to_string(), json!({"artifactType": {"schemaTitle": "system.Artifact", "schemaVersion": "0.0.1"}}));
                    }
                    _ => return Err(self.err(&format!("{path}.from"), "a DAG's output artifact must be `from: '{{tasks.TASK.outputs.artifacts.NAME}}'`")),
                }
            }
        }
        Ok(json!({
            "inputDefinitions": {"parameters": inputs, "artifacts": input_artifacts},
            "outputDefinitions": {"parameters": out_param_defs, "artifacts": out_art_defs},
            "dag": {"tasks": tasks, "outputs": {"parameters": out_params, "artifacts": out_arts}},
        }))
    }

    fn refused_template_field(&self, tp: &str, field: &str) -> SpecError {
        let why = match field {
            "sidecars" | "initContainers" => {
                "extra containers beside a step (sidecars, init containers) need a pod; run the \
                 service as its own step or outside the pipeline"
            }
            "volumes" => {
                "Kubernetes volumes need a cluster; on one machine steps pass data as parameters \
                 and artifacts"
            }
            "daemon" => "daemon steps need a pod that outlives the step",
            "archiveLocation" | "outputs.artifacts.s3" => {
                "artifact repositories are Penstock's own; remove the location"
            }
            _ => "this Argo template field is not part of what KFP v1 pipelines use and Penstock runs",
        };
        self.err(&format!("{tp}.{field}"), why)
    }

    /// Converts the tasks of a DAG template.
    fn dag_tasks(
        &mut self,
        name: &str,
        tpl: &'a Value,
        scope: &Scope<'_>,
    ) -> Result<Map<String, Value>, SpecError> {
        let tp = Self::tpath(name);
        let dag = tpl
            .get("dag")
            .and_then(Value::as_object)
            .ok_or_else(|| self.err(&format!("{tp}.dag"), "expected a mapping with `tasks`"))?;
        for key in dag.keys() {
            if key != "tasks" {
                return Err(self.err(
                    &format!("{tp}.dag.{key}"),
                    "not supported; a KFP v1 DAG has only `tasks`",
                ));
            }
        }
        let list = dag
            .get("tasks")
            .and_then(Value::as_array)
            .ok_or_else(|| self.err(&format!("{tp}.dag.tasks"), "expected a list"))?;
        let mut tasks = Map::new();
        for (i, t) in list.iter().enumerate() {
            let tn = t.get("name").and_then(Value::as_str).unwrap_or_default();
            let path = if tn.is_empty() {
                format!("{tp}.dag.tasks[{i}]")
            } else {
                format!("{tp}.dag.tasks[{tn}]")
            };
            self.task(t, &path, scope, &mut tasks)?;
        }
        Ok(tasks)
    }

    /// The v2 source of a task input parameter for reference `r` in `scope`.
    fn param_source(
        &self,
        r: &Ref,
        text: &str,
        scope: &Scope<'_>,
        forwards: &mut Forwards,
    ) -> Result<Value, String> {
        if scope.kind == ScopeKind::Iteration {
            return Ok(match r {
                Ref::Item(None) => json!({"componentInputParameter": LOOP_ITEM}),
                Ref::Item(Some(f)) => json!({
                    "componentInputParameter": LOOP_ITEM,
                    "parameterExpressionSelector": format!("parseJson(string_value)[\"{f}\"]"),
                }),
                Ref::Job(p) => json!({"runtimeValue": {"constant": p}}),
                Ref::Status => return Err(STATUS_ONLY_IN_EXIT.to_string()),
                Ref::InputArtifact(_) | Ref::TaskArtifact(..) => {
                    return Err(format!("{{{{{text}}}}} is an artifact, not a parameter"))
                }
                other => {
                    let ch = channel(text);
                    forwards.insert(ch.clone(), other.clone());
                    json!({"componentInputParameter": ch})
                }
            });
        }
        Ok(match r {
            Ref::Input(x) => {
                if !scope.inputs.contains(x) {
                    return Err(format!(
                        "{{{{{text}}}}}: the template has no input parameter {x:?}"
                    ));
                }
                json!({"componentInputParameter": x})
            }
            Ref::Global(x) => {
                if !self.globals.contains(x) {
                    return Err(format!(
                        "{{{{{text}}}}}: the workflow has no parameter {x:?} in spec.arguments.parameters"
                    ));
                }
                if scope.kind == ScopeKind::Root {
                    json!({"componentInputParameter": x})
                } else {
                    json!({"componentInputParameter": format!("{GLOBAL_PREFIX}{x}")})
                }
            }
            Ref::TaskParam(t, o) => {
                json!({"taskOutputParameter": {"producerTask": t, "outputParameterKey": o}})
            }
            Ref::Job(p) => json!({"runtimeValue": {"constant": p}}),
            Ref::Status => return Err(STATUS_ONLY_IN_EXIT.to_string()),
            Ref::Item(_) => {
                return Err(format!(
                    "{{{{{text}}}}} is only meaningful in a task with withItems or withParam"
                ))
            }
            Ref::InputArtifact(_) | Ref::TaskArtifact(..) => {
                return Err(format!("{{{{{text}}}}} is an artifact, not a parameter"))
            }
        })
    }

    /// A task input parameter from an argument's text: a direct source for a lone reference,
    /// a constant for plain text, or a constant interpolating channel inputs.
    fn argument(
        &self,
        text: &str,
        scope: &Scope<'_>,
        inputs: &mut Map<String, Value>,
        forwards: &mut Forwards,
    ) -> Result<Value, String> {
        let segs = segments(text)?;
        match segs.as_slice() {
            [] => Ok(json!({"runtimeValue": {"constant": ""}})),
            [Seg::Ref(r, t)] => self.param_source(r, t, scope, forwards),
            _ if segs.iter().all(|s| matches!(s, Seg::Text(_))) => {
                Ok(json!({"runtimeValue": {"constant": text}}))
            }
            _ => {
                let mut constant = String::new();
                for s in &segs {
                    match s {
                        Seg::Text(t) => constant.push_str(t),
                        Seg::Ref(Ref::Job(p), _) => constant.push_str(p),
                        Seg::Ref(r, t) => {
                            let ch = channel(t);
                            inputs.insert(ch.clone(), self.param_source(r, t, scope, forwards)?);
                            constant.push_str(&param_placeholder(&ch));
                        }
                    }
                }
                Ok(json!({"runtimeValue": {"constant": constant}}))
            }
        }
    }

    /// Converts a govaluate `when` expression into CEL over the task's inputs.
    fn condition(
        &self,
        expr: &str,
        scope: &Scope<'_>,
        inputs: &mut Map<String, Value>,
        forwards: &mut Forwards,
    ) -> Result<String, String> {
        let mut out = String::new();
        let chars: Vec<char> = expr.chars().collect();
        let mut i = 0;
        let reference = |text: &str,
                         inputs: &mut Map<String, Value>,
                         forwards: &mut Forwards|
         -> Result<String, String> {
            let segs = segments(text)?;
            let mut pieces = Vec::new();
            for s in &segs {
                match s {
                    Seg::Text(t) => pieces.push(serde_json::to_string(t).unwrap_or_default()),
                    Seg::Ref(r, t) => {
                        let ch = channel(t);
                        inputs.insert(ch.clone(), self.param_source(r, t, scope, forwards)?);
                        pieces.push(format!("string(inputs.parameter_values['{ch}'])"));
                    }
                }
            }
            Ok(if pieces.is_empty() {
                "\"\"".to_string()
            } else {
                format!("({})", pieces.join(" + "))
            })
        };
        while i < chars.len() {
            let c = chars[i];
            if c == '"' || c == '\'' {
                let end = chars[i + 1..]
                    .iter()
                    .position(|x| *x == c)
                    .map(|p| i + 1 + p)
                    .ok_or_else(|| format!("unterminated string in condition {expr:?}"))?;
                let literal: String = chars[i + 1..end].iter().collect();
                if literal.contains("{{") {
                    out.push_str(&reference(&literal, inputs, forwards)?);
                } else {
                    out.push_str(&serde_json::to_string(&literal).unwrap_or_default());
                }
                i = end + 1;
            } else if c == '{' && chars.get(i + 1) == Some(&'{') {
                let rest: String = chars[i..].iter().collect();
                let len = rest
                    .find("}}")
                    .ok_or_else(|| format!("unterminated {{{{ in condition {expr:?}"))?;
                let text = &rest[..len + 2];
                let inner = reference(text, inputs, forwards)?;
                // Unquoted references are compared as numbers, as govaluate does.
                out.push_str(&format!("double{inner}"));
                i += text.chars().count();
            } else if c.is_ascii_digit()
                && !out
                    .chars()
                    .last()
                    .is_some_and(|p| p.is_ascii_alphanumeric() || p == '_' || p == '.')
            {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let number: String = chars[start..i].iter().collect();
                out.push_str(&number);
                if !number.contains('.') {
                    out.push_str(".0");
                }
            } else {
                out.push(c);
                i += 1;
            }
        }
        Ok(out)
    }

    /// Converts one DAG task (a loop task also adds its iteration component) into `tasks`.
    fn task(
        &mut self,
        t: &Value,
        path: &str,
        scope: &Scope<'_>,
        tasks: &mut Map<String, Value>,
    ) -> Result<(), SpecError> {
        let obj = t
            .as_object()
            .ok_or_else(|| self.err(path, "expected a mapping"))?;
        for key in obj.keys() {
            match key.as_str() {
                "name" | "template" | "arguments" | "dependencies" | "when" | "withItems"
                | "withParam" => {}
                "withSequence" => {
                    return Err(self.err(
                        &format!("{path}.withSequence"),
                        "not supported; KFP v1 loops use withItems or withParam",
                    ))
                }
                "onExit" => {
                    return Err(self.err(
                        &format!("{path}.onExit"),
                        "a task's own exit hook is not supported; KFP v1 exit handlers are the \
                         workflow's spec.onExit",
                    ))
                }
                other => {
                    return Err(self.err(
                        &format!("{path}.{other}"),
                        "this Argo DAG task field is not part of what KFP v1 pipelines use",
                    ))
                }
            }
        }
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| self.err(&format!("{path}.name"), "missing"))?;
        let callee = obj.get("template").and_then(Value::as_str).ok_or_else(|| {
            self.err(
                &format!("{path}.template"),
                "missing; expected a template name",
            )
        })?;
        let component = self.component(callee, &format!("{path}.template"))?;
        let callee_tpl = self.template(callee, path)?;
        let callee_globals = self.needs_globals(callee);
        let is_loop = obj.contains_key("withItems") || obj.contains_key("withParam");
        let parallelism = match callee_tpl.get("parallelism") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| {
                    self.err(
                        &format!("{}.parallelism", Self::tpath(callee)),
                        &format!("expected a number, found {v}"),
                    )
                })?,
        };
        if parallelism > 0 && !is_loop {
            return Err(self.err(
                &format!("{}.parallelism", Self::tpath(callee)),
                "a limit on the steps of a DAG that is not a loop body has no v2 equivalent; \
                 use `penstock run --parallelism N`",
            ));
        }
        let args: Vec<(String, String)> =
            match obj.get("arguments").and_then(|a| a.get("parameters")) {
                None => Vec::new(),
                Some(Value::Array(list)) => list
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let n = p.get("name").and_then(Value::as_str).ok_or_else(|| {
                            self.err(&format!("{path}.arguments.parameters[{i}].name"), "missing")
                        })?;
                        let v = p.get("value").and_then(scalar_text).ok_or_else(|| {
                            self.err(
                                &format!("{path}.arguments.parameters[{n}].value"),
                                "missing; expected a value (valueFrom is not supported)",
                            )
                        })?;
                        Ok((n.to_string(), v))
                    })
                    .collect::<Result<_, SpecError>>()?,
                Some(other) => {
                    return Err(self.err(
                        &format!("{path}.arguments.parameters"),
                        &format!("expected a list, found {}", json_kind(other)),
                    ))
                }
            };
        let art_args: Vec<(String, String)> = match obj.get("arguments").and_then(|a| a.get("artifacts")) {
            None => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let n = a.get("name").and_then(Value::as_str).ok_or_else(|| {
                        self.err(&format!("{path}.arguments.artifacts[{i}].name"), "missing")
                    })?;
                    if a.get("raw").is_some() {
                        return Err(self.err(
                            &format!("{path}.arguments.artifacts[{n}].raw"),
                            "constant artifact data (an InputPath given a constant) is not \
                             supported; produce the file in an earlier step",
                        ));
                    }
                    let from = a.get("from").and_then(Value::as_str).ok_or_else(|| {
                        self.err(
                            &format!("{path}.arguments.artifacts[{n}].from"),
                            "missing; expected '{{tasks.TASK.outputs.artifacts.NAME}}' or '{{inputs.artifacts.NAME}}'",
                        )
                    })?;
                    Ok((n.to_string(), from.to_string()))
                })
                .collect::<Result<_, SpecError>>()?,
            Some(other) => {
                return Err(self.err(
                    &format!("{path}.arguments.artifacts"),
                    &format!("expected a list, found {}", json_kind(other)),
                ))
            }
        };
        let policies = self.policies.get(callee).cloned();
        if policies.as_ref().is_some_and(|p| p.uses_status) && path != "spec.onExit" {
            return Err(self.err(&format!("{path}.template"), STATUS_ONLY_IN_EXIT));
        }
        let uses_item = |v: &str| v.contains("{{item");
        let item_args: Vec<&(String, String)> = args.iter().filter(|(_, v)| uses_item(v)).collect();
        let direct_item = is_loop
            && item_args.len() <= 1
            && item_args.iter().all(|(_, v)| v.trim() == "{{item}}");
        if !is_loop && !item_args.is_empty() {
            return Err(self.err(
                &format!("{path}.arguments.parameters[{}]", item_args[0].0),
                "{{item}} is only meaningful in a task with withItems or withParam",
            ));
        }

        // The task that runs the template: the task itself, or the one task of the iteration
        // DAG of a loop whose arguments select fields of the item.
        let inner_scope_inputs = BTreeSet::new();
        let inner_scope = Scope {
            kind: ScopeKind::Iteration,
            inputs: &inner_scope_inputs,
            artifacts: &inner_scope_inputs,
        };
        let call_scope = if is_loop && !direct_item {
            &inner_scope
        } else {
            scope
        };
        let mut forwards = Forwards::new();
        let mut inputs = Map::new();
        let mut item_input = LOOP_ITEM.to_string();
        for (n, v) in &args {
            if is_loop && direct_item && v.trim() == "{{item}}" {
                item_input = n.clone();
                continue;
            }
            let source = self
                .argument(v, call_scope, &mut inputs, &mut forwards)
                .map_err(|e| self.err(&format!("{path}.arguments.parameters[{n}]"), &e))?;
            inputs.insert(n.clone(), source);
        }
        if callee_globals {
            for g in self.globals.clone() {
                let text = format!("workflow.parameters.{g}");
                let source = self
                    .param_source(&Ref::Global(g.clone()), &text, call_scope, &mut forwards)
                    .map_err(|e| self.err(path, &e))?;
                inputs.insert(format!("{GLOBAL_PREFIX}{g}"), source);
            }
        }
        let mut artifacts = Map::new();
        for (n, from) in &art_args {
            let apath = format!("{path}.arguments.artifacts[{n}].from");
            let segs = segments(from).map_err(|e| self.err(&apath, &e))?;
            let source = match segs.as_slice() {
                [Seg::Ref(r @ (Ref::TaskArtifact(..) | Ref::InputArtifact(_)), text)] => {
                    if call_scope.kind == ScopeKind::Iteration {
                        let ch = channel(text);
                        forwards.insert(ch.clone(), r.clone());
                        json!({"componentInputArtifact": ch})
                    } else {
                        self.artifact_source(r, call_scope)
                            .map_err(|e| self.err(&apath, &e))?
                    }
                }
                _ => {
                    return Err(self.err(
                        &apath,
                        &format!("{from:?}: expected '{{{{tasks.TASK.outputs.artifacts.NAME}}}}' or '{{{{inputs.artifacts.NAME}}}}'"),
                    ))
                }
            };
            artifacts.insert(n.clone(), source);
        }
        // `op.set_display_name(...)` is an annotation on the template.
        let display = callee_tpl
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(TASK_DISPLAY_NAME_ANNOTATION))
            .and_then(Value::as_str)
            .unwrap_or(name);
        let mut runner = json!({
            "taskInfo": {"name": display},
            "componentRef": {"name": component},
            "inputs": {"parameters": inputs, "artifacts": artifacts},
        });
        if let Some(p) = &policies {
            runner["cachingOptions"] = json!({"enableCache": p.enable_cache});
            if let Some(seconds) = p.max_staleness_seconds {
                runner["cachingOptions"]["penstockMaxCacheStalenessSeconds"] = json!(seconds);
            }
            if let Some(r) = &p.retry {
                runner["retryPolicy"] = r.clone();
            }
        }

        // The task placed in this DAG.
        let mut outer = if is_loop && !direct_item {
            // An iteration DAG holding the runner; what it reads from outside is forwarded.
            // A dot, which Argo template names cannot hold, keeps it apart from templates.
            let mut comp_name = format!("comp-{name}.iteration");
            while self.components.contains_key(&comp_name) {
                comp_name.push_str("-x");
            }
            let mut wrapper_inputs = Map::new();
            wrapper_inputs.insert(LOOP_ITEM.into(), json!({"parameterType": "STRING"}));
            let mut wrapper_artifacts = Map::new();
            let mut outer_inputs = Map::new();
            let mut outer_artifacts = Map::new();
            let mut none = Forwards::new();
            for (ch, r) in &forwards {
                match r {
                    Ref::TaskArtifact(..) | Ref::InputArtifact(_) => {
                        wrapper_artifacts.insert(ch.clone(), json!({"artifactType": {"schemaTitle": "system.Artifact", "schemaVersion": "0.0.1"}}));
                        outer_artifacts.insert(
                            ch.clone(),
                            self.artifact_source(r, scope)
                                .map_err(|e| self.err(path, &e))?,
                        );
                    }
                    _ => {
                        wrapper_inputs.insert(ch.clone(), json!({"parameterType": "STRING"}));
                        let text = ch.trim_start_matches("pipelinechannel--").to_string();
                        outer_inputs.insert(
                            ch.clone(),
                            self.param_source(r, &text, scope, &mut none)
                                .map_err(|e| self.err(path, &e))?,
                        );
                    }
                }
            }
            let mut inner_tasks = Map::new();
            inner_tasks.insert(name.to_string(), runner);
            self.components.insert(
                comp_name.clone(),
                json!({
                    "inputDefinitions": {"parameters": wrapper_inputs, "artifacts": wrapper_artifacts},
                    "dag": {"tasks": inner_tasks},
                }),
            );
            json!({
                "taskInfo": {"name": name},
                "componentRef": {"name": comp_name},
                "inputs": {"parameters": outer_inputs, "artifacts": outer_artifacts},
            })
        } else {
            runner
        };
        if is_loop {
            let mut none = Forwards::new();
            let outer_inputs = outer["inputs"]["parameters"]
                .as_object_mut()
                .ok_or_else(|| self.err(path, "internal: task inputs are not a mapping"))?;
            let items = if let Some(list) = obj.get("withItems") {
                let Value::Array(_) = list else {
                    return Err(self.err(
                        &format!("{path}.withItems"),
                        &format!("expected a list, found {}", json_kind(list)),
                    ));
                };
                let text = list.to_string();
                if text.contains("{{") {
                    let source = self
                        .argument(&text, scope, outer_inputs, &mut none)
                        .map_err(|e| self.err(&format!("{path}.withItems"), &e))?;
                    outer_inputs.insert(LOOP_ITEMS.into(), source);
                    json!({"inputParameter": LOOP_ITEMS})
                } else {
                    json!({"raw": text})
                }
            } else {
                let param = obj
                    .get("withParam")
                    .and_then(scalar_text)
                    .ok_or_else(|| self.err(&format!("{path}.withParam"), "expected a string"))?;
                let source = self
                    .argument(&param, scope, outer_inputs, &mut none)
                    .map_err(|e| self.err(&format!("{path}.withParam"), &e))?;
                outer_inputs.insert(LOOP_ITEMS.into(), source);
                json!({"inputParameter": LOOP_ITEMS})
            };
            outer["parameterIterator"] = json!({"items": items, "itemInput": item_input});
            if parallelism > 0 {
                outer["iteratorPolicy"] = json!({"parallelismLimit": parallelism});
            }
        }
        if let Some(deps) = obj.get("dependencies") {
            let list = deps
                .as_array()
                .filter(|l| l.iter().all(Value::is_string))
                .ok_or_else(|| {
                    self.err(
                        &format!("{path}.dependencies"),
                        "expected a list of task names",
                    )
                })?;
            outer["dependentTasks"] = Value::Array(list.clone());
        }
        if let Some(when) = obj.get("when") {
            let expr = scalar_text(when)
                .ok_or_else(|| self.err(&format!("{path}.when"), "expected a string"))?;
            let mut none = Forwards::new();
            let outer_inputs = outer["inputs"]["parameters"]
                .as_object_mut()
                .ok_or_else(|| self.err(path, "internal: task inputs are not a mapping"))?;
            let cel = self
                .condition(&expr, scope, outer_inputs, &mut none)
                .map_err(|e| self.err(&format!("{path}.when"), &e))?;
            outer["triggerPolicy"] = json!({"condition": cel});
        }
        tasks.insert(name.to_string(), outer);
        Ok(())
    }

    fn artifact_source(&self, r: &Ref, scope: &Scope<'_>) -> Result<Value, String> {
        match r {
            Ref::TaskArtifact(t, o) => {
                Ok(json!({"taskOutputArtifact": {"producerTask": t, "outputArtifactKey": o}}))
            }
            Ref::InputArtifact(x) if scope.artifacts.contains(x) => {
                Ok(json!({"componentInputArtifact": x}))
            }
            Ref::InputArtifact(x) => Err(format!("the template has no input artifact {x:?}")),
            _ => Err("expected an artifact reference".into()),
        }
    }

    /// Converts a container template into a component and its executor.
    fn container(&mut self, name: &str, tpl: &'a Value) -> Result<Value, SpecError> {
        let tp = Self::tpath(name);
        for key in tpl.as_object().map(|m| m.keys()).into_iter().flatten() {
            match key.as_str() {
                "name"
                | "container"
                | "inputs"
                | "outputs"
                | "retryStrategy"
                | "activeDeadlineSeconds" => {}
                k if IGNORED_TEMPLATE_FIELDS.contains(&k) => {}
                other => return Err(self.refused_template_field(&tp, other)),
            }
        }
        let container = tpl
            .get("container")
            .and_then(Value::as_object)
            .ok_or_else(|| self.err(&format!("{tp}.container"), "expected a mapping"))?;
        for key in container.keys() {
            match key.as_str() {
                "image" | "command" | "args" | "env" | "resources" | "imagePullPolicy" | "name"
                | "securityContext" => {}
                "volumeMounts" => {
                    return Err(self.err(
                        &format!("{tp}.container.volumeMounts"),
                        "mounting Kubernetes volumes needs a cluster; on one machine steps pass \
                         data as parameters and artifacts",
                    ))
                }
                other => {
                    return Err(self.err(
                        &format!("{tp}.container.{other}"),
                        "this container field is not supported for a local step",
                    ))
                }
            }
        }
        let mut inputs = self.input_parameters(name, tpl)?;
        let needs_globals = self.needs_globals(name);
        if needs_globals {
            inputs.extend(self.global_inputs());
        }
        let input_names: BTreeSet<String> = inputs.keys().cloned().collect();

        // Files: every path maps to the placeholder that gives the step a private location.
        #[derive(Clone)]
        enum FileUse {
            InArt(String),
            /// Constant data (`raw`) written to a private file before the step starts.
            Raw(String),
            OutParam(String),
            OutArt(String),
        }
        let mut files: BTreeMap<String, Vec<(FileUse, String)>> = BTreeMap::new();
        let mut input_artifacts = Map::new();
        // (name, data) of constant input artifacts.
        let mut raw_inputs: Vec<(String, String)> = Vec::new();
        for (i, a) in tpl
            .get("inputs")
            .and_then(|x| x.get("artifacts"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let apath = format!("{tp}.inputs.artifacts[{i}]");
            let an = a
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| self.err(&format!("{apath}.name"), "missing"))?;
            let apath = format!("{tp}.inputs.artifacts[{an}]");
            for key in a.as_object().map(|m| m.keys()).into_iter().flatten() {
                match key.as_str() {
                    "name" | "path" | "optional" | "raw" => {}
                    other => {
                        return Err(self.err(
                            &format!("{apath}.{other}"),
                            "not supported; an input artifact has a name and a path",
                        ))
                    }
                }
            }
            let p = a
                .get("path")
                .and_then(Value::as_str)
                .ok_or_else(|| self.err(&format!("{apath}.path"), "missing"))?;
            if let Some(raw) = a.get("raw") {
                // An InputPath given a constant: kfp 1.8 puts the data in the template.
                let data = raw.get("data").and_then(scalar_text).ok_or_else(|| {
                    self.err(
                        &format!("{apath}.raw.data"),
                        "missing; expected the file's text",
                    )
                })?;
                if let Some(k) = raw
                    .as_object()
                    .and_then(|m| m.keys().find(|k| *k != "data"))
                {
                    return Err(self.err(
                        &format!("{apath}.raw.{k}"),
                        "not supported; expected only `data`",
                    ));
                }
                raw_inputs.push((an.to_string(), data));
                files
                    .entry(p.to_string())
                    .or_default()
                    .push((FileUse::Raw(an.to_string()), format!("{apath}.path")));
                continue;
            }
            files
                .entry(p.to_string())
                .or_default()
                .push((FileUse::InArt(an.to_string()), format!("{apath}.path")));
            let optional = a.get("optional").and_then(Value::as_bool).unwrap_or(false);
            input_artifacts.insert(
                an.to_string(),
                json!({"artifactType": {"schemaTitle": "system.Artifact", "schemaVersion": "0.0.1"}, "isOptional": optional}),
            );
        }
        let mut output_params = Map::new();
        let mut output_artifacts = Map::new();
        let outputs = tpl.get("outputs");
        for (i, p) in outputs
            .and_then(|o| o.get("parameters"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let ppath = format!("{tp}.outputs.parameters[{i}]");
            let pn = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| self.err(&format!("{ppath}.name"), "missing"))?;
            let ppath = format!("{tp}.outputs.parameters[{pn}]");
            let from = p.get("valueFrom").and_then(Value::as_object);
            let file = from.and_then(|f| f.get("path")).and_then(Value::as_str);
            let (Some(from), Some(file)) = (from, file) else {
                return Err(self.err(
                    &format!("{ppath}.valueFrom"),
                    "expected `valueFrom: {path: FILE}`; other sources (jsonPath, expression, \
                     parameter) come from Kubernetes resources or Argo features KFP v1 steps do \
                     not use",
                ));
            };
            if let Some(k) = from.keys().find(|k| *k != "path") {
                return Err(self.err(
                    &format!("{ppath}.valueFrom.{k}"),
                    "not supported; expected only `path`",
                ));
            }
            files.entry(file.to_string()).or_default().push((
                FileUse::OutParam(pn.to_string()),
                format!("{ppath}.valueFrom.path"),
            ));
            output_params.insert(pn.to_string(), json!({"parameterType": "STRING"}));
        }
        for (i, a) in outputs
            .and_then(|o| o.get("artifacts"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let apath = format!("{tp}.outputs.artifacts[{i}]");
            let an = a
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| self.err(&format!("{apath}.name"), "missing"))?;
            let apath = format!("{tp}.outputs.artifacts[{an}]");
            for key in a.as_object().map(|m| m.keys()).into_iter().flatten() {
                match key.as_str() {
                    "name" | "path" | "optional" | "archive" => {}
                    other => {
                        return Err(self.err(
                            &format!("{apath}.{other}"),
                            "not supported; artifacts are stored by Penstock (a name and a \
                             path are expected)",
                        ))
                    }
                }
            }
            let p = a
                .get("path")
                .and_then(Value::as_str)
                .ok_or_else(|| self.err(&format!("{apath}.path"), "missing"))?;
            files
                .entry(p.to_string())
                .or_default()
                .push((FileUse::OutArt(an.to_string()), format!("{apath}.path")));
            // kfp 1.x's metrics file: typed as v2 metrics, so its numbers are the run's metrics.
            let schema = if an == METRICS_OUTPUT {
                "system.Metrics"
            } else {
                "system.Artifact"
            };
            output_artifacts.insert(
                an.to_string(),
                json!({"artifactType": {"schemaTitle": schema, "schemaVersion": "0.0.1"}}),
            );
        }
        // The placeholder each path becomes: an artifact's path if one shares it, else the
        // parameter's file.
        let mut placeholders: Vec<(String, String)> = Vec::new();
        let mut copies: Vec<(String, String)> = Vec::new();
        for (file, uses) in &files {
            let is_input = |u: &FileUse| matches!(u, FileUse::InArt(_) | FileUse::Raw(_));
            let has_in = uses.iter().any(|(u, _)| is_input(u));
            let has_out = uses.iter().any(|(u, _)| !is_input(u));
            if has_in && has_out {
                return Err(self.err(
                    &uses[0].1,
                    &format!("{file} is both an input and an output of the step; expected distinct paths"),
                ));
            }
            let placeholder_of = |u: &FileUse| match u {
                FileUse::InArt(n) => format!("{{{{$.inputs.artifacts['{n}'].path}}}}"),
                FileUse::Raw(n) => raw_path(n),
                FileUse::OutParam(n) => format!("{{{{$.outputs.parameters['{n}'].output_file}}}}"),
                FileUse::OutArt(n) => format!("{{{{$.outputs.artifacts['{n}'].path}}}}"),
            };
            let primary = uses
                .iter()
                .find(|(u, _)| matches!(u, FileUse::OutArt(_)))
                .unwrap_or(&uses[0]);
            let primary_ph = placeholder_of(&primary.0);
            for (u, _) in uses {
                let ph = placeholder_of(u);
                if ph != primary_ph && !is_input(u) {
                    copies.push((primary_ph.clone(), ph));
                }
            }
            placeholders.push((file.clone(), primary_ph));
        }
        // Longest paths first, so that /tmp/a.txt is not read as /tmp/a.
        placeholders.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        let mut mentioned: BTreeSet<String> = BTreeSet::new();
        let scope_inputs = input_names.clone();
        let uses_status = std::cell::Cell::new(false);
        let rewrite = |text: &str,
                       field: &str,
                       mentioned: &mut BTreeSet<String>|
         -> Result<String, SpecError> {
            let segs = segments(text).map_err(|e| self.err(field, &e))?;
            let mut out = String::new();
            for s in segs {
                match s {
                    Seg::Text(t) => out.push_str(&replace_paths(&t, &placeholders, mentioned)),
                    Seg::Ref(Ref::Input(x), _) if scope_inputs.contains(&x) => {
                        out.push_str(&param_placeholder(&x))
                    }
                    Seg::Ref(Ref::Global(x), _) if self.globals.contains(&x) => {
                        out.push_str(&param_placeholder(&format!("{GLOBAL_PREFIX}{x}")))
                    }
                    Seg::Ref(Ref::Job(p), _) => out.push_str(p),
                    Seg::Ref(Ref::Status, _) => {
                        uses_status.set(true);
                        out.push_str(&param_placeholder(STATUS_INPUT))
                    }
                    Seg::Ref(_, t) => {
                        return Err(self.err(
                            field,
                            &format!(
                                "{{{{{t}}}}} cannot be used in a container; expected \
                                 {{{{inputs.parameters.NAME}}}} of the template's inputs"
                            ),
                        ))
                    }
                }
            }
            Ok(out)
        };
        let mut command = Vec::new();
        for (i, c) in container
            .get("command")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let field = format!("{tp}.container.command[{i}]");
            let text = scalar_text(c).ok_or_else(|| self.err(&field, "expected a string"))?;
            command.push(rewrite(&text, &field, &mut mentioned)?);
        }
        let mut args = Vec::new();
        for (i, c) in container
            .get("args")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let field = format!("{tp}.container.args[{i}]");
            let text = scalar_text(c).ok_or_else(|| self.err(&field, "expected a string"))?;
            args.push(rewrite(&text, &field, &mut mentioned)?);
        }
        let labels = tpl.get("metadata").and_then(|m| m.get("labels"));
        let mut env = Vec::new();
        for (i, e) in container
            .get("env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let field = format!("{tp}.container.env[{i}]");
            let en = e
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| self.err(&format!("{field}.name"), "missing"))?;
            let field = format!("{tp}.container.env[{en}]");
            let value = if let Some(v) = e.get("value") {
                let text = scalar_text(v).ok_or_else(|| self.err(&field, "expected a string"))?;
                rewrite(&text, &field, &mut mentioned)?
            } else if let Some(from) = e.get("valueFrom") {
                let field_path = from
                    .get("fieldRef")
                    .and_then(|f| f.get("fieldPath"))
                    .and_then(Value::as_str);
                match field_path {
                    Some("metadata.name") | Some("metadata.uid") => {
                        "{{$.pipeline_task_uuid}}".to_string()
                    }
                    Some("metadata.labels['workflows.argoproj.io/workflow']") => {
                        "{{$.pipeline_job_name}}".to_string()
                    }
                    Some("metadata.labels['pipeline/runid']") => {
                        "{{$.pipeline_job_uuid}}".to_string()
                    }
                    Some("metadata.namespace") => "default".to_string(),
                    Some(p) if p == format!("metadata.labels['{ENABLE_CACHING_LABEL}']") => labels
                        .and_then(|l| l.get(ENABLE_CACHING_LABEL))
                        .and_then(scalar_text)
                        .unwrap_or_else(|| "true".to_string()),
                    _ => {
                        return Err(self.err(
                            &format!("{field}.valueFrom"),
                            &format!(
                                "{}: only the pod's name, uid, namespace and the workflow/run \
                                 labels have a local equivalent; secrets, config maps and other \
                                 fields need a cluster",
                                serde_json::to_string(from).unwrap_or_default()
                            ),
                        ))
                    }
                }
            } else {
                String::new()
            };
            env.push(json!({"name": en, "value": value}));
        }
        for (i, (n, data)) in raw_inputs.iter().enumerate() {
            let field = format!("{tp}.inputs.artifacts[{n}].raw.data");
            env.push(json!({"name": format!("PENSTOCK_V1_RAW_{i}"), "value": rewrite(data, &field, &mut mentioned)?}));
        }
        // Paths the step reads or writes without naming them (a program with `/tmp/outputs/x/data`
        // or `/mlpipeline-metrics.json` built in) stay where the program expects them: the
        // wrapper copies inputs there before the step and outputs from there after it. Docker
        // gives each step its own filesystem; the local launcher gives it a private `/tmp`
        // (a mount namespace) from the list in FIXED_PATHS_ENV.
        let mut fixed_in: Vec<(String, String)> = Vec::new();
        let mut fixed_out: Vec<(String, String)> = Vec::new();
        let mut fixed: Vec<String> = Vec::new();
        for (file, uses) in files.iter().filter(|(f, _)| !mentioned.contains(*f)) {
            let (_, field) = &uses[0];
            if !file.starts_with('/')
                || file.contains('\n')
                || file.split('/').any(|c| c == ".." || c == ".")
            {
                return Err(self.err(
                    field,
                    &format!(
                        "the step reads or writes {file} without naming it in its command, args \
                         or env; a path that is not named must be absolute and normalised so that \
                         the step can be given a private copy of it"
                    ),
                ));
            }
            let ph = placeholders
                .iter()
                .find(|(f, _)| f == file)
                .map(|(_, ph)| ph.clone())
                .unwrap_or_default();
            match &uses[0].0 {
                FileUse::InArt(_) | FileUse::Raw(_) => fixed_in.push((ph, file.clone())),
                FileUse::OutParam(_) | FileUse::OutArt(_) => fixed_out.push((file.clone(), ph)),
            }
            fixed.push(file.clone());
        }
        if !fixed.is_empty() {
            env.push(json!({"name": FIXED_PATHS_ENV, "value": fixed.join("\n")}));
        }
        // After the step: trim one trailing newline from each output parameter file (as Argo
        // does) and copy a file shared by a parameter and an artifact to both places.
        let deadline = match tpl.get("activeDeadlineSeconds") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        self.err(
                            &format!("{tp}.activeDeadlineSeconds"),
                            &format!("expected a positive number of seconds, found {v}"),
                        )
                    })?,
            ),
        };
        // The wrapper reads every placeholder path from the environment (`"$PENSTOCK_V1_PATH_<n>"`)
        // instead of having it spliced into its text: a resolved path containing `'` (a home
        // or pipeline root) cannot break it, and placeholders (which contain `'` themselves)
        // need no quoting. Fixed paths are plain text, quoted with `sh_quote`.
        let mut vars: Vec<String> = Vec::new();
        let mut script = String::new();
        for (i, (n, _)) in raw_inputs.iter().enumerate() {
            let f = path_var(&raw_path(n), &mut vars, &mut env);
            script.push_str(&format!(
                "mkdir -p \"$(dirname {f})\" && printf '%s' \"$PENSTOCK_V1_RAW_{i}\" > {f} || exit 1\n"
            ));
        }
        for (from, to) in &fixed_in {
            let q = sh_quote(to);
            let from = path_var(from, &mut vars, &mut env);
            script.push_str(&format!(
                "mkdir -p \"$(dirname {q})\" && cp -R {from} {q} || exit 1\n"
            ));
        }
        for (file, _) in &fixed_out {
            let q = sh_quote(file);
            script.push_str(&format!("mkdir -p \"$(dirname {q})\" || exit 1\n"));
        }
        if let Some(s) = deadline {
            script.push_str(&format!(
                "timeout {s} \"$@\"; rc=$?\nif [ \"$rc\" -eq 124 ]; then echo \"[penstock] the step exceeded its activeDeadlineSeconds ({s} s)\" >&2; fi\n"
            ));
        } else {
            script.push_str("\"$@\"; rc=$?\n");
        }
        script.push_str("[ \"$rc\" -eq 0 ] || exit \"$rc\"\n");
        for (file, to) in &fixed_out {
            let to = path_var(to, &mut vars, &mut env);
            script.push_str(&format!(
                "if [ -e {q} ]; then cp -R {q} {to} || exit 1; fi\n",
                q = sh_quote(file)
            ));
        }
        for (from, to) in &copies {
            let from = path_var(from, &mut vars, &mut env);
            let to = path_var(to, &mut vars, &mut env);
            script.push_str(&format!(
                "if [ -e {from} ]; then cp -R {from} {to} || exit 1; fi\n"
            ));
        }
        for n in output_params.keys() {
            let f = path_var(
                &format!("{{{{$.outputs.parameters['{n}'].output_file}}}}"),
                &mut vars,
                &mut env,
            );
            script.push_str(&format!(
                "if [ -f {f} ]; then v=$(cat {f}; printf x); v=${{v%x}}; v=${{v%'\n'}}; printf '%s' \"$v\" > {f}; fi\n"
            ));
        }
        let wrapped = deadline.is_some()
            || !fixed.is_empty()
            || !copies.is_empty()
            || !output_params.is_empty()
            || !raw_inputs.is_empty();
        let (command, args) = if wrapped && !command.is_empty() {
            let mut all = vec![
                "sh".to_string(),
                "-c".to_string(),
                script,
                "penstock-v1-step".to_string(),
            ];
            let mut rest = command;
            rest.extend(args);
            all.extend(rest);
            (all, Vec::new())
        } else {
            (command, args)
        };
        let image = container
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut exec = json!({"image": image, "command": command, "args": args});
        if !env.is_empty() {
            exec["env"] = Value::Array(env);
        }
        self.executors
            .insert(format!("exec-{name}"), json!({"container": exec}));

        if uses_status.get() {
            inputs.insert(STATUS_INPUT.to_string(), json!({"parameterType": "STRING"}));
        }
        // What tasks calling this template take: retries and caching.
        let retry = match tpl.get("retryStrategy") {
            None => None,
            Some(r) => Some(self.retry(&format!("{tp}.retryStrategy"), r)?),
        };
        let annotations = tpl.get("metadata").and_then(|m| m.get("annotations"));
        let staleness = annotations
            .and_then(|a| a.get(MAX_CACHE_STALENESS_ANNOTATION))
            .and_then(Value::as_str);
        let label_off = labels
            .and_then(|l| l.get(ENABLE_CACHING_LABEL))
            .and_then(scalar_text)
            .is_some_and(|v| v.eq_ignore_ascii_case("false"));
        let enable_cache = !label_off && !staleness.is_some_and(is_zero_duration);
        let max_staleness_seconds = match staleness.filter(|s| !is_zero_duration(s)) {
            None => None,
            Some(text) => Some(staleness_seconds(text).ok_or_else(|| {
                self.err(
                    &format!("{tp}.metadata.annotations.{MAX_CACHE_STALENESS_ANNOTATION}"),
                    &format!(
                        "'{text}' is not an ISO 8601 duration (expected e.g. P30D, PT12H or P0D)"
                    ),
                )
            })?),
        };
        self.policies.insert(
            name.to_string(),
            TaskPolicies {
                retry,
                enable_cache,
                max_staleness_seconds,
                uses_status: uses_status.get(),
            },
        );
        Ok(json!({
            "inputDefinitions": {"parameters": inputs, "artifacts": input_artifacts},
            "outputDefinitions": {"parameters": output_params, "artifacts": output_artifacts},
            "executorLabel": format!("exec-{name}"),
        }))
    }

    fn retry(&self, path: &str, r: &Value) -> Result<Value, SpecError> {
        let obj = r
            .as_object()
            .ok_or_else(|| self.err(path, "expected a mapping"))?;
        let mut out = json!({});
        for (k, v) in obj {
            match k.as_str() {
                "limit" => {
                    let n = v
                        .as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                        .filter(|n| *n >= 0)
                        .ok_or_else(|| {
                            self.err(
                                &format!("{path}.limit"),
                                &format!("expected a number of retries, found {v}"),
                            )
                        })?;
                    out["maxRetryCount"] = Value::from(n);
                }
                // Every policy retries a failed step here: there are no pod or node errors to
                // tell apart from a step's own failure.
                "retryPolicy" => {}
                "backoff" => {
                    for (bk, bv) in v.as_object().into_iter().flatten() {
                        let bpath = format!("{path}.backoff.{bk}");
                        match bk.as_str() {
                            "duration" | "maxDuration" => {
                                let secs = scalar_text(bv)
                                    .and_then(|s| argo_duration_seconds(&s))
                                    .ok_or_else(|| {
                                        self.err(
                                            &bpath,
                                            &format!("expected a duration such as 30s, 2m or 1h, found {bv}"),
                                        )
                                    })?;
                                let key = if bk == "duration" {
                                    "backoffDuration"
                                } else {
                                    "backoffMaxDuration"
                                };
                                out[key] = Value::String(format!("{secs}s"));
                            }
                            "factor" => {
                                let f = bv
                                    .as_f64()
                                    .or_else(|| bv.as_str().and_then(|s| s.trim().parse().ok()))
                                    .ok_or_else(|| {
                                        self.err(&bpath, &format!("expected a number, found {bv}"))
                                    })?;
                                out["backoffFactor"] = Value::from(f);
                            }
                            _ => {
                                return Err(self.err(
                                    &bpath,
                                    "not supported; expected duration, factor or maxDuration",
                                ))
                            }
                        }
                    }
                }
                other => {
                    return Err(self.err(
                        &format!("{path}.{other}"),
                        "not supported; expected limit, retryPolicy or backoff",
                    ))
                }
            }
        }
        Ok(out)
    }
}

/// `text` as one single-quoted `sh` word.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The wrapper's reference (`"$PENSTOCK_V1_PATH_<n>"`, double-quoted) to the path a
/// placeholder resolves to, given to it in the environment variable `PENSTOCK_V1_PATH_<n>`
/// (added to `env` the first time; `vars` holds the placeholders so far).
fn path_var(placeholder: &str, vars: &mut Vec<String>, env: &mut Vec<Value>) -> String {
    let n = match vars.iter().position(|v| v == placeholder) {
        Some(n) => n,
        None => {
            vars.push(placeholder.to_string());
            env.push(json!({"name": format!("PENSTOCK_V1_PATH_{}", vars.len() - 1), "value": placeholder}));
            vars.len() - 1
        }
    };
    format!("\"$PENSTOCK_V1_PATH_{n}\"")
}

/// Where a constant input artifact is written: in the run's workspace, under the task's id, so
/// that every task (and loop iteration) has its own.
fn raw_path(name: &str) -> String {
    format!("{{{{$.workspace_path}}}}/penstock-v1-raw/{{{{$.pipeline_task_uuid}}}}/{name}")
}

/// Argo durations: a number of seconds, or Go-style `30s`, `2m`, `1h30m`.
fn argo_duration_seconds(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(n) = text.parse::<u64>() {
        return Some(n);
    }
    let mut total = 0f64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let n: f64 = number.parse().ok()?;
        number.clear();
        total += n * match c {
            'h' => 3600.0,
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
    }
    if !number.is_empty() {
        return None;
    }
    Some(total.ceil() as u64)
}

/// An ISO 8601 duration (`P30D`, `PT12H`, `P1Y2M`) in seconds; days are 24 hours and months
/// and years are counted from 2000-01-01 (`P1M` = 31 days), as a staleness only needs an
/// order of magnitude.
fn staleness_seconds(text: &str) -> Option<u64> {
    let span: jiff::Span = text.trim().parse().ok()?;
    let from = jiff::civil::date(2000, 1, 1);
    let seconds = span.total((jiff::Unit::Second, from)).ok()?;
    (seconds >= 0.0).then_some(seconds as u64)
}

/// Whether an ISO 8601 duration (`P0D`, `PT0S`, `P0DT0H0M0S`) is zero.
fn is_zero_duration(text: &str) -> bool {
    let t = text.trim();
    t.starts_with('P') && t.chars().filter(|c| c.is_ascii_digit()).all(|c| c == '0')
}

/// Replaces every mention of a path in `text` by its placeholder; a mention must not be part
/// of a longer path or name (`/tmp/a` in `/tmp/ab`).
fn replace_paths(
    text: &str,
    placeholders: &[(String, String)],
    mentioned: &mut BTreeSet<String>,
) -> String {
    if placeholders.is_empty() {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        let before_ok =
            i == 0 || !(is_name(bytes[i - 1]) || bytes[i - 1] == b'/' || bytes[i - 1] == b'.');
        let hit = before_ok
            .then(|| {
                placeholders.iter().find(|(p, _)| {
                    bytes[i..].starts_with(p.as_bytes()) && {
                        let after = i + p.len();
                        after >= bytes.len()
                            || !(is_name(bytes[after])
                                || (bytes[after] == b'.'
                                    && bytes.get(after + 1).is_some_and(|b| is_name(*b))))
                    }
                })
            })
            .flatten();
        if let Some((p, ph)) = hit {
            out.push_str(&text[copied..i]);
            out.push_str(ph);
            mentioned.insert(p.clone());
            i += p.len();
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(yaml: &str) -> Result<Value, SpecError> {
        let options = serde_saphyr::options! { strict_booleans: true };
        let doc: Value = serde_saphyr::from_str_with_options(yaml, options).unwrap();
        workflow_to_spec("w.yaml", &doc)
    }

    const FLIP: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: flip-
  annotations:
    pipelines.kubeflow.org/pipeline_spec: '{"name": "Flip", "inputs": [{"name": "n", "type": "Integer", "default": "3"}]}'
spec:
  entrypoint: flip
  onExit: bye
  arguments:
    parameters:
    - {name: n, value: '3'}
  templates:
  - name: flip
    dag:
      tasks:
      - name: toss
        template: toss
      - name: show
        template: show
        dependencies: [toss]
        when: '"{{tasks.toss.outputs.parameters.toss-out}}" == "heads"'
        arguments:
          parameters:
          - {name: msg, value: 'got {{tasks.toss.outputs.parameters.toss-out}} of {{inputs.parameters.n}}'}
      - name: loop
        template: show
        withItems: [{a: 1}, {a: 2}]
        arguments:
          parameters:
          - {name: msg, value: '{{item.a}}'}
  - name: toss
    retryStrategy: {limit: '2', backoff: {duration: 1m, factor: 2}}
    activeDeadlineSeconds: 30
    metadata:
      annotations: {pipelines.kubeflow.org/max_cache_staleness: P0D}
    container:
      image: python:3.9
      command: [sh, -c, 'echo heads > /tmp/out.txt']
    outputs:
      parameters:
      - name: toss-out
        valueFrom: {path: /tmp/out.txt}
      artifacts:
      - {name: toss-out, path: /tmp/out.txt}
  - name: show
    inputs:
      parameters:
      - {name: msg}
    container:
      image: alpine
      command: [echo, '{{inputs.parameters.msg}}']
  - name: bye
    container:
      image: alpine
      command: [echo, bye]
"#;

    #[test]
    fn maps_dag_condition_loop_exit_retry_cache_and_files() {
        let spec = convert(FLIP).unwrap();
        let root = &spec["root"];
        assert_eq!(
            root["inputDefinitions"]["parameters"]["n"],
            json!({"parameterType": "NUMBER_INTEGER", "defaultValue": 3, "isOptional": true})
        );
        let tasks = &root["dag"]["tasks"];
        let show = &tasks["show"];
        assert_eq!(
            show["triggerPolicy"]["condition"],
            "(string(inputs.parameter_values['pipelinechannel--tasks-toss-outputs-parameters-toss-out'])) == \"heads\""
        );
        assert_eq!(
            show["inputs"]["parameters"]["msg"]["runtimeValue"]["constant"],
            "got {{$.inputs.parameters['pipelinechannel--tasks-toss-outputs-parameters-toss-out']}} of {{$.inputs.parameters['pipelinechannel--inputs-parameters-n']}}"
        );
        assert_eq!(show["dependentTasks"], json!(["toss"]));
        let toss = &tasks["toss"];
        assert_eq!(toss["cachingOptions"]["enableCache"], false);
        assert_eq!(
            toss["retryPolicy"],
            json!({"maxRetryCount": 2, "backoffDuration": "60s", "backoffFactor": 2.0})
        );
        let exec = &spec["deploymentSpec"]["executors"]["exec-toss"]["container"];
        let cmd: Vec<&str> = exec["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(&cmd[..2], ["sh", "-c"]);
        assert!(cmd[2].starts_with("timeout 30 \"$@\""), "{}", cmd[2]);
        // The wrapper copies between placeholder paths given to it in the environment.
        let var = |placeholder: &str| {
            let env = exec["env"].as_array().cloned().unwrap_or_default();
            let e = env.iter().find(|e| e["value"] == placeholder).unwrap();
            format!("\"${}\"", e["name"].as_str().unwrap())
        };
        let (art, param) = (
            var("{{$.outputs.artifacts['toss-out'].path}}"),
            var("{{$.outputs.parameters['toss-out'].output_file}}"),
        );
        assert!(
            cmd[2].contains(&format!("cp -R {art} {param}")),
            "{}",
            cmd[2]
        );
        assert!(!cmd[2].contains("{{"), "{}", cmd[2]);
        assert_eq!(
            cmd[6],
            "echo heads > {{$.outputs.artifacts['toss-out'].path}}"
        );
        // The loop selects a field of the item in an iteration DAG.
        let lp = &tasks["loop"];
        assert_eq!(
            lp["parameterIterator"]["items"]["raw"],
            "[{\"a\":1},{\"a\":2}]"
        );
        assert_eq!(lp["componentRef"]["name"], "comp-loop.iteration");
        let inner = &spec["components"]["comp-loop.iteration"]["dag"]["tasks"]["loop"];
        assert_eq!(
            inner["inputs"]["parameters"]["msg"]["parameterExpressionSelector"],
            "parseJson(string_value)[\"a\"]"
        );
        // The exit handler waits for everything, however it ended.
        let bye = &tasks["bye"];
        assert_eq!(
            bye["triggerPolicy"]["strategy"],
            "ALL_UPSTREAM_TASKS_COMPLETED"
        );
        assert_eq!(bye["dependentTasks"], json!(["toss", "show", "loop"]));
        // And the whole thing is a valid v2 spec.
        let bytes = serde_json::to_vec(&spec).unwrap();
        crate::parse_pipeline("w.json", &bytes).unwrap();
    }

    #[test]
    fn a_staleness_other_than_zero_bounds_the_cache_age() {
        let stale = FLIP.replace("max_cache_staleness: P0D", "max_cache_staleness: P30D");
        let spec = convert(&stale).unwrap();
        let caching = &spec["root"]["dag"]["tasks"]["toss"]["cachingOptions"];
        assert_eq!(caching["enableCache"], true);
        assert_eq!(caching["penstockMaxCacheStalenessSeconds"], 30 * 86_400);
        let hours = FLIP.replace("max_cache_staleness: P0D", "max_cache_staleness: PT2H");
        let spec = convert(&hours).unwrap();
        assert_eq!(
            spec["root"]["dag"]["tasks"]["toss"]["cachingOptions"]
                ["penstockMaxCacheStalenessSeconds"],
            7_200
        );
        let bad = FLIP.replace("max_cache_staleness: P0D", "max_cache_staleness: a month");
        let e = convert(&bad).unwrap_err().to_string();
        assert!(
            e.contains("max_cache_staleness")
                && e.contains("'a month' is not an ISO 8601 duration"),
            "{e}"
        );
        // The whole converted spec still parses into the model with the extension.
        let parsed = crate::parse_pipeline("stale.yaml", stale.as_bytes()).unwrap();
        let toss = &parsed.spec.root.dag.as_ref().unwrap().tasks["toss"];
        assert_eq!(
            toss.caching_options
                .as_ref()
                .unwrap()
                .max_cache_staleness_seconds,
            Some(2_592_000)
        );
    }

    #[test]
    fn constant_input_artifacts_are_written_to_a_private_file_first() {
        let yaml = FLIP
            .replace(
                "      command: [echo, '{{inputs.parameters.msg}}']\n",
                "      command: [cat, /tmp/inputs/data]\n",
            )
            .replace(
                "      - {name: msg}\n    container:",
                "      - {name: msg}\n      artifacts:\n      - {name: data, path: /tmp/inputs/data, \
                 raw: {data: 'x {{inputs.parameters.msg}}'}}\n    container:",
            );
        let spec = convert(&yaml).unwrap();
        let exec = &spec["deploymentSpec"]["executors"]["exec-show"]["container"];
        let file = "{{$.workspace_path}}/penstock-v1-raw/{{$.pipeline_task_uuid}}/data";
        assert!(
            exec["command"][2]
                .as_str()
                .unwrap()
                .contains("printf '%s' \"$PENSTOCK_V1_RAW_0\" > \"$PENSTOCK_V1_PATH_0\""),
            "{exec}"
        );
        assert_eq!(exec["command"][5], file);
        assert_eq!(
            exec["env"][0],
            json!({"name": "PENSTOCK_V1_RAW_0", "value": "x {{$.inputs.parameters['msg']}}"})
        );
        assert_eq!(
            exec["env"][1],
            json!({"name": "PENSTOCK_V1_PATH_0", "value": file})
        );
        crate::parse_pipeline("w.json", &serde_json::to_vec(&spec).unwrap()).unwrap();
    }

    #[test]
    fn workflow_status_reaches_only_the_exit_handler() {
        let yaml = FLIP.replace(
            "command: [echo, bye]",
            "command: [echo, '{{workflow.status}}']",
        );
        // The handler wraps several root tasks: no one status to give.
        let e = convert(&yaml).unwrap_err().to_string();
        assert!(
            e.contains("at spec.onExit") && e.contains("workflow.status"),
            "{e}"
        );
        // Wrapped in one DAG, as dsl.ExitHandler compiles: the status is that DAG's.
        let wrapped = yaml
            .replace(" of {{inputs.parameters.n}}", "")
            .replace("  entrypoint: flip\n", "  entrypoint: top\n")
            .replace(
                "  templates:\n",
                "  templates:\n  - name: top\n    dag:\n      tasks:\n      - {name: flip, template: flip}\n",
            );
        let spec = convert(&wrapped).unwrap();
        let bye = &spec["root"]["dag"]["tasks"]["bye"]["inputs"]["parameters"][STATUS_INPUT];
        assert_eq!(bye["taskFinalStatus"]["producerTask"], "flip");
        assert_eq!(bye["parameterExpressionSelector"], STATUS_SELECTOR);
        // Anywhere else it is refused.
        let misuse = FLIP.replace(
            "command: [echo, '{{inputs.parameters.msg}}']",
            "command: [echo, '{{workflow.status}}']",
        );
        let e = convert(&misuse).unwrap_err().to_string();
        assert!(e.contains("exit handler"), "{e}");
    }

    #[test]
    fn unmentioned_paths_stay_fixed_and_are_listed_for_a_private_tmp() {
        // The program writes /tmp/out.txt by itself: the wrapper copies it to the outputs
        // after the step, and the path is listed for the local launcher's private /tmp.
        let yaml = FLIP.replace("'echo heads > /tmp/out.txt'", "'python write.py'");
        let spec = convert(&yaml).unwrap();
        let exec = &spec["deploymentSpec"]["executors"]["exec-toss"]["container"];
        let env = exec["env"].as_array().cloned().unwrap_or_default();
        assert!(
            env.iter()
                .any(|e| e["name"] == FIXED_PATHS_ENV && e["value"] == "/tmp/out.txt"),
            "{exec}"
        );
        let script = exec["command"][2].as_str().unwrap_or_default();
        let var = env
            .iter()
            .find(|e| e["value"] == "{{$.outputs.artifacts['toss-out'].path}}")
            .and_then(|e| e["name"].as_str())
            .unwrap_or_default();
        assert!(
            script.contains(&format!(
                "if [ -e '/tmp/out.txt' ]; then cp -R '/tmp/out.txt' \"${var}\""
            )),
            "{script}"
        );
        // A named path is still replaced and not listed.
        let spec = convert(FLIP).unwrap();
        let exec = &spec["deploymentSpec"]["executors"]["exec-toss"]["container"];
        assert!(!exec.to_string().contains(FIXED_PATHS_ENV), "{exec}");
        // A relative path that is not named cannot be made private: refused by name.
        let yaml = yaml.replace("/tmp/out.txt", "out.txt");
        let e = convert(&yaml).unwrap_err().to_string();
        assert!(
            e.contains("out.txt") && e.contains("spec.templates[toss].outputs"),
            "{e}"
        );
    }

    #[test]
    fn cluster_features_are_refused_with_the_field() {
        for (from, to, field) in [
            (
                "  - name: bye\n",
                "  - name: bye\n    sidecars: [{name: s}]\n",
                "spec.templates[bye].sidecars",
            ),
            (
                "  onExit: bye\n",
                "  onExit: bye\n  volumes: []\n",
                "spec.volumes",
            ),
            (
                "  - name: bye\n",
                "  - name: bye\n    resource: {action: create}\n",
                "spec.templates[bye].resource",
            ),
            (
                "        withItems:",
                "        withSequence: {count: 2}\n        withItems:",
                "withSequence",
            ),
        ] {
            let e = convert(&FLIP.replace(from, to)).unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
    }

    #[test]
    fn recursion_is_refused() {
        let yaml = FLIP.replace("      - name: toss\n        template: toss\n", "      - name: toss\n        template: toss\n      - name: again\n        template: flip\n");
        let e = convert(&yaml).unwrap_err().to_string();
        assert!(e.contains("calls itself"), "{e}");
    }

    #[test]
    fn numeric_conditions_compare_doubles() {
        let yaml = FLIP.replace(
            r#"'"{{tasks.toss.outputs.parameters.toss-out}}" == "heads"'"#,
            "'{{tasks.toss.outputs.parameters.toss-out}} > 5'",
        );
        let spec = convert(&yaml).unwrap();
        assert_eq!(
            spec["root"]["dag"]["tasks"]["show"]["triggerPolicy"]["condition"],
            "double(string(inputs.parameter_values['pipelinechannel--tasks-toss-outputs-parameters-toss-out'])) > 5.0"
        );
    }

    #[test]
    fn paths_are_replaced_whole() {
        let ph = vec![("/tmp/a".to_string(), "X".to_string())];
        let mut m = BTreeSet::new();
        assert_eq!(
            replace_paths(
                "/tmp/a /tmp/ab /x/tmp/a /tmp/a.txt /tmp/a/b x=/tmp/a.",
                &ph,
                &mut m
            ),
            "X /tmp/ab /x/tmp/a /tmp/a.txt X/b x=X."
        );
        assert!(m.contains("/tmp/a"));
        // Text around a path may be any UTF-8 (matches start and end on character boundaries).
        assert_eq!(replace_paths("é→/tmp/a ü", &ph, &mut m), "é→X ü");
    }

    #[test]
    fn the_metrics_output_is_typed_as_v2_metrics() {
        let spec = convert(
            "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: m}\nspec:\n  \
             entrypoint: main\n  templates:\n  - name: main\n    dag:\n      tasks:\n      \
             - {name: score, template: score}\n  - name: score\n    container:\n      \
             image: python:3.9\n      command: [sh, -c, 'echo {} > /mlpipeline-metrics.json && \
             echo x > /tmp/outputs/other/data']\n    outputs:\n      artifacts:\n      \
             - {name: mlpipeline-metrics, path: /mlpipeline-metrics.json}\n      \
             - {name: other, path: /tmp/outputs/other/data}\n",
        )
        .unwrap();
        let outputs = &spec["components"]["comp-score"]["outputDefinitions"]["artifacts"];
        assert_eq!(
            outputs["mlpipeline-metrics"]["artifactType"]["schemaTitle"],
            "system.Metrics"
        );
        assert_eq!(
            outputs["other"]["artifactType"]["schemaTitle"],
            "system.Artifact"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(argo_duration_seconds("1h30m"), Some(5400));
        assert_eq!(argo_duration_seconds("15"), Some(15));
        assert_eq!(argo_duration_seconds("5x"), None);
        assert!(is_zero_duration("P0D") && is_zero_duration("PT0S") && !is_zero_duration("P30D"));
    }
}
