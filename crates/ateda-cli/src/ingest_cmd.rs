//! `ateda ingest`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use ateda_decode::Limits;
use ateda_ingest::defaults;
use ateda_ingest::{IngestOptions, Live, Summary};
use ateda_registry::SchemaIds;
use ateda_schema::SURVEYS;
use clap::Args;
use std::sync::Arc;

use crate::lakehouse_args::LakehouseArgs;
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `ateda ingest`.
#[derive(Args, Debug)]
pub struct IngestArgs {
    /// Alert sources: .avro files (an Avro container of one or more alerts, or one
    /// Rubin alert in the Kafka wire format), directories (recursive) or nightly
    /// tarballs (streamed, never extracted). ZTF and Rubin packets may be mixed: each
    /// is recognised by content and goes to its survey's table.
    #[arg(required = true)]
    sources: Vec<PathBuf>,
    #[command(flatten)]
    lakehouse: LakehouseArgs,
    /// Cutout objects root: file:///abs/dir or s3://bucket/prefix.
    #[arg(long, env = "ATEDA_CUTOUTS")]
    cutouts: Option<String>,
    /// Where rejected members' bytes are kept (default: DIR/quarantine, or <cutouts>/_quarantine).
    #[arg(long, env = "ATEDA_QUARANTINE")]
    quarantine: Option<String>,
    /// Alerts per Iceberg commit.
    #[arg(long, default_value_t = defaults::COMMIT_EVERY)]
    commit_every: usize,
    /// Alerts per decoded Arrow chunk.
    #[arg(long, default_value_t = defaults::CHUNK_ALERTS)]
    chunk: usize,
    /// Decode threads (default: available cores).
    #[arg(long)]
    workers: Option<usize>,
    /// Stamp uploads in flight.
    #[arg(long, default_value_t = defaults::UPLOADS)]
    uploads: usize,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
    /// Never draw a progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Serve Prometheus metrics on this address (e.g. 0.0.0.0:9898) while running.
    #[arg(long, env = "ATEDA_METRICS_ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
    /// With --metrics-addr: keep serving this many seconds after the run, so a scraper
    /// sees the final values of a short job.
    #[arg(long, default_value_t = 0)]
    metrics_hold: u64,
    /// First observation night accepted, YYYY-MM-DD (default: each survey's first night,
    /// 2017-01-01 for ZTF, 2020-01-01 for Rubin). An alert dated earlier is quarantined.
    #[arg(long, value_parser = parse_night)]
    first_night: Option<i32>,
    /// Last observation night accepted, YYYY-MM-DD (default: tomorrow, UTC). An alert
    /// dated later is quarantined.
    #[arg(long, value_parser = parse_night)]
    last_night: Option<i32>,
    /// Confluent-compatible schema registry for Rubin wire-format packets
    /// (`GET URL/schemas/ids/{id}`, cached, retried); the bundled schemas (7.0-11.0)
    /// answer when it is unreachable or unset.
    #[arg(long, env = "ATEDA_SCHEMA_REGISTRY")]
    schema_registry: Option<String>,
    /// Seconds after which an alert commit whose ledger commit never came (a run stopped
    /// between the two) has its ledger rows rebuilt from its rows.
    #[arg(long, default_value_t = defaults::LEDGER_GRACE_SECS)]
    ledger_grace_secs: u64,
    /// Caps on hostile input (docs/bronze-contract.md, "Caps on hostile input"); boxed:
    /// the ingest arguments stay small beside the other commands' (clippy large_enum_variant).
    #[command(flatten)]
    limits: Box<LimitArgs>,
}

/// Caps on hostile input; the defaults fit every real packet with a wide margin.
#[derive(Args, Debug)]
pub struct LimitArgs {
    /// Largest member (tarball member or .avro file) read, in bytes; a larger one is
    /// quarantined with its first --keep-bytes, its size and sha256.
    #[arg(long, default_value_t = Limits::DEFAULT.max_member_bytes)]
    max_member_bytes: u64,
    /// Bytes of an oversized or unreadable member kept in quarantine.
    #[arg(long, default_value_t = Limits::DEFAULT.keep_bytes)]
    keep_bytes: u64,
    /// Total inflated size of one container's deflate blocks, in bytes.
    #[arg(long, default_value_t = Limits::DEFAULT.max_inflated_bytes)]
    max_inflated_bytes: u64,
    /// Items of one array (or entries of one map) in a packet.
    #[arg(long, default_value_t = Limits::DEFAULT.max_array_items)]
    max_array_items: u64,
    /// Values of one member that take no input bytes (null-typed values, records,
    /// fields the writer lacks).
    #[arg(long, default_value_t = Limits::DEFAULT.max_zero_width_values)]
    max_zero_width_values: u64,
    /// Data blocks in one Avro container.
    #[arg(long, default_value_t = Limits::DEFAULT.max_blocks)]
    max_blocks: u64,
    /// Distinct writer schemas kept resolved per decode worker.
    #[arg(long, default_value_t = Limits::DEFAULT.max_cached_schemas)]
    max_cached_schemas: usize,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            max_member_bytes: self.max_member_bytes,
            keep_bytes: self.keep_bytes,
            max_inflated_bytes: self.max_inflated_bytes,
            max_array_items: self.max_array_items,
            max_zero_width_values: self.max_zero_width_values,
            max_blocks: self.max_blocks,
            max_cached_schemas: self.max_cached_schemas,
        }
    }
}

fn options(args: &IngestArgs, runtime: &tokio::runtime::Runtime) -> Result<IngestOptions> {
    let (lakehouse, dir) = args.lakehouse.config(args.cutouts.is_none())?;
    let under = |sub: &str| dir.as_ref().map(|d| d.join(sub));
    let cutouts = match &args.cutouts {
        Some(c) => c.clone(),
        None => format!("file://{}", under("cutouts").unwrap_or_default().display()),
    };
    let quarantine = match (&args.quarantine, &dir) {
        (Some(q), _) => q.clone(),
        (None, Some(d)) if !cutouts.starts_with("s3://") => {
            format!("file://{}", d.join("quarantine").display())
        }
        (None, _) => format!("{}/_quarantine", cutouts.trim_end_matches('/')),
    };
    let workers = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let writer_schemas =
        SchemaIds::from_flag(args.schema_registry.as_deref(), runtime.handle().clone())
            .context("--schema-registry")?;
    Ok(IngestOptions {
        surveys: SURVEYS.to_vec(),
        sources: args.sources.clone(),
        lakehouse,
        cutouts,
        quarantine,
        commit_every: args.commit_every,
        chunk_alerts: args.chunk,
        workers,
        upload_concurrency: args.uploads,
        limits: args.limits.limits(),
        first_night: args.first_night,
        last_night: args.last_night,
        writer_schemas: Arc::new(writer_schemas),
        ledger_grace: Duration::from_secs(args.ledger_grace_secs),
    })
}

/// A night given as YYYY-MM-DD, as days since 1970-01-01.
fn parse_night(s: &str) -> Result<i32, String> {
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| format!("{s:?} is not a YYYY-MM-DD date: {e}"))?;
    let days = d
        .signed_duration_since(chrono::NaiveDate::default())
        .num_days();
    i32::try_from(days).map_err(|_| format!("{s} is out of range"))
}

fn init_logging(progress: bool) {
    let default = if progress { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn progress_bar(live: &Live) -> ProgressBar {
    let bar = ProgressBar::new(live.total_bytes.load(Ordering::Relaxed).max(1));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Runs `ateda ingest`: exit code 0 when everything was ingested, 2 when
/// something was quarantined, 1 on an error that stopped the run.
pub fn run(args: IngestArgs) -> ExitCode {
    let show_progress = !args.no_progress && std::io::stderr().is_terminal();
    init_logging(show_progress);
    match run_inner(&args, show_progress) {
        Ok(summary) => {
            println!("{}", summary_line(&summary));
            if summary.quarantined > 0 {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("ateda ingest: error: {e:#}");
            // Only where a re-run can fix it (an outage, a transient I/O error): bad flags,
            // a lost catalog, a schema conflict, a full disk or a refused permission
            // stay until someone acts, and the message above says what.
            let rerun_helps = e
                .downcast_ref::<ateda_ingest::IngestError>()
                .is_some_and(ateda_ingest::IngestError::rerun_helps);
            if rerun_helps {
                eprintln!("nothing half-committed: re-run the same command to complete the ingest (no duplicates)");
            }
            ExitCode::from(1)
        }
    }
}

fn run_inner(args: &IngestArgs, show_progress: bool) -> Result<Summary> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let opts = options(args, &runtime)?;
    let live = Live::default();
    let summary = runtime.block_on(async {
        if let Some(addr) = args.metrics_addr {
            crate::metrics::serve(addr, &live)?;
        }
        let ticker = show_progress.then(|| {
            let live = live.clone();
            tokio::spawn(async move {
                let mut bar: Option<ProgressBar> = None;
                loop {
                    let total = live.total_bytes.load(Ordering::Relaxed);
                    if total > 0 {
                        let b = bar.get_or_insert_with(|| progress_bar(&live));
                        b.set_position(live.bytes.bytes());
                        b.set_message(format!(
                            "{} alerts, {} new, {} quarantined",
                            live.alerts.load(Ordering::Relaxed),
                            live.ingested.load(Ordering::Relaxed),
                            live.quarantined.load(Ordering::Relaxed)
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
            })
        });
        let res = ateda_ingest::ingest(&opts, &live).await;
        if let Some(t) = ticker {
            t.abort();
        }
        if args.metrics_addr.is_some() {
            crate::metrics::publish(&live);
            tokio::time::sleep(Duration::from_secs(args.metrics_hold)).await;
        }
        res.map_err(anyhow::Error::from)
    })?;
    if show_progress {
        eprint!("\r\x1b[2K");
    }
    if let Some(path) = &args.summary_json {
        let json = serde_json::to_string_pretty(&summary)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(summary)
}

fn summary_line(s: &Summary) -> String {
    let mut extra = String::new();
    let mut note = |n: u64, what: &str| {
        if n > 0 {
            extra.push_str(&format!(", {n} {what}"));
        }
    };
    note(
        s.duplicate_conflicts,
        "duplicates with different content (quarantined)",
    );
    note(s.skipped_files, "non-alert files skipped");
    note(s.skipped_entries, "directory entries skipped");
    note(s.skipped_members, "non-regular tar members skipped");
    note(s.empty_sources, "sources with no alerts");
    note(s.oversized_members, "oversized members (quarantined)");
    if s.tables.len() > 1 {
        let per_table: Vec<String> = s
            .tables
            .iter()
            .map(|(t, c)| format!("bronze.{t} +{}", c.rows))
            .collect();
        extra.push_str(&format!(" ({})", per_table.join(", ")));
    }
    format!(
        "ingested {} alerts ({} already present, {} quarantined{}), {} cutouts written ({} already present), {} commits, snapshot {}, {:.2} s, {:.0} alerts/s{}{}",
        s.ingested,
        s.already_present,
        s.quarantined,
        if s.quarantined_before > 0 { format!(", {} recorded before", s.quarantined_before) } else { String::new() },
        s.cutouts_written,
        s.cutouts_present,
        s.commits,
        s.snapshot_id.map(|x| x.to_string()).unwrap_or_else(|| "none".into()),
        s.elapsed_s,
        s.alerts_per_s,
        if s.columns_added.is_empty() { String::new() } else { format!(", {} schema changes ({})", s.columns_added.len(), s.columns_added.join("; ")) },
        extra,
    )
}
