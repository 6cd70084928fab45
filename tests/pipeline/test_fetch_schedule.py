"""The Dagster side of `ateda fetch` (issue 18): the partitioned `ateda_fetch` job and
`ateda_fetch_latest` (run by the daily `fetch_schedule`) download a night from a real
nginx on loopback (tests/fetch's fixture and archive generator) into the landing area,
where the landing sensor sees it; a night missing from the archive fails the run with the
CLI's message; with an S3 landing the verified tarball is uploaded (SeaweedFS, when its
environment is there). `archive_sensor` polls the same nginx's MD5SUMS and requests a
night as soon as it is listed; `prune_cache` keeps the fetch cache to the newest nights."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import uuid

import pytest

import dagster as dg
from ateda_testlib import REPO, ateda_bin

sys.path.insert(0, str(REPO / "dagster"))
sys.path.insert(0, str(REPO / "tests" / "fetch"))

from fetch_archive import md5_of, tarball_name  # noqa: E402

from ateda_dagster import sensors  # noqa: E402
from ateda_dagster.definitions import defs, landing_sensor  # noqa: E402
from ateda_dagster.fetch import (  # noqa: E402
    DEFAULT_ARCHIVE,
    FETCH_CRON,
    archive_sensor,
    archive_url,
    cache_keep,
    fetch_cache,
    fetch_job,
    fetch_latest_job,
    fetch_schedule,
    prune_cache,
)
from ateda_dagster.resources import AtedaResource  # noqa: E402

# tests/fetch's fixtures (one real nginx per session, a fresh archive per test, the real
# packets), imported rather than copied.
_spec = importlib.util.spec_from_file_location("fetch_conftest", REPO / "tests/fetch/conftest.py")
_fetch_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fetch_conftest)
nginx = _fetch_conftest.nginx
archive = _fetch_conftest.archive
ztf_packets = _fetch_conftest.ztf_packets

NIGHT = "20231012"
PARTITION = "2023-10-12"


@pytest.fixture(autouse=True)
def loopback_env(monkeypatch):
    """Straight to the loopback server whatever proxy the environment names (as
    tests/fetch's fetch_env), and no ATEDA_ARCHIVE from outside."""
    for key in list(os.environ):
        if "proxy" in key.lower():
            monkeypatch.delenv(key)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("ATEDA_ARCHIVE", raising=False)


def ateda(tmp_path, landing) -> dict:
    return {
        "ateda": AtedaResource(
            lakehouse=str(tmp_path / "lakehouse"), landing=str(landing), ateda_bin=str(ateda_bin())
        )
    }


def run_config(url: str, **extra) -> dict:
    return {"ops": {"fetch_night": {"config": {"archive": url, **extra}}}}


def fetch_output(result) -> str:
    [mat] = [e for e in result.all_node_events if e.event_type == dg.DagsterEventType.STEP_OUTPUT]
    return mat.step_output_data.metadata["output"].value


def test_fetch_job_lands_the_night_and_the_sensor_sees_it(
    archive, ztf_packets, tmp_path, monkeypatch
):
    data = archive.put(NIGHT, ztf_packets[:6])
    archive.put("20231013", [])  # another night, not asked for
    landing = tmp_path / "landing"
    resources = ateda(tmp_path, landing)

    result = fetch_job.execute_in_process(
        partition_key=PARTITION, resources=resources, run_config=run_config(archive.url)
    )
    assert result.success
    assert "MD5 ok" in fetch_output(result)
    tarball = landing / tarball_name(NIGHT)
    assert tarball.read_bytes() == data
    assert json.loads((landing / (tarball.name + ".md5")).read_text())["md5"] == md5_of(data)
    assert not list(landing.glob("*.part*"))
    assert not (landing / tarball_name("20231013")).exists()

    # the landing sensor starts that night's run
    monkeypatch.setattr(sensors, "SETTLE_S", 0)
    ctx = dg.build_sensor_context(cursor=None, resources=resources)
    requests = list(landing_sensor(ctx))
    assert [r.partition_key for r in requests] == [PARTITION]
    assert requests[0].tags["ateda/source"] == str(tarball.resolve())

    # a second run: nothing downloaded again, the sensor sees no change
    gets = len(archive.gets(NIGHT))
    again = fetch_job.execute_in_process(
        partition_key=PARTITION, resources=resources, run_config=run_config(archive.url)
    )
    assert again.success
    assert "already fetched and verified" in fetch_output(again)
    assert len(archive.gets(NIGHT)) == gets
    more = landing_sensor(dg.build_sensor_context(cursor=ctx.cursor, resources=resources))
    assert isinstance(more, dg.SkipReason)


def test_missing_night_fails_the_run_with_the_cli_message(archive, ztf_packets, tmp_path):
    archive.put(NIGHT, ztf_packets[:2])
    landing = tmp_path / "landing"
    result = fetch_job.execute_in_process(
        partition_key="2023-10-14",
        resources=ateda(tmp_path, landing),
        run_config=run_config(archive.url),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = result.get_step_failure_events()
    message = failure.step_failure_data.user_failure_data.description
    assert "ateda fetch 20231014 exited 1" in message
    assert "ztf_public_20231014.tar.gz: not in the archive (HTTP 404)" in message
    assert not list(landing.glob("*.tar.gz"))


def test_latest_job_fetches_the_newest_night(archive, ztf_packets, tmp_path):
    archive.put(NIGHT, ztf_packets[:2])
    newest = archive.put("20231015", ztf_packets[2:4])
    landing = tmp_path / "landing"
    result = fetch_latest_job.execute_in_process(
        resources=ateda(tmp_path, landing), run_config=run_config(archive.url)
    )
    assert result.success
    assert sorted(p.name for p in landing.glob("*.tar.gz")) == [tarball_name("20231015")]
    assert (landing / tarball_name("20231015")).read_bytes() == newest


def test_schedule_runs_fetch_latest_daily():
    assert fetch_schedule.cron_schedule == FETCH_CRON == "0 15 * * *"
    assert fetch_schedule.execution_timezone == "UTC"
    assert fetch_schedule.job_name == "ateda_fetch_latest"
    assert defs.get_job_def("ateda_fetch").partitions_def is not None
    assert {s.name for s in defs.schedules} == {"fetch_schedule"}
    assert defs.get_sensor_def("archive_sensor").default_status == dg.DefaultSensorStatus.STOPPED
    assert archive_url() == DEFAULT_ARCHIVE == "https://ztf.uw.edu/alerts/public/"
    assert archive_url("http://x/") == "http://x/"


def test_archive_sensor_requests_each_night_once_it_is_listed(
    archive, ztf_packets, tmp_path, monkeypatch
):
    monkeypatch.setenv("ATEDA_ARCHIVE", archive.url)
    archive.put("20231011", ztf_packets[:2])
    data = archive.put(NIGHT, ztf_packets[2:5])
    resources = ateda(tmp_path, tmp_path / "landing")

    # first evaluation: the newest night only
    ctx = dg.build_sensor_context(cursor=None)
    [request] = archive_sensor(ctx)
    assert request.partition_key == PARTITION
    assert request.run_config == run_config(archive.url)
    # the requested run lands the night
    result = fetch_job.execute_in_process(
        partition_key=request.partition_key, resources=resources, run_config=request.run_config
    )
    assert result.success
    assert (tmp_path / "landing" / tarball_name(NIGHT)).read_bytes() == data

    # nothing new: skipped, MD5SUMS read and nothing else
    again = archive_sensor(dg.build_sensor_context(cursor=ctx.cursor))
    assert isinstance(again, dg.SkipReason), again
    assert "no new night" in again.skip_message

    # two new nights: both, oldest first; then the newest republished: again, new run key
    archive.put("20231013", ztf_packets[5:7])
    archive.put("20231014", [])
    ctx2 = dg.build_sensor_context(cursor=ctx.cursor)
    requests = archive_sensor(ctx2)
    assert [r.partition_key for r in requests] == ["2023-10-13", "2023-10-14"]
    archive.put("20231014", ztf_packets[7:8])
    ctx3 = dg.build_sensor_context(cursor=ctx2.cursor)
    [republished] = archive_sensor(ctx3)
    assert republished.partition_key == "2023-10-14"
    assert republished.run_key != requests[1].run_key
    assert isinstance(archive_sensor(dg.build_sensor_context(cursor=ctx3.cursor)), dg.SkipReason)

    # an archive that cannot be read is a skip, not a failure
    monkeypatch.setenv("ATEDA_ARCHIVE", archive.url + "missing/")
    assert isinstance(archive_sensor(dg.build_sensor_context(cursor=None)), dg.SkipReason)


def test_prune_cache_keeps_the_newest_verified_nights(tmp_path, monkeypatch):
    cache = tmp_path / ".fetch-cache"
    cache.mkdir()
    names = [tarball_name(n) for n in ("20231010", "20231011", "20231012", "20231013")]
    for name in names:
        (cache / name).write_bytes(b"t")
        (cache / f"{name}.md5").write_text('{"md5": "x", "size": 1}')
    (cache / "ztf_public_20231009.tar.gz").write_bytes(b"no record")  # not verified
    (cache / "ztf_public_20231014.tar.gz.part").write_bytes(b"resume me")
    (cache / "ztf_public_20231015.tar.gz.bad").write_bytes(b"bad")
    landed = set(names[1:]) | {"ztf_public_20231009.tar.gz"}  # 20231010 not in the landing

    deleted = prune_cache(cache, landed, keep=2)
    assert [p.name for p in deleted] == [names[1]]
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [
            "ztf_public_20231009.tar.gz",
            names[0],
            f"{names[0]}.md5",
            names[2],
            f"{names[2]}.md5",
            names[3],
            f"{names[3]}.md5",
            "ztf_public_20231014.tar.gz.part",
            "ztf_public_20231015.tar.gz.bad",
        ]
    )
    # keep 0: every landed verified tarball goes, the rest stays
    prune_cache(cache, landed, keep=0)
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [
            "ztf_public_20231009.tar.gz",
            names[0],
            f"{names[0]}.md5",
            "ztf_public_20231014.tar.gz.part",
            "ztf_public_20231015.tar.gz.bad",
        ]
    )
    monkeypatch.delenv("ATEDA_FETCH_CACHE_KEEP", raising=False)
    assert cache_keep() == 2
    monkeypatch.setenv("ATEDA_FETCH_CACHE_KEEP", "0")
    assert (cache_keep(), cache_keep(5)) == (0, 5)


@pytest.mark.skipif(
    not os.environ.get("AWS_ENDPOINT_URL"),
    reason="no S3 server: run through tests/run.sh (starts SeaweedFS, sources env.sh)",
)
def test_s3_landing_gets_the_verified_tarball(archive, ztf_packets, tmp_path, monkeypatch):
    import boto3

    s3 = boto3.client("s3", region_name=os.environ.get("AWS_REGION"))
    prefix = f"ateda-test/{uuid.uuid4().hex[:10]}"
    location = f"s3://landing/{prefix}"
    data = archive.put(NIGHT, ztf_packets[:4])
    resources = ateda(tmp_path, location)
    try:
        # a failing fetch uploads nothing
        failed = fetch_job.execute_in_process(
            partition_key="2023-10-14",
            resources=resources,
            run_config=run_config(archive.url),
            raise_on_error=False,
        )
        assert not failed.success
        assert s3.list_objects_v2(Bucket="landing", Prefix=prefix).get("KeyCount", 0) == 0

        result = fetch_job.execute_in_process(
            partition_key=PARTITION, resources=resources, run_config=run_config(archive.url)
        )
        assert result.success
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="landing", Prefix=prefix)["Contents"]]
        assert keys == [f"{prefix}/{tarball_name(NIGHT)}"]  # no .part, no .md5
        obj = s3.get_object(Bucket="landing", Key=keys[0])
        assert obj["Body"].read() == data
        assert obj["Metadata"]["md5"] == md5_of(data)
        cache = fetch_cache(resources["ateda"].settings())
        assert (cache / tarball_name(NIGHT)).read_bytes() == data
        assert [n for n, _, _ in sensors.landed_files(location, settle_s=0)] == [PARTITION]

        # a re-run neither downloads nor uploads again (the sensor's fingerprint holds)
        etag = obj["ETag"]
        again = fetch_job.execute_in_process(
            partition_key=PARTITION, resources=resources, run_config=run_config(archive.url)
        )
        assert again.success
        assert s3.head_object(Bucket="landing", Key=keys[0])["ETag"] == etag
    finally:
        for o in s3.list_objects_v2(Bucket="landing", Prefix=prefix).get("Contents", []):
            s3.delete_object(Bucket="landing", Key=o["Key"])
