"""Where things are (lakehouse, landing, binary, cluster services) and how `ateda ingest`
is tuned: read from the environment, overridable by the Dagster resource."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DBT_DIR = REPO / "dbt"


@dataclass(frozen=True)
class IngestTuning:
    """`ateda ingest` tuning flags. None (the default) passes no flag, so the binary's own
    default applies: `ateda ingest --help` is the one home of those defaults."""

    commit_every: int | None = None
    workers: int | None = None
    chunk: int | None = None
    uploads: int | None = None
    catalog_retry_secs: int | None = None

    def flags(self) -> list[str]:
        """`--flag value` for every field that is set, none for the others."""
        out: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out += [tuning_flag(f.name), str(value)]
        return out


def tuning_flag(field_name: str) -> str:
    """The `ateda ingest` flag of an IngestTuning field: commit_every -> --commit-every."""
    return "--" + field_name.replace("_", "-")


@dataclass(frozen=True)
class Settings:
    """Where things are. Environment: ATEDA_LAKEHOUSE, ATEDA_LANDING, ATEDA_BIN and, for the
    cluster form, ATEDA_CATALOG / ATEDA_WAREHOUSE / ATEDA_CUTOUTS (the `ateda` CLI's own)
    and ATEDA_STARROCKS_CATALOG (dbt's starrocks target); ATEDA_CUTOUT_LAYOUT and
    ATEDA_PACK_SIZE choose how `ateda ingest` writes stamps (docs/cutouts.md)."""

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
    # StarRocks external catalog holding namespace `bronze` (dbt var
    # starrocks_iceberg_catalog); unset: the dbt project's own default.
    starrocks_catalog: str | None = None
    # `ateda ingest --cutout-layout per-stamp|packed` and `--pack-size BYTES`
    # (docs/cutouts.md). None: no flag is passed, the binary's own default applies.
    cutout_layout: str | None = None
    pack_size: int | None = None
    tuning: IngestTuning = IngestTuning()

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
            starrocks_catalog=os.environ.get("ATEDA_STARROCKS_CATALOG") or None,
            cutout_layout=os.environ.get("ATEDA_CUTOUT_LAYOUT") or None,
            pack_size=_int_or_none(os.environ.get("ATEDA_PACK_SIZE")),
        )

    def cutout_flags(self) -> list[str]:
        """`--cutout-layout L` and `--pack-size N` for those that are set, else nothing."""
        out: list[str] = []
        if self.cutout_layout:
            out += ["--cutout-layout", self.cutout_layout]
        if self.pack_size is not None:
            out += ["--pack-size", str(self.pack_size)]
        return out

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


def _int_or_none(value: str | None) -> int | None:
    """An integer environment value; None when unset or empty."""
    return int(value) if value and value.strip() else None


def landing_location(value: str | Path) -> Path | str:
    """A landing location as given: `s3://…` kept as text, a directory made absolute."""
    text = str(value)
    return text if "://" in text else Path(text).resolve()
