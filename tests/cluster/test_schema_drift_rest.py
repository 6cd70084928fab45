"""Schema drift through the Iceberg REST catalog with an S3 warehouse and S3 cutouts
(SeaweedFS): the drift suite of tests/drift_packets.py in one nightly tarball, read back
with pyiceberg's RestCatalog; and two concurrent `ateda ingest` processes making the same
schema change (a new field; a promotion), ending with one change."""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import drift_packets as dp
import pytest
from pyiceberg.types import DoubleType, FloatType, IntegerType, LongType, StringType

from bronze.readers import float32_fields
from cluster.helpers import Cluster, Run, ingest_cmd, run_ingest


def ateda_cmd(cluster: Cluster, warehouse: str, *args: str) -> subprocess.CompletedProcess:
    """`ateda schema ...` against the REST catalog (environment only, as ingest)."""
    cmd, env = ingest_cmd(cluster, warehouse, "s3://unused", [])
    return subprocess.run(
        [cmd[0], *args], env=env, check=False, capture_output=True, text=True, timeout=120
    )


def history(cluster: Cluster, warehouse: str) -> list[dict]:
    proc = ateda_cmd(cluster, warehouse, "schema", "history", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def bootstrap(cluster: Cluster, warehouse: str, cutouts: str, tmp: Path) -> None:
    """Creates the tables (schema 0) with an ingest of nothing."""
    empty = tmp / f"empty-{uuid.uuid4().hex[:6]}"
    empty.mkdir()
    run = run_ingest(cluster, warehouse, cutouts, empty, tmp=tmp)
    assert run.code == 0, run.stderr[-3000:]


@dataclass
class RestNight:
    warehouse: str
    cutouts: str
    tarball: Path
    drifted: dict[str, dp.Drifted]
    unchanged: list[Path]
    diffs: dict[str, subprocess.CompletedProcess]
    history_after_diffs: list[dict]
    metadata_unchanged: bool  # the table's metadata location, the same before and after diffs
    run: Run
    tmp: Path


@pytest.fixture(scope="module")
def v401(packets) -> list[Path]:
    return dp.night_packets(packets)


@pytest.fixture(scope="module")
def rest_night(cluster, v401, tmp_path_factory) -> RestNight:
    tmp = tmp_path_factory.mktemp("drift-rest")
    warehouse = cluster.new_warehouse("drift")
    cutouts = cluster.new_cutouts("drift")
    drifted = dp.build_suite(v401)
    unchanged = v401[len(drifted) : len(drifted) + 4]
    members = [(p.name, p.read_bytes()) for p in unchanged[:2]]
    members += [(d.name, d.data) for d in drifted.values()]
    members += [(p.name, p.read_bytes()) for p in unchanged[2:]]
    tarball = dp.make_tarball(tmp / f"ztf_public_{dp.NIGHT}.tar.gz", members)
    bootstrap(cluster, warehouse, cutouts, tmp)
    before = cluster.catalog(warehouse).load_table("bronze.alerts").metadata_location
    diffs = {
        label: ateda_cmd(cluster, warehouse, "schema", "diff", str(drifted[label].write(tmp)))
        for label in ("top", "prv", "long", "conflict")
    }
    history_after_diffs = history(cluster, warehouse)
    after = cluster.catalog(warehouse).load_table("bronze.alerts").metadata_location
    run = run_ingest(cluster, warehouse, cutouts, tarball, tmp=tmp)
    return RestNight(
        warehouse,
        cutouts,
        tarball,
        drifted,
        unchanged,
        diffs,
        history_after_diffs,
        before == after,
        run,
        tmp,
    )


def test_rest_diff_before_ingest_changes_nothing(rest_night):
    for label in ("top", "prv", "long"):
        proc = rest_night.diffs[label]
        assert proc.returncode == 0, proc.stderr[-3000:]
        lines = [ln.strip() for ln in proc.stdout.splitlines()[1:]]
        assert lines == dp.COLUMNS_ADDED[label], proc.stdout
    conflict = rest_night.diffs["conflict"]
    assert conflict.returncode == 2, conflict.stdout + conflict.stderr[-3000:]
    assert f"conflict: {dp.CONFLICT_REASON}" in conflict.stdout
    # nothing was written: the same table metadata, still schema 0 alone
    assert rest_night.metadata_unchanged
    assert [
        (h["schema_id"], h["current"], h["changes"]) for h in rest_night.history_after_diffs
    ] == [(0, True, [])]


def test_rest_only_the_conflict_is_quarantined(cluster, rest_night):
    run = rest_night.run
    assert run.code == 2, run.stderr[-3000:]
    s = run.summary
    assert (s["ingested"], s["quarantined"]) == (11, 1), s
    expected = [c for label in dp.SUITE for c in dp.COLUMNS_ADDED[label]]
    assert sorted(s["columns_added"]) == sorted(expected)
    cat = cluster.catalog(rest_night.warehouse)
    (q,) = cat.load_table("bronze.quarantine").scan().to_arrow().to_pylist()
    conflict = rest_night.drifted["conflict"]
    assert q["source"].endswith(f"{rest_night.tarball.name}!{conflict.name}"), q["source"]
    assert dp.CONFLICT_REASON in q["reason"], q["reason"]
    assert cluster.get_object(q["quarantine_uri"]) == conflict.data
    schema = cat.load_table("bronze.alerts").schema()
    types = {
        "drift_top_score": DoubleType(),
        "candidate.drift_cand_real": FloatType(),
        "candidate.drift_cand_count": LongType(),
        "prv_candidates.element.drift_prv_index": IntegerType(),
        "fp_hists.element.drift_fp_note": StringType(),
        "candidate.fid": LongType(),
        "candidate.sgscore1": DoubleType(),
        "candidate.magpsf": FloatType(),
    }
    for name, t in types.items():
        assert schema.find_field(name).field_type == t, name


def test_rest_every_value_read_back(cluster, rest_night):
    arrow = cluster.catalog(rest_night.warehouse).load_table("bronze.alerts").scan().to_arrow()
    f32 = float32_fields(arrow.schema)
    rows = {r["candid"]: r for r in arrow.to_pylist()}
    expected = dp.expected_rows(rest_night.drifted, rest_night.unchanged)
    assert set(rows) == set(expected) and len(rows) == 11
    for candid, (name, packet) in expected.items():
        rec = dict(packet)
        stamps = dp.stamps_of(rec)
        diffs = dp.compare_packet(rec, rows[candid], f32)
        assert not diffs, f"{name}: {diffs[:5]}"
        for field, kind in dp.CUTOUT_FIELDS_KIND.items():
            uri = rows[candid][f"cutout_{kind}_uri"]
            assert uri.startswith(rest_night.cutouts + "/"), uri
            assert cluster.get_object(uri) == stamps[field]["stampData"], name
    top = rows[rest_night.drifted["top"].candid]
    assert top["drift_top_score"] == 0.125
    prv = rows[rest_night.drifted["prv"].candid]["prv_candidates"]
    assert [p["drift_prv_index"] for p in prv] == list(range(len(prv)))


def test_rest_history_and_rerun(cluster, rest_night):
    hist = history(cluster, rest_night.warehouse)
    assert [h["schema_id"] for h in hist] == list(range(7))
    assert hist[-1]["current"] and hist[0]["changes"] == []
    got = sorted(sorted(h["changes"]) for h in hist[1:])
    assert got == sorted(sorted(c) for c in dp.HISTORY.values()), hist
    table = cluster.catalog(rest_night.warehouse).load_table("bronze.alerts")
    snapshots = [s.snapshot_id for s in table.snapshots()]
    assert snapshots == [rest_night.run.summary["snapshot_id"]]

    again = run_ingest(
        cluster, rest_night.warehouse, rest_night.cutouts, rest_night.tarball, tmp=rest_night.tmp
    )
    assert again.code == 2, again.stderr[-3000:]
    s = again.summary
    assert (s["ingested"], s["already_present"], s["quarantined_before"]) == (0, 11, 1), s
    assert s["columns_added"] == []
    assert history(cluster, rest_night.warehouse) == hist
    table = cluster.catalog(rest_night.warehouse).load_table("bronze.alerts")
    assert table.metadata.current_schema_id == 6
    assert [s.snapshot_id for s in table.snapshots()] == snapshots


@pytest.mark.parametrize("kind", ["add", "promote"])
def test_two_concurrent_writers_change_the_schema_once(cluster, v401, tmp_path, kind):
    """Two `ateda ingest` processes released at the same moment on an empty catalog, with
    different packets carrying the same drift (a new field; a promotion): both create the
    tables and make the same schema change; in most runs one of them loses the schema
    race and logs "schema change lost a race; reloading". One change, both runs exit 0,
    every row there."""
    warehouse = cluster.new_warehouse(f"race-{kind}")
    cutouts = cluster.new_cutouts(f"race-{kind}")
    shared = dp.shared_drift(kind, v401, tmp_path)
    commands, summaries = [], []
    for i, src in enumerate(shared.dirs):
        summaries.append(tmp_path / f"summary{i}.json")
        cmd, env = ingest_cmd(cluster, warehouse, cutouts, [src], summary=summaries[-1])
        commands.append((cmd, dict(env, RUST_LOG="info")))
    results = dp.run_together(commands)
    for code, _, err in results:
        assert code == 0, err[-3000:]
    runs = [json.loads(s.read_text()) for s in summaries]
    assert [(r["ingested"], r["quarantined"]) for r in runs] == [(4, 0), (4, 0)]
    added = runs[0]["columns_added"] + runs[1]["columns_added"]
    assert sorted(added) == shared.columns_added, runs
    assert sum("evolved table schema" in err for _, _, err in results) == 1

    table = cluster.catalog(warehouse).load_table("bronze.alerts")
    names = [f.name for f in table.schema().fields]
    assert names.count("drift_shared") == (kind == "add")
    assert names.count("drift_shared_label") == (kind == "add")
    column = "drift_shared" if kind == "add" else "candidate.fid"
    expected_type = DoubleType() if kind == "add" else LongType()
    assert table.schema().find_field(column).field_type == expected_type
    assert [h["changes"] for h in history(cluster, warehouse)] == [[], shared.history]
    rows = table.scan().to_arrow().to_pylist()
    assert len(rows) == 8 and shared.got(rows) == shared.values
