//! `penstock recurring-runs`: create, list, inspect, enable, disable and delete recurring runs in
//! the home's store, with their next fire times. A running `penstock server` on the same home
//! picks changes up within half a second; schedules fire only while a server runs.

use crate::cli::{open_store, RecurringCommand, RecurringCreate};
use crate::run_command::parse_params;
use crate::Outcome;
use jiff::Timestamp;
use penstock_engine::policy::parse_duration;
use penstock_server::access::Principal;
use penstock_server::api::experiments::new_experiment;
use penstock_server::api::recurring_runs::create_recurring_run;
use penstock_server::listing::list_request;
use penstock_server::scheduler::{stored_schedule, upcoming};
use penstock_server::wire::{
    spec_with_platform, CronSchedule, Int64, PeriodicSchedule, RecurringRun, RuntimeConfig, Trigger,
};
use penstock_store::{RecurringRunRow, SqliteStore};
use serde_json::{Map, Value};
use std::path::Path;

const HINT: &str = "recurring runs fire while `penstock server` runs with this home";

/// Runs `penstock recurring-runs ...`.
pub async fn recurring_command(home: &Path, command: RecurringCommand) -> Outcome {
    let store = match open_store(home).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("penstock: {e}");
            return Outcome::Failure;
        }
    };
    let result = match command {
        RecurringCommand::Create(flags) => create(&store, flags).await,
        RecurringCommand::List => list(&store).await,
        RecurringCommand::Get { id } => get(&store, &id).await,
        RecurringCommand::Enable { id } => set_enabled(&store, &id, true).await,
        RecurringCommand::Disable { id } => set_enabled(&store, &id, false).await,
        RecurringCommand::Delete { id } => match store.delete_recurring_run(&id).await {
            Ok(()) => {
                println!("Deleted recurring run {id} (its runs stay)");
                Ok(())
            }
            Err(e) => Err((Outcome::InvalidInput, e.to_string())),
        },
    };
    match result {
        Ok(()) => Outcome::Success,
        Err((outcome, message)) => {
            eprintln!("penstock: {message}");
            outcome
        }
    }
}

type CommandResult = Result<(), (Outcome, String)>;

fn invalid(message: impl Into<String>) -> (Outcome, String) {
    (Outcome::InvalidInput, message.into())
}

async fn experiment_id(
    store: &SqliteStore,
    name: Option<&str>,
) -> Result<String, (Outcome, String)> {
    let Some(name) = name else {
        return Ok(store.default_experiment_id().to_string());
    };
    match store.find_experiment_by_name(name).await {
        Ok(Some(e)) => Ok(e.experiment_id),
        Ok(None) => {
            let row = new_experiment(name.to_string(), String::new());
            store
                .insert_experiment(&row)
                .await
                .map_err(|e| (Outcome::Failure, e.to_string()))?;
            Ok(row.experiment_id)
        }
        Err(e) => Err((Outcome::Failure, e.to_string())),
    }
}

async fn create(store: &SqliteStore, flags: RecurringCreate) -> CommandResult {
    let file = flags.file.display().to_string();
    let bytes =
        std::fs::read(&flags.file).map_err(|e| invalid(format!("cannot read {file}: {e}")))?;
    let pipeline =
        penstock_spec::parse_pipeline(&file, &bytes).map_err(|e| invalid(e.to_string()))?;
    let params = parse_params(&file, &pipeline.spec.root, &flags.params).map_err(invalid)?;
    let trigger = match (&flags.cron, &flags.every) {
        (Some(cron), None) => Trigger {
            cron_schedule: Some(CronSchedule {
                cron: Some(cron.clone()),
                time_zone: flags.time_zone.clone(),
                start_time: flags.start.clone(),
                end_time: flags.end.clone(),
            }),
            periodic_schedule: None,
        },
        (None, Some(every)) => {
            if flags.time_zone.is_some() {
                return Err(invalid("--time-zone applies to --cron schedules only"));
            }
            let interval = parse_duration(every).map_err(|e| invalid(format!("--every: {e}")))?;
            Trigger {
                cron_schedule: None,
                periodic_schedule: Some(PeriodicSchedule {
                    interval_second: Some(Int64(interval.as_secs() as i64)),
                    start_time: flags.start.clone(),
                    end_time: flags.end.clone(),
                }),
            }
        }
        _ => {
            return Err(invalid(
                "give exactly one of --cron EXPR and --every DURATION",
            ))
        }
    };
    let spec = spec_with_platform(
        &serde_json::to_value(&pipeline.spec).map_err(|e| (Outcome::Failure, e.to_string()))?,
        pipeline.platform_spec.as_ref(),
    );
    let input = RecurringRun {
        display_name: Some(flags.name.clone()),
        pipeline_spec: Some(spec),
        runtime_config: Some(RuntimeConfig {
            parameters: Some(params.into_iter().collect::<Map<String, Value>>()),
            pipeline_root: None,
        }),
        max_concurrency: Some(Int64(flags.max_concurrency)),
        trigger: Some(trigger),
        mode: Some(Value::String(
            if flags.disabled { "DISABLE" } else { "ENABLE" }.into(),
        )),
        no_catchup: Some(flags.no_catchup),
        experiment_id: Some(experiment_id(store, flags.experiment.as_deref()).await?),
        ..Default::default()
    };
    let row = create_recurring_run(
        store,
        &Principal::anonymous(),
        &penstock_spec::Limits::default(),
        &input,
    )
    .await
    .map_err(|e| invalid(format!("{file}: {}", e.message)))?;
    println!("Created recurring run {}", row.recurring_run_id);
    print!("{}", details(&row));
    eprintln!("note: {HINT}");
    Ok(())
}

fn next_times(row: &RecurringRunRow, n: usize) -> Vec<String> {
    if !row.enabled {
        return vec!["(disabled)".into()];
    }
    match stored_schedule(row) {
        Ok(s) => {
            let times = upcoming(&s, row.last_tick, Timestamp::now(), n);
            if times.is_empty() {
                vec!["(ended)".into()]
            } else {
                times.iter().map(ToString::to_string).collect()
            }
        }
        Err(e) => vec![format!("(invalid trigger: {})", e.message)],
    }
}

fn trigger_words(row: &RecurringRunRow) -> String {
    stored_schedule(row)
        .map(|s| s.describe())
        .unwrap_or_else(|e| e.message)
}

fn details(row: &RecurringRunRow) -> String {
    let mut out = String::new();
    out.push_str(&format!("Name            {}\n", row.display_name));
    out.push_str(&format!(
        "Status          {}\n",
        if row.enabled { "ENABLED" } else { "DISABLED" }
    ));
    out.push_str(&format!("Trigger         {}\n", trigger_words(row)));
    out.push_str(&format!("Max concurrent  {}\n", row.max_concurrency));
    out.push_str(&format!(
        "Catch-up        {}\n",
        if row.no_catchup {
            "no (only the latest missed tick)"
        } else {
            "yes (every missed tick)"
        }
    ));
    out.push_str(&format!("Runs started    {}\n", row.last_index));
    if let Some(t) = row.last_tick {
        out.push_str(&format!("Last tick       {t}\n"));
    }
    if let Some(e) = &row.last_error {
        out.push_str(&format!("Last error      {e}\n"));
    }
    out.push_str("Next fire times (UTC)\n");
    for t in next_times(row, 5) {
        out.push_str(&format!("  {t}\n"));
    }
    out
}

async fn list(store: &SqliteStore) -> CommandResult {
    // The API's own list request: oldest first, the largest page.
    let params = std::collections::HashMap::from([("page_size".to_string(), "200".to_string())]);
    let query = list_request(penstock_store::list::Entity::RecurringRuns, &params, vec![])
        .map_err(|e| (Outcome::Failure, e.message))?
        .query;
    let page = store
        .list_recurring_runs(&query)
        .await
        .map_err(|e| (Outcome::Failure, e.to_string()))?;
    println!(
        "{:<36}  {:<20}  {:<8}  {:<34}  NEXT FIRE (UTC)",
        "ID", "NAME", "STATUS", "TRIGGER"
    );
    for row in &page.items {
        println!(
            "{:<36}  {:<20}  {:<8}  {:<34}  {}",
            row.recurring_run_id,
            row.display_name,
            if row.enabled { "ENABLED" } else { "DISABLED" },
            trigger_words(row),
            next_times(row, 1).join(", ")
        );
    }
    Ok(())
}

async fn get(store: &SqliteStore, id: &str) -> CommandResult {
    let row = store
        .get_recurring_run(id)
        .await
        .map_err(|e| invalid(e.to_string()))?;
    println!("Recurring run   {}", row.recurring_run_id);
    print!("{}", details(&row));
    Ok(())
}

async fn set_enabled(store: &SqliteStore, id: &str, enabled: bool) -> CommandResult {
    store
        .set_recurring_run_enabled(id, enabled, Timestamp::now())
        .await
        .map_err(|e| invalid(e.to_string()))?;
    println!(
        "{} recurring run {id}",
        if enabled { "Enabled" } else { "Disabled" }
    );
    if enabled {
        eprintln!("note: {HINT}");
    }
    Ok(())
}
