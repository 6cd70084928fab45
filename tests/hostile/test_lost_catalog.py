"""A lost or damaged catalog (issue 14): `ateda ingest` refuses to start over a warehouse
that holds bronze tables the catalog no longer knows, creates nothing, and `ateda recover`
registers each table's latest metadata file so every committed row is back."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from ateda_testlib import ateda_bin, run_ingest
from bronze.readers import table_rows

RERUN_HINT = "re-run the same command to complete the ingest"


def candids(lakehouse: Path) -> list[int]:
    return [r["candid"] for r in table_rows(lakehouse, "alerts")]


def tree(root: Path) -> dict[str, int]:
    """Every file under root (relative path -> size)."""
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def recover(lakehouse: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ateda_bin()), "recover", "--lakehouse", str(lakehouse), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def ingested(tmp_path, packets) -> Path:
    """A lakehouse holding the first 20 real packets (two commits: 12 + 8)."""
    lh = tmp_path / "lh"
    first = run_ingest(lh, *packets[:12])
    assert first.code == 0, first.stderr
    second = run_ingest(lh, *packets[12:20])
    assert second.code == 0, second.stderr
    assert len(candids(lh)) == 20
    return lh


def assert_refused(run, lakehouse: Path, before: dict[str, int], what: str) -> None:
    assert run.code == 1, (run.stdout, run.stderr)
    err = run.stderr
    catalog, warehouse = lakehouse / "catalog.db", lakehouse / "warehouse"
    assert what in err
    assert str(catalog) in err and f"file://{warehouse}" in err
    assert "ateda recover --catalog" in err
    assert RERUN_HINT not in err  # a re-run cannot help here
    assert tree(lakehouse) == before  # nothing created, nothing changed


@pytest.mark.parametrize("damage", ["truncated", "deleted"])
def test_lost_catalog_is_refused_then_recovered(ingested, packets, damage):
    lh = ingested
    catalog = lh / "catalog.db"
    old = sorted(candids(lh))
    if damage == "truncated":
        catalog.write_bytes(b"")
    else:
        catalog.unlink()
    before = tree(lh)

    run = run_ingest(lh, *packets[20:])
    state = "is empty (0 bytes)" if damage == "truncated" else "is missing"
    assert_refused(run, lh, before, f"lost catalog: catalog sqlite:{catalog} {state}")
    assert "bronze.alerts (latest 00" in run.stderr
    assert not run.summary

    dry = recover(lh, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would register bronze.alerts" in dry.stdout
    assert tree(lh) == before

    rec = recover(lh)
    assert rec.returncode == 0, rec.stderr
    for table in ("alerts", "ingest_ledger"):
        assert f"registered bronze.{table}: file://{lh}/warehouse/bronze/{table}/metadata/" in (
            rec.stdout
        )
    assert "(snapshot " in rec.stdout and ", 20 rows)" in rec.stdout
    assert sorted(candids(lh)) == old
    assert len(table_rows(lh, "ingest_ledger")) == 20

    again = recover(lh)
    assert again.returncode == 0
    assert "already in the catalog" in again.stdout and "registered" not in again.stdout

    rest = run_ingest(lh, *packets)
    assert rest.code == 0, rest.stderr
    assert (rest.summary["ingested"], rest.summary["already_present"]) == (12, 20)
    ids = candids(lh)
    assert len(ids) == len(set(ids)) == 32


def test_garbage_catalog_file_is_refused_and_moved_aside_by_recover(ingested, packets):
    lh = ingested
    catalog = lh / "catalog.db"
    old = sorted(candids(lh))
    garbage = b"this is not a database\n" * 100
    catalog.write_bytes(garbage)
    before = tree(lh)

    run = run_ingest(lh, *packets[20:])
    assert_refused(run, lh, before, f"catalog file {catalog} is not a SQLite database")
    assert catalog.read_bytes() == garbage

    rec = recover(lh)
    assert rec.returncode == 0, rec.stderr
    assert "moved the damaged catalog file" in rec.stdout
    (aside,) = lh.glob("catalog.db.damaged-*")
    assert aside.read_bytes() == garbage
    assert sorted(candids(lh)) == old

    rest = run_ingest(lh, *packets)
    assert rest.code == 0, rest.stderr
    assert (rest.summary["ingested"], rest.summary["already_present"]) == (12, 20)
    assert len(set(candids(lh))) == 32


def test_catalog_that_lost_its_tables_is_refused(ingested, packets):
    """A readable catalog with the table rows gone (a reset catalog): refused before
    bootstrap creates a new, empty table over the old one."""
    lh = ingested
    con = sqlite3.connect(lh / "catalog.db")
    with con:
        con.execute("delete from iceberg_tables")
    con.close()
    before = tree(lh)
    run = run_ingest(lh, *packets[20:])
    assert_refused(run, lh, before, "has no table bronze.alerts")
    rec = recover(lh)
    assert rec.returncode == 0, rec.stderr
    assert len(candids(lh)) == 20


def test_new_lakehouse_and_healthy_catalog_are_not_refused(tmp_path, packets):
    lh = tmp_path / "fresh"
    assert run_ingest(lh, *packets[:3]).code == 0
    ok = recover(lh)
    assert ok.returncode == 0, ok.stderr
    assert "already in the catalog" in ok.stdout
    assert run_ingest(lh, *packets[3:5]).code == 0
    assert len(candids(lh)) == 5


def test_rerun_hint_only_where_a_rerun_helps(tmp_path, packets):
    missing = run_ingest(tmp_path / "lh", tmp_path / "no-such-night.tar.gz")
    assert missing.code == 1
    assert "no-such-night.tar.gz" in missing.stderr
    assert RERUN_HINT not in missing.stderr
