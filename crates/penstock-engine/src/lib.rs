//! # penstock-engine
//!
//! The run state machine for Kubeflow Pipelines specs: expands the DAG (sub-DAGs, loop
//! iterations), resolves each task's inputs, evaluates conditions (CEL), decides caching,
//! retries and exit handlers, and computes task and run states.
//!
//! The engine does no I/O of its own. Persistence, task execution and time come in through the
//! traits in [`ports`] ([`RunStore`], [`TaskLauncher`], [`Clock`]), so the same engine runs
//! under the CLI and the server, and tests drive it with in-memory fakes. Every state change
//! goes through one function that checks the transition ([`TaskState::can_become`]) and writes
//! it to the store *before* the engine acts on it.
//!
//! ```
//! use penstock_engine::{TaskState, RunState};
//! assert!(TaskState::Cached.is_terminal());
//! assert!(!RunState::Succeeded.can_become(RunState::Running));
//! ```
#![deny(missing_docs)]

pub mod driver;
pub mod expr;
pub mod params;
pub mod policy;
pub mod ports;
pub mod record;
pub mod state;
pub mod v1_metrics;

pub use driver::{task_id, EngineError, RunEngine, RunLimits, RunOptions};
pub use ports::{
    Clock, LaunchOutcome, LaunchRequest, NoObserver, ReadySignal, RunObserver, RunStore, RunWrite,
    StoreError, SystemClock, TaskLauncher,
};
pub use record::*;
pub use state::{RunState, TaskState};
