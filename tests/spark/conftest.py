"""Spark + Iceberg offline (docs/spark.md): ONE Spark session per pytest session, local[2],
small memory, its Iceberg catalog `ateda` on the SQLite catalog of one lakehouse that the
tests build (the catalog name is the Rust side's, and Spark catalogs are fixed per session).

The jars come from scripts/spark-env.sh (cached outside the repository); pyspark==3.5.5 is
in the venv (tests/requirements.txt)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sparklib import spark_env

# Wall time of the Spark tests, printed at the end of the run (CI budget: docs/spark.md).
TIMINGS: dict[str, float] = {}


def pytest_runtest_logreport(report):
    if "tests/spark/" in report.nodeid.replace("\\", "/"):
        TIMINGS["tests/spark"] = TIMINGS.get("tests/spark", 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in TIMINGS.items())
        terminalreporter.write_line(f"Spark + Iceberg time: {parts}")


@pytest.fixture(scope="session")
def spark_lakehouse(tmp_path_factory) -> Path:
    """The one lakehouse the session's Spark catalog `ateda` points at."""
    return tmp_path_factory.mktemp("spark") / "lakehouse"


@pytest.fixture(scope="session")
def spark(spark_lakehouse):
    started = time.monotonic()
    classpath = spark_env("classpath")
    libpath = spark_env("libpath")
    from pyspark.sql import SparkSession

    os.environ.setdefault("TZ", "UTC")  # Python-side timestamps of collect()
    spark_lakehouse.mkdir(parents=True, exist_ok=True)
    cat = "spark.sql.catalog.ateda"
    session = (
        SparkSession.builder.master("local[2]")
        .appName("ateda-tests")
        .config("spark.driver.memory", "1g")
        .config("spark.driver.extraClassPath", classpath)
        .config("spark.driver.extraJavaOptions", f"-Djava.library.path={libpath}")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config(
            "spark.sql.extensions",
            "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        )
        .config(cat, "org.apache.iceberg.spark.SparkCatalog")
        .config(f"{cat}.type", "jdbc")
        .config(f"{cat}.uri", f"jdbc:sqlite:{spark_lakehouse}/catalog.db")
        .config(f"{cat}.warehouse", f"file://{spark_lakehouse}/warehouse")
        # other writers (ateda, pyiceberg) commit between the tests' reads
        .config(f"{cat}.cache-enabled", "false")
        # one pooled JDBC connection: the xerial driver leaves a statement open (a read
        # transaction) on a connection it used, and SQLite then refuses a commit from the
        # pool's other connection (SQLITE_BUSY: rewrite_manifests failed that way in CI)
        .config(f"{cat}.clients", "1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    TIMINGS["session start"] = time.monotonic() - started
    yield session
    session.stop()
