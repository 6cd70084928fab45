"""The packed cutout layout through the whole pipeline (issue 17, docs/cutouts.md).

One night (the 24 real ZTF packets of 2023-10-12 plus generated Rubin alerts with stamps)
goes through the nightly Dagster assets with `cutout_layout="packed"` and a small pack
size (so the night fills several packs): `ateda ingest --cutout-layout packed --pack-size
N`, dbt build, every check, including `stamps_readable` on silver/ztf_alert and
silver/lsst_alert, which reads its sample through `ateda_dagster.stamps.read_stamp`. Then
every silver row's (uri, offset, length) is read back through the same function and must
give the packet's exact stamp bytes.

Stamps on the local file system, and (when the local S3 server runs: tests/run.sh,
.work/services/env.sh) on S3, read with Range GETs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import duckdb
import fastavro
import pytest
from test_pipeline import SAMPLE_NIGHT, read_alerts

from ateda_testlib import REPO, ateda_bin

sys.path.insert(0, str(REPO / "dagster"))

from ateda_dagster.bronze_read import bronze_connection  # noqa: E402
from ateda_dagster.lakehouse import Settings  # noqa: E402
from ateda_dagster.pipeline import run_night  # noqa: E402
from ateda_dagster.resources import AtedaResource  # noqa: E402
from ateda_dagster.stamps import read_stamp  # noqa: E402

FIELDS = {
    "science": "cutoutScience",
    "template": "cutoutTemplate",
    "difference": "cutoutDifference",
}
PACK_SIZE = 200_000  # bytes: the night's ~1.3 MB of stamps fill several packs
N_RUBIN = 4
S3_BUCKET = "cutouts"


def ingest_accepts_packed() -> bool:
    helptext = subprocess.run(
        [str(ateda_bin()), "ingest", "--help"], capture_output=True, text=True, check=True
    ).stdout
    return "--cutout-layout" in helptext and "--pack-size" in helptext


def stamp_bytes(rec: dict, field: str) -> bytes | None:
    v = rec.get(field)
    return v["stampData"] if isinstance(v, dict) else v


@pytest.fixture(scope="module")
def night_source(tmp_path_factory) -> tuple[Path, dict[int, dict], dict[int, dict]]:
    """A directory with the night's ZTF packets and generated Rubin alerts (dayObs = the
    night), and the packets by key."""
    if not ingest_accepts_packed():
        pytest.skip(f"{ateda_bin()} has no --cutout-layout/--pack-size yet (issue 17)")
    src = tmp_path_factory.mktemp("packed-source") / SAMPLE_NIGHT.replace("-", "")
    src.mkdir()
    ztf: dict[int, dict] = {}
    for path, rec in read_alerts()[SAMPLE_NIGHT]:
        shutil.copy(path, src / path.name)
        ztf[rec["candid"]] = rec
    gen = src.parent / "lsst"
    subprocess.run(
        [str(ateda_bin()), "gen", "--survey", "lsst", "--n", str(N_RUBIN)]
        + ["--night", SAMPLE_NIGHT.replace("-", ""), "--out", str(gen)],
        check=True,
        capture_output=True,
        timeout=120,
        cwd=REPO,
    )
    rubin: dict[int, dict] = {}
    for path in sorted(gen.glob("*.avro")):
        with path.open("rb") as f:
            for rec in fastavro.reader(f):
                assert all(rec[f] for f in FIELDS.values())  # generated with stamps
                rubin[rec["diaSourceId"]] = rec
        shutil.copy(path, src / path.name)
    assert len(ztf) == 24 and len(rubin) == N_RUBIN
    return src, ztf, rubin


def s3_available() -> bool:
    return bool(os.environ.get("AWS_ENDPOINT_URL"))


@pytest.fixture(scope="module", params=["file", "s3"])
def packed_night(request, tmp_path_factory, night_source):
    """The night materialized with the packed layout; stamps under the lakehouse (file)
    or under a fresh prefix of the local S3 server (deleted afterwards)."""
    src, ztf, rubin = night_source
    root = tmp_path_factory.mktemp(f"packed-{request.param}")
    cutouts = None
    if request.param == "s3":
        if not s3_available():
            pytest.skip("no S3 server: run through tests/run.sh (starts SeaweedFS)")
        cutouts = f"s3://{S3_BUCKET}/ateda-test/packed-{uuid.uuid4().hex[:10]}"
    settings = Settings(
        lakehouse=root / "lakehouse",
        landing=root / "landing",
        ateda_bin=ateda_bin(),
        cutouts=cutouts,
        cutout_layout="packed",
        pack_size=PACK_SIZE,
    )
    with pytest.MonkeyPatch.context() as mp:
        # the assets take the cutouts root from the environment (Settings.from_env)
        if cutouts:
            mp.setenv("ATEDA_CUTOUTS", cutouts)
        else:
            mp.delenv("ATEDA_CUTOUTS", raising=False)
        result = run_night(settings, SAMPLE_NIGHT, src)
    yield {"settings": settings, "result": result, "ztf": ztf, "rubin": rubin}
    if cutouts:
        s3 = boto3.client("s3", region_name=os.environ.get("AWS_REGION"))
        prefix = cutouts.removeprefix(f"s3://{S3_BUCKET}/") + "/"
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET, Prefix=prefix):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=S3_BUCKET, Key=obj["Key"])


def silver(settings: Settings, table: str) -> list[dict]:
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        cur = con.execute(f"select * from silver.{table}")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def test_every_check_passes_and_stamps_readable_read_packs(packed_night):
    result = packed_night["result"]
    assert result.success
    evals = result.get_asset_check_evaluations()
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in evals if not e.passed]
    assert failed == []
    stamps = {
        e.asset_key.to_user_string(): {k: v.value for k, v in e.metadata.items()}
        for e in evals
        if e.check_name == "stamps_readable"
    }
    assert set(stamps) == {"silver/ztf_alert", "silver/lsst_alert"}
    for key, md in stamps.items():
        assert md["night"] == SAMPLE_NIGHT, key
        # every sampled stamp was a byte range of a pack
        assert md["stamps_read"] == 3 * md["rows_sampled"] > 0, (key, md)
        assert md["stamps_in_packs"] == md["stamps_read"], (key, md)
        assert md["problems"] == 0


@pytest.mark.parametrize(
    ("table", "key", "survey"),
    [("ztf_alert", "candid", "ztf"), ("lsst_alert", "diaSourceId", "lsst")],
)
def test_silver_ranges_give_the_packets_exact_stamps(packed_night, table, key, survey):
    settings = packed_night["settings"]
    packets = packed_night["ztf" if survey == "ztf" else "rubin"]
    rows = silver(settings, table)
    assert {r[key] for r in rows} == set(packets)
    root = settings.cutouts or settings.lakehouse.joinpath("cutouts").as_uri()
    pack_prefix = f"{root.rstrip('/')}/{survey}/packs/night={SAMPLE_NIGHT}/"
    ranges: dict[str, list[tuple[int, int]]] = {}
    for row in rows:
        rec = packets[row[key]]
        for kind, field in FIELDS.items():
            uri = row[f"cutout_{kind}_uri"]
            offset, length = row[f"cutout_{kind}_offset"], row[f"cutout_{kind}_length"]
            assert uri.startswith(pack_prefix) and uri.endswith(".pack"), uri
            assert offset is not None and length is not None, (row[key], kind)
            assert read_stamp(uri, offset, length) == stamp_bytes(rec, field), (row[key], kind)
            ranges.setdefault(uri, []).append((offset, length))
    # the stamps of a pack do not overlap; the night filled more than one pack
    for uri, rs in ranges.items():
        rs.sort()
        for (o1, l1), (o2, _) in zip(rs, rs[1:], strict=False):
            assert o1 + l1 <= o2, uri
    total = sum(length for rs in ranges.values() for _, length in rs)
    if total > PACK_SIZE:
        assert len(ranges) > 1, (total, list(ranges))


def test_bronze_has_the_ranges_silver_carries(packed_night):
    """Silver's offset/length are bronze's (the columns exist in bronze, filled)."""
    settings = packed_night["settings"]
    con = bronze_connection(settings)
    try:
        bronze = {
            r[0]: r[1:]
            for r in con.execute(
                "select candid, cutout_science_uri, cutout_science_offset, cutout_science_length "
                "from bronze_alerts"
            ).fetchall()
        }
    finally:
        con.close()
    rows = silver(settings, "ztf_alert")
    assert {
        r["candid"]: (
            r["cutout_science_uri"],
            r["cutout_science_offset"],
            r["cutout_science_length"],
        )
        for r in rows
    } == bronze


def test_stamps_readable_fails_on_a_wrong_range(packed_night, tmp_path):
    """The check reads what silver says: a range off by one byte is not a FITS stamp."""
    from ateda_dagster.stamp_check import check_stamps

    rows = silver(packed_night["settings"], "ztf_alert")[:2]
    assert not check_stamps(rows, "candid").problems
    shifted = [{**r, "cutout_science_offset": r["cutout_science_offset"] + 1} for r in rows]
    report = check_stamps(shifted, "candid")
    assert len(report.problems) == 2 and "science" in report.problems[0], report.problems
    assert "not" in report.problems[0]


def test_cutout_flags_only_when_set(monkeypatch, tmp_path):
    """ATEDA_CUTOUT_LAYOUT / ATEDA_PACK_SIZE (or the resource's fields) become `ateda
    ingest --cutout-layout/--pack-size`; unset, no flag (the binary's default)."""
    for name in ("ATEDA_CUTOUT_LAYOUT", "ATEDA_PACK_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert Settings.from_env(tmp_path).cutout_flags() == []
    assert AtedaResource(lakehouse=str(tmp_path)).settings().cutout_flags() == []
    monkeypatch.setenv("ATEDA_CUTOUT_LAYOUT", "packed")
    monkeypatch.setenv("ATEDA_PACK_SIZE", "134217728")
    flags = ["--cutout-layout", "packed", "--pack-size", "134217728"]
    assert Settings.from_env(tmp_path).cutout_flags() == flags
    assert AtedaResource(lakehouse=str(tmp_path)).settings().cutout_flags() == flags
    resource = AtedaResource(lakehouse=str(tmp_path), cutout_layout="per-stamp", pack_size=1000)
    assert resource.settings().cutout_flags() == [
        "--cutout-layout",
        "per-stamp",
        "--pack-size",
        "1000",
    ]
    monkeypatch.setenv("ATEDA_PACK_SIZE", "")
    assert Settings.from_env(tmp_path).cutout_flags() == ["--cutout-layout", "packed"]
