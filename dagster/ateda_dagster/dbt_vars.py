"""The `--vars` of a dbt run, from the settings."""

from __future__ import annotations

from .settings import Settings
from .sqlite_catalog import bronze_metadata_location


def dbt_vars(settings: Settings, night: str | None) -> dict:
    """The --vars of a dbt run. The duckdb target reads bronze from the metadata.json the
    SQLite catalog names; behind a REST catalog (cluster, starrocks target) dbt reads
    bronze through the warehouse's own Iceberg catalog and needs no location: its name
    (ATEDA_STARROCKS_CATALOG) is passed when set, else the dbt project's default holds."""
    metadata = None if settings.rest_catalog else bronze_metadata_location(settings.lakehouse)
    out = {
        "lakehouse": str(settings.lakehouse),
        "duckdb_extensions": str(settings.duckdb_extensions),
        "bronze_alerts_metadata": metadata,
        "night": night,
    }
    if settings.starrocks_catalog:
        out["starrocks_iceberg_catalog"] = settings.starrocks_catalog
    return out
