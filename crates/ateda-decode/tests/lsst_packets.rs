//! Decodes the bundled Rubin/LSST samples: containers of every sample version and the
//! real wire-format alert, the 7.x key read from `diaSource.diaSourceId`, and damaged or
//! unknown wire-format packets rejected with their reason.

use std::path::PathBuf;
use std::sync::Arc;

use apache_avro::types::Value;
use arrow_array::{Array, Int64Array, StringArray};
use ateda_decode::{Added, AlertBatchBuilder, DecodeError, RowContext, TableSchema, WriterSchemas};
use ateda_schema::lsst::LSST;

/// The bundled Rubin schemas by id (what `ateda-registry` does without a registry).
struct Bundled;

impl WriterSchemas for Bundled {
    fn by_id(&self, id: u32) -> Result<Arc<[u8]>, String> {
        ateda_schema::lsst::by_id(id)
            .map(|s| Arc::from(s.as_bytes()))
            .ok_or_else(|| format!("unknown schema id {id}"))
    }
}

fn sample(name: &str) -> bytes::Bytes {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/lsst")
        .join(name);
    bytes::Bytes::from(std::fs::read(path).expect("sample"))
}

fn builder() -> AlertBatchBuilder {
    let schema = ateda_schema::bootstrap_schema(&LSST).expect("schema");
    AlertBatchBuilder::new(
        LSST,
        Arc::new(TableSchema::new(Arc::new(schema)).expect("table schema")),
        RowContext {
            run_id: "test".into(),
            ingested_at_us: 0,
            stamp_location: Arc::new(|night, key, kind, _sha| {
                let k = format!("{night}/{key}/{kind}");
                (k.clone(), format!("mem://{k}"))
            }),
            nights: ateda_schema::NightBounds {
                first: 18_262,
                last: 40_000,
            },
            writer_schemas: Arc::new(Bundled),
        },
    )
    .expect("builder")
}

fn rows(added: Result<Added, DecodeError>) -> usize {
    match added.expect("decodes") {
        Added::Rows(n) => n,
        Added::NeedsChanges { changes, .. } => panic!("table lacks {changes:?}"),
    }
}

#[test]
fn the_real_wire_format_alert_decodes_with_its_stamps() {
    let bytes = sample("wire_v9_0_7912941781254298.avro");
    let mut b = builder();
    assert_eq!(rows(b.add_member("wire", &bytes)), 1);
    let batch = b.finish().expect("batch");
    let st = &batch.stamps[0];
    assert_eq!(st.key, 7_912_941_781_254_298);
    assert_eq!(ateda_schema::format_day(st.night), "2025-10-12");
    let sizes: Vec<usize> = st
        .stamps
        .iter()
        .map(|s| s.as_ref().map_or(0, |s| s.data.len()))
        .collect();
    // science, template, difference (the packet holds difference, science, template)
    assert_eq!(sizes, [34_560, 69_120, 34_560]);
    for s in st.stamps.iter().flatten() {
        assert!(s.data.starts_with(b"SIMPLE  ="), "a FITS stamp");
        assert!(s.file_name.is_none());
    }
    let version = batch
        .batch
        .column_by_name("ingest_schema_version")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .expect("version column");
    assert_eq!(version.value(0), "9.0");
}

#[test]
fn every_container_sample_decodes_and_7x_takes_its_key_from_dia_source() {
    let mut b = builder();
    for name in ["fake_v8_0.avro", "fake_v9_0.avro", "fake_v10_0.avro"] {
        assert_eq!(rows(b.add_member(name, &sample(name))), 1, "{name}");
    }
    // The 7.x fakes carry midpointMjdTai 1480360995 (not an MJD): a poison value.
    let e = b
        .add_member("fake_v7_0.avro", &sample("fake_v7_0.avro"))
        .expect_err("night out of range");
    assert!(
        e.to_string()
            .contains("diaSource.midpointMjdTai 1480360995"),
        "{e}"
    );
    // The same packet with a real time: its key is diaSource.diaSourceId.
    for name in ["fake_v7_0.avro", "fake_v7_4.avro"] {
        let fixed = with_time(&sample(name), 60_902.99);
        assert_eq!(rows(b.add_member(name, &fixed)), 1, "{name}");
    }
    let batch = b.finish().expect("batch");
    let keys = batch
        .batch
        .column_by_name("diaSourceId")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .expect("key column");
    let got: Vec<i64> = (0..keys.len()).map(|i| keys.value(i)).collect();
    assert_eq!(
        got,
        [
            1_231_321_321,
            1_231_321_321,
            1_231_321_321,
            281_323_062_375_219_200,
            281_323_062_375_219_200
        ]
    );
    let alert_id = batch.batch.column_by_name("alertId").expect("alertId");
    assert_eq!(alert_id.null_count(), 3, "alertId only in 7.x");
}

/// A container sample re-written with diaSource.midpointMjdTai set to `mjd`.
fn with_time(bytes: &[u8], mjd: f64) -> bytes::Bytes {
    let reader = apache_avro::Reader::new(bytes).expect("reader");
    let schema = reader.writer_schema().clone();
    let mut out = apache_avro::Writer::new(&schema, Vec::new());
    for v in reader {
        let Value::Record(mut fields) = v.expect("datum") else {
            panic!("a record")
        };
        for (name, f) in &mut fields {
            if name == "diaSource" {
                if let Value::Record(inner) = f {
                    for (n, x) in inner.iter_mut() {
                        if n == "midpointMjdTai" {
                            *x = Value::Double(mjd);
                        }
                    }
                }
            }
        }
        out.append(Value::Record(fields)).expect("append");
    }
    bytes::Bytes::from(out.into_inner().expect("container"))
}

#[test]
fn damaged_and_unknown_wire_packets_are_rejected_with_their_reason() {
    let good = sample("wire_v9_0_7912941781254298.avro");
    let mut b = builder();
    let truncated = good.slice(..good.len() / 2);
    let e = b.add_member("t", &truncated).expect_err("truncated");
    assert!(e.to_string().contains("schema id 900"), "{e}");
    let mut longer = good.to_vec();
    longer.extend_from_slice(b"trailing garbage");
    let e = b
        .add_member("g", &bytes::Bytes::from(longer))
        .expect_err("garbage after the datum");
    assert!(e.to_string().contains("16 unread bytes"), "{e}");
    let mut unknown = good.to_vec();
    unknown[1..5].copy_from_slice(&1234u32.to_be_bytes());
    let e = b
        .add_member("u", &bytes::Bytes::from(unknown))
        .expect_err("unknown id");
    assert!(e.to_string().contains("1234"), "{e}");
    assert!(b.is_empty(), "nothing kept from rejected members");
    // A ZTF container is not a Rubin alert.
    let ztf_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/ztf/v4");
    let ztf = std::fs::read_dir(ztf_dir)
        .expect("ztf samples")
        .map(|e| e.expect("entry").path())
        .min()
        .expect("a packet");
    let e = b
        .add_member("z", &bytes::Bytes::from(std::fs::read(ztf).expect("read")))
        .expect_err("another survey");
    assert!(e.to_string().contains("ztf alert schema, not lsst"), "{e}");
}
