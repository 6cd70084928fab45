"""Fixtures of the deployment checks (tests/deploy): see deploylib for how the CLIs are
obtained without a cluster."""

from __future__ import annotations

import pytest
from deploylib import Tools, get_tools


@pytest.fixture(scope="session")
def tools() -> Tools:
    return get_tools()
