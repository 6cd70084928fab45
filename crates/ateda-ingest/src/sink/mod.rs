//! The sink: writes the new rows into Parquet files (one writer per table schema met),
//! quarantines rejected members, and commits: the alert rows only onto the snapshot whose
//! keys were checked (rows a concurrent writer committed first are taken out of this
//! run's files before the commit), then the ledger and quarantine records.

mod overlap;
mod packing;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ateda_decode::TableSchema;
use ateda_lakehouse::{
    ledger_batch, quarantine_batch, BronzeTable, DataWriter, Lakehouse, LedgerRow, QuarantineRow,
    ALERTS_SNAPSHOT, RUN_ID,
};
use ateda_objects::{quarantine_key, Bucket, Packs};

use crate::counters::{add, Live};
use crate::feed::Position;
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
    /// The packed layout's packs (closed before every alerts commit); `None`: per-stamp.
    packs: Option<Packs>,
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
    /// The stream position map recorded at a snapshot (the last one this sink committed
    /// or read), so that a commit onto it need not load the table to merge.
    recorded: Option<(i64, ateda_lakehouse::StreamOffsets)>,
}

impl<'a> Sink<'a> {
    pub(crate) async fn new(
        lakehouse: &'a Lakehouse,
        quarantine: Bucket,
        packs: Option<Packs>,
        commit_every: usize,
        run_id: String,
        live: &Live,
        validated: Option<i64>,
    ) -> Result<Sink<'a>, IngestError> {
        Ok(Sink {
            quarantined_before: lakehouse.quarantined().await?,
            lakehouse,
            quarantine,
            packs,
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
            recorded: None,
        })
    }

    /// A data file name prefix of this run, unique across its sinks: the ledger and
    /// quarantine tables are shared by the surveys' sinks, so the survey is in the name.
    fn next_prefix(&mut self, what: &str) -> String {
        let survey = self.lakehouse.survey().name;
        let p = format!("{}-{survey}{what}-{:05}", self.run_id, self.file_seq);
        self.file_seq += 1;
        p
    }

    /// Adds new rows (their keys claimed by this run; their stamps stored, or packed
    /// here in the packed layout).
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
        let batch = match &mut self.packs {
            Some(packs) => {
                let survey = self.lakehouse.survey();
                packing::pack_batch(packs, survey, d.batch, d.stamps, &self.live).await?
            }
            None => d.batch,
        };
        if let Some((_, w)) = self.data.get_mut(&d.table.id) {
            w.write(&batch).await?;
        }
        self.pending_rows += kept;
        if self.pending_rows >= self.commit_every {
            self.commit(None).await?;
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

    /// Commits what is pending: the quarantine records first (so a stream position can
    /// never pass a rejected member whose record is not stored), then the alert rows
    /// (with `position`, when given, in the same snapshot; an offsets-only snapshot when
    /// no row is new), then records of rows that lost to a concurrent writer while
    /// committing, then the ledger.
    pub(crate) async fn commit(&mut self, position: Option<&Position>) -> Result<(), IngestError> {
        self.commit_quarantine().await?;
        let mut snapshot = None;
        if let Some(packs) = &mut self.packs {
            // every pack the pending rows point into is whole before they are committed
            add(&self.live.packs_written, packs.close().await?);
        }
        if !self.data.is_empty() || position.is_some() {
            let mut groups = Vec::new();
            for (_, (table, w)) in std::mem::take(&mut self.data) {
                groups.push((table, w.close().await?));
            }
            let started = Instant::now();
            let (id, rows) = self.commit_checked(groups, position).await?;
            let micros = started.elapsed().as_micros() as u64;
            metrics::histogram!("ateda_commit_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            add(&self.live.commit_micros, micros);
            if id.is_some() {
                add(&self.live.commits, 1);
            }
            if let (Some(id), true) = (id, rows > 0) {
                snapshot = Some(id);
                self.live.snapshot_id.store(id, Ordering::Relaxed);
                self.last_snapshot = Some(id);
            }
            let table = self.lakehouse.name(BronzeTable::Alerts);
            if let (Some(id), Ok(mut tables)) = (id, self.live.tables.lock()) {
                let t = tables.entry(table.to_string()).or_default();
                t.rows += rows as u64;
                t.snapshot_id = Some(id);
            }
            if rows > 0 || position.is_none() {
                tracing::info!(rows, snapshot = ?id, ms = micros / 1000, "committed bronze.{table}");
            } else {
                tracing::debug!(snapshot = ?id, ms = micros / 1000, "position committed to bronze.{table}");
            }
        }
        self.pending_rows = 0;
        self.commit_quarantine().await?;
        let last_snapshot = snapshot.or(self.last_snapshot);
        let now = chrono::Utc::now().timestamp_micros();
        let members = std::mem::take(&mut self.pending_members);
        if !members.is_empty() {
            let mut ledger_props = HashMap::from([(RUN_ID.to_string(), self.run_id.clone())]);
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
        Ok(())
    }

    /// Commits the pending quarantine records.
    async fn commit_quarantine(&mut self) -> Result<(), IngestError> {
        let rejected = std::mem::take(&mut self.pending_quarantine);
        if rejected.is_empty() {
            return Ok(());
        }
        let prefix = self.next_prefix("-quarantine");
        let props = HashMap::from([(RUN_ID.to_string(), self.run_id.clone())]);
        self.lakehouse
            .append(
                BronzeTable::Quarantine,
                |schema| quarantine_batch(schema, &rejected),
                &prefix,
                props,
            )
            .await?;
        Ok(())
    }
}
