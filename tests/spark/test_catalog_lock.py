"""Found by the Spark tests: a reader that keeps a read transaction open on the embedded
SQLite catalog (Iceberg's JdbcCatalog in a Spark session does, see release_catalog in
test_spark_iceberg.py) made `ateda ingest` lose its commit without saying so: it waited
about 5 s per commit, printed `committed` and the summary, exited 0, and the catalog still
pointed at the old metadata (the rows were in no snapshot any reader saw).
iceberg-catalog-sql 0.10.1 ignores the answer to its COMMIT, which SQLite refuses busy;
ateda-lakehouse now reads the catalog row again after each write (src/recorded.rs).

The contract: with a lock held, the ingest either commits for real or fails (exit != 0).
Reproduced here with Python's sqlite3 holding the read transaction (no Spark needed)"""

from __future__ import annotations

import sqlite3
import subprocess

from ateda_testlib import ateda_bin, run_ingest


def current_metadata(lakehouse) -> str:
    con = sqlite3.connect(lakehouse / "catalog.db")
    try:
        (loc,) = con.execute(
            "select metadata_location from iceberg_tables where table_name = 'alerts'"
        ).fetchone()
        return loc
    finally:
        con.close()


def test_ingest_never_reports_a_lost_commit(tmp_path, packets):
    lakehouse = tmp_path / "lakehouse"
    assert run_ingest(lakehouse, packets[0]).code == 0
    # one commit attempt per table: the lock outlasts every retry, and Iceberg's default
    # (4 retries, backoff up to a minute, 5 s of SQLite busy wait each) takes ~3 min
    from pyiceberg.catalog.sql import SqlCatalog

    cat = SqlCatalog(
        "ateda",
        uri=f"sqlite:///{lakehouse}/catalog.db",
        warehouse=f"file://{lakehouse}/warehouse",
    )
    for name in ("alerts", "ingest_ledger", "quarantine"):
        with cat.load_table(f"bronze.{name}").transaction() as tx:
            tx.set_properties({"commit.retry.num-retries": "0"})
    cat.engine.dispose()
    before = current_metadata(lakehouse)
    night = tmp_path / "night"
    subprocess.run(
        [str(ateda_bin()), "gen", "--n", "3", "--night", "20231014", "--out", str(night)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    reader = sqlite3.connect(lakehouse / "catalog.db", isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("select count(*) from iceberg_tables").fetchone()  # SHARED lock held
        # no catalog retries: the lock outlasts them (~3 min with the default budget)
        run = run_ingest(lakehouse, night, extra=("--catalog-retry-secs", "0"))
    finally:
        reader.execute("COMMIT")
        reader.close()
    committed = current_metadata(lakehouse) != before
    # exit 0 only with the commit in the catalog; otherwise a failure exit
    assert (run.code == 0) == committed, (run.code, committed, run.stderr[-1500:])
