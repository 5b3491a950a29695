//! `GET /metrics`: this replica's state in Prometheus' text exposition format, so a scraper
//! can tell the replicas of one service apart (each reports its own `replica` label) and see
//! runs executing, task slots in use and takeovers.

use super::ApiState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// One metric family: its help line, type and samples (`(labels, value)`).
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// A label value escaped as the exposition format asks (`\`, `"` and newlines).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`.
pub async fn metrics(State(s): State<ApiState>) -> impl IntoResponse {
    let replica = s.store.replica();
    let supervisor = &s.supervisor;
    let counters = supervisor.counters();
    let mut out = String::new();
    family(
        &mut out,
        "penstock_info",
        "gauge",
        "Which Penstock, database backend and replica answered (always 1).",
        &[(
            format!(
                "{{version=\"{}\",database=\"{}\",replica=\"{}\",host=\"{}\"}}",
                env!("CARGO_PKG_VERSION"),
                s.store.backend().name(),
                label(&replica.id),
                label(&replica.host)
            ),
            1.0,
        )],
    );
    family(
        &mut out,
        "penstock_runs_executing",
        "gauge",
        "Runs this replica executes now.",
        &[(String::new(), supervisor.active_count() as f64)],
    );
    if let Some((total, used)) = supervisor.engine().task_slots_in_use() {
        family(
            &mut out,
            "penstock_task_slots",
            "gauge",
            "This replica's task-slot limit.",
            &[(String::new(), total as f64)],
        );
        family(
            &mut out,
            "penstock_task_slots_in_use",
            "gauge",
            "Task slots of this replica in use now.",
            &[(String::new(), used as f64)],
        );
    }
    for (name, help, value) in [
        (
            "penstock_runs_taken_over_total",
            "Runs this replica resumed after their owner process was gone.",
            &counters.runs_taken_over,
        ),
        (
            "penstock_runs_lost_total",
            "Runs this replica stopped because another replica claimed them.",
            &counters.runs_lost,
        ),
        (
            "penstock_lease_renewal_failures_total",
            "Lease renewals that failed (database unreachable).",
            &counters.lease_renewal_failures,
        ),
    ] {
        family(
            &mut out,
            name,
            "counter",
            help,
            &[(String::new(), value.load(Ordering::Relaxed) as f64)],
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
