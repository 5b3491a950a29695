//! Typed model of the KFP pipeline IR (`api/v2alpha1/pipeline_spec.proto`), in the JSON/YAML
//! shape the KFP SDK emits (camelCase field names, enums by name).
//!
//! Unknown fields are rejected, as protobuf's JSON parser does, so a typo in a spec is an error
//! and not a silently ignored setting.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A whole pipeline: the `PipelineSpec` message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineSpec {
    /// Name, display name and description.
    pub pipeline_info: PipelineInfo,
    /// Executors (containers, importers) keyed by executor label.
    #[serde(default)]
    pub deployment_spec: DeploymentSpec,
    /// Version of the SDK that compiled the spec, e.g. `kfp-2.16.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk_version: Option<String>,
    /// IR schema version, e.g. `2.1.0`.
    pub schema_version: String,
    /// Every component the pipeline uses, keyed by name (`comp-train`).
    #[serde(default)]
    pub components: BTreeMap<String, ComponentSpec>,
    /// The pipeline's own component: always a DAG.
    pub root: ComponentSpec,
    /// Root URI under which artifacts are stored, if the author set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_pipeline_root: Option<String>,
}

/// `PipelineInfo`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineInfo {
    /// Pipeline name; required.
    pub name: Option<String>,
    /// Human-friendly name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `PipelineDeploymentConfig`: executors by label.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentSpec {
    /// Executor specs keyed by executor label (`exec-train`).
    #[serde(default)]
    pub executors: BTreeMap<String, ExecutorSpec>,
}

/// One executor: exactly one of container, importer or resolver.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutorSpec {
    /// A container to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerSpec>,
    /// An importer of an existing artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importer: Option<ImporterSpec>,
    /// A resolver (queries the metadata store); not supported locally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<Value>,
    /// Deprecated AI Platform custom job; not supported locally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_job: Option<Value>,
}

/// `PipelineContainerSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerSpec {
    /// Container image; locally informative only.
    #[serde(default)]
    pub image: String,
    /// Entry point; may hold placeholders.
    #[serde(default)]
    pub command: Vec<CommandLineItem>,
    /// Arguments; may hold placeholders.
    #[serde(default)]
    pub args: Vec<CommandLineItem>,
    /// Environment variables.
    #[serde(default)]
    pub env: Vec<EnvVar>,
    /// Resource requests and limits (recorded, not enforced locally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Value>,
    /// Lifecycle hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Value>,
}

/// A command or argument item. The SDK emits plain strings; old specs may hold structured
/// placeholders (`{"concat": [...]}`) which the SDK now encodes as JSON inside a string.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum CommandLineItem {
    /// A string, possibly with `{{$...}}` placeholders.
    Text(String),
    /// Anything else (kept for the error message).
    Other(Value),
}

/// `EnvVar`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// Value (may be empty).
    #[serde(default)]
    pub value: String,
}

/// `ImporterSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImporterSpec {
    /// The URI to import: a constant or a runtime parameter (the importer task's input `uri`).
    #[serde(default)]
    pub artifact_uri: ValueOrRuntimeParameter,
    /// Artifact type.
    #[serde(default)]
    pub type_schema: ArtifactTypeSchema,
    /// Re-import even if the URI is already known.
    #[serde(default)]
    pub reimport: bool,
    /// Metadata attached to the artifact (values may hold placeholders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, Value>>,
    /// Download into the pipeline workspace.
    #[serde(default)]
    pub download_to_workspace: bool,
    /// Deprecated properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Value>,
    /// Deprecated custom properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_properties: Option<Value>,
}

/// `ValueOrRuntimeParameter`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValueOrRuntimeParameter {
    /// A literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant: Option<Value>,
    /// Deprecated literal (`{intValue|doubleValue|stringValue}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant_value: Option<Value>,
    /// Name of a runtime parameter (an input of the task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_parameter: Option<String>,
}

impl ValueOrRuntimeParameter {
    /// The literal value, from `constant` or the deprecated `constantValue`.
    pub fn literal(&self) -> Option<Value> {
        if let Some(v) = &self.constant {
            return Some(v.clone());
        }
        let old = self.constant_value.as_ref()?.as_object()?;
        old.get("stringValue")
            .or_else(|| old.get("intValue"))
            .or_else(|| old.get("doubleValue"))
            .cloned()
    }
}

/// `ArtifactTypeSchema`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactTypeSchema {
    /// e.g. `system.Dataset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_title: Option<String>,
    /// Deprecated schema URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_uri: Option<String>,
    /// Inline schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_schema: Option<String>,
    /// e.g. `0.0.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
}

impl ArtifactTypeSchema {
    /// The schema title, or `system.Artifact` when none is set.
    pub fn title(&self) -> &str {
        self.schema_title.as_deref().unwrap_or("system.Artifact")
    }
}

/// `ComponentSpec`: a DAG or an executor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComponentSpec {
    /// Declared inputs.
    #[serde(default)]
    pub input_definitions: InputDefinitions,
    /// Declared outputs.
    #[serde(default)]
    pub output_definitions: OutputDefinitions,
    /// A DAG of tasks (sub-pipeline, condition or loop group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag: Option<DagSpec>,
    /// The executor that implements the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_label: Option<String>,
    /// Platform-specific configuration (kept, not interpreted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_platform_specs: Option<Value>,
    /// Task config passthroughs (kept, not interpreted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_config_passthroughs: Option<Value>,
}

/// `ComponentInputsSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InputDefinitions {
    /// Parameter inputs.
    #[serde(default)]
    pub parameters: BTreeMap<String, InputParameterSpec>,
    /// Artifact inputs.
    #[serde(default)]
    pub artifacts: BTreeMap<String, InputArtifactSpec>,
}

/// `ComponentInputsSpec.ParameterSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InputParameterSpec {
    /// Declared type.
    #[serde(default)]
    pub parameter_type: ParameterType,
    /// Deprecated primitive type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub legacy_type: Option<String>,
    /// Default value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<Value>,
    /// May be left unset.
    #[serde(default)]
    pub is_optional: bool,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Allowed values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub literals: Option<Vec<Value>>,
}

/// `ComponentInputsSpec.ArtifactSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InputArtifactSpec {
    /// Artifact type.
    #[serde(default)]
    pub artifact_type: ArtifactTypeSchema,
    /// A list of artifacts.
    #[serde(default)]
    pub is_artifact_list: bool,
    /// May be left unset.
    #[serde(default)]
    pub is_optional: bool,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `ComponentOutputsSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutputDefinitions {
    /// Parameter outputs.
    #[serde(default)]
    pub parameters: BTreeMap<String, OutputParameterSpec>,
    /// Artifact outputs.
    #[serde(default)]
    pub artifacts: BTreeMap<String, OutputArtifactSpec>,
}

/// `ComponentOutputsSpec.ParameterSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutputParameterSpec {
    /// Declared type.
    #[serde(default)]
    pub parameter_type: ParameterType,
    /// Deprecated primitive type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub legacy_type: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `ComponentOutputsSpec.ArtifactSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutputArtifactSpec {
    /// Artifact type.
    #[serde(default)]
    pub artifact_type: ArtifactTypeSchema,
    /// A list of artifacts.
    #[serde(default)]
    pub is_artifact_list: bool,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Default metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Value>,
    /// Deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_properties: Option<Value>,
}

/// `ParameterType.ParameterTypeEnum`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ParameterType {
    /// Not set (old specs use the deprecated `type` field instead).
    #[default]
    #[serde(rename = "PARAMETER_TYPE_ENUM_UNSPECIFIED")]
    Unspecified,
    /// A float.
    NumberDouble,
    /// An integer.
    NumberInteger,
    /// A string.
    String,
    /// A boolean.
    Boolean,
    /// A JSON list.
    List,
    /// A JSON object.
    Struct,
    /// `PipelineTaskFinalStatus`, given to exit handlers.
    TaskFinalStatus,
    /// Task configuration passthrough.
    TaskConfig,
}

impl ParameterType {
    /// The type, taking the deprecated primitive type into account.
    pub fn effective(self, legacy: Option<&str>) -> ParameterType {
        match (self, legacy) {
            (ParameterType::Unspecified, Some("INT")) => ParameterType::NumberInteger,
            (ParameterType::Unspecified, Some("DOUBLE")) => ParameterType::NumberDouble,
            (ParameterType::Unspecified, Some("STRING")) => ParameterType::String,
            (t, _) => t,
        }
    }

    /// The name KFP gives the type.
    pub fn name(self) -> &'static str {
        match self {
            ParameterType::Unspecified => "PARAMETER_TYPE_ENUM_UNSPECIFIED",
            ParameterType::NumberDouble => "NUMBER_DOUBLE",
            ParameterType::NumberInteger => "NUMBER_INTEGER",
            ParameterType::String => "STRING",
            ParameterType::Boolean => "BOOLEAN",
            ParameterType::List => "LIST",
            ParameterType::Struct => "STRUCT",
            ParameterType::TaskFinalStatus => "TASK_FINAL_STATUS",
            ParameterType::TaskConfig => "TASK_CONFIG",
        }
    }
}

/// `DagSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DagSpec {
    /// Tasks keyed by task name.
    #[serde(default)]
    pub tasks: BTreeMap<String, TaskSpec>,
    /// Outputs of the DAG, selected from its tasks.
    #[serde(default)]
    pub outputs: DagOutputs,
}

/// `DagOutputsSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DagOutputs {
    /// Output artifacts.
    #[serde(default)]
    pub artifacts: BTreeMap<String, DagOutputArtifact>,
    /// Output parameters.
    #[serde(default)]
    pub parameters: BTreeMap<String, DagOutputParameter>,
}

/// `DagOutputArtifactSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DagOutputArtifact {
    /// Candidates; the first one produced wins.
    #[serde(default)]
    pub artifact_selectors: Vec<ArtifactSelector>,
}

/// `ArtifactSelectorSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactSelector {
    /// Task inside the DAG.
    pub producer_subtask: String,
    /// Its output artifact.
    pub output_artifact_key: String,
}

/// `DagOutputParameterSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DagOutputParameter {
    /// A single source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from_parameter: Option<ParameterSelector>,
    /// Several candidates (`dsl.OneOf`); the first one produced wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from_oneof: Option<ParameterSelectors>,
}

/// `ParameterSelectorsSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParameterSelectors {
    /// Candidates in order.
    #[serde(default)]
    pub parameter_selectors: Vec<ParameterSelector>,
}

/// `ParameterSelectorSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParameterSelector {
    /// Task inside the DAG.
    pub producer_subtask: String,
    /// Its output parameter.
    pub output_parameter_key: String,
}

/// `PipelineTaskSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskSpec {
    /// Display information.
    #[serde(default)]
    pub task_info: TaskInfo,
    /// Inputs of the task.
    #[serde(default)]
    pub inputs: TaskInputs,
    /// Tasks in the same DAG that must finish first.
    #[serde(default)]
    pub dependent_tasks: Vec<String>,
    /// Caching switch and key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caching_options: Option<CachingOptions>,
    /// The component the task runs.
    pub component_ref: ComponentRef,
    /// Condition and strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_policy: Option<TriggerPolicy>,
    /// Loop over artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_iterator: Option<ArtifactIterator>,
    /// Loop over parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_iterator: Option<ParameterIterator>,
    /// Retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    /// Loop parallelism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterator_policy: Option<IteratorPolicy>,
}

/// `PipelineTaskInfo`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskInfo {
    /// Display name.
    #[serde(default)]
    pub name: String,
}

/// `ComponentRef`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComponentRef {
    /// Key into `components`.
    pub name: String,
}

/// `CachingOptions`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CachingOptions {
    /// Cache this task.
    #[serde(default)]
    pub enable_cache: bool,
    /// Custom key replacing the fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_key: Option<String>,
    /// Penstock's extension (not in KFP's IR): reuse only executions younger than this many
    /// seconds. Set from a KFP v1 step's `max_cache_staleness` annotation.
    #[serde(
        default,
        rename = "penstockMaxCacheStalenessSeconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_cache_staleness_seconds: Option<u64>,
}

/// `TriggerPolicy`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerPolicy {
    /// CEL condition over `inputs.parameter_values[...]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// When upstream tasks must have succeeded or merely completed.
    #[serde(default)]
    pub strategy: TriggerStrategy,
}

/// `TriggerPolicy.TriggerStrategy`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TriggerStrategy {
    /// Same as all-upstream-succeeded.
    #[default]
    TriggerStrategyUnspecified,
    /// Run only if every upstream task succeeded.
    AllUpstreamTasksSucceeded,
    /// Run once every upstream task finished, however it ended.
    AllUpstreamTasksCompleted,
}

/// `RetryPolicy`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    #[serde(default)]
    pub max_retry_count: i64,
    /// Delay before the first retry (protobuf Duration, e.g. `"10s"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_duration: Option<String>,
    /// Delay multiplier per retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_factor: Option<f64>,
    /// Cap on the delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_max_duration: Option<String>,
}

/// `IteratorPolicy`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IteratorPolicy {
    /// Iterations running at once; 0 means unlimited.
    #[serde(default)]
    pub parallelism_limit: i64,
}

/// `ArtifactIteratorSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactIterator {
    /// The list to iterate.
    pub items: ArtifactIteratorItems,
    /// Input name the item is bound to.
    pub item_input: String,
}

/// `ArtifactIteratorSpec.ItemsSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactIteratorItems {
    /// An artifact input of the task.
    pub input_artifact: String,
}

/// `ParameterIteratorSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParameterIterator {
    /// The list to iterate.
    pub items: ParameterIteratorItems,
    /// Input name the item is bound to.
    pub item_input: String,
}

/// `ParameterIteratorSpec.ItemsSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParameterIteratorItems {
    /// A JSON list literal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// A parameter input of the task holding a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_parameter: Option<String>,
}

/// `TaskInputsSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskInputs {
    /// Parameter inputs.
    #[serde(default)]
    pub parameters: BTreeMap<String, TaskInputParameter>,
    /// Artifact inputs.
    #[serde(default)]
    pub artifacts: BTreeMap<String, TaskInputArtifact>,
}

/// `TaskInputsSpec.InputParameterSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskInputParameter {
    /// From an upstream task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_output_parameter: Option<TaskOutputParameterRef>,
    /// A literal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_value: Option<ValueOrRuntimeParameter>,
    /// From the enclosing component's inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_input_parameter: Option<String>,
    /// The final status of a task (exit handlers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_final_status: Option<TaskFinalStatusRef>,
    /// Selects a field of the value (`parseJson(string_value)["a"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_expression_selector: Option<String>,
}

/// `TaskOutputParameterSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskOutputParameterRef {
    /// Producing task in the same DAG.
    pub producer_task: String,
    /// Its output parameter.
    pub output_parameter_key: String,
}

/// `TaskFinalStatus`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskFinalStatusRef {
    /// The task whose final status is passed.
    pub producer_task: String,
}

/// `TaskInputsSpec.InputArtifactSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskInputArtifact {
    /// From an upstream task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_output_artifact: Option<TaskOutputArtifactRef>,
    /// From the enclosing component's inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_input_artifact: Option<String>,
}

/// `TaskOutputArtifactSpec`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskOutputArtifactRef {
    /// Producing task in the same DAG.
    pub producer_task: String,
    /// Its output artifact.
    pub output_artifact_key: String,
}
