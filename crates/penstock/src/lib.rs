//! # penstock
//!
//! The `penstock` binary: command-line parsing, configuration and wiring of the engine, the
//! store and the launcher. Everything here is reachable from tests through this library; the
//! `main` function only maps the result to an exit code.
#![deny(missing_docs)]

pub mod cli;
pub mod compare;
pub mod kfp_json;
pub mod progress;
pub mod recurring_command;
pub mod resume_command;
pub mod run_command;
pub mod server_command;
pub mod tokens_command;

/// How a command ended, mapped to the process exit code in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0: the run succeeded or the query answered.
    Success,
    /// Exit 1: the run failed or the command could not complete.
    Failure,
    /// Exit 2: the input was invalid; nothing was run or recorded.
    InvalidInput,
    /// Exit 130: cancelled with Ctrl-C after a clean shutdown.
    Interrupted,
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> i32 {
        match self {
            Outcome::Success => 0,
            Outcome::Failure => 1,
            Outcome::InvalidInput => 2,
            Outcome::Interrupted => 130,
        }
    }
}
