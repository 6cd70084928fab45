"""Reading bronze back with DuckDB: views `bronze_alerts` (ZTF) and `bronze_lsst_alerts`
(Rubin) over the embedded SQLite catalog's tables (iceberg_scan) or the cluster's Iceberg
REST catalog (ATTACH); a view exists when its table does."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .duckdb_extensions import EXTENSIONS, install_duckdb_extensions, offline_config
from .settings import Settings
from .sqlite_catalog import bronze_metadata_location

# Bronze tables per survey: (table, key column). One `ateda ingest` writes both.
BRONZE_TABLES = (("alerts", "candid"), ("lsst_alerts", "diaSourceId"))


def bronze_connection(settings: Settings):
    """In-memory DuckDB with the Iceberg extension and a view `bronze_<table>` for each
    bronze table that exists (`bronze_alerts`, `bronze_lsst_alerts`; `bronze_views(con)`
    lists them). LookupError when there is none.

    Embedded default: `iceberg_scan` of the metadata.json the SQLite catalog names. REST
    catalog: `ATTACH` of the catalog (httpfs for the S3 data files, credentials from AWS_*).
    """
    import duckdb

    ext = install_duckdb_extensions(settings.duckdb_extensions)
    con = duckdb.connect(config=offline_config(ext))
    views = []
    try:
        for name in EXTENSIONS:
            con.execute(f"LOAD {name}")
        if settings.rest_catalog:
            _attach_rest_catalog(con, settings)
        for table, _key in BRONZE_TABLES:
            try:
                if settings.rest_catalog:
                    con.execute(f"create view bronze_{table} as select * from lake.bronze.{table}")
                else:
                    loc = bronze_metadata_location(settings.lakehouse, table)
                    con.execute(
                        f"create view bronze_{table} as select * from iceberg_scan('{loc}')"
                    )
            except (LookupError, duckdb.CatalogException):
                continue  # no such table (yet)
            views.append(table)
        if not views:
            raise LookupError(f"no bronze table in {settings.catalog or settings.lakehouse}")
    except BaseException:
        con.close()
        raise
    return con


def bronze_views(con) -> tuple[str, ...]:
    """The bronze tables (`alerts`, `lsst_alerts`) a bronze_connection has views of."""
    names = {r[0] for r in con.execute("select view_name from duckdb_views()").fetchall()}
    return tuple(t for t, _ in BRONZE_TABLES if f"bronze_{t}" in names)


@dataclass(frozen=True)
class NightCounts:
    """Bronze rows of one night, over both surveys' tables (bronze.alerts and
    bronze.lsst_alerts: one ingest writes both)."""

    rows: int
    # Distinct keys (candid in bronze.alerts plus diaSourceId in bronze.lsst_alerts).
    distinct_candid: int
    # Of those, rows written by one ingest run (column ingest_run_id).
    run_rows: int = 0
    # Of `rows`, those of bronze.lsst_alerts (Rubin), and their distinct diaSourceIds.
    lsst_rows: int = 0
    lsst_distinct: int = 0

    @property
    def ztf_rows(self) -> int:
        return self.rows - self.lsst_rows


def night_counts(settings: Settings, night: str, run_id: str | None = None) -> NightCounts:
    """Rows, distinct keys and rows of ingest run `run_id` in night 'YYYY-MM-DD' (the
    bronze partition of each table: ZTF's UTC date, Rubin's dayObs)."""
    con = bronze_connection(settings)
    totals = {}
    try:
        for table, key in BRONZE_TABLES:
            if table not in bronze_views(con):
                totals[table] = (0, 0, 0)
                continue
            rows, distinct, run_rows = con.execute(
                f"select count(*), count(distinct {key}), "
                "count(*) filter (where ingest_run_id = ?) "
                f"from bronze_{table} where night = cast(? as date)",
                [run_id or "", night],
            ).fetchone()
            totals[table] = (int(rows), int(distinct), int(run_rows or 0))
    finally:
        con.close()
    rows, distinct, run_rows = (sum(v[i] for v in totals.values()) for i in range(3))
    lsst = totals["lsst_alerts"]
    return NightCounts(rows, distinct, run_rows, lsst[0], lsst[1])


def night_rows_if_any(settings: Settings, night: str) -> int:
    """Rows of the night, 0 when no bronze table exists yet (before a first ingest)."""
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
