//! Schema drift end to end on a temporary embedded lakehouse (SQLite catalog, local
//! files): real packets re-encoded with drifted writer schemas land with their new
//! columns, a conflicting packet is quarantined with the field path, a re-run adds
//! nothing, and two concurrent runs adding the same column end with one column.

use std::path::Path;

mod common;

use common::{candid_of, drifted, options, run, scan, v4_packets};

use apache_avro::types::Value;
use arrow_array::{Array, Float64Array, Int64Array};
use ateda_lakehouse::{BronzeTable, Lakehouse};
use ateda_schema::ztf::ZTF;
use futures::TryStreamExt;
use serde_json::json;

fn fields_of<'a>(json: &'a mut serde_json::Value, name: &str) -> &'a mut Vec<serde_json::Value> {
    let f = json["fields"]
        .as_array_mut()
        .expect("fields")
        .iter_mut()
        .find(|f| f["name"] == name)
        .expect("field");
    f["type"]["fields"].as_array_mut().expect("record fields")
}

fn record_mut<'a>(fields: &'a mut [(String, Value)], name: &str) -> &'a mut Vec<(String, Value)> {
    match &mut fields.iter_mut().find(|(n, _)| n == name).expect("field").1 {
        Value::Record(f) => f,
        other => panic!("{name} is {other:?}"),
    }
}

/// (candid, fink_score) of every row. Nested additions (candidate.new_cand) are checked
/// in the schema here and read back by pyiceberg and DuckDB in tests/bronze: iceberg-rust
/// 0.10's reader cannot yet project a struct column that gained a field onto data files
/// written before (its RecordBatchTransformer counts the struct's arrays).
async fn read_back(root: &Path) -> Vec<(i64, Option<f64>)> {
    let mut out = Vec::new();
    for b in scan(root, BronzeTable::Alerts, &["candid", "fink_score"]).await {
        let candid = b
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("i64");
        let fink = b
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("f64");
        for i in 0..b.num_rows() {
            let opt = |a: &Float64Array| a.is_valid(i).then(|| a.value(i));
            out.push((candid.value(i), opt(fink)));
        }
    }
    out.sort_by_key(|r| r.0);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drifted_packets_evolve_the_table_and_conflicts_are_quarantined() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("lh");
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).expect("src dir");
    let packets = v4_packets();
    assert!(packets.len() >= 4);
    // 0: extra fields at the top, in candidate and in each prv_candidates element
    let extra = drifted(
        &packets[0],
        |s| {
            s["fields"].as_array_mut().expect("fields").push(
                json!({"name": "fink_score", "type": ["null", "double"], "doc": "a broker's score"}),
            );
            fields_of(s, "candidate").push(json!({"name": "new_cand", "type": "double"}));
        },
        |d| {
            d.push((
                "fink_score".into(),
                Value::Union(1, Box::new(Value::Double(0.25))),
            ));
            record_mut(d, "candidate").push(("new_cand".into(), Value::Double(7.5)));
        },
    );
    std::fs::write(src.join("a_extra.avro"), extra).expect("write");
    // 1: an irreconcilable change: candidate.magpsf became a string
    let conflict = drifted(
        &packets[1],
        |s| {
            let f = fields_of(s, "candidate")
                .iter_mut()
                .find(|f| f["name"] == "magpsf")
                .expect("magpsf");
            f["type"] = json!("string");
        },
        |d| {
            let c = record_mut(d, "candidate");
            let v = c.iter_mut().find(|(n, _)| n == "magpsf").expect("magpsf");
            v.1 = Value::String("18.2".into());
        },
    );
    std::fs::write(src.join("b_conflict.avro"), conflict).expect("write");
    // 2, 3: unchanged packets
    for p in &packets[2..4] {
        std::fs::copy(p, src.join(p.file_name().expect("name"))).expect("copy");
    }

    let s = run(&root, vec![src.clone()]).await;
    assert_eq!(s.alerts_seen, 3, "{s:?}");
    assert_eq!(s.ingested, 3);
    assert_eq!(s.quarantined, 1);
    assert_eq!(
        s.columns_added,
        ["add candidate.new_cand: double", "add fink_score: double"],
        "{s:?}"
    );
    let rows = read_back(&root).await;
    let by_candid = |c: i64| rows.iter().find(|r| r.0 == c).copied();
    assert_eq!(
        by_candid(candid_of(&packets[0])),
        Some((candid_of(&packets[0]), Some(0.25)))
    );
    for p in &packets[2..4] {
        assert_eq!(by_candid(candid_of(p)), Some((candid_of(p), None)));
    }
    assert!(by_candid(candid_of(&packets[1])).is_none());

    // the quarantine reason names the field path and both types
    let lh = Lakehouse::connect(&options(&root, vec![]).lakehouse, ZTF)
        .await
        .expect("connect");
    let q = lh.load(BronzeTable::Quarantine).await.expect("load");
    let batches: Vec<_> = q
        .scan()
        .select(["source", "reason"])
        .build()
        .expect("scan")
        .to_arrow()
        .await
        .expect("stream")
        .try_collect()
        .await
        .expect("rows");
    let reasons: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let r = b
                .column(1)
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .expect("str");
            (0..b.num_rows())
                .map(|i| r.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(reasons.len(), 1);
    assert!(
        reasons[0].contains("candidate.magpsf: writer type string cannot be stored in the bronze column of type float"),
        "{reasons:?}"
    );

    // a re-run adds nothing: no rows, no columns
    let again = run(&root, vec![src]).await;
    assert_eq!(again.ingested, 0);
    assert_eq!(again.already_present, 3);
    assert!(again.columns_added.is_empty(), "{again:?}");
    let schema = lh.alerts_schema().await.expect("schema");
    let added = schema
        .field_by_name("candidate.new_cand")
        .expect("nested column added");
    assert!(!added.required);
    let history = lh.schema_history().await.expect("history");
    assert_eq!(history.len(), 2, "{history:?}");
    assert!(history[1].current);
    assert_eq!(
        history[1].changes,
        ["add candidate.new_cand", "add fink_score"],
        "{history:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_runs_adding_the_same_column_end_with_one() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("lh");
    let packets = v4_packets();
    // bootstrap first, so both runs race on the schema change, not on table creation
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    run(&root, vec![empty]).await;
    let mut dirs = Vec::new();
    for (i, p) in packets[..2].iter().enumerate() {
        let d = tmp.path().join(format!("src{i}"));
        std::fs::create_dir_all(&d).expect("dir");
        let bytes = drifted(
            p,
            |s| {
                s["fields"]
                    .as_array_mut()
                    .expect("fields")
                    .push(json!({"name": "fink_score", "type": ["null", "double"]}));
            },
            |d| {
                d.push((
                    "fink_score".into(),
                    Value::Union(1, Box::new(Value::Double(i as f64))),
                ))
            },
        );
        std::fs::write(d.join("x.avro"), bytes).expect("write");
        dirs.push(d);
    }
    let (a, b) = tokio::join!(
        run(&root, vec![dirs[0].clone()]),
        run(&root, vec![dirs[1].clone()])
    );
    assert_eq!(a.ingested + b.ingested, 2);
    assert_eq!(a.quarantined + b.quarantined, 0);
    let added = a.columns_added.len() + b.columns_added.len();
    assert_eq!(
        added, 1,
        "one run added the column, the other found it: {a:?} {b:?}"
    );
    let lh = Lakehouse::connect(&options(&root, vec![]).lakehouse, ZTF)
        .await
        .expect("connect");
    let schema = lh.alerts_schema().await.expect("schema");
    let n = schema
        .as_struct()
        .fields()
        .iter()
        .filter(|f| f.name == "fink_score")
        .count();
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotions_evolve_the_column_types() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("lh");
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).expect("dir");
    let packets = v4_packets();
    // candidate.fid int -> long, candidate.magpsf float -> double
    let promoted = drifted(
        &packets[0],
        |s| {
            for f in fields_of(s, "candidate").iter_mut() {
                if f["name"] == "fid" {
                    f["type"] = json!("long");
                }
                if f["name"] == "magpsf" {
                    f["type"] = json!("double");
                }
            }
        },
        |d| {
            for (n, v) in record_mut(d, "candidate").iter_mut() {
                match (n.as_str(), &*v) {
                    ("fid", Value::Int(x)) => *v = Value::Long(i64::from(*x)),
                    ("magpsf", Value::Float(x)) => *v = Value::Double(f64::from(*x)),
                    _ => {}
                }
            }
        },
    );
    std::fs::write(src.join("a_promoted.avro"), promoted).expect("write");
    std::fs::copy(&packets[1], src.join("b_plain.avro")).expect("copy");
    let s = run(&root, vec![src]).await;
    assert_eq!(s.quarantined, 0, "{s:?}");
    assert_eq!(s.ingested, 2);
    assert_eq!(
        s.columns_added,
        [
            "promote candidate.fid: int -> long",
            "promote candidate.magpsf: float -> double"
        ],
        "{s:?}"
    );
    let lh = Lakehouse::connect(&options(&root, vec![]).lakehouse, ZTF)
        .await
        .expect("connect");
    let schema = lh.alerts_schema().await.expect("schema");
    let ty = |n: &str| schema.field_by_name(n).expect(n).field_type.to_string();
    assert_eq!(ty("candidate.fid"), "long");
    assert_eq!(ty("candidate.magpsf"), "double");
    let history = lh.schema_history().await.expect("history");
    assert_eq!(
        history.last().expect("a schema").changes,
        [
            "promote candidate.fid: int -> long",
            "promote candidate.magpsf: float -> double"
        ]
    );
    // an old writer (int, float) still fits: nothing more to change
    let tmp2 = tmp.path().join("src2");
    std::fs::create_dir_all(&tmp2).expect("dir");
    std::fs::copy(&packets[2], tmp2.join("c.avro")).expect("copy");
    let again = run(&root, vec![tmp2]).await;
    assert_eq!((again.ingested, again.quarantined), (1, 0));
    assert!(again.columns_added.is_empty());
    let table = lh.load(BronzeTable::Alerts).await.expect("load");
    let rows: usize = table
        .scan()
        .select(["candid"])
        .build()
        .expect("scan")
        .to_arrow()
        .await
        .expect("stream")
        .try_collect::<Vec<_>>()
        .await
        .expect("rows")
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 3);
}
