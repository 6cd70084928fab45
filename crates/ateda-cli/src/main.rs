//! `ateda`: the ATEDA command line.

mod cutout_cmd;
mod fetch_cmd;
mod gen_cmd;
mod ingest_cmd;
mod lakehouse_args;
mod logging;
mod maintain_cmd;
mod metrics;
mod pipeline_args;
mod recover_cmd;
mod schema_cmd;
mod status_cmd;
mod stream_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc keeps freed pages for reuse: the ingest allocates and frees a
/// packet-sized buffer per alert, and the system allocator's trimming made the
/// kernel zero fresh pages over and over (seen in the profile).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// ATEDA: a lakehouse for astronomical alert streams.
#[derive(Parser)]
#[command(name = "ateda", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest ZTF and Rubin/LSST alerts (files, directories, nightly tarballs; each packet
    /// recognised by content) into their bronze tables, which evolve with new writer schemas.
    Ingest(ingest_cmd::IngestArgs),
    /// Inspect the alerts table's schema: what a file would change (diff), how it grew (history).
    Schema(schema_cmd::SchemaArgs),
    /// Register each bronze table's latest metadata file in a lost or damaged catalog
    /// (after `ateda ingest` refused to start: "lost catalog").
    Recover(recover_cmd::RecoverArgs),
    /// Download nightly tarballs of the ZTF public archive: resumable, verified against
    /// its MD5SUMS, renamed into place only when the MD5 matches.
    Fetch(fetch_cmd::FetchArgs),
    /// Generate a synthetic night from the bundled real packets (for benchmarks and tests).
    Gen(gen_cmd::GenArgs),
    /// Consume live alert streams (Kafka: ZTF and Rubin topics) into the bronze tables,
    /// exactly once: the positions are committed with the rows.
    Stream(stream_cmd::StreamArgs),
    /// Replay alert files, directories or tarballs into a Kafka topic, one message per
    /// packet (demos, tests, benchmarks).
    Produce(stream_cmd::ProduceArgs),
    /// Write the exact stamp bytes of one alert (by candid / diaSourceId) from either
    /// cutout layout, local or S3.
    Cutout(cutout_cmd::CutoutArgs),
    /// Check a deployed stack (Kubernetes): which component is not ready and why.
    Status(status_cmd::StatusArgs),
    /// Remove orphan packs of the packed cutout layout (packs no row points into, left
    /// by stopped runs) and killed runs' temporary files, older than a grace period.
    Maintain(maintain_cmd::MaintainArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Ingest(args) => ingest_cmd::run(args),
        Command::Schema(args) => schema_cmd::run(args),
        Command::Recover(args) => recover_cmd::run(args),
        Command::Fetch(args) => fetch_cmd::run(args),
        Command::Gen(args) => gen_cmd::run(args),
        Command::Stream(args) => stream_cmd::run(args),
        Command::Produce(args) => stream_cmd::run_produce(args),
        Command::Status(args) => status_cmd::run(args),
        Command::Cutout(args) => cutout_cmd::run(args),
        Command::Maintain(args) => maintain_cmd::run(args),
    }
}
