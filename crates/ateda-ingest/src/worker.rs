//! A decode worker: members into Arrow rows (one builder per worker), stamps written
//! before the rows are handed on, the table schema evolved when a writer schema needs it.

use std::sync::Arc;

use arrow_array::RecordBatch;
use ateda_decode::{Added, AlertBatchBuilder, TableSchema};
use ateda_objects::{Bucket, Put};
use ateda_source::Item;

use crate::counters::{add, Live};
use crate::registry::{Refused, SchemaRegistry};
use crate::IngestError;

/// How often a member may ask for the schema to change before it is quarantined (a
/// writer schema whose needs keep changing under it).
const EVOLVE_TRIES: usize = 3;

/// Decoded rows whose stamps are already stored.
pub(crate) struct Decoded {
    /// The table schema the rows were built for.
    pub table: Arc<TableSchema>,
    /// The rows.
    pub batch: RecordBatch,
    /// (key, night) per row.
    pub keys: Vec<(i64, i32)>,
    /// Source members in row order with their row counts.
    pub members: Vec<(String, usize)>,
}

/// What the decode workers send to the sink.
pub(crate) enum Chunk {
    /// Rows ready to be deduplicated and written.
    Alerts(Decoded),
    /// A member that cannot be ingested.
    Rejected {
        source: String,
        reason: String,
        bytes: Vec<u8>,
    },
    /// A failure that stops the run.
    Failed(IngestError),
}

/// A decode worker's state.
pub(crate) struct Worker {
    pub builder: AlertBatchBuilder,
    pub chunk_alerts: usize,
    pub live: Live,
    pub cutouts: Bucket,
    pub uploads: usize,
    pub runtime: tokio::runtime::Handle,
    pub registry: Arc<SchemaRegistry>,
}

impl Worker {
    /// Finishes the buffered rows and stores their stamps (before the rows can ever be
    /// committed).
    fn flush(&mut self) -> Result<Decoded, IngestError> {
        let batch = self
            .builder
            .finish()
            .map_err(|e| IngestError::Internal(format!("building an Arrow batch failed: {e}")))?;
        let mut uploads = Vec::with_capacity(batch.stamps.len() * 3);
        let mut keys = Vec::with_capacity(batch.stamps.len());
        for s in batch.stamps {
            keys.push((s.key, s.night));
            uploads.extend(s.stamps.into_iter().flatten().map(|st| (st.key, st.data)));
        }
        let results = self
            .runtime
            .block_on(self.cutouts.put_many_if_absent(uploads, self.uploads))?;
        let created = results.iter().filter(|p| **p == Put::Created).count() as u64;
        add(&self.live.cutouts_written, created);
        add(&self.live.cutouts_present, results.len() as u64 - created);
        Ok(Decoded {
            table: batch.table,
            batch: batch.batch,
            keys,
            members: batch.members,
        })
    }

    /// Sends the buffered rows on; false when the run is over (failure or no sink).
    fn send_flush(&mut self, tx: &tokio::sync::mpsc::Sender<Chunk>) -> bool {
        let chunk = match self.flush() {
            Ok(d) => Chunk::Alerts(d),
            Err(e) => Chunk::Failed(e),
        };
        let failed = matches!(chunk, Chunk::Failed(_));
        if tx.blocking_send(chunk).is_err() || failed {
            return false;
        }
        // Between batches: build further rows for the newest schema this run knows.
        let newest = self.registry.current();
        if newest.id != self.builder.table().id {
            if let Err(e) = self.builder.set_table(newest) {
                let _ = tx.blocking_send(Chunk::Failed(IngestError::Layout(e.to_string())));
                return false;
            }
        }
        true
    }

    /// Decodes one member, evolving the table first when its writer schema needs it.
    /// Returns the rejection to send, if any; `Err` when the run must stop.
    fn member(
        &mut self,
        source: &str,
        bytes: &bytes::Bytes,
        tx: &tokio::sync::mpsc::Sender<Chunk>,
    ) -> Result<Option<String>, ()> {
        for _ in 0..EVOLVE_TRIES {
            let writer = match self.builder.add_member(source, bytes) {
                Ok(Added::Rows(n)) => {
                    add(&self.live.alerts, n as u64);
                    return Ok(None);
                }
                Ok(Added::NeedsChanges { writer, .. }) => writer,
                Err(e) => return Ok(Some(e.to_string())),
            };
            let table = match self.runtime.block_on(self.registry.evolve(&writer)) {
                Ok(t) => t,
                Err(Refused::Reject(reason)) => return Ok(Some(reason)),
                Err(Refused::Fatal(e)) => {
                    let _ = tx.blocking_send(Chunk::Failed(e));
                    return Err(());
                }
            };
            if !self.builder.is_empty() && !self.send_flush(tx) {
                return Err(());
            }
            if let Err(e) = self.builder.set_table(table) {
                let _ = tx.blocking_send(Chunk::Failed(IngestError::Layout(e.to_string())));
                return Err(());
            }
        }
        Ok(Some(format!(
            "the table schema kept changing under this writer schema ({EVOLVE_TRIES} tries)"
        )))
    }
}

/// Runs a worker on its own thread until the members run out or the sink is gone.
pub(crate) fn spawn_worker(
    mut w: Worker,
    rx: crossbeam_channel::Receiver<Item>,
    tx: tokio::sync::mpsc::Sender<Chunk>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for item in rx {
            let rejected = match item {
                Item::Member(m) => {
                    let bytes = bytes::Bytes::from(m.bytes);
                    match w.member(&m.source, &bytes, &tx) {
                        Ok(None) => None,
                        Ok(Some(reason)) => Some(Chunk::Rejected {
                            source: m.source,
                            reason,
                            bytes: bytes.to_vec(),
                        }),
                        Err(()) => return,
                    }
                }
                Item::Unreadable(u) => Some(Chunk::Rejected {
                    source: u.source,
                    reason: u.reason,
                    bytes: u.bytes,
                }),
            };
            if let Some(c) = rejected {
                if tx.blocking_send(c).is_err() {
                    return;
                }
            }
            if w.builder.len() >= w.chunk_alerts && !w.send_flush(&tx) {
                return;
            }
        }
        if !w.builder.is_empty() {
            w.send_flush(&tx);
        }
    })
}
