//! A decode worker: members routed to their survey's lane and decoded into Arrow rows
//! (one builder per survey per worker), keys claimed (rows
//! already stored dropped, conflicting packets quarantined) and then the stamps of the
//! new rows written (per-stamp layout) or handed on with the rows (packed layout: the
//! sink packs them), before the rows are handed on; the table schema evolved when a
//! writer schema needs it.

use std::sync::Arc;

use arrow_array::RecordBatch;
use ateda_decode::{hex, Added, AlertBatchBuilder, TableSchema};
use ateda_objects::{Bucket, Put};
use ateda_source::Item;

use crate::counters::{add, Live};
use crate::feed::Work;
use crate::keys::{KeyIndex, Verdict};
use crate::registry::{Refused, SchemaRegistry};
use crate::IngestError;

/// Member bytes a worker buffers before it flushes, whatever `--chunk` says: the stamps
/// of buffered rows are slices of their members, so a chunk of large packets would
/// otherwise hold chunk x member-cap bytes.
const FLUSH_BYTES: usize = 256 << 20;

/// At most this many conflicting keys are named in one quarantine reason.
const CONFLICTS_NAMED: usize = 5;

/// How often a member may ask for the schema to change before it is quarantined (a
/// writer schema whose needs keep changing under it).
const EVOLVE_TRIES: usize = 3;

/// A member's accounting: alerts decoded, and how many of them are new rows.
pub(crate) struct MemberCount {
    /// Where it was read.
    pub source: String,
    /// Alerts it held.
    pub alerts: usize,
    /// Of those, rows handed on (new keys).
    pub ingested: usize,
}

/// New rows (keys claimed by this run) whose stamps are stored.
pub(crate) struct Decoded {
    /// The table schema the rows were built for.
    pub table: Arc<TableSchema>,
    /// The new rows.
    pub batch: RecordBatch,
    /// (key, content hash, index into `members`) per row.
    pub keys: Vec<(i64, [u8; 32], usize)>,
    /// Every member decoded, in order.
    pub members: Vec<MemberCount>,
    /// Packed layout: per new row, its night and its stamps in the survey's stamp order
    /// (copied into one buffer per batch: [`compact`]); empty in the per-stamp layout,
    /// where the stamps are already stored.
    pub stamps: Vec<RowStamps>,
}

/// The stamps of one new row, for the packed layout.
pub(crate) struct RowStamps {
    /// Observation night (days since 1970-01-01).
    pub night: i32,
    /// The stamp bytes per kind; `None` where the packet had none.
    pub stamps: Vec<Option<bytes::Bytes>>,
}

/// What the decode workers send to the sink.
pub(crate) enum Chunk {
    /// Rows of one survey (its lane index) ready to be written.
    Alerts(usize, Decoded),
    /// A member that cannot be ingested (the lane it was routed to).
    Rejected {
        lane: usize,
        source: String,
        reason: String,
        bytes: Vec<u8>,
    },
    /// A worker handed on everything it held before a commit point.
    Barrier,
    /// A failure that stops the run.
    Failed(IngestError),
}

/// One survey's part of a worker: its builder, table schema, keys and buffered members.
pub(crate) struct Lane {
    pub builder: AlertBatchBuilder,
    pub registry: Arc<SchemaRegistry>,
    pub keys: Arc<KeyIndex>,
    /// Name of the key field (in quarantine reasons).
    pub key_name: &'static str,
    /// The bytes of the members buffered in the builder, in order (shared, not copied:
    /// the stamps are slices of them anyway), kept until their keys are claimed.
    pub member_bytes: Vec<bytes::Bytes>,
    /// Their total size.
    pub buffered_bytes: usize,
}

/// A decode worker's state.
pub(crate) struct Worker {
    /// One lane per survey, in the run's survey order.
    pub lanes: Vec<Lane>,
    /// Which lane a member goes to.
    pub router: ateda_decode::Router,
    pub chunk_alerts: usize,
    pub live: Live,
    pub cutouts: Bucket,
    /// Packed layout: stamps go to the sink with their rows instead of being written here.
    pub packed: bool,
    pub uploads: usize,
    pub runtime: tokio::runtime::Handle,
}

impl Worker {
    /// Finishes the buffered rows, claims their keys and stores the stamps of the new
    /// ones (before those rows can ever be committed). Members holding a key stored with
    /// other content come back as rejections.
    fn flush(&mut self, li: usize) -> Result<(Decoded, Vec<Chunk>), IngestError> {
        let lane = &mut self.lanes[li];
        let batch = lane
            .builder
            .finish()
            .map_err(|e| IngestError::Internal(format!("building an Arrow batch failed: {e}")))?;
        let member_bytes = std::mem::take(&mut lane.member_bytes);
        lane.buffered_bytes = 0;
        let key_name = lane.key_name;
        let alerts: Vec<(i64, [u8; 32])> = batch.stamps.iter().map(|s| (s.key, s.sha256)).collect();
        let verdicts = self.runtime.block_on(lane.keys.claim(&alerts))?;
        let keep: Vec<bool> = verdicts.iter().map(|v| *v == Verdict::New).collect();
        let mut uploads = Vec::new();
        let mut packed = Vec::new();
        let new_rows = batch.stamps.into_iter().zip(&keep).filter(|(_, k)| **k);
        if self.packed {
            packed = compact(new_rows.map(|(s, _)| s).collect());
        } else {
            for (s, _) in new_rows {
                uploads.extend(s.stamps.into_iter().flatten().map(|st| (st.key, st.data)));
            }
        }
        let mut keys = Vec::with_capacity(alerts.len());
        let mut members = Vec::with_capacity(batch.members.len());
        let mut rejected = Vec::new();
        let mut row = 0;
        for (m, ((source, n), bytes)) in batch.members.into_iter().zip(member_bytes).enumerate() {
            let (verdicts, alerts) = (&verdicts[row..row + n], &alerts[row..row + n]);
            let mut conflicts = Vec::new();
            for (v, &(key, sha)) in verdicts.iter().zip(alerts) {
                match v {
                    Verdict::New => keys.push((key, sha, m)),
                    Verdict::Present => add(&self.live.already_present, 1),
                    Verdict::Conflict { stored } => {
                        add(&self.live.conflicts, 1);
                        conflicts.push(format!(
                            "{} {key}: stored sha256 {}, this packet sha256 {}",
                            key_name,
                            hex(stored),
                            hex(&sha)
                        ));
                    }
                }
            }
            if !conflicts.is_empty() {
                let more = conflicts.len().saturating_sub(CONFLICTS_NAMED);
                conflicts.truncate(CONFLICTS_NAMED);
                let mut reason = format!(
                    "duplicate {} with different content (the stored row stays): {}",
                    key_name,
                    conflicts.join("; ")
                );
                if more > 0 {
                    reason.push_str(&format!("; and {more} more"));
                }
                rejected.push(Chunk::Rejected {
                    lane: li,
                    source: source.clone(),
                    reason,
                    bytes: bytes.to_vec(),
                });
            }
            let ingested = verdicts.iter().filter(|v| **v == Verdict::New).count();
            members.push(MemberCount {
                source,
                alerts: n,
                ingested,
            });
            row += n;
        }
        let rows = if keys.len() == alerts.len() {
            batch.batch
        } else {
            let mask = arrow_array::BooleanArray::from(keep);
            arrow_select::filter::filter_record_batch(&batch.batch, &mask)
                .map_err(|e| IngestError::Layout(e.to_string()))?
        };
        let results = self
            .runtime
            .block_on(self.cutouts.put_many_if_absent(uploads, self.uploads))?;
        let created = results.iter().filter(|p| **p == Put::Created).count() as u64;
        add(&self.live.cutouts_written, created);
        add(&self.live.cutouts_present, results.len() as u64 - created);
        Ok((
            Decoded {
                table: batch.table,
                batch: rows,
                keys,
                members,
                stamps: packed,
            },
            rejected,
        ))
    }

    /// Sends the buffered rows on; false when the run is over (failure or no sink).
    fn send_flush(&mut self, li: usize, tx: &tokio::sync::mpsc::Sender<Chunk>) -> bool {
        let chunks = match self.flush(li) {
            Ok((d, rejected)) => std::iter::once(Chunk::Alerts(li, d))
                .chain(rejected)
                .collect(),
            Err(e) => vec![Chunk::Failed(e)],
        };
        for chunk in chunks {
            let failed = matches!(chunk, Chunk::Failed(_));
            if tx.blocking_send(chunk).is_err() || failed {
                return false;
            }
        }
        // Between batches: build further rows for the newest schema this run knows.
        let lane = &mut self.lanes[li];
        let newest = lane.registry.current();
        if newest.id != lane.builder.table().id {
            if let Err(e) = lane.builder.set_table(newest) {
                let _ = tx.blocking_send(Chunk::Failed(IngestError::Layout(e.to_string())));
                return false;
            }
        }
        true
    }

    /// Sends every lane's buffered rows on; false when the run is over.
    fn flush_all(&mut self, tx: &tokio::sync::mpsc::Sender<Chunk>) -> bool {
        for li in 0..self.lanes.len() {
            if !self.lanes[li].builder.is_empty() && !self.send_flush(li, tx) {
                return false;
            }
        }
        true
    }

    /// Decodes one member, evolving the table first when its writer schema needs it.
    /// Returns the rejection to send, if any; `Err` when the run must stop.
    fn member(
        &mut self,
        li: usize,
        source: &str,
        bytes: &bytes::Bytes,
        tx: &tokio::sync::mpsc::Sender<Chunk>,
    ) -> Result<Option<String>, ()> {
        for _ in 0..EVOLVE_TRIES {
            let lane = &mut self.lanes[li];
            let writer = match lane.builder.add_member(source, bytes) {
                Ok(Added::Rows(n)) => {
                    add(&self.live.alerts, n as u64);
                    lane.member_bytes.push(bytes.clone());
                    lane.buffered_bytes += bytes.len();
                    return Ok(None);
                }
                Ok(Added::NeedsChanges { writer, .. }) => writer,
                Err(e) => return Ok(Some(e.to_string())),
            };
            let table = match self.runtime.block_on(lane.registry.evolve(&writer)) {
                Ok(t) => t,
                Err(Refused::Reject(reason)) => return Ok(Some(reason)),
                Err(Refused::Fatal(e)) => {
                    let _ = tx.blocking_send(Chunk::Failed(e));
                    return Err(());
                }
            };
            if !self.lanes[li].builder.is_empty() && !self.send_flush(li, tx) {
                return Err(());
            }
            if let Err(e) = self.lanes[li].builder.set_table(table) {
                let _ = tx.blocking_send(Chunk::Failed(IngestError::Layout(e.to_string())));
                return Err(());
            }
        }
        Ok(Some(format!(
            "the table schema kept changing under this writer schema ({EVOLVE_TRIES} tries)"
        )))
    }
}

/// The stamps of a batch's new rows for the packed layout, copied back to back into one
/// buffer of their own: a stamp is a slice of its packet's buffer, and until its pack is
/// written the slice would keep the whole packet (its read buffer included) alive. The
/// packs hold these slices as they are (`ateda_objects::Packs`: no second copy).
fn compact(rows: Vec<ateda_decode::AlertStamps>) -> Vec<RowStamps> {
    let total: usize = rows
        .iter()
        .flat_map(|r| r.stamps.iter().flatten())
        .map(|st| st.data.len())
        .sum();
    let mut buf = bytes::BytesMut::with_capacity(total);
    let mut spans = Vec::with_capacity(rows.len());
    for r in &rows {
        let kinds: Vec<Option<(usize, usize)>> = r
            .stamps
            .iter()
            .map(|st| {
                st.as_ref().map(|st| {
                    let at = buf.len();
                    buf.extend_from_slice(&st.data);
                    (at, st.data.len())
                })
            })
            .collect();
        spans.push((r.night, kinds));
    }
    let buf = buf.freeze();
    spans
        .into_iter()
        .map(|(night, kinds)| RowStamps {
            night,
            stamps: kinds
                .into_iter()
                .map(|k| k.map(|(at, len)| buf.slice(at..at + len)))
                .collect(),
        })
        .collect()
}

/// Runs a worker on its own thread until the members run out or the sink is gone.
pub(crate) fn spawn_worker(
    mut w: Worker,
    rx: crossbeam_channel::Receiver<Work>,
    tx: tokio::sync::mpsc::Sender<Chunk>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for work in rx {
            let item = match work {
                Work::Item(item) => item,
                Work::Flush => {
                    if !w.flush_all(&tx) || tx.blocking_send(Chunk::Barrier).is_err() {
                        return;
                    }
                    continue;
                }
            };
            let mut li = 0;
            let rejected = match item {
                Item::Member(m) => {
                    let bytes = bytes::Bytes::from(m.bytes);
                    li = w.router.route(&bytes).min(w.lanes.len().saturating_sub(1));
                    match w.member(li, &m.source, &bytes, &tx) {
                        Ok(None) => None,
                        Ok(Some(reason)) => Some(Chunk::Rejected {
                            lane: li,
                            source: m.source,
                            reason,
                            bytes: bytes.to_vec(),
                        }),
                        Err(()) => return,
                    }
                }
                Item::Unreadable(u) => Some(Chunk::Rejected {
                    lane: 0,
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
            let lane = &w.lanes[li];
            let full = lane.builder.len() >= w.chunk_alerts || lane.buffered_bytes >= FLUSH_BYTES;
            if full && !w.send_flush(li, &tx) {
                return;
            }
        }
        w.flush_all(&tx);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ateda_decode::{AlertStamps, Stamp};
    use bytes::Bytes;

    fn stamp(packet: &Bytes, at: usize, len: usize) -> Option<Stamp> {
        Some(Stamp {
            file_name: None,
            data: packet.slice(at..at + len),
            key: format!("k{at}"),
        })
    }

    #[test]
    fn compact_keeps_every_stamp_exact_and_lets_the_packets_go() {
        let packets: Vec<Bytes> = (0..3u8)
            .map(|i| Bytes::from((0..10_000u32).map(|j| (j as u8) ^ i).collect::<Vec<u8>>()))
            .collect();
        let rows: Vec<AlertStamps> = packets
            .iter()
            .enumerate()
            .map(|(i, p)| AlertStamps {
                key: i as i64 + 1,
                night: 19_000 + i as i32,
                sha256: [0; 32],
                stamps: vec![stamp(p, 100, 2_000), None, stamp(p, 5_000, 3_000 + i)],
            })
            .collect();
        let want: Vec<(i32, Vec<Option<Vec<u8>>>)> = rows
            .iter()
            .map(|r| {
                let s = r.stamps.iter().map(|s| s.as_ref().map(|s| s.data.to_vec()));
                (r.night, s.collect())
            })
            .collect();
        let packed = compact(rows);
        let got: Vec<(i32, Vec<Option<Vec<u8>>>)> = packed
            .iter()
            .map(|r| {
                let s = r.stamps.iter().map(|s| s.as_ref().map(|s| s.to_vec()));
                (r.night, s.collect())
            })
            .collect();
        assert_eq!(got, want);
        // While the compacted stamps live, the packets are referenced by nothing else.
        for p in packets {
            assert!(p.is_unique(), "a packet buffer is still shared");
        }
        drop(packed);
    }
}
