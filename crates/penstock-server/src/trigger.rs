//! Recurring-run triggers: validation of KFP's `Trigger` (cron in the 6-field form with
//! seconds first, or the common 5-field form; or a periodic interval), with start and end.

use crate::error::{ApiError, ApiResult};
use crate::wire::{parse_time, Trigger};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use jiff::Timestamp;

/// A validated trigger.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Fires at the cron expression's times.
    Cron {
        /// The parsed expression.
        cron: Box<Cron>,
        /// Its text.
        expression: String,
        /// No tick before this.
        start: Option<Timestamp>,
        /// No tick after this.
        end: Option<Timestamp>,
    },
    /// Fires every `interval_seconds`.
    Periodic {
        /// Seconds between ticks (≥ 1).
        interval_seconds: i64,
        /// No tick before this.
        start: Option<Timestamp>,
        /// No tick after this.
        end: Option<Timestamp>,
    },
}

/// Parses a cron expression: 6 fields (seconds first, as KFP's robfig/cron) or 5 fields.
pub fn parse_cron(field: &str, expression: &str) -> ApiResult<Cron> {
    let fields = expression.split_whitespace().count();
    if !(5..=6).contains(&fields) && !expression.trim_start().starts_with('@') {
        return Err(ApiError::invalid(format!(
            "{field}: '{expression}' has {fields} fields; expected 6 (seconds minutes hours \
             day-of-month month day-of-week) or 5 (without seconds)"
        )));
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(expression)
        .map_err(|e| {
            ApiError::invalid(format!(
                "{field}: '{expression}' is not a valid cron expression: {e}"
            ))
        })
}

fn bounds(
    field: &str,
    start: Option<&str>,
    end: Option<&str>,
) -> ApiResult<(Option<Timestamp>, Option<Timestamp>)> {
    let start = start
        .filter(|s| !s.is_empty())
        .map(|s| parse_time(&format!("{field}.start_time"), s))
        .transpose()?;
    let end = end
        .filter(|s| !s.is_empty())
        .map(|s| parse_time(&format!("{field}.end_time"), s))
        .transpose()?;
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            return Err(ApiError::invalid(format!(
                "{field}.end_time {e} is not after start_time {s}"
            )));
        }
    }
    Ok((start, end))
}

/// Validates a trigger: exactly one schedule, a parseable cron or an interval ≥ 1 s, and an
/// end after the start.
pub fn validate_trigger(trigger: Option<&Trigger>) -> ApiResult<Schedule> {
    let t = trigger.ok_or_else(|| {
        ApiError::invalid("recurring_run.trigger is required (cron_schedule or periodic_schedule)")
    })?;
    match (&t.cron_schedule, &t.periodic_schedule) {
        (Some(c), None) => {
            let field = "recurring_run.trigger.cron_schedule";
            let expression = c
                .cron
                .as_deref()
                .filter(|e| !e.trim().is_empty())
                .ok_or_else(|| ApiError::invalid(format!("{field}.cron is required")))?;
            let cron = parse_cron(&format!("{field}.cron"), expression)?;
            let (start, end) = bounds(field, c.start_time.as_deref(), c.end_time.as_deref())?;
            Ok(Schedule::Cron {
                cron: Box::new(cron),
                expression: expression.to_string(),
                start,
                end,
            })
        }
        (None, Some(p)) => {
            let field = "recurring_run.trigger.periodic_schedule";
            let interval = p.interval_second.map(|i| i.0).unwrap_or(0);
            if interval < 1 {
                return Err(ApiError::invalid(format!(
                    "{field}.interval_second must be at least 1, found {interval}"
                )));
            }
            let (start, end) = bounds(field, p.start_time.as_deref(), p.end_time.as_deref())?;
            Ok(Schedule::Periodic {
                interval_seconds: interval,
                start,
                end,
            })
        }
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "recurring_run.trigger: set only one of cron_schedule and periodic_schedule",
        )),
        (None, None) => Err(ApiError::invalid(
            "recurring_run.trigger: one of cron_schedule and periodic_schedule is required",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{CronSchedule, Int64, PeriodicSchedule};

    fn cron(expr: &str) -> Trigger {
        Trigger {
            cron_schedule: Some(CronSchedule {
                cron: Some(expr.into()),
                ..Default::default()
            }),
            periodic_schedule: None,
        }
    }

    #[test]
    fn kfp_six_field_and_five_field_crons_are_accepted() {
        assert!(validate_trigger(Some(&cron("0 0 9 ? * 2-6"))).is_ok());
        assert!(validate_trigger(Some(&cron("*/5 * * * *"))).is_ok());
        let bad = validate_trigger(Some(&cron("61 * * * * *"))).unwrap_err();
        assert!(bad.message.contains("cron"), "{}", bad.message);
        let short = validate_trigger(Some(&cron("* *"))).unwrap_err();
        assert!(short.message.contains("2 fields"), "{}", short.message);
    }

    #[test]
    fn intervals_and_bounds_are_checked() {
        let periodic = |i: i64, start: &str, end: &str| Trigger {
            cron_schedule: None,
            periodic_schedule: Some(PeriodicSchedule {
                interval_second: Some(Int64(i)),
                start_time: Some(start.into()),
                end_time: Some(end.into()),
            }),
        };
        let e = validate_trigger(Some(&periodic(0, "", ""))).unwrap_err();
        assert!(e.message.contains("interval_second"));
        let e = validate_trigger(Some(&periodic(
            5,
            "2026-01-02T00:00:00Z",
            "2026-01-01T00:00:00Z",
        )))
        .unwrap_err();
        assert!(e.message.contains("end_time"), "{}", e.message);
        assert!(validate_trigger(Some(&periodic(5, "2026-01-01T00:00:00Z", ""))).is_ok());
        assert!(validate_trigger(None).is_err());
        assert!(validate_trigger(Some(&Trigger::default())).is_err());
    }
}
