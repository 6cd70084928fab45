"""bronze.alerts read back by independent readers equals the packets, field by field."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlparse

import fastavro
import pytest

from ateda_testlib import night_of_jd, run_ingest
from bronze.readers import (
    catalog,
    compare_record,
    duckdb_connection,
    float32_fields,
    metadata_location,
    read_packets,
    same_value,
    table_rows,
)

CUTOUTS = {
    "cutoutScience": "science",
    "cutoutTemplate": "template",
    "cutoutDifference": "difference",
}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, packets):
    lakehouse = tmp_path_factory.mktemp("rt") / "lakehouse"
    # the bundled packets: one directory per schema family, plus one file given directly
    run = run_ingest(lakehouse, packets[0].parent.parent)
    assert run.code == 0, run.stderr
    return lakehouse, run


def test_every_field_survives_bit_for_bit(ingested, packets):
    lakehouse, run = ingested
    table = catalog(lakehouse).load_table("bronze.alerts")
    arrow = table.scan().to_arrow()
    f32 = float32_fields(arrow.schema)
    rows = {r["candid"]: r for r in arrow.to_pylist()}
    assert len(rows) == len(packets) == arrow.num_rows == 32
    versions = set()
    for path in packets:
        records, schema = read_packets(path)
        versions.add(schema.get("version"))
        for rec in records:
            row = rows[rec["candid"]]
            stamps = {k: rec.pop(k) for k in CUTOUTS}
            diffs: list[str] = []
            compare_record(rec, row, f32, "", diffs)
            assert not diffs, f"{path.name}: {diffs[:5]}"
            # fields the packet's schema lacks are null in bronze (null lists are
            # checked through DuckDB below: pyiceberg 0.12 reads a null list as [])
            if "drb" not in rec["candidate"]:
                assert row["candidate"]["drb"] is None
            # the content hash is the sha256 of the datum's own bytes (the one block's data)
            with path.open("rb") as f:
                (block,) = list(fastavro.block_reader(f))
            assert block.num_records == 1
            sha = hashlib.sha256(block.bytes_.getvalue()).hexdigest()
            assert row["ingest_alert_sha256"] == sha
            for field, kind in CUTOUTS.items():
                stamp = stamps[field]
                uri = row[f"cutout_{kind}_uri"]
                # stamp keys carry 128 bits of the content hash: immutable per content
                assert uri.endswith(f"/{rec['candid']}/{kind}-{sha[:32]}.fits.gz")
                assert Path(urlparse(uri).path).read_bytes() == stamp["stampData"]
                assert row[f"cutout_{kind}_file_name"] == stamp["fileName"]
            jd = rec["candidate"]["jd"]
            assert row["night"] == night_of_jd(jd)
            assert row["ingest_schema_version"] == schema.get("version")
            assert row["ingest_source"].endswith(path.name)
            assert row["ingest_run_id"] == run.summary["run_id"]
    assert versions == {"3.2", "3.3", "4.01", "4.02"}


def test_table_is_partitioned_by_night_with_docs(ingested):
    lakehouse, _ = ingested
    table = catalog(lakehouse).load_table("bronze.alerts")
    spec = table.spec()
    assert [f.name for f in spec.fields] == ["night"]
    jd = table.schema().find_field("candidate.jd")
    assert jd.doc and "julian" in jd.doc.lower()
    assert table.schema().find_field("candid").required


def test_duckdb_reads_the_same_table(ingested, packets):
    lakehouse, _ = ingested
    con = duckdb_connection()
    loc = metadata_location(lakehouse, "alerts")
    count, distinct, ndet = con.execute(
        f"select count(*), count(distinct candid), sum(len(prv_candidates)) from iceberg_scan('{loc}')"
    ).fetchone()
    expected = 0
    for p in packets:
        records, _ = read_packets(p)
        expected += sum(len(r["prv_candidates"] or []) for r in records)
    assert (count, distinct, ndet) == (32, 32, expected)
    v3 = sum(1 for p in packets if "fp_hists" not in read_packets(p)[0][0])
    nulls = con.execute(
        f"select count(*) from iceberg_scan('{loc}') where fp_hists is null"
    ).fetchone()
    assert nulls == (v3,) and v3 == 6
    mags = dict(
        con.execute(f"select candid, candidate.magpsf from iceberg_scan('{loc}')").fetchall()
    )
    for p in packets[:5]:
        (rec,), _ = read_packets(p)
        assert same_value(mags[rec["candid"]], rec["candidate"]["magpsf"], f32=True)


def test_summary_and_ledger(ingested):
    lakehouse, run = ingested
    s = run.summary
    assert (s["alerts_seen"], s["ingested"], s["already_present"], s["quarantined"]) == (
        32,
        32,
        0,
        0,
    )
    assert s["cutouts_written"] == 96 and s["snapshot_id"] is not None
    assert "ingested 32 alerts" in run.stdout
    ledger = table_rows(lakehouse, "ingest_ledger")
    assert len(ledger) == 32
    assert {r["snapshot_id"] for r in ledger} == {s["snapshot_id"]}
    assert all(r["alerts"] == r["ingested"] == 1 for r in ledger)
