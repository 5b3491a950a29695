//! Run and task states, and the only legal transitions between them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The state of one task (a container step, an importer, a sub-DAG, a loop or one iteration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    /// Known, waiting for its dependencies or a free slot.
    Pending,
    /// Executing (for a DAG: some of its tasks are).
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished unsuccessfully (after all retries).
    Failed,
    /// Not executed: its condition was false, or an upstream task failed.
    Skipped,
    /// Not executed: outputs reused from an earlier identical execution.
    Cached,
    /// Stopped or never started because the run was cancelled.
    Canceled,
}

impl TaskState {
    /// Whether the task can no longer change.
    pub fn is_terminal(self) -> bool {
        !matches!(self, TaskState::Pending | TaskState::Running)
    }

    /// Whether downstream tasks may consume this task's outputs.
    pub fn produced_outputs(self) -> bool {
        matches!(self, TaskState::Succeeded | TaskState::Cached)
    }

    /// Whether `self → next` is a legal transition. Terminal states never change; `Running`
    /// may be re-entered to count a retry attempt.
    pub fn can_become(self, next: TaskState) -> bool {
        use TaskState::*;
        match self {
            Pending => next != Pending,
            Running => matches!(next, Running | Succeeded | Failed | Canceled),
            _ => false,
        }
    }

    /// The upper-case name used in the store, the CLI and the API.
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Pending => "PENDING",
            TaskState::Running => "RUNNING",
            TaskState::Succeeded => "SUCCEEDED",
            TaskState::Failed => "FAILED",
            TaskState::Skipped => "SKIPPED",
            TaskState::Cached => "CACHED",
            TaskState::Canceled => "CANCELED",
        }
    }

    /// Parses [`TaskState::name`].
    pub fn from_name(name: &str) -> Option<TaskState> {
        use TaskState::*;
        [
            Pending, Running, Succeeded, Failed, Skipped, Cached, Canceled,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The state of a run, named as KFP's v2beta1 `RuntimeState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunState {
    /// Recorded, not started.
    Pending,
    /// Executing.
    Running,
    /// Every task succeeded, was cached or was skipped by a condition.
    Succeeded,
    /// A task failed, or the run could not be executed.
    Failed,
    /// Cancelled by the user.
    Canceled,
}

impl RunState {
    /// Whether the run can no longer change.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Succeeded | RunState::Failed | RunState::Canceled
        )
    }

    /// Whether `self → next` is a legal transition.
    pub fn can_become(self, next: RunState) -> bool {
        match self {
            RunState::Pending => next != RunState::Pending,
            RunState::Running => next.is_terminal(),
            _ => false,
        }
    }

    /// The upper-case name used in the store, the CLI and the API.
    pub fn name(self) -> &'static str {
        match self {
            RunState::Pending => "PENDING",
            RunState::Running => "RUNNING",
            RunState::Succeeded => "SUCCEEDED",
            RunState::Failed => "FAILED",
            RunState::Canceled => "CANCELED",
        }
    }

    /// Parses [`RunState::name`].
    pub fn from_name(name: &str) -> Option<RunState> {
        use RunState::*;
        [Pending, Running, Succeeded, Failed, Canceled]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_task_states_never_change() {
        for s in [
            TaskState::Succeeded,
            TaskState::Failed,
            TaskState::Skipped,
            TaskState::Cached,
            TaskState::Canceled,
        ] {
            assert!(s.is_terminal());
            assert!(!s.can_become(TaskState::Running), "{s} must not restart");
        }
        assert!(TaskState::Pending.can_become(TaskState::Skipped));
        assert!(TaskState::Running.can_become(TaskState::Running));
        assert!(!TaskState::Running.can_become(TaskState::Skipped));
    }

    #[test]
    fn names_round_trip() {
        for s in [
            "PENDING",
            "RUNNING",
            "SUCCEEDED",
            "FAILED",
            "SKIPPED",
            "CACHED",
            "CANCELED",
        ] {
            assert_eq!(TaskState::from_name(s).map(TaskState::name), Some(s));
        }
        assert_eq!(RunState::from_name("FAILED"), Some(RunState::Failed));
        assert!(!RunState::Succeeded.can_become(RunState::Failed));
    }
}
