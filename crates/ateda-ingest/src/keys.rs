//! Exactly once by key, before anything is uploaded: each decoded alert's key is looked
//! up among the keys the table held when the run started and the keys this run already
//! claimed. A new key is claimed for its first packet; the same key again with the same
//! content is already present; with other content it is a conflict (the first stays).
//!
//! Keys committed by concurrent writers after the run started are checked at commit time
//! (the sink, with [`ateda_lakehouse::Lakehouse::commit_at`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ateda_lakehouse::{key_ranges, BronzeTable, Lakehouse};
use iceberg::table::Table;

use crate::IngestError;

/// At most this many key ranges per lookup (an outlier key gets its own range).
const MAX_RANGES: usize = 16;

/// What a decoded alert is, by its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not stored, not seen in this run: claimed by this alert.
    New,
    /// Stored (or claimed earlier in this run) with the same content.
    Present,
    /// Stored (or claimed) with other content: the first stays.
    Conflict {
        /// The content hash of the stored row.
        stored: [u8; 32],
    },
}

struct State {
    /// Keys stored when the run started (from the files read so far) or claimed since,
    /// with their content hash (`None`: a row stored before hashes were recorded).
    keys: HashMap<i64, Option<[u8; 32]>>,
    /// Data files of the base snapshot already read.
    files_read: HashSet<String>,
}

/// The run's view of the keys in the alerts table.
pub(crate) struct KeyIndex {
    lakehouse: Arc<Lakehouse>,
    base: Table,
    state: tokio::sync::Mutex<State>,
}

impl KeyIndex {
    /// Loads the alerts table as it is now: the base the run's keys are checked against.
    pub(crate) async fn open(lakehouse: Arc<Lakehouse>) -> Result<KeyIndex, IngestError> {
        let base = lakehouse.load(BronzeTable::Alerts).await?;
        Ok(KeyIndex {
            lakehouse,
            base,
            state: tokio::sync::Mutex::new(State {
                keys: HashMap::new(),
                files_read: HashSet::new(),
            }),
        })
    }

    /// The snapshot the run's keys were checked against.
    pub(crate) fn base_snapshot(&self) -> Option<i64> {
        self.base.metadata().current_snapshot_id()
    }

    /// Verdicts for alerts `(key, content hash)` in order, claiming the new keys.
    pub(crate) async fn claim(
        &self,
        alerts: &[(i64, [u8; 32])],
    ) -> Result<Vec<Verdict>, IngestError> {
        let mut state = self.state.lock().await;
        let mut unknown: Vec<i64> = alerts
            .iter()
            .map(|a| a.0)
            .filter(|k| !state.keys.contains_key(k))
            .collect();
        if !unknown.is_empty() && self.base.metadata().current_snapshot().is_some() {
            let ranges = key_ranges(&mut unknown, MAX_RANGES);
            let read = &state.files_read;
            let (files, stored) = self
                .lakehouse
                .stored_keys(&self.base, &ranges, |f| !read.contains(f))
                .await?;
            if !files.is_empty() {
                tracing::debug!(files = files.len(), keys = stored.len(), "read stored keys");
            }
            state.files_read.extend(files);
            for (k, sha) in stored {
                state.keys.entry(k).or_insert(sha);
            }
        }
        let mut verdicts = Vec::with_capacity(alerts.len());
        for &(key, sha) in alerts {
            let v = match state.keys.get(&key) {
                None => Verdict::New,
                Some(Some(stored)) if *stored != sha => Verdict::Conflict { stored: *stored },
                Some(_) => Verdict::Present,
            };
            if v == Verdict::New {
                state.keys.insert(key, Some(sha));
            }
            verdicts.push(v);
        }
        Ok(verdicts)
    }
}
