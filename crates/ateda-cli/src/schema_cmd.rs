//! `ateda schema diff` and `ateda schema history`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ateda_lakehouse::Lakehouse;
use ateda_schema::{diff_writer, parse_writer_schema, Survey, SURVEYS};
use clap::{Args, Subcommand};

use crate::lakehouse_args::LakehouseArgs;

/// Arguments of `ateda schema`.
#[derive(Args, Debug)]
pub struct SchemaArgs {
    #[command(subcommand)]
    command: SchemaCommand,
}

#[derive(Subcommand, Debug)]
enum SchemaCommand {
    /// What ingesting this file would change in the alerts table (a dry run: nothing is
    /// written). Exit 0: nothing to change or columns to add; 2: its packets would be
    /// quarantined (an irreconcilable type change).
    Diff {
        /// An Avro container file (its header's writer schema is compared) or a Rubin
        /// wire-format packet (the bundled schema of its id); its survey is read from it.
        file: PathBuf,
        #[command(flatten)]
        lakehouse: LakehouseArgs,
    },
    /// The alerts table's schema ids, oldest first, with what each changed.
    History {
        #[command(flatten)]
        lakehouse: LakehouseArgs,
        /// Whose alerts table: ztf (bronze.alerts) or lsst (bronze.lsst_alerts).
        #[arg(long, default_value = "ztf", value_parser = parse_survey)]
        survey: Survey,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `ateda schema ...`.
pub fn run(args: SchemaArgs) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run_inner(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run_inner(args: SchemaArgs) -> Result<ExitCode> {
    match args.command {
        SchemaCommand::Diff { file, lakehouse } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let survey = SURVEYS
                .get(ateda_decode::Router::new(SURVEYS).route(&bytes))
                .copied()
                .unwrap_or(SURVEYS[0]);
            let text = match ateda_decode::wire::parse_wire(&bytes) {
                Some(wire) => ateda_schema::lsst::by_id(wire.id).with_context(|| {
                    format!(
                        "{}: no bundled writer schema for schema id {} (bundled: {})",
                        file.display(),
                        wire.id,
                        ateda_schema::lsst::bundled_range()
                    )
                })?,
                None => {
                    let schema = ateda_decode::ocf::header_schema(&bytes).with_context(|| {
                        format!("{} is not a readable Avro container", file.display())
                    })?;
                    std::str::from_utf8(schema).context("schema is not UTF-8")?
                }
            };
            let writer = parse_writer_schema(text)
                .with_context(|| format!("writer schema of {}", file.display()))?;
            // Nothing is created: with no catalog yet, the diff is against the schema a new
            // table would start with.
            let table = match lakehouse.existing_config()? {
                Some(cfg) => {
                    Lakehouse::connect(&cfg, survey)
                        .await?
                        .alerts_schema_or_bootstrap()
                        .await?
                }
                None => std::sync::Arc::new(ateda_schema::bootstrap_schema(&survey)?),
            };
            let diff = diff_writer(&survey, &writer, &table);
            println!(
                "{}: writer schema {} against bronze.{} schema {}",
                file.display(),
                writer.version,
                survey.table,
                table.schema_id()
            );
            for c in &diff.changes {
                println!("  {}", c.describe());
            }
            for c in &diff.conflicts {
                println!("  conflict: {c}");
            }
            if diff.is_empty() {
                println!("  no change: its packets fit the table as it is");
            }
            Ok(if diff.conflicts.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        SchemaCommand::History {
            lakehouse,
            survey,
            json,
        } => {
            let Some(cfg) = lakehouse.existing_config()? else {
                anyhow::bail!(
                    "no lakehouse catalog at {}",
                    lakehouse.lakehouse.join("catalog.db").display()
                );
            };
            let lh = Lakehouse::connect(&cfg, survey).await?;
            let history = lh.schema_history().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&history)?);
                return Ok(ExitCode::SUCCESS);
            }
            for v in history {
                let what = if v.changes.is_empty() {
                    if v.schema_id == 0 {
                        "bootstrap".to_string()
                    } else {
                        "no field change".to_string()
                    }
                } else {
                    v.changes.join("; ")
                };
                println!(
                    "schema {}{}: {} fields: {what}",
                    v.schema_id,
                    if v.current { " (current)" } else { "" },
                    v.columns
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A survey by its short name.
fn parse_survey(s: &str) -> Result<Survey, String> {
    Survey::by_name(s).ok_or_else(|| {
        let names: Vec<&str> = SURVEYS.iter().map(|s| s.name).collect();
        format!("unknown survey {s:?} (one of {})", names.join(", "))
    })
}
