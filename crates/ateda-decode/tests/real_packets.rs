//! Decodes every bundled real ZTF packet (schema versions 3.2, 3.3, 4.01, 4.02).

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{Array, Float32Array, Int64Array, StructArray};
use ateda_decode::{Added, AlertBatchBuilder, DecodeError, RowContext, TableSchema};
use ateda_schema::ztf::ZTF;

fn packets() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/ztf");
    let mut out = Vec::new();
    for v in ["v3", "v4"] {
        for e in std::fs::read_dir(root.join(v)).expect("test data dir") {
            out.push(e.expect("entry").path());
        }
    }
    out.sort();
    out
}

fn builder() -> AlertBatchBuilder {
    let schema = ateda_schema::bootstrap_schema(&ZTF).expect("schema");
    AlertBatchBuilder::new(
        ZTF,
        Arc::new(TableSchema::new(Arc::new(schema)).expect("table schema")),
        RowContext {
            run_id: "test".into(),
            ingested_at_us: 0,
            stamp_location: Arc::new(|night, key, kind, _sha| {
                let k = format!("{night}/{key}/{kind}");
                (k.clone(), format!("mem://{k}"))
            }),
            nights: ateda_schema::NightBounds {
                first: 0,
                last: 40_000,
            },
            writer_schemas: Arc::new(ateda_decode::wire::NoWriterSchemas),
        },
    )
    .expect("builder")
}

/// Rows added by a member (a writer schema that needs the table to change adds none).
fn rows(added: Added) -> usize {
    match added {
        Added::Rows(n) => n,
        Added::NeedsChanges { .. } => 0,
    }
}

#[test]
fn every_bundled_packet_decodes() {
    let mut b = builder();
    let files = packets();
    for f in &files {
        let bytes = bytes::Bytes::from(std::fs::read(f).expect("read"));
        let added = b
            .add_member(&f.display().to_string(), &bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(
            matches!(added, Added::Rows(1)),
            "{}: {added:?}",
            f.display()
        );
    }
    // 3.2, 3.3 (two spellings), 4.01 and 4.02 writer schemas, each compiled once
    assert_eq!(b.schemas_seen(), 5);
    let out = b.finish().expect("finish");
    assert_eq!(out.batch.num_rows(), files.len());
    // candid column equals the file names (ZTF names members <candid>.avro)
    let candid = out.batch.column_by_name("candid").expect("candid");
    let candid = candid.as_any().downcast_ref::<Int64Array>().expect("i64");
    for (i, f) in files.iter().enumerate() {
        let stem: i64 = f
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse().ok())
            .expect("numeric name");
        assert_eq!(candid.value(i), stem);
        assert_eq!(out.stamps[i].key, stem);
        assert!(out.stamps[i].stamps.iter().all(|s| s
            .as_ref()
            .is_some_and(|s| s.data.starts_with(&[0x1f, 0x8b]))));
    }
    // fp_hists is null for 3.x packets
    let fp = out.batch.column_by_name("fp_hists").expect("fp_hists");
    let v3 = files
        .iter()
        .filter(|f| f.to_string_lossy().contains("/v3/"))
        .count();
    assert_eq!(fp.null_count(), v3);
    // drb is null for the 3.2 packet only
    let cand = out.batch.column_by_name("candidate").expect("candidate");
    let cand = cand.as_any().downcast_ref::<StructArray>().expect("struct");
    let drb = cand.column_by_name("drb").expect("drb");
    let drb = drb.as_any().downcast_ref::<Float32Array>().expect("f32");
    assert_eq!(drb.null_count(), 1);
}

#[test]
fn corrupt_input_is_rejected_and_rolled_back() {
    let files = packets();
    let good = std::fs::read(&files[0]).expect("read");
    let b_ = |v: &[u8]| bytes::Bytes::copy_from_slice(v);
    let mut b = builder();
    assert!(matches!(
        b.add_member("junk", &b_(b"hello world")),
        Err(DecodeError::NotAvro)
    ));
    for cut in [good.len() / 2, good.len() - 20, 30_000] {
        let e = b
            .add_member("cut", &b_(&good[..cut]))
            .expect_err("truncated must fail");
        assert!(!e.to_string().is_empty());
        assert_eq!(b.len(), 0, "nothing kept from a corrupt member");
    }
    // flip bytes inside the datum area: must error or decode, never panic
    for pos in (26_000..good.len()).step_by(997) {
        let mut bad = good.clone();
        bad[pos] ^= 0xff;
        let before = b.len();
        match b.add_member("flipped", &b_(&bad)) {
            Ok(added) => assert_eq!(b.len(), before + rows(added)),
            Err(e) => {
                assert!(!e.to_string().is_empty(), "a rejection names its reason");
                assert_eq!(b.len(), before, "nothing kept from a rejected member");
            }
        }
    }
    b.add_member("good", &b_(&good))
        .expect("good decodes after failures");
    let out = b.finish().expect("finish");
    assert!(out.batch.num_rows() >= 1);
}

/// Damage anywhere in a packet (schema header, block framing, datum, stamps, sync
/// marker) must give an error or a decode, never a panic, and an error must leave the
/// builder exactly as it was (the member's rows are all-or-nothing).
#[test]
fn damage_anywhere_never_panics_and_rolls_back() {
    let files = packets();
    // one packet per writer schema version present
    let mut picked: Vec<&PathBuf> = Vec::new();
    let mut versions = std::collections::BTreeSet::new();
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        let header = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).into_owned();
        let version = header
            .find("\"version\"")
            .map(|i| header[i..].chars().take(40).collect::<String>())
            .unwrap_or_default();
        if versions.insert(version) {
            picked.push(f);
        }
    }
    assert!(
        picked.len() >= 3,
        "several schema versions among the packets"
    );
    let mut b = builder();
    let mut failures = 0usize;
    for f in picked {
        let good = std::fs::read(f).expect("read");
        let mut damaged: Vec<Vec<u8>> = Vec::new();
        let header_end = good.len().min(3000);
        for pos in (0..header_end)
            .step_by(5)
            .chain((header_end..good.len()).step_by(173))
        {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[pos] ^= mask;
                damaged.push(bad);
            }
        }
        for cut in (0..good.len()).step_by(499) {
            damaged.push(good[..cut].to_vec());
        }
        for bad in damaged {
            let before = b.len();
            match b.add_member("damaged", &bytes::Bytes::from(bad)) {
                Ok(added) => assert_eq!(b.len(), before + rows(added)),
                Err(e) => {
                    failures += 1;
                    assert!(!e.to_string().is_empty());
                    assert_eq!(b.len(), before, "rows of a failed member were kept");
                }
            }
        }
    }
    assert!(failures > 0, "damage was detected at least sometimes");
    b.finish()
        .expect("the surviving rows still form a valid batch");
}

/// A real packet re-encoded with `change` applied to its record (a fresh container: new
/// sync marker, same writer schema).
fn reencoded(
    packet: &[u8],
    change: impl Fn(&mut Vec<(String, apache_avro::types::Value)>),
) -> bytes::Bytes {
    use apache_avro::types::Value;
    let reader = apache_avro::Reader::new(packet).expect("reader");
    let schema = reader.writer_schema().clone();
    let mut out = apache_avro::Writer::new(&schema, Vec::new());
    for v in reader {
        let Value::Record(mut fields) = v.expect("value") else {
            panic!("not a record")
        };
        change(&mut fields);
        out.append(Value::Record(fields)).expect("append");
    }
    bytes::Bytes::from(out.into_inner().expect("container"))
}

fn set(fields: &mut [(String, apache_avro::types::Value)], path: &[&str], to: f64) {
    use apache_avro::types::Value;
    let (name, rest) = path.split_first().expect("path");
    let slot = &mut fields.iter_mut().find(|(n, _)| n == name).expect("field").1;
    match (slot, rest.is_empty()) {
        (Value::Double(d), true) => *d = to,
        (Value::Long(l), true) => *l = to as i64,
        (Value::Union(_, inner), false) => match inner.as_mut() {
            Value::Record(f) => set(f, rest, to),
            other => panic!("{other:?}"),
        },
        (Value::Record(f), false) => set(f, rest, to),
        (other, _) => panic!("{name}: {other:?}"),
    }
}

#[test]
fn poison_values_are_rejected_with_their_reason() {
    let good = std::fs::read(&packets()[0]).expect("read");
    let mut b = builder();
    for (path, value, words) in [
        (
            &["candidate", "jd"][..],
            2.0e9,
            "outside the accepted nights",
        ),
        (&["candidate", "jd"][..], 0.0, "outside the accepted nights"),
        (
            &["candidate", "jd"][..],
            -1.0e6,
            "outside the accepted nights",
        ),
        (&["candid"][..], 0.0, "not a positive alert key"),
        (&["candid"][..], -5.0, "not a positive alert key"),
    ] {
        let bad = reencoded(&good, |f| set(f, path, value));
        let e = b
            .add_member("poison", &bad)
            .expect_err("a poison value is rejected");
        assert!(e.to_string().contains(words), "{path:?}={value}: {e}");
        assert_eq!(b.len(), 0, "nothing kept");
    }
    // the good packet still goes in after them
    assert!(matches!(
        b.add_member("good", &bytes::Bytes::from(good)),
        Ok(Added::Rows(1))
    ));
}

#[test]
fn the_content_hash_is_the_datum_not_the_container() {
    let good = std::fs::read(&packets()[0]).expect("read");
    let mut b = builder();
    let same = reencoded(&good, |_| {});
    let other = reencoded(&good, |f| set(f, &["candidate", "jd"], 2_460_000.5));
    for (source, bytes) in [
        ("a", bytes::Bytes::from(good.clone())),
        ("b", same.clone()),
        ("c", other),
    ] {
        b.add_member(source, &bytes).expect("decode");
    }
    let out = b.finish().expect("finish");
    let sha: Vec<[u8; 32]> = out.stamps.iter().map(|s| s.sha256).collect();
    assert_ne!(&good[..], &same[..], "a new container (new sync marker)");
    assert_eq!(sha[0], sha[1], "same datum, same hash");
    assert_ne!(sha[0], sha[2], "another value, another hash");
    let col = out
        .batch
        .column_by_name(ateda_schema::columns::INGEST_ALERT_SHA256)
        .expect("sha column");
    let col = col
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .expect("utf8");
    assert_eq!(col.value(0), ateda_decode::hex(&sha[0]));
}
