//! Exactly once with concurrent writers: the sink's alert commit goes only onto a snapshot
//! whose new keys were checked. Rows other writers committed first are taken out of this
//! run's uncommitted files before the commit is tried again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ateda_decode::{hex, TableSchema};
use ateda_lakehouse::{
    key_ranges, parquet_bytes, stream_offsets_at, stream_offsets_property, Appended, BronzeTable,
    LakehouseError, QuarantineRow, StreamOffsets, LEDGER_FOLLOWS, RUN_ID,
};
use ateda_objects::quarantine_key;
use iceberg::spec::DataFile;

use super::Sink;
use crate::counters::{add, sub};
use crate::feed::Position;
use crate::IngestError;

/// Key ranges per commit-time check.
const CHECK_RANGES: usize = 64;

/// The alerts other writers committed while this run goes on.
#[derive(Default)]
pub(super) struct Others {
    /// The newest snapshot whose ancestry back to the run's base has been walked (the
    /// run's base at first, then each commit of its own): a commit may go onto it.
    pub(super) validated: Option<i64>,
    /// The table as last loaded when the branch had moved.
    pub(super) table: Option<iceberg::table::Table>,
    /// Data files other runs added since the base.
    pub(super) files: HashSet<String>,
    /// Of those, the files whose keys were read.
    pub(super) read: HashSet<String>,
    /// Keys (with content hashes) in the files read.
    pub(super) keys: HashMap<i64, Option<[u8; 32]>>,
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
    ///
    /// With a stream `position`, the commit carries the group's position map (the one
    /// recorded at the snapshot it goes onto, merged with `position`), and is made even
    /// when no row is new (a snapshot with no data file), so the position moves on.
    pub(super) async fn commit_checked(
        &mut self,
        mut groups: Vec<(Arc<TableSchema>, Vec<DataFile>)>,
        position: Option<&Position>,
    ) -> Result<(Option<i64>, usize), IngestError> {
        loop {
            groups = self.take_out_committed(groups).await?;
            let mut files: Vec<DataFile> = groups.iter().flat_map(|g| g.1.clone()).collect();
            let mut rows = self.pending_keys.len();
            if files.is_empty() || rows == 0 {
                if position.is_none() {
                    return Ok((None, 0));
                }
                // every row was taken out: a position-only commit
                files.clear();
                rows = 0;
            }
            let mut props = HashMap::from([
                (RUN_ID.to_string(), self.run_id.clone()),
                ("ateda.rows".to_string(), rows.to_string()),
            ]);
            if rows > 0 {
                props.insert(LEDGER_FOLLOWS.to_string(), "follows".to_string());
            }
            let mut merged = None;
            if let Some(p) = position {
                let mut map = self.recorded_offsets(&p.group).await?;
                map.merge_max(&p.offsets);
                props.insert(stream_offsets_property(&p.group), map.to_json());
                merged = Some(map);
            }
            match self
                .lakehouse
                .commit_at(BronzeTable::Alerts, self.others.validated, files, props)
                .await?
            {
                Appended::Committed(id) => {
                    self.others.validated = Some(id);
                    self.pending_keys.clear();
                    if let Some(map) = merged {
                        self.recorded = Some((id, map));
                    }
                    return Ok((Some(id), rows));
                }
                Appended::Moved => self.walk_new_snapshots().await?,
            }
        }
    }

    /// The group's position map recorded at the snapshot the next commit goes onto (the
    /// newest carrying it in that snapshot's history; empty when none does).
    async fn recorded_offsets(&mut self, group: &str) -> Result<StreamOffsets, IngestError> {
        let Some(at) = self.others.validated else {
            return Ok(StreamOffsets::new());
        };
        if let Some((id, map)) = &self.recorded {
            if *id == at {
                return Ok(map.clone());
            }
        }
        let table = self.lakehouse.load(BronzeTable::Alerts).await?;
        let map = stream_offsets_at(&table, group, Some(at))
            .map_err(|e| IngestError::Lakehouse(LakehouseError::Config(e.to_string())))?
            .map(|(_, m)| m)
            .unwrap_or_default();
        self.recorded = Some((at, map.clone()));
        Ok(map)
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
