//! A feed with commit points (what `ateda stream` uses) on a temporary embedded
//! lakehouse: every point commits each table once with the position in the same
//! snapshot (a table with no new row gets a position-only snapshot), the follow-up runs
//! after the commit, a rejected member is recorded with its source, and a replay of what
//! was already committed adds nothing and never moves a position back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

mod common;

use arrow_array::{Array, Int64Array, StringArray};
use ateda_ingest::{ingest_feed, CommitPoint, Feed, Live, Position};
use ateda_lakehouse::{
    stream_offsets_at, stream_offsets_property, BronzeTable, Lakehouse, StreamOffsets,
};
use ateda_schema::lsst::LSST;
use ateda_source::{InFlight, Item};
use common::{candid_of, options, scan, v4_packets};

const TOPIC: &str = "ztf_20261201_programid1";

/// Feeds `packets` as messages of one partition from `first_offset`, a garbage message
/// at `poison_at`, and a commit point every `every` messages (and at the end).
fn feed(
    packets: Vec<Vec<u8>>,
    first_offset: i64,
    poison_at: Option<i64>,
    every: usize,
    done: Arc<AtomicUsize>,
) -> Feed {
    Feed::with_commit_points(move |out| {
        let in_flight = InFlight::new(&out.read.limits);
        let mut offsets = StreamOffsets::new();
        let mut n = 0;
        let mut offset = first_offset;
        let point = |out: &mut ateda_ingest::FeedOut, offsets: &StreamOffsets| {
            let done = done.clone();
            assert!(out.commit_point(CommitPoint {
                position: Some(Position {
                    group: "g".into(),
                    offsets: offsets.clone(),
                }),
                done: Some(Box::new(move || {
                    done.fetch_add(1, Ordering::SeqCst);
                })),
            }));
        };
        for p in packets {
            if poison_at == Some(offset) {
                let src = format!("kafka://{TOPIC}/0/{offset}");
                assert!(out.send(Item::member(src, b"not avro".to_vec(), &in_flight)));
                offset += 1;
            }
            let src = format!("kafka://{TOPIC}/0/{offset}");
            assert!(out.send(Item::member(src, p, &in_flight)));
            offset += 1;
            offsets.set(TOPIC, 0, offset);
            n += 1;
            if n % every == 0 {
                point(out, &offsets);
            }
        }
        point(out, &offsets);
    })
}

fn map_at(table: &iceberg::table::Table) -> Option<StreamOffsets> {
    stream_offsets_at(table, "g", None)
        .expect("readable")
        .map(|(_, m)| m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_point_commits_rows_and_position_together_and_a_replay_adds_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    std::fs::create_dir_all(root.join("warehouse")).expect("warehouse");
    let paths = v4_packets();
    let packets: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    let n = packets.len();
    assert!(n >= 10, "enough real packets");
    let opts = options(root, vec![]);
    let done = Arc::new(AtomicUsize::new(0));
    let summary = ingest_feed(
        &opts,
        &Live::default(),
        feed(packets.clone(), 0, Some(3), 4, done.clone()),
    )
    .await
    .expect("stream run");
    let points = n.div_ceil(4) + usize::from(n.is_multiple_of(4));
    assert_eq!(
        done.load(Ordering::SeqCst),
        points,
        "one follow-up per point"
    );
    assert_eq!(summary.ingested as usize, n);
    assert_eq!(summary.quarantined, 1);

    // every packet once
    let mut keys: Vec<i64> = Vec::new();
    for b in scan(root, BronzeTable::Alerts, &["candid"]).await {
        let k = b
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("i64");
        keys.extend(k.values().iter().copied());
    }
    keys.sort();
    let mut want: Vec<i64> = paths.iter().map(|p| candid_of(p)).collect();
    want.sort();
    assert_eq!(keys, want);

    // the poison message is recorded with its position
    let q = scan(root, BronzeTable::Quarantine, &["source"]).await;
    let sources: Vec<String> = q
        .iter()
        .flat_map(|b| {
            let s = b
                .column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("utf8");
            (0..s.len())
                .map(|i| s.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(sources, vec![format!("kafka://{TOPIC}/0/3")]);

    // the position is in the snapshot that added the last rows; the Rubin table, which
    // got no row, has position-only snapshots with the same map
    let end = n as i64 + 1; // one poison message among them
    let ztf = common::lakehouse(root).await;
    let alerts = ztf.load(BronzeTable::Alerts).await.expect("load");
    let map = map_at(&alerts).expect("position recorded");
    assert_eq!(map.get(TOPIC, 0), Some(end));
    let current = alerts.metadata().current_snapshot().expect("snapshot");
    assert!(current
        .summary()
        .additional_properties
        .contains_key(&stream_offsets_property("g")));
    let with_position = alerts
        .metadata()
        .snapshots()
        .filter(|s| {
            s.summary()
                .additional_properties
                .contains_key(&stream_offsets_property("g"))
        })
        .count();
    assert_eq!(with_position, points, "one alerts commit per point");
    let lsst = Lakehouse::connect(&opts.lakehouse, LSST)
        .await
        .expect("lsst");
    let rubin = lsst.load(BronzeTable::Alerts).await.expect("load");
    assert_eq!(map_at(&rubin).expect("recorded").get(TOPIC, 0), Some(end));
    let rubin_rows: usize = scan_rows(&lsst).await;
    assert_eq!(rubin_rows, 0, "position-only snapshots add no row");

    // a replay of the first half (a consumer restarted behind) adds nothing and the
    // recorded position never moves back
    let done2 = Arc::new(AtomicUsize::new(0));
    let again = ingest_feed(
        &opts,
        &Live::default(),
        feed(packets[..n / 2].to_vec(), 0, None, 100, done2.clone()),
    )
    .await
    .expect("replay");
    assert_eq!(again.ingested, 0);
    assert_eq!(again.already_present as usize, n / 2);
    assert_eq!(done2.load(Ordering::SeqCst), 1);
    let alerts = ztf.load(BronzeTable::Alerts).await.expect("load");
    assert_eq!(map_at(&alerts).expect("recorded").get(TOPIC, 0), Some(end));
}

async fn scan_rows(lh: &Lakehouse) -> usize {
    use futures::TryStreamExt;
    let t = lh.load(BronzeTable::Alerts).await.expect("load");
    let batches: Vec<arrow_array::RecordBatch> = t
        .scan()
        .select(["diaSourceId"])
        .build()
        .expect("scan")
        .to_arrow()
        .await
        .expect("stream")
        .try_collect()
        .await
        .expect("batches");
    batches.iter().map(|b| b.num_rows()).sum()
}
