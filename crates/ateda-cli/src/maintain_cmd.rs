//! `ateda maintain`: removes orphan packs (packed cutout layout): packs no row points
//! into, left by a run stopped between closing them and committing its rows, and the
//! temporary files of killed runs; older than a grace period, never a committed pack.
//! Prints what it found as JSON on standard output.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ateda_ingest::sweep_orphan_packs;
use ateda_lakehouse::Lakehouse;
use ateda_objects::Bucket;
use ateda_schema::SURVEYS;
use clap::Args;

use crate::lakehouse_args::LakehouseArgs;

/// Arguments of `ateda maintain`.
#[derive(Args, Debug)]
pub struct MaintainArgs {
    /// Cutout objects root the ingest wrote to: file:///abs/dir or s3://bucket/prefix
    /// (default: DIR/cutouts).
    #[arg(long, env = "ATEDA_CUTOUTS")]
    cutouts: Option<String>,
    /// Only packs and temporary files older than this many hours are taken (a live run's
    /// packs wait at most one commit interval for their rows).
    #[arg(long, default_value_t = 24.0)]
    older_than_hours: f64,
    /// List the orphans without removing them.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    lakehouse: LakehouseArgs,
}

/// Runs `ateda maintain`. Exit 0: swept (or nothing to do); 1: an error.
pub fn run(args: MaintainArgs) -> ExitCode {
    crate::logging::init("info");
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ateda maintain: error: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run_inner(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ateda maintain: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run_inner(args: MaintainArgs) -> Result<()> {
    if !(args.older_than_hours.is_finite() && args.older_than_hours >= 0.0) {
        bail!("--older-than-hours must be a number >= 0");
    }
    let Some(cfg) = args.lakehouse.existing_config()? else {
        bail!(
            "no lakehouse at {} (no catalog.db; give --lakehouse or --catalog)",
            args.lakehouse.lakehouse.display()
        );
    };
    let cutouts = match &args.cutouts {
        Some(c) => c.clone(),
        None => {
            let dir =
                std::path::absolute(&args.lakehouse.lakehouse).context("resolving --lakehouse")?;
            format!("file://{}", dir.join("cutouts").display())
        }
    };
    let bucket = Bucket::open(&cutouts).context("opening --cutouts")?;
    let grace = Duration::from_secs_f64(args.older_than_hours * 3600.0);
    let mut report = serde_json::Map::new();
    for survey in SURVEYS.iter().copied() {
        let lh = Lakehouse::connect(&cfg, survey)
            .await
            .context("connecting to the catalog")?;
        let sweep = sweep_orphan_packs(&lh, &bucket, grace, args.dry_run)
            .await
            .with_context(|| format!("sweeping the {} packs", survey.name))?;
        eprintln!(
            "{}: {} packs, {} referenced, {} orphans ({} bytes){}, {} younger than {} h left alone",
            survey.name,
            sweep.packs,
            sweep.referenced,
            sweep.orphans.len(),
            sweep.orphan_bytes,
            if args.dry_run {
                " listed (dry run)"
            } else {
                " removed"
            },
            sweep.recent,
            args.older_than_hours
        );
        report.insert(
            survey.name.to_string(),
            serde_json::to_value(&sweep).context("the report")?,
        );
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&report).context("the report")?
    );
    Ok(())
}
