"""Spark 3.5 + Iceberg 1.10 on the embedded lakehouse, for real (issue 19, docs/spark.md).

One lakehouse for the module, built as users build it:
1. `ateda ingest` of two thirds of the real ZTF packets (and the Rubin samples) in commits
   of 2 alerts: many small data files (one per night per commit);
2. `dbt build` (DuckDB target) of silver and gold; the embedded default keeps those in
   DuckDB, so each table is published into the same Iceberg SQLite catalog (namespaces
   `silver`, `gold`) with pyiceberg, for Spark to read through that catalog;
3. Spark (JdbcCatalog `ateda` on `catalog.db`) reads every bronze, silver and gold table and
   gets the same rows and values as pyiceberg (and, for silver/gold, as DuckDB);
4. `deploy/spark/iceberg_maintenance.py` (the script the cluster's ScheduledSparkApplication
   runs) compacts, rewrites manifests and expires snapshots: fewer files, same rows;
5. `ateda ingest` of every packet again: only the remaining third is new (the compacted
   files written by Spark are looked up like ateda's own), and Spark and pyiceberg agree.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import shutil
import sys
import time
import zipfile
from pathlib import Path

import duckdb
import pytest
import yaml
from pyiceberg.catalog.sql import SqlCatalog
from sparklib import load_maintenance, release_catalog, spark_env

from ateda_testlib import DATA, REPO, run_ingest

sys.path.insert(0, str(REPO / "dagster"))

from ateda_dagster.lakehouse import Settings  # noqa: E402
from ateda_dagster.pipeline import dbt_build  # noqa: E402

LSST = REPO / "tests" / "data" / "lsst"
SMALL = ("--commit-every", "2", "--chunk", "2", "--workers", "1")
BRONZE_KEYS = {"alerts": "candid", "lsst_alerts": "diaSourceId"}


# --- comparing rows across readers ----------------------------------------------------


def norm(v):
    """One representation for what Spark, pyarrow and DuckDB hand to Python."""
    if hasattr(v, "asDict"):
        v = v.asDict(recursive=True)
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [norm(x) for x in v]
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(v, bytearray | memoryview):
        return bytes(v)
    return v


def canonical(rows: list[dict]) -> list[dict]:
    rows = [norm(r) for r in rows]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def spark_rows(spark, table: str) -> list[dict]:
    return [r.asDict(recursive=True) for r in spark.table(f"ateda.{table}").collect()]


def iceberg_rows(catalog: SqlCatalog, table: str) -> list[dict]:
    return catalog.load_table(table).scan().to_arrow().to_pylist()


def parquet_rows(catalog: SqlCatalog, table: str) -> list[dict]:
    """The table's live data files read directly with pyarrow (no Iceberg reader)."""
    import pyarrow.parquet as pq

    rows = []
    for path in catalog.load_table(table).inspect.files()["file_path"].to_pylist():
        rows += pq.ParquetFile(local_path(path)).read().to_pylist()
    return rows


def local_path(uri: str) -> Path:
    return Path(re.sub(r"^file:/+", "/", uri))


def empty_lists_as_null(rows: list[dict]) -> list[dict]:
    """pyiceberg 0.12 reads a null list column as an empty list (e.g. `fp_hists` of ZTF 3.x
    packets, `prvDiaSources` of Rubin alerts without history: null in the Parquet files,
    null to Spark and pyarrow). For the Spark/pyiceberg comparison both sides map a
    top-level [] to null; Spark is compared with the files themselves exactly."""
    return [{k: (None if v == [] else v) for k, v in r.items()} for r in rows]


def assert_bronze_readers_agree(spark, catalog: SqlCatalog, table: str) -> list[dict]:
    got = spark_rows(spark, table)
    assert_same(got, parquet_rows(catalog, table), f"{table} spark/parquet files")
    assert_same(
        empty_lists_as_null(got),
        empty_lists_as_null(iceberg_rows(catalog, table)),
        f"{table} spark/pyiceberg",
    )
    return got


def assert_same(a: list[dict], b: list[dict], what: str) -> None:
    assert len(a) == len(b), (what, len(a), len(b))
    ca, cb = canonical(a), canonical(b)
    for x, y in zip(ca, cb, strict=True):
        assert x == y, (what, {k: (x[k], y.get(k)) for k in x if x[k] != y.get(k)})


# --- the lakehouse -------------------------------------------------------------------


def pyiceberg_catalog(lakehouse: Path) -> SqlCatalog:
    return SqlCatalog(
        "ateda",
        uri=f"sqlite:///{lakehouse}/catalog.db",
        warehouse=f"file://{lakehouse}/warehouse",
    )


def data_files(catalog: SqlCatalog, table: str) -> int:
    return len(catalog.load_table(table).inspect.files())


@pytest.fixture(scope="module")
def lake(spark, spark_lakehouse, tmp_path_factory):
    # Spark has not used its catalog yet (no connection open); `ateda ingest` creates the
    # catalog tables first (Iceberg's JdbcCatalog would create them without the
    # `iceberg_type` column that iceberg-rust's SQL catalog reads).
    started = time.monotonic()
    packets = sorted(DATA.glob("v*/*.avro"))
    assert len(packets) == 32
    first = tmp_path_factory.mktemp("first-two-thirds")
    for i, p in enumerate(packets):
        if i % 3:
            shutil.copy(p, first / p.name)
    run = run_ingest(spark_lakehouse, first, LSST, extra=SMALL)
    assert run.code in (0, 2), run.stderr[-2000:]  # the Rubin samples quarantine on purpose
    assert run.summary["tables"]["alerts"]["rows"] == 21
    lsst_rows = run.summary["tables"]["lsst_alerts"]["rows"]
    assert lsst_rows >= 1
    settings = Settings(
        lakehouse=spark_lakehouse, landing=spark_lakehouse / "landing", ateda_bin=Path("x")
    )
    dbt_started = time.monotonic()
    assert dbt_build(settings, None, ["--quiet"]) == 0
    dbt_s = time.monotonic() - dbt_started
    catalog = pyiceberg_catalog(spark_lakehouse)
    published = publish_silver_gold(settings.duckdb_path, catalog)
    print(
        f"\nlakehouse for Spark: {data_files(catalog, 'bronze.alerts')} bronze.alerts data files, "
        f"{len(published)} silver/gold tables published; dbt build {dbt_s:.1f} s, "
        f"setup {time.monotonic() - started:.1f} s"
    )
    return {
        "path": spark_lakehouse,
        "catalog": catalog,
        "packets": packets,
        "published": published,
        "duckdb": settings.duckdb_path,
        "lsst_rows": lsst_rows,
    }


def publish_silver_gold(duckdb_path: Path, catalog: SqlCatalog) -> list[str]:
    """Every silver and gold table of dbt's DuckDB file, copied into the Iceberg catalog
    (same namespace.table) with pyiceberg."""
    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        tables = con.sql(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema in ('silver', 'gold') and table_type = 'BASE TABLE' order by 1"
        ).fetchall()
        names = [t for (t,) in tables]
        for ns in ("silver", "gold"):
            catalog.create_namespace_if_not_exists(ns)
        for name in names:
            arrow = con.sql(f"select * from {name}").to_arrow_table()
            table = catalog.create_table(name, schema=arrow.schema)
            table.append(arrow)
    finally:
        con.close()
    assert {n.split(".")[0] for n in names} == {"silver", "gold"}, names
    return names


def duckdb_rows(duckdb_path: Path, table: str) -> list[dict]:
    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        return con.sql(f"select * from {table}").to_arrow_table().to_pylist()
    finally:
        con.close()


# --- the tests --------------------------------------------------------------------------


def test_iceberg_version_is_the_clusters():
    """The runtime the tests run is the Iceberg the cluster's Spark jobs load
    (charts/ateda-platform maintenance.icebergVersion)."""
    jar = Path(spark_env("classpath").split(":")[0])
    with zipfile.ZipFile(jar) as z:
        props = dict(
            line.split("=", 1)
            for line in z.read("iceberg-build.properties").decode().splitlines()
            if "=" in line
        )
    values = yaml.safe_load((REPO / "charts" / "ateda-platform" / "values.yaml").read_text())
    assert props["git.build.version"] == values["maintenance"]["icebergVersion"] == "1.10.2"
    assert values["maintenance"]["sparkVersion"].startswith("3.5.")


def test_spark_reads_bronze_like_pyiceberg(spark, lake):
    catalog = lake["catalog"]
    tables = {r.tableName for r in spark.sql("SHOW TABLES IN ateda.bronze").collect()}
    assert tables == {"alerts", "lsst_alerts", "ingest_ledger", "quarantine"}
    for table in ("alerts", "lsst_alerts", "ingest_ledger", "quarantine"):
        got = assert_bronze_readers_agree(spark, catalog, f"bronze.{table}")
        if table in BRONZE_KEYS:
            key = BRONZE_KEYS[table]
            assert len({r[key] for r in got}) == len(got)
    alerts = spark_rows(spark, "bronze.alerts")
    assert len(alerts) == 21
    # null (not empty) forced photometry for 3.x packets, as written (bronze contract)
    v3 = [r for r in alerts if r["schemavsn"].startswith("3.")]
    assert v3 and all(r["fp_hists"] is None for r in v3)
    assert len(spark_rows(spark, "bronze.lsst_alerts")) == lake["lsst_rows"]
    # nested values, e.g. the previous detections, came through whole
    assert sum(len(r["prv_candidates"] or []) for r in alerts) > 0
    night = spark.sql(
        "SELECT night, count(*) AS n FROM ateda.bronze.alerts GROUP BY night ORDER BY night"
    ).collect()
    assert sum(r.n for r in night) == 21


def test_spark_reads_silver_gold_like_pyiceberg_and_duckdb(spark, lake):
    assert {"gold.object", "gold.magstat", "gold.nightly_stats", "silver.detection"} <= set(
        lake["published"]
    )
    for name in lake["published"]:
        got = spark_rows(spark, name)
        assert_same(got, iceberg_rows(lake["catalog"], name), f"{name} spark/pyiceberg")
        assert_same(got, duckdb_rows(lake["duckdb"], name), f"{name} spark/duckdb")
    objects = spark.sql("SELECT count(*) AS n FROM ateda.gold.object").collect()[0].n
    assert objects > 0


@pytest.fixture(scope="module")
def maintained(spark, lake):
    """deploy/spark/iceberg_maintenance.py over every bronze table, as the cluster runs it,
    with a reference time 8 days ahead so that every snapshot but the last is expired."""
    catalog = lake["catalog"]
    before = {
        "files": data_files(catalog, "bronze.alerts"),
        "snapshots": len(catalog.load_table("bronze.alerts").snapshots()),
        "manifests": len(catalog.load_table("bronze.alerts").inspect.manifests()),
        "rows": spark_rows(spark, "bronze.alerts"),
        "lsst": spark_rows(spark, "bronze.lsst_alerts"),
    }
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=8)
    started = time.monotonic()
    code = load_maintenance().main(
        [
            "--now",
            now.isoformat(timespec="seconds"),
            "--recent-nights",
            "0",
            "--retain-last",
            "1",
            "--expire-older-than-days",
            "7",
            "--orphan-older-than-days",
            "10",
        ]
    )
    print(f"\niceberg_maintenance.py: exit {code} in {time.monotonic() - started:.1f} s")
    assert code == 0
    assert spark.sparkContext._jsc is not None  # the test's session is still running
    return before


def test_maintenance_compacts_and_keeps_rows(spark, lake, maintained):
    catalog = lake["catalog"]
    table = catalog.load_table("bronze.alerts")
    files_after = data_files(catalog, "bronze.alerts")
    nights = len({r["night"] for r in maintained["rows"]})
    assert maintained["files"] >= 10, maintained["files"]  # many small files before
    assert files_after == nights < maintained["files"]  # one file per night after
    assert maintained["snapshots"] >= 10 and len(table.snapshots()) == 1
    assert len(table.inspect.manifests()) < maintained["manifests"]
    assert table.current_snapshot().summary.operation.value == "replace"
    for name, before in (("alerts", maintained["rows"]), ("lsst_alerts", maintained["lsst"])):
        after = assert_bronze_readers_agree(spark, catalog, f"bronze.{name}")
        assert_same(after, before, f"bronze.{name} before/after maintenance")
    # expired snapshots' files are gone from disk, the live ones are there
    live = {local_path(f) for f in table.inspect.files()["file_path"].to_pylist()}
    on_disk = set((lake["path"] / "warehouse" / "bronze" / "alerts" / "data").rglob("*.parquet"))
    assert live == on_disk


def test_ateda_appends_after_maintenance_and_readers_agree(spark, lake, maintained):
    catalog = lake["catalog"]
    release_catalog(spark)
    run = run_ingest(lake["path"], DATA)
    assert run.code == 0, run.stderr[-2000:]
    # the third not ingested before is new; what Spark compacted is found, not duplicated
    assert run.summary["ingested"] == 11 and run.summary["already_present"] == 21, run.summary
    got = assert_bronze_readers_agree(spark, catalog, "bronze.alerts")
    assert len(got) == 32 and len({r["candid"] for r in got}) == 32
    # the rows from before maintenance are unchanged
    old = {r["candid"] for r in maintained["rows"]}
    assert_same([r for r in got if r["candid"] in old], maintained["rows"], "old rows")
    count = spark.sql("SELECT count(DISTINCT candid) AS n FROM ateda.bronze.alerts").collect()
    assert count[0].n == 32
