"""The Dagster bronze asset in its cluster form: the night's tarball lands under an S3
prefix, `ateda ingest` writes through the Iceberg REST catalog with stamps on S3, and the
asset's checks read the table back through DuckDB's REST attach (no SQLite anywhere).

Uses the SeaweedFS S3 + Iceberg REST servers the test command starts (skipped without).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import uuid

import fastavro
import pytest

import dagster as dg
from ateda_testlib import DATA, REPO, ateda_bin, night_of_jd

sys.path.insert(0, str(REPO / "dagster"))

NIGHT = "2023-10-12"
KINDS = ("science", "template", "difference")
LANDING_BUCKET = "landing"


@pytest.fixture
def landed_night(cluster, tmp_path):
    """The night's real packets as ztf_public_20231012.tar.gz under a fresh S3 prefix."""
    files, candids = [], set()
    for path in sorted(DATA.glob("v*/*.avro")):
        with open(path, "rb") as fh:
            recs = [
                r
                for r in fastavro.reader(fh)
                if night_of_jd(r["candidate"]["jd"]).isoformat() == NIGHT
            ]
        if recs:
            files.append(path)
            candids |= {r["candid"] for r in recs}
    tarball = tmp_path / f"ztf_public_{NIGHT.replace('-', '')}.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        for f in files:
            tar.add(f, arcname=f.name)
    prefix = f"ateda-test/dagster-{uuid.uuid4().hex[:10]}"
    s3 = cluster.boto()
    s3.upload_file(str(tarball), LANDING_BUCKET, f"{prefix}/{tarball.name}")
    yield f"s3://{LANDING_BUCKET}/{prefix}", candids
    s3.delete_object(Bucket=LANDING_BUCKET, Key=f"{prefix}/{tarball.name}")


def test_bronze_asset_on_rest_catalog_and_s3(cluster, landed_night, tmp_path, monkeypatch):
    from ateda_dagster.assets import bronze_alerts
    from ateda_dagster.definitions import resources
    from ateda_dagster.lakehouse import Settings, dbt_vars

    landing, candids = landed_night
    warehouse = cluster.new_warehouse("dagster")
    cutouts = cluster.new_cutouts("dagster")
    scratch = tmp_path / "scratch"
    monkeypatch.setenv("ATEDA_CATALOG", cluster.rest_uri)
    monkeypatch.setenv("ATEDA_WAREHOUSE", warehouse)
    monkeypatch.setenv("ATEDA_CUTOUTS", cutouts)
    monkeypatch.setenv("ATEDA_LAKEHOUSE", str(scratch))

    def materialize():
        result = dg.materialize(
            [bronze_alerts],
            partition_key=NIGHT,
            resources=resources(landing=landing, ateda_bin=str(ateda_bin())),
            raise_on_error=False,
        )
        assert result.success
        (event,) = result.get_asset_materialization_events()
        mat = event.materialization
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        return {k: v.value for k, v in mat.metadata.items()}, checks

    md, checks = materialize()
    n = len(candids)
    assert (md["ingested"], md["quarantined"], md["night_rows"]) == (n, 0, n)
    assert md["source"] == f"{landing}/ztf_public_20231012.tar.gz"
    assert checks == {"rows_match_source": True, "candid_unique": True, "nothing_quarantined": True}
    assert not (scratch / "catalog.db").exists(), "the cluster form must not touch SQLite"
    assert list((scratch / ".landing-cache").iterdir()) == []

    # an independent reader (pyiceberg over REST) sees the same rows; stamps are on S3
    table = cluster.catalog(warehouse).load_table("bronze.alerts")
    rows = table.scan(selected_fields=("candid", "cutout_science_uri")).to_arrow().to_pylist()
    assert {r["candid"] for r in rows} == candids
    assert all(r["cutout_science_uri"].startswith(cutouts + "/") for r in rows)
    assert cluster.get_object(rows[0]["cutout_science_uri"])[:2] == b"\x1f\x8b"  # gzip FITS
    assert md["snapshot_id"] == table.current_snapshot().snapshot_id

    again, checks = materialize()
    assert (again["ingested"], again["already_present"], again["night_rows"]) == (0, n, n)
    assert all(checks.values())

    # dbt on the cluster reads bronze through StarRocks' catalog: no metadata.json to pass
    assert dbt_vars(Settings.from_env(), NIGHT)["bronze_alerts_metadata"] is None


def test_bronze_asset_packed_layout_from_env(cluster, landed_night, tmp_path, monkeypatch):
    """The deployment's setting (ATEDA_CUTOUT_LAYOUT/ATEDA_PACK_SIZE in the code
    location's environment, charts and helmfile: docs/cutouts.md) reaches `ateda ingest`:
    the rows point into packs on S3, and each range read through
    ateda_dagster.stamps.read_stamp (a ranged GET) is the packet's exact stamp."""
    from ateda_dagster.assets import bronze_alerts
    from ateda_dagster.definitions import resources
    from ateda_dagster.stamps import fits_bytes, read_stamp

    help_text = subprocess.run(
        [str(ateda_bin()), "ingest", "--help"], capture_output=True, text=True, check=True
    ).stdout
    if "--cutout-layout" not in help_text:
        pytest.skip(f"{ateda_bin()} has no --cutout-layout yet (issue 17)")
    landing, candids = landed_night
    warehouse = cluster.new_warehouse("dagster-packed")
    cutouts = cluster.new_cutouts("dagster-packed")
    monkeypatch.setenv("ATEDA_CATALOG", cluster.rest_uri)
    monkeypatch.setenv("ATEDA_WAREHOUSE", warehouse)
    monkeypatch.setenv("ATEDA_CUTOUTS", cutouts)
    monkeypatch.setenv("ATEDA_LAKEHOUSE", str(tmp_path / "scratch"))
    monkeypatch.setenv("ATEDA_CUTOUT_LAYOUT", "packed")
    monkeypatch.setenv("ATEDA_PACK_SIZE", "100000")
    result = dg.materialize(
        [bronze_alerts],
        partition_key=NIGHT,
        resources=resources(landing=landing, ateda_bin=str(ateda_bin())),
        raise_on_error=False,
    )
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())

    stamps = {}
    for path in sorted(DATA.glob("v*/*.avro")):
        with open(path, "rb") as fh:
            for r in fastavro.reader(fh):
                stamps[r["candid"]] = {k: r[f"cutout{k.title()}"]["stampData"] for k in KINDS}
    table = cluster.catalog(warehouse).load_table("bronze.alerts")
    fields = ["candid"] + [f"cutout_{k}_{p}" for k in KINDS for p in ("uri", "offset", "length")]
    rows = table.scan(selected_fields=tuple(fields)).to_arrow().to_pylist()
    assert {r["candid"] for r in rows} == candids
    packs = set()
    for r in rows:
        for k in KINDS:
            uri = r[f"cutout_{k}_uri"]
            assert uri.startswith(f"{cutouts}/ztf/packs/night={NIGHT}/"), uri
            assert uri.endswith(".pack")
            stamp = read_stamp(uri, r[f"cutout_{k}_offset"], r[f"cutout_{k}_length"])
            assert stamp == stamps[r["candid"]][k], (r["candid"], k)
            fits_bytes(stamp)
            packs.add(uri)
    assert len(packs) > 1  # ~0.5 MB of stamps in 100 kB packs
