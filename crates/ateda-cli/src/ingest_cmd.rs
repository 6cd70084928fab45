//! `ateda ingest`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use ateda_ingest::defaults;
use ateda_ingest::{Live, Summary};
use clap::Args;

use crate::pipeline_args::PipelineArgs;
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
    pipeline: PipelineArgs,
    /// Alerts per Iceberg commit.
    #[arg(long, default_value_t = defaults::COMMIT_EVERY)]
    commit_every: usize,
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
    // info, or warn under a progress bar
    crate::logging::init(if show_progress { "warn" } else { "info" });
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
    let opts = args
        .pipeline
        .options(args.sources.clone(), args.commit_every, &runtime)?;
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
        "ingested {} alerts ({} already present, {} quarantined{}), {} cutouts written{} ({} already present), {} commits, snapshot {}, {:.2} s, {:.0} alerts/s{}{}",
        s.ingested,
        s.already_present,
        s.quarantined,
        if s.quarantined_before > 0 { format!(", {} recorded before", s.quarantined_before) } else { String::new() },
        s.cutouts_written,
        if s.packs_written > 0 { format!(" in {} packs", s.packs_written) } else { String::new() },
        s.cutouts_present,
        s.commits,
        s.snapshot_id.map(|x| x.to_string()).unwrap_or_else(|| "none".into()),
        s.elapsed_s,
        s.alerts_per_s,
        if s.columns_added.is_empty() { String::new() } else { format!(", {} schema changes ({})", s.columns_added.len(), s.columns_added.join("; ")) },
        extra,
    )
}
