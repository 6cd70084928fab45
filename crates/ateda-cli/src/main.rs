//! `ateda`: the ATEDA command line.

mod gen_cmd;
mod ingest_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// ATEDA: a lakehouse for astronomical alert streams.
#[derive(Parser)]
#[command(name = "ateda", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest ZTF Avro alerts (files, directories, ztf_public_YYYYMMDD.tar.gz) into bronze tables.
    Ingest(ingest_cmd::IngestArgs),
    /// Generate a synthetic night from the bundled real packets (for benchmarks and tests).
    Gen(gen_cmd::GenArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Ingest(args) => ingest_cmd::run(args),
        Command::Gen(args) => gen_cmd::run(args),
    }
}
