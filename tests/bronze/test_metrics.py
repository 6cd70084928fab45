"""`ateda ingest --metrics-addr` serves Prometheus metrics that match the run."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request

from ateda_testlib import ateda_bin


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(url: str, deadline: float) -> dict[str, float]:
    while time.monotonic() < deadline:
        try:
            text = urllib.request.urlopen(url, timeout=1).read().decode()
        except OSError:
            time.sleep(0.1)
            continue
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        # finished: every alert ingested and their one commit made (the ingested count
        # grows as rows are written, before the commit that ends the run)
        if values.get("ateda_alerts_ingested_total") == 32 and values.get("ateda_commits_total"):
            return values
        time.sleep(0.1)
    raise AssertionError("metrics never showed the finished run")


def test_metrics_endpoint(tmp_path, packets):
    port = free_port()
    proc = subprocess.Popen(
        [
            str(ateda_bin()),
            "ingest",
            "--lakehouse",
            str(tmp_path / "lh"),
            "--metrics-addr",
            f"127.0.0.1:{port}",
            "--metrics-hold",
            "10",
            str(packets[0].parent.parent),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        m = scrape(f"http://127.0.0.1:{port}/metrics", time.monotonic() + 20)
    finally:
        proc.kill()
        proc.wait()
    assert m["ateda_cutouts_written_total"] == 96
    assert m["ateda_alerts_quarantined_total"] == 0
    assert m["ateda_bytes_read_total"] == sum(p.stat().st_size for p in packets)
    assert m["ateda_commits_total"] == 1
    assert m['ateda_commit_duration_seconds_bucket{le="+Inf"}'] == 1
