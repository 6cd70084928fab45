//! `ateda`: the ATEDA command line.

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Ingest(args) => ingest_cmd::run(args),
    }
}
