"""Reading bronze back with DuckDB: a `bronze_alerts` view over the embedded SQLite
catalog's table (iceberg_scan) or the cluster's Iceberg REST catalog (ATTACH)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .duckdb_extensions import EXTENSIONS, install_duckdb_extensions, offline_config
from .settings import Settings
from .sqlite_catalog import bronze_metadata_location


def bronze_connection(settings: Settings):
    """In-memory DuckDB with the Iceberg extension and a `bronze_alerts` view.

    Embedded default: `iceberg_scan` of the metadata.json the SQLite catalog names. REST
    catalog: `ATTACH` of the catalog (httpfs for the S3 data files, credentials from AWS_*).
    """
    import duckdb

    ext = install_duckdb_extensions(settings.duckdb_extensions)
    con = duckdb.connect(config=offline_config(ext))
    try:
        for name in EXTENSIONS:
            con.execute(f"LOAD {name}")
        if settings.rest_catalog:
            _attach_rest_catalog(con, settings)
            con.execute("create view bronze_alerts as select * from lake.bronze.alerts")
        else:
            loc = bronze_metadata_location(settings.lakehouse)
            con.execute(f"create view bronze_alerts as select * from iceberg_scan('{loc}')")
    except BaseException:
        con.close()
        raise
    return con


@dataclass(frozen=True)
class NightCounts:
    """bronze.alerts rows of one night."""

    rows: int
    distinct_candid: int
    # Of those, rows written by one ingest run (column ingest_run_id).
    run_rows: int = 0


def night_counts(settings: Settings, night: str, run_id: str | None = None) -> NightCounts:
    """Rows, distinct candids and rows of ingest run `run_id` in night 'YYYY-MM-DD'."""
    con = bronze_connection(settings)
    try:
        rows, distinct, run_rows = con.execute(
            "select count(*), count(distinct candid), count(*) filter (where ingest_run_id = ?) "
            "from bronze_alerts where night = cast(? as date)",
            [run_id or "", night],
        ).fetchone()
    finally:
        con.close()
    return NightCounts(int(rows), int(distinct), int(run_rows or 0))


def night_rows_if_any(settings: Settings, night: str) -> int:
    """Rows of the night, 0 when bronze.alerts does not exist yet (before a first ingest)."""
    import duckdb

    if not settings.rest_catalog and not (settings.lakehouse / "catalog.db").exists():
        return 0
    try:
        return night_counts(settings, night).rows
    except (LookupError, duckdb.CatalogException):
        return 0  # no table (or namespace) yet


def _attach_rest_catalog(con, settings: Settings) -> None:
    """ATTACH the REST catalog as `lake`; S3 secret from the standard AWS_* variables."""
    from duckdb_extensions import import_extension

    import_extension("httpfs", con=con)
    con.execute("LOAD httpfs")
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    params = {
        "KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", ""),
        "SECRET": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        "REGION": os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1",
    }
    if endpoint:
        params["ENDPOINT"] = endpoint.split("://", 1)[-1].rstrip("/")
        params["URL_STYLE"] = "path"
        params["USE_SSL"] = not endpoint.startswith("http://")
    keys = ", ".join(f"{k} ?" for k in params)
    con.execute(f"CREATE SECRET ateda_s3 (TYPE s3, {keys})", list(params.values()))
    warehouse = (settings.warehouse or "").removeprefix("s3://").rstrip("/")
    # ATTACH takes no prepared parameters: literals, quotes doubled.
    con.execute(
        f"ATTACH {_sql_text(warehouse)} AS lake "
        f"(TYPE iceberg, ENDPOINT {_sql_text(settings.catalog or '')}, AUTHORIZATION_TYPE 'none')"
    )


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
