"""The file-system floor of a stamp store: create the same stamp tree with nothing else.

    python stamp_floor.py SRC_TREE DST_TREE [--threads N]

Copies every file of SRC_TREE (the cutouts an ingest wrote: one directory per alert,
three stamps in each) to DST_TREE with N threads (default: the core count), each file
created with O_EXCL as the ingest does. No decoding, no Parquet, no catalog: what is left
is the kernel creating directories and files, so an ingest that writes one object per
stamp cannot be faster than this on the same disk. The copy is parallel, unlike `cp -r`,
because the ingest writes stamps from several threads too.
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def copy_dir(src: Path, dst: Path) -> int:
    """Creates dst and copies the files directly under src into it; returns the count."""
    dst.mkdir(parents=True, exist_ok=True)
    n = 0
    for entry in os.scandir(src):
        if entry.is_file():
            data = Path(entry.path).read_bytes()
            with open(dst / entry.name, "xb") as fh:
                fh.write(data)
            n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    dirs = sorted({p.parent for p in args.src.rglob("*") if p.is_file()})
    with ThreadPoolExecutor(args.threads) as pool:
        files = sum(pool.map(lambda d: copy_dir(d, args.dst / d.relative_to(args.src)), dirs))
    print(f"stamp floor: {files} files in {len(dirs)} directories, {args.threads} threads")


if __name__ == "__main__":
    main()
