//! Recurring-run triggers: validation of KFP's `Trigger` (cron in the 6-field form with
//! seconds first, or the common 5-field form, read in a time zone that is UTC unless given; or
//! a periodic interval), with start and end, and the tick arithmetic the scheduler uses.
//!
//! Tick rules (Kubeflow's ScheduledWorkflow controller, made exact):
//! - periodic: ticks are at `origin + k·interval` for k ≥ 1, where the origin is `start_time`
//!   or, without one, the creation time;
//! - cron: the expression's times strictly after `start_time` (or the creation time);
//! - nothing after `end_time`.

use crate::error::{ApiError, ApiResult};
use crate::wire::{parse_time, Trigger};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// How often a schedule fires.
#[derive(Debug, Clone)]
pub enum Every {
    /// At the cron expression's times, in a time zone.
    Cron {
        /// The parsed expression.
        cron: Box<Cron>,
        /// Its text.
        expression: String,
        /// The zone its fields are read in.
        zone: TimeZone,
        /// The zone's name (`UTC` when none was given).
        zone_name: String,
    },
    /// Every this many seconds (≥ 1).
    Interval(i64),
}

/// A validated trigger, anchored at its origin.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// How often.
    pub every: Every,
    /// No tick at or before this (the start time, or the creation time).
    pub origin: Timestamp,
    /// No tick after this.
    pub end: Option<Timestamp>,
}

impl Schedule {
    /// The first tick strictly after `after` (and after the origin), if the schedule has one
    /// before its end.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let from = after.max(self.origin);
        let next = match &self.every {
            Every::Interval(seconds) => {
                let step = seconds.saturating_mul(1000);
                let elapsed = from.as_millisecond() - self.origin.as_millisecond();
                let k = elapsed.div_euclid(step) + 1;
                Timestamp::from_millisecond(
                    self.origin
                        .as_millisecond()
                        .saturating_add(k.saturating_mul(step)),
                )
                .ok()?
            }
            Every::Cron { cron, zone, .. } => {
                let zoned = from.to_zoned(zone.clone());
                cron.find_next_occurrence(&zoned, false).ok()?.timestamp()
            }
        };
        match self.end {
            Some(end) if next > end => None,
            _ => Some(next),
        }
    }

    /// The last tick at or before `at` (and after the origin, not after the end), if any.
    pub fn latest_at_or_before(&self, at: Timestamp) -> Option<Timestamp> {
        let at = match self.end {
            Some(end) => at.min(end),
            None => at,
        };
        if at <= self.origin {
            return None;
        }
        let tick = match &self.every {
            Every::Interval(seconds) => {
                let step = seconds.saturating_mul(1000);
                let k = (at.as_millisecond() - self.origin.as_millisecond()).div_euclid(step);
                if k < 1 {
                    return None;
                }
                Timestamp::from_millisecond(self.origin.as_millisecond() + k * step).ok()?
            }
            Every::Cron { cron, zone, .. } => {
                let zoned = at.to_zoned(zone.clone());
                cron.find_previous_occurrence(&zoned, true)
                    .ok()?
                    .timestamp()
            }
        };
        (tick > self.origin).then_some(tick)
    }

    /// The trigger in words, e.g. `every 3600 s` or `cron "0 0 9 * * 1-5" (Europe/Berlin)`.
    pub fn describe(&self) -> String {
        match &self.every {
            Every::Interval(s) => format!("every {s} s"),
            Every::Cron {
                expression,
                zone_name,
                ..
            } => format!("cron \"{expression}\" ({zone_name})"),
        }
    }
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

/// Validates a trigger (exactly one schedule, a parseable cron in a known time zone or an
/// interval ≥ 1 s, an end after the start) and anchors it: without a start time it starts at
/// `created_at`.
pub fn validate_trigger(trigger: Option<&Trigger>, created_at: Timestamp) -> ApiResult<Schedule> {
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
            let zone_name = c
                .time_zone
                .clone()
                .filter(|z| !z.is_empty())
                .unwrap_or_else(|| "UTC".to_string());
            let zone = TimeZone::get(&zone_name).map_err(|_| {
                ApiError::invalid(format!(
                    "{field}.time_zone: '{zone_name}' is not an IANA time zone (e.g. UTC, Europe/Berlin)"
                ))
            })?;
            let (start, end) = bounds(field, c.start_time.as_deref(), c.end_time.as_deref())?;
            Ok(Schedule {
                every: Every::Cron {
                    cron: Box::new(cron),
                    expression: expression.to_string(),
                    zone,
                    zone_name,
                },
                origin: start.unwrap_or(created_at),
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
            Ok(Schedule {
                every: Every::Interval(interval),
                origin: start.unwrap_or(created_at),
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

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cron(expr: &str, zone: Option<&str>) -> Trigger {
        Trigger {
            cron_schedule: Some(CronSchedule {
                cron: Some(expr.into()),
                time_zone: zone.map(str::to_string),
                ..Default::default()
            }),
            periodic_schedule: None,
        }
    }

    fn periodic(i: i64, start: &str, end: &str) -> Trigger {
        Trigger {
            cron_schedule: None,
            periodic_schedule: Some(PeriodicSchedule {
                interval_second: Some(Int64(i)),
                start_time: Some(start.into()),
                end_time: Some(end.into()),
            }),
        }
    }

    const T0: &str = "2026-01-05T00:00:00Z";

    #[test]
    fn kfp_six_field_and_five_field_crons_are_accepted() {
        assert!(validate_trigger(Some(&cron("0 0 9 ? * 2-6", None)), t(T0)).is_ok());
        assert!(validate_trigger(Some(&cron("*/5 * * * *", None)), t(T0)).is_ok());
        let bad = validate_trigger(Some(&cron("61 * * * * *", None)), t(T0)).unwrap_err();
        assert!(bad.message.contains("cron"), "{}", bad.message);
        let short = validate_trigger(Some(&cron("* *", None)), t(T0)).unwrap_err();
        assert!(short.message.contains("2 fields"), "{}", short.message);
        let zone =
            validate_trigger(Some(&cron("0 0 9 * * *", Some("Mars/Olympus"))), t(T0)).unwrap_err();
        assert!(zone.message.contains("time_zone"), "{}", zone.message);
    }

    #[test]
    fn intervals_and_bounds_are_checked() {
        let e = validate_trigger(Some(&periodic(0, "", "")), t(T0)).unwrap_err();
        assert!(e.message.contains("interval_second"));
        let e = validate_trigger(
            Some(&periodic(5, "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z")),
            t(T0),
        )
        .unwrap_err();
        assert!(e.message.contains("end_time"), "{}", e.message);
        assert!(validate_trigger(Some(&periodic(5, "2026-01-01T00:00:00Z", "")), t(T0)).is_ok());
        assert!(validate_trigger(None, t(T0)).is_err());
        assert!(validate_trigger(Some(&Trigger::default()), t(T0)).is_err());
    }

    #[test]
    fn periodic_ticks_are_aligned_to_the_origin_and_stop_at_the_end() {
        let s = validate_trigger(
            Some(&periodic(
                10,
                "2026-01-05T00:00:00Z",
                "2026-01-05T00:00:30Z",
            )),
            t(T0),
        )
        .unwrap();
        assert_eq!(
            s.next_after(t("2026-01-01T00:00:00Z")),
            Some(t("2026-01-05T00:00:10Z"))
        );
        assert_eq!(
            s.next_after(t("2026-01-05T00:00:10Z")),
            Some(t("2026-01-05T00:00:20Z"))
        );
        assert_eq!(
            s.next_after(t("2026-01-05T00:00:13Z")),
            Some(t("2026-01-05T00:00:20Z"))
        );
        assert_eq!(
            s.next_after(t("2026-01-05T00:00:20Z")),
            Some(t("2026-01-05T00:00:30Z"))
        );
        assert_eq!(s.next_after(t("2026-01-05T00:00:30Z")), None);
        assert_eq!(
            s.latest_at_or_before(t("2026-01-05T00:00:29Z")),
            Some(t("2026-01-05T00:00:20Z"))
        );
        assert_eq!(
            s.latest_at_or_before(t("2026-01-06T00:00:00Z")),
            Some(t("2026-01-05T00:00:30Z"))
        );
        assert_eq!(s.latest_at_or_before(t("2026-01-05T00:00:09Z")), None);
    }

    #[test]
    fn cron_ticks_follow_the_time_zone() {
        // 09:00 on weekdays in Berlin is 08:00 UTC in winter.
        let s =
            validate_trigger(Some(&cron("0 0 9 * * 1-5", Some("Europe/Berlin"))), t(T0)).unwrap();
        assert_eq!(s.describe(), "cron \"0 0 9 * * 1-5\" (Europe/Berlin)");
        let first = s.next_after(t(T0)).unwrap(); // 2026-01-05 is a Monday
        assert_eq!(first, t("2026-01-05T08:00:00Z"));
        assert_eq!(s.next_after(first), Some(t("2026-01-06T08:00:00Z")));
        // Friday → Monday.
        assert_eq!(
            s.next_after(t("2026-01-09T08:00:00Z")),
            Some(t("2026-01-12T08:00:00Z"))
        );
        assert_eq!(
            s.latest_at_or_before(t("2026-01-11T12:00:00Z")),
            Some(t("2026-01-09T08:00:00Z"))
        );
        let utc = validate_trigger(Some(&cron("0 0 9 * * *", None)), t(T0)).unwrap();
        assert_eq!(utc.next_after(t(T0)), Some(t("2026-01-05T09:00:00Z")));
        assert!(utc.describe().ends_with("(UTC)"));
    }
}
