"""Hostile input, sources (issue 14): bad directory entries, non-regular tar members,
tarballs with no alert, a `.tar.gz` that is not gzip, and member names made to forge log
lines or to be stored ambiguously. Each case: exit code, message, quarantine row, and the
good packets beside it ingested."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import time
from pathlib import Path

from ateda_testlib import run_ingest
from bronze.readers import read_packets, table_rows

MiB = 1 << 20


def candid(path: Path) -> int:
    (rec,), _ = read_packets(path)
    return rec["candid"]


def candids(lh: Path) -> set[int]:
    return {r["candid"] for r in table_rows(lh, "alerts")}


def warnings(stderr: str, text: str) -> list[str]:
    return [line for line in stderr.splitlines() if "WARN" in line and text in line]


def add(
    tar: tarfile.TarFile,
    name: str,
    data: bytes = b"",
    kind: bytes = tarfile.REGTYPE,
    link: str = "",
) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.linkname = link
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def test_bad_directory_entries_are_warned_and_skipped(tmp_path, packets):
    src = tmp_path / "night"
    (src / "sub").mkdir(parents=True)
    for p in packets[:3]:
        (src / p.name).write_bytes(p.read_bytes())
    (src / "gone.avro").symlink_to(src / "missing.avro")  # dangling
    (src / "sub" / "loop").symlink_to(src)  # a loop back to the root
    os.mkfifo(src / "pipe.avro")  # would block a reader forever
    lh = tmp_path / "lh"
    run = run_ingest(lh, src)
    assert run.code == 0, run.stderr[-3000:]
    assert run.summary["ingested"] == 3
    assert run.summary["skipped_entries"] == 3
    assert candids(lh) == {candid(p) for p in packets[:3]}
    skipped = warnings(run.stderr, "skipped directory entry")
    assert len(skipped) == 3, run.stderr
    assert any("gone.avro" in w and "dangling symlink" in w for w in skipped), skipped
    assert any("sub/loop" in w and "symlink loop" in w for w in skipped), skipped
    assert any("pipe.avro" in w and "not a regular file" in w for w in skipped), skipped
    assert "walk error" not in run.stderr


def test_non_regular_tar_members_are_counted_and_warned(tmp_path, packets):
    tb = tmp_path / "ztf_public_20231012.tar.gz"
    with tarfile.open(tb, "w:gz") as tar:
        add(tar, packets[0].name, packets[0].read_bytes())
        add(tar, "link.avro", kind=tarfile.SYMTYPE, link=packets[0].name)
        add(tar, "hard.avro", kind=tarfile.LNKTYPE, link=packets[0].name)
        add(tar, "fifo.avro", kind=tarfile.FIFOTYPE)
        add(tar, "tty.avro", kind=tarfile.CHRTYPE)
        add(tar, "somedir", kind=tarfile.DIRTYPE)  # ignored without a word
        add(tar, packets[1].name, packets[1].read_bytes())
    lh = tmp_path / "lh"
    run = run_ingest(lh, tb)
    assert run.code == 0, run.stderr[-3000:]
    assert run.summary["ingested"] == 2
    assert run.summary["skipped_members"] == 4
    assert candids(lh) == {candid(p) for p in packets[:2]}
    skipped = warnings(run.stderr, "not a regular file")
    assert len(skipped) == 4, run.stderr
    for name in ("link.avro", "hard.avro", "fifo.avro", "tty.avro"):
        assert any(f"!{name}" in w for w in skipped), (name, skipped)
    assert not any("somedir" in w for w in skipped)


def test_tarballs_without_alerts_say_so(tmp_path, packets):
    empty = tmp_path / "ztf_public_20231010.tar.gz"
    empty.write_bytes(b"")
    empty_gzip = tmp_path / "ztf_public_20231011.tar.gz"
    empty_gzip.write_bytes(gzip.compress(b""))
    zeros = tmp_path / "ztf_public_20231012.tar.gz"  # 10 GiB of zeros, gzipped (~10 MB)
    chunk = gzip.compress(bytes(64 * MiB), compresslevel=9)
    with open(zeros, "wb") as fh:
        for _ in range(160):
            fh.write(chunk)
    good = tmp_path / packets[0].name
    good.write_bytes(packets[0].read_bytes())
    lh = tmp_path / "lh"
    started = time.monotonic()
    run = run_ingest(lh, empty, empty_gzip, zeros, good)
    assert time.monotonic() - started < 120
    assert run.code == 0, run.stderr[-3000:]
    assert run.summary["ingested"] == 1
    assert run.summary["empty_sources"] == 3
    assert run.summary["quarantined"] == 0
    for path in (empty, empty_gzip, zeros):
        assert warnings(run.stderr, f"no alerts in {path}"), (path, run.stderr)
    assert candids(lh) == {candid(packets[0])}


def test_non_gzip_tarball_keeps_its_bytes(tmp_path, packets):
    fake = tmp_path / "ztf_public_20231013.tar.gz"
    data = b"not gzip at all\n" * 400
    fake.write_bytes(data)
    good = tmp_path / packets[0].name
    good.write_bytes(packets[0].read_bytes())
    lh = tmp_path / "lh"
    run = run_ingest(lh, fake, good)
    assert run.code == 2, run.stderr[-3000:]
    assert (run.summary["ingested"], run.summary["quarantined"]) == (1, 1)
    (row,) = table_rows(lh, "quarantine")
    assert row["source"] == str(fake)
    assert "not gzip" in row["reason"], row["reason"]
    assert row["size_bytes"] == len(data)
    assert Path(row["quarantine_uri"].removeprefix("file://")).read_bytes() == data


def test_member_names_are_escaped_never_raw(tmp_path, packets):
    forged = "evil\n2026-01-01T00:00:00Z ERROR forged line \x1b[31mred\x1b[0m.avro"
    latin1 = b"caf\xe9.avro".decode("utf-8", "surrogateescape")  # not UTF-8
    tb = tmp_path / "ztf_public_20231014.tar.gz"
    with tarfile.open(tb, "w:gz", format=tarfile.GNU_FORMAT, errors="surrogateescape") as tar:
        add(tar, forged, packets[0].read_bytes())
        add(tar, latin1, packets[1].read_bytes())
        add(tar, "bad\r\nname\x07.avro", b"garbage, not avro")
    lh = tmp_path / "lh"
    run = run_ingest(lh, tb)
    assert run.code == 2, run.stderr[-3000:]
    assert (run.summary["ingested"], run.summary["quarantined"]) == (2, 1)
    # nothing raw reaches the log: no escape sequence, no line that starts forged
    assert "\x1b" not in run.stderr and "\x07" not in run.stderr and "\r" not in run.stderr
    assert not any(
        line.startswith("2026-01-01T00:00:00Z ERROR") for line in run.stderr.splitlines()
    )
    want_forged = f"{tb}!evil\\n2026-01-01T00:00:00Z ERROR forged line \\x1b[31mred\\x1b[0m.avro"
    want_latin1 = f"{tb}!caf\\xe9.avro"
    ledger = {r["source"] for r in table_rows(lh, "ingest_ledger")}
    assert ledger == {want_forged, want_latin1}, ledger
    stored = {r["candid"]: r["ingest_source"] for r in table_rows(lh, "alerts")}
    assert stored == {candid(packets[0]): want_forged, candid(packets[1]): want_latin1}
    (row,) = table_rows(lh, "quarantine")
    assert row["source"] == f"{tb}!bad\\r\\nname\\x07.avro"
    assert "\ufffd" not in "".join(ledger) + row["source"]
