//! Ingest settings defaults: their one home. The CLI's flags default to these; the
//! Dagster resource and the Helm chart pass a setting only when a user set one.

/// Alerts per Iceberg commit.
pub const COMMIT_EVERY: usize = 50_000;
/// Alerts per decoded Arrow chunk.
pub const CHUNK_ALERTS: usize = 512;
/// Stamp uploads in flight per worker.
pub const UPLOADS: usize = 64;
/// Seconds a catalog call keeps retrying transient failures.
pub const CATALOG_RETRY_SECS: u64 = 60;
/// Embedded lakehouse directory.
pub const LAKEHOUSE_DIR: &str = "lakehouse";
/// Age after which an alert commit with no ledger commit is taken for a stopped run's and
/// its ledger rows are rebuilt (a live run commits its ledger right after its rows).
pub const LEDGER_GRACE_SECS: u64 = 600;
