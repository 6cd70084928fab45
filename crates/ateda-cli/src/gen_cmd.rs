//! `ateda gen`: a synthetic night made from the bundled real packets (ZTF or Rubin/LSST).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use ateda_gen::{generate, generate_lsst, GenOptions, LsstFormat, LsstOptions};
use clap::Args;

/// Arguments of `ateda gen`.
#[derive(Args, Debug)]
pub struct GenArgs {
    /// Number of alerts.
    #[arg(long)]
    n: usize,
    /// Observation night, YYYYMMDD (for Rubin its dayObs: the UTC date 12 hours before
    /// each midpointMjdTai).
    #[arg(long)]
    night: String,
    /// Output: a directory (one <candid>.avro, or <diaSourceId>.avro, per alert), or with
    /// --tar a directory or a path ending in .tar.gz.
    #[arg(long)]
    out: PathBuf,
    /// Write ztf_public_YYYYMMDD.tar.gz (lsst_YYYYMMDD.tar.gz) instead of one file per alert.
    #[arg(long)]
    tar: bool,
    /// Survey whose alerts to make.
    #[arg(long, value_enum, default_value_t = Survey::Ztf)]
    survey: Survey,
    /// Template packets (directory searched recursively for .avro) [default:
    /// tests/data/ztf, or tests/data/lsst with --survey lsst].
    #[arg(long)]
    templates: Option<PathBuf>,
    /// Average alerts per object.
    #[arg(long, default_value_t = 3)]
    alerts_per_object: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Schema drift to mix in (ZTF only): `extra-fields` gives about half the alerts a
    /// writer schema with a new field at the top level and in `candidate` (drift_score = 0.5).
    #[arg(long, value_enum)]
    drift: Option<Drift>,
    /// Rubin only: how each alert file is framed: an Avro object container file, or
    /// Rubin's Kafka wire format (0x00, 4-byte big-endian schema id major*100+minor, datum).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Rubin only: the bundled schema version to write (11.0, 10.0, 9.0, 8.0, 7.4 ... 7.0)
    /// [default: the newest].
    #[arg(long)]
    schema_version: Option<String>,
}

/// Surveys `ateda gen` can make nights of.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Survey {
    /// ZTF: real packets transcoded with fresh ids and times.
    Ztf,
    /// Rubin/LSST: alerts written with a bundled Rubin schema.
    Lsst,
}

/// Kinds of schema drift `ateda gen` can emit.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Drift {
    /// New optional fields at the top level and inside `candidate`.
    ExtraFields,
}

/// Framings of a Rubin alert file.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// Avro object container file (writer schema in the header).
    Container,
    /// Confluent wire format (schema id, then the datum).
    Wire,
}

/// Runs `ateda gen`.
pub fn run(a: GenArgs) -> ExitCode {
    let started = Instant::now();
    let result = match a.survey {
        Survey::Ztf => {
            if a.format.is_some() || a.schema_version.is_some() {
                eprintln!("ateda gen: error: --format and --schema-version need --survey lsst");
                return ExitCode::from(2);
            }
            generate(&GenOptions {
                n: a.n,
                night: a.night,
                out: a.out,
                tar: a.tar,
                templates: a.templates.unwrap_or_else(|| "tests/data/ztf".into()),
                alerts_per_object: a.alerts_per_object,
                seed: a.seed,
                drift_extra_fields: a.drift == Some(Drift::ExtraFields),
            })
        }
        Survey::Lsst => {
            if a.drift.is_some() {
                eprintln!("ateda gen: error: --drift is for --survey ztf only");
                return ExitCode::from(2);
            }
            generate_lsst(&LsstOptions {
                n: a.n,
                night: a.night,
                out: a.out,
                tar: a.tar,
                templates: a.templates.unwrap_or_else(|| "tests/data/lsst".into()),
                alerts_per_object: a.alerts_per_object,
                seed: a.seed,
                format: match a.format {
                    Some(Format::Wire) => LsstFormat::Wire,
                    Some(Format::Container) | None => LsstFormat::Container,
                },
                schema_version: a.schema_version,
            })
        }
    };
    match result {
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
