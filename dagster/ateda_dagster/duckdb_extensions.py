"""DuckDB's avro + iceberg extensions, installed offline from the pinned wheels."""

from __future__ import annotations

from pathlib import Path

# Extensions loaded by every ateda DuckDB connection (avro first: iceberg needs it).
EXTENSIONS = ("avro", "iceberg")


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
    con = duckdb.connect(config=offline_config(directory))
    try:
        for ext in EXTENSIONS:
            import_extension(ext, con=con)
            con.execute(f"LOAD {ext}")
    finally:
        con.close()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return directory


def offline_config(directory: Path) -> dict:
    """DuckDB connection config: extensions from `directory` only, nothing downloaded."""
    return {
        "extension_directory": str(directory),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
