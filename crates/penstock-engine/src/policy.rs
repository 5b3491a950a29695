//! Caching fingerprints and retry backoff.

use crate::record::TaskIo;
use penstock_spec::{ComponentSpec, ContainerSpec, RetryPolicy};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The cache fingerprint of a container task: a SHA-256 over the container (image, command,
/// arguments, environment), the component's output definitions and the resolved inputs (parameter
/// values, and each input artifact's URI, type and metadata). A user-given cache key
/// (`cachingOptions.cacheKey`) replaces the computed fingerprint, as in KFP.
pub fn fingerprint(
    container: &ContainerSpec,
    component: &ComponentSpec,
    inputs: &TaskIo,
    cache_key: Option<&str>,
) -> String {
    if let Some(key) = cache_key.filter(|k| !k.is_empty()) {
        return hex::encode(Sha256::digest(format!("cache-key:{key}").as_bytes()));
    }
    let document = json!({
        "container": {
            "image": container.image,
            "command": container.command,
            "args": container.args,
            "env": container.env,
        },
        "outputs": component.output_definitions,
        "parameters": inputs.parameters,
        "artifacts": inputs.artifacts.iter().map(|(name, list)| {
            (name.clone(), list.iter().map(|a| json!({
                "uri": a.uri, "type": a.schema_title, "metadata": a.metadata,
            })).collect::<Vec<_>>().into())
        }).collect::<serde_json::Map<String, serde_json::Value>>(),
    });
    hex::encode(Sha256::digest(document.to_string().as_bytes()))
}

/// Parses a protobuf JSON duration (`"30s"`, `"1.5s"`), also accepting ISO-8601 (`"PT1M"`) and
/// friendly forms (`"2m"`, `"1h"`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || {
        format!("invalid duration {text:?}: expected e.g. \"30s\", \"2m\", \"1h\" or ISO-8601 \"PT30S\"")
    };
    if t.starts_with('P') || t.starts_with('p') {
        let span: jiff::Span = t.parse().map_err(|_| bad())?;
        let d = span
            .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
            .map_err(|_| bad())?;
        return Duration::try_from(d).map_err(|_| bad());
    }
    let (number, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" | "" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        _ => return Err(bad()),
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// How long to wait before retry number `retry` (1 = the first retry): the backoff duration
/// times the factor to the power `retry - 1`, capped at the maximum (KFP's default cap is one
/// hour).
pub fn backoff_delay(policy: &RetryPolicy, retry: u32) -> Result<Duration, String> {
    let base = match policy.backoff_duration.as_deref() {
        Some(d) => parse_duration(d)?,
        None => Duration::ZERO,
    };
    let factor = policy.backoff_factor.unwrap_or(2.0).max(1.0);
    let cap = match policy.backoff_max_duration.as_deref() {
        Some(d) => parse_duration(d)?,
        None => Duration::from_secs(3600),
    };
    let exponent = retry.saturating_sub(1).min(64) as i32;
    let seconds = base.as_secs_f64() * factor.powi(exponent);
    Ok(Duration::from_secs_f64(seconds.min(cap.as_secs_f64())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("PT1M").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("P1D").unwrap(), Duration::from_secs(86400));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            max_retry_count: 5,
            backoff_duration: Some("1s".into()),
            backoff_factor: Some(2.0),
            backoff_max_duration: Some("5s".into()),
        };
        let delays: Vec<u64> = (1..=4)
            .map(|r| backoff_delay(&policy, r).unwrap().as_secs())
            .collect();
        assert_eq!(delays, vec![1, 2, 4, 5]);
    }
}
