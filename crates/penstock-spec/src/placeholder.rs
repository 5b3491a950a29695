//! Container command-line placeholders: `{{$...}}` inside strings, and the structured
//! `{"Concat": [...]}` / `{"IfPresent": {...}}` forms the SDK encodes as JSON strings.

use serde_json::Value;

/// One `{{$...}}` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    /// `{{$}}`: the whole executor input as JSON.
    ExecutorInput,
    /// `{{$.inputs.parameters['x']}}`.
    InputParameter(String),
    /// `{{$.inputs.artifacts['x']}}`: the artifact (list) as JSON.
    InputArtifact(String),
    /// `{{$.inputs.artifacts['x'].path}}`.
    InputArtifactPath(String),
    /// `{{$.inputs.artifacts['x'].uri}}`.
    InputArtifactUri(String),
    /// `{{$.inputs.artifacts['x'].metadata}}` or `.metadata['key']`.
    InputArtifactMetadata(String, Option<String>),
    /// `{{$.outputs.parameters['x'].output_file}}`.
    OutputParameterFile(String),
    /// `{{$.outputs.artifacts['x'].path}}`.
    OutputArtifactPath(String),
    /// `{{$.outputs.artifacts['x'].uri}}`.
    OutputArtifactUri(String),
    /// `{{$.outputs.artifacts['x'].metadata}}` or `.metadata['key']`.
    OutputArtifactMetadata(String, Option<String>),
    /// `{{$.outputs.output_file}}`: where the executor output JSON goes.
    ExecutorOutputFile,
    /// `{{$.pipeline_job_name}}`.
    JobName,
    /// `{{$.pipeline_job_uuid}}`.
    JobUuid,
    /// `{{$.pipeline_job_resource_name}}`.
    JobResourceName,
    /// `{{$.pipeline_job_create_time_utc}}`.
    JobCreateTime,
    /// `{{$.pipeline_job_schedule_time_utc}}`.
    JobScheduleTime,
    /// `{{$.pipeline_task_name}}`.
    TaskName,
    /// `{{$.pipeline_task_uuid}}`.
    TaskUuid,
    /// `{{$.pipeline_root}}`.
    PipelineRoot,
    /// `{{$.workspace_path}}`.
    WorkspacePath,
}

/// A piece of a templated string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text.
    Text(String),
    /// A placeholder to substitute.
    Placeholder(Placeholder),
}

/// One command-line item after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgTemplate {
    /// A string with placeholders; renders to one argument.
    Template(Vec<Segment>),
    /// `{"Concat": [...]}`: the items rendered and joined; one argument.
    Concat(Vec<ArgTemplate>),
    /// `{"IfPresent": {"InputName": n, "Then": [...], "Else": [...]}}`: zero or more arguments.
    IfPresent {
        /// The input (parameter or artifact) whose presence decides.
        input_name: String,
        /// Items used when the input is present.
        then: Vec<ArgTemplate>,
        /// Items used when it is absent.
        otherwise: Vec<ArgTemplate>,
    },
}

/// Parses a templated string into segments.
pub fn parse_template(text: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{$") {
        let Some(len) = rest[start..].find("}}") else {
            return Err(format!("unterminated placeholder in {text:?}"));
        };
        if start > 0 {
            out.push(Segment::Text(rest[..start].to_string()));
        }
        let inner = &rest[start + 2..start + len];
        out.push(Segment::Placeholder(parse_placeholder(inner)?));
        rest = &rest[start + len + 2..];
    }
    if !rest.is_empty() {
        out.push(Segment::Text(rest.to_string()));
    }
    Ok(out)
}

/// Parses the inside of `{{...}}`, e.g. `$.inputs.parameters['x']`.
pub fn parse_placeholder(inner: &str) -> Result<Placeholder, String> {
    let unknown = || {
        format!(
            "unknown placeholder {{{{{inner}}}}}; expected one of {{{{$}}}}, \
             {{{{$.inputs.parameters['NAME']}}}}, {{{{$.inputs.artifacts['NAME'].path|uri|metadata}}}}, \
             {{{{$.outputs.parameters['NAME'].output_file}}}}, \
             {{{{$.outputs.artifacts['NAME'].path|uri|metadata}}}}, {{{{$.pipeline_job_name}}}}, ..."
        )
    };
    let simple = match inner {
        "$" => Some(Placeholder::ExecutorInput),
        "$.outputs.output_file" => Some(Placeholder::ExecutorOutputFile),
        "$.pipeline_job_name" => Some(Placeholder::JobName),
        "$.pipeline_job_uuid" => Some(Placeholder::JobUuid),
        "$.pipeline_job_resource_name" => Some(Placeholder::JobResourceName),
        "$.pipeline_job_create_time_utc" => Some(Placeholder::JobCreateTime),
        "$.pipeline_job_schedule_time_utc" => Some(Placeholder::JobScheduleTime),
        "$.pipeline_task_name" => Some(Placeholder::TaskName),
        "$.pipeline_task_uuid" => Some(Placeholder::TaskUuid),
        "$.pipeline_root" => Some(Placeholder::PipelineRoot),
        "$.workspace_path" => Some(Placeholder::WorkspacePath),
        _ => None,
    };
    if let Some(p) = simple {
        return Ok(p);
    }
    let (io, rest) = if let Some(r) = inner.strip_prefix("$.inputs.") {
        ("in", r)
    } else if let Some(r) = inner.strip_prefix("$.outputs.") {
        ("out", r)
    } else {
        return Err(unknown());
    };
    let (kind, rest) = if let Some(r) = rest.strip_prefix("parameters") {
        ("param", r)
    } else if let Some(r) = rest.strip_prefix("artifacts") {
        ("artifact", r)
    } else {
        return Err(unknown());
    };
    let (name, tail) = bracketed(rest).ok_or_else(unknown)?;
    let p = match (io, kind, tail) {
        ("in", "param", "") => Placeholder::InputParameter(name),
        ("out", "param", ".output_file") => Placeholder::OutputParameterFile(name),
        ("in", "artifact", "") => Placeholder::InputArtifact(name),
        ("in", "artifact", ".path") => Placeholder::InputArtifactPath(name),
        ("in", "artifact", ".uri") => Placeholder::InputArtifactUri(name),
        ("out", "artifact", ".path") => Placeholder::OutputArtifactPath(name),
        ("out", "artifact", ".uri") => Placeholder::OutputArtifactUri(name),
        (io, "artifact", t) if t.starts_with(".metadata") => {
            let key_part = &t[".metadata".len()..];
            let key = if key_part.is_empty() {
                None
            } else {
                match bracketed(key_part) {
                    Some((k, "")) => Some(k),
                    _ => return Err(unknown()),
                }
            };
            if io == "in" {
                Placeholder::InputArtifactMetadata(name, key)
            } else {
                Placeholder::OutputArtifactMetadata(name, key)
            }
        }
        _ => return Err(unknown()),
    };
    Ok(p)
}

/// Splits `['name']rest` into `name` and `rest`.
fn bracketed(s: &str) -> Option<(String, &str)> {
    let s = s.strip_prefix('[')?;
    let quote = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let s = &s[1..];
    let end = s.find(quote)?;
    let name = s[..end].to_string();
    let rest = s[end + 1..].strip_prefix(']')?;
    Some((name, rest))
}

/// Parses one command-line item, recognising the JSON-encoded structured placeholders.
pub fn parse_arg(item: &str) -> Result<ArgTemplate, String> {
    let trimmed = item.trim();
    if trimmed.starts_with("{\"Concat\"") || trimmed.starts_with("{\"IfPresent\"") {
        if let Ok(value) = serde_json::from_str::<Value>(trimmed) {
            return parse_structured(&value);
        }
    }
    Ok(ArgTemplate::Template(parse_template(item)?))
}

fn parse_structured(value: &Value) -> Result<ArgTemplate, String> {
    match value {
        Value::String(s) => parse_arg(s),
        Value::Object(map) if map.len() == 1 => {
            if let Some(items) = map.get("Concat") {
                let items = items
                    .as_array()
                    .ok_or("Concat expects a list of items")?
                    .iter()
                    .map(parse_structured)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ArgTemplate::Concat(items))
            } else if let Some(body) = map.get("IfPresent") {
                let input_name = body
                    .get("InputName")
                    .and_then(Value::as_str)
                    .ok_or("IfPresent expects an InputName string")?
                    .to_string();
                let list = |key: &str| -> Result<Vec<ArgTemplate>, String> {
                    match body.get(key) {
                        None | Some(Value::Null) => Ok(Vec::new()),
                        Some(Value::Array(items)) => items.iter().map(parse_structured).collect(),
                        Some(other) => Ok(vec![parse_structured(other)?]),
                    }
                };
                Ok(ArgTemplate::IfPresent {
                    input_name,
                    then: list("Then")?,
                    otherwise: list("Else")?,
                })
            } else {
                Err(format!("unknown structured placeholder {value}"))
            }
        }
        other => Err(format!("unknown structured placeholder {other}")),
    }
}

impl ArgTemplate {
    /// Every placeholder inside, for validation.
    pub fn placeholders(&self) -> Vec<&Placeholder> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Placeholder>) {
        match self {
            ArgTemplate::Template(segs) => out.extend(segs.iter().filter_map(|s| match s {
                Segment::Placeholder(p) => Some(p),
                Segment::Text(_) => None,
            })),
            ArgTemplate::Concat(items) => items.iter().for_each(|i| i.collect(out)),
            ArgTemplate::IfPresent {
                then, otherwise, ..
            } => then.iter().chain(otherwise).for_each(|i| i.collect(out)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_simple_form() {
        let segs =
            parse_template("a {{$.inputs.parameters['x']}} b {{$.outputs.artifacts['m'].path}}")
                .unwrap();
        assert_eq!(
            segs,
            vec![
                Segment::Text("a ".into()),
                Segment::Placeholder(Placeholder::InputParameter("x".into())),
                Segment::Text(" b ".into()),
                Segment::Placeholder(Placeholder::OutputArtifactPath("m".into())),
            ]
        );
        assert_eq!(
            parse_placeholder("$.inputs.artifacts['d'].metadata['k']").unwrap(),
            Placeholder::InputArtifactMetadata("d".into(), Some("k".into()))
        );
        assert_eq!(
            parse_placeholder("$.outputs.parameters['o'].output_file").unwrap(),
            Placeholder::OutputParameterFile("o".into())
        );
        assert_eq!(parse_placeholder("$").unwrap(), Placeholder::ExecutorInput);
    }

    #[test]
    fn rejects_unknown_placeholder_with_its_text() {
        let err = parse_template("{{$.inputs.bogus['x']}}").unwrap_err();
        assert!(err.contains("$.inputs.bogus['x']"), "{err}");
        assert!(parse_template("{{$.inputs.parameters['x']").is_err());
    }

    #[test]
    fn parses_structured_forms() {
        let arg = parse_arg(
            r#"{"IfPresent": {"InputName": "opt", "Then": ["--opt", "{{$.inputs.parameters['opt']}}"]}}"#,
        )
        .unwrap();
        match arg {
            ArgTemplate::IfPresent {
                input_name,
                then,
                otherwise,
            } => {
                assert_eq!(input_name, "opt");
                assert_eq!(then.len(), 2);
                assert!(otherwise.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
        let arg = parse_arg(r#"{"Concat": ["a", "{{$.inputs.parameters['b']}}"]}"#).unwrap();
        assert!(matches!(arg, ArgTemplate::Concat(ref items) if items.len() == 2));
    }
}
