"""Dagster resources: where the lakehouse, the landing area and the ateda binary are."""

from dataclasses import replace
from pathlib import Path

import dagster as dg

from .lakehouse import Settings, landing_location


class AtedaResource(dg.ConfigurableResource):
    """Where things are. Unset fields fall back to the environment (ATEDA_LAKEHOUSE,
    ATEDA_LANDING, ATEDA_BIN; ATEDA_CATALOG/WAREHOUSE/CUTOUTS select the cluster form) and then to the repository defaults
    (`lakehouse/`, `lakehouse/landing/`, `target/release/ateda`). `landing` is a local
    directory or an S3 prefix `s3://bucket/prefix` (AWS_* environment for credentials)."""

    lakehouse: str | None = None
    landing: str | None = None
    ateda_bin: str | None = None
    # Ingest this path for every partition instead of looking in the landing area
    # (used by `python -m ateda_dagster.pipeline --night D --source PATH`).
    source: str | None = None

    def settings(self) -> Settings:
        base = Settings.from_env(self.lakehouse)
        return replace(
            base,
            landing=landing_location(self.landing) if self.landing else base.landing,
            ateda_bin=Path(self.ateda_bin).resolve() if self.ateda_bin else base.ateda_bin,
        )
