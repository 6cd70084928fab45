"""The benchmark command (README "`ateda gen` and the benchmark") runs end to end at a
small size, on a ZTF night and a Rubin night, prints every contender, ratio and the
10-million-alert Rubin projection, and its contenders do the same work: the Python baseline
writes exactly the stamp bytes that `ateda ingest` writes.

The packed layout's rows (issue 17) point into pack files whose ranges hold the same stamp
bytes, and every ratio goal is printed with met / not met.

Not a timed test: it checks what the benchmark measures, never how fast anything was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from ateda_testlib import REPO, ateda_bin

N = 120
ROWS = [
    "ateda ingest (directory)",
    "ateda ingest (directory, packed)",
    "cp -r of the stamp tree alone",
    "dd of the stamp bytes into one file",
    "ateda ingest (tar.gz stream)",
    "ateda ingest (tar.gz stream, packed)",
    "ateda ingest (tar.gz, drifted schemas)",
    "gzip -dc (tar.gz alone)",
    "python fastavro+pyarrow baseline",
]
LSST_ROWS = [
    "rubin: ateda ingest (directory)",
    "rubin: ateda ingest (directory, packed)",
    "rubin: cp -r of the stamp tree alone",
    "rubin: dd of the stamp bytes into one file",
    "rubin: ateda ingest (tar.gz stream)",
    "rubin: gzip -dc (tar.gz alone)",
    "rubin: python fastavro+pyarrow baseline",
]


def stamps(root: Path) -> dict[tuple[str, str], bytes]:
    """(key, kind) -> bytes of every `<key>/<kind>[-<content hash>].fits[.gz]` under root
    (ateda's keys carry the alert's content hash, the baseline's do not; ZTF stamps are
    gzipped FITS, Rubin ones plain FITS)."""
    return {
        (p.parent.name, p.name.removesuffix(".gz").removesuffix(".fits").split("-")[0]): (
            p.read_bytes()
        )
        for p in root.rglob("*.fits*")
    }


def packed_stamps(lakehouse: Path, table: str, key: str) -> dict[tuple[str, str], bytes]:
    """(key, kind) -> the bytes each row's (uri, offset, length) points at, for a lakehouse
    ingested in the packed layout (every row has a range into a .pack file)."""
    from pyiceberg.catalog.sql import SqlCatalog

    cat = SqlCatalog(
        "ateda",
        uri=f"sqlite:///{lakehouse / 'catalog.db'}",
        warehouse=f"file://{lakehouse / 'warehouse'}",
    )
    out = {}
    for row in cat.load_table(f"bronze.{table}").scan().to_arrow().to_pylist():
        for kind in ("science", "template", "difference"):
            uri = row[f"cutout_{kind}_uri"]
            offset, length = row[f"cutout_{kind}_offset"], row[f"cutout_{kind}_length"]
            assert uri.endswith(".pack") and offset is not None and length > 0, row
            with open(urlparse(uri).path, "rb") as f:
                f.seek(offset)
                out[(str(row[key]), kind)] = f.read(length)
    return out


def test_benchmark_runs_and_contenders_write_the_same_stamps(tmp_path: Path) -> None:
    work = tmp_path / "bench"
    env = {**os.environ, "ATEDA_BIN": str(ateda_bin())}
    cmd = [sys.executable, str(REPO / "scripts" / "bench" / "run.py")]
    cmd += ["--n", str(N), "--large", "0", "--lsst-n", str(N), "--work", str(work), "--keep"]
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr

    results = json.loads((work / "results.json").read_text())
    assert [r["run"] for r in results["rows"]] == ROWS + LSST_ROWS
    for r in results["rows"]:
        assert r["alerts"] == N and r["wall_s"] > 0 and r["peak_rss_mib"] > 0, r
    assert set(results["ratios"]) == {
        "directory_vs_python_baseline",
        "directory_vs_stamp_copy",
        "tarball_vs_gzip_dc",
        "stamp_copy_vs_python_baseline",
        "write_floor_vs_python_baseline",
        "drifted_vs_tarball",
        "rubin_directory_vs_python_baseline",
        "rubin_directory_vs_stamp_copy",
        "rubin_directory_vs_write_floor",
        "rubin_tarball_vs_gzip_dc",
        "packed_directory_vs_write_floor",
        "packed_vs_per_stamp_directory",
        "packed_tarball_vs_gzip_dc",
        "rubin_packed_directory_vs_write_floor",
    }
    assert all(v > 0 for v in results["ratios"].values()), results["ratios"]
    # the drifted night evolved its table: the field gen adds, at the top and in candidate
    assert results["drifted_columns_added"] == [
        "add candidate.drift_score: double",
        "add drift_score: double",
    ]
    for line in [
        "directory ingest / python baseline:",
        "python baseline / dd of stamp bytes:",
        "drifted / plain tarball ingest:",
        "rubin directory ingest / python baseline:",
        "rubin directory ingest / cp -r of stamps:",
        "rubin tarball ingest / gzip -dc rate:",
        "rubin night of 10,000,000 alerts on this machine:",
        "packed directory ingest / dd of stamp bytes:",
        "packed tarball ingest / gzip -dc rate:",
        "rubin packed directory ingest / dd of stamp bytes:",
        "goals:",
        "load average at start",
    ]:
        assert line in proc.stdout
    # every ratio goal and every ateda run's RSS goal, each with its verdict
    goals = results["goals"]
    for key in [
        "packed_directory_vs_write_floor",
        "directory_vs_stamp_copy",
        "tarball_vs_gzip_dc",
    ]:
        assert key in goals and isinstance(goals[key]["met"], bool), goals
        assert f"{goals[key]['what']}" in proc.stdout
    rss = [k for k in goals if k.startswith("peak_rss: ")]
    assert sorted(rss) == sorted(f"peak_rss: {r}" for r in ROWS + LSST_ROWS if "ateda" in r)
    assert all(r["load_avg_1m"] >= 0 for r in results["rows"])
    # the packed nights: one pack each at this size, stamps of the same bytes as per-stamp
    for packed in (results["ztf_packed"], results["rubin_night"]["packed"]):
        assert packed["packs_written"] == packed["pack_files"] == 1, packed
        assert packed["cutouts_written"] == 3 * N, packed
    for name in ROWS + LSST_ROWS:
        assert name in proc.stdout

    # the Rubin night has Rubin-sized packets, and its projection follows from its rates
    rubin = results["rubin_night"]
    assert rubin["alerts"] == N and rubin["format"] == "wire"
    assert 80_000 <= rubin["mean_packet_bytes"] <= 170_000, rubin
    assert 90_000 <= rubin["mean_stamp_bytes_per_alert"] <= 160_000, rubin
    by = {r["run"]: r for r in results["rows"]}
    for key, run in [
        ("directory_ingest", "rubin: ateda ingest (directory)"),
        ("packed_directory_ingest", "rubin: ateda ingest (directory, packed)"),
        ("tarball_ingest", "rubin: ateda ingest (tar.gz stream)"),
        ("cp_r_floor", "rubin: cp -r of the stamp tree alone"),
        ("gzip_dc_floor", "rubin: gzip -dc (tar.gz alone)"),
    ]:
        want = 10_000_000 / by[run]["alerts_per_s"] / 3600
        assert abs(rubin["hours_for_10m_alerts"][key] - want) <= 0.01 + want * 0.01, (key, rubin)

    (run,) = work.glob("run-*")
    ours = stamps(run / "lh-dir" / "cutouts")
    assert len(ours) == 3 * N
    assert stamps(run / "baseline" / "stamps") == ours
    assert stamps(run / "cutouts-copy") == ours
    assert stamps(run / "lh-tar" / "cutouts") == ours
    assert not list((run / "lh-packed" / "cutouts").rglob("*.fits*"))
    assert packed_stamps(run / "lh-packed", "alerts", "candid") == ours
    assert packed_stamps(run / "lh-tar-packed", "alerts", "candid") == ours
    assert results["ztf_packed"]["stamp_bytes"] == sum(map(len, ours.values()))

    rubin_stamps = stamps(run / "lh-lsst-dir" / "cutouts")
    assert len(rubin_stamps) == 3 * N
    assert all(b.startswith(b"SIMPLE  =") and len(b) % 2880 == 0 for b in rubin_stamps.values())
    assert stamps(run / "lsst-baseline" / "stamps") == rubin_stamps
    assert stamps(run / "lsst-cutouts-copy") == rubin_stamps
    assert stamps(run / "lh-lsst-tar" / "cutouts") == rubin_stamps
    assert packed_stamps(run / "lh-lsst-packed", "lsst_alerts", "diaSourceId") == rubin_stamps
