//! Typing of parameter values: run parameters given on the command line or through the API
//! are checked against the pipeline's declared input types, and outputs are normalised.

use crate::record::ParameterMap;
use penstock_spec::{ComponentSpec, ParameterType};
use serde_json::{Number, Value};

/// A run parameter that does not fit the pipeline's inputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParameterError {
    /// The pipeline has no such input.
    #[error("unknown parameter '{name}': the pipeline's inputs are {known}")]
    Unknown {
        /// The given name.
        name: String,
        /// The declared inputs, comma-separated.
        known: String,
    },
    /// A required input was not given.
    #[error("missing required parameter '{name}' of type {expected}")]
    Missing {
        /// The input.
        name: String,
        /// Its declared type.
        expected: &'static str,
    },
    /// A value does not have the declared type.
    #[error("parameter '{name}': expected {expected}, got {got}")]
    WrongType {
        /// The input.
        name: String,
        /// Its declared type.
        expected: &'static str,
        /// The value given.
        got: String,
    },
}

/// Parses a command-line `NAME=VALUE` value by the declared type: numbers and booleans by
/// their text, lists and structs as JSON, strings verbatim.
pub fn parse_text_value(
    name: &str,
    ty: ParameterType,
    text: &str,
) -> Result<Value, ParameterError> {
    let wrong = || ParameterError::WrongType {
        name: name.to_string(),
        expected: ty.name(),
        got: format!("{text:?}"),
    };
    match ty {
        ParameterType::String | ParameterType::Unspecified => Ok(Value::String(text.to_string())),
        ParameterType::NumberInteger => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| wrong()),
        ParameterType::NumberDouble => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(wrong),
        ParameterType::Boolean => match text.trim() {
            "true" | "True" => Ok(Value::Bool(true)),
            "false" | "False" => Ok(Value::Bool(false)),
            _ => Err(wrong()),
        },
        ParameterType::List
        | ParameterType::Struct
        | ParameterType::TaskFinalStatus
        | ParameterType::TaskConfig => {
            let value: Value = serde_json::from_str(text).map_err(|_| wrong())?;
            coerce_value(name, ty, value)
        }
    }
}

/// Checks a JSON value against a declared type. Integers given as whole floats (`3.0`, as
/// protobuf delivers them) become integers; integers are accepted where doubles are declared.
pub fn coerce_value(name: &str, ty: ParameterType, value: Value) -> Result<Value, ParameterError> {
    let wrong = |v: &Value| ParameterError::WrongType {
        name: name.to_string(),
        expected: ty.name(),
        got: v.to_string(),
    };
    match ty {
        ParameterType::Unspecified => Ok(value),
        ParameterType::String => match value {
            Value::String(_) => Ok(value),
            other => Err(wrong(&other)),
        },
        ParameterType::NumberInteger => match &value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value),
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Value::from(f as i64)),
                _ => Err(wrong(&value)),
            },
            _ => Err(wrong(&value)),
        },
        ParameterType::NumberDouble => match value {
            Value::Number(_) => Ok(value),
            other => Err(wrong(&other)),
        },
        ParameterType::Boolean => match value {
            Value::Bool(_) => Ok(value),
            other => Err(wrong(&other)),
        },
        ParameterType::List => match value {
            Value::Array(_) => Ok(value),
            other => Err(wrong(&other)),
        },
        ParameterType::Struct | ParameterType::TaskFinalStatus | ParameterType::TaskConfig => {
            match value {
                Value::Object(_) => Ok(value),
                other => Err(wrong(&other)),
            }
        }
    }
}

/// Checks run parameters against the root component's inputs and fills in defaults. Absent
/// optional inputs without a default stay absent.
pub fn resolve_run_parameters(
    root: &ComponentSpec,
    given: ParameterMap,
) -> Result<ParameterMap, ParameterError> {
    let defs = &root.input_definitions.parameters;
    for name in given.keys() {
        if !defs.contains_key(name) {
            return Err(ParameterError::Unknown {
                name: name.clone(),
                known: if defs.is_empty() {
                    "(none)".to_string()
                } else {
                    defs.keys().cloned().collect::<Vec<_>>().join(", ")
                },
            });
        }
    }
    let mut out = ParameterMap::new();
    for (name, def) in defs {
        let ty = def.parameter_type.effective(def.legacy_type.as_deref());
        match given
            .get(name)
            .cloned()
            .or_else(|| def.default_value.clone())
        {
            Some(value) => {
                out.insert(name.clone(), coerce_value(name, ty, value)?);
            }
            None if def.is_optional => {}
            None => {
                return Err(ParameterError::Missing {
                    name: name.clone(),
                    expected: ty.name(),
                })
            }
        }
    }
    Ok(out)
}

/// Reads a `dsl.OutputPath` parameter file the way KFP's backend does: strings verbatim,
/// booleans case-insensitively, everything else as JSON.
pub fn parse_output_file(ty: ParameterType, text: &str) -> Result<Value, String> {
    match ty {
        ParameterType::String | ParameterType::Unspecified => Ok(Value::String(text.to_string())),
        ParameterType::Boolean => serde_json::from_str(&text.trim().to_lowercase())
            .map_err(|e| format!("expected true or false: {e}")),
        _ => {
            let value: Value = serde_json::from_str(text.trim())
                .map_err(|e| format!("expected JSON for {}: {e}", ty.name()))?;
            coerce_value("output", ty, value).map_err(|e| e.to_string())
        }
    }
}

/// Renders a value as text for command-line substitution: strings verbatim, everything else
/// as compact JSON (as KFP's launcher does).
pub fn value_to_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Runs cannot be given input artifacts, so a pipeline whose root requires one cannot run:
/// the error names the artifact and what to do instead.
pub fn check_no_required_input_artifacts(root: &ComponentSpec) -> Result<(), String> {
    match root
        .input_definitions
        .artifacts
        .iter()
        .find(|(_, def)| !def.is_optional)
    {
        Some((name, _)) => Err(format!(
            "the pipeline requires the input artifact '{name}', but runs cannot be given input \
             artifacts; produce it with a task (e.g. dsl.importer) inside the pipeline"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_values_parse_by_type() {
        assert_eq!(
            parse_text_value("n", ParameterType::NumberInteger, "5").unwrap(),
            json!(5)
        );
        assert_eq!(
            parse_text_value("x", ParameterType::NumberDouble, "0.5").unwrap(),
            json!(0.5)
        );
        assert_eq!(
            parse_text_value("b", ParameterType::Boolean, "True").unwrap(),
            json!(true)
        );
        assert_eq!(
            parse_text_value("l", ParameterType::List, "[1,2]").unwrap(),
            json!([1, 2])
        );
        assert_eq!(
            parse_text_value("s", ParameterType::String, "5").unwrap(),
            json!("5")
        );
        let err = parse_text_value("n", ParameterType::NumberInteger, "five").unwrap_err();
        assert_eq!(
            err.to_string(),
            "parameter 'n': expected NUMBER_INTEGER, got \"five\""
        );
        assert!(parse_text_value("l", ParameterType::List, "{\"a\":1}").is_err());
    }

    #[test]
    fn whole_floats_become_integers() {
        assert_eq!(
            coerce_value("n", ParameterType::NumberInteger, json!(3.0)).unwrap(),
            json!(3)
        );
        assert!(coerce_value("n", ParameterType::NumberInteger, json!(3.5)).is_err());
    }

    #[test]
    fn output_files_follow_backend_rules() {
        assert_eq!(
            parse_output_file(ParameterType::String, "a b\n").unwrap(),
            json!("a b\n")
        );
        assert_eq!(
            parse_output_file(ParameterType::Boolean, "True").unwrap(),
            json!(true)
        );
        assert_eq!(
            parse_output_file(ParameterType::NumberInteger, "7\n").unwrap(),
            json!(7)
        );
        assert!(parse_output_file(ParameterType::List, "nope").is_err());
    }
}
