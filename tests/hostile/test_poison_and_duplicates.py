"""Hostile input, values (issue 14): a poison `jd` (2e9, 0, negative) or a `candid` <= 0
in a nightly tarball is quarantined with its reason while the other alerts go in (exit
2), and a re-run neither panics nor adds anything; the same candid with other content
(also dated a day later) in a later night never makes a second row, its member is kept
in quarantine with both hashes, and nothing is uploaded again."""

from __future__ import annotations

import io
from pathlib import Path

import fastavro
import pytest
from drift_packets import make_tarball

from ateda_testlib import gen_alerts, run_ingest
from bronze.readers import table_rows

N = 300


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> list[Path]:
    return gen_alerts(tmp_path_factory.mktemp("gen") / "night", N, "20231015")


def edited(path: Path, **candidate_or_top) -> bytes:
    """The packet re-encoded (same writer schema) with fields changed: `candid` at the top
    level, anything else inside `candidate`."""
    with path.open("rb") as f:
        reader = fastavro.reader(f)
        schema = reader.writer_schema
        (rec,) = list(reader)
    for k, v in candidate_or_top.items():
        if k == "candid":
            rec["candid"] = v
        else:
            rec["candidate"] = dict(rec["candidate"], **{k: v})
    buf = io.BytesIO()
    fastavro.writer(buf, schema, [rec])
    return buf.getvalue()


def stamp_files(lh: Path) -> dict[str, bytes]:
    root = lh / "cutouts"
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_poison_values_are_quarantined_and_the_night_goes_in(night, tmp_path):
    poison = {
        "jd-2e9.avro": edited(night[0], jd=2.0e9),
        "jd-0.avro": edited(night[1], jd=0.0),
        "jd-negative.avro": edited(night[2], jd=-1.0e6),
        "candid-0.avro": edited(night[3], candid=0),
        "candid-negative.avro": edited(night[4], candid=-42),
    }
    good = night[5:]
    members = [(p.name, p.read_bytes()) for p in good]
    members[100:100] = list(poison.items())  # in the middle of the night
    tb = make_tarball(tmp_path / "ztf_public_20231015.tar.gz", members)
    lh = tmp_path / "lh"
    run = run_ingest(lh, tb)
    assert run.code == 2, run.stderr[-3000:]
    assert "panicked" not in run.stderr
    assert run.summary["ingested"] == len(good)
    assert run.summary["quarantined"] == len(poison)
    rows = table_rows(lh, "alerts")
    assert sorted(r["candid"] for r in rows) == sorted(int(p.stem) for p in good)
    assert len(stamp_files(lh)) == 3 * len(good), "no stamp of a poison packet"
    reasons = {r["source"].split("!")[-1]: r["reason"] for r in table_rows(lh, "quarantine")}
    assert set(reasons) == set(poison)
    for name in ("jd-2e9.avro", "jd-0.avro", "jd-negative.avro"):
        assert reasons[name].startswith("unusable value: record 1: candidate.jd"), reasons[name]
        assert "outside the accepted nights" in reasons[name]
    assert "--first-night/--last-night" in reasons["jd-2e9.avro"]
    for name in ("candid-0.avro", "candid-negative.avro"):
        assert "not a positive alert key" in reasons[name], reasons[name]
    # quarantined bytes are the packets themselves
    for q in table_rows(lh, "quarantine"):
        kept = Path(q["quarantine_uri"].removeprefix("file://")).read_bytes()
        assert kept == poison[q["source"].split("!")[-1]]
    # a re-run neither panics nor adds anything
    again = run_ingest(lh, tb)
    assert again.code == 2, again.stderr[-3000:]
    assert again.summary["ingested"] == 0
    assert again.summary["already_present"] == len(good)
    assert again.summary["quarantined_before"] == len(poison)
    assert len(table_rows(lh, "alerts")) == len(good)
    # the accepted nights are a flag: a window that excludes the night quarantines it all
    narrow = run_ingest(tmp_path / "lh2", tb, extra=("--last-night", "2020-01-01"))
    assert narrow.code == 2
    assert narrow.summary["ingested"] == 0


def test_same_candid_other_content_never_makes_a_second_row(night, tmp_path):
    lh = tmp_path / "lh"
    first = run_ingest(lh, *night[:50])
    assert first.code == 0, first.stderr[-3000:]
    rows = {r["candid"]: r for r in table_rows(lh, "alerts")}
    stamps = stamp_files(lh)
    target = night[0]
    cand = int(target.stem)
    jd = rows[cand]["candidate"]["jd"]
    later = tmp_path / "later"
    later.mkdir()
    (later / "other-mag.avro").write_bytes(edited(target, magpsf=12.5))
    (later / "next-night.avro").write_bytes(edited(target, jd=jd + 1.0))
    (later / "same.avro").write_bytes(edited(target))  # new container, same datum
    for p in night[50:60]:
        (later / p.name).write_bytes(p.read_bytes())
    run = run_ingest(lh, later)
    assert run.code == 2, run.stderr[-3000:]
    s = run.summary
    assert (s["ingested"], s["already_present"], s["duplicate_conflicts"]) == (10, 1, 2), s
    assert s["cutouts_written"] == 30 and s["cutouts_present"] == 0, "nothing re-uploaded"
    after = {r["candid"]: r for r in table_rows(lh, "alerts")}
    assert len(after) == 60 and len(table_rows(lh, "alerts")) == 60
    kept = after[cand]
    assert kept["ingest_alert_sha256"] == rows[cand]["ingest_alert_sha256"], "first stays"
    assert kept["night"] == rows[cand]["night"]
    now = stamp_files(lh)
    assert {k: v for k, v in now.items() if k in stamps} == stamps, "stamps never rewritten"
    q = table_rows(lh, "quarantine")
    assert sorted(r["source"].rsplit("/", 1)[-1] for r in q) == [
        "next-night.avro",
        "other-mag.avro",
    ]
    for r in q:
        assert r["reason"].startswith("duplicate candid with different content"), r["reason"]
        assert f"stored sha256 {rows[cand]['ingest_alert_sha256']}" in r["reason"]
        assert "this packet sha256" in r["reason"]
