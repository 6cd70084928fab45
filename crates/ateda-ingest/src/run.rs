//! One ingest run: plan the sources, start the reader, the decode workers and the sink,
//! and finish with a summary.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ateda_decode::{AlertBatchBuilder, Router, RowContext, WriterSchemas};
use ateda_lakehouse::{Lakehouse, LakehouseConfig};
use ateda_objects::Bucket;
use ateda_schema::{NightBounds, Survey};
use ateda_source::Item;

use crate::counters::{Live, Summary};
use crate::keys::KeyIndex;
use crate::reader::spawn_reader;
use crate::registry::SchemaRegistry;
use crate::sink::Sink;
use crate::worker::{spawn_worker, Chunk, Lane, Worker};
use crate::IngestError;

/// What to ingest and where.
#[derive(Clone)]
pub struct IngestOptions {
    /// The surveys whose packets this run takes, each into its own table; members are
    /// routed by content (the first survey takes what names none of them).
    pub surveys: Vec<Survey>,
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
    /// First night accepted (days since 1970-01-01), for every survey (`None`: each
    /// survey's own first night).
    pub first_night: Option<i32>,
    /// Last night accepted (`None`: tomorrow, UTC).
    pub last_night: Option<i32>,
    /// Age after which an alert commit with no ledger commit is repaired (see
    /// [`crate::defaults::LEDGER_GRACE_SECS`]).
    pub ledger_grace: std::time::Duration,
    /// Caps on hostile input (member size, inflated size, array items, blocks, cached
    /// writer schemas).
    pub limits: ateda_decode::Limits,
    /// Writer schemas of wire-format packets, by schema id (bundled, or a schema
    /// registry in front of them).
    pub writer_schemas: Arc<dyn WriterSchemas>,
}

impl std::fmt::Debug for IngestOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestOptions")
            .field(
                "surveys",
                &self.surveys.iter().map(|s| s.name).collect::<Vec<_>>(),
            )
            .field("sources", &self.sources)
            .field("lakehouse", &self.lakehouse)
            .field("cutouts", &self.cutouts)
            .field("quarantine", &self.quarantine)
            .finish_non_exhaustive()
    }
}

/// One survey's shared state in a run: its table, schema, keys and row context.
struct SurveyRun {
    survey: Survey,
    lakehouse: Arc<Lakehouse>,
    registry: Arc<SchemaRegistry>,
    keys: Arc<KeyIndex>,
    ctx: RowContext,
}

async fn open_survey(
    opts: &IngestOptions,
    survey: Survey,
    live: &Live,
    cutouts: &Bucket,
    run_id: &str,
    ingested_at_us: i64,
) -> Result<SurveyRun, IngestError> {
    let lakehouse = Arc::new(Lakehouse::open(&opts.lakehouse, survey).await?);
    let registry = Arc::new(SchemaRegistry::new(lakehouse.clone(), live.clone()).await?);
    crate::ledger::repair(&lakehouse, opts.ledger_grace).await?;
    let keys = Arc::new(KeyIndex::open(lakehouse.clone()).await?);
    let today = (ingested_at_us / 86_400_000_000) as i32;
    let default = NightBounds::for_survey(&survey, today);
    let nights = NightBounds {
        first: opts.first_night.unwrap_or(default.first),
        last: opts.last_night.unwrap_or(default.last),
    };
    let stamp_root = cutouts.clone();
    let ctx = RowContext {
        run_id: run_id.to_string(),
        ingested_at_us,
        stamp_location: Arc::new(move |night, key, kind, sha| {
            stamp_root.stamp(&survey, night, key, kind, sha).into()
        }),
        nights,
        writer_schemas: opts.writer_schemas.clone(),
    };
    Ok(SurveyRun {
        survey,
        lakehouse,
        registry,
        keys,
        ctx,
    })
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
    if opts.surveys.is_empty() {
        return Err(IngestError::Layout("no survey to ingest".into()));
    }

    let cutouts = Bucket::open(&opts.cutouts)?;
    let quarantine = Bucket::open(&opts.quarantine)?;
    let mut runs = Vec::with_capacity(opts.surveys.len());
    for &survey in &opts.surveys {
        runs.push(open_survey(opts, survey, live, &cutouts, &run_id, ingested_at_us).await?);
    }

    let (chunk_tx, mut chunk_rx) = tokio::sync::mpsc::channel::<Chunk>(opts.workers.max(1));
    let (item_tx, item_rx) = crossbeam_channel::bounded::<Item>(256);
    let reader = spawn_reader(plan.clone(), live.clone(), opts.limits, item_tx);
    ateda_decode::limits::install(&opts.limits);
    let mut workers = Vec::new();
    for _ in 0..opts.workers.max(1) {
        let mut lanes = Vec::with_capacity(runs.len());
        for r in &runs {
            // Fails fast on a table the decoder cannot fill.
            let builder = AlertBatchBuilder::new(r.survey, r.registry.current(), r.ctx.clone())
                .map_err(|e| IngestError::Layout(format!("{}: {e}", r.survey.name)))?;
            lanes.push(Lane {
                builder,
                registry: r.registry.clone(),
                keys: r.keys.clone(),
                key_name: r.survey.key,
                member_bytes: Vec::new(),
                buffered_bytes: 0,
            });
        }
        workers.push(spawn_worker(
            Worker {
                lanes,
                router: Router::new(&opts.surveys),
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

    let mut sinks = Vec::with_capacity(runs.len());
    for r in &runs {
        sinks.push(
            Sink::new(
                &r.lakehouse,
                quarantine.clone(),
                opts.commit_every,
                run_id.clone(),
                live,
                r.keys.base_snapshot(),
            )
            .await?,
        );
    }
    let mut failure = None;
    while let Some(chunk) = chunk_rx.recv().await {
        let res = match chunk {
            Chunk::Alerts(lane, batch) => match sinks.get_mut(lane) {
                Some(sink) => sink.add(batch).await,
                None => Err(IngestError::Internal(format!("no sink for lane {lane}"))),
            },
            Chunk::Rejected {
                lane,
                source,
                reason,
                bytes,
            } => match sinks.get_mut(lane) {
                Some(sink) => sink.reject(source, reason, bytes).await,
                None => Err(IngestError::Internal(format!("no sink for lane {lane}"))),
            },
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
    for sink in &mut sinks {
        sink.commit().await?;
    }
    Ok(live.summary(
        run_id,
        plan.skipped.len() as u64,
        started.elapsed().as_secs_f64(),
    ))
}
