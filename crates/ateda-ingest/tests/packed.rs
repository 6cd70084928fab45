//! The packed cutout layout end to end on an embedded lakehouse: every stamp of every row
//! comes back bit for bit from its (pack URI, offset, length); packs roll at the target,
//! no temporary file or unreferenced pack is left after a run, a re-run writes no pack
//! and changes none, and per-stamp and packed rows live side by side in one table.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use apache_avro::types::Value;
use apache_avro::Reader;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::Array;
use ateda_ingest::{ingest, CutoutLayout, Live, PackOptions};
use ateda_lakehouse::BronzeTable;
use ateda_objects::{read_stamp, StampLocation};
use common::{options, scan, v4_packets};

const KINDS: [(&str, &str); 3] = [
    ("science", "cutoutScience"),
    ("template", "cutoutTemplate"),
    ("difference", "cutoutDifference"),
];

/// (candid, kind) -> the stamp bytes the packets carry.
fn packet_stamps(packets: &[PathBuf]) -> BTreeMap<(i64, &'static str), Vec<u8>> {
    let mut out = BTreeMap::new();
    for p in packets {
        let bytes = std::fs::read(p).expect("read");
        for v in Reader::new(&bytes[..]).expect("reader") {
            let Value::Record(fields) = v.expect("datum") else {
                panic!("record")
            };
            let get = |name: &str| {
                fields
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| panic!("no {name}"))
            };
            let Value::Long(candid) = get("candid") else {
                panic!("candid")
            };
            for (kind, field) in KINDS {
                let mut v = get(field);
                if let Value::Union(_, inner) = v {
                    v = *inner;
                }
                let Value::Record(stamp) = v else { continue };
                let data = stamp
                    .iter()
                    .find(|(n, _)| n == "stampData")
                    .map(|(_, v)| v.clone());
                if let Some(Value::Bytes(b)) = data {
                    out.insert((candid, kind), b);
                }
            }
        }
    }
    out
}

/// (candid, kind) -> where the table says the stamp is.
async fn stamp_locations(root: &Path) -> BTreeMap<(i64, &'static str), StampLocation> {
    let mut cols = vec!["candid".to_string()];
    for (kind, _) in KINDS {
        for c in ["uri", "offset", "length"] {
            cols.push(format!("cutout_{kind}_{c}"));
        }
    }
    let names: Vec<&str> = cols.iter().map(String::as_str).collect();
    let mut out = BTreeMap::new();
    for b in scan(root, BronzeTable::Alerts, &names).await {
        let candid = b.column(0).as_primitive::<Int64Type>();
        for (k, (kind, _)) in KINDS.iter().enumerate() {
            let uri = b.column(1 + 3 * k).as_string::<i32>();
            let offset = b.column(2 + 3 * k).as_primitive::<Int64Type>();
            let length = b.column(3 + 3 * k).as_primitive::<Int64Type>();
            for r in 0..b.num_rows() {
                if uri.is_null(r) {
                    assert!(offset.is_null(r) && length.is_null(r));
                    continue;
                }
                let loc = if offset.is_null(r) {
                    assert!(length.is_null(r));
                    StampLocation::whole(uri.value(r))
                } else {
                    StampLocation::ranged(
                        uri.value(r),
                        offset.value(r) as u64,
                        length.value(r) as u64,
                    )
                };
                out.insert((candid.value(r), *kind), loc);
            }
        }
    }
    out
}

/// Every file under `dir` (relative path -> bytes), hidden ones included.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).expect("under").display().to_string();
                out.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}

fn packed(target: u64) -> CutoutLayout {
    CutoutLayout::Packed(PackOptions {
        target,
        part: PackOptions::MIN_PART,
    })
}

#[tokio::test]
async fn packed_stamps_come_back_exact_and_a_rerun_writes_no_pack() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    std::fs::create_dir_all(root.join("warehouse")).expect("warehouse");
    let packets = v4_packets();
    let mut opts = options(root, packets.clone());
    // small packs and several commits: packs roll inside a commit and close at each
    opts.cutout_layout = packed(200_000);
    opts.commit_every = 8;
    let s = ingest(&opts, &Live::default()).await.expect("ingest");
    let expected = packet_stamps(&packets);
    assert_eq!(s.ingested as usize, packets.len());
    assert_eq!(s.cutouts_written as usize, expected.len());
    assert!(s.commits >= 2, "{s:?}");

    let locations = stamp_locations(root).await;
    assert_eq!(
        locations.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    let mut packs = BTreeSet::new();
    for (at, loc) in &locations {
        let range = loc
            .range
            .clone()
            .expect("a byte range in the packed layout");
        assert!(loc.uri.contains("/cutouts/ztf/packs/night="), "{}", loc.uri);
        assert!(loc.uri.ends_with(".pack"), "{}", loc.uri);
        let got = read_stamp(loc).await.expect("read");
        assert_eq!(got.as_ref(), expected[at].as_slice(), "{at:?} at {range:?}");
        packs.insert(loc.uri.clone());
    }
    assert!(packs.len() > 3, "packs rolled at the target: {packs:?}");
    assert_eq!(s.packs_written as usize, packs.len());

    // on disk: exactly the packs the rows point into, no temporary files
    let on_disk = files(&root.join("cutouts"));
    let disk_uris: BTreeSet<String> = on_disk
        .keys()
        .map(|k| format!("file://{}", root.join("cutouts").join(k).display()))
        .collect();
    let canon: BTreeSet<String> = packs
        .iter()
        .map(|u| {
            let p = std::fs::canonicalize(u.trim_start_matches("file://")).expect("pack exists");
            format!("file://{}", p.display())
        })
        .collect();
    let disk_canon: BTreeSet<String> = disk_uris
        .iter()
        .map(|u| {
            let p = std::fs::canonicalize(u.trim_start_matches("file://")).expect("file");
            format!("file://{}", p.display())
        })
        .collect();
    assert_eq!(
        disk_canon, canon,
        "no stray file beside the referenced packs"
    );
    for (i, k) in on_disk.keys().enumerate() {
        assert!(!k.contains("/."), "hidden temporary file {i}: {k}");
    }

    // a re-run finds every key present: no pack written, none changed
    let again = ingest(&opts, &Live::default()).await.expect("re-run");
    assert_eq!(again.ingested, 0);
    assert_eq!(again.already_present as usize, packets.len());
    assert_eq!(again.packs_written, 0);
    assert_eq!(files(&root.join("cutouts")), on_disk);
}

#[tokio::test]
async fn per_stamp_and_packed_rows_share_a_table() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    std::fs::create_dir_all(root.join("warehouse")).expect("warehouse");
    let packets = v4_packets();
    let (first, second) = packets.split_at(packets.len() / 2);
    ingest(&options(root, first.to_vec()), &Live::default())
        .await
        .expect("per-stamp ingest");
    let before = files(&root.join("cutouts"));
    let mut opts = options(root, packets.clone());
    opts.cutout_layout = packed(PackOptions::DEFAULT_TARGET);
    let s = ingest(&opts, &Live::default())
        .await
        .expect("packed ingest");
    assert_eq!(s.ingested as usize, second.len());
    assert_eq!(s.already_present as usize, first.len());
    assert!(s.packs_written >= 1);

    let expected = packet_stamps(&packets);
    let locations = stamp_locations(root).await;
    assert_eq!(locations.len(), expected.len());
    let first_keys: BTreeSet<i64> = first.iter().map(|p| common::candid_of(p)).collect();
    for (at, loc) in &locations {
        // the earlier rows kept their objects; the new ones point into packs
        assert_eq!(
            loc.range.is_none(),
            first_keys.contains(&at.0),
            "{at:?} {loc:?}"
        );
        let got = read_stamp(loc).await.expect("read");
        assert_eq!(got.as_ref(), expected[at].as_slice(), "{at:?}");
    }
    // the per-stamp objects are untouched
    let after = files(&root.join("cutouts"));
    for (k, v) in &before {
        assert_eq!(after.get(k), Some(v), "{k} changed");
    }
}

#[tokio::test]
async fn orphan_packs_are_found_and_only_they_are_removed() {
    use ateda_objects::{Bucket, Packs};
    use ateda_schema::ztf::ZTF;
    use std::time::Duration;

    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    std::fs::create_dir_all(root.join("warehouse")).expect("warehouse");
    let packets = v4_packets();
    let mut opts = options(root, packets.clone());
    opts.cutout_layout = packed(PackOptions::DEFAULT_TARGET);
    ingest(&opts, &Live::default()).await.expect("ingest");
    let committed = files(&root.join("cutouts"));

    // a run that closed a pack and stopped before its commit: no row points into it
    let cutouts = Bucket::open(&opts.cutouts).expect("cutouts");
    let mut stray = Packs::new(cutouts.clone(), ZTF, "stopped-run", PackOptions::default());
    let night = 19_642; // a night the table has rows of
    let at = stray
        .append(night, bytes::Bytes::from_static(b"never committed"))
        .await
        .expect("append");
    stray.close().await.expect("close");
    // and a temporary file of a killed run
    let tmp = root.join("cutouts/ztf/packs/night=2023-10-12/.killed.pack.1-0.tmp");
    std::fs::write(&tmp, b"half").expect("tmp");

    let lakehouse = common::lakehouse(root).await;
    // young files are left alone
    let young =
        ateda_ingest::sweep_orphan_packs(&lakehouse, &cutouts, Duration::from_secs(3600), false)
            .await
            .expect("sweep");
    assert!(young.orphans.is_empty(), "{young:?}");
    assert!(young.recent >= 2);

    let dry = ateda_ingest::sweep_orphan_packs(&lakehouse, &cutouts, Duration::ZERO, true)
        .await
        .expect("dry run");
    let mut found = dry.orphans.clone();
    found.sort();
    let tmp_uri = cutouts.uri("ztf/packs/night=2023-10-12/.killed.pack.1-0.tmp");
    let mut want = vec![at.uri.to_string(), tmp_uri];
    want.sort();
    assert_eq!(found, want);
    assert!(!dry.removed);
    assert!(tmp.exists(), "a dry run removes nothing");
    assert_eq!(dry.referenced as usize + 1, dry.packs as usize);

    let swept = ateda_ingest::sweep_orphan_packs(&lakehouse, &cutouts, Duration::ZERO, false)
        .await
        .expect("sweep");
    assert_eq!(swept.orphans.len(), 2);
    assert!(swept.removed);
    // exactly the committed packs are left, unchanged, and every stamp still reads
    assert_eq!(files(&root.join("cutouts")), committed);
    let expected = packet_stamps(&packets);
    for (k, loc) in stamp_locations(root).await {
        assert_eq!(
            read_stamp(&loc).await.expect("read").as_ref(),
            expected[&k].as_slice()
        );
    }

    // another root than the one ingest wrote to is refused, not swept
    let other = Bucket::open(&root.join("elsewhere").display().to_string()).expect("open");
    let mut p = Packs::new(other.clone(), ZTF, "x", PackOptions::default());
    p.append(night, bytes::Bytes::from_static(b"x"))
        .await
        .expect("append");
    p.close().await.expect("close");
    let refused = ateda_ingest::sweep_orphan_packs(&lakehouse, &other, Duration::ZERO, false).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("another root")),
        "{refused:?}"
    );
}
