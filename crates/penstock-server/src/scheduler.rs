//! The recurring-run scheduler. [`plan`] is the pure decision (which ticks to fire now), tested
//! with explicit times; [`Scheduler`] applies it to the store on an injected [`Clock`].
//!
//! Semantics (Kubeflow's ScheduledWorkflow controller, see `docs/scheduler.md`):
//! - a tick that comes while `max_concurrency` runs of the schedule are active is not skipped:
//!   it waits, and starts (late, with its own `scheduled_at`) as soon as a run ends;
//! - `no_catchup = false`: every missed tick since the last one fired is started, oldest first,
//!   as concurrency allows; `true`: only the most recent missed tick;
//! - the last fired tick is recorded in the transaction that creates its run, so no tick ever
//!   starts twice, across restarts too.

use crate::api::pipelines::parse_pipeline_value;
use crate::api::runs::typed_parameters;
use crate::api::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::trigger::{validate_trigger, Schedule};
use crate::wire::{spec_with_platform, Trigger};
use jiff::Timestamp;
use penstock_engine::Clock;
use penstock_store::{RecurringRunRow, RunMeta, StorageState};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long the scheduler sleeps at most between looks at the store (it also wakes when a
/// recurring run changes through the API, and when a tick is due).
pub const MAX_SLEEP: Duration = Duration::from_millis(500);

/// What to do for one schedule now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Ticks to start now, oldest first.
    pub fire: Vec<Timestamp>,
    /// The next tick after those (it may already be due, waiting for a free slot).
    pub next: Option<Timestamp>,
}

/// Which ticks of `schedule` to fire at `now`, given the last tick fired, whether to catch up,
/// and how many more runs may be active (`slots`).
pub fn plan(
    schedule: &Schedule,
    last_tick: Option<Timestamp>,
    now: Timestamp,
    no_catchup: bool,
    slots: usize,
) -> Decision {
    let after = last_tick.unwrap_or(schedule.origin);
    let mut fire = Vec::new();
    if no_catchup {
        if let Some(latest) = schedule.latest_at_or_before(now).filter(|t| *t > after) {
            if slots > 0 {
                fire.push(latest);
            } else {
                return Decision {
                    fire,
                    next: Some(latest),
                };
            }
        }
    } else {
        let mut cursor = after;
        while fire.len() < slots {
            match schedule.next_after(cursor) {
                Some(t) if t <= now => {
                    fire.push(t);
                    cursor = t;
                }
                _ => break,
            }
        }
    }
    let next = schedule.next_after(fire.last().copied().unwrap_or(after));
    Decision { fire, next }
}

/// The next `n` fire times after `now` (none when the schedule has ended).
pub fn upcoming(
    schedule: &Schedule,
    last_tick: Option<Timestamp>,
    now: Timestamp,
    n: usize,
) -> Vec<Timestamp> {
    let mut out = Vec::new();
    let mut cursor = last_tick.unwrap_or(schedule.origin).max(now);
    while out.len() < n {
        match schedule.next_after(cursor) {
            Some(t) => {
                out.push(t);
                cursor = t;
            }
            None => break,
        }
    }
    out
}

/// Converts a Go time layout (`2006-01-02 15:04:05`) to a strftime format.
pub fn go_layout_to_strftime(layout: &str) -> String {
    const TOKENS: [(&str, &str); 26] = [
        ("January", "%B"),
        ("Monday", "%A"),
        ("Z07:00", "%:z"),
        ("-07:00", "%:z"),
        (".000000000", "%.9f"),
        (".000000", "%.6f"),
        (".000", "%.3f"),
        ("-0700", "%z"),
        ("2006", "%Y"),
        ("Jan", "%b"),
        ("Mon", "%a"),
        ("MST", "%Z"),
        ("_2", "%e"),
        ("01", "%m"),
        ("02", "%d"),
        ("03", "%I"),
        ("04", "%M"),
        ("05", "%S"),
        ("06", "%y"),
        ("15", "%H"),
        ("PM", "%p"),
        ("pm", "%P"),
        ("1", "%-m"),
        ("2", "%-d"),
        ("3", "%-I"),
        ("4", "%-M"),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (go, strf) in TOKENS {
            if let Some(after) = rest.strip_prefix(go) {
                out.push_str(strf);
                rest = after;
                continue 'outer;
            }
        }
        if let Some(after) = rest.strip_prefix('5') {
            out.push_str("%-S");
            rest = after;
            continue;
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            if c == '%' {
                out.push_str("%%");
            } else {
                out.push(c);
            }
        }
        rest = chars.as_str();
    }
    out
}

fn format_utc(t: Timestamp, strftime: &str) -> String {
    // A bad format shows as itself rather than failing the run.
    let zoned = t.to_zoned(jiff::tz::TimeZone::UTC);
    let mut out = String::new();
    use std::fmt::Write;
    if write!(out, "{}", zoned.strftime(strftime)).is_err() {
        return strftime.to_string();
    }
    out
}

/// Kubeflow's run-parameter macros: `[[RunUUID]]`, `[[ScheduledTime]]`, `[[CurrentTime]]`,
/// `[[Index]]`, `[[ScheduledTime.<Go layout>]]`, `[[CurrentTime.<Go layout>]]`,
/// `{{$.scheduledTime.strftime('…')}}` and `{{$.currentTime.strftime('…')}}`, all in UTC.
pub fn substitute_macros(
    text: &str,
    run_id: &str,
    scheduled: Timestamp,
    now: Timestamp,
    index: i64,
) -> String {
    const DEFAULT: &str = "%Y%m%d%H%M%S";
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find("[[").or_else(|| rest.find("{{$.")) {
        let (open, close_token) = match (rest.find("[["), rest.find("{{$.")) {
            (Some(a), Some(b)) if b < a => (b, "}}"),
            (Some(a), _) => (a, "]]"),
            (None, Some(b)) => (b, "}}"),
            (None, None) => (open, "]]"),
        };
        out.push_str(&rest[..open]);
        let body_start = open + if close_token == "]]" { 2 } else { 4 };
        let Some(len) = rest[body_start..].find(close_token) else {
            out.push_str(&rest[open..]);
            return out;
        };
        let body = &rest[body_start..body_start + len];
        let whole = &rest[open..body_start + len + 2];
        let value = if close_token == "]]" {
            match body {
                "RunUUID" => Some(run_id.to_string()),
                "ScheduledTime" => Some(format_utc(scheduled, DEFAULT)),
                "CurrentTime" => Some(format_utc(now, DEFAULT)),
                "Index" => Some(index.to_string()),
                _ => body
                    .strip_prefix("ScheduledTime.")
                    .map(|l| format_utc(scheduled, &go_layout_to_strftime(l)))
                    .or_else(|| {
                        body.strip_prefix("CurrentTime.")
                            .map(|l| format_utc(now, &go_layout_to_strftime(l)))
                    }),
            }
        } else {
            let strf = |prefix: &str| {
                body.strip_prefix(prefix)
                    .and_then(|r| r.strip_suffix("')"))
                    .map(str::to_string)
            };
            strf("scheduledTime.strftime('")
                .map(|f| format_utc(scheduled, &f))
                .or_else(|| strf("currentTime.strftime('").map(|f| format_utc(now, &f)))
        };
        out.push_str(value.as_deref().unwrap_or(whole));
        rest = &rest[body_start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// The stored trigger of a recurring run, anchored.
pub fn stored_schedule(row: &RecurringRunRow) -> ApiResult<Schedule> {
    let trigger: Trigger = serde_json::from_value(row.trigger.clone())
        .map_err(|e| ApiError::internal(format!("stored trigger: {e}")))?;
    validate_trigger(Some(&trigger), row.created_at)
}

/// Fires recurring runs.
pub struct Scheduler {
    state: ApiState,
    clock: Arc<dyn Clock>,
}

impl Scheduler {
    /// A scheduler over the server's state, on `clock`.
    pub fn new(state: ApiState, clock: Arc<dyn Clock>) -> Scheduler {
        Scheduler { state, clock }
    }

    /// One pass: fires every due tick of every enabled recurring run. Returns the runs started
    /// and the earliest next tick.
    pub async fn fire_due(&self) -> ApiResult<(Vec<String>, Option<Timestamp>)> {
        let now = self.clock.now();
        let mut started = Vec::new();
        let mut earliest: Option<Timestamp> = None;
        for row in self.state.store.enabled_recurring_runs().await? {
            let schedule = match stored_schedule(&row) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(recurring_run = %row.recurring_run_id, "{}", e.message);
                    continue;
                }
            };
            let active = self
                .state
                .store
                .active_runs_of(&row.recurring_run_id)
                .await?;
            let slots = (row.max_concurrency.max(1) as usize).saturating_sub(active);
            let decision = plan(&schedule, row.last_tick, now, row.no_catchup, slots);
            for (i, tick) in decision.fire.iter().enumerate() {
                let index = row.last_index + 1 + i as i64;
                if let Some(run_id) = self.fire(&row, *tick, index, now).await? {
                    started.push(run_id);
                }
            }
            if let Some(next) = decision.next {
                earliest = Some(earliest.map_or(next, |e| e.min(next)));
            }
        }
        Ok((started, earliest))
    }

    /// Starts the run of one tick (or records why it could not start).
    async fn fire(
        &self,
        row: &RecurringRunRow,
        tick: Timestamp,
        index: i64,
        now: Timestamp,
    ) -> ApiResult<Option<String>> {
        let run_id = uuid::Uuid::now_v7().to_string();
        let prepared = self.prepare(row, &run_id, tick, index, now).await;
        let store = &self.state.store;
        match prepared {
            Ok((record, meta, pipeline)) => {
                if store
                    .record_tick(&row.recurring_run_id, tick, index, Ok((&record, &meta)))
                    .await?
                {
                    tracing::info!(recurring_run = %row.recurring_run_id, %tick, run = %run_id, "fired");
                    self.state
                        .supervisor
                        .execute_stored(record, &meta, Arc::new(pipeline));
                    return Ok(Some(run_id));
                }
                Ok(None)
            }
            Err(e) => {
                let why = format!("tick {tick}: {}", e.message);
                tracing::warn!(recurring_run = %row.recurring_run_id, "{why}");
                store
                    .record_tick(&row.recurring_run_id, tick, index, Err(&why))
                    .await?;
                Ok(None)
            }
        }
    }

    async fn prepare(
        &self,
        row: &RecurringRunRow,
        run_id: &str,
        tick: Timestamp,
        index: i64,
        now: Timestamp,
    ) -> ApiResult<(penstock_engine::RunRecord, RunMeta, penstock_spec::Pipeline)> {
        let store = &self.state.store;
        let (spec, pipeline_id, version_id) = match (&row.pipeline_id, &row.pipeline_spec) {
            (Some(pid), _) => {
                let version = match &row.pipeline_version_id {
                    Some(v) => store.get_version(Some(pid), v).await?,
                    None => store.latest_version(pid).await?,
                };
                (
                    spec_with_platform(&version.pipeline_spec, version.platform_spec.as_ref()),
                    Some(pid.clone()),
                    Some(version.pipeline_version_id),
                )
            }
            (None, Some(spec)) => (
                spec_with_platform(spec, row.platform_spec.as_ref()),
                None,
                None,
            ),
            (None, None) => return Err(ApiError::internal("the recurring run has no pipeline")),
        };
        let pipeline = parse_pipeline_value(
            "recurring_run.pipeline_spec",
            &spec,
            &self.state.spec_limits,
        )?;
        let parameters: Map<String, Value> = row
            .parameters
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => {
                        Value::String(substitute_macros(s, run_id, tick, now, index))
                    }
                    other => other.clone(),
                };
                (k.clone(), v)
            })
            .collect();
        let typed = typed_parameters("recurring_run", &pipeline, Some(&parameters))?;
        let mut record = self.state.supervisor.engine().prepare_run(
            run_id.to_string(),
            format!("{} #{index}", row.display_name),
            &pipeline,
            typed,
        );
        record.created_at = now;
        let meta = RunMeta {
            experiment_id: row.experiment_id.clone(),
            description: row.description.clone(),
            storage_state: StorageState::Available,
            namespace: row.namespace.clone(),
            pipeline_id,
            pipeline_version_id: version_id,
            pipeline_root: row.pipeline_root.clone(),
            service_account: row.service_account.clone(),
            recurring_run_id: Some(row.recurring_run_id.clone()),
            scheduled_at: Some(tick),
        };
        Ok((record, meta, pipeline))
    }

    /// Fires ticks until `stop` is cancelled: wakes when a tick is due, when a recurring run
    /// changes, and at least every [`MAX_SLEEP`] (runs ending free concurrency slots; another
    /// process may change the store).
    pub async fn run(self, stop: CancellationToken) {
        loop {
            let next = match self.fire_due().await {
                Ok((_, next)) => next,
                Err(e) => {
                    tracing::error!("scheduler: {}", e.message);
                    None
                }
            };
            let now = self.clock.now();
            let wait = next
                .map(|n| {
                    let ms = (n.as_millisecond() - now.as_millisecond()).max(0) as u64;
                    Duration::from_millis(ms).min(MAX_SLEEP)
                })
                .unwrap_or(MAX_SLEEP);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.state.recurring_changed.notified() => {}
                _ = self.clock.sleep(wait) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigger::Every;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn every(seconds: i64, origin: &str, end: Option<&str>) -> Schedule {
        Schedule {
            every: Every::Interval(seconds),
            origin: t(origin),
            end: end.map(t),
        }
    }

    const O: &str = "2026-01-01T00:00:00Z";

    #[test]
    fn nothing_fires_before_the_first_tick() {
        let s = every(60, O, None);
        let d = plan(&s, None, t("2026-01-01T00:00:59Z"), false, 1);
        assert!(d.fire.is_empty());
        assert_eq!(d.next, Some(t("2026-01-01T00:01:00Z")));
    }

    #[test]
    fn catch_up_fires_every_missed_tick_in_order_as_slots_allow() {
        let s = every(60, O, None);
        let now = t("2026-01-01T00:05:30Z");
        let d = plan(&s, None, now, false, 10);
        let expected: Vec<Timestamp> = (1..=5)
            .map(|m| t(&format!("2026-01-01T00:0{m}:00Z")))
            .collect();
        assert_eq!(d.fire, expected);
        assert_eq!(d.next, Some(t("2026-01-01T00:06:00Z")));
        // Two slots: the two oldest now, the third is due and waits.
        let d = plan(&s, None, now, false, 2);
        assert_eq!(d.fire, expected[..2].to_vec());
        assert_eq!(d.next, Some(expected[2]));
        // After a restart the stored last tick is where it resumes: nothing twice.
        let d = plan(&s, Some(expected[1]), now, false, 10);
        assert_eq!(d.fire, expected[2..].to_vec());
    }

    #[test]
    fn no_catchup_fires_only_the_most_recent_missed_tick() {
        let s = every(60, O, None);
        let d = plan(
            &s,
            Some(t("2026-01-01T00:01:00Z")),
            t("2026-01-01T00:05:30Z"),
            true,
            10,
        );
        assert_eq!(d.fire, vec![t("2026-01-01T00:05:00Z")]);
        assert_eq!(d.next, Some(t("2026-01-01T00:06:00Z")));
        // Already fired: nothing.
        let d = plan(
            &s,
            Some(t("2026-01-01T00:05:00Z")),
            t("2026-01-01T00:05:30Z"),
            true,
            10,
        );
        assert!(d.fire.is_empty());
    }

    #[test]
    fn a_full_schedule_starts_nothing_and_never_exceeds_its_limit() {
        let s = every(1, O, None);
        for no_catchup in [false, true] {
            let d = plan(&s, None, t("2026-01-01T00:00:10Z"), no_catchup, 0);
            assert!(d.fire.is_empty());
            assert!(
                d.next.is_some_and(|n| n <= t("2026-01-01T00:00:10Z")),
                "due, waiting"
            );
        }
        let d = plan(&s, None, t("2026-01-01T00:00:10Z"), false, 3);
        assert_eq!(d.fire.len(), 3);
    }

    #[test]
    fn the_end_time_stops_the_schedule() {
        let s = every(60, O, Some("2026-01-01T00:02:30Z"));
        let d = plan(&s, None, t("2026-01-01T01:00:00Z"), false, 10);
        assert_eq!(
            d.fire,
            vec![t("2026-01-01T00:01:00Z"), t("2026-01-01T00:02:00Z")]
        );
        assert_eq!(d.next, None);
        let d = plan(&s, None, t("2026-01-01T01:00:00Z"), true, 10);
        assert_eq!(d.fire, vec![t("2026-01-01T00:02:00Z")]);
        assert_eq!(d.next, None);
    }

    #[test]
    fn go_layouts_become_strftime() {
        assert_eq!(go_layout_to_strftime("20060102150405"), "%Y%m%d%H%M%S");
        assert_eq!(
            go_layout_to_strftime("2006-01-02 15:04:05"),
            "%Y-%m-%d %H:%M:%S"
        );
        assert_eq!(go_layout_to_strftime("Jan _2 3:04PM"), "%b %e %-I:%M%p");
        assert_eq!(go_layout_to_strftime("100%"), "%-m00%%");
    }

    #[test]
    fn macros_are_substituted_in_utc() {
        let sched = t("2026-03-04T05:06:07Z");
        let now = t("2026-03-04T05:06:09Z");
        let text = "id=[[RunUUID]] s=[[ScheduledTime]] c=[[CurrentTime]] i=[[Index]] \
                    d=[[ScheduledTime.2006-01-02]] f={{$.scheduledTime.strftime('%H:%M')}} \
                    keep=[[Other]] open=[[Index";
        assert_eq!(
            substitute_macros(text, "r-1", sched, now, 7),
            "id=r-1 s=20260304050607 c=20260304050609 i=7 d=2026-03-04 f=05:06 \
             keep=[[Other]] open=[[Index"
        );
    }
}
