"""The embedded default's Iceberg SQL catalog (SQLite, catalog name `ateda`): where the
current metadata.json of a bronze table is."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def bronze_metadata_location(lakehouse: Path, table: str = "alerts") -> str:
    """Current metadata.json of `bronze.<table>`, from the SQLite catalog (catalog `ateda`)."""
    db = lakehouse / "catalog.db"
    if not db.exists():
        raise FileNotFoundError(f"no Iceberg catalog at {db}: ingest something first")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute(
            "select metadata_location from iceberg_tables where catalog_name = 'ateda' "
            "and table_namespace = 'bronze' and table_name = ?",
            (table,),
        ).fetchone()
    finally:
        con.close()
    if row is None:
        raise LookupError(f"bronze.{table} is not in {db}")
    return row[0]
