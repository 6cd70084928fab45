"""The `--vars` of a dbt run, from the settings."""

from __future__ import annotations

from .settings import Settings
from .sqlite_catalog import bronze_metadata_location


def _location_if_any(settings: Settings, table: str) -> str | None:
    """Current metadata.json of bronze.<table>; None when the catalog lacks the table (a
    lakehouse that saw only ZTF, or only Rubin, alerts). No catalog at all is an error."""
    if settings.rest_catalog:
        return None
    try:
        return bronze_metadata_location(settings.lakehouse, table)
    except LookupError:
        return None


def dbt_vars(settings: Settings, night: str | None) -> dict:
    """The --vars of a dbt run. The duckdb target reads bronze from the metadata.json the
    SQLite catalog names for each survey's table (null for a table the lakehouse does not
    have: that survey's models build empty); behind a REST catalog (cluster, starrocks
    target) dbt reads bronze through the warehouse's own Iceberg catalog and needs no
    location: its name (ATEDA_STARROCKS_CATALOG) is passed when set, else the dbt
    project's default holds."""
    if not settings.rest_catalog and not (settings.lakehouse / "catalog.db").exists():
        bronze_metadata_location(settings.lakehouse)  # raises: nothing ingested yet
    out = {
        "lakehouse": str(settings.lakehouse),
        "duckdb_extensions": str(settings.duckdb_extensions),
        "bronze_alerts_metadata": _location_if_any(settings, "alerts"),
        "bronze_lsst_alerts_metadata": _location_if_any(settings, "lsst_alerts"),
        "night": night,
    }
    if settings.starrocks_catalog:
        out["starrocks_iceberg_catalog"] = settings.starrocks_catalog
    return out
