//! Logged metric curves. Every task gets `PENSTOCK_METRICS_FILE`, a file it may append JSON
//! lines to (`{"step": 3, "loss": 0.12}`; any numeric keys; `step` defaults to the line
//! number). While the task runs, [`MetricsTail`] reads complete new lines, stamps them with the
//! time they arrived, and appends one normalised point per value to a points file beside it;
//! malformed lines and non-numeric values are reported in the task's log and skipped.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// One logged value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// The metric's name (the key in the line).
    pub name: String,
    /// The line's `step`, or its 1-based line number.
    pub step: f64,
    /// The value.
    pub value: f64,
    /// When Penstock read it (RFC 3339).
    pub time: String,
}

/// Removes `path`; a file that is not there is fine.
fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Where a task's metric lines go (`PENSTOCK_METRICS_FILE`).
pub fn metrics_file(home: &Path, run_id: &str, task_path: &str) -> PathBuf {
    home.join("runs")
        .join(run_id)
        .join("metrics")
        .join(format!("{}.jsonl", crate::safe_path(task_path)))
}

/// Where the normalised points of a task's metric lines are kept.
pub fn points_file(home: &Path, run_id: &str, task_path: &str) -> PathBuf {
    home.join("runs")
        .join(run_id)
        .join("metrics")
        .join(format!("{}.points.jsonl", crate::safe_path(task_path)))
}

/// Reads a task's points (missing file: none; unreadable lines are skipped).
pub fn read_points(path: &Path) -> Vec<MetricPoint> {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Follows one attempt's metrics file.
pub struct MetricsTail {
    raw: PathBuf,
    points: PathBuf,
    offset: u64,
    line: u64,
    partial: Vec<u8>,
}

impl MetricsTail {
    /// Starts an attempt: the points file absent, created with the first point (the points
    /// describe the attempt whose outputs count; most tasks log none, and a file fewer per
    /// attempt is measurably cheaper). The metrics file is empty when `create` (a container
    /// needs it to exist, to be mounted), else absent until the task appends to it, as a task
    /// that logs nothing costs no file.
    pub fn start(raw: PathBuf, points: PathBuf, create: bool) -> std::io::Result<MetricsTail> {
        if let Some(dir) = raw.parent() {
            std::fs::create_dir_all(dir)?;
        }
        if create {
            std::fs::write(&raw, b"")?;
        } else {
            remove_if_present(&raw)?;
        }
        remove_if_present(&points)?;
        Ok(MetricsTail {
            raw,
            points,
            offset: 0,
            line: 0,
            partial: Vec::new(),
        })
    }

    /// Reads what was appended since the last call; `finished` treats a last line without a
    /// newline as complete. Returns the problems to report in the task's log.
    pub fn poll(&mut self, now: &str, finished: bool) -> Vec<String> {
        let mut bytes = Vec::new();
        if let Ok(mut f) = std::fs::File::open(&self.raw) {
            if f.seek(SeekFrom::Start(self.offset)).is_ok() {
                let _ = f.read_to_end(&mut bytes);
            }
        }
        self.offset += bytes.len() as u64;
        self.partial.extend_from_slice(&bytes);
        let mut lines: Vec<Vec<u8>> = Vec::new();
        while let Some(pos) = self.partial.iter().position(|b| *b == b'\n') {
            let rest = self.partial.split_off(pos + 1);
            let mut line = std::mem::replace(&mut self.partial, rest);
            line.pop();
            lines.push(line);
        }
        if finished && !self.partial.is_empty() {
            lines.push(std::mem::take(&mut self.partial));
        }
        let mut problems = Vec::new();
        let mut out = String::new();
        for bytes in lines {
            self.line += 1;
            let text = String::from_utf8_lossy(&bytes);
            if text.trim().is_empty() {
                continue;
            }
            let (points, mut issues) = parse_line(&text, self.line, now);
            problems.append(&mut issues);
            for p in points {
                if let Ok(json) = serde_json::to_string(&p) {
                    out.push_str(&json);
                    out.push('\n');
                }
            }
        }
        if !out.is_empty() {
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.points)
                .and_then(|mut f| f.write_all(out.as_bytes()));
            if let Err(e) = written {
                problems.push(format!(
                    "cannot record metrics in {}: {e}",
                    self.points.display()
                ));
            }
        }
        problems
    }
}

/// The points of one line (`line` is its 1-based number), and what was wrong with it.
pub fn parse_line(text: &str, line: u64, now: &str) -> (Vec<MetricPoint>, Vec<String>) {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return (
                vec![],
                vec![format!(
                    "PENSTOCK_METRICS_FILE line {line} skipped: not JSON ({e})"
                )],
            )
        }
    };
    let Value::Object(map) = value else {
        return (
            vec![],
            vec![format!(
                "PENSTOCK_METRICS_FILE line {line} skipped: expected a JSON object such as {{\"step\": 1, \"loss\": 0.5}}"
            )],
        );
    };
    let mut problems = Vec::new();
    let step = match map.get("step") {
        None => line as f64,
        Some(v) => match v.as_f64() {
            Some(s) => s,
            None => {
                return (
                    vec![],
                    vec![format!(
                        "PENSTOCK_METRICS_FILE line {line} skipped: \"step\" must be a number, found {v}"
                    )],
                )
            }
        },
    };
    let mut points = Vec::new();
    for (name, v) in &map {
        if name == "step" {
            continue;
        }
        match v.as_f64() {
            Some(value) if value.is_finite() => points.push(MetricPoint {
                name: name.clone(),
                step,
                value,
                time: now.to_string(),
            }),
            _ => problems.push(format!(
                "PENSTOCK_METRICS_FILE line {line}: \"{name}\" skipped: expected a number, found {v}"
            )),
        }
    }
    (points, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_points_and_bad_lines_are_reported() {
        let (p, issues) = parse_line(r#"{"step": 3, "loss": 0.5, "acc": 1}"#, 7, "T");
        assert!(issues.is_empty());
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|p| p.step == 3.0 && p.time == "T"));
        let (p, _) = parse_line(r#"{"loss": 0.25}"#, 7, "T");
        assert_eq!(p[0].step, 7.0, "step defaults to the line number");
        let (p, issues) = parse_line(r#"{"loss": "high", "acc": 2}"#, 2, "T");
        assert_eq!(p.len(), 1);
        assert!(issues[0].contains("line 2") && issues[0].contains("loss"));
        assert!(parse_line("[1, 2]", 4, "T").1[0].contains("line 4"));
        assert!(parse_line("{oops", 5, "T").1[0].contains("not JSON"));
        assert!(parse_line(r#"{"step": "x", "a": 1}"#, 6, "T").0.is_empty());
    }

    #[test]
    fn the_tail_reads_complete_lines_as_they_arrive() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("m/t.jsonl");
        let pts = dir.path().join("m/t.points.jsonl");
        std::fs::create_dir_all(dir.path().join("m")).unwrap();
        std::fs::write(
            &pts,
            b"{\"name\": \"old\", \"step\": 1, \"value\": 1, \"time\": \"T0\"}\n",
        )
        .unwrap();
        let mut tail = MetricsTail::start(raw.clone(), pts.clone(), true).unwrap();
        assert!(!pts.exists(), "an earlier attempt's points are gone");
        assert!(tail.poll("T0", false).is_empty());
        assert!(!pts.exists(), "no points, no file");
        let mut f = std::fs::OpenOptions::new().append(true).open(&raw).unwrap();
        f.write_all(b"{\"step\": 1, \"loss\": 0.9}\n{\"loss\": 0.")
            .unwrap();
        assert!(tail.poll("T1", false).is_empty());
        assert_eq!(read_points(&pts).len(), 1);
        f.write_all(b"5}\nnot json\n{\"loss\": 0.1}").unwrap();
        let issues = tail.poll("T2", true);
        assert_eq!(issues.len(), 1);
        let points = read_points(&pts);
        let steps: Vec<f64> = points.iter().map(|p| p.step).collect();
        assert_eq!(steps, vec![1.0, 2.0, 4.0]);
        assert_eq!(points[1].value, 0.5);
        assert_eq!(points[1].time, "T2");
    }
}
