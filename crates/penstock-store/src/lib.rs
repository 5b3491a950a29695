//! # penstock-store
//!
//! Persistence for Penstock: runs, tasks with their state history, attempts, cache entries,
//! and artifacts with lineage (which task produced and which consumed each one).
//!
//! [`Store`] implements the engine's [`penstock_engine::RunStore`] (and the KFP catalog, lists
//! and tokens) over an embedded SQLite file — the default — or a PostgreSQL server
//! (`--database postgres://…`). One implementation serves both through sqlx's `Any` driver;
//! each backend has its own migration folder with the same numbering ([`backend`],
//! `docs/database.md`). [`testing`] starts a throwaway PostgreSQL server for tests, and the
//! conformance suite (`tests/conformance.rs`) runs every store behaviour on both backends.
//! Task logs and artifact contents are blobs: files under the home ([`blob::BlobStore`]) or
//! objects in S3, GCS or Azure ([`object`], `docs/object-store.md`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), penstock_store::StoreOpenError> {
//! let store = penstock_store::Store::open(std::path::Path::new("/tmp/penstock.db")).await?;
//! let shared = penstock_store::Store::connect("postgres://penstock:secret@db/penstock").await?;
//! let runs = store.list_runs(10).await.map_err(|e| penstock_store::StoreOpenError(e.to_string()))?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod backend;
pub mod blob;
mod catalog;
#[cfg(test)]
mod conformance;
pub mod lease;
pub mod list;
#[cfg(feature = "object-store")]
pub mod object;
#[cfg(not(feature = "object-store"))]
#[path = "object_off.rs"]
pub mod object;
mod run_writer;
pub mod scalars;
mod store;
pub mod testing;
pub mod tokens;

pub use backend::{Backend, DatabaseLocation};
pub use catalog::{
    ArtifactEvent, ArtifactFilter, ArtifactRecord, CatalogError, ExperimentRow, PipelineRow,
    PipelineVersionRow, RecurringRunRow, RunMeta, StorageState,
};
pub use lease::{LiveOwner, OwnedRun, Replica};
pub use scalars::ScalarRow;
pub use store::{ArtifactRow, SqliteStore, Store, StoreOpenError, TaskStateChange};
pub use tokens::{ApiToken, TokenError};
