"""Hostile input, memory (issue 14): every input stays under a bounded memory.

Each case is generated at test time (small files; gzip members of zeros and sparse files
stand in for huge inputs) and ingested by the real binary under an address-space cap
(`prlimit --as`), so a regression fails here instead of exhausting the machine. Each
checks the exit code, the quarantine row, that the good packets beside it were ingested,
and the peak RSS of the process (from its rusage)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import time
import zlib
from pathlib import Path

import fastavro
import pytest

from ateda_testlib import IngestRun, ateda_bin
from bronze.readers import read_packets, table_rows

GiB = 1 << 30
MiB = 1 << 20
# Address-space cap for every run. A normal ingest with two workers maps ~2.2 GB of
# virtual memory (allocator arenas, thread stacks, zstd contexts; it fails under 1.5 GiB)
# but touches under 200 MB; any hostile input held whole (2 GiB and more) goes past 3 GiB.
AS_CAP = 3 * GiB
RSS_CAP = GiB  # the requirement: peak RSS under 1 GiB for every case
CHUNK = 64 * MiB


@functools.cache
def zeros_gz() -> bytes:
    """One gzip member of CHUNK zero bytes (~64 KB): repeated, a stream of many GiB."""
    return gzip.compress(bytes(CHUNK), compresslevel=9)


def zeros_sha256(size: int) -> str:
    h = hashlib.sha256()
    block = bytes(CHUNK)
    for _ in range(size // CHUNK):
        h.update(block)
    h.update(bytes(size % CHUNK))
    return h.hexdigest()


def tar_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 1_700_000_000
    return info.tobuf(format=tarfile.GNU_FORMAT)


def pad(size: int) -> bytes:
    return bytes(-size % 512)


class TarGz:
    """A .tar.gz written as concatenated gzip members (read back as one stream)."""

    def __init__(self, path: Path):
        self.path = path
        self.fh = open(path, "wb")

    def member(self, name: str, data: bytes) -> None:
        self.fh.write(gzip.compress(tar_header(name, len(data)) + data + pad(len(data)), 1))

    def zeros(self, name: str, size: int) -> None:
        assert size % CHUNK == 0
        self.fh.write(gzip.compress(tar_header(name, size), 1))
        for _ in range(size // CHUNK):
            self.fh.write(zeros_gz())

    def close(self) -> Path:
        self.fh.write(gzip.compress(bytes(1024), 1))
        self.fh.close()
        return self.path


def run_capped(
    lakehouse: Path, *sources: Path, extra: tuple[str, ...] = ()
) -> tuple[IngestRun, int]:
    """`ateda ingest` under `prlimit --as=AS_CAP`; returns the run and its peak RSS (bytes),
    measured by /usr/bin/time (a small parent: a child's maxrss starts at its parent's RSS
    at fork, so measuring from this Python process would report pytest's own size)."""
    summary = lakehouse.parent / f"{lakehouse.name}-summary.json"
    rss_file = lakehouse.parent / f"{lakehouse.name}.maxrss"
    cmd = [
        "/usr/bin/time",
        "-f",
        "%M",
        "-o",
        str(rss_file),
        "prlimit",
        f"--as={AS_CAP}",
        "--",
        str(ateda_bin()),
        "ingest",
        "--lakehouse",
        str(lakehouse),
        "--summary-json",
        str(summary),
        "--workers",
        "2",
        *extra,
        *map(str, sources),
    ]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "RUST_LOG": "info"},
        check=False,
    )
    data = json.loads(summary.read_text()) if summary.exists() else {}
    rss_kib = int(rss_file.read_text().split()[-1])
    return IngestRun(proc.returncode, proc.stdout, proc.stderr, data), rss_kib * 1024


def quarantine_rows(lh: Path) -> dict[str, dict]:
    return {r["source"].split("!")[-1].rsplit("/", 1)[-1]: r for r in table_rows(lh, "quarantine")}


def kept_bytes(row: dict) -> bytes:
    return Path(row["quarantine_uri"].removeprefix("file://")).read_bytes()


def candids(lh: Path) -> set[int]:
    return {r["candid"] for r in table_rows(lh, "alerts")}


def good(packets: list[Path], n: int) -> list[tuple[str, bytes, int]]:
    out = []
    for p in packets[:n]:
        (rec,), _ = read_packets(p)
        out.append((p.name, p.read_bytes(), rec["candid"]))
    return out


def assert_bounded(run: IngestRun, rss: int) -> None:
    assert rss < RSS_CAP, f"peak RSS {rss / MiB:.0f} MiB"
    assert "memory allocation" not in run.stderr and run.code != 101, run.stderr[-2000:]


def oversized_member_case(tmp_path: Path, packets: list[Path], size: int, check_sha: bool) -> None:
    goods = good(packets, 2)
    tb = TarGz(tmp_path / "ztf_public_20231012.tar.gz")
    tb.member(*goods[0][:2])
    tb.zeros("huge.avro", size)
    tb.member(*goods[1][:2])  # the good member after the huge one is read
    path = tb.close()
    assert path.stat().st_size < size / 100
    lh = tmp_path / "lh"
    run, rss = run_capped(lh, path)
    assert_bounded(run, rss)
    assert run.code == 2, run.stderr[-2000:]
    assert (run.summary["ingested"], run.summary["quarantined"]) == (2, 1)
    assert run.summary["oversized_members"] == 1
    assert candids(lh) == {g[2] for g in goods}
    row = quarantine_rows(lh)["huge.avro"]
    assert f"member of {size} bytes" in row["reason"], row["reason"]
    assert "--max-member-bytes" in row["reason"]
    if check_sha:
        assert zeros_sha256(size) in row["reason"]
    assert kept_bytes(row) == bytes(16 * MiB)  # the first 16 MiB, kept
    assert row["size_bytes"] == 16 * MiB
    print(f"oversized {size / GiB:.0f} GiB member: peak RSS {rss / MiB:.0f} MiB")


def test_member_inflating_to_2_gib_is_quarantined_with_its_hash(tmp_path, packets):
    oversized_member_case(tmp_path, packets, 2 * GiB, check_sha=True)


def test_member_of_10_gib_is_skipped_and_the_next_is_read(tmp_path, packets):
    oversized_member_case(tmp_path, packets, 10 * GiB, check_sha=False)


def test_huge_sparse_avro_file(tmp_path, packets):
    huge = tmp_path / "huge.avro"
    with open(huge, "wb") as fh:
        fh.write(b"Obj\x01")
        fh.truncate(4 * GiB)  # sparse: no disk used
    (name, data, candid) = good(packets, 1)[0]
    (tmp_path / name).write_bytes(data)
    lh = tmp_path / "lh"
    run, rss = run_capped(lh, huge, tmp_path / name)
    assert_bounded(run, rss)
    assert run.code == 2
    assert candids(lh) == {candid}
    row = quarantine_rows(lh)["huge.avro"]
    assert f"member of {4 * GiB} bytes" in row["reason"], row["reason"]
    kept = kept_bytes(row)
    assert len(kept) == 16 * MiB and kept[:4] == b"Obj\x01"
    print(f"4 GiB sparse .avro: peak RSS {rss / MiB:.0f} MiB")


def avro_long(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b = z & 0x7F
        z >>= 7
        if z == 0:
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def avro_bytes(b: bytes) -> bytes:
    return avro_long(len(b)) + b


def container(schema: dict, codec: bytes, blocks: list[tuple[int, bytes]]) -> bytes:
    sync = bytes(range(16))
    out = b"Obj\x01" + avro_long(2)
    out += avro_bytes(b"avro.schema") + avro_bytes(json.dumps(schema).encode())
    out += avro_bytes(b"avro.codec") + avro_bytes(codec)
    out += avro_long(0) + sync
    for count, data in blocks:
        out += avro_long(count) + avro_bytes(data) + sync
    return out


def test_deflate_bomb_container(tmp_path, packets):
    _, schema = read_packets(packets[0])
    # a position-independent raw deflate segment of 64 MiB of zeros, repeated: 2 GiB
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = c.compress(bytes(CHUNK)) + c.flush(zlib.Z_FULL_FLUSH)
    bomb = segment * (2 * GiB // CHUNK) + b"\x03\x00"
    assert len(zlib.decompress(segment * 2 + b"\x03\x00", -15)) == 2 * CHUNK
    data = container(schema, b"deflate", [(1, bomb)])
    assert len(data) < 3 * MiB
    (tmp_path / "bomb.avro").write_bytes(data)
    (name, packet, candid) = good(packets, 1)[0]
    (tmp_path / name).write_bytes(packet)
    lh = tmp_path / "lh"
    run, rss = run_capped(lh, tmp_path / "bomb.avro", tmp_path / name)
    assert_bounded(run, rss)
    assert run.code == 2
    assert candids(lh) == {candid}
    row = quarantine_rows(lh)["bomb.avro"]
    assert "--max-inflated-bytes" in row["reason"], row["reason"]
    assert kept_bytes(row) == data
    print(f"deflate bomb (2 GiB inflated): peak RSS {rss / MiB:.0f} MiB")


def null_array_packet(packet: Path, items: int) -> bytes:
    """A valid packet whose prv_candidates holds `items` records with no fields: each takes
    no input bytes and becomes an element of nulls (every column the writer lacks)."""
    (rec,), schema = read_packets(packet)
    empty = {"type": "record", "name": "empty_prv_candidate", "fields": []}
    for f in schema["fields"]:
        if f["name"] == "prv_candidates":
            f["type"] = ["null", {"type": "array", "items": empty}]
    rec = dict(rec, prv_candidates=[{}] * items)
    buf = io.BytesIO()
    fastavro.writer(buf, fastavro.parse_schema(schema), [rec])
    return buf.getvalue()


def test_array_of_millions_of_nulls(tmp_path, packets):
    v4 = [p for p in packets if "/v4/" in str(p)]
    bad = null_array_packet(v4[0], 5_000_000)
    assert len(bad) < 400_000
    (tmp_path / "nulls.avro").write_bytes(bad)
    (name, packet, candid) = good(v4[1:], 1)[0]
    (tmp_path / name).write_bytes(packet)
    lh = tmp_path / "lh"
    started = time.monotonic()
    run, rss = run_capped(lh, tmp_path / "nulls.avro", tmp_path / name)
    elapsed = time.monotonic() - started
    assert_bounded(run, rss)
    assert run.code == 2, run.stderr[-2000:]
    assert candids(lh) == {candid}
    row = quarantine_rows(lh)["nulls.avro"]
    assert "--max-array-items" in row["reason"], row["reason"]
    # the same packet with its array within the cap is ingested
    ok = null_array_packet(v4[0], 1000)
    (tmp_path / "few-nulls.avro").write_bytes(ok)
    again, _ = run_capped(tmp_path / "lh2", tmp_path / "few-nulls.avro")
    assert again.code == 0, again.stderr[-2000:]
    assert again.summary["ingested"] == 1
    print(f"5M-null array: peak RSS {rss / MiB:.0f} MiB, {elapsed:.1f} s")


def test_thousand_distinct_writer_schemas(tmp_path, packets):
    """1000 packets, each with its own writer schema text: the schema cache stays bounded."""
    v4 = [p for p in packets if "/v4/" in str(p)]
    (rec,), schema = read_packets(v4[0])
    parsed = fastavro.parse_schema(schema)
    tar_path = tmp_path / "schemas.tar"
    ids = set()
    with tarfile.open(tar_path, "w") as tar:
        for i in range(1000):
            rec = dict(rec, candid=4_000_000_000_000_000_000 + i)
            rec["candidate"] = dict(rec["candidate"], candid=rec["candid"])
            body = io.BytesIO()
            fastavro.schemaless_writer(body, parsed, rec)
            variant = dict(schema, doc=f"variant {i}")
            data = container(variant, b"null", [(1, body.getvalue())])
            info = tarfile.TarInfo(f"{rec['candid']}.avro")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            ids.add(rec["candid"])
    lh = tmp_path / "lh"
    run, rss = run_capped(lh, tar_path)
    assert_bounded(run, rss)
    assert run.code == 0, run.stderr[-2000:]
    assert run.summary["ingested"] == 1000
    assert candids(lh) == ids
    # 1000 resolved schemas took ~750 MB before the cache was bounded
    assert rss < 600 * MiB, f"peak RSS {rss / MiB:.0f} MiB"
    print(f"1000 writer schemas: peak RSS {rss / MiB:.0f} MiB")


@pytest.mark.parametrize("flag", ["--max-member-bytes", "--max-array-items"])
def test_caps_can_be_raised_and_lowered(tmp_path, packets, flag):
    (name, packet, candid) = good(packets, 1)[0]
    (tmp_path / name).write_bytes(packet)
    low = {"--max-member-bytes": "1000", "--max-array-items": "1"}[flag]
    lh = tmp_path / "lh"
    run, _ = run_capped(lh, tmp_path / name, extra=(flag, low))
    if flag == "--max-member-bytes":
        assert run.code == 2 and flag in quarantine_rows(lh)[name]["reason"]
    else:
        (rec,), _ = read_packets(tmp_path / name)
        if len(rec.get("prv_candidates") or []) > 1:
            assert run.code == 2 and flag in quarantine_rows(lh)[name]["reason"]
    high, _ = run_capped(tmp_path / "lh2", tmp_path / name, extra=(flag, str(10**9)))
    assert high.code == 0 and candids(tmp_path / "lh2") == {candid}


def test_many_members_just_under_the_cap(tmp_path, packets):
    """100 members of 15 MiB each (under the member cap, not Avro): the queue between the
    reader and the decoders is bounded in bytes, not only in members."""
    size = 15 * MiB
    one = gzip.compress(bytes(size), compresslevel=9)
    goods = good(packets, 1)
    path = tmp_path / "ztf_public_20231015.tar.gz"
    with open(path, "wb") as fh:
        for i in range(100):
            fh.write(gzip.compress(tar_header(f"big-{i:03}.avro", size), 1))
            fh.write(one)  # the member's bytes (a multiple of 512: no padding)
        name, data, _ = goods[0]
        fh.write(gzip.compress(tar_header(name, len(data)) + data + pad(len(data)), 1))
        fh.write(gzip.compress(bytes(1024), 1))
    lh = tmp_path / "lh"
    run, rss = run_capped(lh, path)
    assert_bounded(run, rss)
    assert run.code == 2, run.stderr[-2000:]
    assert (run.summary["ingested"], run.summary["quarantined"]) == (1, 100)
    assert candids(lh) == {goods[0][2]}
    print(f"100 members of 15 MiB: peak RSS {rss / MiB:.0f} MiB")
