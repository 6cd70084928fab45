"""Dagster resources: where the lakehouse, the landing area and the ateda binary are, and
the `ateda ingest` tuning a deployment chooses (none by default)."""

from dataclasses import fields, replace
from pathlib import Path

import dagster as dg

from .settings import IngestTuning, Settings, landing_location


class AtedaResource(dg.ConfigurableResource):
    """Where things are. Unset fields fall back to the environment (ATEDA_LAKEHOUSE,
    ATEDA_LANDING, ATEDA_BIN; ATEDA_CATALOG/WAREHOUSE/CUTOUTS select the cluster form) and then to the repository defaults
    (`lakehouse/`, `lakehouse/landing/`, `target/release/ateda`). `landing` is a local
    directory or an S3 prefix `s3://bucket/prefix` (AWS_* environment for credentials).

    Tuning (`commit_every`, `workers`, `chunk`, `uploads`, `catalog_retry_secs`): the
    `ateda ingest` flag of the same name, passed only when set. The defaults live in the
    binary alone (`ateda ingest --help`).

    Cutouts (`cutout_layout`: per-stamp | packed, `pack_size`: bytes per pack): the
    `ateda ingest --cutout-layout/--pack-size` flags, passed when set here or in the
    environment (ATEDA_CUTOUT_LAYOUT, ATEDA_PACK_SIZE; docs/cutouts.md)."""

    lakehouse: str | None = None
    landing: str | None = None
    ateda_bin: str | None = None
    # Ingest this path for every partition instead of looking in the landing area
    # (used by `python -m ateda_dagster.pipeline --night D --source PATH`).
    source: str | None = None
    # `ateda ingest` tuning (--commit-every, --workers, --chunk, --uploads,
    # --catalog-retry-secs). None: no flag is passed, the binary's own default applies.
    commit_every: int | None = None
    workers: int | None = None
    chunk: int | None = None
    uploads: int | None = None
    catalog_retry_secs: int | None = None
    # `ateda ingest --cutout-layout`/`--pack-size`; None: ATEDA_CUTOUT_LAYOUT/ATEDA_PACK_SIZE
    # if set, else no flag (the binary's default, per-stamp).
    cutout_layout: str | None = None
    pack_size: int | None = None

    def tuning(self) -> IngestTuning:
        return IngestTuning(**{f.name: getattr(self, f.name) for f in fields(IngestTuning)})

    def settings(self) -> Settings:
        base = Settings.from_env(self.lakehouse)
        return replace(
            base,
            landing=landing_location(self.landing) if self.landing else base.landing,
            ateda_bin=Path(self.ateda_bin).resolve() if self.ateda_bin else base.ateda_bin,
            cutout_layout=self.cutout_layout or base.cutout_layout,
            pack_size=self.pack_size if self.pack_size is not None else base.pack_size,
            tuning=self.tuning(),
        )
