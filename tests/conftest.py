"""Shared fixtures: the bundled real packets."""

from __future__ import annotations

from pathlib import Path

import pytest

from ateda_testlib import DATA


@pytest.fixture(scope="session")
def packets() -> list[Path]:
    files = sorted(DATA.glob("v*/*.avro"))
    assert len(files) == 32, files
    return files
