"""Fixtures of the Rubin/LSST tests: a fresh lakehouse and a free, closed port."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest


@pytest.fixture
def lakehouse(tmp_path) -> Path:
    return tmp_path / "lakehouse"


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, learnt, closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
