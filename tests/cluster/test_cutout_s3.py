"""`ateda cutout` against the Iceberg REST catalog and S3 cutouts: exact stamp bytes."""

from __future__ import annotations

import json
import subprocess

import fastavro

from ateda_testlib import ateda_bin
from cluster.helpers import CUTOUTS, assert_no_secret, ingest_cmd, run_ingest


def test_cutout_reads_s3_stamps_exactly(cluster, packets, tmp_path):
    warehouse = cluster.new_warehouse("cutout")
    cutouts = cluster.new_cutouts("cutout")
    sources = packets[::8]
    run = run_ingest(cluster, warehouse, cutouts, *sources, tmp=tmp_path)
    assert run.code == 0, run.stderr[-3000:]
    _, env = ingest_cmd(cluster, warehouse, cutouts, [])
    for path in sources:
        with path.open("rb") as f:
            rec = next(iter(fastavro.reader(f)))
        out = tmp_path / str(rec["candid"])
        proc = subprocess.run(
            [str(ateda_bin()), "cutout", str(rec["candid"]), "-o", str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert_no_secret(cluster, proc.stdout + proc.stderr)
        for field, kind in CUTOUTS.items():
            got = (out / f"{rec['candid']}-{kind}.fits.gz").read_bytes()
            assert got == rec[field]["stampData"], f"{path.name} {kind}"


def test_packed_on_s3_one_put_per_pack_and_multipart_beyond_a_part(cluster, tmp_path):
    """Packed layout on S3 (SeaweedFS): a pack within one part is one PUT, a pack past it a
    multipart upload (5 MiB parts here); every stamp is one Range GET of its pack, exact,
    and `ateda cutout` reads it back; `ateda maintain` finds no orphan."""
    from urllib.parse import urlparse

    from ateda_testlib import gen_alerts

    files = gen_alerts(tmp_path / "night", 200, "20261130")
    warehouse = cluster.new_warehouse("packed")
    cutouts = cluster.new_cutouts("packed")
    layout = ("--cutout-layout", "packed", "--pack-part-size", str(5 << 20))
    # ~8.4 MB of stamps: packs of up to 6 MB, so one goes multipart (5 MiB parts)
    run = run_ingest(
        cluster,
        warehouse,
        cutouts,
        tmp_path / "night",
        tmp=tmp_path,
        extra=(*layout, "--pack-size", str(6_000_000)),
    )
    assert run.code == 0, run.stderr[-3000:]
    assert run.summary["ingested"] == 200
    packs = run.summary["packs_written"]
    assert packs >= 2, run.summary
    s3 = cluster.boto()
    u = urlparse(cutouts)
    listed = s3.list_objects_v2(Bucket=u.netloc, Prefix=u.path.lstrip("/") + "/ztf/packs/")
    objects = {o["Key"]: o for o in listed.get("Contents", [])}
    assert len(objects) == packs
    # a multipart upload's ETag ends with -<parts>; a single PUT's does not
    etags = [o["ETag"].strip('"') for o in objects.values()]
    assert any("-" in e for e in etags), etags
    assert any("-" not in e for e in etags), etags

    rows = cluster.catalog(warehouse).load_table("bronze.alerts").scan().to_arrow().to_pylist()
    by_candid = {r["candid"]: r for r in rows}
    for f in files[::7]:
        with f.open("rb") as fh:
            rec = next(iter(fastavro.reader(fh)))
        row = by_candid[rec["candid"]]
        for field, kind in CUTOUTS.items():
            uri, off, length = (row[f"cutout_{kind}_{c}"] for c in ("uri", "offset", "length"))
            key = urlparse(uri).path.lstrip("/")
            got = s3.get_object(Bucket=u.netloc, Key=key, Range=f"bytes={off}-{off + length - 1}")
            assert got["Body"].read() == rec[field]["stampData"], (rec["candid"], kind)
    _, env = ingest_cmd(cluster, warehouse, cutouts, [])
    rec_path = files[0]
    with rec_path.open("rb") as fh:
        rec = next(iter(fastavro.reader(fh)))
    proc = subprocess.run(
        [str(ateda_bin()), "cutout", str(rec["candid"]), "--kind", "difference", "-o", "-"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == rec["cutoutDifference"]["stampData"]
    proc = subprocess.run(
        [str(ateda_bin()), "maintain", "--older-than-hours", "0", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_no_secret(cluster, proc.stdout + proc.stderr)
    report = json.loads(proc.stdout)["ztf"]
    assert (report["packs"], report["referenced"], report["orphans"]) == (packs, packs, [])
