"""The landing area on S3: the sensor sees settled tarballs under an `s3://bucket/prefix`,
and the bronze asset fetches the night's tarball, ingests it and removes the local copy.

Runs against the local SeaweedFS S3 API the test command starts (bucket `landing`);
skipped when its environment (AWS_ENDPOINT_URL, .work/services/env.sh) is absent.
"""

from __future__ import annotations

import os
import uuid

import boto3
import pytest
from test_pipeline import (
    SAMPLE_NIGHT,
    bronze_metadata,
    materialize_bronze,
    read_alerts,
    write_tarball,
)

import dagster as dg
from ateda_dagster import sensors
from ateda_dagster.lakehouse import Settings
from ateda_dagster.landing import LandingError, S3Landing, open_landing
from ateda_dagster.resources import AtedaResource
from ateda_testlib import ateda_bin

pytestmark = pytest.mark.skipif(
    not os.environ.get("AWS_ENDPOINT_URL"),
    reason="no S3 server: run through tests/run.sh (starts SeaweedFS, sources env.sh)",
)
BUCKET = "landing"


@pytest.fixture(scope="module")
def s3():
    return boto3.client("s3", region_name=os.environ.get("AWS_REGION"))


@pytest.fixture
def prefix(s3):
    """A fresh prefix in the landing bucket, emptied afterwards."""
    p = f"ateda-test/{uuid.uuid4().hex[:10]}"
    yield p
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=p).get("Contents", [])
    for obj in listed:
        s3.delete_object(Bucket=BUCKET, Key=obj["Key"])


@pytest.fixture(scope="module")
def sample_tarball(tmp_path_factory):
    files = sorted({p for p, _ in read_alerts()[SAMPLE_NIGHT]})
    return write_tarball(tmp_path_factory.mktemp("s3-landing"), SAMPLE_NIGHT, files), len(files)


def test_open_landing_parses_locations(tmp_path):
    assert open_landing("s3://landing/a/b/") == S3Landing("landing", "a/b/")
    assert open_landing("s3://landing") == S3Landing("landing", "")
    assert open_landing(tmp_path).location == str(tmp_path.resolve())
    with pytest.raises(LandingError, match="no bucket"):
        open_landing("s3:///x")
    with pytest.raises(LandingError, match="unsupported scheme"):
        open_landing("gs://b/x")


def test_sensor_sees_settled_tarballs_on_s3(s3, prefix, sample_tarball, monkeypatch):
    tarball, _ = sample_tarball
    s3.upload_file(str(tarball), BUCKET, f"{prefix}/{tarball.name}")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/notes.txt", Body=b"not a night")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/deeper/ztf_public_20240519.tar.gz", Body=b"x")
    location = f"s3://{BUCKET}/{prefix}"

    # just uploaded: not settled under the default wait, settled with none
    assert sensors.landed_files(location, settle_s=3600) == []
    landed = sensors.landed_files(location, settle_s=0)
    assert [(n, name) for n, name, _ in landed] == [(SAMPLE_NIGHT, tarball.name)]
    assert landed[0][2].startswith(f"{tarball.stat().st_size}:")

    from ateda_dagster.definitions import landing_sensor

    monkeypatch.setattr(sensors, "SETTLE_S", 0.0)
    resources = {"ateda": AtedaResource(landing=location)}
    ctx = dg.build_sensor_context(cursor=None, resources=resources)
    requests = list(landing_sensor(ctx))
    assert [r.partition_key for r in requests] == [SAMPLE_NIGHT]
    assert requests[0].tags["ateda/source"] == f"{location}/{tarball.name}"
    again = landing_sensor(dg.build_sensor_context(cursor=ctx.cursor, resources=resources))
    assert isinstance(again, dg.SkipReason)

    # the night's tarball replaced (new content): a new run is requested
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{tarball.name}", Body=tarball.read_bytes()[:-1])
    replaced = list(landing_sensor(dg.build_sensor_context(cursor=ctx.cursor, resources=resources)))
    assert [r.partition_key for r in replaced] == [SAMPLE_NIGHT]
    assert replaced[0].run_key != requests[0].run_key


def test_unreadable_s3_landing_is_a_clear_skip(monkeypatch):
    from ateda_dagster.definitions import landing_sensor

    location = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/x"
    with pytest.raises(LandingError, match=f"cannot list landing {location}"):
        sensors.landed_files(location, settle_s=0)
    resources = {"ateda": AtedaResource(landing=location)}
    skip = landing_sensor(dg.build_sensor_context(cursor=None, resources=resources))
    assert isinstance(skip, dg.SkipReason) and location in skip.skip_message


def test_bronze_asset_ingests_the_night_from_s3(tmp_path, s3, prefix, sample_tarball):
    tarball, n_alerts = sample_tarball
    s3.upload_file(str(tarball), BUCKET, f"{prefix}/{tarball.name}")
    location = f"s3://{BUCKET}/{prefix}"
    settings = Settings(tmp_path / "lh", location, ateda_bin())

    result = materialize_bronze(settings, SAMPLE_NIGHT)
    assert result.success
    md = bronze_metadata(result)
    assert (md["ingested"], md["quarantined"], md["night_rows"]) == (n_alerts, 0, n_alerts)
    assert md["source"] == f"{location}/{tarball.name}"
    assert list(settings.landing_cache.iterdir()) == []  # the fetched copy is gone

    again = bronze_metadata(materialize_bronze(settings, SAMPLE_NIGHT))
    assert (again["ingested"], again["already_present"]) == (0, n_alerts)

    missing = materialize_bronze(settings, "2020-01-01")
    assert not missing.success
    failure = next(e for e in missing.all_events if e.event_type_value == "STEP_FAILURE")
    assert f"no source for night 2020-01-01 in {location}" in str(failure.event_specific_data)
