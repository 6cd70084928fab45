//! One ingest run: plan the sources, start the reader, the decode workers and the sink,
//! and finish with a summary.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ateda_decode::{AlertBatchBuilder, RowContext};
use ateda_lakehouse::{Lakehouse, LakehouseConfig};
use ateda_objects::Bucket;
use ateda_schema::{NightBounds, Survey};
use ateda_source::Item;

use crate::counters::{Live, Summary};
use crate::keys::KeyIndex;
use crate::reader::spawn_reader;
use crate::registry::SchemaRegistry;
use crate::sink::Sink;
use crate::worker::{spawn_worker, Chunk, Worker};
use crate::IngestError;

/// What to ingest and where.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// The survey the packets come from.
    pub survey: Survey,
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
    /// The nights accepted (`None`: the survey's first night to tomorrow, UTC).
    pub nights: Option<NightBounds>,
    /// Age after which an alert commit with no ledger commit is repaired (see
    /// [`crate::defaults::LEDGER_GRACE_SECS`]).
    pub ledger_grace: std::time::Duration,
    /// Caps on hostile input (member size, inflated size, array items, blocks, cached
    /// writer schemas).
    pub limits: ateda_decode::Limits,
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

    let lakehouse = Arc::new(Lakehouse::open(&opts.lakehouse, opts.survey).await?);
    let cutouts = Bucket::open(&opts.cutouts)?;
    let quarantine = Bucket::open(&opts.quarantine)?;
    let registry = Arc::new(SchemaRegistry::new(lakehouse.clone(), live.clone()).await?);
    crate::ledger::repair(&lakehouse, opts.ledger_grace).await?;
    let keys = Arc::new(KeyIndex::open(lakehouse.clone()).await?);
    let today = (ingested_at_us / 86_400_000_000) as i32;
    let nights = opts
        .nights
        .unwrap_or_else(|| NightBounds::for_survey(&opts.survey, today));
    let stamp_root = cutouts.clone();
    let survey = opts.survey;
    let ctx = RowContext {
        run_id: run_id.clone(),
        ingested_at_us,
        stamp_location: Arc::new(move |night, key, kind, sha| {
            stamp_root.stamp(&survey, night, key, kind, sha).into()
        }),
        nights,
    };

    let (chunk_tx, mut chunk_rx) = tokio::sync::mpsc::channel::<Chunk>(opts.workers.max(1));
    let (item_tx, item_rx) = crossbeam_channel::bounded::<Item>(256);
    let reader = spawn_reader(plan.clone(), live.clone(), opts.limits, item_tx);
    ateda_decode::limits::install(&opts.limits);
    let mut workers = Vec::new();
    for _ in 0..opts.workers.max(1) {
        // Fails fast on a table the decoder cannot fill.
        let builder = AlertBatchBuilder::new(opts.survey, registry.current(), ctx.clone())
            .map_err(|e| IngestError::Layout(e.to_string()))?;
        workers.push(spawn_worker(
            Worker {
                builder,
                chunk_alerts: opts.chunk_alerts.max(1),
                live: live.clone(),
                cutouts: cutouts.clone(),
                uploads: opts.upload_concurrency.max(1),
                runtime: tokio::runtime::Handle::current(),
                registry: registry.clone(),
                keys: keys.clone(),
                key_name: opts.survey.key,
                member_bytes: Vec::new(),
                buffered_bytes: 0,
            },
            item_rx.clone(),
            chunk_tx.clone(),
        ));
    }
    drop(item_rx);
    drop(chunk_tx);

    let mut sink = Sink::new(
        &lakehouse,
        quarantine,
        opts.commit_every,
        run_id.clone(),
        live,
        keys.base_snapshot(),
    )
    .await?;
    let mut failure = None;
    while let Some(chunk) = chunk_rx.recv().await {
        let res = match chunk {
            Chunk::Alerts(batch) => sink.add(batch).await,
            Chunk::Rejected {
                source,
                reason,
                bytes,
            } => sink.reject(source, reason, bytes).await,
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
    sink.commit().await?;
    Ok(live.summary(
        run_id,
        plan.skipped.len() as u64,
        started.elapsed().as_secs_f64(),
    ))
}
