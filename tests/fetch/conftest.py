"""Fixtures of the `ateda fetch` tests: one real nginx for the session (scripts/nginx.sh,
stopped at the end), a fresh archive directory on it and a fresh `--to` directory per
test, and the bundled real packets to make tarballs of."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from fetch_archive import NGINX_SH, SLOW_RATE, Archive, Nginx

from ateda_testlib import DATA


@pytest.fixture(scope="session")
def nginx(tmp_path_factory) -> Nginx:
    root = tmp_path_factory.mktemp("archive-root")
    state = tmp_path_factory.mktemp("nginx")
    env = {**os.environ, "NGINX_SLOW_RATE": SLOW_RATE}
    proc = subprocess.run(
        [str(NGINX_SH), "start", str(root), str(state)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/nginx.sh start failed:\n{proc.stdout}{proc.stderr}")
    server = Nginx(url=proc.stdout.strip().splitlines()[-1], root=root, state=state)
    yield server
    subprocess.run([str(NGINX_SH), "stop", str(state)], timeout=60, check=False)


@pytest.fixture
def archive(nginx) -> Archive:
    return Archive(nginx, Path(tempfile.mkdtemp(prefix="archive-", dir=nginx.root)))


@pytest.fixture
def to(tmp_path) -> Path:
    path = tmp_path / "nights"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def ztf_packets() -> list[Path]:
    files = sorted((DATA / "v4").glob("*.avro"))
    assert len(files) >= 24, files
    return files
