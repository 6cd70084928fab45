"""Re-runs, overlapping sources, multi-alert containers, corrupt members, kill -9."""

from __future__ import annotations

import io
import random
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import fastavro

from ateda_testlib import ateda_bin, run_ingest
from bronze.readers import table_rows


def candids(lakehouse: Path) -> list[int]:
    return [r["candid"] for r in table_rows(lakehouse, "alerts")]


def test_rerun_and_overlap_add_nothing(tmp_path, packets):
    lh = tmp_path / "lh"
    first = run_ingest(lh, *packets[:20])
    assert first.code == 0 and first.summary["ingested"] == 20
    again = run_ingest(lh, *packets[:20])
    assert again.code == 0
    assert (again.summary["ingested"], again.summary["already_present"]) == (0, 20)
    assert "20 already present" in again.stdout
    overlap = run_ingest(lh, *packets[10:])
    assert (overlap.summary["ingested"], overlap.summary["already_present"]) == (12, 10)
    ids = candids(lh)
    assert len(ids) == len(set(ids)) == 32


def write_multi(path: Path, records: list[dict], schema: dict, codec: str = "null") -> None:
    with open(path, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(schema), records, codec=codec)


def test_container_with_several_alerts(tmp_path, packets):
    from bronze.readers import read_packets

    v401 = [p for p in packets if read_packets(p)[1].get("version") == "4.01"][:4]
    recs, schema = [], None
    for p in v401:
        (r,), schema = read_packets(p)
        recs.append(r)
    write_multi(tmp_path / "three.avro", recs[:3], schema)
    write_multi(tmp_path / "deflated.avro", recs[3:], schema, codec="deflate")
    lh = tmp_path / "lh"
    run = run_ingest(lh, tmp_path / "three.avro", tmp_path / "deflated.avro")
    assert run.code == 0, run.stderr
    assert run.summary["ingested"] == 4
    assert sorted(candids(lh)) == sorted(r["candid"] for r in recs)
    ledger = {r["source"].rsplit("/", 1)[-1]: r["alerts"] for r in table_rows(lh, "ingest_ledger")}
    assert ledger == {"three.avro": 3, "deflated.avro": 1}


def make_tarball(path: Path, members: list[tuple[str, bytes]]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_corrupt_members_in_tarball_are_quarantined(tmp_path, packets):
    good = [(p.name, p.read_bytes()) for p in packets[:10]]
    truncated = packets[10].read_bytes()[:30_000]
    bad = [
        ("garbage.avro", b"this is not avro at all"),
        (packets[10].name, truncated),
        ("notes.txt", b"observing log"),
    ]
    tb = tmp_path / "ztf_public_20231012.tar.gz"
    make_tarball(tb, good[:5] + bad + good[5:])
    lh = tmp_path / "lh"
    run = run_ingest(lh, tb)
    assert run.code == 2, "exit code 2 says something was quarantined"
    assert (run.summary["ingested"], run.summary["quarantined"]) == (10, 3)
    assert "3 quarantined" in run.stdout
    q = {r["source"].split("!")[-1]: r for r in table_rows(lh, "quarantine")}
    assert set(q) == {"garbage.avro", packets[10].name, "notes.txt"}
    assert "not an Avro" in q["garbage.avro"]["reason"]
    assert "truncated" in q[packets[10].name]["reason"]
    kept = Path(q[packets[10].name]["quarantine_uri"].removeprefix("file://")).read_bytes()
    assert kept == truncated
    assert len(candids(lh)) == 10
    # a re-run records nothing twice and still says something is wrong
    again = run_ingest(lh, tb)
    assert again.code == 2
    assert again.summary["quarantined_before"] == 3
    assert len(table_rows(lh, "quarantine")) == 3
    assert len(candids(lh)) == 10


def synthetic_night(tmp_path: Path, packets: list[Path], n: int) -> tuple[Path, set[int]]:
    """n alerts with fresh candids, written with each template's own schema, as a tarball."""
    from bronze.readers import read_packets

    templates = [read_packets(p) for p in packets if "/v4/" in str(p)]
    members, ids = [], set()
    for i in range(n):
        (rec,), schema = templates[i % len(templates)]
        rec = dict(rec)
        rec["candid"] = 3_000_000_000_000_000_000 + i
        rec["candidate"] = dict(rec["candidate"], candid=rec["candid"])
        buf = io.BytesIO()
        fastavro.writer(buf, fastavro.parse_schema(schema), [rec])
        members.append((f"{rec['candid']}.avro", buf.getvalue()))
        ids.add(rec["candid"])
    tb = tmp_path / "ztf_public_20231012.tar.gz"
    make_tarball(tb, members)
    return tb, ids


def test_kill_9_then_rerun_ends_exact(tmp_path, packets):
    tb, ids = synthetic_night(tmp_path, packets, 1200)
    lh = tmp_path / "lh"
    rng = random.Random(7)
    kills = 0
    for _ in range(4):
        proc = subprocess.Popen(
            [
                str(ateda_bin()),
                "ingest",
                "--lakehouse",
                str(lh),
                "--commit-every",
                "150",
                "--chunk",
                "50",
                str(tb),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.05, 0.6))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    final = run_ingest(lh, tb)
    assert final.code == 0, final.stderr
    got = candids(lh)
    assert len(got) == len(set(got)), "no duplicates"
    assert set(got) == ids, "no loss"
    assert final.summary["ingested"] + final.summary["already_present"] == 1200
    assert kills >= 1 or final.summary["already_present"] == 1200


def test_concurrent_writers_on_one_catalog(tmp_path, packets):
    """Two processes bootstrap and commit to the same SQLite catalog at once."""
    lh = tmp_path / "lh"
    halves = [packets[::2], packets[1::2]]
    procs = [
        subprocess.Popen(
            [
                str(ateda_bin()),
                "ingest",
                "--lakehouse",
                str(lh),
                "--commit-every",
                "2",
                "--chunk",
                "1",
            ]
            + [str(p) for p in half],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for half in halves
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    got = candids(lh)
    assert len(got) == len(set(got)) == 32
