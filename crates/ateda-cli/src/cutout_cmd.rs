//! `ateda cutout ID`: the exact stamp bytes of one alert, looked up by its key
//! (`candid`, `diaSourceId`) in the bronze table and read from where its row points.
//!
//! A row points at each stamp with its `cutout_<kind>_uri` column; when the table also
//! has `cutout_<kind>_offset` and `cutout_<kind>_length` columns and they are set, the
//! stamp is that byte range of the object (a packed layout), read with one ranged GET.
//! Both resolve through [`ateda_objects::read_stamp`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use ateda_lakehouse::{BronzeTable, Lakehouse};
use ateda_objects::{read_stamp, StampLocation};
use ateda_schema::columns::{cutout_length, cutout_offset, cutout_uri};
use ateda_schema::{Survey, SURVEYS};
use clap::{Args, ValueEnum};
use futures::TryStreamExt;
use iceberg::expr::Reference;
use iceberg::spec::Datum;

use crate::lakehouse_args::LakehouseArgs;

/// Which stamps to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// The science image.
    Science,
    /// The reference (template) image.
    Template,
    /// The difference image.
    Difference,
    /// All three (into a directory).
    All,
}

impl Kind {
    /// The stamp kinds (as in column names and keys) this selects.
    fn kinds(self) -> Vec<&'static str> {
        match self {
            Kind::Science => vec!["science"],
            Kind::Template => vec!["template"],
            Kind::Difference => vec!["difference"],
            Kind::All => vec!["science", "template", "difference"],
        }
    }
}

/// Arguments of `ateda cutout`.
#[derive(Args, Debug)]
pub struct CutoutArgs {
    /// The alert's key: `candid` (ZTF) or `diaSourceId` (Rubin).
    id: i64,
    /// Which stamp: science, template, difference, or all three.
    #[arg(long, value_enum, default_value = "all")]
    kind: Kind,
    /// Where to write: a file (one kind; `-` for standard output) or a directory
    /// (created if missing; files named `<ID>-<kind><suffix>`, e.g.
    /// `2475433850015015001-science.fits.gz`). Default: the current directory.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Whose table to look in: ztf (bronze.alerts) or lsst (bronze.lsst_alerts).
    /// Default: ztf, then lsst.
    #[arg(long, value_parser = parse_survey)]
    survey: Option<Survey>,
    #[command(flatten)]
    lakehouse: LakehouseArgs,
}

fn parse_survey(s: &str) -> Result<Survey, String> {
    Survey::by_name(s).ok_or_else(|| {
        let names: Vec<&str> = SURVEYS.iter().map(|s| s.name).collect();
        format!("unknown survey {s:?} (one of {})", names.join(", "))
    })
}

/// Runs `ateda cutout`. Exit 0: the stamps the row has among those asked are written
/// (`--kind all`: a stamp the packet did not carry is named on stderr and skipped); 1: an
/// error, the key not found, or none of the asked stamps in the row.
pub fn run(args: CutoutArgs) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ateda cutout: error: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run_inner(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ateda cutout: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run_inner(args: CutoutArgs) -> Result<()> {
    let Some(cfg) = args.lakehouse.existing_config()? else {
        bail!(
            "no lakehouse at {} (no catalog.db; give --lakehouse or --catalog)",
            args.lakehouse.lakehouse.display()
        );
    };
    let kinds = args.kind.kinds();
    let surveys: Vec<Survey> = match args.survey {
        Some(s) => vec![s],
        None => SURVEYS.to_vec(),
    };
    let mut looked = Vec::new();
    let mut found = None;
    for survey in surveys {
        let lh = Lakehouse::connect(&cfg, survey)
            .await
            .context("connecting to the catalog")?;
        let table = lh.name(BronzeTable::Alerts);
        looked.push(format!("bronze.{table}"));
        match lookup(&lh, args.id, &kinds).await {
            Ok(Some(stamps)) => {
                found = Some((survey, stamps));
                break;
            }
            Ok(None) => {}
            // With --survey the table must be readable; otherwise a survey whose table
            // does not exist (nothing of it ingested yet) is only not where the key is.
            Err(e) if args.survey.is_some() => return Err(e),
            Err(e) => tracing::debug!("bronze.{table}: {e:#}"),
        }
    }
    let Some((survey, stamps)) = found else {
        bail!("no alert with key {} in {}", args.id, looked.join(" or "));
    };
    let targets = targets(&kinds, args.output.as_deref(), args.id, survey.stamp_suffix)?;
    if stamps.iter().all(|(_, loc)| loc.is_none()) {
        bail!(
            "alert {} (bronze.{}) has no {} stamp",
            args.id,
            survey.table,
            kinds.join(", ")
        );
    }
    for ((kind, loc), (_, target)) in stamps.iter().zip(&targets) {
        let Some(loc) = loc else {
            eprintln!("{kind}: none (the packet had no {kind} stamp)");
            continue;
        };
        let bytes = read_stamp(loc)
            .await
            .with_context(|| format!("{kind} stamp of alert {}", args.id))?;
        match target {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(&bytes)
                    .and_then(|()| out.flush())
                    .context("writing to standard output")?;
            }
            Target::File(path) => {
                std::fs::write(path, &bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("{kind}: {} ({} bytes)", path.display(), bytes.len());
            }
        }
    }
    Ok(())
}

/// The row of `id` in the survey's alerts table: where each of `kinds` is (`None`: the
/// packet had no such stamp). `Ok(None)`: no such row.
async fn lookup(
    lh: &Lakehouse,
    id: i64,
    kinds: &[&'static str],
) -> Result<Option<Vec<(&'static str, Option<StampLocation>)>>> {
    let table = lh.load(BronzeTable::Alerts).await?;
    let Some(snapshot) = table.metadata().current_snapshot() else {
        return Ok(None);
    };
    let schema = snapshot
        .schema(table.metadata())
        .context("the table's schema")?;
    let key = lh.survey().key;
    let mut columns = vec![key.to_string()];
    for kind in kinds {
        for c in [cutout_uri(kind), cutout_offset(kind), cutout_length(kind)] {
            if schema.field_by_name(&c).is_some() {
                columns.push(c);
            }
        }
    }
    let scan = table
        .scan()
        .select(columns)
        .with_filter(Reference::new(key).equal_to(Datum::long(id)))
        .build()
        .context("planning the key lookup")?;
    let mut stream = scan.to_arrow().await.context("reading the table")?;
    let mut hit = None;
    while let Some(batch) = stream.try_next().await.context("reading the table")? {
        if let Some(row) = row_of(&batch, key, id) {
            if hit.is_some() {
                tracing::warn!("key {id} is stored more than once; using the first row");
                continue;
            }
            hit = Some(kinds.iter().map(|k| (*k, locate(&batch, row, k))).collect());
        }
    }
    Ok(hit)
}

/// Index of the row whose `key` column is `id`.
fn row_of(batch: &RecordBatch, key: &str, id: i64) -> Option<usize> {
    let keys = batch
        .column_by_name(key)?
        .as_any()
        .downcast_ref::<Int64Array>()?;
    (0..batch.num_rows()).find(|&i| keys.is_valid(i) && keys.value(i) == id)
}

/// Where the row's `kind` stamp is: the URI column, plus the byte range when the offset
/// and length columns exist and are set. `None`: no stamp (null URI).
fn locate(batch: &RecordBatch, row: usize, kind: &str) -> Option<StampLocation> {
    let uri = batch
        .column_by_name(&cutout_uri(kind))?
        .as_any()
        .downcast_ref::<StringArray>()?;
    if !uri.is_valid(row) {
        return None;
    }
    let long = |name: String| {
        let col = batch
            .column_by_name(&name)?
            .as_any()
            .downcast_ref::<Int64Array>()?;
        col.is_valid(row)
            .then(|| u64::try_from(col.value(row)).ok())
            .flatten()
    };
    let uri = uri.value(row);
    Some(
        match (long(cutout_offset(kind)), long(cutout_length(kind))) {
            (Some(offset), Some(length)) => StampLocation::ranged(uri, offset, length),
            _ => StampLocation::whole(uri),
        },
    )
}

/// Where a stamp goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// Standard output (`-o -`, one kind only).
    Stdout,
    /// A file.
    File(PathBuf),
}

/// Where each of `kinds` goes: `-o FILE` (one kind), `-o -` (one kind, stdout), `-o DIR`
/// (an existing directory, or a new one for several kinds) or the current directory.
fn targets(
    kinds: &[&'static str],
    output: Option<&Path>,
    id: i64,
    suffix: &str,
) -> Result<Vec<(&'static str, Target)>> {
    let name = |kind: &str| format!("{id}-{kind}{suffix}");
    let into = |dir: &Path| -> Vec<(&'static str, Target)> {
        kinds
            .iter()
            .map(|k| (*k, Target::File(dir.join(name(k)))))
            .collect()
    };
    let Some(out) = output else {
        return Ok(into(Path::new(".")));
    };
    if out == Path::new("-") {
        if kinds.len() != 1 {
            bail!("-o - (standard output) takes one --kind, not all");
        }
        return Ok(vec![(kinds[0], Target::Stdout)]);
    }
    if out.is_dir() {
        return Ok(into(out));
    }
    if kinds.len() == 1 {
        return Ok(vec![(kinds[0], Target::File(out.to_path_buf()))]);
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    Ok(into(out))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::ArrayRef;

    use super::*;

    fn batch() -> RecordBatch {
        let cols: Vec<(&str, ArrayRef)> = vec![
            ("candid", Arc::new(Int64Array::from(vec![Some(7), Some(8)]))),
            (
                "cutout_science_uri",
                Arc::new(StringArray::from(vec![
                    Some("s3://b/ztf/night=2023-10-18/7/science-ab.fits.gz"),
                    Some("s3://b/ztf/packs/night=2023-10-18/p1.pack"),
                ])),
            ),
            (
                "cutout_template_uri",
                Arc::new(StringArray::from(vec![None::<&str>, None])),
            ),
            (
                "cutout_science_offset",
                Arc::new(Int64Array::from(vec![None, Some(4096)])),
            ),
            (
                "cutout_science_length",
                Arc::new(Int64Array::from(vec![None, Some(1200)])),
            ),
        ];
        RecordBatch::try_from_iter(cols).expect("batch")
    }

    #[test]
    fn a_row_gives_whole_objects_or_byte_ranges() {
        let b = batch();
        assert_eq!(row_of(&b, "candid", 8), Some(1));
        assert_eq!(row_of(&b, "candid", 9), None);
        assert_eq!(row_of(&b, "diaSourceId", 7), None);
        assert_eq!(
            locate(&b, 0, "science"),
            Some(StampLocation::whole(
                "s3://b/ztf/night=2023-10-18/7/science-ab.fits.gz"
            ))
        );
        assert_eq!(
            locate(&b, 1, "science"),
            Some(StampLocation::ranged(
                "s3://b/ztf/packs/night=2023-10-18/p1.pack",
                4096,
                1200
            ))
        );
        // a null URI is no stamp; a column the table lacks is no stamp either
        assert_eq!(locate(&b, 0, "template"), None);
        assert_eq!(locate(&b, 0, "difference"), None);
    }

    #[test]
    fn outputs_are_a_file_stdout_or_a_directory() {
        let dir = tempfile::tempdir().expect("tmp");
        let one = ["science"];
        let all = Kind::All.kinds();
        assert_eq!(
            targets(&one, None, 7, ".fits.gz").expect("default"),
            vec![(
                "science",
                Target::File(Path::new(".").join("7-science.fits.gz"))
            )]
        );
        assert_eq!(
            targets(&one, Some(Path::new("-")), 7, ".fits").expect("stdout"),
            vec![("science", Target::Stdout)]
        );
        assert!(targets(&all, Some(Path::new("-")), 7, ".fits").is_err());
        let file = dir.path().join("s.fits.gz");
        assert_eq!(
            targets(&one, Some(&file), 7, ".fits.gz").expect("file"),
            vec![("science", Target::File(file.clone()))]
        );
        // an existing directory takes one kind under its default name
        assert_eq!(
            targets(&one, Some(dir.path()), 7, ".fits.gz").expect("dir"),
            vec![(
                "science",
                Target::File(dir.path().join("7-science.fits.gz"))
            )]
        );
        // several kinds into a new directory, created
        let new = dir.path().join("stamps");
        let got = targets(&all, Some(&new), 7, ".fits").expect("new dir");
        assert!(new.is_dir());
        assert_eq!(
            got.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            vec!["science", "template", "difference"]
        );
        assert_eq!(got[2].1, Target::File(new.join("7-difference.fits")));
    }
}
