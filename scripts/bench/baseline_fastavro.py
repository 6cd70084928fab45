"""Python baseline: the method of existing ZTF data-lake scripts.

Decode each alert file with fastavro, accumulate rows (stamps removed), write Parquet in
chunks with pyarrow, and write each stamp as its own file. One process, like the scripts
it stands for.

    python baseline_fastavro.py SRC_DIR OUT_DIR [--chunk 1000]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq

CUTOUTS = {
    "cutoutScience": "science",
    "cutoutTemplate": "template",
    "cutoutDifference": "difference",
}


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

    def flush() -> None:
        nonlocal rows, part
        if rows:
            pq.write_table(pa.Table.from_pylist(rows), args.out / f"part-{part:05d}.parquet")
            part += 1
            rows = []

    for path in files:
        with open(path, "rb") as fh:
            for rec in fastavro.reader(fh):
                candid = rec["candid"]
                stamp_dir = args.out / "stamps" / str(candid)
                stamp_dir.mkdir(exist_ok=True)
                for field, kind in CUTOUTS.items():
                    cut = rec.pop(field)
                    if cut is not None:
                        (stamp_dir / f"{kind}.fits.gz").write_bytes(cut["stampData"])
                rows.append(rec)
                n += 1
        if len(rows) >= args.chunk:
            flush()
    flush()
    elapsed = time.perf_counter() - started
    print(f"baseline: {n} alerts in {elapsed:.2f} s, {n / elapsed:.0f} alerts/s, pid {os.getpid()}")


if __name__ == "__main__":
    main()
