"""Fixtures of the cluster tests (skipped when the services' env.sh was not sourced)."""

from __future__ import annotations

import pytest

from cluster.helpers import Cluster, cluster_from_env


@pytest.fixture(scope="session")
def cluster():
    c: Cluster = cluster_from_env()
    yield c
    c.cleanup()
