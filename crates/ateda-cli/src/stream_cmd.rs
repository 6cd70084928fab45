//! `ateda stream` and `ateda produce`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use ateda_ingest::{defaults, Live};
use ateda_stream::produce::{produce, ProduceOptions};
use ateda_stream::{KafkaOptions, StartFrom, StreamOptions, StreamSummary};
use clap::Args;

use crate::pipeline_args::PipelineArgs;

/// Arguments of `ateda stream`.
#[derive(Args, Debug)]
pub struct StreamArgs {
    /// Kafka bootstrap brokers, HOST:PORT[,HOST:PORT..].
    #[arg(long, env = "ATEDA_KAFKA_BROKERS")]
    brokers: String,
    /// A topic to read (repeatable; the environment variable takes a comma list).
    #[arg(long = "topic", env = "ATEDA_KAFKA_TOPICS", value_delimiter = ',')]
    topics: Vec<String>,
    /// Or every topic matching this regular expression (new ones picked up), e.g.
    /// 'ztf_.*_programid1'.
    #[arg(long, env = "ATEDA_KAFKA_TOPIC_PATTERN", conflicts_with = "topics")]
    topic_pattern: Option<String>,
    /// Consumer group: its members split the partitions; the tables record its
    /// positions (snapshot property ateda.kafka-offsets.<group>).
    #[arg(long, env = "ATEDA_KAFKA_GROUP", default_value = "ateda")]
    group: String,
    /// Commit at least this often while alerts arrive (e.g. 30s, 2m, 500ms).
    #[arg(long, env = "ATEDA_COMMIT_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    commit_interval: Duration,
    /// Commit every this many messages, whichever comes first.
    #[arg(long, default_value_t = 50_000)]
    commit_every: usize,
    /// Where a partition with no recorded position starts: earliest or latest.
    #[arg(long, default_value = "earliest")]
    from: StartFrom,
    /// Static group membership (group.instance.id), e.g. the pod name: a restarted
    /// member takes its partitions back at once.
    #[arg(long, env = "ATEDA_INSTANCE_ID")]
    instance_id: Option<String>,
    /// A librdkafka setting, KEY=VALUE (repeatable): security.protocol, sasl.*, ...
    #[arg(long = "kafka-option", value_parser = parse_kv)]
    kafka_options: Vec<(String, String)>,
    /// Exit 0 once no message arrived for this long and everything is committed
    /// (catch-up jobs, tests, benchmarks), e.g. 5s.
    #[arg(long, value_parser = parse_duration)]
    idle_exit: Option<Duration>,
    /// Messages per session: a session then ends at a commit point and a new one starts
    /// (bounds the memory of the keys it has seen).
    #[arg(long, default_value_t = 2_000_000, hide = true)]
    session_messages: u64,
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
    /// Never draw a progress line.
    #[arg(long)]
    no_progress: bool,
    /// Serve Prometheus metrics on this address (e.g. 0.0.0.0:9898).
    #[arg(long, env = "ATEDA_METRICS_ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
}

/// Arguments of `ateda produce`.
#[derive(Args, Debug)]
pub struct ProduceArgs {
    /// Alert sources: .avro files, directories, nightly tarballs; one message per member.
    #[arg(required = true)]
    sources: Vec<PathBuf>,
    /// Kafka bootstrap brokers.
    #[arg(long, env = "ATEDA_KAFKA_BROKERS")]
    brokers: String,
    /// The topic (created when missing).
    #[arg(long)]
    topic: String,
    /// Partitions of a created topic; message i goes to partition i % N.
    #[arg(long, default_value_t = 3)]
    partitions: i32,
    /// Messages per second (default: as fast as the broker takes them).
    #[arg(long)]
    rate: Option<f64>,
    /// A librdkafka setting, KEY=VALUE (repeatable).
    #[arg(long = "kafka-option", value_parser = parse_kv)]
    kafka_options: Vec<(String, String)>,
}

/// `30s`, `2m`, `500ms`, `1h` or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration such as 30s, 2m, 500ms"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unit must be ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{s:?}: expected KEY=VALUE"))
}

/// Runs `ateda stream`: 0 when stopped by a signal or --idle-exit, 1 on an error.
pub fn run(args: StreamArgs) -> ExitCode {
    let show_progress = !args.no_progress && std::io::stderr().is_terminal();
    crate::logging::init("info");
    match run_inner(&args, show_progress) {
        Ok(s) => {
            println!(
                "streamed {} messages: {} alerts ingested ({} already present, {} quarantined), {} cutouts written, {} commit points, {} sessions, ended: {}",
                s.messages,
                s.summary.ingested,
                s.summary.already_present,
                s.summary.quarantined,
                s.summary.cutouts_written,
                s.commit_points,
                s.sessions,
                s.ended
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ateda stream: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run_inner(args: &StreamArgs, show_progress: bool) -> Result<StreamSummary> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let opts = StreamOptions {
        ingest: args
            .pipeline
            .options(Vec::new(), defaults::COMMIT_EVERY, &runtime)?,
        kafka: KafkaOptions {
            brokers: args.brokers.clone(),
            topics: args
                .topics
                .iter()
                .filter(|t| !t.is_empty())
                .cloned()
                .collect(),
            topic_pattern: args.topic_pattern.clone(),
            group: args.group.clone(),
            from: args.from,
            instance_id: args.instance_id.clone().filter(|s| !s.is_empty()),
            extra: args.kafka_options.clone(),
        },
        commit_interval: args.commit_interval,
        commit_every: args.commit_every,
        idle_exit: args.idle_exit,
        session_messages: args.session_messages,
    };
    let live = Live::default();
    let stop = Arc::new(AtomicBool::new(false));
    let summary = runtime.block_on(async {
        if let Some(addr) = args.metrics_addr {
            crate::metrics::serve(addr, &live)?;
        }
        {
            let stop = stop.clone();
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("stopping: committing what is decoded, then leaving the group");
                stop.store(true, Ordering::Relaxed);
            });
        }
        let ticker = show_progress.then(|| {
            let live = live.clone();
            tokio::spawn(async move {
                loop {
                    eprint!(
                        "\r\x1b[2K{} alerts decoded, {} new, {} quarantined, {} commits",
                        live.alerts.load(Ordering::Relaxed),
                        live.ingested.load(Ordering::Relaxed),
                        live.quarantined.load(Ordering::Relaxed),
                        live.commits.load(Ordering::Relaxed)
                    );
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            })
        });
        let res = ateda_stream::stream(&opts, &live, stop).await;
        if let Some(t) = ticker {
            t.abort();
            eprint!("\r\x1b[2K");
        }
        if args.metrics_addr.is_some() {
            crate::metrics::publish(&live);
        }
        res.map_err(anyhow::Error::from)
    })?;
    if let Some(path) = &args.summary_json {
        let json = serde_json::to_string_pretty(&summary)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(summary)
}

/// SIGTERM (Kubernetes stopping the pod) or SIGINT (Ctrl-C).
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Runs `ateda produce`: prints one JSON line (topic, partitions, produced, seconds).
pub fn run_produce(args: ProduceArgs) -> ExitCode {
    crate::logging::init("info");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ateda produce: error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let opts = ProduceOptions {
        brokers: args.brokers.clone(),
        topic: args.topic.clone(),
        partitions: args.partitions,
        rate: args.rate,
        extra: args.kafka_options.clone(),
    };
    match runtime.block_on(produce(&args.sources, &opts)) {
        Ok(s) => {
            println!("{}", serde_json::to_string(&s).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ateda produce: error: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_options_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("3 days").is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(
            parse_kv("security.protocol=SASL_SSL"),
            Ok(("security.protocol".into(), "SASL_SSL".into()))
        );
        assert!(parse_kv("novalue").is_err());
    }
}
