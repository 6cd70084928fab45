"""The real packets through the Iceberg REST catalog, an S3 warehouse and S3 cutouts, read
back by independent clients (pyiceberg's REST client, boto3, DuckDB when it can)."""

from __future__ import annotations

import io
import json
import math

import fastavro
import pytest

from ateda_testlib import REPO, night_of_jd
from bronze.readers import compare_record, float32_fields, read_packets
from cluster.helpers import CUTOUTS, assert_no_secret, run_ingest

SCHEMAS = REPO / "crates" / "ateda-schema" / "schemas"


@pytest.fixture(scope="module")
def ingested(cluster, packets, tmp_path_factory):
    """One ingest of all 32 packets into an empty catalog, logging at debug level."""
    tmp = tmp_path_factory.mktemp("cluster-rt")
    warehouse = cluster.new_warehouse("rt")
    cutouts = cluster.new_cutouts("rt")
    assert cluster.catalog(warehouse).list_namespaces() == [], "a fresh, empty catalog"
    run = run_ingest(
        cluster, warehouse, cutouts, packets[0].parent.parent, tmp=tmp, rust_log="debug"
    )
    assert run.code == 0, run.stderr[-3000:]
    return warehouse, cutouts, run, tmp


def test_bootstrap_of_an_empty_catalog(cluster, ingested):
    warehouse, _, run, _ = ingested
    cat = cluster.catalog(warehouse)
    assert cat.list_namespaces() == [("bronze",)]
    assert sorted(t[1] for t in cat.list_tables("bronze")) == [
        "alerts",
        "ingest_ledger",
        "lsst_alerts",
        "quarantine",
    ]
    table = cat.load_table("bronze.alerts")
    assert [f.name for f in table.spec().fields] == ["night"]
    assert table.location().startswith(warehouse + "/"), table.location()
    assert "created table" in run.stderr


def test_rubin_alert_through_rest_and_s3(cluster, tmp_path):
    """The real Rubin wire-format alert through the REST catalog and S3 cutouts: its row
    in bronze.lsst_alerts equal to the packet (bundled 9.0 schema), stamps byte for byte."""
    warehouse = cluster.new_warehouse("rt-lsst")
    cutouts = cluster.new_cutouts("rt-lsst")
    wire = REPO / "tests" / "data" / "lsst" / "wire_v9_0_7912941781254298.avro"
    run = run_ingest(cluster, warehouse, cutouts, wire, tmp=tmp_path)
    assert run.code == 0, run.stderr[-3000:]
    raw = wire.read_bytes()
    assert raw[0] == 0 and int.from_bytes(raw[1:5], "big") == 900
    schema = fastavro.parse_schema(json.loads((SCHEMAS / "lsst-9.0.avsc").read_text()))
    rec = fastavro.schemaless_reader(io.BytesIO(raw[5:]), schema)
    rows = cluster.catalog(warehouse).load_table("bronze.lsst_alerts").scan().to_arrow()
    assert rows.num_rows == 1
    row = rows.to_pylist()[0]
    assert row["diaSourceId"] == rec["diaSourceId"] == 7912941781254298
    assert row["ingest_schema_version"] == "9.0"
    assert str(row["night"]) == "2025-10-12"
    for name, value in rec["diaSource"].items():
        got = row["diaSource"][name]
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(got), name
        else:
            assert got == value, name
    for field, kind in CUTOUTS.items():
        uri = row[f"cutout_{kind}_uri"]
        assert uri.startswith(cutouts + "/lsst/night=2025-10-12/7912941781254298/"), uri
        assert uri.endswith(".fits")
        assert cluster.get_object(uri) == rec[field]


def test_secret_never_printed_at_debug_level(cluster, ingested):
    _, _, run, _ = ingested
    assert run.stderr.count("\n") > 100, "RUST_LOG=debug was in force"
    assert_no_secret(cluster, run.output)


def test_every_field_via_rest_catalog(cluster, ingested, packets):
    warehouse, _, run, _ = ingested
    arrow = cluster.catalog(warehouse).load_table("bronze.alerts").scan().to_arrow()
    f32 = float32_fields(arrow.schema)
    rows = {r["candid"]: r for r in arrow.to_pylist()}
    assert len(rows) == arrow.num_rows == 32
    for path in packets:
        records, schema = read_packets(path)
        for rec in records:
            row = rows[rec["candid"]]
            for field in CUTOUTS:
                rec.pop(field)
            diffs: list[str] = []
            compare_record(rec, row, f32, "", diffs)
            assert not diffs, f"{path.name}: {diffs[:5]}"
            jd = rec["candidate"]["jd"]
            assert row["night"] == night_of_jd(jd)
            assert row["ingest_schema_version"] == schema.get("version")
            assert row["ingest_run_id"] == run.summary["run_id"]


def test_stamps_in_s3_byte_for_byte(cluster, ingested, packets):
    warehouse, cutouts, run, _ = ingested
    rows = {
        r["candid"]: r
        for r in cluster.catalog(warehouse)
        .load_table("bronze.alerts")
        .scan()
        .to_arrow()
        .to_pylist()
    }
    n = 0
    for path in packets:
        (rec,), _ = read_packets(path)
        for field, kind in CUTOUTS.items():
            uri = rows[rec["candid"]][f"cutout_{kind}_uri"]
            assert uri.startswith(cutouts + "/ztf/night="), uri
            sha = rows[rec["candid"]]["ingest_alert_sha256"]
            assert uri.endswith(f"/{rec['candid']}/{kind}-{sha[:32]}.fits.gz")
            assert cluster.get_object(uri) == rec[field]["stampData"]
            n += 1
    assert n == run.summary["cutouts_written"] == 96


def test_ledger_through_rest(cluster, ingested):
    warehouse, _, run, _ = ingested
    ledger = cluster.catalog(warehouse).load_table("bronze.ingest_ledger").scan().to_arrow()
    assert ledger.num_rows == 32
    assert set(ledger.column("snapshot_id").to_pylist()) == {run.summary["snapshot_id"]}


def test_rerun_adds_nothing(cluster, ingested, packets):
    warehouse, cutouts, first, tmp = ingested
    table = cluster.catalog(warehouse).load_table("bronze.alerts")
    snapshot = table.current_snapshot().snapshot_id
    again = run_ingest(cluster, warehouse, cutouts, *packets, tmp=tmp)
    assert again.code == 0, again.stderr[-3000:]
    s = again.summary
    # already-present alerts are found before upload: no stamp is sent again
    assert (s["ingested"], s["already_present"], s["cutouts_written"]) == (0, 32, 0)
    assert s["cutouts_present"] == 0
    assert "32 already present" in again.stdout
    table = cluster.catalog(warehouse).load_table("bronze.alerts")
    assert table.current_snapshot().snapshot_id == snapshot, "no new snapshot"
    ids = table.scan(selected_fields=("candid",)).to_arrow().column("candid").to_pylist()
    assert len(ids) == len(set(ids)) == 32


def test_duckdb_attaches_the_rest_catalog(cluster, ingested):
    """DuckDB as a third reader; it needs the httpfs extension for S3 data files."""
    from duckdb_extensions import import_extension

    from bronze.readers import duckdb_connection

    warehouse, _, _, _ = ingested
    con = duckdb_connection()
    try:
        import_extension("httpfs", con=con)
        con.execute("LOAD httpfs")
    except Exception as e:  # any failure means "not installed here"
        pytest.skip(f"DuckDB httpfs extension not installed (duckdb-extension-httpfs): {e}")
    endpoint = cluster.endpoint.split("://", 1)[1]
    con.execute(
        "CREATE SECRET s3 (TYPE s3, KEY_ID ?, SECRET ?, ENDPOINT ?, REGION ?, "
        "URL_STYLE 'path', USE_SSL false)",
        [cluster.env["AWS_ACCESS_KEY_ID"], cluster.secret, endpoint, cluster.env["AWS_REGION"]],
    )
    con.execute(
        f"ATTACH '{warehouse.removeprefix('s3://')}' AS lake "
        f"(TYPE iceberg, ENDPOINT '{cluster.rest_uri}', AUTHORIZATION_TYPE 'none')"
    )
    count, distinct = con.execute(
        "select count(*), count(distinct candid) from lake.bronze.alerts"
    ).fetchone()
    assert (count, distinct) == (32, 32)


def test_wrong_secret_fails_clearly_without_printing_it(cluster, packets, tmp_path):
    wrong = "Wr0ngSecretThatMustNotBePrinted"
    bad = type(cluster)(dict(cluster.env, AWS_SECRET_ACCESS_KEY=wrong))
    run = run_ingest(
        bad,
        cluster.new_warehouse("badkey"),
        cluster.new_cutouts("badkey"),
        *packets[:2],
        tmp=tmp_path,
        rust_log="debug",
    )
    assert run.code == 1, run.stderr[-3000:]
    error = [line for line in run.stderr.splitlines() if line.startswith("ateda ingest: error:")]
    assert len(error) == 1 and "403" in error[0], error
    assert_no_secret(bad, run.output)
    assert_no_secret(cluster, run.output)
