//! Live alert streams: `ateda stream` consumes Kafka topics into the bronze tables on the
//! same core as `ateda ingest` (routing by content, decode, stamps, keys, quarantine),
//! exactly once.
//!
//! ```text
//! Kafka ──poll──▶ reader thread ──members──▶ decode workers ──▶ sinks ──▶ one commit per
//!  (consumer       (kafka://t/p/o;           (as ingest)          table per commit point:
//!   group)          commit point every                            quarantine, rows + the
//!                   N messages or T)                              group's positions, ledger;
//!                                                                 then the group's offsets
//! ```
//!
//! Exactly once: each alerts commit carries, in its snapshot summary, the next position
//! of every partition read before its commit point (`ateda.kafka-offsets.<group>`,
//! merged position by position with the recorded map). On start and after every
//! rebalance a partition is sought to the smallest position the tables record
//! ([`resume`]), not to the group's offset (committed after the tables, for lag only).
//! A crash anywhere re-reads at most what was not committed; a message read twice finds
//! its key stored. Broker outages are retried by librdkafka; catalog and object store
//! outages stop the session, which starts again (re-sought to the tables) after a
//! backoff: consumption pauses, nothing is dropped.

#![deny(missing_docs)]

mod config;
mod context;
pub mod produce;
mod reader;
mod resume;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ateda_ingest::{ingest_feed, Feed, IngestError, IngestOptions, Live, Summary};
use ateda_lakehouse::{Lakehouse, LakehouseError};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;

pub use config::{KafkaOptions, StartFrom};

use context::StreamContext;
use reader::{End, ReaderConfig, Shared};

/// Errors that stop a stream (bad messages never do: they are quarantined).
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The pipeline failed in a way a restart does not mend.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The catalog or table storage failed.
    #[error(transparent)]
    Lakehouse(#[from] LakehouseError),
    /// The Kafka client refused its configuration or failed.
    #[error("Kafka: {what}: {source}")]
    Kafka {
        /// What was being done.
        what: String,
        /// The client's error.
        source: KafkaError,
    },
    /// Bad options.
    #[error("{0}")]
    Config(String),
}

/// What to stream and how often to commit.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// The pipeline's options (surveys, lakehouse, cutouts, limits, workers...);
    /// `sources` and `commit_every` are not used.
    pub ingest: IngestOptions,
    /// Brokers, topics, group.
    pub kafka: KafkaOptions,
    /// Commit at least this often while messages arrive.
    pub commit_interval: Duration,
    /// Commit every this many messages.
    pub commit_every: usize,
    /// Exit once nothing new arrived for this long and everything is committed.
    pub idle_exit: Option<Duration>,
    /// Messages after which a session ends and a new one starts (bounds the memory of
    /// the keys a session has claimed).
    pub session_messages: u64,
}

/// What a stream did, at its end.
#[derive(Debug, serde::Serialize)]
pub struct StreamSummary {
    /// The pipeline's summary over all sessions.
    #[serde(flatten)]
    pub summary: Summary,
    /// Messages read.
    pub messages: u64,
    /// Commit points committed.
    pub commit_points: u64,
    /// Sessions run (a new one after each outage or `session_messages`).
    pub sessions: u32,
    /// Why it ended: "stopped" (signal) or "idle".
    pub ended: String,
}

/// Backoff before a session starts again after an outage: doubles up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Streams until `stop` is set (then commits what is decoded and returns) or, with
/// `idle_exit`, until the topics are quiet.
pub async fn stream(
    opts: &StreamOptions,
    live: &Live,
    stop: Arc<AtomicBool>,
) -> Result<StreamSummary, StreamError> {
    let subscription = opts.kafka.subscription().map_err(StreamError::Config)?;
    let mut tables = Vec::new();
    for &survey in &opts.ingest.surveys {
        tables.push(Arc::new(
            Lakehouse::open(&opts.ingest.lakehouse, survey).await?,
        ));
    }
    let shared = Arc::new(Shared {
        stop,
        ..Shared::default()
    });
    let cfg = Arc::new(ReaderConfig {
        group: opts.kafka.group.clone(),
        commit_every: opts.commit_every.max(1),
        commit_interval: opts.commit_interval,
        idle_exit: opts.idle_exit,
        session_messages: opts.session_messages.max(1),
    });
    let (mut consumer, mut sessions, mut backoff) = (None, 0u32, Duration::from_secs(1));
    loop {
        let c = match consumer.take() {
            Some(c) => c,
            None => connect(opts, &tables, &subscription)?,
        };
        sessions += 1;
        shared.outstanding.store(0, Ordering::Relaxed);
        let end = Arc::new(Mutex::new(None));
        let feed = {
            let (c, cfg, shared, end) = (c.clone(), cfg.clone(), shared.clone(), end.clone());
            Feed::with_commit_points(move |out| {
                let e = reader::read(&c, out, &cfg, &shared);
                if let Ok(mut slot) = end.lock() {
                    *slot = Some(e);
                }
            })
        };
        let result = ingest_feed(&opts.ingest, live, feed).await;
        let end = end.lock().ok().and_then(|mut e| e.take());
        match (result, end) {
            (Ok(summary), Some(End::Stopped | End::Idle)) => {
                let ended = if shared.stop.load(Ordering::Relaxed) {
                    "stopped"
                } else {
                    "idle"
                };
                leave(c).await;
                return Ok(StreamSummary {
                    summary,
                    messages: shared.messages.load(Ordering::Relaxed),
                    commit_points: shared.points.load(Ordering::Relaxed),
                    sessions,
                    ended: ended.into(),
                });
            }
            (Ok(_), Some(End::Roll)) => {
                tracing::info!("session done; the next one starts with the tables as they are now");
                consumer = Some(c);
                backoff = Duration::from_secs(1);
            }
            (Ok(_), Some(End::Failed(why))) if !shared.stop.load(Ordering::Relaxed) => {
                tracing::warn!(reason = %why, retry_in_s = backoff.as_secs(), "session ended; starting again from the positions the tables record");
                leave(c).await;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            (Err(e), _) if e.rerun_helps() && !shared.stop.load(Ordering::Relaxed) => {
                tracing::warn!(error = %e, retry_in_s = backoff.as_secs(), "outage: consumption paused; starting again from the positions the tables record");
                leave(c).await;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            (Err(e), _) => {
                leave(c).await;
                return Err(e.into());
            }
            (Ok(_), end) => {
                leave(c).await;
                return Err(StreamError::Config(format!(
                    "the stream reader ended without a reason ({end:?})"
                )));
            }
        }
    }
}

/// Creates the consumer and subscribes.
fn connect(
    opts: &StreamOptions,
    tables: &[Arc<Lakehouse>],
    subscription: &[String],
) -> Result<Arc<BaseConsumer<StreamContext>>, StreamError> {
    let ctx = StreamContext {
        handle: tokio::runtime::Handle::current(),
        tables: tables.to_vec(),
        group: opts.kafka.group.clone(),
        failure: Mutex::new(None),
        assigned_at: Mutex::new(None),
    };
    let consumer: BaseConsumer<StreamContext> = opts
        .kafka
        .consumer_config(opts.ingest.limits.max_member_bytes)
        .create_with_context(ctx)
        .map_err(|source| StreamError::Kafka {
            what: "creating the consumer".into(),
            source,
        })?;
    let topics: Vec<&str> = subscription.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|source| StreamError::Kafka {
            what: format!("subscribing to {}", subscription.join(", ")),
            source,
        })?;
    tracing::info!(brokers = %opts.kafka.brokers, group = %opts.kafka.group, topics = ?subscription, "consuming");
    Ok(Arc::new(consumer))
}

/// Leaves the group (its partitions move to the other members at once) and closes.
async fn leave(c: Arc<BaseConsumer<StreamContext>>) {
    let _ = tokio::task::spawn_blocking(move || {
        c.unsubscribe();
        drop(c);
    })
    .await;
}
