//! The pipeline's arguments, shared by `ateda ingest` and `ateda stream`: where the
//! lakehouse, cutouts and quarantine are, how many workers, which nights are accepted,
//! the schema registry and the caps on hostile input.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use ateda_decode::Limits;
use ateda_ingest::{defaults, CutoutLayout, IngestOptions, PackOptions};
use ateda_registry::SchemaIds;
use ateda_schema::SURVEYS;
use clap::Args;

use crate::lakehouse_args::LakehouseArgs;

/// Where and how the pipeline writes.
#[derive(Args, Debug)]
pub struct PipelineArgs {
    #[command(flatten)]
    lakehouse: LakehouseArgs,
    /// Cutout objects root: file:///abs/dir or s3://bucket/prefix.
    #[arg(long, env = "ATEDA_CUTOUTS")]
    cutouts: Option<String>,
    /// Where rejected members' bytes are kept (default: DIR/quarantine, or <cutouts>/_quarantine).
    #[arg(long, env = "ATEDA_QUARANTINE")]
    quarantine: Option<String>,
    /// Alerts per decoded Arrow chunk.
    #[arg(long, default_value_t = defaults::CHUNK_ALERTS)]
    chunk: usize,
    /// Decode threads (default: available cores).
    #[arg(long)]
    workers: Option<usize>,
    /// Stamp uploads in flight.
    #[arg(long, default_value_t = defaults::UPLOADS)]
    uploads: usize,
    /// How stamps are stored: `per-stamp` (an object each) or `packed` (byte ranges of
    /// pack objects per survey and night; docs/cutouts.md).
    #[arg(long, env = "ATEDA_CUTOUT_LAYOUT", value_enum, default_value_t = Layout::PerStamp)]
    cutout_layout: Layout,
    /// Packed layout: a pack is closed before a stamp would take it past this many bytes.
    #[arg(long, env = "ATEDA_PACK_SIZE", default_value_t = PackOptions::DEFAULT_TARGET,
          value_parser = clap::value_parser!(u64).range(1..))]
    pack_size: u64,
    /// Packed layout on S3: a pack up to this many bytes is one PUT, a larger one a
    /// multipart upload in parts of this size (at least 5 MiB).
    #[arg(long, env = "ATEDA_PACK_PART_SIZE", default_value_t = PackOptions::DEFAULT_PART as u64,
          value_parser = clap::value_parser!(u64).range(PackOptions::MIN_PART as u64..))]
    pack_part_size: u64,
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

/// The `--cutout-layout` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Every stamp its own object.
    PerStamp,
    /// Stamps back to back in pack objects; each row records URI, offset and length.
    Packed,
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

impl PipelineArgs {
    /// The pipeline's options for these sources (none for a stream).
    pub fn options(
        &self,
        sources: Vec<PathBuf>,
        commit_every: usize,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<IngestOptions> {
        let args = self;
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
            sources,
            lakehouse,
            cutouts,
            quarantine,
            commit_every,
            chunk_alerts: args.chunk,
            workers,
            upload_concurrency: args.uploads,
            cutout_layout: match args.cutout_layout {
                Layout::PerStamp => CutoutLayout::PerStamp,
                Layout::Packed => CutoutLayout::Packed(PackOptions {
                    target: args.pack_size,
                    part: usize::try_from(args.pack_part_size).unwrap_or(usize::MAX),
                }),
            },
            limits: args.limits.limits(),
            first_night: args.first_night,
            last_night: args.last_night,
            writer_schemas: Arc::new(writer_schemas),
            ledger_grace: Duration::from_secs(args.ledger_grace_secs),
        })
    }
}

/// A night given as YYYY-MM-DD, as days since 1970-01-01.
pub(crate) fn parse_night(s: &str) -> Result<i32, String> {
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| format!("{s:?} is not a YYYY-MM-DD date: {e}"))?;
    let days = d
        .signed_duration_since(chrono::NaiveDate::default())
        .num_days();
    i32::try_from(days).map_err(|_| format!("{s} is out of range"))
}
