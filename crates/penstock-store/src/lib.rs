//! # penstock-store
//!
//! Persistence for Penstock: runs, tasks with their state history, attempts, cache entries,
//! and artifacts with lineage (which task produced and which consumed each one).
//!
//! [`SqliteStore`] implements the engine's [`penstock_engine::RunStore`] over an embedded
//! SQLite database with migrations (`migrations/`). The engine only sees the trait, so a
//! PostgreSQL implementation slots in beside this one without touching it. Task logs and
//! artifact contents are blobs, read through [`blob::BlobStore`] (a local folder today).
//!
//! ```no_run
//! # async fn demo() -> Result<(), penstock_store::StoreOpenError> {
//! let store = penstock_store::SqliteStore::open(std::path::Path::new("/tmp/penstock.db")).await?;
//! let runs = store.list_runs(10).await.map_err(|e| penstock_store::StoreOpenError(e.to_string()))?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod blob;
mod catalog;
pub mod list;
mod sqlite;
pub mod tokens;

pub use catalog::{
    ArtifactEvent, ArtifactFilter, ArtifactRecord, CatalogError, ExperimentRow, PipelineRow,
    PipelineVersionRow, RecurringRunRow, RunMeta, StorageState,
};
pub use sqlite::{ArtifactRow, SqliteStore, StoreOpenError, TaskStateChange};
pub use tokens::{ApiToken, TokenError};
