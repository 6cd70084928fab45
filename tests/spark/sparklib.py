"""Helpers of tests/spark (a module name no other test folder uses)."""

from __future__ import annotations

import importlib.util
import subprocess

import pytest

from ateda_testlib import REPO


def spark_env(what: str) -> str:
    proc = subprocess.run(
        [str(REPO / "scripts" / "spark-env.sh"), what],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/spark-env.sh {what} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout.strip()


MAINTENANCE = REPO / "deploy" / "spark" / "iceberg_maintenance.py"


def release_catalog(spark) -> None:
    """Closes the Spark catalog's JDBC connections (a fresh catalog is made on next use).

    Iceberg's JdbcCatalog on SQLite (xerial driver) keeps a statement open on a pooled
    connection after its initialisation: a read transaction that never ends. Another
    process's commit to catalog.db then cannot take its write lock (and `ateda ingest`
    reports success for a commit the catalog never recorded: see docs/spark.md), and in WAL
    mode Spark would keep reading the old catalog. So the tests let go of the catalog before
    another writer commits."""
    manager = spark._jsparkSession.sessionState().catalogManager()
    manager.catalog("ateda").icebergCatalog().close()
    manager.reset()


def load_maintenance():
    spec = importlib.util.spec_from_file_location("iceberg_maintenance", MAINTENANCE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
