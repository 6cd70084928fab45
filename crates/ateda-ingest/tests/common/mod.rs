//! Helpers shared by the ingest integration tests: real packets, re-encoding them with
//! edits, and runs on a temporary embedded lakehouse (SQLite catalog, local files).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use apache_avro::types::Value;
use apache_avro::{Reader, Schema, Writer};
use arrow_array::RecordBatch;
use ateda_ingest::{ingest, IngestOptions, Live, Summary};
use ateda_lakehouse::{BronzeTable, Lakehouse, LakehouseConfig, RetryPolicy};
use ateda_schema::ztf::ZTF;
use futures::TryStreamExt;

/// The bundled real ZTF 4.x packets.
pub fn v4_packets() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/ztf/v4");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("test data")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

/// Re-encodes a real packet with an edited writer schema: `schema` edits the schema JSON,
/// `datum` the decoded record to match it.
pub fn drifted(
    packet: &Path,
    schema: impl Fn(&mut serde_json::Value),
    datum: impl Fn(&mut Vec<(String, Value)>),
) -> Vec<u8> {
    let bytes = std::fs::read(packet).expect("read");
    let container = ateda_decode::ocf::parse_container(&bytes).expect("container");
    let mut json: serde_json::Value =
        serde_json::from_slice(container.schema).expect("schema json");
    schema(&mut json);
    let new_schema = Schema::parse_str(&json.to_string()).expect("drifted schema parses");
    let mut w = Writer::new(&new_schema, Vec::new());
    for v in Reader::new(&bytes[..]).expect("reader") {
        let Value::Record(mut fields) = v.expect("datum") else {
            panic!("record")
        };
        datum(&mut fields);
        w.append(Value::Record(fields))
            .expect("append drifted datum");
    }
    w.into_inner().expect("container bytes")
}

/// Re-encodes a real packet with its datum edited (same writer schema, new container).
pub fn edited(packet: &Path, datum: impl Fn(&mut Vec<(String, Value)>)) -> Vec<u8> {
    drifted(packet, |_| {}, datum)
}

/// A field of a record, for editing.
pub fn field_mut<'a>(fields: &'a mut [(String, Value)], name: &str) -> &'a mut Value {
    &mut fields
        .iter_mut()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no field {name}"))
        .1
}

/// The `candidate` record of a ZTF packet, for editing.
pub fn candidate_mut(fields: &mut [(String, Value)]) -> &mut Vec<(String, Value)> {
    match field_mut(fields, "candidate") {
        Value::Record(f) => f,
        other => panic!("candidate is {other:?}"),
    }
}

/// Ingest options for a temporary embedded lakehouse under `root`.
pub fn options(root: &Path, sources: Vec<PathBuf>) -> IngestOptions {
    IngestOptions {
        surveys: ateda_schema::SURVEYS.to_vec(),
        sources,
        lakehouse: LakehouseConfig {
            catalog: format!("sqlite:{}", root.join("catalog.db").display()),
            warehouse: format!("file://{}", root.join("warehouse").display()),
            props: Default::default(),
            retry: RetryPolicy::default(),
        },
        cutouts: format!("file://{}", root.join("cutouts").display()),
        quarantine: format!("file://{}", root.join("quarantine").display()),
        commit_every: 50_000,
        chunk_alerts: 4,
        workers: 2,
        upload_concurrency: 8,
        cutout_layout: ateda_ingest::CutoutLayout::PerStamp,
        limits: Default::default(),
        first_night: None,
        last_night: None,
        writer_schemas: Arc::new(ateda_decode::wire::NoWriterSchemas),
        ledger_grace: std::time::Duration::from_secs(600),
    }
}

/// Ingests `sources` into the lakehouse under `root`.
pub async fn run(root: &Path, sources: Vec<PathBuf>) -> Summary {
    std::fs::create_dir_all(root.join("warehouse")).expect("warehouse dir");
    ingest(&options(root, sources), &Live::default())
        .await
        .expect("ingest")
}

/// The candid a real packet's file is named after.
pub fn candid_of(p: &Path) -> i64 {
    p.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .expect("numeric name")
}

/// The lakehouse under `root`, connected without changing anything.
pub async fn lakehouse(root: &Path) -> Lakehouse {
    Lakehouse::connect(&options(root, vec![]).lakehouse, ZTF)
        .await
        .expect("connect")
}

/// Every batch of a bronze table under `root`, with these columns (none before the
/// table's first commit).
pub async fn scan(root: &Path, t: BronzeTable, columns: &[&str]) -> Vec<RecordBatch> {
    let table = lakehouse(root).await.load(t).await.expect("load");
    if table.metadata().current_snapshot().is_none() {
        return Vec::new();
    }
    let scan = table
        .scan()
        .select(columns.iter().copied())
        .build()
        .expect("scan");
    scan.to_arrow()
        .await
        .expect("stream")
        .try_collect()
        .await
        .expect("batches")
}
