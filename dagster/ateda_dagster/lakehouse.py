"""The names scripts and tests import from `ateda_dagster.lakehouse`, each defined in the
module that does that one job (plain Python, no Dagster):

- settings: paths, `Settings` (environment), `IngestTuning`, `landing_location`
- nights: night names of landing files
- sqlite_catalog: the embedded SQLite catalog's metadata location
- duckdb_extensions: DuckDB's Iceberg extension, offline
- bronze_read: DuckDB connection reading bronze back (embedded or REST catalog)
- dbt_vars: the --vars of a dbt run
- locks: one writer of ateda.duckdb at a time
"""

from __future__ import annotations

from .bronze_read import NightCounts, bronze_connection, night_counts
from .dbt_vars import dbt_vars
from .duckdb_extensions import install_duckdb_extensions
from .locks import duckdb_lock
from .nights import night_of_file, night_source
from .settings import DBT_DIR, REPO, IngestTuning, Settings, landing_location
from .sqlite_catalog import bronze_metadata_location

__all__ = [
    "DBT_DIR",
    "REPO",
    "IngestTuning",
    "NightCounts",
    "Settings",
    "bronze_connection",
    "bronze_metadata_location",
    "dbt_vars",
    "duckdb_lock",
    "install_duckdb_extensions",
    "landing_location",
    "night_counts",
    "night_of_file",
    "night_source",
]
