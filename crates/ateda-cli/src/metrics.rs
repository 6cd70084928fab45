//! Prometheus metrics of a running ingest (`--metrics-addr`).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use ateda_ingest::Live;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// Starts the exporter's HTTP listener and a task copying the live counters.
pub fn serve(addr: SocketAddr, live: &Live) -> Result<()> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(
            Matcher::Full("ateda_commit_duration_seconds".into()),
            &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
        )
        .context("metric buckets")?
        .set_buckets_for_metric(
            Matcher::Full("ateda_stream_end_to_end_seconds".into()),
            &[
                0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 300.0,
            ],
        )
        .context("metric buckets")?
        .install()
        .with_context(|| format!("serving metrics on {addr}"))?;
    metrics::describe_counter!(
        "ateda_alerts_ingested_total",
        "alerts added to bronze.alerts"
    );
    metrics::describe_counter!(
        "ateda_alerts_decoded_total",
        "alerts decoded from the sources"
    );
    metrics::describe_counter!(
        "ateda_alerts_quarantined_total",
        "source members quarantined"
    );
    metrics::describe_counter!("ateda_bytes_read_total", "source bytes read");
    metrics::describe_counter!("ateda_cutouts_written_total", "stamp objects created");
    metrics::describe_counter!("ateda_commits_total", "Iceberg commits to bronze.alerts");
    metrics::describe_histogram!("ateda_commit_duration_seconds", "Iceberg commit latency");
    metrics::describe_counter!(
        "ateda_stream_messages_total",
        "Kafka messages read (ateda stream)"
    );
    metrics::describe_gauge!(
        "ateda_stream_consumer_lag",
        "messages behind the end of each partition (librdkafka statistics)"
    );
    metrics::describe_histogram!(
        "ateda_stream_end_to_end_seconds",
        "Kafka message timestamp to the commit that makes its row visible"
    );
    let live = live.clone();
    tokio::spawn(async move {
        loop {
            publish(&live);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    tracing::info!(%addr, "serving Prometheus metrics on /metrics");
    Ok(())
}

/// Copies the live counters into the exported metrics.
pub fn publish(live: &Live) {
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    metrics::counter!("ateda_alerts_ingested_total").absolute(get(&live.ingested));
    metrics::counter!("ateda_alerts_decoded_total").absolute(get(&live.alerts));
    metrics::counter!("ateda_alerts_quarantined_total").absolute(get(&live.quarantined));
    metrics::counter!("ateda_bytes_read_total").absolute(live.bytes.bytes());
    metrics::counter!("ateda_cutouts_written_total").absolute(get(&live.cutouts_written));
    metrics::counter!("ateda_commits_total").absolute(get(&live.commits));
}
