"""Schema drift on the embedded lakehouse (SQLite catalog): real packets re-encoded with
drifted writer schemas (tests/drift_packets.py), mixed with unchanged ones in one nightly
tarball, ingested by the real binary and read back by pyiceberg and DuckDB."""

from __future__ import annotations

import json
import struct
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import drift_packets as dp
import fastavro
import pytest
from pyiceberg.types import DoubleType, FloatType, IntegerType, LongType, StringType

from ateda_testlib import DATA, IngestRun, ateda_bin, night_of_jd, run_ingest
from bronze.readers import (
    catalog,
    duckdb_connection,
    float32_fields,
    metadata_location,
    table_rows,
)

NIGHT = dp.NIGHT


def ateda(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ateda_bin()), *args], check=False, capture_output=True, text=True, timeout=300
    )


def history(lakehouse: Path) -> list[dict]:
    proc = ateda("schema", "history", "--json", "--lakehouse", str(lakehouse))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def schema_id(lakehouse: Path) -> int:
    return catalog(lakehouse).load_table("bronze.alerts").metadata.current_schema_id


@dataclass
class Night:
    lakehouse: Path
    tarball: Path
    drifted: dict[str, dp.Drifted]
    unchanged: list[Path]
    diffs: dict[str, subprocess.CompletedProcess]  # `ateda schema diff` before the ingest
    history_before: list[dict]  # after the bootstrap, before the diffs
    history_after_diffs: list[dict]
    metadata_before: str  # the catalog's metadata location of bronze.alerts, before and
    metadata_after_diffs: str  # after the diffs
    run: IngestRun

    def expected(self) -> dict[int, tuple[str, dict]]:
        """candid -> (member name, record as written) of every packet that must land."""
        return dp.expected_rows(self.drifted, self.unchanged)


@pytest.fixture(scope="module")
def v401(packets) -> list[Path]:
    return dp.night_packets(packets)


@pytest.fixture(scope="module")
def night(tmp_path_factory, v401) -> Night:
    tmp = tmp_path_factory.mktemp("drift")
    drifted = dp.build_suite(v401)
    unchanged = v401[len(drifted) :]
    files = {label: d.write(tmp / "files") for label, d in drifted.items()}
    # drifted members between unchanged ones, two unchanged between each drift
    members = []
    for i, d in enumerate(drifted.values()):
        members += [(p.name, p.read_bytes()) for p in unchanged[2 * i : 2 * i + 2]]
        members.append((d.name, d.data))
    members += [(p.name, p.read_bytes()) for p in unchanged[2 * len(drifted) :]]
    assert len(members) == 24
    tarball = dp.make_tarball(tmp / f"ztf_public_{NIGHT}.tar.gz", members)

    lakehouse = tmp / "lakehouse"
    (tmp / "empty").mkdir()
    boot = run_ingest(lakehouse, tmp / "empty")  # creates the tables, schema 0
    assert boot.code == 0, boot.stderr
    history_before = history(lakehouse)
    metadata_before = metadata_location(lakehouse, "alerts")
    diffs = {
        label: ateda("schema", "diff", "--lakehouse", str(lakehouse), str(f))
        for label, f in files.items()
    }
    history_after_diffs = history(lakehouse)
    metadata_after_diffs = metadata_location(lakehouse, "alerts")
    run = run_ingest(lakehouse, tarball)
    return Night(
        lakehouse,
        tarball,
        drifted,
        unchanged,
        diffs,
        history_before,
        history_after_diffs,
        metadata_before,
        metadata_after_diffs,
        run,
    )


def test_schema_diff_before_ingest_is_a_dry_run(night, tmp_path):
    for label, proc in night.diffs.items():
        lines = [ln.strip() for ln in proc.stdout.splitlines()[1:]]
        assert "against bronze.alerts schema 0" in proc.stdout, proc.stdout
        if label == "conflict":
            assert proc.returncode == 2, proc.stdout + proc.stderr
            assert lines == [f"conflict: {dp.CONFLICT_REASON}"], proc.stdout
        elif label == "nullable":
            assert proc.returncode == 0, proc.stderr
            assert lines == ["no change: its packets fit the table as it is"], proc.stdout
        else:
            assert proc.returncode == 0, proc.stderr
            assert lines == dp.COLUMNS_ADDED[label], proc.stdout
    # nothing was written: the same table metadata file, still schema 0 alone
    assert night.metadata_before == night.metadata_after_diffs
    assert night.history_before == night.history_after_diffs
    assert [(h["schema_id"], h["current"], h["changes"]) for h in night.history_before] == [
        (0, True, [])
    ]
    # a diff against a lakehouse without a table creates no table
    fresh = tmp_path / "fresh"
    proc = ateda(
        "schema", "diff", "--lakehouse", str(fresh), str(night.drifted["top"].write(tmp_path))
    )
    assert proc.returncode == 0, proc.stderr
    assert [ln.strip() for ln in proc.stdout.splitlines()[1:]] == dp.COLUMNS_ADDED["top"]
    if (fresh / "catalog.db").exists():
        assert catalog(fresh).list_namespaces() == []


def test_only_the_conflicting_packet_is_quarantined(night):
    run = night.run
    assert run.code == 2, f"exit 2: something was quarantined\n{run.stderr[-3000:]}"
    s = run.summary
    assert (s["ingested"], s["already_present"], s["quarantined"]) == (23, 0, 1), s
    assert "23 alerts (0 already present, 1 quarantined)" in run.stdout
    (q,) = table_rows(night.lakehouse, "quarantine")
    conflict = night.drifted["conflict"]
    assert q["source"] == f"{night.tarball}!{conflict.name}"
    assert dp.CONFLICT_REASON in q["reason"], q["reason"]
    assert "candidate.magpsf" in q["reason"] and "string" in q["reason"] and "float" in q["reason"]
    assert q["size_bytes"] == len(conflict.data)
    assert Path(urlparse(q["quarantine_uri"]).path).read_bytes() == conflict.data
    stored = {r["candid"] for r in table_rows(night.lakehouse, "alerts")}
    assert conflict.candid not in stored
    assert stored == set(night.expected())


def test_columns_added_lists_every_addition_and_promotion(night):
    added = night.run.summary["columns_added"]
    expected = [c for label in dp.SUITE for c in dp.COLUMNS_ADDED[label]]
    assert sorted(added) == sorted(expected) and len(added) == len(set(added)) == 8
    assert f"{len(expected)} schema changes (" in night.run.stdout
    schema = catalog(night.lakehouse).load_table("bronze.alerts").schema()
    types = {
        "drift_top_score": DoubleType(),
        "drift_top_score_label": StringType(),
        "candidate.drift_cand_real": FloatType(),
        "candidate.drift_cand_count": LongType(),
        "prv_candidates.element.drift_prv_index": IntegerType(),
        "fp_hists.element.drift_fp_note": StringType(),
        "candidate.fid": LongType(),
        "candidate.sgscore1": DoubleType(),
        "candidate.magpsf": FloatType(),  # the conflict changed nothing
        "prv_candidates.element.fid": IntegerType(),  # only candidate.fid was promoted
    }
    for name, t in types.items():
        f = schema.find_field(name)
        assert f.field_type == t, (name, f.field_type)
        assert not f.required, name
    # the writer's doc becomes the column doc
    assert schema.find_field("drift_top_score").doc == "a broker's score (drift test)"
    assert schema.find_field("candidate.drift_cand_real").doc == "a float32"


def test_schema_history_shows_the_evolution(night):
    hist = history(night.lakehouse)
    assert [h["schema_id"] for h in hist] == list(range(7)), hist
    assert [h["current"] for h in hist] == [False] * 6 + [True]
    assert hist[0]["changes"] == []
    # one schema id per drifted writer schema (6 of the 8 change the table)
    got = sorted(sorted(h["changes"]) for h in hist[1:])
    assert got == sorted(sorted(c) for c in dp.HISTORY.values()), hist
    for prev, h in zip(hist, hist[1:], strict=False):
        adds = sum(c.startswith("add ") for c in h["changes"])
        assert h["columns"] == prev["columns"] + adds, (prev, h)
    table = catalog(night.lakehouse).load_table("bronze.alerts")
    assert sorted(s.schema_id for s in table.metadata.schemas) == list(range(7))
    assert table.metadata.current_schema_id == 6
    # schema commits add no snapshot and rewrite no data: one snapshot, the data commit
    assert [s.snapshot_id for s in table.snapshots()] == [night.run.summary["snapshot_id"]]
    text = ateda("schema", "history", "--lakehouse", str(night.lakehouse)).stdout
    assert "schema 6 (current)" in text and "promote candidate.sgscore1: float -> double" in text


def check_rows(night: Night, rows: dict[int, dict], f32: set[str], reader: str) -> None:
    expected = night.expected()
    assert set(rows) == set(expected), reader
    for candid, (name, packet) in expected.items():
        row, rec = rows[candid], dict(packet)
        stamps = dp.stamps_of(rec)
        diffs = dp.compare_packet(rec, row, f32)
        assert not diffs, f"{reader}: {name}: {diffs[:5]}"
        for field, kind in dp.CUTOUT_FIELDS_KIND.items():
            assert row[f"cutout_{kind}_file_name"] == stamps[field]["fileName"], (reader, name)
            path = Path(urlparse(row[f"cutout_{kind}_uri"]).path)
            assert path.read_bytes() == stamps[field]["stampData"], (reader, name)
        assert row["night"] == night_of_jd(rec["candidate"]["jd"])
        # promoted columns hold the widened values: the same integer, the float32 exactly
        assert row["candidate"]["fid"] == rec["candidate"]["fid"]
        sg = row["candidate"]["sgscore1"]
        assert sg is None or struct.unpack("<f", struct.pack("<f", sg))[0] == sg
    # spot checks of the drifted values themselves
    d = night.drifted
    top = rows[d["top"].candid]
    assert (top["drift_top_score"], top["drift_top_score_label"]) == (
        0.125,
        f"label-{d['top'].candid}",
    )
    cand = rows[d["candidate"].candid]["candidate"]
    assert struct.pack("<f", cand["drift_cand_real"]) == struct.pack("<f", 0.1)
    assert cand["drift_cand_count"] == 2**40 + 7
    prv = rows[d["prv"].candid]["prv_candidates"]
    assert [p["drift_prv_index"] for p in prv] == list(range(len(prv)))
    fp = rows[d["fp"].candid]["fp_hists"]
    assert [p["drift_fp_note"] for p in fp] == [
        f"fp{i}" if i % 2 == 0 else None for i in range(len(fp))
    ]
    nul = rows[d["nullable"].candid]
    assert nul["candidate"]["magpsf"] is None and nul["cutout_difference_file_name"] is None
    assert nul["cutout_science_file_name"] is not None
    # the new columns are null for every other packet
    for candid, row in rows.items():
        if candid != d["top"].candid:
            assert row["drift_top_score"] is None and row["drift_top_score_label"] is None
        if candid != d["prv"].candid:
            assert all(p["drift_prv_index"] is None for p in row["prv_candidates"])


def test_pyiceberg_reads_every_value(night):
    arrow = catalog(night.lakehouse).load_table("bronze.alerts").scan().to_arrow()
    assert arrow.num_rows == 23
    f32 = float32_fields(arrow.schema)
    assert "candidate.drift_cand_real" in f32 and "candidate.sgscore1" not in f32
    check_rows(night, {r["candid"]: r for r in arrow.to_pylist()}, f32, "pyiceberg")


def test_duckdb_reads_every_value(night):
    con = duckdb_connection()
    loc = metadata_location(night.lakehouse, "alerts")
    arrow = con.execute(f"select * from iceberg_scan('{loc}')").to_arrow_table()
    assert arrow.num_rows == 23
    f32 = float32_fields(arrow.schema)
    assert "candidate.drift_cand_real" in f32 and "candidate.sgscore1" not in f32
    check_rows(night, {r["candid"]: r for r in arrow.to_pylist()}, f32, "duckdb")
    # the typed columns as DuckDB sees them
    types = dict(
        con.execute(
            f"select column_name, column_type from (describe select drift_top_score, "
            f"candidate.fid as fid, candidate.sgscore1 as sg, candidate.drift_cand_count as n "
            f"from iceberg_scan('{loc}'))"
        ).fetchall()
    )
    assert types == {"drift_top_score": "DOUBLE", "fid": "BIGINT", "sg": "DOUBLE", "n": "BIGINT"}


def test_rerun_adds_nothing(night):
    before = history(night.lakehouse)
    table = catalog(night.lakehouse).load_table("bronze.alerts")
    snapshots = [snap.snapshot_id for snap in table.snapshots()]
    again = run_ingest(night.lakehouse, night.tarball)
    assert again.code == 2, "the conflicting packet is still reported"
    s = again.summary
    assert (s["ingested"], s["already_present"], s["quarantined_before"]) == (0, 23, 1), s
    assert s["columns_added"] == [] and s["commits"] == 0
    assert "schema change" not in again.stdout
    assert history(night.lakehouse) == before
    assert schema_id(night.lakehouse) == 6
    table = catalog(night.lakehouse).load_table("bronze.alerts")
    assert [snap.snapshot_id for snap in table.snapshots()] == snapshots
    assert len(table_rows(night.lakehouse, "alerts")) == 23
    assert len(table_rows(night.lakehouse, "quarantine")) == 1


def test_gen_drift_night(tmp_path):
    out = tmp_path / "gen"
    proc = ateda(
        "gen",
        "--n",
        "40",
        "--night",
        NIGHT,
        "--drift",
        "extra-fields",
        "--tar",
        "--out",
        str(out),
        "--templates",
        str(DATA),
    )
    assert proc.returncode == 0, proc.stderr
    tarball = out / f"ztf_public_{NIGHT}.tar.gz"
    packets: dict[int, dict] = {}
    with tarfile.open(tarball) as tar:
        for member in tar:
            reader = fastavro.reader(tar.extractfile(member))
            for rec in reader:
                packets[rec["candid"]] = rec
    assert len(packets) == 40
    drifted = {c for c, r in packets.items() if "drift_score" in r}
    assert 10 <= len(drifted) <= 30, "about half the alerts drift"
    assert all("drift_score" in packets[c]["candidate"] for c in drifted)

    lakehouse = tmp_path / "lakehouse"
    run = run_ingest(lakehouse, tarball)
    assert run.code == 0, run.stderr[-3000:]
    assert (run.summary["ingested"], run.summary["quarantined"]) == (40, 0)
    assert sorted(run.summary["columns_added"]) == [
        "add candidate.drift_score: double",
        "add drift_score: double",
    ]
    con = duckdb_connection()
    loc = metadata_location(lakehouse, "alerts")
    got = {
        c: (top, cand)
        for c, top, cand in con.execute(
            f"select candid, drift_score, candidate.drift_score from iceberg_scan('{loc}')"
        ).fetchall()
    }
    assert got == {c: (0.5, 0.5) if c in drifted else (None, None) for c in packets}
    # and every other value of the generated packets
    arrow = con.execute(f"select * from iceberg_scan('{loc}')").to_arrow_table()
    f32 = float32_fields(arrow.schema)
    rows = {r["candid"]: r for r in arrow.to_pylist()}
    for candid, rec in packets.items():
        dp.stamps_of(rec)
        diffs = dp.compare_packet(rec, rows[candid], f32)
        assert not diffs, f"{candid}: {diffs[:5]}"


@pytest.mark.parametrize("kind", ["add", "promote"])
def test_two_concurrent_writers_change_the_schema_once(v401, tmp_path, kind):
    """Two `ateda ingest` processes on one new SQLite lakehouse, released at the same
    moment, with different packets carrying the same drift (a new field; a promotion):
    one schema change, both runs exit 0, every row there."""
    lakehouse = tmp_path / "lakehouse"
    shared = dp.shared_drift(kind, v401, tmp_path)
    commands, summaries = [], []
    for i, src in enumerate(shared.dirs):
        summaries.append(tmp_path / f"summary{i}.json")
        cmd = [str(ateda_bin()), "ingest", "--lakehouse", str(lakehouse), "--no-progress"]
        commands.append(([*cmd, "--summary-json", str(summaries[-1]), str(src)], None))
    results = dp.run_together(commands)
    for code, _, err in results:
        assert code == 0, err[-3000:]
    runs = [json.loads(s.read_text()) for s in summaries]
    assert [(r["ingested"], r["quarantined"]) for r in runs] == [(4, 0), (4, 0)]
    added = runs[0]["columns_added"] + runs[1]["columns_added"]
    assert sorted(added) == shared.columns_added, runs
    assert sum("evolved table schema" in err for _, _, err in results) == 1
    schema = catalog(lakehouse).load_table("bronze.alerts").schema()
    names = [f.name for f in schema.fields]
    assert names.count("drift_shared") == names.count("drift_shared_label") == (kind == "add")
    assert [h["changes"] for h in history(lakehouse)] == [[], shared.history]
    assert shared.got(table_rows(lakehouse, "alerts")) == shared.values
