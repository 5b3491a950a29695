//! CEL as KFP uses it: trigger conditions over `inputs.parameter_values[...]` and parameter
//! expression selectors such as `parseJson(string_value)["a"]` on loop items.

use crate::record::ParameterMap;
use serde_json::Value;

/// Converts JSON to the value KFP's backend evaluates: protobuf `Value`s hold every number as
/// a double, so numbers become CEL doubles (`int(x)` converts back, as compiled conditions do).
fn to_cel(value: &Value) -> cel::Value {
    match value {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => cel::Value::String(s.clone().into()),
        Value::Array(items) => {
            cel::Value::List(items.iter().map(to_cel).collect::<Vec<_>>().into())
        }
        Value::Object(map) => {
            let entries: std::collections::HashMap<cel::objects::Key, cel::Value> = map
                .iter()
                .map(|(k, v)| (cel::objects::Key::String(k.clone().into()), to_cel(v)))
                .collect();
            cel::Value::Map(entries.into())
        }
    }
}

fn from_cel(value: &cel::Value) -> Result<Value, String> {
    Ok(match value {
        cel::Value::Null => Value::Null,
        cel::Value::Bool(b) => Value::Bool(*b),
        cel::Value::Int(i) => Value::from(*i),
        cel::Value::UInt(u) => Value::from(*u),
        cel::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        cel::Value::String(s) => Value::String(s.to_string()),
        cel::Value::List(items) => {
            Value::Array(items.iter().map(from_cel).collect::<Result<_, _>>()?)
        }
        cel::Value::Map(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map.map.iter() {
                let key = match k {
                    cel::objects::Key::String(s) => s.to_string(),
                    cel::objects::Key::Int(i) => i.to_string(),
                    cel::objects::Key::Uint(u) => u.to_string(),
                    cel::objects::Key::Bool(b) => b.to_string(),
                };
                out.insert(key, from_cel(v)?);
            }
            Value::Object(out)
        }
        other => return Err(format!("unsupported CEL result {other:?}")),
    })
}

/// Evaluates a `triggerPolicy.condition` against a task's resolved input parameters.
pub fn evaluate_condition(condition: &str, parameters: &ParameterMap) -> Result<bool, String> {
    let program = cel::Program::compile(condition)
        .map_err(|e| format!("cannot parse condition `{condition}`: {e}"))?;
    let mut context = cel::Context::default();
    let values: serde_json::Map<String, Value> = parameters
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut inputs = serde_json::Map::new();
    inputs.insert("parameter_values".to_string(), Value::Object(values));
    context.add_variable_from_value("inputs", to_cel(&Value::Object(inputs)));
    match program.execute(&context) {
        Ok(cel::Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!(
            "condition `{condition}` gave {other:?}, expected a boolean"
        )),
        Err(e) => Err(format!("cannot evaluate condition `{condition}`: {e}")),
    }
}

/// Applies a `parameterExpressionSelector` to a value. The value is bound as `string_value`
/// (its JSON text when it is not a string), `number_value`, `bool_value`, `list_value` or
/// `struct_value` as KFP's backend does, and `parseJson` is available.
pub fn apply_selector(selector: &str, value: &Value) -> Result<Value, String> {
    let program = cel::Program::compile(selector)
        .map_err(|e| format!("cannot parse selector `{selector}`: {e}"))?;
    let mut context = cel::Context::default();
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    context.add_variable_from_value("string_value", cel::Value::String(text.into()));
    match value {
        Value::Number(_) => context.add_variable_from_value("number_value", to_cel(value)),
        Value::Bool(_) => context.add_variable_from_value("bool_value", to_cel(value)),
        Value::Array(_) => context.add_variable_from_value("list_value", to_cel(value)),
        Value::Object(_) => context.add_variable_from_value("struct_value", to_cel(value)),
        _ => {}
    }
    context
        .add_function(
            "parseJson",
            |text: std::sync::Arc<String>| -> cel::ResolveResult {
                let parsed: Value = serde_json::from_str(&text)
                    .map_err(|e| cel::ExecutionError::function_error("parseJson", e.to_string()))?;
                Ok(to_cel(&parsed))
            },
        )
        .map_err(|e| format!("cannot declare parseJson: {e:?}"))?;
    let result = program
        .execute(&context)
        .map_err(|e| format!("cannot evaluate selector `{selector}`: {e}"))?;
    // Whole numbers selected from JSON come back as doubles; keep integers integral.
    let json = from_cel(&result)?;
    Ok(match json {
        Value::Number(n)
            if n.as_f64()
                .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                && !n.is_i64() =>
        {
            Value::from(n.as_f64().unwrap_or_default() as i64)
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> ParameterMap {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    #[test]
    fn compiled_conditions_evaluate() {
        let p =
            params(json!({"pipelinechannel--flip-coin-Output": "heads", "pipelinechannel--n": 7}));
        assert!(evaluate_condition(
            "inputs.parameter_values['pipelinechannel--flip-coin-Output'] == 'heads'",
            &p
        )
        .unwrap());
        assert!(!evaluate_condition(
            "!(inputs.parameter_values['pipelinechannel--flip-coin-Output'] == 'heads')",
            &p
        )
        .unwrap());
        assert!(
            evaluate_condition("int(inputs.parameter_values['pipelinechannel--n']) > 5", &p)
                .unwrap()
        );
        assert!(evaluate_condition(
            "inputs.parameter_values['pipelinechannel--missing'] == 1",
            &p
        )
        .is_err());
        assert!(evaluate_condition("1 +", &p).is_err());
    }

    #[test]
    fn selectors_read_json_fields() {
        assert_eq!(
            apply_selector(
                "parseJson(string_value)[\"A_a\"]",
                &json!("{\"A_a\": \"1\"}")
            )
            .unwrap(),
            json!("1")
        );
        assert_eq!(
            apply_selector("parseJson(string_value)[\"n\"]", &json!({"n": 2})).unwrap(),
            json!(2)
        );
    }
}
