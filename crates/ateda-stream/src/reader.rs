//! The reader of a stream session: polls the consumer on the pipeline's reader thread,
//! hands each message on as a member named `kafka://<topic>/<partition>/<offset>`, and
//! marks a commit point every `--commit-every` messages or `--commit-interval`, whichever
//! comes first. A point carries the next position of every partition read since the last
//! one; once committed (rows and positions in one snapshot per table), the group's
//! offsets are committed too (for lag monitoring) and the end-to-end latency of its
//! messages is recorded.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ateda_ingest::{CommitPoint, FeedOut, Position};
use ateda_lakehouse::StreamOffsets;
use ateda_source::{InFlight, Item};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::context::StreamContext;

/// How long one poll waits for a message.
const POLL: Duration = Duration::from_millis(100);

/// A broker error is logged at most this often (it repeats while a broker is down).
const ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

/// Why a session's reader stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// Asked to stop (SIGTERM, SIGINT).
    Stopped,
    /// `--idle-exit`: nothing new for that long, everything committed.
    Idle,
    /// The session read its share; a new one starts (fresh key index).
    Roll,
    /// The session cannot go on (the pipeline stopped, an assignment failed).
    Failed(String),
}

/// State shared by the reader, the commit follow-ups and the stream loop.
#[derive(Default)]
pub(crate) struct Shared {
    pub stop: Arc<AtomicBool>,
    /// Commit points marked and not yet committed.
    pub outstanding: AtomicUsize,
    /// Messages read (all sessions).
    pub messages: AtomicU64,
    /// Commit points committed (all sessions).
    pub points: AtomicU64,
}

/// What a session's reader needs.
pub(crate) struct ReaderConfig {
    pub group: String,
    pub commit_every: usize,
    pub commit_interval: Duration,
    pub idle_exit: Option<Duration>,
    pub session_messages: u64,
}

/// The messages read since the last commit point.
struct Epoch {
    offsets: StreamOffsets,
    timestamps: Vec<i64>,
    messages: usize,
    started: Instant,
}

impl Epoch {
    fn new() -> Epoch {
        Epoch {
            offsets: StreamOffsets::new(),
            timestamps: Vec::new(),
            messages: 0,
            started: Instant::now(),
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Reads the stream until stopped, idle, the session's share is read, or a failure.
pub(crate) fn read(
    consumer: &Arc<BaseConsumer<StreamContext>>,
    out: &mut FeedOut,
    cfg: &ReaderConfig,
    shared: &Arc<Shared>,
) -> End {
    let in_flight = InFlight::new(&out.read.limits);
    let (cap, keep) = (
        out.read.limits.max_member_bytes,
        out.read.limits.keep_bytes as usize,
    );
    let mut epoch = Epoch::new();
    let mut last_message = Instant::now();
    let mut session = 0u64;
    let mut last_error: Option<Instant> = None;
    let end = loop {
        if shared.stop.load(Ordering::Relaxed) {
            break End::Stopped;
        }
        if let Some(why) = consumer.context().take_failure() {
            break End::Failed(why);
        }
        match consumer.poll(POLL) {
            None => {}
            // transport errors while a broker is down: librdkafka reconnects itself
            Some(Err(e)) if last_error.is_none_or(|t| t.elapsed() >= ERROR_LOG_EVERY) => {
                tracing::warn!(error = %e, "Kafka: retrying (consumption resumes when the broker answers)");
                last_error = Some(Instant::now());
            }
            Some(Err(_)) => {}
            Some(Ok(m)) => {
                last_message = Instant::now();
                let (topic, p, offset) = (m.topic().to_string(), m.partition(), m.offset());
                let source = format!("kafka://{topic}/{p}/{offset}");
                let payload = m.payload().unwrap_or(&[]);
                out.read.progress.add(payload.len());
                let item = if payload.is_empty() {
                    Item::unreadable(source, "empty Kafka message".into(), Vec::new(), &in_flight)
                } else if payload.len() as u64 > cap {
                    Item::unreadable(
                        source,
                        format!(
                            "Kafka message of {} bytes is larger than the member cap of {cap} \
                             bytes (its first {} bytes kept)",
                            payload.len(),
                            keep.min(payload.len())
                        ),
                        payload[..keep.min(payload.len())].to_vec(),
                        &in_flight,
                    )
                } else {
                    Item::member(source, payload.to_vec(), &in_flight)
                };
                if let Some(ts) = m.timestamp().to_millis() {
                    epoch.timestamps.push(ts);
                }
                drop(m);
                if epoch.offsets.get(&topic, p).is_none_or(|o| o <= offset) {
                    epoch.offsets.set(&topic, p, offset + 1);
                }
                epoch.messages += 1;
                session += 1;
                shared.messages.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("ateda_stream_messages_total").increment(1);
                if !out.send(item) {
                    break End::Failed("the ingest pipeline stopped".into());
                }
            }
        }
        // quiet: since the last message, or since the assignment when none came after
        // it (none at all before the group has assigned anything)
        let quiet = consumer
            .context()
            .since_assigned()
            .map_or(Duration::ZERO, |a| a.min(last_message.elapsed()));
        let due = epoch.messages >= cfg.commit_every
            || epoch.started.elapsed() >= cfg.commit_interval
            || cfg.idle_exit.is_some_and(|idle| quiet >= idle);
        if epoch.messages > 0 && due {
            if !mark(
                consumer,
                out,
                cfg,
                shared,
                std::mem::replace(&mut epoch, Epoch::new()),
            ) {
                break End::Failed("the ingest pipeline stopped".into());
            }
        } else if epoch.messages == 0 {
            epoch.started = Instant::now();
        }
        if epoch.messages == 0 && session >= cfg.session_messages {
            break End::Roll;
        }
        if let Some(idle) = cfg.idle_exit {
            if epoch.messages == 0
                && quiet >= idle
                && shared.outstanding.load(Ordering::Relaxed) == 0
            {
                break End::Idle;
            }
        }
    };
    if epoch.messages > 0 && !mark(consumer, out, cfg, shared, epoch) {
        return End::Failed("the ingest pipeline stopped".into());
    }
    end
}

/// Marks a commit point for `epoch`; false when the pipeline is gone.
fn mark(
    consumer: &Arc<BaseConsumer<StreamContext>>,
    out: &mut FeedOut,
    cfg: &ReaderConfig,
    shared: &Arc<Shared>,
    epoch: Epoch,
) -> bool {
    shared.outstanding.fetch_add(1, Ordering::Relaxed);
    let (consumer, shared2) = (consumer.clone(), shared.clone());
    let offsets = epoch.offsets.clone();
    let timestamps = epoch.timestamps;
    let done = move || {
        let now = now_ms();
        for ts in timestamps {
            metrics::histogram!("ateda_stream_end_to_end_seconds")
                .record((now - ts).max(0) as f64 / 1000.0);
        }
        let mut tpl = TopicPartitionList::new();
        for (t, p, o) in offsets.iter() {
            let _ = tpl.add_partition_offset(t, p, Offset::Offset(o));
        }
        if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
            tracing::debug!(error = %e, "group offsets not committed (lag monitoring only)");
        }
        shared2.points.fetch_add(1, Ordering::Relaxed);
        shared2.outstanding.fetch_sub(1, Ordering::Relaxed);
    };
    let sent = out.commit_point(CommitPoint {
        position: Some(Position {
            group: cfg.group.clone(),
            offsets: epoch.offsets,
        }),
        done: Some(Box::new(done)),
    });
    if !sent {
        shared.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
    sent
}
