//! `ateda recover`: registers each bronze table's latest metadata file in a lost or
//! damaged catalog.

use std::process::ExitCode;

use anyhow::Result;
use ateda_lakehouse::{Recovered, Recovery};
use ateda_schema::SURVEYS;
use clap::Args;

use crate::lakehouse_args::LakehouseArgs;

/// Arguments of `ateda recover`.
#[derive(Args, Debug)]
pub struct RecoverArgs {
    #[command(flatten)]
    lakehouse: LakehouseArgs,
    /// Only say what would be registered; change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `ateda recover`: exit 0 when every table with metadata in the warehouse is in
/// the catalog (registered now or already), 1 on an error.
pub fn run(args: RecoverArgs) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    match run_inner(&args) {
        Ok(recovery) => {
            for line in report(&recovery) {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ateda recover: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run_inner(args: &RecoverArgs) -> Result<Recovery> {
    let (cfg, _) = args.lakehouse.config(false)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Every survey's alerts table; the shared tables (ledger, quarantine) once.
    let mut all: Option<Recovery> = None;
    for &survey in SURVEYS {
        let r = runtime.block_on(ateda_lakehouse::recover(&cfg, survey, args.dry_run))?;
        match &mut all {
            None => all = Some(r),
            Some(all) => {
                all.moved_aside = all.moved_aside.take().or(r.moved_aside);
                for t in r.tables {
                    if !all.tables.iter().any(|x| x.table() == t.table()) {
                        all.tables.push(t);
                    }
                }
            }
        }
    }
    all.ok_or_else(|| anyhow::anyhow!("no survey"))
}

/// One line per action, e.g. `registered bronze.alerts: file:///.../00007-<uuid>.metadata.json
/// (snapshot 123, 301 rows)`.
fn report(r: &Recovery) -> Vec<String> {
    let verb = if r.dry_run {
        "would register"
    } else {
        "registered"
    };
    let mut lines = Vec::new();
    if let Some(aside) = &r.moved_aside {
        let moved = if r.dry_run { "would move" } else { "moved" };
        lines.push(format!(
            "{moved} the damaged catalog file (not a SQLite database) aside to {}",
            aside.display()
        ));
    }
    for t in &r.tables {
        lines.push(match t {
            Recovered::Registered {
                file,
                snapshot,
                rows,
            } => format!(
                "{verb} bronze.{}: {} (snapshot {}, {} rows)",
                file.table,
                file.location,
                snapshot.map_or("none".into(), |s| s.to_string()),
                rows.map_or("?".into(), |n| n.to_string()),
            ),
            Recovered::AlreadyRegistered { table, location } => {
                format!("bronze.{table}: already in the catalog at {location}")
            }
            Recovered::Kept {
                table,
                current,
                newest,
            } => format!(
                "bronze.{table}: left as it is: the catalog has it at {current} (newest in the warehouse: {newest})"
            ),
            Recovered::NoMetadata { table } => {
                format!("bronze.{table}: no metadata file in the warehouse (the next ingest creates it)")
            }
        });
    }
    lines
}
