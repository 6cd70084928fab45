//! The sink: writes the new rows into Parquet files (one writer per table schema met),
//! quarantines rejected members, and commits: the alert rows only onto the snapshot whose
//! keys were checked (rows a concurrent writer committed first are taken out of this
//! run's files before the commit), then the ledger and quarantine records.

mod overlap;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ateda_decode::TableSchema;
use ateda_lakehouse::{
    ledger_batch, quarantine_batch, BronzeTable, DataWriter, Lakehouse, LedgerRow, QuarantineRow,
    ALERTS_SNAPSHOT, RUN_ID,
};
use ateda_objects::{quarantine_key, Bucket};

use crate::counters::{add, Live};
use crate::worker::Decoded;
use crate::IngestError;
use overlap::Others;

/// Member accounting awaiting the next commit.
struct PendingMember {
    source: String,
    alerts: i64,
    ingested: i64,
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
    /// This table's last alerts commit in this run (each survey's sink has its own).
    last_snapshot: Option<i64>,
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
            last_snapshot: None,
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
                self.last_snapshot = Some(id);
            }
            let table = self.lakehouse.name(BronzeTable::Alerts);
            if let (Some(id), Ok(mut tables)) = (snapshot, self.live.tables.lock()) {
                let t = tables.entry(table.to_string()).or_default();
                t.rows += rows as u64;
                t.snapshot_id = Some(id);
            }
            tracing::info!(rows, snapshot = ?snapshot, ms = micros / 1000, "committed bronze.{table}");
        }
        self.pending_rows = 0;
        let last_snapshot = snapshot.or(self.last_snapshot);
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
