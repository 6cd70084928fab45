"""Independent readers of what `ateda ingest` wrote: pyiceberg, DuckDB, fastavro."""

from __future__ import annotations

import math
import sqlite3
import struct
import tempfile
from pathlib import Path

import duckdb
import fastavro
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog


def catalog(lakehouse: Path) -> SqlCatalog:
    return SqlCatalog(
        "ateda",
        uri=f"sqlite:///{lakehouse / 'catalog.db'}",
        warehouse=f"file://{lakehouse / 'warehouse'}",
    )


def table_rows(lakehouse: Path, name: str) -> list[dict]:
    return catalog(lakehouse).load_table(f"bronze.{name}").scan().to_arrow().to_pylist()


def metadata_location(lakehouse: Path, name: str) -> str:
    con = sqlite3.connect(lakehouse / "catalog.db")
    try:
        (loc,) = con.execute(
            "select metadata_location from iceberg_tables "
            "where catalog_name='ateda' and table_namespace='bronze' and table_name=?",
            (name,),
        ).fetchone()
    finally:
        con.close()
    return loc


def duckdb_connection() -> duckdb.DuckDBPyConnection:
    """DuckDB with the Iceberg extension installed offline from the pinned PyPI wheels."""
    from duckdb_extensions import import_extension

    ext_dir = Path(tempfile.gettempdir()) / "ateda-duckdb-extensions"
    con = duckdb.connect(
        config={"autoinstall_known_extensions": False, "extension_directory": str(ext_dir)}
    )
    for ext in ("avro", "iceberg"):  # avro first: iceberg needs it
        import_extension(ext, con=con)
        con.execute(f"LOAD {ext}")
    return con


def read_packets(path: Path) -> tuple[list[dict], dict]:
    with open(path, "rb") as fh:
        reader = fastavro.reader(fh)
        return list(reader), reader.writer_schema


def same_value(a, b, f32: bool = False) -> bool:
    """Bit-for-bit equality for floats (NaN included), plain equality otherwise."""
    if isinstance(a, float) and isinstance(b, float):
        if f32:
            return struct.pack("<f", a) == struct.pack("<f", b)
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    return a == b


def float32_fields(schema: pa.Schema) -> set[str]:
    """Dotted names of float32 fields (records nested in lists use `[]`)."""
    out: set[str] = set()

    def walk(t: pa.DataType, prefix: str) -> None:
        if pa.types.is_struct(t):
            for f in t:
                walk(f.type, f"{prefix}.{f.name}" if prefix else f.name)
        elif pa.types.is_list(t) or pa.types.is_large_list(t):
            walk(t.value_type, f"{prefix}[]")
        elif pa.types.is_float32(t):
            out.add(prefix)

    for f in schema:
        walk(f.type, f.name)
    return out


def compare_record(packet: dict, row, f32: set[str], path: str, diffs: list[str]) -> None:
    """Every packet field equals the bronze row's (floats bit for bit)."""
    for key, value in packet.items():
        name = f"{path}.{key}" if path else key
        got = row.get(key, "<missing column>")
        if isinstance(value, dict):
            compare_record(value, got, f32, name, diffs)
        elif isinstance(value, list):
            if not isinstance(got, list) or len(got) != len(value):
                diffs.append(f"{name}: list length {len(value)} vs {got!r:.80}")
                continue
            for i, (pv, rv) in enumerate(zip(value, got, strict=True)):
                if isinstance(pv, dict):
                    compare_record(pv, rv, f32, f"{name}[]", diffs)
                elif not same_value(pv, rv):
                    diffs.append(f"{name}[{i}]: {pv!r} != {rv!r}")
        elif not same_value(value, got, f32=name in f32):
            diffs.append(f"{name}: packet {value!r} != bronze {got!r}")
