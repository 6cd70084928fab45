"""Exactly once by key with concurrent writers: four `ateda ingest` processes started
together, each with half of its alerts shared with another writer (50% overlap), end
with exactly the union, each candid once, on the embedded SQLite catalog and on the
Iceberg REST catalog (SeaweedFS) with S3 cutouts; and a same-candid packet with other
content, sent by two writers at once, ends as one row and one quarantine record."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import fastavro
import pytest
from cluster.helpers import Cluster, cluster_from_env, ingest_cmd, run_ingest

from ateda_testlib import ateda_bin, gen_alerts
from bronze.readers import table_rows

WRITERS = 4
ALERTS = 240  # distinct alerts; each writer gets 120 of them, 60 shared with the next


@pytest.fixture(scope="module")
def alerts(tmp_path_factory) -> list[Path]:
    return gen_alerts(tmp_path_factory.mktemp("gen") / "night", ALERTS, "20231014")


def writer_sources(alerts: list[Path], root: Path) -> list[Path]:
    """Writer w reads alerts [w*60, w*60+120) (mod 240): half its alerts are shared."""
    share = ALERTS // WRITERS
    dirs = []
    for w in range(WRITERS):
        d = root / f"writer-{w}"
        d.mkdir()
        for i in range(w * share, w * share + 2 * share):
            f = alerts[i % ALERTS]
            shutil.copy(f, d / f.name)
        dirs.append(d)
    return dirs


def start_all(cmds: list[tuple[list[str], dict | None]]) -> list[tuple[int, str, dict]]:
    """Starts every command at once; returns (exit code, stderr, summary) of each."""
    procs = []
    for cmd, env in cmds:
        summary = Path(cmd[cmd.index("--summary-json") + 1])
        p = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        procs.append((p, summary))
    out = []
    for p, summary in procs:
        _, err = p.communicate(timeout=600)
        data = json.loads(summary.read_text()) if summary.exists() else {}
        out.append((p.returncode, err, data))
    return out


def candids(alerts: list[Path]) -> list[int]:
    return sorted(int(f.stem) for f in alerts)


def check_union(results, rows: list[dict], alerts: list[Path]) -> None:
    for code, err, _ in results:
        assert code == 0, err[-3000:]
    keys = sorted(r["candid"] for r in rows)
    assert keys == candids(alerts), "exactly the union, each candid once"
    assert sum(s["ingested"] for _, _, s in results) == ALERTS
    assert (
        sum(s["already_present"] for _, _, s in results)
        == WRITERS * 2 * (ALERTS // WRITERS) - ALERTS
    )
    assert all(s["duplicate_conflicts"] == 0 for _, _, s in results)


def test_four_writers_on_sqlite_end_with_the_union(alerts, tmp_path):
    lakehouse = tmp_path / "lh"
    dirs = writer_sources(alerts, tmp_path)
    # bootstrap first, so the writers race on their commits (creation races are tested
    # elsewhere)
    empty = tmp_path / "empty"
    empty.mkdir()
    subprocess.run(
        [str(ateda_bin()), "ingest", "--no-progress", "--lakehouse", str(lakehouse), str(empty)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    cmds = [
        (
            [
                str(ateda_bin()),
                "ingest",
                "--no-progress",
                "--lakehouse",
                str(lakehouse),
                "--commit-every",
                "40",  # several commits per writer: more interleavings
                "--summary-json",
                str(tmp_path / f"summary-{w}.json"),
                str(d),
            ],
            None,
        )
        for w, d in enumerate(dirs)
    ]
    results = start_all(cmds)
    check_union(results, table_rows(lakehouse, "alerts"), alerts)
    # every row's stamps exist and hold the row's own content
    for r in table_rows(lakehouse, "alerts")[:20]:
        uri = r["cutout_science_uri"]
        assert r["ingest_alert_sha256"][:32] in uri
        assert Path(uri.removeprefix("file://")).stat().st_size > 0


def test_one_key_two_contents_two_writers_one_row(alerts, tmp_path):
    """The same candid with other content sent by two writers at once: one row, whose
    stamps are its own; the other packet in quarantine with both hashes."""
    lakehouse = tmp_path / "lh"
    src = alerts[0]
    with src.open("rb") as f:
        reader = fastavro.reader(f)
        schema = reader.writer_schema
        records = list(reader)
    other = dict(records[0])
    other["candidate"] = dict(other["candidate"], magpsf=other["candidate"]["magpsf"] + 1.0)
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d, rec in zip(dirs, [records[0], other], strict=True):
        d.mkdir()
        with (d / src.name).open("wb") as f:
            fastavro.writer(f, schema, [rec])
    empty = tmp_path / "empty"
    empty.mkdir()
    base = [str(ateda_bin()), "ingest", "--no-progress", "--lakehouse", str(lakehouse)]
    subprocess.run([*base, str(empty)], check=True, capture_output=True, timeout=120)
    results = start_all(
        [
            ([*base, "--summary-json", str(tmp_path / f"s{i}.json"), str(d)], None)
            for i, d in enumerate(dirs)
        ]
    )
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], [err[-2000:] for _, err, _ in results]
    rows = table_rows(lakehouse, "alerts")
    assert len(rows) == 1
    sha = rows[0]["ingest_alert_sha256"]
    q = table_rows(lakehouse, "quarantine")
    assert len(q) == 1, q
    assert q[0]["reason"].startswith("duplicate candid with different content"), q[0]["reason"]
    assert f"stored sha256 {sha}" in q[0]["reason"]
    assert sha[:32] in rows[0]["cutout_science_uri"]


@pytest.fixture(scope="module")
def rest():
    c: Cluster = cluster_from_env()
    yield c
    c.cleanup()


def test_four_writers_on_rest_end_with_the_union(alerts, tmp_path, rest):
    cluster = rest
    warehouse = cluster.new_warehouse("writers")
    cutouts = cluster.new_cutouts("writers")
    empty = tmp_path / "empty"
    empty.mkdir()
    boot = run_ingest(cluster, warehouse, cutouts, empty, tmp=tmp_path)
    assert boot.code == 0, boot.stderr[-3000:]
    dirs = writer_sources(alerts, tmp_path)
    cmds = []
    for w, d in enumerate(dirs):
        summary = tmp_path / f"rest-summary-{w}-{uuid.uuid4().hex[:6]}.json"
        cmd, env = ingest_cmd(cluster, warehouse, cutouts, [d], ("--commit-every", "40"), summary)
        cmds.append((cmd, env))
    results = start_all(cmds)
    table = cluster.catalog(warehouse).load_table("bronze.alerts")
    rows = table.scan(selected_fields=("candid",)).to_arrow().to_pylist()
    check_union(results, rows, alerts)
