"""Outages of S3 + catalog mid-ingest.

- Long: the server dies after the first commits; `ateda ingest` stops with a clear error
  (exit 1, no secret), the server restarts on the same data, and the same command
  completes the night exactly: every alert once, nothing lost.
- Short: the server dies and is back within a second while stamps are uploading; the
  retries (object_store, opendal, ateda's repeat of cut-off PUTs) carry the run through."""

from __future__ import annotations

import os
import signal
import subprocess
import tarfile
import threading
import time

import fastavro
import pytest

from ateda_testlib import DATA, ateda_bin
from cluster.helpers import (
    Cluster,
    assert_no_secret,
    ingest_cmd,
    read_env_file,
    run_ingest,
    services,
)

N = 1000


@pytest.fixture(scope="module")
def private_cluster(cluster, tmp_path_factory):
    """A server of our own (same script, own data dir and ports): stopping the shared one
    would disturb the other tests."""
    svc = tmp_path_factory.mktemp("outage") / "svc"
    services("start", svc)
    yield Cluster(read_env_file(svc / "env.sh")), svc
    services("stop", svc)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> tuple[os.PathLike, set[int]]:
    """A synthetic night of N alerts (`ateda gen`) and its candids."""
    tb = tmp_path_factory.mktemp("night") / "ztf_public_20231012.tar.gz"
    subprocess.run(
        [str(ateda_bin()), "gen", "--n", str(N), "--night", "20231012", "--tar", "--out", str(tb)]
        + ["--templates", str(DATA)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    ids = set()
    with tarfile.open(tb) as tar:
        for i, member in enumerate(tar):
            if not member.name.endswith(".avro"):
                continue
            candid = int(member.name.rsplit("/", 1)[-1].removesuffix(".avro"))
            if i % 200 == 0:  # the member name is the candid: check a few by decoding
                (rec,) = list(fastavro.reader(tar.extractfile(member)))
                assert rec["candid"] == candid
            ids.add(candid)
    assert len(ids) == N
    return tb, ids


def kill_server(svc) -> None:
    os.killpg(int((svc / "weed.pid").read_text()), signal.SIGKILL)


def test_outage_mid_ingest_then_rerun_is_exact(private_cluster, night, tmp_path):
    cluster, svc = private_cluster
    tb, ids = night
    warehouse, cutouts = cluster.new_warehouse("outage"), cluster.new_cutouts("outage")
    cmd, env = ingest_cmd(
        cluster,
        warehouse,
        cutouts,
        [tb],
        extra=("--commit-every", "100", "--chunk", "50", "--catalog-retry-secs", "5"),
    )
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err_lines: list[str] = []
    committed = threading.Event()

    def pump():
        for line in proc.stderr:
            err_lines.append(line)
            if "committed bronze.alerts" in line:
                committed.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    assert committed.wait(60), "".join(err_lines)[-3000:]
    # the outage: the whole server (S3 and catalog) dies at once
    kill_server(svc)
    killed = time.monotonic()
    out = proc.stdout.read()
    code = proc.wait(timeout=180)
    reader.join(10)
    failed_after = time.monotonic() - killed
    stderr = "".join(err_lines)

    assert code == 1, f"exit {code}: {stderr[-3000:]}"
    assert_no_secret(cluster, out + stderr)
    error = [line for line in err_lines if line.startswith("ateda ingest: error:")]
    assert len(error) == 1, stderr[-3000:]
    assert cluster.endpoint.split("//")[1] in error[0] or cluster.rest_uri in error[0], error[0]
    assert "re-run the same command" in stderr
    print(
        f"ateda failed {failed_after:.1f} s after the server died ({len(error[0])} chars): {error[0]}"
    )

    # restart on the same data dir: what was committed before the outage is still there
    services("start", svc)
    before = cluster.catalog(warehouse).load_table("bronze.alerts").scan().to_arrow().num_rows
    assert 0 < before < N

    rerun = run_ingest(cluster, warehouse, cutouts, tb, tmp=tmp_path)
    assert rerun.code == 0, rerun.stderr[-3000:]
    s = rerun.summary
    assert s["already_present"] == before and s["ingested"] + s["already_present"] == N
    got = (
        cluster.catalog(warehouse)
        .load_table("bronze.alerts")
        .scan(selected_fields=("candid",))
        .to_arrow()
        .column("candid")
        .to_pylist()
    )
    assert len(got) == len(set(got)), "no duplicates"
    assert set(got) == ids, "exactly the source's alerts"


def test_short_outage_is_ridden_out(private_cluster, night, tmp_path):
    cluster, svc = private_cluster
    tb, ids = night
    warehouse, cutouts = cluster.new_warehouse("blip"), cluster.new_cutouts("blip")
    cmd, env = ingest_cmd(cluster, warehouse, cutouts, [tb])
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    bucket, prefix = cutouts.removeprefix("s3://").split("/", 1)
    s3 = cluster.boto()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/", MaxKeys=300)
        if listed.get("KeyCount", 0) >= 300:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the ingest ended before the outage"
    kill_server(svc)
    down = time.monotonic()
    services("start", svc)
    print(f"server down for {time.monotonic() - down:.1f} s")
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-3000:]
    assert_no_secret(cluster, out + err)
    got = (
        cluster.catalog(warehouse)
        .load_table("bronze.alerts")
        .scan(selected_fields=("candid",))
        .to_arrow()
        .column("candid")
        .to_pylist()
    )
    assert len(got) == len(set(got)) and set(got) == ids
