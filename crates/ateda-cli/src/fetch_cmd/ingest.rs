//! `ateda fetch --ingest`: each night ingested while it downloads, then recorded in
//! `bronze.ingest_ledger` with its MD5 verified (docs/fetch.md, "--ingest";
//! docs/bronze-contract.md, "Fetched nights in the ledger").

use std::collections::HashMap;
use std::io::IsTerminal;

use anyhow::{Context, Result};
use ateda_fetch::{fetch_night_tee, read_tarball, tee, Archive, FetchError, Md5Sums, Night};
use ateda_ingest::{Feed, IngestOptions, Live, Summary};
use ateda_lakehouse::{BronzeTable, Lakehouse, LedgerRow};
use ateda_schema::SURVEYS;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{ok_line, open_archive, tarball_names, Bar, FetchArgs};

/// Snapshot property of a ledger commit recording a fetched night: the tarball's name.
pub const TARBALL: &str = "ateda.fetch.tarball";
/// Snapshot property: the MD5 of the bytes ingested (lower-case hex).
pub const MD5: &str = "ateda.fetch.md5";
/// Snapshot property: the MD5 listed in the archive's `MD5SUMS`.
pub const MD5_EXPECTED: &str = "ateda.fetch.md5-expected";
/// Snapshot property: `true` when the two are equal, else `false`.
pub const MD5_VERIFIED: &str = "ateda.fetch.md5-verified";
/// Snapshot property: the archive URL the tarball came from.
pub const ARCHIVE: &str = "ateda.fetch.archive";

/// How a night ended.
enum NightEnd {
    /// Fetched, verified, ingested and recorded.
    Done { quarantined: bool },
    /// Already recorded as verified in the ledger.
    Skipped,
    /// Something failed (said on stderr).
    Failed,
}

/// The latest ledger record of `name`: its MD5 and whether it was verified.
async fn recorded(lh: &Lakehouse, name: &str) -> Result<Option<(String, bool)>> {
    let table = lh.load(BronzeTable::Ledger).await?;
    let latest = table
        .metadata()
        .snapshots()
        .filter(|s| {
            s.summary()
                .additional_properties
                .get(TARBALL)
                .is_some_and(|t| t == name)
        })
        .max_by_key(|s| s.timestamp_ms());
    Ok(latest.map(|s| {
        let p = &s.summary().additional_properties;
        (
            p.get(MD5).cloned().unwrap_or_default(),
            p.get(MD5_VERIFIED).is_some_and(|v| v == "true"),
        )
    }))
}

/// Records the night in the ledger: one row whose `source` is the tarball's name (its
/// members' rows are `NAME!member`), the run's counts, and the MD5 in the commit's
/// snapshot properties.
async fn record(
    lh: &Lakehouse,
    archive: &Archive,
    name: &str,
    summary: &Summary,
    got: &str,
    expected: &str,
) -> Result<()> {
    let verified = got.eq_ignore_ascii_case(expected);
    let row = LedgerRow {
        run_id: summary.run_id.clone(),
        source: name.to_string(),
        alerts: i64::try_from(summary.alerts_seen).unwrap_or(i64::MAX),
        ingested: i64::try_from(summary.ingested).unwrap_or(i64::MAX),
        already_present: i64::try_from(summary.already_present).unwrap_or(i64::MAX),
        snapshot_id: summary.snapshot_id,
        recorded_at_us: chrono::Utc::now().timestamp_micros(),
    };
    let props = HashMap::from([
        (TARBALL.to_string(), name.to_string()),
        (MD5.to_string(), got.to_ascii_lowercase()),
        (MD5_EXPECTED.to_string(), expected.to_ascii_lowercase()),
        (MD5_VERIFIED.to_string(), verified.to_string()),
        (ARCHIVE.to_string(), archive.base().to_string()),
        (
            ateda_lakehouse::RUN_ID.to_string(),
            summary.run_id.to_string(),
        ),
    ]);
    lh.append(
        BronzeTable::Ledger,
        |schema| ateda_lakehouse::ledger_batch(schema, std::slice::from_ref(&row)),
        &format!("fetch-{}", summary.run_id),
        props,
    )
    .await
    .with_context(|| format!("{name}: recording the night in bronze.ingest_ledger"))?;
    Ok(())
}

/// One night: download and ingest at once, then the ledger record.
async fn night(
    args: &FetchArgs,
    opts: &IngestOptions,
    lh: &Lakehouse,
    archive: &Archive,
    sums: &Md5Sums,
    name: &str,
    bar: &ProgressBar,
) -> NightEnd {
    let Some(expected) = sums.get(name) else {
        // not listed: the plain download says why (404 or no MD5SUMS entry)
        let e = ateda_fetch::fetch_night(archive, sums, &args.to, name, false, &())
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| format!("{name}: no MD5SUMS entry"));
        eprintln!("{e}");
        return NightEnd::Failed;
    };
    if !args.force {
        match recorded(lh, name).await {
            Ok(Some((md5, true))) if md5.eq_ignore_ascii_case(expected) => {
                println!("{name}: already fetched, verified and ingested (MD5 {md5})");
                return NightEnd::Skipped;
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("{name}: reading bronze.ingest_ledger: {e:#}");
                return NightEnd::Failed;
            }
        }
    }
    let (pipe, reader) = tee();
    let pipe_status = reader.status();
    let tarball = name.to_string();
    let feed = Feed::items(move |out| {
        let read = out.read.clone();
        read_tarball(reader, &tarball, &read, |item| out.send(item));
    });
    let live = Live::default();
    // The download is a task of its own: the pipeline blocks its task at the end (joining
    // its threads), and its reader thread waits for the download's bytes until then.
    let download = {
        let (archive, sums, to, name) = (
            archive.clone(),
            sums.clone(),
            args.to.clone(),
            name.to_string(),
        );
        let (force, progress) = (args.force, Bar(bar.clone()));
        tokio::spawn(async move {
            fetch_night_tee(&archive, &sums, &to, &name, force, &progress, pipe).await
        })
    };
    let ingested = ateda_ingest::ingest_feed(opts, &live, feed).await;
    let fetched = match download.await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{name}: the download task failed: {e}");
            return NightEnd::Failed;
        }
    };
    let summary = match ingested {
        Ok(s) => s,
        Err(e) => {
            // the download went on alone: its outcome is said first
            match &fetched {
                Ok(f) => println!("{}", ok_line(f)),
                Err(err) => eprintln!("{err}"),
            }
            eprintln!("{name}: ingest failed: {e}");
            if e.rerun_helps() {
                eprintln!(
                    "{name}: nothing half-committed: re-run to complete the night (no duplicates)"
                );
            }
            return NightEnd::Failed;
        }
    };
    let ingest_note = format!(
        "ingested {} alerts ({} already present, {} quarantined), snapshot {}",
        summary.ingested,
        summary.already_present,
        summary.quarantined,
        summary
            .snapshot_id
            .map(|x| x.to_string())
            .unwrap_or_else(|| "none".into()),
    );
    if let (Some(reason), Ok(_) | Err(FetchError::Mismatch { .. })) =
        (pipe_status.aborted(), &fetched)
    {
        // The download completed, but the ingest did not see all of it (the file changed
        // on the server after part of it was read): not recorded; the re-run ingests the
        // downloaded tarball from disk.
        match &fetched {
            Ok(f) => println!("{}", ok_line(f)),
            Err(e) => eprintln!("{e}"),
        }
        eprintln!(
            "{name}: the ingest stopped early ({reason}): {ingest_note}; not recorded, re-run to ingest the night (no duplicates)"
        );
        return NightEnd::Failed;
    }
    let (got, line, ok) = match &fetched {
        Ok(f) => (f.md5.clone(), ok_line(f), true),
        Err(FetchError::Mismatch { got, .. }) => (got.clone(), fetched_err(&fetched), false),
        Err(_) => {
            // the ingest stopped where the download did: what it committed is valid,
            // a re-run completes the night (idempotent by key)
            eprintln!("{}", fetched_err(&fetched));
            eprintln!("{name}: {ingest_note} before the download stopped; re-run to complete the night (no duplicates)");
            return NightEnd::Failed;
        }
    };
    if let Err(e) = record(lh, archive, name, &summary, &got, expected).await {
        eprintln!("{e:#}");
        return NightEnd::Failed;
    }
    if ok {
        println!("{line}; {ingest_note}; recorded in the ledger (MD5 verified)");
        NightEnd::Done {
            quarantined: summary.quarantined > 0,
        }
    } else {
        eprintln!("{line}");
        eprintln!("{name}: {ingest_note}; recorded in the ledger with md5-verified=false");
        NightEnd::Failed
    }
}

fn fetched_err(r: &Result<ateda_fetch::Fetched, FetchError>) -> String {
    match r {
        Ok(f) => ok_line(f),
        Err(e) => e.to_string(),
    }
}

/// Runs `ateda fetch --ingest`: the nights one after another; `Ok(true)` when every
/// night is verified and ingested (or was already).
pub(super) fn run(args: &FetchArgs, nights: &[Night], show_progress: bool) -> Result<bool> {
    std::fs::create_dir_all(&args.to).with_context(|| format!("creating {}", args.to.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (archive, sums) = open_archive(args, &runtime)?;
    let (names, mut all_ok) = tarball_names(nights, &sums);
    let opts = args
        .pipeline
        .options(Vec::new(), args.commit_every, &runtime)?;
    let lh = runtime
        .block_on(Lakehouse::open(&opts.lakehouse, SURVEYS[0]))
        .context("opening the lakehouse")?;
    let style = ProgressStyle::with_template(
        "{msg} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let (mut done, mut skipped, mut failed, mut quarantined) = (0u32, 0u32, 0u32, false);
    for name in &names {
        let target = if show_progress && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target).with_style(style.clone());
        bar.set_message(name.clone());
        let end = runtime.block_on(night(args, &opts, &lh, &archive, &sums, name, &bar));
        bar.finish_and_clear();
        match end {
            NightEnd::Done { quarantined: q } => {
                done += 1;
                quarantined |= q;
            }
            NightEnd::Skipped => skipped += 1,
            NightEnd::Failed => failed += 1,
        }
    }
    all_ok &= failed == 0;
    println!(
        "{} nights: {done} fetched and ingested, {skipped} already ingested, {failed} failed{}",
        names.len(),
        if quarantined {
            "; some members were quarantined (bronze.quarantine)"
        } else {
            ""
        }
    );
    Ok(all_ok)
}
