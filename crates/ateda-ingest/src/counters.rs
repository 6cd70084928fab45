//! One set of run counters: read live (progress bar, metrics) and turned into the
//! [`Summary`] at the end. Each event is counted once, where it happens.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ateda_source::{Progress, SourceCounters};
use serde::Serialize;

/// Counters readable while the run goes on.
#[derive(Debug, Default, Clone)]
pub struct Live {
    /// Source bytes read.
    pub bytes: Progress,
    /// Total source bytes.
    pub total_bytes: Arc<AtomicU64>,
    /// Alerts decoded.
    pub alerts: Arc<AtomicU64>,
    /// Alerts added to the table (committed or pending).
    pub ingested: Arc<AtomicU64>,
    /// Alerts whose key was already stored (or repeated in the input).
    pub already_present: Arc<AtomicU64>,
    /// Alerts whose key was stored with other content (the first stays; their member is
    /// quarantined with both hashes).
    pub conflicts: Arc<AtomicU64>,
    /// Members quarantined.
    pub quarantined: Arc<AtomicU64>,
    /// Of those, members already recorded by an earlier run.
    pub quarantined_before: Arc<AtomicU64>,
    /// Commits made to the alerts table.
    pub commits: Arc<AtomicU64>,
    /// Stamps stored: objects created (per-stamp layout) or stamps packed.
    pub cutouts_written: Arc<AtomicU64>,
    /// Pack objects written (packed layout).
    pub packs_written: Arc<AtomicU64>,
    /// Stamp objects that already existed.
    pub cutouts_present: Arc<AtomicU64>,
    /// Total commit wall time in microseconds.
    pub commit_micros: Arc<AtomicU64>,
    /// Schema changes this run committed to the alerts table.
    pub schema_changes: Arc<Mutex<Vec<String>>>,
    /// Last alerts snapshot written by this run (0: none).
    pub snapshot_id: Arc<std::sync::atomic::AtomicI64>,
    /// Rows committed and last snapshot, per alerts table (`alerts`, `lsst_alerts`).
    pub tables: Arc<Mutex<BTreeMap<String, TableCommits>>>,
    /// Directory entries skipped (dangling symlinks, symlink loops, unreadable
    /// directories, fifos, devices).
    pub skipped_entries: Arc<AtomicU64>,
    /// What reading the sources skipped: non-regular tar members, tarballs with no
    /// member, members over the member cap.
    pub source: SourceCounters,
}

/// What a run committed to one alerts table.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TableCommits {
    /// Rows committed.
    pub rows: u64,
    /// The run's last snapshot of the table.
    pub snapshot_id: Option<i64>,
}

/// Adds to a counter.
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Takes back from a counter (rows a concurrent writer committed first).
pub(crate) fn sub(c: &AtomicU64, n: u64) {
    c.fetch_sub(n, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// The outcome of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Run id (also in every row and snapshot summary).
    pub run_id: String,
    /// Alerts decoded from the sources.
    pub alerts_seen: u64,
    /// Alerts added to the alerts table.
    pub ingested: u64,
    /// Alerts whose key was already stored (or repeated in the input) with the same
    /// content.
    pub already_present: u64,
    /// Alerts whose key was stored with other content: not stored again, their member
    /// quarantined ("duplicate candid with different content").
    pub duplicate_conflicts: u64,
    /// Members rejected and quarantined.
    pub quarantined: u64,
    /// Of those, members already recorded in `bronze.quarantine` by an earlier run.
    pub quarantined_before: u64,
    /// Stamps stored: objects created (per-stamp layout) or stamps packed.
    pub cutouts_written: u64,
    /// Pack objects written (packed layout).
    pub packs_written: u64,
    /// Stamp objects that already existed.
    pub cutouts_present: u64,
    /// Files skipped inside directories (not .avro or tarballs).
    pub skipped_files: u64,
    /// Directory entries skipped: dangling symlinks, symlink loops, unreadable
    /// directories, fifos, devices (each warned).
    pub skipped_entries: u64,
    /// Tar members skipped because they are not regular files (symlinks, hard links,
    /// fifos, devices; each warned).
    pub skipped_members: u64,
    /// Tarballs that held no alert member (each warned: "no alerts in ...").
    pub empty_sources: u64,
    /// Members over the member cap (quarantined with their first bytes; also counted in
    /// `quarantined`).
    pub oversized_members: u64,
    /// Iceberg commits to the alerts table.
    pub commits: u64,
    /// Last alerts snapshot written by this run.
    pub snapshot_id: Option<i64>,
    /// Rows committed and last snapshot per alerts table (ZTF `alerts`, Rubin
    /// `lsst_alerts`), for the tables this run committed to.
    pub tables: BTreeMap<String, TableCommits>,
    /// Columns added (and other schema changes) by this run, e.g. `add candidate.x: double`.
    pub columns_added: Vec<String>,
    /// Source bytes read.
    pub bytes_read: u64,
    /// Wall time in seconds.
    pub elapsed_s: f64,
    /// Alerts decoded per second.
    pub alerts_per_s: f64,
}

impl Live {
    /// The summary of a finished run.
    pub fn summary(&self, run_id: String, skipped_files: u64, elapsed_s: f64) -> Summary {
        let alerts_seen = get(&self.alerts);
        let snapshot = self.snapshot_id.load(Ordering::Relaxed);
        Summary {
            run_id,
            alerts_seen,
            ingested: get(&self.ingested),
            already_present: get(&self.already_present),
            duplicate_conflicts: get(&self.conflicts),
            quarantined: get(&self.quarantined),
            quarantined_before: get(&self.quarantined_before),
            cutouts_written: get(&self.cutouts_written),
            packs_written: get(&self.packs_written),
            cutouts_present: get(&self.cutouts_present),
            skipped_files,
            skipped_entries: get(&self.skipped_entries),
            skipped_members: get(&self.source.skipped_members),
            empty_sources: get(&self.source.empty_sources),
            oversized_members: get(&self.source.oversized_members),
            commits: get(&self.commits),
            snapshot_id: (snapshot != 0).then_some(snapshot),
            tables: self.tables.lock().map(|t| t.clone()).unwrap_or_default(),
            columns_added: self
                .schema_changes
                .lock()
                .map(|v| v.clone())
                .unwrap_or_default(),
            bytes_read: self.bytes.bytes(),
            elapsed_s,
            alerts_per_s: if elapsed_s > 0.0 {
                alerts_seen as f64 / elapsed_s
            } else {
                0.0
            },
        }
    }
}
