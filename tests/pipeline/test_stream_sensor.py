"""Silver and gold following the stream (issue 16): `ateda_stream_sensor` requests
`ateda_stream_follow` (dbt only) for the current night when a bronze table has a snapshot
it has not seen. Tested against a real lakehouse written by `ateda ingest` (each ingest
is a new snapshot, as each `ateda stream` commit is), the clock set to the sample night;
the requested run is then executed and silver holds the night's bronze rows."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import duckdb
import pytest

import dagster as dg
from ateda_testlib import DATA, REPO, ateda_bin, night_of_jd, run_ingest
from bronze.readers import read_packets

sys.path.insert(0, str(REPO / "dagster"))

from ateda_dagster import stream_sensor as ss  # noqa: E402
from ateda_dagster.assets import ateda_dbt  # noqa: E402
from ateda_dagster.definitions import defs, resources  # noqa: E402
from ateda_dagster.resources import AtedaResource  # noqa: E402
from ateda_dagster.settings import Settings  # noqa: E402

NIGHT = "2023-10-12"
# 08:00 UTC on the sample night: ZTF's night is the UTC date, Rubin's dayObs the day before
NOW = datetime(2023, 10, 12, 8, 0, tzinfo=UTC)
RUBIN_NIGHT = "2023-10-11"


def night_packets(night: str):
    return [p for p in sorted(DATA.glob("v*/*.avro")) if packet_night(p) == night]


def packet_night(path) -> str:
    (rec,), _ = read_packets(path)
    return night_of_jd(rec["candidate"]["jd"]).isoformat()


def tick(lakehouse, cursor):
    ctx = dg.build_sensor_context(
        cursor=cursor,
        resources={"ateda": AtedaResource(lakehouse=str(lakehouse), ateda_bin=str(ateda_bin()))},
    )
    result = ss.stream_sensor(ctx)
    return ctx.cursor, result if isinstance(result, dg.SkipReason) else list(result)


def ingest(lakehouse, *sources) -> dict:
    run = run_ingest(lakehouse, *sources)
    assert run.code == 0, run.stderr[-3000:]
    return run.summary


def test_registered_off_by_default_and_runs_dbt_only():
    sensor = defs.resolve_sensor_def("ateda_stream_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.job_name == "ateda_stream_follow"
    job = defs.resolve_job_def("ateda_stream_follow")
    selected = job.asset_layer.executable_asset_keys
    assert selected == set(ateda_dbt.keys)
    assert not any(k.path[0] == "bronze" for k in selected)
    assert job.tags["ateda/lakehouse"] == "embedded"


def test_current_nights():
    assert ss.current_nights(NOW) == {"alerts": NIGHT, "lsst_alerts": RUBIN_NIGHT}
    late = datetime(2023, 10, 12, 23, 30, tzinfo=UTC)
    assert ss.current_nights(late) == {"alerts": NIGHT, "lsst_alerts": NIGHT}


def test_new_bronze_snapshots_request_silver_and_gold(tmp_path, monkeypatch):
    monkeypatch.setattr(ss, "now_utc", lambda: NOW)
    lh = tmp_path / "lakehouse"
    sample = night_packets(NIGHT)
    assert len(sample) == 24

    # nothing ingested yet: no catalog, nothing requested, no cursor
    cursor, result = tick(lh, None)
    assert isinstance(result, dg.SkipReason) and cursor is None

    # a first commit of tonight's rows: one run of tonight
    first = ingest(lh, *sample[:10])
    snap1 = first["tables"]["alerts"]["snapshot_id"]
    cursor, result = tick(lh, cursor)
    (req,) = result
    assert req.partition_key == NIGHT
    assert req.job_name in (None, "ateda_stream_follow")
    assert req.tags["ateda/trigger"] == "stream"
    assert ss.bronze_snapshots(Settings.from_env(lh))["alerts"] == snap1
    assert f":{snap1}:" in req.run_key
    assert cursor is not None and str(snap1) in cursor

    # no new snapshot: nothing requested
    same, again = tick(lh, cursor)
    assert isinstance(again, dg.SkipReason) and same == cursor

    # the next commit: a new run of tonight, keyed by the new snapshot
    second = ingest(lh, *sample[10:])
    snap2 = second["tables"]["alerts"]["snapshot_id"]
    assert snap2 != snap1
    cursor, result = tick(lh, cursor)
    (req2,) = result
    assert req2.partition_key == NIGHT and f":{snap2}:" in req2.run_key
    assert req2.run_key != req.run_key

    # Rubin rows of tonight's dayObs: a run of that night
    lsst = tmp_path / "lsst"
    subprocess.run(
        [str(ateda_bin()), "gen", "--survey", "lsst", "--n", "6", "--night", "20231011"]
        + ["--out", str(lsst), "--templates", str(REPO / "tests" / "data" / "lsst")],
        check=True,
        capture_output=True,
    )
    ingest(lh, lsst)
    cursor, result = tick(lh, cursor)
    (req3,) = result
    assert req3.partition_key == RUBIN_NIGHT

    # another day: a commit of an old night only, tonight has no rows: nothing requested,
    # the snapshot counts as seen
    monkeypatch.setattr(ss, "now_utc", lambda: datetime(2023, 11, 1, 8, 0, tzinfo=UTC))
    old = night_packets("2019-12-16")
    assert old
    ingest(lh, *old)
    cursor, result = tick(lh, cursor)
    assert isinstance(result, dg.SkipReason) and "no bronze rows" in result.skip_message
    _, result = tick(lh, cursor)
    assert isinstance(result, dg.SkipReason) and "no new bronze snapshot" in result.skip_message

    # the requested run: dbt builds tonight's silver + gold from bronze as committed
    run = dg.materialize(
        [ateda_dbt],
        partition_key=req2.partition_key,
        resources=resources(lakehouse=str(lh), ateda_bin=str(ateda_bin())),
        raise_on_error=False,
    )
    assert run.success
    con = duckdb.connect(str(lh / "ateda.duckdb"), read_only=True)
    try:
        (n,) = con.execute(
            "select count(*) from silver.ztf_alert where night = cast(? as date)", [NIGHT]
        ).fetchone()
    finally:
        con.close()
    assert n == len(sample)


@pytest.mark.parametrize("table", ["alerts", "lsst_alerts"])
def test_bronze_snapshots_without_a_lakehouse(tmp_path, table):
    snaps = ss.bronze_snapshots(Settings.from_env(tmp_path / "none"))
    assert snaps[table] is None


def test_bronze_snapshots_from_the_rest_catalog(tmp_path):
    """The cluster form: snapshot ids read from the Iceberg REST catalog (SeaweedFS's,
    from the services' env.sh, as tests/cluster)."""
    from dataclasses import replace

    from cluster.helpers import cluster_from_env
    from cluster.helpers import run_ingest as cluster_ingest

    c = cluster_from_env()
    try:
        wh = c.new_warehouse("stream-sensor")
        cutouts = c.new_cutouts("stream-sensor")
        run = cluster_ingest(c, wh, cutouts, *night_packets(NIGHT)[:3], tmp=tmp_path)
        assert run.code == 0, run.output[-3000:]
        settings = replace(Settings.from_env(tmp_path / "lh"), catalog=c.rest_uri, warehouse=wh)
        snaps = ss.bronze_snapshots(settings)
        assert snaps == {
            "alerts": run.summary["tables"]["alerts"]["snapshot_id"],
            "lsst_alerts": None,
        }
    finally:
        c.cleanup()
