//! Reading a compiled pipeline file: YAML (one or two documents) or JSON, a KFP v1 Argo
//! Workflow ([`crate::argo`]), or a `.tar.gz`/`.zip` package holding one ([`crate::archive`]).

use crate::limits::Limits;
use crate::model::PipelineSpec;
use crate::validate::validate_with_limits;
use crate::SpecError;
use serde_json::Value;

/// IR schema versions this crate understands.
pub const SUPPORTED_SCHEMA_VERSIONS: &[&str] = &["2.0.0", "2.1.0"];

/// A parsed and validated pipeline file: the spec plus its optional platform spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// The `PipelineSpec` document.
    pub spec: PipelineSpec,
    /// The second document (`platforms: {kubernetes: ...}`), if present.
    pub platform_spec: Option<Value>,
}

impl Pipeline {
    /// The pipeline's name (validation guarantees it is set).
    pub fn name(&self) -> &str {
        self.spec.pipeline_info.name.as_deref().unwrap_or_default()
    }
}

/// Parses and validates a pipeline from bytes under the default [`Limits`]. `source` names
/// the file in error messages.
pub fn parse_pipeline(source: &str, bytes: &[u8]) -> Result<Pipeline, SpecError> {
    parse_pipeline_with_limits(source, bytes, &Limits::default())
}

/// Refuses a spec of `len` bytes when it is larger than [`Limits::max_spec_bytes`]; callers
/// that receive a spec (an upload, a request body) can check its announced size before
/// reading it all.
pub fn check_spec_size(source: &str, len: usize, limits: &Limits) -> Result<(), SpecError> {
    if len > limits.max_spec_bytes {
        return Err(SpecError::new(
            source,
            "",
            &format!(
                "the spec is {len} bytes, larger than the limit of {} bytes (max_spec_bytes)",
                limits.max_spec_bytes
            ),
        ));
    }
    Ok(())
}

/// Parses and validates a pipeline from bytes under `limits`: the size is checked before
/// parsing ([`check_spec_size`]), the rest by [`validate_with_limits`].
pub fn parse_pipeline_with_limits(
    source: &str,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Pipeline, SpecError> {
    check_spec_size(source, bytes.len(), limits)?;
    // A package (`.tar.gz`, `.zip`) as the KFP v1 compiler writes and its client uploads.
    let unpacked;
    let (source, bytes) = match crate::archive::package_kind(bytes) {
        Some(kind) => {
            unpacked = crate::archive::unpack(source, bytes, kind, limits.max_spec_bytes)?;
            check_spec_size(&unpacked.0, unpacked.1.len(), limits)?;
            (unpacked.0.as_str(), unpacked.1.as_slice())
        }
        None => (source, bytes),
    };
    let docs = read_documents(source, bytes)?;
    let mut docs = docs.into_iter().filter(|d| !d.is_null());
    let first = docs.next().ok_or_else(|| {
        SpecError::new(
            source,
            "",
            "no pipeline spec found: the file is empty or holds only comments",
        )
    })?;
    let (spec_value, mut platform_spec) = if crate::argo::is_argo_workflow(&first) {
        // KFP v1: an Argo Workflow, mapped onto the same model.
        if docs.next().is_some() {
            return Err(SpecError::new(
                source,
                "",
                "expected one Argo Workflow document, found more documents after it",
            ));
        }
        (crate::argo::workflow_to_spec(source, &first)?, None)
    } else if let Some((api, kind)) = crate::argo::other_manifest(&first) {
        return Err(SpecError::new(
            source,
            "kind",
            &format!(
                "this is a Kubernetes manifest (apiVersion {api}, kind {kind}), not a pipeline; \
                 expected a KFP v2 pipeline spec or a KFP v1 Argo Workflow \
                 (apiVersion argoproj.io/v1alpha1, kind Workflow)"
            ),
        ));
    } else {
        split_pipeline_job(source, first)?
    };
    for extra in docs {
        if platform_spec.is_some() {
            return Err(SpecError::new(
                source,
                "",
                "expected at most two YAML documents (pipeline spec, platform spec), found more",
            ));
        }
        if extra.get("platforms").is_none() {
            return Err(SpecError::new(
                source,
                "",
                "the second YAML document must be a platform spec with a `platforms` field",
            ));
        }
        platform_spec = Some(extra);
    }
    let spec = deserialize_spec(source, spec_value)?;
    let pipeline = Pipeline {
        spec,
        platform_spec,
    };
    let errors = validate_with_limits(&pipeline.spec, limits);
    if let Some(first) = errors.into_iter().next() {
        return Err(SpecError::new(source, &first.path, &first.message));
    }
    Ok(pipeline)
}

/// Accepts a bare `PipelineSpec` or a `PipelineJob`-like wrapper with `pipelineSpec`
/// (and an optional embedded `platformSpec`).
fn split_pipeline_job(source: &str, doc: Value) -> Result<(Value, Option<Value>), SpecError> {
    let Value::Object(mut map) = doc else {
        return Err(SpecError::new(
            source,
            "",
            &format!(
                "expected a mapping (the pipeline spec), found {}",
                json_kind(&doc)
            ),
        ));
    };
    if let Some(inner) = map
        .remove("pipelineSpec")
        .or_else(|| map.remove("pipeline_spec"))
    {
        let platform = map
            .remove("platformSpec")
            .or_else(|| map.remove("platform_spec"));
        return Ok((inner, platform));
    }
    Ok((Value::Object(map), None))
}

fn deserialize_spec(source: &str, value: Value) -> Result<PipelineSpec, SpecError> {
    if let Some(version) = value.get("schemaVersion") {
        match version.as_str() {
            Some(v) if SUPPORTED_SCHEMA_VERSIONS.contains(&v) => {}
            _ => {
                return Err(SpecError::new(
                    source,
                    "schemaVersion",
                    &format!(
                        "unsupported schema version {version}; expected one of {}",
                        SUPPORTED_SCHEMA_VERSIONS.join(", ")
                    ),
                ))
            }
        }
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        SpecError::new(source, &path, &e.into_inner().to_string())
    })
}

fn read_documents(source: &str, bytes: &[u8]) -> Result<Vec<Value>, SpecError> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        SpecError::new(
            source,
            "",
            "not a text file (invalid UTF-8); expected a compiled pipeline (YAML or JSON)",
        )
    })?;
    let trimmed = text.trim_start();
    if looks_like_python(source, trimmed) {
        return Err(SpecError::new(
            source,
            "",
            "this is Python source, not a compiled pipeline; compile it first with the KFP SDK \
             (`kfp.compiler.Compiler().compile(my_pipeline, 'pipeline.yaml')`, or \
             `kfp dsl compile --py FILE.py --output pipeline.yaml`) and give Penstock the YAML",
        ));
    }
    if trimmed.starts_with('{') {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            SpecError::new(
                source,
                "",
                &format!(
                    "malformed JSON at line {} column {}: {e}",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        return Ok(vec![value]);
    }
    // KFP files are written by PyYAML, which quotes every string that YAML would read as a
    // boolean; YAML 1.1's `y`/`n` must stay strings (`componentInputParameter: n`).
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_multiple_with_options::<Value>(text, options)
        .map_err(|e| SpecError::new(source, "", &format!("malformed YAML: {e}")))
}

/// A `.py` file, or text that starts the way Python modules do and no YAML document would.
fn looks_like_python(source: &str, text: &str) -> bool {
    source.ends_with(".py")
        || ["import ", "from ", "#!/usr/bin/env python", "def ", "@dsl."]
            .iter()
            .any(|p| text.starts_with(p))
}

/// How a JSON value is named in error messages ("a list", "a mapping"…).
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod yaml_tests {
    use super::parse_pipeline;

    #[test]
    fn python_sources_are_named_as_such() {
        for (name, text) in [
            ("pipeline.py", "anything: at all\n"),
            (
                "p.yaml",
                "from kfp import dsl\n\n@dsl.pipeline\ndef p(): pass\n",
            ),
            ("p.yaml", "import kfp\n"),
        ] {
            let e = parse_pipeline(name, text.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains("Python source") && e.contains("compile"), "{e}");
        }
    }

    #[test]
    fn single_letter_names_stay_strings() {
        let yaml = b"pipelineInfo: {name: p}\nschemaVersion: 2.1.0\nroot:\n  inputDefinitions:\n    parameters:\n      n: {parameterType: NUMBER_INTEGER}\n  dag:\n    tasks: {}\n";
        let p = super::parse_pipeline("p.yaml", yaml).unwrap();
        assert!(p.spec.root.input_definitions.parameters.contains_key("n"));
    }
}
