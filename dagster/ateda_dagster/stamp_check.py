"""Asset check `stamps_readable` on silver/ztf_alert and silver/lsst_alert: a few rows of
the run's night that carry stamps are read back through `stamps.read_stamp` (their
`cutout_<kind>_uri` and, in the packed layout, `cutout_<kind>_offset`/`_length`), and each
stamp must be a FITS file (gzip-compressed for ZTF, as is for Rubin). Both cutout layouts
go through the one reader.

Silver is read where dbt built it: the DuckDB file `<lakehouse>/ateda.duckdb` (embedded
default, shared lock) or StarRocks (ATEDA_DBT_TARGET=starrocks; STARROCKS_HOST/PORT/USER/
PASSWORD as dbt's profile).
"""

import os
from dataclasses import dataclass, field
from datetime import date

import dagster as dg

from .locks import duckdb_lock
from .resources import AtedaResource
from .settings import Settings
from .stamps import StampError, fits_bytes, read_stamp

STAMPS_READABLE = "stamps_readable"
KINDS = ("science", "template", "difference")
# Rows sampled per check (env ATEDA_STAMP_CHECK_ROWS).
SAMPLE_ROWS = 5
# silver table -> its key column
SILVER_ALERTS = {"ztf_alert": "candid", "lsst_alert": "diaSourceId"}


def sample_rows() -> int:
    return max(1, int(os.environ.get("ATEDA_STAMP_CHECK_ROWS") or SAMPLE_ROWS))


def sample_query(table: str, key: str, night: str | None, rows: int) -> str:
    """The sample's SQL (one text for DuckDB and StarRocks): rows with a stamp, of the
    night when given, the first `rows` by key. `select *`: a silver table built before
    the byte-range columns existed is still read (its ranges count as null)."""
    where = "has_stamp"
    if night:
        where += f" and night = cast('{date.fromisoformat(night).isoformat()}' as date)"
    return f"select * from silver.{table} where {where} order by {key} limit {int(rows)}"


def silver_rows(settings: Settings, sql: str) -> list[dict]:
    """Rows of a silver query as dicts (column names lower case), from where dbt wrote
    silver: StarRocks when ATEDA_DBT_TARGET=starrocks, else the DuckDB file."""
    if os.environ.get("ATEDA_DBT_TARGET", "duckdb") == "starrocks":
        import mysql.connector

        con = mysql.connector.connect(
            host=os.environ.get("STARROCKS_HOST", "127.0.0.1"),
            port=int(os.environ.get("STARROCKS_PORT", "9030")),
            user=os.environ.get("STARROCKS_USER", "root"),
            password=os.environ.get("STARROCKS_PASSWORD", ""),
        )
        try:
            cur = con.cursor()
            cur.execute(sql)
            names = [d[0].lower() for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        finally:
            con.close()
    import duckdb

    with duckdb_lock(settings, exclusive=False):
        con = duckdb.connect(str(settings.duckdb_path), read_only=True)
        try:
            cur = con.execute(sql)
            names = [d[0].lower() for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        finally:
            con.close()


@dataclass
class StampReport:
    """What reading a sample's stamps found."""

    rows: int = 0
    stamps: int = 0
    ranged: int = 0  # stamps read as a byte range of their object (packed layout)
    bytes_read: int = 0
    problems: list[str] = field(default_factory=list)


def check_stamps(rows: list[dict], key: str) -> StampReport:
    """Read every stamp of `rows` (silver rows, lower-case column names) through
    read_stamp and check each is FITS (gzip or not)."""
    out = StampReport(rows=len(rows))
    for row in rows:
        for kind in KINDS:
            uri = row.get(f"cutout_{kind}_uri")
            if uri is None:
                continue
            offset = row.get(f"cutout_{kind}_offset")
            length = row.get(f"cutout_{kind}_length")
            out.stamps += 1
            out.ranged += offset is not None
            try:
                stamp = read_stamp(
                    uri,
                    None if offset is None else int(offset),
                    None if length is None else int(length),
                )
                fits_bytes(stamp)
                out.bytes_read += len(stamp)
            except StampError as e:
                out.problems.append(f"{key} {row.get(key.lower())} {kind}: {e}")
    return out


def run_check(context: dg.AssetCheckExecutionContext, ateda: AtedaResource, table: str):
    key = SILVER_ALERTS[table]
    night = context.op_execution_context.run.tags.get("dagster/partition")
    rows = silver_rows(ateda.settings(), sample_query(table, key, night, sample_rows()))
    report = check_stamps(rows, key)
    return dg.AssetCheckResult(
        passed=not report.problems,
        description="; ".join(report.problems[:5]) or None,
        metadata={
            "night": night or "every night",
            "rows_sampled": report.rows,
            "stamps_read": report.stamps,
            "stamps_in_packs": report.ranged,
            "bytes_read": report.bytes_read,
            "problems": len(report.problems),
        },
    )


DESCRIPTION = (
    "A few rows of the night with stamps (the first {n} by {key}): each stamp is read "
    "from cutout_<kind>_uri (bytes [cutout_<kind>_offset, +cutout_<kind>_length) in the "
    "packed layout, else the whole object) and must be a FITS file (gzip for ZTF)."
)


@dg.asset_check(
    asset=dg.AssetKey(["silver", "ztf_alert"]),
    name=STAMPS_READABLE,
    description=DESCRIPTION.format(n=SAMPLE_ROWS, key="candid"),
    blocking=False,
)
def ztf_alert_stamps_readable(context: dg.AssetCheckExecutionContext, ateda: AtedaResource):
    return run_check(context, ateda, "ztf_alert")


@dg.asset_check(
    asset=dg.AssetKey(["silver", "lsst_alert"]),
    name=STAMPS_READABLE,
    description=DESCRIPTION.format(n=SAMPLE_ROWS, key="diaSourceId"),
    blocking=False,
)
def lsst_alert_stamps_readable(context: dg.AssetCheckExecutionContext, ateda: AtedaResource):
    return run_check(context, ateda, "lsst_alert")


STAMP_CHECKS = [ztf_alert_stamps_readable, lsst_alert_stamps_readable]
