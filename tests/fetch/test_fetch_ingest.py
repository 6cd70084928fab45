"""`ateda fetch --ingest` against the real nginx on loopback: the night ingested while it
downloads equals `ateda fetch` then `ateda ingest` of the same tarball (same rows, same
stamp bytes), also when the download is cut mid-body and resumed (in the same run, and
by the next run from the `.part`); the ledger records the night with its MD5 verified;
a wrong MD5 exits non-zero with the ledger marked; an empty night is 0 alerts, exit 0;
a re-run skips nights already recorded."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pyarrow as pa
from fetch_archive import Archive, cut_mid_body, fetch_env, md5_of, run_fetch, tarball_name
from pyiceberg.catalog.sql import SqlCatalog

from ateda_testlib import ateda_bin

NIGHT = "20231012"
# Columns that name the run, not the alert.
RUN_COLUMNS = ("ingest_run_id", "ingested_at")


def catalog(lakehouse: Path) -> SqlCatalog:
    return SqlCatalog(
        "ateda",
        uri=f"sqlite:///{lakehouse}/catalog.db",
        warehouse=f"file://{lakehouse}/warehouse",
    )


def alert_rows(lakehouse: Path) -> list[dict]:
    """bronze.alerts by candid, without the run's own columns, stamp URIs relative to the
    lakehouse."""
    table = catalog(lakehouse).load_table("bronze.alerts").scan().to_arrow()
    table = table.drop_columns([c for c in RUN_COLUMNS if c in table.column_names])
    rows = sorted(table.to_pylist(), key=lambda r: r["candid"])
    prefix = f"file://{lakehouse}/"
    for r in rows:
        for k, v in r.items():
            if isinstance(v, str) and v.startswith(prefix):
                r[k] = v[len(prefix) :]
    return rows


def stamps(lakehouse: Path) -> dict[str, bytes]:
    root = lakehouse / "cutouts"
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def fetched_nights(lakehouse: Path) -> dict[str, dict[str, str]]:
    """The ledger commits of `ateda fetch --ingest`, by tarball: their properties."""
    ledger = catalog(lakehouse).load_table("bronze.ingest_ledger")
    out = {}
    for snap in sorted(ledger.snapshots(), key=lambda s: s.timestamp_ms):
        props = dict(snap.summary.additional_properties)
        if "ateda.fetch.tarball" in props:
            out[props["ateda.fetch.tarball"]] = props
    return out


def ledger_row(lakehouse: Path, source: str) -> dict:
    rows = catalog(lakehouse).load_table("bronze.ingest_ledger").scan().to_arrow()
    rows = rows.filter(pa.compute.equal(rows["source"], source)).to_pylist()
    assert rows, source
    return rows[-1]


def fetch_ingest(archive: Archive, to: Path, lakehouse: Path, *nights: str, url: str = ""):
    return run_fetch(
        url or archive.url, to, *nights, "--ingest", "--lakehouse", str(lakehouse), timeout=300
    )


def plain_ingest(tarball: Path, lakehouse: Path) -> None:
    """`ateda ingest` of the fetched tarball, from its directory (so the sources are
    `ztf_public_YYYYMMDD.tar.gz!member`, as with --ingest)."""
    proc = subprocess.run(
        [str(ateda_bin()), "ingest", "--lakehouse", str(lakehouse), tarball.name],
        cwd=tarball.parent,
        env=fetch_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def assert_same_as_fetch_then_ingest(data: bytes, lakehouse: Path, tmp_path: Path) -> None:
    """The --ingest lakehouse holds what `ateda ingest` of the same tarball writes."""
    ref_dir = tmp_path / "reference"
    ref_dir.mkdir(exist_ok=True)
    tarball = ref_dir / tarball_name(NIGHT)
    tarball.write_bytes(data)
    reference = tmp_path / "reference-lh"
    plain_ingest(tarball, reference)
    got, want = alert_rows(lakehouse), alert_rows(reference)
    assert len(got) == len(want) > 0
    assert got == want
    assert stamps(lakehouse) == stamps(reference)


def assert_recorded(lakehouse: Path, data: bytes, alerts: int, verified: bool = True) -> None:
    name = tarball_name(NIGHT)
    props = fetched_nights(lakehouse)[name]
    assert props["ateda.fetch.md5"] == md5_of(data)
    assert props["ateda.fetch.md5-verified"] == str(verified).lower()
    row = ledger_row(lakehouse, name)
    assert row["alerts"] == alerts, row


def test_fetch_ingest_equals_fetch_then_ingest(archive, to, ztf_packets, tmp_path):
    data = archive.put(NIGHT, ztf_packets)
    empty = archive.put("20231013", [])
    lakehouse = tmp_path / "lh"

    run = fetch_ingest(archive, to, lakehouse, NIGHT, "20231013")
    assert run.code == 0, run.output
    assert "MD5 ok" in run.line_of(NIGHT) and "recorded in the ledger" in run.line_of(NIGHT)
    assert f"ingested {len(ztf_packets)} alerts" in run.line_of(NIGHT), run.output
    assert "ingested 0 alerts" in run.line_of("20231013"), run.output
    # the tarball was downloaded once and is in place, verified
    assert (to / tarball_name(NIGHT)).read_bytes() == data
    assert [(r.status, r.body_bytes) for r in archive.gets(NIGHT)] == [(200, len(data))]
    assert_same_as_fetch_then_ingest(data, lakehouse, tmp_path)
    assert_recorded(lakehouse, data, len(ztf_packets))
    assert fetched_nights(lakehouse)[tarball_name("20231013")]["ateda.fetch.md5"] == md5_of(empty)

    # a re-run skips both nights: no request, nothing ingested
    before = len(archive.requests(NIGHT))
    run = fetch_ingest(archive, to, lakehouse, NIGHT, "20231013")
    assert run.code == 0, run.output
    assert "already fetched, verified and ingested" in run.line_of(NIGHT), run.output
    assert len(archive.requests(NIGHT)) == before
    # --force: downloaded and ingested again, every alert already present
    run = fetch_ingest(archive, to, lakehouse, NIGHT, "--force")
    assert run.code == 0, run.output
    assert f"0 alerts ({len(ztf_packets)} already present" in run.line_of(NIGHT), run.output
    assert_same_as_fetch_then_ingest(data, lakehouse, tmp_path)


def test_fetch_ingest_cut_mid_body_resumes_in_the_same_run(archive, to, ztf_packets, tmp_path):
    data = archive.put(NIGHT, ztf_packets)
    lakehouse = tmp_path / "lh"
    extra = ("--ingest", "--lakehouse", str(lakehouse))
    proc, kept = cut_mid_body(archive, NIGHT, archive.url, to, then_kill=False, extra=extra)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    assert "resumed at" in output and "recorded in the ledger" in output, output
    (resumed,) = archive.gets(NIGHT)
    assert (resumed.status, resumed.body_bytes) == (206, len(data) - kept)
    assert_same_as_fetch_then_ingest(data, lakehouse, tmp_path)
    assert_recorded(lakehouse, data, len(ztf_packets))


def test_fetch_ingest_killed_then_resumed_by_the_next_run(archive, to, ztf_packets, tmp_path):
    """Killed mid-body: the next run reads the `.part` from disk, then only the remainder
    comes over the network, and the ingest sees the whole tarball."""
    data = archive.put(NIGHT, ztf_packets)
    lakehouse = tmp_path / "lh"
    extra = ("--ingest", "--lakehouse", str(lakehouse))
    _, kept = cut_mid_body(archive, NIGHT, archive.url, to, then_kill=True, extra=extra)
    before = len(archive.gets(NIGHT))
    run = fetch_ingest(archive, to, lakehouse, NIGHT)
    assert run.code == 0, run.output
    assert "resumed at" in run.line_of(NIGHT), run.output
    (resumed,) = archive.gets(NIGHT)[before:]
    assert (resumed.status, resumed.range, resumed.body_bytes) == (
        206,
        f"bytes={kept}-",
        len(data) - kept,
    )
    assert_same_as_fetch_then_ingest(data, lakehouse, tmp_path)
    assert_recorded(lakehouse, data, len(ztf_packets))


def test_fetch_ingest_wrong_md5_exits_non_zero_and_marks_the_ledger(
    archive, to, ztf_packets, tmp_path
):
    data = archive.put(NIGHT, ztf_packets, md5=md5_of(b"not this file"))
    lakehouse = tmp_path / "lh"
    run = fetch_ingest(archive, to, lakehouse, NIGHT)
    assert run.code == 1, run.output
    assert "MD5 mismatch" in run.output and "md5-verified=false" in run.output, run.output
    assert (to / f"{tarball_name(NIGHT)}.bad").read_bytes() == data
    # the rows are valid alerts; the night is marked unverified
    assert_recorded(lakehouse, data, len(ztf_packets), verified=False)
    assert fetched_nights(lakehouse)[tarball_name(NIGHT)]["ateda.fetch.md5-expected"] == md5_of(
        b"not this file"
    )
    # a re-run is not skipped: downloaded and ingested again (no duplicates), still refused
    run = fetch_ingest(archive, to, lakehouse, NIGHT)
    assert run.code == 1, run.output
    assert f"0 alerts ({len(ztf_packets)} already present" in run.output, run.output
    assert len(alert_rows(lakehouse)) == len(ztf_packets)
    # with MD5SUMS corrected: verified
    archive.listed[tarball_name(NIGHT)] = md5_of(data)
    archive.write_md5sums()
    run = fetch_ingest(archive, to, lakehouse, NIGHT)
    assert run.code == 0, run.output
    assert_recorded(lakehouse, data, len(ztf_packets))


def quarantine_rows(lakehouse: Path) -> int:
    return catalog(lakehouse).load_table("bronze.quarantine").scan().to_arrow().num_rows


def test_fetch_ingest_outage_stops_cleanly_and_a_rerun_completes(
    archive, to, ztf_packets, tmp_path
):
    """The download gives up mid-body (no retry budget): the ingest stops at the last
    whole member (nothing quarantined), the night is not recorded, exit 1; the next run
    resumes from the `.part` and completes the night with no duplicates."""
    data = archive.put(NIGHT, ztf_packets)
    lakehouse = tmp_path / "lh"
    extra = ("--ingest", "--lakehouse", str(lakehouse), "--retry-budget", "0")
    proc, _ = cut_mid_body(archive, NIGHT, archive.url, to, then_kill=False, extra=extra)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1, output
    assert "giving up" in output and "re-run to complete the night" in output, output
    assert quarantine_rows(lakehouse) == 0
    assert tarball_name(NIGHT) not in fetched_nights(lakehouse)
    partial = len(alert_rows(lakehouse))
    assert partial < len(ztf_packets)

    run = fetch_ingest(archive, to, lakehouse, NIGHT)
    assert run.code == 0, run.output
    assert "resumed at" in run.line_of(NIGHT), run.output
    assert f"({partial} already present" in run.line_of(NIGHT), run.output
    assert quarantine_rows(lakehouse) == 0
    assert_same_as_fetch_then_ingest(data, lakehouse, tmp_path)
    assert_recorded(lakehouse, data, len(ztf_packets))


def test_fetch_ingest_failed_ingest_keeps_the_download_and_a_rerun_ingests_it(
    archive, to, ztf_packets, tmp_path
):
    """The ingest fails mid-night (a stamp cannot be written: a file where the cutouts'
    `ztf/` directory must go): the download goes on alone and is verified, the night is
    not recorded, exit 1; the next run ingests the verified tarball from disk (no
    request)."""
    data = archive.put(NIGHT, ztf_packets)
    lakehouse = tmp_path / "lh"
    cutouts = tmp_path / "cutouts"
    cutouts.mkdir()
    (cutouts / "ztf").write_text("not a directory")
    run = run_fetch(
        archive.url,
        to,
        NIGHT,
        "--ingest",
        "--lakehouse",
        str(lakehouse),
        "--cutouts",
        f"file://{cutouts}",
        timeout=300,
    )
    assert run.code == 1, run.output
    assert "MD5 ok" in run.output and "ingest failed" in run.output, run.output
    assert (to / tarball_name(NIGHT)).read_bytes() == data
    assert tarball_name(NIGHT) not in fetched_nights(lakehouse)

    gets = len(archive.gets(NIGHT))
    run = fetch_ingest(archive, to, lakehouse, NIGHT)
    assert run.code == 0, run.output
    assert "already fetched and verified" in run.line_of(NIGHT), run.output
    assert len(archive.gets(NIGHT)) == gets
    assert_same_as_fetch_then_ingest(data, lakehouse, tmp_path)
    assert_recorded(lakehouse, data, len(ztf_packets))


def test_fetch_ingest_file_changed_mid_download_is_not_recorded(archive, to, ztf_packets, tmp_path):
    """Cut mid-body, then the archive republishes the night (same bytes, new ETag) before
    the retry: the download restarts from zero and is verified, but the ingest had read
    part of the old transfer and stops: not recorded, exit 1; the re-run ingests the
    verified tarball from disk and records it."""
    data = archive.put(NIGHT, ztf_packets)
    lakehouse = tmp_path / "lh"
    extra = ("--ingest", "--lakehouse", str(lakehouse))
    proc, _ = cut_mid_body(archive, NIGHT, archive.url, to, then_kill=False, extra=extra)
    etag = archive.etag(NIGHT)
    # republished with the same bytes: only the mtime, so the ETag, changes (within the
    # retry's first wait)
    mtime = archive.path(NIGHT).stat().st_mtime + 60
    os.utime(archive.path(NIGHT), (mtime, mtime))
    assert archive.etag(NIGHT) != etag
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1, output
    assert "restarted from zero: the file changed on the server" in output, output
    assert "the ingest stopped early" in output and "not recorded" in output, output
    assert quarantine_rows(lakehouse) == 0
    assert tarball_name(NIGHT) not in fetched_nights(lakehouse)

    run = fetch_ingest(archive, to, lakehouse, NIGHT)
    assert run.code == 0, run.output
    assert "already fetched and verified" in run.line_of(NIGHT), run.output
    assert_same_as_fetch_then_ingest(data, lakehouse, tmp_path)
    assert_recorded(lakehouse, data, len(ztf_packets))
