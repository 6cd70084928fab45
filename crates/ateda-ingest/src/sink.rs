//! The sink: deduplicates rows by key against the table and the run, quarantines
//! rejected members, writes Parquet files (one writer per table schema met) and commits
//! them, then the ledger and quarantine records.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Instant;

use arrow_array::{BooleanArray, RecordBatch};
use ateda_lakehouse::{
    ledger_batch, quarantine_batch, BronzeTable, DataWriter, Lakehouse, LedgerRow, QuarantineRow,
};
use ateda_objects::{quarantine_key, Bucket};

use crate::counters::{add, Live};
use crate::worker::Decoded;
use crate::IngestError;

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
    known: HashSet<i64>,
    loaded_nights: HashSet<i32>,
    quarantined_before: HashSet<(String, String)>,
    /// Open data writers by table schema id (a run that evolves the table writes the
    /// rows decoded before and after the change into files of their own schema; all are
    /// committed together).
    data: BTreeMap<i32, DataWriter>,
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
    ) -> Result<Sink<'a>, IngestError> {
        Ok(Sink {
            quarantined_before: lakehouse.quarantined().await?,
            lakehouse,
            quarantine,
            run_id,
            commit_every: commit_every.max(1),
            live: live.clone(),
            known: HashSet::new(),
            loaded_nights: HashSet::new(),
            data: BTreeMap::new(),
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

    /// Adds decoded rows: keys already stored (or seen earlier in this run) are skipped.
    pub(crate) async fn add(&mut self, d: Decoded) -> Result<(), IngestError> {
        let nights: Vec<i32> = d
            .keys
            .iter()
            .map(|k| k.1)
            .filter(|n| !self.loaded_nights.contains(n))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !nights.is_empty() {
            let existing = self.lakehouse.existing_keys(&nights).await?;
            tracing::debug!(
                nights = nights.len(),
                existing = existing.len(),
                "loaded stored keys"
            );
            self.known.extend(existing);
            self.loaded_nights.extend(nights);
        }
        let keep: Vec<bool> = d.keys.iter().map(|k| self.known.insert(k.0)).collect();
        let kept = keep.iter().filter(|k| **k).count();
        let mut row = 0usize;
        for (source, n) in &d.members {
            let ingested = keep[row..row + n].iter().filter(|k| **k).count();
            self.pending_members.push(PendingMember {
                source: source.clone(),
                alerts: *n as i64,
                ingested: ingested as i64,
            });
            row += n;
        }
        add(&self.live.ingested, kept as u64);
        add(&self.live.already_present, (d.keys.len() - kept) as u64);
        if kept == 0 {
            return Ok(());
        }
        let rows = if kept == d.keys.len() {
            d.batch
        } else {
            filter(&d.batch, keep)?
        };
        if !self.data.contains_key(&d.table.id) {
            let prefix = self.next_prefix("");
            let w = self
                .lakehouse
                .alerts_writer(d.table.iceberg.clone(), &prefix)
                .await?;
            self.data.insert(d.table.id, w);
        }
        if let Some(w) = self.data.get_mut(&d.table.id) {
            w.write(&rows).await?;
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
            let mut files = Vec::new();
            let mut rows = 0;
            for (_, w) in std::mem::take(&mut self.data) {
                rows += w.rows();
                files.extend(w.close().await?);
            }
            let started = Instant::now();
            let props = HashMap::from([
                ("ateda.run-id".to_string(), self.run_id.clone()),
                ("ateda.rows".to_string(), rows.to_string()),
            ]);
            snapshot = self
                .lakehouse
                .commit(BronzeTable::Alerts, None, files, props)
                .await?;
            let micros = started.elapsed().as_micros() as u64;
            metrics::histogram!("ateda_commit_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            add(&self.live.commit_micros, micros);
            add(&self.live.commits, 1);
            if let Some(id) = snapshot {
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
        let props = || HashMap::from([("ateda.run-id".to_string(), run_id.clone())]);
        if !members.is_empty() {
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
                    props(),
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

fn filter(batch: &RecordBatch, keep: Vec<bool>) -> Result<RecordBatch, IngestError> {
    let mask = BooleanArray::from(keep);
    arrow_select::filter::filter_record_batch(batch, &mask)
        .map_err(|e| IngestError::Layout(e.to_string()))
}
