"""The benchmark command (README "`ateda gen` and the benchmark") runs end to end at a
small size, prints every contender and ratio, and its contenders do the same work: the
Python baseline writes exactly the stamp bytes that `ateda ingest` writes.

Not a timed test: it checks what the benchmark measures, never how fast anything was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ateda_testlib import REPO, ateda_bin

N = 120
ROWS = [
    "ateda ingest (directory)",
    "cp -r of the stamp tree alone",
    "dd of the stamp bytes into one file",
    "ateda ingest (tar.gz stream)",
    "ateda ingest (tar.gz, drifted schemas)",
    "gzip -dc (tar.gz alone)",
    "python fastavro+pyarrow baseline",
]


def stamps(root: Path) -> dict[tuple[str, str], bytes]:
    """(candid, kind) -> bytes of every `<candid>/<kind>[-<content hash>].fits.gz` under root
    (ateda's keys carry the alert's content hash, the baseline's do not)."""
    return {
        (p.parent.name, p.name.removesuffix(".fits.gz").split("-")[0]): p.read_bytes()
        for p in root.rglob("*.fits.gz")
    }


def test_benchmark_runs_and_contenders_write_the_same_stamps(tmp_path: Path) -> None:
    work = tmp_path / "bench"
    env = {**os.environ, "ATEDA_BIN": str(ateda_bin())}
    cmd = [sys.executable, str(REPO / "scripts" / "bench" / "run.py")]
    cmd += ["--n", str(N), "--large", "0", "--work", str(work), "--keep"]
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr

    results = json.loads((work / "results.json").read_text())
    assert [r["run"] for r in results["rows"]] == ROWS
    for r in results["rows"]:
        assert r["alerts"] == N and r["wall_s"] > 0 and r["peak_rss_mib"] > 0, r
    assert set(results["ratios"]) == {
        "directory_vs_python_baseline",
        "directory_vs_stamp_copy",
        "tarball_vs_gzip_dc",
        "stamp_copy_vs_python_baseline",
        "write_floor_vs_python_baseline",
        "drifted_vs_tarball",
    }
    # the drifted night evolved its table: the field gen adds, at the top and in candidate
    assert results["drifted_columns_added"] == [
        "add candidate.drift_score: double",
        "add drift_score: double",
    ]
    for line in [
        "directory ingest / python baseline:",
        "python baseline / dd of stamp bytes:",
        "drifted / plain tarball ingest:",
    ]:
        assert line in proc.stdout

    (run,) = work.glob("run-*")
    ours = stamps(run / "lh-dir" / "cutouts")
    assert len(ours) == 3 * N
    assert stamps(run / "baseline" / "stamps") == ours
    assert stamps(run / "cutouts-copy") == ours
    assert stamps(run / "lh-tar" / "cutouts") == ours
