//! End-to-end tests: real pipelines compiled by the real `kfp==2.16.1` SDK, executed by the real
//! `penstock` binary with real processes and a real SQLite store.
//!
//! Requires a Python with `kfp==2.16.1` (`PENSTOCK_TEST_PYTHON`, or `.venv/bin/python` at the
//! repository root as `.ci/run` creates it); the tests fail loudly without it.

mod cli;
mod corpus;
mod docker;
mod durable;
mod examples;
mod object_store;
mod replicas;
mod security;
mod semantics;
mod server;
mod ui;
mod util;
mod v1;
mod v1_api;
mod warm;
