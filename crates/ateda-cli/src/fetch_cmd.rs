//! `ateda fetch`: downloads nightly tarballs of the ZTF public archive, resumable and
//! verified against its `MD5SUMS` (the logic is in `ateda-fetch`); with `--ingest` each
//! night is ingested while it downloads (the bytes handed from the download to the
//! ingest pipeline through `ateda_fetch::tee`) and recorded in `bronze.ingest_ledger`
//! with its MD5 verified.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use ateda_fetch::{
    fetch_night, parse_nights, tarball_name, Archive, FetchError, Fetched, Night, Outcome, Progress,
};
use ateda_retry::RetryPolicy;
use clap::Args;
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

mod ingest;

/// The ZTF public alert archive.
const DEFAULT_ARCHIVE: &str = "https://ztf.uw.edu/alerts/public/";

/// Arguments of `ateda fetch`.
#[derive(Args, Debug)]
pub struct FetchArgs {
    /// Nights to fetch: YYYYMMDD, an inclusive range YYYYMMDD..YYYYMMDD, or `latest` (the
    /// newest night in the archive's MD5SUMS).
    #[arg(required = true, value_name = "NIGHT")]
    nights: Vec<String>,
    /// The archive: ztf_public_YYYYMMDD.tar.gz files and MD5SUMS under this URL.
    #[arg(long, env = "ATEDA_ARCHIVE", default_value = DEFAULT_ARCHIVE, value_name = "URL")]
    archive: String,
    /// Directory the tarballs are written to (created if missing).
    #[arg(long, env = "ATEDA_FETCH_DIR", default_value = ".", value_name = "DIR")]
    to: PathBuf,
    /// Nights downloaded at a time.
    #[arg(long, default_value_t = 2, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    parallel: u16,
    /// Download again nights already fetched and verified.
    #[arg(long)]
    force: bool,
    /// No progress bar (logs instead), also on a terminal.
    #[arg(long)]
    no_progress: bool,
    /// How long transient failures (resets, timeouts, 5xx) are retried without any byte
    /// received before a night is given up (its `.part` is kept for the next run).
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    retry_budget: u64,
    /// Ingest each night while it downloads (one night at a time): the tarball is read
    /// by the ingest as it arrives, and the night is recorded in bronze.ingest_ledger with
    /// its MD5 verified at the end. Nights already fetched, verified and ingested are
    /// skipped (--force to do them again).
    #[arg(long)]
    ingest: bool,
    /// With --ingest: where the rows, stamps and quarantine go, workers, accepted nights,
    /// schema registry and caps on hostile input (the flags of ateda ingest).
    #[command(flatten)]
    pipeline: crate::pipeline_args::PipelineArgs,
    /// With --ingest: alerts per Iceberg commit.
    #[arg(long, default_value_t = ateda_ingest::defaults::COMMIT_EVERY)]
    commit_every: usize,
}

/// A night's progress bar, drawn when its transfer starts.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, name: &str, at: u64, total: Option<u64>) {
        if let Some(total) = total {
            self.0.set_length(total);
        }
        self.0.set_position(at);
        self.0.reset_eta();
        self.0.set_message(name.to_string());
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

/// Runs `ateda fetch`: exit 0 when every night asked for is verified (fetched now or
/// earlier), 1 otherwise (each failed night has its line; the others are still fetched),
/// 2 on a malformed night.
pub fn run(args: FetchArgs) -> ExitCode {
    let show_progress = !args.no_progress && std::io::stderr().is_terminal();
    crate::logging::init(if show_progress {
        "warn"
    } else {
        "warn,ateda_fetch=info"
    });
    let nights = match parse_nights(&args.nights) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("ateda fetch: error: {e}");
            return ExitCode::from(2);
        }
    };
    let ran = if args.ingest {
        ingest::run(&args, &nights, show_progress)
    } else {
        run_inner(&args, &nights, show_progress)
    };
    match ran {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("ateda fetch: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The summary line of a verified night, e.g. `ztf_public_20231012.tar.gz: 1234567 bytes
/// (resumed at 400000), MD5 ok`.
fn ok_line(f: &Fetched) -> String {
    match f.outcome {
        Outcome::Skipped => format!(
            "{}: already fetched and verified ({} bytes, MD5 {})",
            f.name, f.size, f.md5
        ),
        Outcome::Fetched => {
            let mut notes = Vec::new();
            if let Some(at) = f.resumed_at {
                notes.push(format!("resumed at {at}"));
            }
            for r in &f.restarts {
                notes.push(format!("restarted from zero: {r}"));
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join("; "))
            };
            format!("{}: {} bytes{notes}, MD5 ok", f.name, f.size)
        }
    }
}

/// Fetches every night; `Ok(true)` when all are verified.
fn run_inner(args: &FetchArgs, nights: &[Night], show_progress: bool) -> Result<bool> {
    std::fs::create_dir_all(&args.to).with_context(|| format!("creating {}", args.to.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (archive, sums) = open_archive(args, &runtime)?;
    let (names, all_ok) = tarball_names(nights, &sums);

    let multi = MultiProgress::with_draw_target(if show_progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template(
        "{msg} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let (archive, sums, multi) = (&archive, &sums, &multi);
    let (mut fetched, mut skipped, mut failed, mut bytes) = (0u32, 0u32, 0u32, 0u64);
    runtime.block_on(async {
        let mut results = futures::stream::iter(names.iter())
            .map(|name| {
                let bar = multi.add(ProgressBar::no_length().with_style(style.clone()));
                bar.set_message(name.clone());
                async move {
                    let r =
                        fetch_night(archive, sums, &args.to, name, args.force, &Bar(bar.clone()))
                            .await;
                    bar.finish_and_clear();
                    multi.remove(&bar);
                    r
                }
            })
            .buffer_unordered(usize::from(args.parallel));
        while let Some(r) = results.next().await {
            multi.suspend(|| match &r {
                Ok(f) => {
                    println!("{}", ok_line(f));
                    match f.outcome {
                        Outcome::Fetched => fetched += 1,
                        Outcome::Skipped => skipped += 1,
                    }
                    bytes += f.received;
                }
                Err(e) => {
                    eprintln!("{}", one_line(e));
                    failed += 1;
                }
            });
        }
    });
    println!(
        "{} nights: {fetched} fetched, {skipped} already verified, {failed} failed; {bytes} bytes received",
        names.len()
    );
    Ok(all_ok && failed == 0)
}

/// The tarball names of the nights asked for, each once, in order; `false` when
/// `latest` cannot be resolved (said on stderr).
fn tarball_names(nights: &[Night], sums: &ateda_fetch::Md5Sums) -> (Vec<String>, bool) {
    let mut all_ok = true;
    let mut names: Vec<String> = Vec::new();
    for night in nights {
        let name = match night {
            Night::Date(d) => tarball_name(*d),
            Night::Latest => match sums.latest_night() {
                Some(d) => tarball_name(d),
                None => {
                    eprintln!("latest: no ztf_public_YYYYMMDD.tar.gz in the archive's MD5SUMS");
                    all_ok = false;
                    continue;
                }
            },
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    (names, all_ok)
}

/// The archive client and its `MD5SUMS`, read once per run.
fn open_archive(
    args: &FetchArgs,
    runtime: &tokio::runtime::Runtime,
) -> Result<(Archive, ateda_fetch::Md5Sums)> {
    let policy = RetryPolicy::with_budget(Duration::from_secs(args.retry_budget));
    let archive = Archive::new(&args.archive, policy)?;
    let sums = runtime
        .block_on(archive.md5sums())
        // the error's message already holds its causes: not repeated by `{:#}`
        .map_err(|e| anyhow::anyhow!("cannot read MD5SUMS of {}: {e}", archive.base()))?;
    Ok((archive, sums))
}

/// A failed night's line: the error names the file.
fn one_line(e: &FetchError) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(outcome: Outcome, resumed_at: Option<u64>) -> Fetched {
        Fetched {
            name: "ztf_public_20231012.tar.gz".into(),
            path: PathBuf::from("ztf_public_20231012.tar.gz"),
            size: 1234567,
            md5: "0123456789abcdef0123456789abcdef".into(),
            outcome,
            resumed_at,
            restarts: Vec::new(),
            received: 0,
        }
    }

    #[test]
    fn summary_lines() {
        assert_eq!(
            ok_line(&fetched(Outcome::Fetched, Some(400000))),
            "ztf_public_20231012.tar.gz: 1234567 bytes (resumed at 400000), MD5 ok"
        );
        assert_eq!(
            ok_line(&fetched(Outcome::Fetched, None)),
            "ztf_public_20231012.tar.gz: 1234567 bytes, MD5 ok"
        );
        let mut restarted = fetched(Outcome::Fetched, None);
        restarted.restarts.push(ateda_fetch::Restart::Changed);
        assert_eq!(
            ok_line(&restarted),
            "ztf_public_20231012.tar.gz: 1234567 bytes (restarted from zero: the file changed on the server), MD5 ok"
        );
        assert!(ok_line(&fetched(Outcome::Skipped, None)).contains("already fetched and verified"));
    }
}
