//! KFP's list parameters: `page_size`, opaque `page_token`, `sort_by` and the JSON `filter`
//! (in both spellings: the SDK's `{"operation": 1, "stringValue": …}` and the UI's
//! `{"operation": "IS_SUBSTRING", "string_value": …}`, possibly URL-encoded once more).

use crate::error::{ApiError, ApiResult};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use penstock_store::list::{
    Cursor, Entity, Field, FieldKind, FieldValue, ListQuery, Operation, Predicate,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Rows per page when `page_size` is absent or 0 (KFP's default).
pub const DEFAULT_PAGE_SIZE: u32 = 20;
/// The largest `page_size` accepted (KFP's cap).
pub const MAX_PAGE_SIZE: u32 = 200;

/// What a page token carries: the list's sort and filter, and where the last page ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Token {
    sort: String,
    desc: bool,
    filter: String,
    after: Cursor,
}

/// A list request in the store's terms, plus what the next page token needs.
#[derive(Debug, Clone)]
pub struct ListRequest {
    /// The store query.
    pub query: ListQuery,
    sort_name: String,
    filter: String,
}

impl ListRequest {
    /// The `next_page_token` for a page that ended at `next` (empty on the last page).
    pub fn next_token(&self, next: Option<Cursor>) -> String {
        match next {
            None => String::new(),
            Some(after) => {
                let token = Token {
                    sort: self.sort_name.clone(),
                    desc: self.query.desc,
                    filter: self.filter.clone(),
                    after,
                };
                serde_json::to_vec(&token)
                    .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
                    .unwrap_or_default()
            }
        }
    }
}

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// Builds the store query for `entity` from the request's query parameters; `scope` holds
/// conditions implied by the path or by `experiment_id`.
pub fn list_request(
    entity: Entity,
    params: &HashMap<String, String>,
    scope: Vec<Predicate>,
) -> ApiResult<ListRequest> {
    let limit = match param(params, "page_size") {
        None => DEFAULT_PAGE_SIZE,
        Some(text) => match text.trim().parse::<i64>() {
            Ok(0) => DEFAULT_PAGE_SIZE,
            Ok(n) if (1..=MAX_PAGE_SIZE as i64).contains(&n) => n as u32,
            _ => {
                return Err(ApiError::invalid(format!(
                    "page_size: {text} is out of range; expected 1 to {MAX_PAGE_SIZE} (0 or absent means {DEFAULT_PAGE_SIZE})"
                )))
            }
        },
    };
    let token = param(params, "page_token").map(decode_token).transpose()?;
    let sort_text = param(params, "sort_by").map(str::to_string);
    let filter_text = param(params, "filter").map(str::to_string);
    if let Some(t) = &token {
        if let Some(s) = &sort_text {
            let (name, desc) = match parse_metric_sort(entity, s)? {
                Some((m, desc)) => (format!("metric:{m}"), desc),
                None => {
                    let (field, desc) = parse_sort(entity, s)?;
                    (field.name.to_string(), desc)
                }
            };
            if name != t.sort || desc != t.desc {
                return Err(ApiError::invalid(format!(
                    "page_token was made for sort_by '{}{}', not '{s}'",
                    t.sort,
                    if t.desc { " desc" } else { "" }
                )));
            }
        }
        if let Some(f) = &filter_text {
            if canonical_filter(f)? != t.filter {
                return Err(ApiError::invalid(
                    "page_token was made for a different filter; start again without a page_token",
                ));
            }
        }
    }
    let created_at = entity
        .field("created_at")
        .ok_or_else(|| ApiError::internal("no created_at field"))?;
    let (sort, desc, sort_metric) = match (&token, &sort_text) {
        (Some(t), _) => match t.sort.strip_prefix("metric:") {
            Some(m) if entity == Entity::Runs => (created_at, t.desc, Some(m.to_string())),
            _ => (
                entity.field(&t.sort).ok_or_else(|| {
                    ApiError::invalid(format!("page_token: unknown sort field '{}'", t.sort))
                })?,
                t.desc,
                None,
            ),
        },
        (None, Some(s)) => match parse_metric_sort(entity, s)? {
            Some((metric, desc)) => (created_at, desc, Some(metric)),
            None => {
                let (field, desc) = parse_sort(entity, s)?;
                (field, desc, None)
            }
        },
        (None, None) => (created_at, false, None),
    };
    let filter = match (&token, &filter_text) {
        (Some(t), _) => t.filter.clone(),
        (None, Some(f)) => canonical_filter(f)?,
        (None, None) => String::new(),
    };
    let mut predicates = scope;
    if !filter.is_empty() {
        predicates.extend(parse_filter(entity, &filter)?);
    }
    if let Some(t) = &token {
        let kind_ok = matches!(
            (&t.after.value, sort_metric.is_some(), sort.kind),
            (
                FieldValue::Int(_) | FieldValue::Float(_) | FieldValue::MetricAbsent { .. },
                true,
                _
            ) | (FieldValue::Int(_), false, FieldKind::Time)
                | (FieldValue::Text(_), false, FieldKind::Text)
        );
        if !kind_ok {
            return Err(ApiError::invalid("page_token is malformed"));
        }
    }
    Ok(ListRequest {
        query: ListQuery {
            predicates,
            sort,
            desc,
            after: token.map(|t| t.after),
            limit,
            sort_metric: sort_metric.clone(),
        },
        sort_name: match &sort_metric {
            Some(m) => format!("metric:{m}"),
            None => sort.name.to_string(),
        },
        filter,
    })
}

fn decode_token(text: &str) -> ApiResult<Token> {
    let bad = || {
        ApiError::invalid(format!(
            "page_token '{text}' is not a token this server issued; use the next_page_token of a previous answer"
        ))
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

/// `metric:<name>[ desc]` (runs only): sort by a scalar the run's tasks produced.
fn parse_metric_sort(entity: Entity, text: &str) -> ApiResult<Option<(String, bool)>> {
    let Some(rest) = text.trim().strip_prefix("metric:") else {
        return Ok(None);
    };
    if entity != Entity::Runs {
        return Err(ApiError::invalid(format!(
            "sort_by '{text}': only runs can be sorted by a metric"
        )));
    }
    let (name, desc) = match rest.rsplit_once(' ') {
        Some((n, d)) if d.eq_ignore_ascii_case("desc") => (n.trim(), true),
        Some((n, d)) if d.eq_ignore_ascii_case("asc") => (n.trim(), false),
        _ => (rest.trim(), false),
    };
    if name.is_empty() {
        return Err(ApiError::invalid(format!(
            "sort_by '{text}': expected metric:<name>"
        )));
    }
    Ok(Some((name.to_string(), desc)))
}

fn parse_sort(entity: Entity, text: &str) -> ApiResult<(Field, bool)> {
    let mut words = text.split_whitespace();
    let name = words.next().unwrap_or_default();
    let desc = match words.next().map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "sort_by '{text}': expected 'field', 'field asc' or 'field desc', found '{other}'"
            )))
        }
    };
    if words.next().is_some() {
        return Err(ApiError::invalid(format!(
            "sort_by '{text}': expected 'field', 'field asc' or 'field desc'"
        )));
    }
    let field = entity.field(name).ok_or_else(|| {
        ApiError::invalid(format!(
            "sort_by: cannot sort on '{name}'; expected one of {}",
            entity.field_names().join(", ")
        ))
    })?;
    Ok((field, desc))
}

/// The filter as compact JSON, after undoing the UI's extra URL encoding.
fn canonical_filter(text: &str) -> ApiResult<String> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(first) => {
            let decoded = percent_encoding::percent_decode_str(text)
                .decode_utf8()
                .map_err(|_| ApiError::invalid(format!("filter is not valid JSON: {first}")))?;
            serde_json::from_str(&decoded)
                .map_err(|e| ApiError::invalid(format!("filter is not valid JSON: {e}")))?
        }
    };
    Ok(value.to_string())
}

const OPERATIONS: [(&str, i64, Operation); 8] = [
    ("EQUALS", 1, Operation::Equals),
    ("NOT_EQUALS", 2, Operation::NotEquals),
    ("GREATER_THAN", 3, Operation::GreaterThan),
    ("GREATER_THAN_EQUALS", 5, Operation::GreaterThanEquals),
    ("LESS_THAN", 6, Operation::LessThan),
    ("LESS_THAN_EQUALS", 7, Operation::LessThanEquals),
    ("IN", 8, Operation::In),
    ("IS_SUBSTRING", 9, Operation::IsSubstring),
];

fn parse_operation(v: &Value) -> ApiResult<Operation> {
    let found = match v {
        Value::String(s) => OPERATIONS.iter().find(|(n, _, _)| n == s),
        Value::Number(n) => OPERATIONS.iter().find(|(_, i, _)| Some(*i) == n.as_i64()),
        _ => None,
    };
    found.map(|(_, _, op)| *op).ok_or_else(|| {
        ApiError::invalid(format!(
            "filter: unknown operation {v}; expected one of {}",
            OPERATIONS
                .iter()
                .map(|(n, _, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// The filter's predicates in the store's terms.
fn parse_filter(entity: Entity, json: &str) -> ApiResult<Vec<Predicate>> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| ApiError::invalid(format!("filter is not valid JSON: {e}")))?;
    let Value::Object(mut top) = value else {
        return Err(ApiError::invalid(
            "filter must be a JSON object {\"predicates\": [...]}",
        ));
    };
    let predicates = top.remove("predicates").unwrap_or(Value::Array(Vec::new()));
    if let Some(k) = top.keys().next() {
        return Err(ApiError::invalid(format!(
            "filter: unknown field '{k}'; expected 'predicates'"
        )));
    }
    let Value::Array(list) = predicates else {
        return Err(ApiError::invalid("filter.predicates must be a list"));
    };
    list.into_iter()
        .enumerate()
        .map(|(i, p)| parse_predicate(entity, i, p))
        .collect()
}

fn snake(key: &str) -> String {
    let mut out = String::new();
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn parse_predicate(entity: Entity, index: usize, p: Value) -> ApiResult<Predicate> {
    let at = format!("filter.predicates[{index}]");
    let Value::Object(raw) = p else {
        return Err(ApiError::invalid(format!("{at} must be an object")));
    };
    let map: Map<String, Value> = raw.into_iter().map(|(k, v)| (snake(&k), v)).collect();
    let key = map
        .get("key")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid(format!("{at}: 'key' is missing")))?;
    let field = entity.field(key).ok_or_else(|| {
        ApiError::invalid(format!(
            "{at}: no support for filtering on unrecognized field '{key}'; expected one of {}",
            entity.field_names().join(", ")
        ))
    })?;
    let op = parse_operation(
        map.get("op")
            .or_else(|| map.get("operation"))
            .ok_or_else(|| ApiError::invalid(format!("{at}: 'operation' is missing")))?,
    )?;
    if op == Operation::IsSubstring && field.kind != FieldKind::Text {
        return Err(ApiError::invalid(format!(
            "{at}: IS_SUBSTRING works on text fields only, not '{key}'"
        )));
    }
    let mut values: Vec<FieldValue> = Vec::new();
    for (k, v) in &map {
        match k.as_str() {
            "key" | "operation" | "op" => {}
            "int_value" | "long_value" | "string_value" | "timestamp_value" => {
                values.push(field_value(&at, field, k, v)?);
            }
            "int_values" | "long_values" | "string_values" => {
                let list = v.get("values").and_then(Value::as_array).ok_or_else(|| {
                    ApiError::invalid(format!("{at}.{k}: expected {{\"values\": [...]}}"))
                })?;
                for item in list {
                    values.push(field_value(&at, field, k, item)?);
                }
            }
            other => return Err(ApiError::invalid(format!("{at}: unknown field '{other}'"))),
        }
    }
    let is_list = map.keys().any(|k| k.ends_with("_values"));
    match op {
        Operation::In if !is_list => {
            return Err(ApiError::invalid(format!(
                "{at}: IN needs int_values, long_values or string_values"
            )))
        }
        Operation::In => {}
        _ if values.len() != 1 || is_list => {
            return Err(ApiError::invalid(format!(
                "{at}: expected exactly one of int_value, long_value, string_value, timestamp_value"
            )))
        }
        _ => {}
    }
    Ok(Predicate { field, op, values })
}

fn field_value(at: &str, field: Field, kind: &str, v: &Value) -> ApiResult<FieldValue> {
    let bad = |why: &str| ApiError::invalid(format!("{at}.{kind}: {why} (got {v})"));
    match field.kind {
        FieldKind::Text => match v {
            Value::String(s) => Ok(FieldValue::Text(normalise_text(field, s))),
            Value::Number(n) => Ok(FieldValue::Text(n.to_string())),
            _ => Err(bad("expected a string")),
        },
        FieldKind::Time => {
            if kind.starts_with("timestamp") {
                let text = v.as_str().ok_or_else(|| bad("expected an RFC 3339 time"))?;
                let t = text
                    .parse::<jiff::Timestamp>()
                    .map_err(|_| bad("expected an RFC 3339 time"))?;
                return Ok(FieldValue::Int(t.as_millisecond()));
            }
            // KFP stores times as Unix seconds, and compares numbers against them.
            let seconds = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok().or_else(|| {
                    s.parse::<jiff::Timestamp>()
                        .ok()
                        .map(|t| t.as_millisecond() / 1000)
                }),
                _ => None,
            }
            .ok_or_else(|| bad("expected Unix seconds or an RFC 3339 time"))?;
            Ok(FieldValue::Int(seconds.saturating_mul(1000)))
        }
    }
}

/// KFP v1 spelled storage states `STORAGESTATE_ARCHIVED`; both mean the same.
fn normalise_text(field: Field, s: &str) -> String {
    if field.name == "storage_state" {
        if let Some(rest) = s.strip_prefix("STORAGESTATE_") {
            return rest.to_string();
        }
    }
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sdk_and_ui_filter_spellings_mean_the_same() {
        let sdk = r#"{"predicates":[{"operation":1,"key":"display_name","stringValue":"E1"}]}"#;
        let ui = r#"{"predicates":[{"key":"name","operation":"EQUALS","string_value":"E1"}]}"#;
        let a = list_request(Entity::Experiments, &params(&[("filter", sdk)]), vec![]).unwrap();
        let b = list_request(Entity::Experiments, &params(&[("filter", ui)]), vec![]).unwrap();
        assert_eq!(a.query.predicates, b.query.predicates);
        assert_eq!(
            a.query.predicates[0].values,
            vec![FieldValue::Text("E1".into())]
        );
        // The UI's extra URL encoding is undone.
        let encoded: String =
            percent_encoding::utf8_percent_encode(ui, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let c = list_request(
            Entity::Experiments,
            &params(&[("filter", &encoded)]),
            vec![],
        )
        .unwrap();
        assert_eq!(c.query.predicates, b.query.predicates);
    }

    #[test]
    fn bad_lists_name_the_problem() {
        let cases = [
            (vec![("page_size", "-1")], "page_size"),
            (vec![("page_size", "201")], "page_size"),
            (vec![("page_token", "garbage")], "page_token"),
            (vec![("sort_by", "colour desc")], "colour"),
            (vec![("sort_by", "created_at sideways")], "sideways"),
            (vec![("filter", "{not json")], "filter"),
            (
                vec![(
                    "filter",
                    r#"{"predicates":[{"key":"colour","operation":1,"string_value":"x"}]}"#,
                )],
                "unrecognized field 'colour'",
            ),
            (
                vec![(
                    "filter",
                    r#"{"predicates":[{"key":"name","operation":42,"string_value":"x"}]}"#,
                )],
                "unknown operation",
            ),
            (
                vec![(
                    "filter",
                    r#"{"predicates":[{"key":"created_at","operation":"IS_SUBSTRING","string_value":"x"}]}"#,
                )],
                "IS_SUBSTRING",
            ),
            (
                vec![(
                    "filter",
                    r#"{"predicates":[{"key":"name","operation":"IN","string_value":"x"}]}"#,
                )],
                "IN needs",
            ),
        ];
        for (p, expected) in cases {
            let err = list_request(Entity::Runs, &params(&p), vec![]).unwrap_err();
            assert_eq!(err.code.number(), 3, "{p:?}");
            assert!(err.message.contains(expected), "{p:?}: {}", err.message);
        }
    }

    #[test]
    fn tokens_round_trip_and_must_match_sort_and_filter() {
        let first = list_request(
            Entity::Runs,
            &params(&[("sort_by", "created_at desc"), ("page_size", "5")]),
            vec![],
        )
        .unwrap();
        let token = first.next_token(Some(Cursor {
            value: FieldValue::Int(42),
            key: "abc".into(),
        }));
        let next = list_request(Entity::Runs, &params(&[("page_token", &token)]), vec![]).unwrap();
        assert!(next.query.desc);
        assert_eq!(
            next.query.after,
            Some(Cursor {
                value: FieldValue::Int(42),
                key: "abc".into()
            })
        );
        let clash = list_request(
            Entity::Runs,
            &params(&[("page_token", &token), ("sort_by", "created_at")]),
            vec![],
        )
        .unwrap_err();
        assert!(clash.message.contains("sort_by"));
    }

    #[test]
    fn time_filters_take_seconds_or_timestamps() {
        let f = r#"{"predicates":[{"key":"created_at","operation":"GREATER_THAN","long_value":"10"},
                   {"key":"created_at","operation":"LESS_THAN","timestamp_value":"1970-01-01T00:00:20Z"}]}"#;
        let r = list_request(Entity::Runs, &params(&[("filter", f)]), vec![]).unwrap();
        assert_eq!(r.query.predicates[0].values, vec![FieldValue::Int(10_000)]);
        assert_eq!(r.query.predicates[1].values, vec![FieldValue::Int(20_000)]);
    }
}
