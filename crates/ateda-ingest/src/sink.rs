//! The sink: writes the new rows into Parquet files (one writer per table schema met),
//! quarantines rejected members, and commits: the alert rows only onto the snapshot whose
//! keys were checked (rows a concurrent writer committed first are taken out of this
//! run's files before the commit), then the ledger and quarantine records.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ateda_decode::{hex, TableSchema};
use ateda_lakehouse::{
    key_ranges, ledger_batch, parquet_bytes, quarantine_batch, Appended, BronzeTable, DataWriter,
    Lakehouse, LedgerRow, QuarantineRow, ALERTS_SNAPSHOT, LEDGER_FOLLOWS, RUN_ID,
};
use ateda_objects::{quarantine_key, Bucket};
use iceberg::spec::DataFile;

use crate::counters::{add, sub, Live};
use crate::worker::Decoded;
use crate::IngestError;

/// Key ranges per commit-time check.
const CHECK_RANGES: usize = 64;

/// Member accounting awaiting the next commit.
struct PendingMember {
    source: String,
    alerts: i64,
    ingested: i64,
}

/// The alerts other writers committed while this run goes on.
#[derive(Default)]
struct Others {
    /// The newest snapshot whose ancestry back to the run's base has been walked (the
    /// run's base at first, then each commit of its own): a commit may go onto it.
    validated: Option<i64>,
    /// The table as last loaded when the branch had moved.
    table: Option<iceberg::table::Table>,
    /// Data files other runs added since the base.
    files: HashSet<String>,
    /// Of those, the files whose keys were read.
    read: HashSet<String>,
    /// Keys (with content hashes) in the files read.
    keys: HashMap<i64, Option<[u8; 32]>>,
}

/// Deduplicates, quarantines and commits.
pub(crate) struct Sink<'a> {
    lakehouse: &'a Lakehouse,
    quarantine: Bucket,
    run_id: String,
    commit_every: usize,
    live: Live,
    quarantined_before: HashSet<(String, String)>,
    /// Open data writers by table schema id (a run that evolves the table writes the
    /// rows decoded before and after the change into files of their own schema; all are
    /// committed together).
    data: BTreeMap<i32, (Arc<TableSchema>, DataWriter)>,
    /// Key, content hash and index into `pending_members` of each pending row.
    pending_keys: Vec<(i64, [u8; 32], usize)>,
    /// What other writers committed since the run's base snapshot.
    others: Others,
    file_seq: usize,
    pending_rows: usize,
    pending_members: Vec<PendingMember>,
    pending_quarantine: Vec<QuarantineRow>,
}

impl<'a> Sink<'a> {
    pub(crate) async fn new(
        lakehouse: &'a Lakehouse,
        quarantine: Bucket,
        commit_every: usize,
        run_id: String,
        live: &Live,
        validated: Option<i64>,
    ) -> Result<Sink<'a>, IngestError> {
        Ok(Sink {
            quarantined_before: lakehouse.quarantined().await?,
            lakehouse,
            quarantine,
            run_id,
            commit_every: commit_every.max(1),
            live: live.clone(),
            data: BTreeMap::new(),
            pending_keys: Vec::new(),
            others: Others {
                validated,
                ..Others::default()
            },
            file_seq: 0,
            pending_rows: 0,
            pending_members: Vec::new(),
            pending_quarantine: Vec::new(),
        })
    }

    fn next_prefix(&mut self, what: &str) -> String {
        let p = format!("{}{what}-{:05}", self.run_id, self.file_seq);
        self.file_seq += 1;
        p
    }

    /// Adds new rows (their keys claimed by this run, their stamps stored).
    pub(crate) async fn add(&mut self, d: Decoded) -> Result<(), IngestError> {
        let first = self.pending_members.len();
        for m in d.members {
            self.pending_members.push(PendingMember {
                source: m.source,
                alerts: m.alerts as i64,
                ingested: m.ingested as i64,
            });
        }
        let kept = d.keys.len();
        add(&self.live.ingested, kept as u64);
        if kept == 0 {
            return Ok(());
        }
        self.pending_keys
            .extend(d.keys.into_iter().map(|(k, sha, m)| (k, sha, first + m)));
        if !self.data.contains_key(&d.table.id) {
            let prefix = self.next_prefix("");
            let w = self
                .lakehouse
                .alerts_writer(d.table.iceberg.clone(), &prefix)
                .await?;
            self.data.insert(d.table.id, (d.table.clone(), w));
        }
        if let Some((_, w)) = self.data.get_mut(&d.table.id) {
            w.write(&d.batch).await?;
        }
        self.pending_rows += kept;
        if self.pending_rows >= self.commit_every {
            self.commit().await?;
        }
        Ok(())
    }

    /// Keeps a rejected member's bytes and records it (once across runs).
    pub(crate) async fn reject(
        &mut self,
        source: String,
        reason: String,
        bytes: Vec<u8>,
    ) -> Result<(), IngestError> {
        tracing::warn!(%source, %reason, "quarantined");
        let (key, sha) = quarantine_key(&bytes);
        add(&self.live.quarantined, 1);
        let size = bytes.len() as i64;
        self.quarantine
            .put_if_absent(&key, bytes::Bytes::from(bytes))
            .await?;
        if !self
            .quarantined_before
            .insert((source.clone(), sha.clone()))
        {
            add(&self.live.quarantined_before, 1);
            return Ok(());
        }
        self.pending_quarantine.push(QuarantineRow {
            run_id: self.run_id.clone(),
            source,
            reason,
            size_bytes: size,
            sha256: sha,
            quarantine_uri: self.quarantine.uri(&key),
            recorded_at_us: chrono::Utc::now().timestamp_micros(),
        });
        Ok(())
    }

    /// Commits pending alert rows, then the ledger and quarantine records.
    pub(crate) async fn commit(&mut self) -> Result<(), IngestError> {
        let mut snapshot = None;
        if !self.data.is_empty() {
            let mut groups = Vec::new();
            for (_, (table, w)) in std::mem::take(&mut self.data) {
                groups.push((table, w.close().await?));
            }
            let started = Instant::now();
            let (id, rows) = self.commit_checked(groups).await?;
            snapshot = id;
            let micros = started.elapsed().as_micros() as u64;
            metrics::histogram!("ateda_commit_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            add(&self.live.commit_micros, micros);
            if let Some(id) = snapshot {
                add(&self.live.commits, 1);
                self.live.snapshot_id.store(id, Ordering::Relaxed);
            }
            let table = self.lakehouse.name(BronzeTable::Alerts);
            tracing::info!(rows, snapshot = ?snapshot, ms = micros / 1000, "committed bronze.{table}");
        }
        self.pending_rows = 0;
        let last_snapshot = snapshot.or_else(|| {
            let id = self.live.snapshot_id.load(Ordering::Relaxed);
            (id != 0).then_some(id)
        });
        let now = chrono::Utc::now().timestamp_micros();
        let members = std::mem::take(&mut self.pending_members);
        let run_id = self.run_id.clone();
        let props = || HashMap::from([(RUN_ID.to_string(), run_id.clone())]);
        if !members.is_empty() {
            let mut ledger_props = props();
            if let Some(id) = snapshot {
                // names the alerts commit these rows account for (see `ledger`)
                ledger_props.insert(ALERTS_SNAPSHOT.to_string(), id.to_string());
            }
            let rows: Vec<LedgerRow> = members
                .into_iter()
                .map(|m| LedgerRow {
                    run_id: self.run_id.clone(),
                    source: m.source,
                    alerts: m.alerts,
                    ingested: m.ingested,
                    already_present: m.alerts - m.ingested,
                    snapshot_id: if m.ingested > 0 { last_snapshot } else { None },
                    recorded_at_us: now,
                })
                .collect();
            let prefix = self.next_prefix("-ledger");
            self.lakehouse
                .append(
                    BronzeTable::Ledger,
                    |schema| ledger_batch(schema, &rows),
                    &prefix,
                    ledger_props,
                )
                .await?;
        }
        let rejected = std::mem::take(&mut self.pending_quarantine);
        if !rejected.is_empty() {
            let prefix = self.next_prefix("-quarantine");
            self.lakehouse
                .append(
                    BronzeTable::Quarantine,
                    |schema| quarantine_batch(schema, &rejected),
                    &prefix,
                    props(),
                )
                .await?;
        }
        Ok(())
    }
}

impl Sink<'_> {
    /// Commits the pending files onto a snapshot whose new keys were checked. The rows'
    /// keys were claimed against the run's base snapshot; every data file other writers
    /// added since is a candidate for a clash. Before each attempt the pending keys are
    /// checked against those files (each read once, only when its key bounds meet the
    /// pending keys); rows others committed first are taken out of this run's files (a
    /// packet with other content is kept in quarantine as its row). When the commit finds
    /// the table moved, the new snapshots are walked and the check runs again. Returns
    /// the snapshot (none when every row had been committed by others) and the rows
    /// committed.
    async fn commit_checked(
        &mut self,
        mut groups: Vec<(Arc<TableSchema>, Vec<DataFile>)>,
    ) -> Result<(Option<i64>, usize), IngestError> {
        loop {
            groups = self.take_out_committed(groups).await?;
            let files: Vec<DataFile> = groups.iter().flat_map(|g| g.1.clone()).collect();
            let rows = self.pending_keys.len();
            if files.is_empty() || rows == 0 {
                return Ok((None, 0));
            }
            let props = HashMap::from([
                (RUN_ID.to_string(), self.run_id.clone()),
                ("ateda.rows".to_string(), rows.to_string()),
                (LEDGER_FOLLOWS.to_string(), "follows".to_string()),
            ]);
            match self
                .lakehouse
                .commit_at(BronzeTable::Alerts, self.others.validated, files, props)
                .await?
            {
                Appended::Committed(id) => {
                    self.others.validated = Some(id);
                    self.pending_keys.clear();
                    return Ok((Some(id), rows));
                }
                Appended::Moved => self.walk_new_snapshots().await?,
            }
        }
    }

    /// Walks the snapshots committed since the last one validated, collecting the data
    /// files other runs added.
    async fn walk_new_snapshots(&mut self) -> Result<(), IngestError> {
        let table = self.lakehouse.load(BronzeTable::Alerts).await?;
        let added = self
            .lakehouse
            .files_added_since(&table, self.others.validated, Some(&self.run_id))
            .await?;
        let now = table.metadata().current_snapshot_id();
        tracing::info!(
            from = ?self.others.validated,
            to = ?now,
            files = added.len(),
            "concurrent commits: their keys are checked before this run commits"
        );
        self.others.validated = now;
        self.others.files.extend(added);
        self.others.table = Some(table);
        Ok(())
    }

    /// Reads the keys of the files other runs added (those meeting the pending keys'
    /// ranges, each once) and rewrites this run's files without the keys found there.
    async fn take_out_committed(
        &mut self,
        groups: Vec<(Arc<TableSchema>, Vec<DataFile>)>,
    ) -> Result<Vec<(Arc<TableSchema>, Vec<DataFile>)>, IngestError> {
        let Some(table) = &self.others.table else {
            return Ok(groups);
        };
        let mut keys: Vec<i64> = self.pending_keys.iter().map(|k| k.0).collect();
        let ranges = key_ranges(&mut keys, CHECK_RANGES);
        let (files, read) = (&self.others.files, &self.others.read);
        let (new_files, stored) = self
            .lakehouse
            .stored_keys(table, &ranges, |f| files.contains(f) && !read.contains(f))
            .await?;
        self.others.read.extend(new_files);
        self.others.keys.extend(stored);
        let others = &self.others.keys;
        let clash: Vec<(i64, [u8; 32], usize)> = self
            .pending_keys
            .iter()
            .filter(|k| others.contains_key(&k.0))
            .copied()
            .collect();
        if clash.is_empty() {
            return Ok(groups);
        }
        let gone: HashSet<i64> = clash.iter().map(|k| k.0).collect();
        self.pending_keys.retain(|k| !gone.contains(&k.0));
        let mut out = Vec::with_capacity(groups.len());
        let mut dropped = Vec::new();
        for (schema, files) in groups {
            let prefix = self.next_prefix("-rewritten");
            let r = self
                .lakehouse
                .rewrite_without(schema.iceberg.clone(), files, &prefix, |k| {
                    gone.contains(&k)
                })
                .await?;
            dropped.extend(r.dropped);
            out.push((schema, r.files));
        }
        let mut differing = Vec::new();
        for (key, sha, member) in &clash {
            if let Some(m) = self.pending_members.get_mut(*member) {
                m.ingested -= 1;
            }
            sub(&self.live.ingested, 1);
            match self.others.keys.get(key) {
                Some(Some(theirs)) if theirs != sha => {
                    add(&self.live.conflicts, 1);
                    differing.push((*key, *theirs, *sha, *member));
                }
                _ => add(&self.live.already_present, 1),
            }
        }
        tracing::warn!(
            rows = clash.len(),
            different = differing.len(),
            "a concurrent writer committed some of the same alerts first; taken out of this run"
        );
        if !differing.is_empty() {
            self.keep_conflicting_rows(&dropped, &differing).await?;
        }
        Ok(out)
    }

    /// Keeps rows that lost to a concurrent writer's different content in quarantine
    /// (one Parquet object) with a record per row naming both hashes.
    async fn keep_conflicting_rows(
        &mut self,
        dropped: &[arrow_array::RecordBatch],
        differing: &[(i64, [u8; 32], [u8; 32], usize)],
    ) -> Result<(), IngestError> {
        let bytes = parquet_bytes(dropped)?;
        let (key, sha) = quarantine_key(&bytes);
        let size = bytes.len() as i64;
        self.quarantine
            .put_if_absent(&key, bytes::Bytes::from(bytes))
            .await?;
        let key_name = self.lakehouse.survey().key;
        for (k, theirs, ours, member) in differing {
            let source = self
                .pending_members
                .get(*member)
                .map(|m| m.source.clone())
                .unwrap_or_default();
            let reason = format!(
                "duplicate {key_name} with different content, committed first by a concurrent \
                 writer: {key_name} {k}: stored sha256 {}, this packet sha256 {} (its row is \
                 kept here as Parquet)",
                hex(theirs),
                hex(ours)
            );
            tracing::warn!(%source, %reason, "quarantined");
            add(&self.live.quarantined, 1);
            self.pending_quarantine.push(QuarantineRow {
                run_id: self.run_id.clone(),
                source,
                reason,
                size_bytes: size,
                sha256: sha.clone(),
                quarantine_uri: self.quarantine.uri(&key),
                recorded_at_us: chrono::Utc::now().timestamp_micros(),
            });
        }
        Ok(())
    }
}
