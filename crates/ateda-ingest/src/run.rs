//! One ingest run: plan the sources, start the reader, the decode workers and the sink,
//! and finish with a summary.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ateda_decode::{AlertBatchBuilder, Router, RowContext, WriterSchemas};
use ateda_lakehouse::{Lakehouse, LakehouseConfig};
use ateda_objects::{Bucket, PackOptions, Packs};
use ateda_schema::{NightBounds, Survey};
use ateda_source::{ReadOptions, SourceLimits};

use crate::counters::{Live, Summary};
use crate::feed::{CommitPoint, Feed, FeedOut, Work};
use crate::keys::KeyIndex;
use crate::reader::plan_feed;
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
    /// How stamps are stored: an object each, or byte ranges of pack objects.
    pub cutout_layout: CutoutLayout,
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

/// How stamps are stored under the cutouts root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CutoutLayout {
    /// Every stamp its own object (`<survey>/night=<d>/<key>/<kind>-<content>.fits.gz`),
    /// written by the decode workers; the row's offset and length columns are null.
    #[default]
    PerStamp,
    /// Stamps appended back to back into pack objects per survey and night, written by
    /// the sink and closed before the rows pointing into them are committed; the row
    /// records the pack's URI, the offset and the length.
    Packed(PackOptions),
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

/// Runs an ingest of `opts.sources`. `live` is updated as the run goes on.
pub async fn ingest(opts: &IngestOptions, live: &Live) -> Result<Summary, IngestError> {
    let plan = ateda_source::plan(&opts.sources)?;
    for skipped in &plan.skipped {
        tracing::warn!(file = %skipped.display(), "skipped: not .avro, .tar.gz, .tgz or .tar");
    }
    live.total_bytes
        .store(plan.total_bytes(), Ordering::Relaxed);
    let skipped = plan.skipped.len() as u64;
    let mut summary = ingest_feed(opts, live, plan_feed(plan)).await?;
    summary.skipped_files = skipped;
    Ok(summary)
}

/// Runs an ingest of what `feed` hands on (`opts.sources` is not read): the pipeline of
/// [`ingest`] behind another reader (a download, a stream). `live` is updated as the run
/// goes on.
pub async fn ingest_feed(
    opts: &IngestOptions,
    live: &Live,
    feed: Feed,
) -> Result<Summary, IngestError> {
    let started = Instant::now();
    let run_id = uuid::Uuid::now_v7().to_string();
    let ingested_at_us = chrono::Utc::now().timestamp_micros();
    if opts.surveys.is_empty() {
        return Err(IngestError::Layout("no survey to ingest".into()));
    }

    let cutouts = Bucket::open(&opts.cutouts)?;
    let quarantine = Bucket::open(&opts.quarantine)?;
    let mut runs = Vec::with_capacity(opts.surveys.len());
    for &survey in &opts.surveys {
        runs.push(open_survey(opts, survey, live, &cutouts, &run_id, ingested_at_us).await?);
    }

    let workers_n = opts.workers.max(1);
    let (chunk_tx, mut chunk_rx) = tokio::sync::mpsc::channel::<Chunk>(workers_n);
    // One queue all workers take from; with commit points one per worker, so that each
    // point reaches every worker after what was sent before it.
    let queues = if feed.with_points { workers_n } else { 1 };
    let per_queue = (256 / queues).max(8);
    let (mut senders, mut receivers) = (Vec::new(), Vec::new());
    for _ in 0..queues {
        let (tx, rx) = crossbeam_channel::bounded::<Work>(per_queue);
        senders.push(tx);
        receivers.push(rx);
    }
    let (points_tx, mut points_rx) = tokio::sync::mpsc::unbounded_channel::<CommitPoint>();
    let mut out = FeedOut {
        queues: senders,
        points: feed.with_points.then_some(points_tx),
        read: ReadOptions {
            progress: live.bytes.clone(),
            limits: SourceLimits {
                max_member_bytes: opts.limits.max_member_bytes,
                keep_bytes: opts.limits.keep_bytes,
            },
            counters: live.source.clone(),
        },
        live: live.clone(),
    };
    let run = feed.run;
    let reader = std::thread::spawn(move || run(&mut out));
    ateda_decode::limits::install(&opts.limits);
    let mut workers = Vec::new();
    for w in 0..workers_n {
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
                packed: matches!(opts.cutout_layout, CutoutLayout::Packed(_)),
                uploads: opts.upload_concurrency.max(1),
                runtime: tokio::runtime::Handle::current(),
            },
            receivers[w % queues].clone(),
            chunk_tx.clone(),
        ));
    }
    drop(receivers);
    drop(chunk_tx);

    // With commit points the sink commits only at them (and at the end).
    let commit_every = if feed.with_points {
        usize::MAX
    } else {
        opts.commit_every
    };
    let mut sinks = Vec::with_capacity(runs.len());
    for r in &runs {
        let packs = match opts.cutout_layout {
            CutoutLayout::PerStamp => None,
            CutoutLayout::Packed(p) => Some(Packs::new(cutouts.clone(), r.survey, &run_id, p)),
        };
        sinks.push(
            Sink::new(
                &r.lakehouse,
                quarantine.clone(),
                packs,
                commit_every,
                run_id.clone(),
                live,
                r.keys.base_snapshot(),
            )
            .await?,
        );
    }
    let mut failure = None;
    let mut barriers = 0;
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
            Chunk::Barrier => {
                barriers += 1;
                if barriers < workers_n {
                    Ok(())
                } else {
                    barriers = 0;
                    commit_point(&mut sinks, points_rx.try_recv().ok()).await
                }
            }
            Chunk::Failed(e) => Err(e),
        };
        if let Err(e) = res {
            failure = Some(e);
            break;
        }
    }
    // Stop the producers promptly on failure: dropping the receiver ends them.
    drop(chunk_rx);
    // Joined off the async worker: a feed may wait on other tasks of this runtime (a
    // download) before it returns.
    tokio::task::spawn_blocking(move || {
        for h in workers {
            h.join()
                .map_err(|_| IngestError::Internal("a decode worker panicked".into()))?;
        }
        reader
            .join()
            .map_err(|_| IngestError::Internal("the source reader panicked".into()))
    })
    .await
    .map_err(|e| IngestError::Internal(format!("joining the pipeline threads: {e}")))??;
    if let Some(e) = failure {
        return Err(e);
    }
    for sink in &mut sinks {
        sink.commit(None).await?;
    }
    Ok(live.summary(run_id, 0, started.elapsed().as_secs_f64()))
}

/// Commits every table at a commit point (each sink: quarantine, then the rows with the
/// position, then the ledger), then runs the point's follow-up.
async fn commit_point(
    sinks: &mut [Sink<'_>],
    point: Option<CommitPoint>,
) -> Result<(), IngestError> {
    let Some(point) = point else {
        return Err(IngestError::Internal(
            "a commit barrier without its commit point".into(),
        ));
    };
    for sink in sinks.iter_mut() {
        sink.commit(point.position.as_ref()).await?;
    }
    if let Some(done) = point.done {
        done();
    }
    Ok(())
}
