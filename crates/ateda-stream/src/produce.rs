//! `ateda produce`: replays alert files, directories or nightly tarballs into a Kafka
//! topic, one message per member, as the surveys publish them (ZTF: one Avro container
//! per message; Rubin: one Confluent wire-format datum). For demos, tests and the
//! benchmark: the topic is created when missing, message `i` goes to partition
//! `i % partitions`, and `--rate` holds a steady pace.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ateda_source::{Item, ReadOptions};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use crate::StreamError;

/// What to produce where.
#[derive(Debug, Clone)]
pub struct ProduceOptions {
    /// Bootstrap brokers.
    pub brokers: String,
    /// The topic (created with `partitions` when missing).
    pub topic: String,
    /// Partitions of a created topic, and the spread of the messages.
    pub partitions: i32,
    /// Messages per second (none: as fast as the broker takes them).
    pub rate: Option<f64>,
    /// Further librdkafka settings.
    pub extra: Vec<(String, String)>,
}

/// What was produced.
#[derive(Debug, serde::Serialize)]
pub struct ProduceSummary {
    /// The topic.
    pub topic: String,
    /// Its partitions used.
    pub partitions: i32,
    /// Messages delivered.
    pub produced: u64,
    /// Bytes delivered.
    pub bytes: u64,
    /// Unreadable members not sent (warned).
    pub skipped: u64,
    /// Wall time.
    pub seconds: f64,
}

fn kafka(what: &str) -> impl FnOnce(rdkafka::error::KafkaError) -> StreamError + '_ {
    move |source| StreamError::Kafka {
        what: what.to_string(),
        source,
    }
}

/// Creates `topic` with `partitions` unless it exists.
async fn ensure_topic(opts: &ProduceOptions) -> Result<(), StreamError> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &opts.brokers);
    let admin: AdminClient<DefaultClientContext> =
        cfg.create().map_err(kafka("creating the admin client"))?;
    let topic = NewTopic::new(&opts.topic, opts.partitions, TopicReplication::Fixed(1));
    let res = admin
        .create_topics(&[topic], &AdminOptions::new())
        .await
        .map_err(kafka("creating the topic"))?;
    for r in res {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => {
                return Err(StreamError::Config(format!("creating topic {t}: {code}")));
            }
        }
    }
    Ok(())
}

/// Sends one message per member of `sources`.
pub async fn produce(
    sources: &[PathBuf],
    opts: &ProduceOptions,
) -> Result<ProduceSummary, StreamError> {
    let plan = ateda_source::plan(sources).map_err(|e| StreamError::Config(e.to_string()))?;
    if opts.partitions < 1 {
        return Err(StreamError::Config(
            "--partitions must be at least 1".into(),
        ));
    }
    ensure_topic(opts).await?;
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &opts.brokers)
        .set("linger.ms", "5")
        .set("message.max.bytes", "67108864")
        .set("acks", "all");
    for (k, v) in &opts.extra {
        cfg.set(k, v);
    }
    let producer: FutureProducer = cfg.create().map_err(kafka("creating the producer"))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Item>(256);
    let reader = std::thread::spawn(move || {
        ateda_source::read_plan(&plan, &ReadOptions::default(), |item| {
            tx.blocking_send(item).is_ok()
        });
    });
    let started = Instant::now();
    let (mut produced, mut bytes, mut skipped, mut i) = (0u64, 0u64, 0u64, 0u64);
    let mut pending = Vec::new();
    while let Some(item) = rx.recv().await {
        let m = match item {
            Item::Member(m) => m,
            Item::Unreadable(u) => {
                tracing::warn!(source = %u.source, reason = %u.reason, "not sent");
                skipped += 1;
                continue;
            }
        };
        if let Some(rate) = opts.rate.filter(|r| *r > 0.0) {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let partition = (i % opts.partitions as u64) as i32;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let record: FutureRecord<'_, (), [u8]> = FutureRecord::to(&opts.topic)
            .payload(m.bytes.as_slice())
            .partition(partition)
            .timestamp(now);
        let delivery = producer
            .send_result(record)
            .map_err(|(e, _)| kafka("queueing a message")(e))?;
        bytes += m.bytes.len() as u64;
        pending.push(delivery);
        i += 1;
        if pending.len() >= 1000 {
            produced += settle(std::mem::take(&mut pending)).await?;
        }
    }
    produced += settle(pending).await?;
    producer
        .flush(Duration::from_secs(30))
        .map_err(kafka("flushing"))?;
    let _ = reader.join();
    Ok(ProduceSummary {
        topic: opts.topic.clone(),
        partitions: opts.partitions,
        produced,
        bytes,
        skipped,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Waits for the deliveries; an undelivered message is an error.
async fn settle(pending: Vec<rdkafka::producer::DeliveryFuture>) -> Result<u64, StreamError> {
    let mut n = 0;
    for d in pending {
        match d.await {
            Ok(Ok(_)) => n += 1,
            Ok(Err((e, _))) => return Err(kafka("delivering a message")(e)),
            Err(_) => return Err(StreamError::Config("a delivery was cancelled".into())),
        }
    }
    Ok(n)
}
