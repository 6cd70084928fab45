//! The ingest pipeline.
//!
//! Data flows one way:
//!
//! ```text
//! reader thread ──members──▶ decode workers (one per core) ──Arrow chunks──▶ sink task
//!   (files, dirs, tar.gz      (writer schema resolved onto the   (dedupe by key, Parquet
//!    streamed, never           table once per pair; the table     files per table schema,
//!    extracted)                evolved first when it lacks a      one Iceberg commit per
//!                              field; stamps written; corrupt     `commit_every` alerts,
//!                              members rejected whole)            ledger, quarantine)
//! ```
//!
//! - [`reader`](crate::reader), [`worker`](crate::worker), [`sink`](crate::sink): the
//!   three stages; [`registry`](crate::registry): the table schema the workers decode
//!   into, and the one place that evolves it; [`counters`](crate::counters): one set of
//!   counters, read live and summed up at the end.
//!
//! Guarantees: stamps are written before the rows that point at them are committed;
//! rows are committed atomically per batch; a re-run reads the keys already stored for
//! the nights it touches and skips them, so a crash at any point followed by a re-run
//! ends with every alert exactly once. Rejected members keep their bytes under the
//! quarantine root and a row in `bronze.quarantine`.

#![deny(missing_docs)]

mod counters;
pub mod defaults;
mod reader;
mod registry;
mod run;
mod sink;
mod worker;

pub use counters::{Live, Summary};
pub use run::{ingest, IngestOptions};

use ateda_lakehouse::LakehouseError;
use ateda_objects::ObjectError;

/// Errors that stop an ingest run (bad *input* never does: it is quarantined).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A source path is missing or unreadable.
    #[error(transparent)]
    Source(#[from] ateda_source::SourceError),
    /// The catalog or table storage failed.
    #[error(transparent)]
    Lakehouse(#[from] LakehouseError),
    /// Object storage failed (after retries).
    #[error(transparent)]
    Objects(#[from] ObjectError),
    /// Building the row layout failed (a bug or an incompatible table).
    #[error("bronze row layout: {0}")]
    Layout(String),
    /// A worker thread stopped unexpectedly.
    #[error("internal: {0}")]
    Internal(String),
}
