//! Decoder throughput on the bundled real ZTF packets (`tests/data/ztf/v3`, `v4`), through
//! the public API only: one builder (its schema cache warm after the first round), every
//! packet of a set added, then the batch finished. Reported per set in bytes/s and in
//! alerts/s; `cargo bench -p ateda-decode` (criterion keeps the previous run to compare).

use std::path::PathBuf;
use std::sync::Arc;

use ateda_decode::{AlertBatchBuilder, RowContext, TableSchema};
use ateda_schema::ztf::ZTF;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// The packets of one set, read into memory once.
fn packets(set: &str) -> Vec<(String, bytes::Bytes)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/ztf")
        .join(set);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("test data dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).expect("read packet");
            (f.display().to_string(), bytes::Bytes::from(bytes))
        })
        .collect()
}

/// A builder for the bootstrap bronze schema (the same setup as tests/real_packets.rs).
fn builder() -> AlertBatchBuilder {
    let schema = ateda_schema::bootstrap_schema(&ZTF).expect("schema");
    let table = TableSchema::new(Arc::new(schema)).expect("table schema");
    let ctx = RowContext {
        run_id: "bench".into(),
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
    };
    AlertBatchBuilder::new(ZTF, Arc::new(table), ctx).expect("builder")
}

/// Decodes every packet of a set into one batch; returns its row count.
fn decode_all(b: &mut AlertBatchBuilder, packets: &[(String, bytes::Bytes)]) -> usize {
    for (source, bytes) in packets {
        b.add_member(source, bytes).expect("decode");
    }
    b.finish().expect("finish").batch.num_rows()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for set in ["v3", "v4"] {
        let packets = packets(set);
        let bytes: u64 = packets.iter().map(|(_, b)| b.len() as u64).sum();
        let mut b = builder();
        let alerts = decode_all(&mut b, &packets) as u64;
        assert_eq!(alerts, packets.len() as u64, "one alert per packet");
        for (unit, throughput) in [
            ("bytes", Throughput::Bytes(bytes)),
            ("alerts", Throughput::Elements(alerts)),
        ] {
            group.throughput(throughput);
            group.bench_function(format!("{set}/{unit}"), |bench| {
                bench.iter(|| std::hint::black_box(decode_all(&mut b, &packets)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
