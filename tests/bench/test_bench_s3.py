"""The S3 cutout benchmark (README, "S3 cutouts"; scripts/bench/s3.py) runs end to end at a
small size: every contender uploads the night's stamps through the counting proxy (3 PUTs
per alert in the per-stamp layout, nothing else; one PUT for the packed layout's single
pack, or a multipart upload when the pack is larger than the part size), the same bytes,
and the stamps read back (`ateda cutout`, ranged GETs of the packs) equal the packets'.

Not a timed test: it checks what the benchmark measures, never how fast anything was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ateda_testlib import REPO, ateda_bin

N = 60
PER_STAMP = "ateda ingest (per-stamp) -> S3"
PACKED = "ateda ingest (packed) -> S3"


def bench(work: Path, n: int, *extra: str) -> tuple[str, dict]:
    env = {**os.environ, "ATEDA_BIN": str(ateda_bin())}
    cmd = [sys.executable, str(REPO / "scripts" / "bench" / "s3.py")]
    cmd += ["--n", str(n), "--threads", "8", "--work", str(work), *extra]
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "`ateda cutout` read-back from S3: exact bytes (per-stamp and packed)" in proc.stdout
    assert "stamps read by ranged GET: exact bytes" in proc.stdout
    # the private SeaweedFS is stopped and removed
    assert not (work / "services").exists()
    return proc.stdout, json.loads((work / "results.json").read_text())


def test_s3_benchmark_counts_every_put(tmp_path: Path) -> None:
    out, results = bench(tmp_path / "bench-s3", N)
    rows = results["rows"]
    boto = rows["python boto3 x8 threads -> S3"]
    assert list(rows) == [PER_STAMP, PACKED, "python boto3 x8 threads -> S3"]
    assert rows[PER_STAMP]["requests"] == {"PUT": 3 * N}, rows[PER_STAMP]["requests"]
    assert boto["requests"] == {"PUT": 3 * N}, boto["requests"]
    # the packed layout: the whole night in one pack, one PUT of the same bytes
    assert rows[PACKED]["requests"] == {"PUT": 1}, rows[PACKED]["requests"]
    assert rows[PER_STAMP]["put_bytes"] == rows[PACKED]["put_bytes"] == boto["put_bytes"] > 0
    packed = results["packed"]
    assert packed["packs"] == packed["packs_written_summary"] == 1, packed
    assert packed["rows"] == N and packed["ranges_read"] == 3 * 30, packed  # 30 sampled rows
    assert packed["stamp_bytes"] == boto["put_bytes"] == results["stamps"]["bytes"]
    for r in rows.values():
        assert r["alerts_per_s"] > 0 and r["peak_rss_mib"] > 0 and r["load_avg_1m"] >= 0
    # every goal has its verdict, and the one this size can decide is printed as met
    goals = results["goals"]
    assert set(goals) == {
        "packed_put_per_1k_alerts",
        "packed_vs_boto3",
        f"peak_rss: {PER_STAMP}",
        f"peak_rss: {PACKED}",
    }
    assert goals["packed_put_per_1k_alerts"]["value"] == round(1000 / N, 2)
    assert all(isinstance(g["met"], bool) for g in goals.values())
    assert "goals:" in out and "load average at start" in out
    assert set(results["ratios"]) == {
        "per_stamp_vs_boto3",
        "packed_vs_boto3",
        "packed_vs_per_stamp",
    }


def test_s3_benchmark_counts_a_multipart_pack(tmp_path: Path) -> None:
    """A pack larger than --pack-part-size (5 MiB, S3's least) goes up as a multipart
    upload: POST (create), a PUT per part, POST (complete), all counted."""
    n = 200  # about 8 MB of stamps: one pack of two parts
    _, results = bench(tmp_path / "bench-s3", n, "--pack-part-size", str(5 * 2**20))
    rows = results["rows"]
    assert rows[PACKED]["requests"] == {"POST": 2, "PUT": 2}, rows[PACKED]["requests"]
    assert rows[PACKED]["put_bytes"] == rows[PER_STAMP]["put_bytes"] > 5 * 2**20
    assert results["packed"]["packs"] == 1 and results["packed"]["ranges_read"] == 90
