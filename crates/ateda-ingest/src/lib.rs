//! The ingest pipeline.
//!
//! Data flows one way:
//!
//! ```text
//! reader thread ──members──▶ decode workers (one per core) ──Arrow chunks──▶ sink task
//!   (files, dirs, tar.gz      (writer schema resolved onto the   (Parquet files per table
//!    streamed, never           table once per pair; the table     schema; one Iceberg commit
//!    extracted; members        evolved first when it lacks a      per `commit_every` alerts,
//!    capped, queue bounded     field; keys claimed, then the      only onto a snapshot whose
//!    in bytes)                 stamps of new rows written;        new keys were checked;
//!                              bad members rejected whole)        ledger, quarantine)
//! ```
//!
//! - [`reader`](crate::reader), [`worker`](crate::worker), [`sink`](crate::sink): the
//!   three stages; [`registry`](crate::registry): the table schema the workers decode
//!   into, and the one place that evolves it; [`keys`](crate::keys): the run's view of
//!   the keys stored (exactly once by key); [`ledger`](crate::ledger): repairing the
//!   ledger of a run stopped between its two commits; [`counters`](crate::counters): one
//!   set of counters, read live and summed up at the end; `orphans`: packs no row points
//!   into ([`sweep_orphan_packs`], `ateda maintain`).
//!
//! Guarantees: the key is unique in the table across runs, nights and concurrent
//! writers (same key, other content: the first committed packet stays, the other is
//! quarantined); stamps are written (content-addressed, never replaced) before the rows
//! that point at them are committed; rows are committed atomically per batch, so a crash
//! at any point followed by a re-run ends with every alert exactly once. Rejected members
//! keep their bytes under the quarantine root and a row in `bronze.quarantine`.

#![deny(missing_docs)]

mod counters;
pub mod defaults;
mod feed;
mod keys;
mod ledger;
mod orphans;
mod reader;
mod registry;
mod run;
mod sink;
mod worker;

/// Pack sizing of the packed layout (re-exported for [`CutoutLayout::Packed`]).
pub use ateda_objects::PackOptions;
pub use counters::{Live, Summary, TableCommits};
pub use feed::{CommitPoint, Feed, FeedOut, Offer, OnCommitted, Position};
pub use orphans::{sweep_orphan_packs, OrphanSweep};
pub use run::{ingest, ingest_feed, CutoutLayout, IngestOptions};

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

impl IngestError {
    /// Whether running the same command again can complete the ingest: the run was
    /// stopped by an outage that outlasted the retries (catalog or object store
    /// unreachable, refused, reset or timed-out connections, HTTP 429/500/502/503/504,
    /// commit conflicts) or a transient I/O error reading a source. Not for bad flags, a
    /// refused or lost catalog, a schema conflict, permission denied, a full disk or a
    /// bug: those stay until someone acts.
    pub fn rerun_helps(&self) -> bool {
        match self {
            IngestError::Source(ateda_source::SourceError::Io { source, .. }) => {
                ateda_retry::classify_io(source.kind()).is_some()
            }
            IngestError::Lakehouse(e) => e.rerun_helps(),
            IngestError::Objects(ObjectError::Write { cause, .. }) => {
                ateda_retry::classify_chain(cause, |_| None).is_some()
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn the_rerun_hint_is_for_outages_only() {
        let source = |kind| {
            IngestError::Source(ateda_source::SourceError::Io {
                path: "night.tar.gz".into(),
                source: Error::from(kind),
            })
        };
        assert!(source(ErrorKind::TimedOut).rerun_helps());
        assert!(!source(ErrorKind::NotFound).rerun_helps());
        assert!(!source(ErrorKind::PermissionDenied).rerun_helps());
        let config = IngestError::Lakehouse(LakehouseError::Config("lost catalog".into()));
        assert!(!config.rerun_helps());
        let unavailable = IngestError::Lakehouse(LakehouseError::Iceberg {
            what: "loading table".into(),
            cause: Box::new(
                iceberg::Error::new(iceberg::ErrorKind::Unexpected, "unexpected status")
                    .with_context("status", "503 Service Unavailable"),
            ),
        });
        assert!(unavailable.rerun_helps());
        assert!(!IngestError::Layout("x".into()).rerun_helps());
        assert!(!IngestError::Internal("x".into()).rerun_helps());
    }
}
