//! The ingest pipeline.
//!
//! Data flows one way:
//!
//! ```text
//! reader thread ──members──▶ decode workers (one per core) ──Arrow chunks──▶ writer task
//!   (files, dirs, tar.gz      (compiled program per writer     (dedupe by candid, stamps with
//!    streamed, never           schema; corrupt members are      create-if-absent, Parquet data
//!    extracted)                rejected whole)                  files, one Iceberg commit per
//!                                                               `commit_every` alerts)
//! ```
//!
//! Guarantees: stamps are written before the rows that point at them are
//! committed; rows are committed atomically per batch; a re-run reads the
//! candids already stored for the nights it touches and skips them, so a
//! crash at any point followed by a re-run ends with every alert exactly
//! once. Rejected members keep their bytes under the quarantine root and a
//! row in `bronze.quarantine`.

mod pipeline;

pub use pipeline::{ingest, IngestError, IngestOptions, Live, Summary};
