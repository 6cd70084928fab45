//! Finding alert commits whose ledger commit never came: a run stopped (killed, lost its
//! catalog) between committing its rows and committing their `bronze.ingest_ledger` rows.
//! Iceberg has no multi-table commit, so the ledger is repaired afterwards from the rows.

use std::collections::{HashMap, HashSet};

use arrow_array::{Array, StringArray};
use futures::TryStreamExt;
use iceberg::table::Table;

use crate::error::{ice, LakehouseError};
use crate::{BronzeTable, Lakehouse};

/// Snapshot property of an alerts commit whose ledger commit follows it.
pub const LEDGER_FOLLOWS: &str = "ateda.ledger";
/// Snapshot property of a ledger commit: the alerts snapshot its rows account for.
pub const ALERTS_SNAPSHOT: &str = "ateda.alerts-snapshot";
/// Snapshot property: the ingest run that made a commit.
pub const RUN_ID: &str = "ateda.run-id";

/// An alerts commit with no ledger commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrecorded {
    /// The alerts snapshot.
    pub snapshot: i64,
    /// The run that committed it.
    pub run_id: String,
}

impl Lakehouse {
    /// Alerts snapshots marked [`LEDGER_FOLLOWS`], older than `grace_ms` (a live run
    /// commits its ledger right after its rows), that no ledger snapshot names in
    /// [`ALERTS_SNAPSHOT`]. Only snapshots since the oldest ledger snapshot still in the
    /// ledger's metadata are considered, so expiring old snapshots never makes a recorded
    /// commit look unrecorded. Reads metadata only.
    pub async fn unrecorded_alert_commits(
        &self,
        grace_ms: i64,
        now_ms: i64,
    ) -> Result<Vec<Unrecorded>, LakehouseError> {
        let alerts = self.load(BronzeTable::Alerts).await?;
        let ledger = self.load(BronzeTable::Ledger).await?;
        let mut recorded = HashSet::new();
        // a ledger that never had a commit has no history to have expired
        let mut oldest = i64::MIN;
        for s in ledger.metadata().snapshots() {
            oldest = if oldest == i64::MIN {
                s.timestamp_ms()
            } else {
                oldest.min(s.timestamp_ms())
            };
            if let Some(id) = s.summary().additional_properties.get(ALERTS_SNAPSHOT) {
                if let Ok(id) = id.parse::<i64>() {
                    recorded.insert(id);
                }
            }
        }
        let mut out: Vec<(i64, Unrecorded)> = alerts
            .metadata()
            .snapshots()
            .filter(|s| {
                let props = &s.summary().additional_properties;
                props.contains_key(LEDGER_FOLLOWS)
                    && s.timestamp_ms() >= oldest
                    && s.timestamp_ms() <= now_ms - grace_ms
                    && !recorded.contains(&s.snapshot_id())
            })
            .filter_map(|s| {
                let run = s.summary().additional_properties.get(RUN_ID)?;
                Some((
                    s.timestamp_ms(),
                    Unrecorded {
                        snapshot: s.snapshot_id(),
                        run_id: run.clone(),
                    },
                ))
            })
            .collect();
        out.sort_by_key(|(t, _)| *t);
        Ok(out.into_iter().map(|(_, u)| u).collect())
    }

    /// `(ingest_source, rows)` of the rows an alerts snapshot added.
    pub async fn sources_added_by(
        &self,
        snapshot: i64,
    ) -> Result<Vec<(String, i64)>, LakehouseError> {
        let table = self.load(BronzeTable::Alerts).await?;
        let files = added_by(&table, snapshot).await?;
        let scan = table
            .scan()
            .snapshot_id(snapshot)
            .select([ateda_schema::columns::INGEST_SOURCE])
            .build()
            .map_err(ice("planning the ledger repair"))?;
        let mut counts: HashMap<String, i64> = HashMap::new();
        let (_, mut stream) =
            crate::keys::read_files(&table, &scan, |f| files.contains(f), "the ledger repair")
                .await?;
        while let Some(b) = stream
            .try_next()
            .await
            .map_err(ice("reading rows for the ledger repair"))?
        {
            let Some(col) = b.column(0).as_any().downcast_ref::<StringArray>() else {
                continue;
            };
            for i in 0..col.len() {
                if col.is_valid(i) {
                    *counts.entry(col.value(i).to_string()).or_default() += 1;
                }
            }
        }
        let mut out: Vec<_> = counts.into_iter().collect();
        out.sort();
        Ok(out)
    }
}

/// Data files a snapshot added.
pub(crate) async fn added_by(table: &Table, id: i64) -> Result<HashSet<String>, LakehouseError> {
    let mut out = HashSet::new();
    let Some(snap) = table.metadata().snapshot_by_id(id) else {
        return Ok(out);
    };
    let list = table
        .manifest_list_reader(snap)
        .load()
        .await
        .map_err(ice("reading a manifest list"))?;
    for mf in list.entries() {
        if mf.added_snapshot_id != id {
            continue;
        }
        let manifest = mf
            .load_manifest(table.file_io())
            .await
            .map_err(ice("reading a manifest"))?;
        for e in manifest.entries() {
            if e.status() == iceberg::spec::ManifestStatus::Added && e.snapshot_id() == Some(id) {
                out.insert(e.data_file().file_path().to_string());
            }
        }
    }
    Ok(out)
}
