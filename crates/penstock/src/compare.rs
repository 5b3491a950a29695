//! Text views of experiment tracking: a run's summary, and several runs side by side
//! (`penstock runs compare`).

use penstock_engine::RunRecord;
use penstock_server::tracking::RunMetrics;
use serde_json::Value;
use std::collections::BTreeSet;

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.6}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// The "Summary" and "Curves" sections of `penstock runs get`.
pub fn summary_text(m: &RunMetrics) -> String {
    let mut out = String::new();
    if !m.scalars.is_empty() {
        out.push_str("Summary\n");
        for s in &m.scalars {
            out.push_str(&format!("  {}.{} = {}\n", s.task, s.name, number(s.value)));
        }
    }
    if !m.series.is_empty() {
        out.push_str("Curves\n");
        for s in &m.series {
            let last = s.points.last().map(|p| number(p.value)).unwrap_or_default();
            out.push_str(&format!(
                "  {}.{}: {} points, last {last}\n",
                s.task,
                s.name,
                s.points.len()
            ));
        }
    }
    out
}

fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
            + "\n"
    };
    let mut out = line(header);
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// Config differences (rows marked `*` differ) and summaries of several runs, as tables.
pub fn compare_text(runs: &[(RunRecord, RunMetrics)]) -> String {
    let mut header = vec![String::new()];
    header.extend(
        runs.iter()
            .map(|(r, _)| r.run_id.chars().take(8).collect::<String>()),
    );
    let mut out = String::from("Runs\n");
    let names: Vec<Vec<String>> = runs
        .iter()
        .map(|(r, _)| vec![r.display_name.clone(), r.state.name().to_string()])
        .collect();
    let mut rows = vec![vec!["name".to_string()], vec!["state".to_string()]];
    for n in &names {
        rows[0].push(n[0].clone());
        rows[1].push(n[1].clone());
    }
    out.push_str(&table(&header, &rows));

    let keys: BTreeSet<&String> = runs.iter().flat_map(|(_, m)| m.config.keys()).collect();
    let mut rows = Vec::new();
    for key in keys {
        let values: Vec<String> = runs
            .iter()
            .map(|(_, m)| m.config.get(key).map(short).unwrap_or_else(|| "-".into()))
            .collect();
        let differs = values.iter().any(|v| *v != values[0]);
        let mut row = vec![format!("{}{key}", if differs { "* " } else { "  " })];
        row.extend(values);
        rows.push(row);
    }
    out.push_str("\nConfig (* differs)\n");
    out.push_str(&table(&header, &rows));

    let scalar_keys: BTreeSet<(String, String)> = runs
        .iter()
        .flat_map(|(_, m)| m.scalars.iter().map(|s| (s.task.clone(), s.name.clone())))
        .collect();
    let mut rows = Vec::new();
    for (task, name) in &scalar_keys {
        let mut row = vec![format!("{task}.{name}")];
        for (_, m) in runs {
            row.push(
                m.scalars
                    .iter()
                    .find(|s| &s.task == task && &s.name == name)
                    .map(|s| number(s.value))
                    .unwrap_or_else(|| "-".into()),
            );
        }
        rows.push(row);
    }
    let series_keys: BTreeSet<(String, String)> = runs
        .iter()
        .flat_map(|(_, m)| m.series.iter().map(|s| (s.task.clone(), s.name.clone())))
        .collect();
    for (task, name) in &series_keys {
        let mut row = vec![format!("{task}.{name} (last)")];
        for (_, m) in runs {
            row.push(
                m.series
                    .iter()
                    .find(|s| &s.task == task && &s.name == name)
                    .and_then(|s| s.points.last())
                    .map(|p| number(p.value))
                    .unwrap_or_else(|| "-".into()),
            );
        }
        rows.push(row);
    }
    out.push_str("\nSummary\n");
    out.push_str(&table(&header, &rows));
    out
}
