//! Reader, decode workers and the writer task.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{BooleanArray, RecordBatch};
use ateda_decode::{AlertBatchBuilder, RowContext};
use ateda_lakehouse::{
    ledger_batch, quarantine_batch, BronzeTable, DataWriter, Lakehouse, LakehouseConfig,
    LakehouseError, LedgerRow, QuarantineRow,
};
use ateda_objects::{quarantine_key, stamp_key, Bucket, ObjectError, Put};
use ateda_source::{Item, Plan, Progress};
use ateda_ztf_schema::CUTOUTS;
use futures::TryStreamExt;
use serde::Serialize;

/// Errors that stop an ingest run (bad *input* never does: it is quarantined).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A source path is missing or unreadable.
    #[error(transparent)]
    Source(#[from] ateda_source::SourceError),
    /// The catalog or table storage failed.
    #[error(transparent)]
    Lakehouse(#[from] LakehouseError),
    /// Object storage failed (after retries).
    #[error(transparent)]
    Objects(#[from] ObjectError),
    /// Building the row layout failed (a bug or an incompatible table).
    #[error("bronze row layout: {0}")]
    Layout(String),
    /// A worker thread stopped unexpectedly.
    #[error("internal: {0}")]
    Internal(String),
}

/// What to ingest and where.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Files, directories or tarballs.
    pub sources: Vec<PathBuf>,
    /// Catalog and warehouse.
    pub lakehouse: LakehouseConfig,
    /// Root URI of the cutout objects.
    pub cutouts: String,
    /// Root URI of quarantined bytes.
    pub quarantine: String,
    /// Alerts per Iceberg commit.
    pub commit_every: usize,
    /// Alerts per decoded Arrow chunk.
    pub chunk_alerts: usize,
    /// Decode worker threads.
    pub workers: usize,
    /// Stamp uploads in flight.
    pub upload_concurrency: usize,
}

/// Counters readable while the run goes on (for a progress bar or metrics).
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
    /// Members quarantined.
    pub quarantined: Arc<AtomicU64>,
    /// Commits made.
    pub commits: Arc<AtomicU64>,
    /// Stamp objects created.
    pub cutouts_written: Arc<AtomicU64>,
    /// Total commit wall time in microseconds.
    pub commit_micros: Arc<AtomicU64>,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Run id (also in every row and snapshot summary).
    pub run_id: String,
    /// Alerts decoded from the sources.
    pub alerts_seen: u64,
    /// Alerts added to `bronze.alerts`.
    pub ingested: u64,
    /// Alerts whose candid was already stored (or repeated in the input).
    pub already_present: u64,
    /// Members rejected and quarantined.
    pub quarantined: u64,
    /// Of those, members already recorded in `bronze.quarantine` by an earlier run.
    pub quarantined_before: u64,
    /// Stamp objects created.
    pub cutouts_written: u64,
    /// Stamp objects that already existed.
    pub cutouts_present: u64,
    /// Files skipped inside directories (not .avro or tarballs).
    pub skipped_files: u64,
    /// Iceberg commits to `bronze.alerts`.
    pub commits: u64,
    /// Last `bronze.alerts` snapshot written by this run.
    pub snapshot_id: Option<i64>,
    /// Source bytes read.
    pub bytes_read: u64,
    /// Wall time in seconds.
    pub elapsed_s: f64,
    /// Alerts decoded per second.
    pub alerts_per_s: f64,
}

/// Decoded rows whose stamps are already stored.
struct Decoded {
    batch: RecordBatch,
    /// (candid, night) per row.
    keys: Vec<(i64, i32)>,
    members: Vec<(String, usize)>,
    cutouts_created: u64,
    cutouts_existed: u64,
}

/// What the decode workers send to the writer.
enum Chunk {
    Alerts(Decoded),
    Rejected {
        source: String,
        reason: String,
        bytes: Vec<u8>,
    },
    Failed(IngestError),
}

/// Runs an ingest. `live` is updated as the run goes on.
pub async fn ingest(opts: &IngestOptions, live: &Live) -> Result<Summary, IngestError> {
    let started = Instant::now();
    let run_id = uuid::Uuid::now_v7().to_string();
    let ingested_at_us = chrono::Utc::now().timestamp_micros();
    let plan = ateda_source::plan(&opts.sources)?;
    for skipped in &plan.skipped {
        tracing::warn!(file = %skipped.display(), "skipped: not .avro, .tar.gz, .tgz or .tar");
    }
    live.total_bytes
        .store(plan.total_bytes(), Ordering::Relaxed);

    let lakehouse = Lakehouse::open(&opts.lakehouse).await?;
    let cutouts = Bucket::open(&opts.cutouts)?;
    let quarantine = Bucket::open(&opts.quarantine)?;
    let schema = lakehouse.arrow_schema(BronzeTable::Alerts).await?;
    let uri_root = cutouts.base_uri().to_string();
    let ctx = RowContext {
        run_id: run_id.clone(),
        ingested_at_us,
        stamp_uri: Arc::new(move |night, candid, kind| {
            format!("{uri_root}/{}", stamp_key(night, candid, kind))
        }),
    };
    // Fail fast on a table the decoder cannot fill.
    AlertBatchBuilder::new(schema.clone(), ctx.clone())
        .map_err(|e| IngestError::Layout(e.to_string()))?;

    let (chunk_tx, mut chunk_rx) = tokio::sync::mpsc::channel::<Chunk>(opts.workers.max(1));
    let (item_tx, item_rx) = crossbeam_channel::bounded::<Item>(256);
    let reader = spawn_reader(plan.clone_files(), live.bytes.clone(), item_tx);
    let mut workers = Vec::new();
    for _ in 0..opts.workers.max(1) {
        workers.push(spawn_worker(
            Worker {
                builder: AlertBatchBuilder::new(schema.clone(), ctx.clone())
                    .map_err(|e| IngestError::Layout(e.to_string()))?,
                chunk_alerts: opts.chunk_alerts.max(1),
                live: live.clone(),
                cutouts: cutouts.clone(),
                uploads: opts.upload_concurrency.max(1),
                runtime: tokio::runtime::Handle::current(),
            },
            item_rx.clone(),
            chunk_tx.clone(),
        ));
    }
    drop(item_rx);
    drop(chunk_tx);

    let mut w = Writer::new(&lakehouse, quarantine, opts, run_id.clone(), live).await?;
    let mut failure = None;
    while let Some(chunk) = chunk_rx.recv().await {
        let res = match chunk {
            Chunk::Alerts(batch) => w.add(batch).await,
            Chunk::Rejected {
                source,
                reason,
                bytes,
            } => w.reject(source, reason, bytes).await,
            Chunk::Failed(e) => Err(e),
        };
        if let Err(e) = res {
            failure = Some(e);
            break;
        }
    }
    // Stop the producers promptly on failure: dropping the receiver ends them.
    drop(chunk_rx);
    for h in workers {
        h.join()
            .map_err(|_| IngestError::Internal("a decode worker panicked".into()))?;
    }
    reader
        .join()
        .map_err(|_| IngestError::Internal("the source reader panicked".into()))?;
    if let Some(e) = failure {
        return Err(e);
    }
    w.commit().await?;
    let mut s = w.summary;
    s.run_id = run_id;
    s.skipped_files = plan.skipped.len() as u64;
    s.bytes_read = live.bytes.bytes();
    s.elapsed_s = started.elapsed().as_secs_f64();
    s.alerts_per_s = if s.elapsed_s > 0.0 {
        s.alerts_seen as f64 / s.elapsed_s
    } else {
        0.0
    };
    Ok(s)
}

trait ClonePlan {
    fn clone_files(&self) -> Plan;
}

impl ClonePlan for Plan {
    fn clone_files(&self) -> Plan {
        Plan {
            files: self.files.clone(),
            skipped: Vec::new(),
        }
    }
}

fn spawn_reader(
    plan: Plan,
    progress: Progress,
    tx: crossbeam_channel::Sender<Item>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        ateda_source::read_plan(&plan, &progress, |item| tx.send(item).is_ok());
    })
}

/// A decode worker's state.
struct Worker {
    builder: AlertBatchBuilder,
    chunk_alerts: usize,
    live: Live,
    cutouts: Bucket,
    uploads: usize,
    runtime: tokio::runtime::Handle,
}

impl Worker {
    /// Finishes the buffered rows and stores their stamps (before the rows
    /// can ever be committed).
    fn flush(&mut self) -> Result<Decoded, IngestError> {
        let batch = self
            .builder
            .finish()
            .map_err(|e| IngestError::Internal(format!("building an Arrow batch failed: {e}")))?;
        let mut uploads = Vec::with_capacity(batch.stamps.len() * 3);
        let mut keys = Vec::with_capacity(batch.stamps.len());
        for s in batch.stamps {
            keys.push((s.candid, s.night));
            for (i, st) in s.stamps.into_iter().enumerate() {
                if let Some(st) = st {
                    uploads.push((stamp_key(s.night, s.candid, CUTOUTS[i].1), st.data));
                }
            }
        }
        let results = self
            .runtime
            .block_on(self.cutouts.put_many_if_absent(uploads, self.uploads))?;
        let created = results.iter().filter(|p| **p == Put::Created).count() as u64;
        self.live
            .cutouts_written
            .fetch_add(created, Ordering::Relaxed);
        Ok(Decoded {
            batch: batch.batch,
            keys,
            members: batch.members,
            cutouts_created: created,
            cutouts_existed: results.len() as u64 - created,
        })
    }
}

fn spawn_worker(
    mut w: Worker,
    rx: crossbeam_channel::Receiver<Item>,
    tx: tokio::sync::mpsc::Sender<Chunk>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let send_flush = |w: &mut Worker| -> bool {
            let chunk = match w.flush() {
                Ok(d) => Chunk::Alerts(d),
                Err(e) => Chunk::Failed(e),
            };
            let failed = matches!(chunk, Chunk::Failed(_));
            tx.blocking_send(chunk).is_ok() && !failed
        };
        for item in rx {
            let chunk = match item {
                Item::Member(m) => {
                    let bytes = bytes::Bytes::from(m.bytes);
                    match w.builder.add_member(&m.source, &bytes) {
                        Ok(n) => {
                            w.live.alerts.fetch_add(n as u64, Ordering::Relaxed);
                            None
                        }
                        Err(e) => Some(Chunk::Rejected {
                            source: m.source,
                            reason: e.to_string(),
                            bytes: bytes.to_vec(),
                        }),
                    }
                }
                Item::Unreadable(u) => Some(Chunk::Rejected {
                    source: u.source,
                    reason: u.reason,
                    bytes: u.bytes,
                }),
            };
            if let Some(c) = chunk {
                if tx.blocking_send(c).is_err() {
                    return;
                }
            }
            if w.builder.len() >= w.chunk_alerts && !send_flush(&mut w) {
                return;
            }
        }
        if !w.builder.is_empty() {
            send_flush(&mut w);
        }
    })
}

/// Member accounting awaiting the next commit.
struct PendingMember {
    source: String,
    alerts: i64,
    ingested: i64,
}

struct Writer<'a> {
    lakehouse: &'a Lakehouse,
    quarantine: Bucket,
    run_id: String,
    commit_every: usize,
    live: Live,
    known: HashSet<i64>,
    loaded_nights: HashSet<i32>,
    quarantined_before: HashSet<(String, String)>,
    data: Option<DataWriter>,
    file_seq: usize,
    pending_rows: usize,
    pending_members: Vec<PendingMember>,
    pending_quarantine: Vec<QuarantineRow>,
    summary: Summary,
}

impl<'a> Writer<'a> {
    async fn new(
        lakehouse: &'a Lakehouse,
        quarantine: Bucket,
        opts: &IngestOptions,
        run_id: String,
        live: &Live,
    ) -> Result<Writer<'a>, IngestError> {
        let quarantined_before = existing_quarantine(lakehouse).await?;
        Ok(Writer {
            lakehouse,
            quarantine,
            run_id,
            commit_every: opts.commit_every.max(1),
            live: live.clone(),
            known: HashSet::new(),
            loaded_nights: HashSet::new(),
            quarantined_before,
            data: None,
            file_seq: 0,
            pending_rows: 0,
            pending_members: Vec::new(),
            pending_quarantine: Vec::new(),
            summary: Summary::default(),
        })
    }

    async fn add(&mut self, d: Decoded) -> Result<(), IngestError> {
        self.summary.cutouts_written += d.cutouts_created;
        self.summary.cutouts_present += d.cutouts_existed;
        let nights: Vec<i32> = d
            .keys
            .iter()
            .map(|k| k.1)
            .filter(|n| !self.loaded_nights.contains(n))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !nights.is_empty() {
            let (existing, _) = self.lakehouse.existing_candids(&nights).await?;
            tracing::debug!(
                nights = nights.len(),
                existing = existing.len(),
                "loaded stored candids"
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
        self.summary.alerts_seen += d.keys.len() as u64;
        self.summary.ingested += kept as u64;
        self.summary.already_present += (d.keys.len() - kept) as u64;
        self.live.ingested.fetch_add(kept as u64, Ordering::Relaxed);
        if kept == 0 {
            return Ok(());
        }
        let rows = if kept == d.keys.len() {
            d.batch
        } else {
            filter(&d.batch, keep)?
        };
        if self.data.is_none() {
            let prefix = format!("{}-{:05}", self.run_id, self.file_seq);
            self.file_seq += 1;
            self.data = Some(self.lakehouse.writer(BronzeTable::Alerts, &prefix).await?);
        }
        if let Some(w) = self.data.as_mut() {
            w.write(&rows).await?;
        }
        self.pending_rows += kept;
        if self.pending_rows >= self.commit_every {
            self.commit().await?;
        }
        Ok(())
    }

    async fn reject(
        &mut self,
        source: String,
        reason: String,
        bytes: Vec<u8>,
    ) -> Result<(), IngestError> {
        tracing::warn!(%source, %reason, "quarantined");
        let (key, sha) = quarantine_key(&bytes);
        self.summary.quarantined += 1;
        self.live.quarantined.fetch_add(1, Ordering::Relaxed);
        let size = bytes.len() as i64;
        self.quarantine
            .put_if_absent(&key, bytes::Bytes::from(bytes))
            .await?;
        if self
            .quarantined_before
            .contains(&(source.clone(), sha.clone()))
        {
            self.summary.quarantined_before += 1;
            return Ok(());
        }
        self.quarantined_before
            .insert((source.clone(), sha.clone()));
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
    async fn commit(&mut self) -> Result<(), IngestError> {
        let mut snapshot = None;
        if let Some(w) = self.data.take() {
            let rows = w.rows();
            let files = w.close().await?;
            let started = Instant::now();
            let props = HashMap::from([
                ("ateda.run-id".to_string(), self.run_id.clone()),
                ("ateda.rows".to_string(), rows.to_string()),
            ]);
            snapshot = self
                .lakehouse
                .commit(BronzeTable::Alerts, files, props)
                .await?;
            let micros = started.elapsed().as_micros() as u64;
            metrics::histogram!("ateda_commit_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            self.live.commit_micros.fetch_add(micros, Ordering::Relaxed);
            self.live.commits.fetch_add(1, Ordering::Relaxed);
            self.summary.commits += 1;
            if snapshot.is_some() {
                self.summary.snapshot_id = snapshot;
            }
            tracing::info!(rows, snapshot = ?snapshot, ms = micros / 1000, "committed bronze.alerts");
        }
        self.pending_rows = 0;
        let now = chrono::Utc::now().timestamp_micros();
        let members = std::mem::take(&mut self.pending_members);
        if !members.is_empty() {
            let rows: Vec<LedgerRow> = members
                .into_iter()
                .map(|m| LedgerRow {
                    run_id: self.run_id.clone(),
                    source: m.source,
                    alerts: m.alerts,
                    ingested: m.ingested,
                    already_present: m.alerts - m.ingested,
                    snapshot_id: if m.ingested > 0 {
                        snapshot.or(self.summary.snapshot_id)
                    } else {
                        None
                    },
                    recorded_at_us: now,
                })
                .collect();
            let schema = self.lakehouse.arrow_schema(BronzeTable::Ledger).await?;
            let batch =
                ledger_batch(schema, &rows).map_err(|e| IngestError::Layout(e.to_string()))?;
            let prefix = format!("{}-ledger-{:05}", self.run_id, self.file_seq);
            self.file_seq += 1;
            self.lakehouse
                .append(
                    BronzeTable::Ledger,
                    &[batch],
                    &prefix,
                    HashMap::from([("ateda.run-id".into(), self.run_id.clone())]),
                )
                .await?;
        }
        let rejected = std::mem::take(&mut self.pending_quarantine);
        if !rejected.is_empty() {
            let schema = self.lakehouse.arrow_schema(BronzeTable::Quarantine).await?;
            let batch = quarantine_batch(schema, &rejected)
                .map_err(|e| IngestError::Layout(e.to_string()))?;
            let prefix = format!("{}-quarantine-{:05}", self.run_id, self.file_seq);
            self.file_seq += 1;
            self.lakehouse
                .append(
                    BronzeTable::Quarantine,
                    &[batch],
                    &prefix,
                    HashMap::from([("ateda.run-id".into(), self.run_id.clone())]),
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

async fn existing_quarantine(lh: &Lakehouse) -> Result<HashSet<(String, String)>, IngestError> {
    use arrow_array::{Array, StringArray};
    let table = lh.load(BronzeTable::Quarantine).await?;
    let mut out = HashSet::new();
    if table.metadata().current_snapshot().is_none() {
        return Ok(out);
    }
    let err = |cause: iceberg::Error| LakehouseError::Iceberg {
        what: "reading bronze.quarantine".into(),
        cause: Box::new(cause),
    };
    let scan = table
        .scan()
        .select(["source", "sha256"])
        .build()
        .map_err(err)?;
    let mut stream = scan.to_arrow().await.map_err(err)?;
    while let Some(b) = stream.try_next().await.map_err(err)? {
        let (Some(src), Some(sha)) = (
            b.column(0).as_any().downcast_ref::<StringArray>(),
            b.column(1).as_any().downcast_ref::<StringArray>(),
        ) else {
            continue;
        };
        for i in 0..b.num_rows() {
            if src.is_valid(i) && sha.is_valid(i) {
                out.insert((src.value(i).to_string(), sha.value(i).to_string()));
            }
        }
    }
    Ok(out)
}
