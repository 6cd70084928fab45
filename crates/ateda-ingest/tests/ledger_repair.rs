//! The ledger is repaired after a run stopped between its alert commit and its ledger
//! commit: the next run rebuilds that commit's ledger rows from the rows it added, once.

use std::collections::HashMap;
use std::path::Path;

mod common;

use arrow_array::{Array, Int64Array, StringArray};
use ateda_ingest::{ingest, Live};
use ateda_lakehouse::{BronzeTable, LEDGER_FOLLOWS, RUN_ID};
use common::{lakehouse, options, run, scan, v4_packets};

/// (run_id, source, alerts, snapshot_id) of every ledger row.
async fn ledger(root: &Path) -> Vec<(String, String, i64, Option<i64>)> {
    let columns = ["run_id", "source", "alerts", "snapshot_id"];
    let mut out = Vec::new();
    for b in scan(root, BronzeTable::Ledger, &columns).await {
        let s = |i: usize| b.column(i).as_any().downcast_ref::<StringArray>().cloned();
        let l = |i: usize| b.column(i).as_any().downcast_ref::<Int64Array>().cloned();
        let (run, source, alerts, snap) = (
            s(0).expect("run"),
            s(1).expect("source"),
            l(2).expect("alerts"),
            l(3).expect("snapshot"),
        );
        for i in 0..b.num_rows() {
            out.push((
                run.value(i).to_string(),
                source.value(i).to_string(),
                alerts.value(i),
                snap.is_valid(i).then(|| snap.value(i)),
            ));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_without_its_ledger_commit_gets_its_ledger_rows() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let packets = v4_packets();
    run(&a, packets.clone()).await;
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    run(&b, vec![empty.clone()]).await;
    // what a run killed between its two commits leaves: the rows committed (here: the
    // data files of run a, committed into b), no ledger rows for them
    let lh_a = lakehouse(&a).await;
    let table = lh_a.load(BronzeTable::Alerts).await.expect("load");
    let snap = table
        .metadata()
        .current_snapshot()
        .expect("snapshot")
        .clone();
    let mut files = Vec::new();
    for mf in table
        .manifest_list_reader(&snap)
        .load()
        .await
        .expect("list")
        .entries()
    {
        let m = mf.load_manifest(table.file_io()).await.expect("manifest");
        files.extend(m.entries().iter().map(|e| e.data_file().clone()));
    }
    let lh_b = lakehouse(&b).await;
    let props = HashMap::from([
        (RUN_ID.to_string(), "stopped-run".to_string()),
        (LEDGER_FOLLOWS.to_string(), "follows".to_string()),
    ]);
    let stopped = lh_b
        .commit(BronzeTable::Alerts, None, files, props)
        .await
        .expect("commit")
        .expect("snapshot");
    assert!(ledger(&b).await.is_empty());

    // within the grace period a commit may be a live run's: nothing is repaired
    run(&b, vec![empty.clone()]).await;
    assert!(ledger(&b).await.is_empty());
    // after it, the next run repairs the ledger, once
    for _ in 0..2 {
        let mut o = options(&b, vec![empty.clone()]);
        o.ledger_grace = std::time::Duration::ZERO;
        ingest(&o, &Live::default()).await.expect("ingest");
        let rows = ledger(&b).await;
        assert_eq!(rows.len(), packets.len(), "{rows:?}");
        for (p, r) in packets.iter().zip(&rows) {
            assert_eq!(
                r,
                &(
                    "stopped-run".to_string(),
                    p.display().to_string(),
                    1,
                    Some(stopped)
                )
            );
        }
    }
}
