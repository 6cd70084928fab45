"""Python baseline: the method of existing ZTF data-lake scripts.

Decode each alert file with fastavro, accumulate rows (stamps removed), write Parquet in
chunks with pyarrow, and write each stamp as its own file. One process, like the scripts
it stands for.

    python baseline_fastavro.py SRC_DIR OUT_DIR [--chunk 1000]

ZTF packets are Avro container files (stamps are records holding gzipped FITS, written as
`<candid>/<kind>.fits.gz`). Rubin packets are container files or Confluent wire format
(`0x00`, 4-byte big-endian schema id `major*100+minor`, the datum), decoded with the bundled
writer schema of that id (`crates/ateda-schema/schemas/lsst-M.m.avsc`); their stamps are
plain FITS bytes, written as `<diaSourceId>/<kind>.fits`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import struct
import time
from pathlib import Path

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMAS = Path(__file__).resolve().parents[2] / "crates" / "ateda-schema" / "schemas"
CUTOUTS = {
    "cutoutScience": "science",
    "cutoutTemplate": "template",
    "cutoutDifference": "difference",
}


def rubin_schema(schema_id: int, cache: dict[int, object]) -> object:
    """The bundled Rubin writer schema of a Confluent schema id, parsed once."""
    if schema_id not in cache:
        path = SCHEMAS / f"lsst-{schema_id // 100}.{schema_id % 100}.avsc"
        cache[schema_id] = fastavro.parse_schema(json.loads(path.read_text()))
    return cache[schema_id]


def records(path: Path, cache: dict[int, object]) -> list[dict]:
    """The alerts of one file: a container file, or one wire-format Rubin packet."""
    data = path.read_bytes()
    if data[:1] == b"\x00" and len(data) > 5:
        (schema_id,) = struct.unpack(">I", data[1:5])
        return [fastavro.schemaless_reader(io.BytesIO(data[5:]), rubin_schema(schema_id, cache))]
    return list(fastavro.reader(io.BytesIO(data)))


def key(rec: dict) -> int:
    """ZTF candid, Rubin diaSourceId (diaSource.diaSourceId for schemas 7.x)."""
    for k in ("candid", "diaSourceId"):
        if k in rec:
            return rec[k]
    return rec["diaSource"]["diaSourceId"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("src", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--chunk", type=int, default=1000)
    args = ap.parse_args()
    files = sorted(p for p in args.src.rglob("*.avro"))
    (args.out / "stamps").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows: list[dict] = []
    part = 0
    n = 0
    cache: dict[int, object] = {}

    def flush() -> None:
        nonlocal rows, part
        if rows:
            pq.write_table(pa.Table.from_pylist(rows), args.out / f"part-{part:05d}.parquet")
            part += 1
            rows = []

    for path in files:
        for rec in records(path, cache):
            stamp_dir = args.out / "stamps" / str(key(rec))
            stamp_dir.mkdir(exist_ok=True)
            for field, kind in CUTOUTS.items():
                cut = rec.pop(field, None)
                if isinstance(cut, dict):
                    (stamp_dir / f"{kind}.fits.gz").write_bytes(cut["stampData"])
                elif cut:
                    (stamp_dir / f"{kind}.fits").write_bytes(cut)
            rows.append(rec)
            n += 1
        if len(rows) >= args.chunk:
            flush()
    flush()
    elapsed = time.perf_counter() - started
    print(f"baseline: {n} alerts in {elapsed:.2f} s, {n / elapsed:.0f} alerts/s, pid {os.getpid()}")


if __name__ == "__main__":
    main()
