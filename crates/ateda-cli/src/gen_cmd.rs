//! `ateda gen`: a synthetic night made from the bundled real packets.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use ateda_gen::{generate, GenOptions};
use clap::Args;

/// Arguments of `ateda gen`.
#[derive(Args, Debug)]
pub struct GenArgs {
    /// Number of alerts.
    #[arg(long)]
    n: usize,
    /// Observation night, YYYYMMDD.
    #[arg(long)]
    night: String,
    /// Output: a directory (one <candid>.avro per alert), or with --tar a directory or
    /// a path ending in .tar.gz.
    #[arg(long)]
    out: PathBuf,
    /// Write ztf_public_YYYYMMDD.tar.gz instead of one file per alert.
    #[arg(long)]
    tar: bool,
    /// Template packets (directory searched recursively for .avro).
    #[arg(long, default_value = "tests/data/ztf")]
    templates: PathBuf,
    /// Average alerts per object.
    #[arg(long, default_value_t = 3)]
    alerts_per_object: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Schema drift to mix in: `extra-fields` gives about half the alerts a writer schema
    /// with a new field at the top level and in `candidate` (drift_score = 0.5).
    #[arg(long, value_enum)]
    drift: Option<Drift>,
}

/// Kinds of schema drift `ateda gen` can emit.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Drift {
    /// New optional fields at the top level and inside `candidate`.
    ExtraFields,
}

/// Runs `ateda gen`.
pub fn run(a: GenArgs) -> ExitCode {
    let started = Instant::now();
    let opts = GenOptions {
        n: a.n,
        night: a.night,
        out: a.out,
        tar: a.tar,
        templates: a.templates,
        alerts_per_object: a.alerts_per_object,
        seed: a.seed,
        drift_extra_fields: a.drift == Some(Drift::ExtraFields),
    };
    match generate(&opts) {
        Ok(g) => {
            println!(
                "generated {} alerts of {} objects ({:.1} MB of Avro) at {} in {:.1} s",
                g.alerts,
                g.objects,
                g.bytes as f64 / 1e6,
                g.path.display(),
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ateda gen: error: {e}");
            ExitCode::from(1)
        }
    }
}
