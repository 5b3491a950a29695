//! Builds the executor input (`{{$}}`) and substitutes placeholders in a container's command,
//! arguments and environment.

use penstock_engine::params::value_to_text;
use penstock_engine::{LaunchRequest, RuntimeArtifact};
use penstock_spec::placeholder::{parse_arg, parse_template, ArgTemplate, Placeholder, Segment};
use penstock_spec::CommandLineItem;
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// Where one attempt's files live.
#[derive(Debug, Clone)]
pub struct TaskPaths {
    /// Working directory of the process.
    pub work_dir: PathBuf,
    /// `TMPDIR` of the process.
    pub tmp_dir: PathBuf,
    /// Folder holding output parameter files.
    pub parameters_dir: PathBuf,
    /// `{{$.outputs.output_file}}`.
    pub executor_output: PathBuf,
    /// The run's shared workspace (`{{$.workspace_path}}`).
    pub workspace: PathBuf,
}

impl TaskPaths {
    /// The file a `dsl.OutputPath` parameter is written to.
    pub fn parameter_file(&self, name: &str) -> PathBuf {
        self.parameters_dir.join(name)
    }
}

fn artifact_json(a: &RuntimeArtifact) -> Value {
    json!({
        "name": a.name,
        "type": {"schemaTitle": a.schema_title, "schemaVersion": a.schema_version},
        "uri": a.uri,
        "metadata": Value::Object(a.metadata.clone()),
    })
}

/// The `ExecutorInput` message as JSON, as KFP's launcher passes it to `{{$}}`.
pub fn executor_input(request: &LaunchRequest, paths: &TaskPaths) -> Value {
    let parameter_values: Map<String, Value> = request
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let input_artifacts: Map<String, Value> = request
        .artifacts
        .iter()
        .map(|(k, list)| {
            (
                k.clone(),
                json!({"artifacts": list.iter().map(artifact_json).collect::<Vec<_>>()}),
            )
        })
        .collect();
    let output_parameters: Map<String, Value> = request
        .component
        .output_definitions
        .parameters
        .keys()
        .map(|k| {
            (
                k.clone(),
                json!({"outputFile": paths.parameter_file(k).display().to_string()}),
            )
        })
        .collect();
    let output_artifacts: Map<String, Value> = request
        .output_artifacts
        .iter()
        .map(|(k, a)| (k.clone(), json!({"artifacts": [artifact_json(a)]})))
        .collect();
    let mut inputs = Map::new();
    if !parameter_values.is_empty() {
        inputs.insert("parameterValues".into(), Value::Object(parameter_values));
    }
    if !input_artifacts.is_empty() {
        inputs.insert("artifacts".into(), Value::Object(input_artifacts));
    }
    let mut outputs = Map::new();
    if !output_parameters.is_empty() {
        outputs.insert("parameters".into(), Value::Object(output_parameters));
    }
    if !output_artifacts.is_empty() {
        outputs.insert("artifacts".into(), Value::Object(output_artifacts));
    }
    outputs.insert(
        "outputFile".into(),
        Value::String(paths.executor_output.display().to_string()),
    );
    json!({"inputs": inputs, "outputs": outputs})
}

/// Substitutes placeholders for one attempt.
pub struct Renderer<'a> {
    request: &'a LaunchRequest,
    paths: &'a TaskPaths,
    executor_input: String,
}

impl<'a> Renderer<'a> {
    /// A renderer for `request`.
    pub fn new(request: &'a LaunchRequest, paths: &'a TaskPaths) -> Self {
        let executor_input = executor_input(request, paths).to_string();
        Renderer {
            request,
            paths,
            executor_input,
        }
    }

    fn first_artifact(&self, name: &str) -> Result<&RuntimeArtifact, String> {
        self.request
            .artifacts
            .get(name)
            .and_then(|l| l.first())
            .ok_or_else(|| format!("input artifact '{name}' has no value"))
    }

    fn output_artifact(&self, name: &str) -> Result<&RuntimeArtifact, String> {
        self.request
            .output_artifacts
            .get(name)
            .ok_or_else(|| format!("component has no output artifact '{name}'"))
    }

    fn metadata(meta: &Map<String, Value>, key: &Option<String>) -> String {
        match key {
            None => Value::Object(meta.clone()).to_string(),
            Some(k) => meta.get(k).map(value_to_text).unwrap_or_default(),
        }
    }

    fn placeholder(&self, p: &Placeholder) -> Result<String, String> {
        let r = self.request;
        Ok(match p {
            Placeholder::ExecutorInput => self.executor_input.clone(),
            Placeholder::InputParameter(n) => r
                .parameters
                .get(n)
                .map(value_to_text)
                .ok_or_else(|| format!("input parameter '{n}' has no value"))?,
            Placeholder::InputArtifact(n) => {
                let list = r
                    .artifacts
                    .get(n)
                    .ok_or_else(|| format!("input artifact '{n}' has no value"))?;
                json!({"artifacts": list.iter().map(artifact_json).collect::<Vec<_>>()}).to_string()
            }
            Placeholder::InputArtifactPath(n) | Placeholder::InputArtifactUri(n) => {
                self.first_artifact(n)?.uri.clone()
            }
            Placeholder::InputArtifactMetadata(n, key) => {
                Self::metadata(&self.first_artifact(n)?.metadata, key)
            }
            Placeholder::OutputParameterFile(n) => {
                self.paths.parameter_file(n).display().to_string()
            }
            Placeholder::OutputArtifactPath(n) | Placeholder::OutputArtifactUri(n) => {
                self.output_artifact(n)?.uri.clone()
            }
            Placeholder::OutputArtifactMetadata(n, key) => {
                Self::metadata(&self.output_artifact(n)?.metadata, key)
            }
            Placeholder::ExecutorOutputFile => self.paths.executor_output.display().to_string(),
            Placeholder::JobName => r.run_name.clone(),
            Placeholder::JobUuid => r.run_id.clone(),
            Placeholder::JobResourceName => r.run_resource_name.clone(),
            Placeholder::JobCreateTime | Placeholder::JobScheduleTime => {
                r.run_created_at.to_string()
            }
            Placeholder::TaskName => r.task_name.clone(),
            Placeholder::TaskUuid => r.task_id.clone(),
            Placeholder::PipelineRoot => r.pipeline_root.clone(),
            Placeholder::WorkspacePath => self.paths.workspace.display().to_string(),
        })
    }

    fn segments(&self, segments: &[Segment]) -> Result<String, String> {
        let mut out = String::new();
        for s in segments {
            match s {
                Segment::Text(t) => out.push_str(t),
                Segment::Placeholder(p) => out.push_str(&self.placeholder(p)?),
            }
        }
        Ok(out)
    }

    fn present(&self, input: &str) -> bool {
        self.request.parameters.contains_key(input) || self.request.artifacts.contains_key(input)
    }

    fn template(&self, t: &ArgTemplate, out: &mut Vec<String>) -> Result<(), String> {
        match t {
            ArgTemplate::Template(segments) => out.push(self.segments(segments)?),
            ArgTemplate::Concat(items) => {
                let mut parts = Vec::new();
                for item in items {
                    self.template(item, &mut parts)?;
                }
                out.push(parts.concat());
            }
            ArgTemplate::IfPresent {
                input_name,
                then,
                otherwise,
            } => {
                let branch = if self.present(input_name) {
                    then
                } else {
                    otherwise
                };
                for item in branch {
                    self.template(item, out)?;
                }
            }
        }
        Ok(())
    }

    /// Renders command or argument items into the final argument list.
    pub fn items(&self, items: &[CommandLineItem]) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for item in items {
            match item {
                CommandLineItem::Text(text) => {
                    let t = parse_arg(text)?;
                    self.template(&t, &mut out)?;
                }
                CommandLineItem::Other(v) => {
                    return Err(format!("unsupported command-line item {v}"))
                }
            }
        }
        Ok(out)
    }

    /// Renders an environment variable value.
    pub fn text(&self, text: &str) -> Result<String, String> {
        self.segments(&parse_template(text)?)
    }
}
