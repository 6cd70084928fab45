"""ZTF and Rubin packets mixed in one nightly tarball go to their own tables; a re-run
adds nothing. Corrupt wire-format packets and an unknown schema id are quarantined with
their reason while the good packets of the run go in."""

from __future__ import annotations

import struct
from pathlib import Path

from drift_packets import make_tarball
from rubin_packets import GOOD_MJD, REAL_WIRE, assert_rows_match, sample

from ateda_testlib import run_ingest
from bronze.readers import catalog, table_rows


def rubin_night() -> list:
    """Five Rubin packets with distinct keys, both forms, versions 7.4 to 10.0."""
    return [
        sample(REAL_WIRE),
        sample("fake_v9_0").edited("v9-container", key=5001),
        sample("fake_v8_0").edited("v8-wire", key=5002).as_form("wire"),
        sample("fake_v10_0").edited("v10-wire", key=5003).as_form("wire"),
        sample("fake_v7_4").edited("v7_4-container", key=5004, mjd=GOOD_MJD),
    ]


def snapshot(lakehouse: Path, table: str) -> int | None:
    return catalog(lakehouse).load_table(f"bronze.{table}").metadata.current_snapshot_id


def test_mixed_ztf_and_rubin_tarball(tmp_path, lakehouse, packets):
    rubin = rubin_night()
    ztf = [(f"ztf/{p.name}", p.read_bytes()) for p in packets]
    members = []
    for i, (name, data) in enumerate(ztf):
        members.append((name, data))
        if i % 6 == 0 and rubin[i // 6 :]:
            p = rubin[i // 6]
            members.append((f"lsst/{p.file_name}", p.data))
    assert len(members) == len(ztf) + len(rubin)
    tb = make_tarball(tmp_path / "mixed_20251012.tar.gz", members)
    run = run_ingest(lakehouse, tb)
    assert run.code == 0, run.stdout + run.stderr[-3000:]
    assert run.summary["ingested"] == len(members), run.summary
    assert len(table_rows(lakehouse, "alerts")) == len(ztf) == 32
    assert_rows_match(lakehouse, rubin, run_id=run.summary["run_id"])
    # one ledger row per member, of both surveys (their sinks share the ledger table: a
    # data file name collision once lost one survey's rows and listed the other's twice)
    ledger = table_rows(lakehouse, "ingest_ledger")
    assert sorted(r["source"].split("!")[-1] for r in ledger) == sorted(n for n, _ in members)
    before = {t: snapshot(lakehouse, t) for t in ("alerts", "lsst_alerts")}

    again = run_ingest(lakehouse, tb)
    assert again.code == 0, again.stdout + again.stderr[-3000:]
    s = again.summary
    assert (s["ingested"], s["already_present"], s["quarantined"]) == (0, len(members), 0), s
    assert {t: snapshot(lakehouse, t) for t in before} == before
    assert len(table_rows(lakehouse, "alerts")) == 32
    assert len(table_rows(lakehouse, "lsst_alerts")) == len(rubin)


def test_corrupt_wire_packets_and_an_unknown_id_are_quarantined(tmp_path, lakehouse):
    real = sample(REAL_WIRE)
    good = [real, sample("fake_v9_0").edited("good-v9", key=6001)]
    other = sample("fake_v10_0").edited("other", key=6002).as_form("wire")
    bad = {
        "truncated.avro": real.data[: len(real.data) // 2],
        "header-only.avro": real.data[:5],
        "trailing-garbage.avro": other.data + b"\x00garbage after the datum",
        "unknown-id-1234.avro": b"\x00" + struct.pack(">I", 1234) + other.datum,
    }
    src = tmp_path / "night"
    for p in good:
        p.write(src)
    for name, data in bad.items():
        (src / name).write_bytes(data)
    run = run_ingest(lakehouse, src)
    assert run.code == 2, run.stdout + run.stderr[-3000:]
    assert "panicked" not in run.stderr
    s = run.summary
    assert (s["ingested"], s["quarantined"]) == (len(good), len(bad)), s
    assert_rows_match(lakehouse, good, run_id=s["run_id"])
    quarantined = {Path(q["source"]).name: q for q in table_rows(lakehouse, "quarantine")}
    assert set(quarantined) == set(bad), sorted(quarantined)
    for name, q in quarantined.items():
        assert q["reason"], name
        kept = Path(q["quarantine_uri"].removeprefix("file://")).read_bytes()
        assert kept == bad[name], f"{name}: quarantined bytes differ"
    for name in ("truncated.avro", "header-only.avro"):
        reason = quarantined[name]["reason"]
        assert "schema id 900" in reason and "truncated" in reason, reason
    reason = quarantined["trailing-garbage.avro"]["reason"]
    assert "unread bytes after the wire-format datum" in reason, reason
    reason = quarantined["unknown-id-1234.avro"]["reason"]
    assert "schema id 1234" in reason, reason
    assert "7.0-11.0" in reason, reason
