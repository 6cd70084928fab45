"""Paths, the bronze catalog lookup and DuckDB's offline Iceberg extension.

Everything here is plain Python (no Dagster): the assets, the pipeline CLI, the report
and the tests share it.
"""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DBT_DIR = REPO / "dbt"
NIGHT_FILE = re.compile(r"^ztf_public_(\d{8})\.tar\.gz$")
NIGHT_DIR = re.compile(r"^(?:ztf_public_)?(\d{8})$")


@dataclass(frozen=True)
class Settings:
    """Where things are. Environment: ATEDA_LAKEHOUSE, ATEDA_LANDING, ATEDA_BIN and, for the
    cluster form, ATEDA_CATALOG / ATEDA_WAREHOUSE / ATEDA_CUTOUTS (the `ateda` CLI's own)."""

    lakehouse: Path
    # A local directory (Path) or an S3 prefix ("s3://bucket/prefix"): see landing.py.
    landing: Path | str
    ateda_bin: Path
    # Unset: the embedded default under `lakehouse` (catalog.db, warehouse/, cutouts/).
    # Set: `ateda ingest --catalog/--warehouse/--cutouts`; an http(s) catalog is an Iceberg
    # REST endpoint, read back by the checks through DuckDB's Iceberg REST attach.
    catalog: str | None = None
    warehouse: str | None = None
    cutouts: str | None = None

    @classmethod
    def from_env(cls, lakehouse: str | Path | None = None) -> Settings:
        lh = Path(lakehouse or os.environ.get("ATEDA_LAKEHOUSE") or REPO / "lakehouse")
        lh = lh.resolve()
        landing = landing_location(os.environ.get("ATEDA_LANDING") or lh / "landing")
        binary = Path(os.environ.get("ATEDA_BIN") or REPO / "target" / "release" / "ateda")
        return cls(
            lakehouse=lh,
            landing=landing,
            ateda_bin=binary.resolve(),
            catalog=os.environ.get("ATEDA_CATALOG") or None,
            warehouse=os.environ.get("ATEDA_WAREHOUSE") or None,
            cutouts=os.environ.get("ATEDA_CUTOUTS") or None,
        )

    @property
    def rest_catalog(self) -> bool:
        """True when bronze lives behind an Iceberg REST catalog (the cluster form)."""
        return bool(self.catalog) and self.catalog.startswith(("http://", "https://"))

    @property
    def landing_cache(self) -> Path:
        """Where tarballs fetched from an S3 landing wait for their ingest."""
        return self.lakehouse / ".landing-cache"

    @property
    def duckdb_path(self) -> Path:
        return self.lakehouse / "ateda.duckdb"

    @property
    def duckdb_extensions(self) -> Path:
        return Path(
            os.environ.get("ATEDA_DUCKDB_EXTENSIONS") or self.lakehouse / ".duckdb_extensions"
        )


def landing_location(value: str | Path) -> Path | str:
    """A landing location as given: `s3://…` kept as text, a directory made absolute."""
    text = str(value)
    return text if "://" in text else Path(text).resolve()


def night_of_file(name: str) -> date | None:
    """`ztf_public_20231012.tar.gz` (or a directory `ztf_public_20231012`/`20231012`) -> date."""
    m = NIGHT_FILE.match(name) or NIGHT_DIR.match(name)
    if not m:
        return None
    d = m.group(1)
    return date(int(d[:4]), int(d[4:6]), int(d[6:]))


def night_source(landing: Path, night: str) -> Path | None:
    """The landing source of a night ('YYYY-MM-DD'): the tarball, else a directory."""
    compact = night.replace("-", "")
    for candidate in (
        landing / f"ztf_public_{compact}.tar.gz",
        landing / f"ztf_public_{compact}",
        landing / compact,
    ):
        if candidate.exists():
            return candidate
    return None


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


def install_duckdb_extensions(directory: Path) -> Path:
    """Install DuckDB's avro + iceberg extensions from the pinned wheels into `directory`
    (httpfs, for the REST catalog's S3 files, is installed when first attached).

    Offline: the extension files come from the duckdb-extension-* PyPI packages; dbt's
    profile then loads them from this directory with autoinstall off.
    """
    import duckdb
    from duckdb_extensions import import_extension

    directory.mkdir(parents=True, exist_ok=True)
    version = duckdb.__version__
    marker = directory / f"v{version}" / ".ateda-installed"
    if marker.exists():
        return directory
    con = duckdb.connect(
        config={
            "extension_directory": str(directory),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )
    try:
        for ext in ("avro", "iceberg"):  # avro first: iceberg needs it
            import_extension(ext, con=con)
            con.execute(f"LOAD {ext}")
    finally:
        con.close()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return directory


def bronze_connection(settings: Settings):
    """In-memory DuckDB with the Iceberg extension and a `bronze_alerts` view.

    Embedded default: `iceberg_scan` of the metadata.json the SQLite catalog names. REST
    catalog: `ATTACH` of the catalog (httpfs for the S3 data files, credentials from AWS_*).
    """
    import duckdb

    ext = install_duckdb_extensions(settings.duckdb_extensions)
    con = duckdb.connect(
        config={
            "extension_directory": str(ext),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )
    for name in ("avro", "iceberg"):
        con.execute(f"LOAD {name}")
    if settings.rest_catalog:
        _attach_rest_catalog(con, settings)
        con.execute("create view bronze_alerts as select * from lake.bronze.alerts")
        return con
    loc = bronze_metadata_location(settings.lakehouse)
    con.execute(f"create view bronze_alerts as select * from iceberg_scan('{loc}')")
    return con


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


def dbt_vars(settings: Settings, night: str | None) -> dict:
    """The --vars of a dbt run. The duckdb target reads bronze from the metadata.json the
    SQLite catalog names; behind a REST catalog (cluster, starrocks target) dbt reads
    bronze through the warehouse's own Iceberg catalog and needs no location."""
    metadata = None if settings.rest_catalog else bronze_metadata_location(settings.lakehouse)
    return {
        "lakehouse": str(settings.lakehouse),
        "duckdb_extensions": str(settings.duckdb_extensions),
        "bronze_alerts_metadata": metadata,
        "night": night,
    }


@contextmanager
def duckdb_lock(
    settings: Settings, exclusive: bool = True, timeout_s: float = 6 * 3600
) -> Iterator[None]:
    """Serialize writers of `<lakehouse>/ateda.duckdb` across processes.

    DuckDB allows one writing process per file: two nights built at the same time (two
    sensor runs) would fail on its lock. Writers hold an exclusive flock on
    `<lakehouse>/.ateda-duckdb.lock`, readers (the report) a shared one.
    """
    settings.lakehouse.mkdir(parents=True, exist_ok=True)
    path = settings.lakehouse / ".ateda-duckdb.lock"
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    deadline = time.monotonic() + timeout_s
    with open(path, "a+") as fh:
        while True:
            try:
                fcntl.flock(fh, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{path} stayed locked for {timeout_s} s") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
