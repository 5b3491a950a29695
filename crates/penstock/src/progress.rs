//! Live progress of a run: one line per task state change.

use penstock_engine::{RunObserver, RunRecord, TaskRecord, TaskState};
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

/// Prints task state changes as they are recorded. Colours only when writing to a terminal.
pub struct ProgressPrinter {
    started: Instant,
    to_stderr: bool,
    colour: bool,
    lock: Mutex<()>,
}

impl ProgressPrinter {
    /// A printer writing to stdout, or stderr when stdout carries JSON.
    pub fn new(to_stderr: bool) -> Self {
        use std::io::IsTerminal;
        let colour = if to_stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        ProgressPrinter {
            started: Instant::now(),
            to_stderr,
            colour,
            lock: Mutex::new(()),
        }
    }

    fn emit(&self, mut line: String) {
        // One write per line: `writeln!` on unbuffered stderr writes the line and its newline
        // separately (two system calls for each of a fan-out's thousands of lines).
        line.push('\n');
        let _guard = self.lock.lock();
        if self.to_stderr {
            let _ = std::io::stderr().write_all(line.as_bytes());
        } else {
            let _ = std::io::stdout().write_all(line.as_bytes());
        }
    }
}

fn colour_code(state: TaskState) -> &'static str {
    match state {
        TaskState::Succeeded => "32",
        TaskState::Failed => "31",
        TaskState::Running => "34",
        TaskState::Cached => "36",
        TaskState::Skipped | TaskState::Canceled => "33",
        TaskState::Pending => "90",
    }
}

impl RunObserver for ProgressPrinter {
    fn task_changed(&self, task: &TaskRecord) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let state = if self.colour {
            format!(
                "\x1b[{}m{:<9}\x1b[0m",
                colour_code(task.state),
                task.state.name()
            )
        } else {
            format!("{:<9}", task.state.name())
        };
        let mut line = format!("{elapsed:>8.2}s  {state}  {}", task.path);
        if let (Some(s), Some(e)) = (task.started_at, task.finished_at) {
            line.push_str(&format!("  ({:.2}s)", e.duration_since(s).as_secs_f64()));
        }
        if task.state == TaskState::Running && task.attempts > 1 {
            line.push_str(&format!("  attempt {}", task.attempts));
        }
        if matches!(
            task.state,
            TaskState::Skipped | TaskState::Failed | TaskState::Cached
        ) {
            let why = task
                .error
                .clone()
                .or_else(|| task.cache.as_ref().map(|c| c.reason.clone()))
                .unwrap_or_default();
            if !why.is_empty() {
                line.push_str(&format!("  — {why}"));
            }
        }
        self.emit(line);
    }

    fn run_changed(&self, _run: &RunRecord) {}
}
