//! Exactly once by key on a temporary embedded lakehouse (SQLite catalog, local files):
//! the same candid with other content (even dated another night) never makes a second
//! row and is quarantined with both hashes; identical re-delivery is already present and
//! uploads nothing; poison values are quarantined while the rest goes in; concurrent
//! writers with overlapping sources end with exactly the union.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod common;

use apache_avro::types::Value;
use arrow_array::{Array, Int64Array, StringArray};
use ateda_ingest::{ingest, Live};
use ateda_lakehouse::BronzeTable;
use common::{candid_of, candidate_mut, edited, options, run, scan, v4_packets};

/// (candid, ingest_alert_sha256) of every row, sorted.
async fn rows(root: &Path) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let columns = ["candid", "ingest_alert_sha256"];
    for b in scan(root, BronzeTable::Alerts, &columns).await {
        let k = b
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("i64");
        let s = b
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("utf8");
        out.extend((0..b.num_rows()).map(|i| (k.value(i), s.value(i).to_string())));
    }
    out.sort();
    out
}

/// (source, reason) of every quarantine record.
async fn quarantine(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for b in scan(root, BronzeTable::Quarantine, &["source", "reason"]).await {
        let s = b
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("utf8");
        let r = b
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("utf8");
        out.extend((0..b.num_rows()).map(|i| (s.value(i).to_string(), r.value(i).to_string())));
    }
    out.sort();
    out
}

/// Every file under `dir`, recursively, with its bytes.
fn files(dir: &Path) -> HashMap<PathBuf, Vec<u8>> {
    let mut out = HashMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.expect("entry").path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}

fn set_double(fields: &mut [(String, Value)], name: &str, f: impl Fn(f64) -> f64) {
    match common::field_mut(fields, name) {
        Value::Double(d) => *d = f(*d),
        Value::Float(x) => *x = f(f64::from(*x)) as f32,
        other => panic!("{name} is {other:?}"),
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_with_other_content_never_makes_a_second_row() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("lh");
    let packets = v4_packets();
    let first = run(&root, packets.clone()).await;
    assert_eq!(first.ingested as usize, packets.len());
    let before = rows(&root).await;
    let stamps_before = files(&root.join("cutouts"));
    assert_eq!(stamps_before.len(), 3 * packets.len());

    let p = &packets[0];
    let candid = candid_of(p);
    let again = tmp.path().join("again");
    // same datum in a new container; another magnitude; the same alert dated a day later
    write(&again, "same.avro", &edited(p, |_| {}));
    write(
        &again,
        "other-mag.avro",
        &edited(p, |f| set_double(candidate_mut(f), "magpsf", |_| 0.0)),
    );
    write(
        &again,
        "next-night.avro",
        &edited(p, |f| set_double(candidate_mut(f), "jd", |jd| jd + 1.0)),
    );
    let s = run(&root, vec![again.clone()]).await;
    assert_eq!(s.alerts_seen, 3);
    assert_eq!(s.ingested, 0, "{s:?}");
    assert_eq!(s.already_present, 1, "{s:?}");
    assert_eq!(s.duplicate_conflicts, 2, "{s:?}");
    assert_eq!(s.quarantined, 2, "{s:?}");
    assert_eq!(
        (s.cutouts_written, s.cutouts_present),
        (0, 0),
        "nothing uploaded"
    );
    assert_eq!(
        rows(&root).await,
        before,
        "the first committed packet stays"
    );
    assert_eq!(
        files(&root.join("cutouts")),
        stamps_before,
        "stamps untouched"
    );
    let q = quarantine(&root).await;
    assert_eq!(q.len(), 2, "{q:?}");
    let stored = &before.iter().find(|r| r.0 == candid).expect("row").1;
    for (source, reason) in &q {
        assert!(source.ends_with("other-mag.avro") || source.ends_with("next-night.avro"));
        assert!(
            reason.starts_with("duplicate candid with different content")
                && reason.contains(&format!("candid {candid}: stored sha256 {stored}")),
            "{reason}"
        );
    }
    // a re-run of the same directory records nothing new
    let s = run(&root, vec![again]).await;
    assert_eq!((s.ingested, s.quarantined_before), (0, 2), "{s:?}");
    assert_eq!(quarantine(&root).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_one_run_the_first_packet_of_a_key_wins() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("lh");
    let p = &v4_packets()[0];
    let src = tmp.path().join("src");
    write(&src, "a.avro", &std::fs::read(p).expect("read"));
    write(
        &src,
        "b.avro",
        &edited(p, |f| set_double(candidate_mut(f), "magpsf", |m| m + 1.0)),
    );
    write(&src, "c.avro", &edited(p, |_| {}));
    let s = run(&root, vec![src]).await;
    assert_eq!((s.alerts_seen, s.ingested), (3, 1), "{s:?}");
    assert_eq!(s.already_present + s.duplicate_conflicts, 2, "{s:?}");
    assert_eq!(rows(&root).await.len(), 1);
    // the row's stamps are the objects of its own packet's content
    let stamps = files(&root.join("cutouts"));
    let sha = &rows(&root).await[0].1;
    assert!(
        stamps
            .keys()
            .all(|k| k.to_string_lossy().contains(&sha[..32])),
        "{stamps:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_values_are_quarantined_and_the_rest_goes_in() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("lh");
    let packets = v4_packets();
    let src = tmp.path().join("src");
    for p in &packets {
        write(
            &src,
            &p.file_name().expect("name").to_string_lossy(),
            &std::fs::read(p).expect("read"),
        );
    }
    let p = &packets[0];
    write(
        &src,
        "jd-2e9.avro",
        &edited(p, |f| set_double(candidate_mut(f), "jd", |_| 2.0e9)),
    );
    write(
        &src,
        "jd-0.avro",
        &edited(p, |f| set_double(candidate_mut(f), "jd", |_| 0.0)),
    );
    write(
        &src,
        "candid-0.avro",
        &edited(p, |f| *common::field_mut(f, "candid") = Value::Long(0)),
    );
    let s = run(&root, vec![src]).await;
    assert_eq!(s.ingested as usize, packets.len(), "{s:?}");
    assert_eq!(s.quarantined, 3, "{s:?}");
    let q = quarantine(&root).await;
    let reason = |name: &str| {
        q.iter()
            .find(|(s, _)| s.ends_with(name))
            .map(|(_, r)| r.clone())
            .unwrap_or_default()
    };
    assert!(
        reason("jd-2e9.avro").contains("outside the accepted nights"),
        "{q:?}"
    );
    assert!(
        reason("jd-0.avro").contains("outside the accepted nights"),
        "{q:?}"
    );
    assert!(
        reason("candid-0.avro").contains("not a positive alert key"),
        "{q:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_concurrent_writers_with_overlapping_sources_end_with_the_union() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("lh");
    // 8 distinct alerts (real packets with new candids); writer i takes alerts i*2..i*2+4
    let base = &v4_packets()[0];
    let alerts: Vec<Vec<u8>> = (0..8)
        .map(|i| {
            edited(base, |f| {
                *common::field_mut(f, "candid") = Value::Long(3_000_000_000_000_000_000 + i);
            })
        })
        .collect();
    let dirs: Vec<PathBuf> = (0..4)
        .map(|w| {
            let d = tmp.path().join(format!("w{w}"));
            for a in 0..4 {
                let i = (w * 2 + a) % 8;
                write(&d, &format!("{i}.avro"), &alerts[i]);
            }
            d
        })
        .collect();
    // a first run creates the tables, so the writers race on commits only
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    run(&root, vec![empty]).await;
    // a commit per alert: many interleavings of commits and key checks
    let writer = |d: &PathBuf| {
        let mut o = options(&root, vec![d.clone()]);
        (o.commit_every, o.chunk_alerts) = (1, 1);
        async move { ingest(&o, &Live::default()).await.expect("ingest") }
    };
    let (a, b, c, d) = tokio::join!(
        writer(&dirs[0]),
        writer(&dirs[1]),
        writer(&dirs[2]),
        writer(&dirs[3])
    );
    let ingested = a.ingested + b.ingested + c.ingested + d.ingested;
    let got = rows(&root).await;
    let keys: Vec<i64> = got.iter().map(|r| r.0).collect();
    let want: Vec<i64> = (0..8).map(|i| 3_000_000_000_000_000_000 + i).collect();
    assert_eq!(keys, want, "exactly the union, each key once");
    assert_eq!(ingested, 8, "the summaries add up to the rows");
    assert_eq!(
        quarantine(&root).await,
        [],
        "identical packets are not conflicts"
    );
}
