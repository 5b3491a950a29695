//! # penstock-spec
//!
//! The typed model of the Kubeflow Pipelines IR (`PipelineSpec`, as compiled by `kfp`), its
//! parser (YAML with an optional platform-spec document, or JSON) and its validator.
//!
//! Parsing happens in two stages, so that every error names where it is:
//! 1. deserialisation into [`model::PipelineSpec`], rejecting unknown fields and wrong types
//!    with the path of the offending field;
//! 2. [`validate::validate`], which checks every reference (components, executors, producer
//!    tasks, input and output names, iterators, placeholders), looks for cycles among tasks
//!    and components, and enforces the [`Limits`] on size and shape.
//!
//! KFP v1 pipelines (the Argo Workflow YAML `kfp` 1.8 compiles, also packed in a `.tar.gz` or
//! `.zip`) are mapped onto the same model by [`argo`] before stage 1.
//!
//! ```
//! let yaml = br#"
//! pipelineInfo: {name: hello}
//! schemaVersion: 2.1.0
//! root: {dag: {tasks: {}}}
//! "#;
//! let pipeline = penstock_spec::parse_pipeline("hello.yaml", yaml).unwrap();
//! assert_eq!(pipeline.name(), "hello");
//! ```
#![deny(missing_docs)]

pub mod archive;
pub mod argo;
pub mod limits;
pub mod model;
pub mod parse;
pub mod placeholder;
pub mod validate;

pub use limits::Limits;
pub use model::*;
pub use parse::{check_spec_size, parse_pipeline, parse_pipeline_with_limits, Pipeline};

/// A spec that cannot be used: names the file, the path inside it and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {}{message}", if path.is_empty() { String::new() } else { format!("at {path}: ") })]
pub struct SpecError {
    /// The file (or other source) the spec came from.
    pub source_name: String,
    /// Path inside the spec, e.g. `root.dag.tasks.train`; empty for the whole file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl SpecError {
    /// Builds an error.
    pub fn new(source: &str, path: &str, message: &str) -> Self {
        SpecError {
            source_name: source.to_string(),
            path: path.to_string(),
            message: message.to_string(),
        }
    }
}
