"""One bronze table holding both cutout layouts (a lakehouse that switched layout between
runs), read with the one rule of docs/cutouts.md through
`ateda_dagster.stamps.read_stamp(uri, offset, length)`: every stamp of every row is the
packet's exact bytes, and the same bytes `ateda cutout` writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import fastavro
import pytest

from ateda_testlib import REPO, ateda_bin, run_ingest

sys.path.insert(0, str(REPO / "dagster"))

from ateda_dagster.bronze_read import bronze_connection  # noqa: E402
from ateda_dagster.settings import Settings  # noqa: E402
from ateda_dagster.stamps import fits_bytes, read_stamp  # noqa: E402

FIELDS = {
    "science": "cutoutScience",
    "template": "cutoutTemplate",
    "difference": "cutoutDifference",
}
PACK_SIZE = 50_000


def stamp_bytes(rec: dict, field: str) -> bytes:
    v = rec[field]
    return v["stampData"] if isinstance(v, dict) else v


def records(paths: list[Path]) -> list[dict]:
    out = []
    for p in paths:
        with p.open("rb") as f:
            out += list(fastavro.reader(f))
    return out


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, packets):
    helptext = subprocess.run(
        [str(ateda_bin()), "ingest", "--help"], capture_output=True, text=True, check=True
    ).stdout
    if "--cutout-layout" not in helptext:
        pytest.skip(f"{ateda_bin()} has no --cutout-layout yet (issue 17)")
    base = tmp_path_factory.mktemp("packed-read")
    lakehouse = base / "lakehouse"
    half = len(packets) // 2
    per_stamp, packed = packets[:half], packets[half:]
    run = run_ingest(lakehouse, *per_stamp)  # the default layout
    assert run.code == 0, run.stderr
    rubin = gen_alerts_lsst(base / "lsst")
    run = run_ingest(
        lakehouse,
        *packed,
        *rubin,
        extra=("--cutout-layout", "packed", "--pack-size", str(PACK_SIZE)),
    )
    assert run.code == 0, run.stderr
    return lakehouse, records(per_stamp), records(packed), records(rubin)


def gen_alerts_lsst(out: Path) -> list[Path]:
    subprocess.run(
        [str(ateda_bin()), "gen", "--survey", "lsst", "--n", "3", "--night", "20251012"]
        + ["--out", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
        cwd=REPO,
    )
    return sorted(out.glob("*.avro"))


def bronze_rows(lakehouse: Path, table: str, key: str) -> dict[int, dict]:
    settings = Settings(lakehouse=lakehouse, landing=lakehouse, ateda_bin=ateda_bin())
    con = bronze_connection(settings)
    cols = [f"cutout_{k}_{p}" for k in FIELDS for p in ("uri", "offset", "length")]
    try:
        cur = con.execute(f"select {key}, {', '.join(cols)} from bronze_{table}")
        return {r[0]: dict(zip(cols, r[1:], strict=True)) for r in cur.fetchall()}
    finally:
        con.close()


def test_both_layouts_in_one_table_read_through_one_function(mixed):
    lakehouse, per_stamp, packed, _ = mixed
    rows = bronze_rows(lakehouse, "alerts", "candid")
    assert set(rows) == {r["candid"] for r in per_stamp + packed}
    seen = {"per-stamp": 0, "packed": 0}
    for layout, recs in (("per-stamp", per_stamp), ("packed", packed)):
        for rec in recs:
            row = rows[rec["candid"]]
            for kind, field in FIELDS.items():
                uri, offset, length = (
                    row[f"cutout_{kind}_{p}"] for p in ("uri", "offset", "length")
                )
                if layout == "per-stamp":
                    assert offset is None and length is None and not uri.endswith(".pack")
                else:
                    assert uri.endswith(".pack") and "/ztf/packs/night=" in uri
                    assert offset is not None and length == len(stamp_bytes(rec, field))
                stamp = read_stamp(uri, offset, length)
                assert stamp == stamp_bytes(rec, field), (layout, rec["candid"], kind)
                fits_bytes(stamp)
                seen[layout] += 1
    assert seen["per-stamp"] > 0 and seen["packed"] > 0
    packs = {rows[r["candid"]]["cutout_science_uri"] for r in packed}
    assert len(packs) > 1  # PACK_SIZE rolls the night's stamps over several packs


def test_rubin_packed_stamps_are_plain_fits(mixed):
    lakehouse, _, _, rubin = mixed
    rows = bronze_rows(lakehouse, "lsst_alerts", "diaSourceId")
    for rec in rubin:
        row = rows[rec["diaSourceId"]]
        for kind, field in FIELDS.items():
            uri = row[f"cutout_{kind}_uri"]
            assert "/lsst/packs/night=" in uri
            stamp = read_stamp(uri, row[f"cutout_{kind}_offset"], row[f"cutout_{kind}_length"])
            assert stamp == rec[field]
            assert fits_bytes(stamp) == stamp  # not gzipped


def test_read_stamp_equals_ateda_cutout(mixed):
    """The Python reader and `ateda cutout` agree byte for byte, in both layouts."""
    lakehouse, per_stamp, packed, _ = mixed
    rows = bronze_rows(lakehouse, "alerts", "candid")
    for rec in (per_stamp[0], packed[0], packed[-1]):
        row = rows[rec["candid"]]
        proc = subprocess.run(
            [str(ateda_bin()), "cutout", "--lakehouse", str(lakehouse), str(rec["candid"])]
            + ["--kind", "difference", "-o", "-"],
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        ranged = read_stamp(
            row["cutout_difference_uri"],
            row["cutout_difference_offset"],
            row["cutout_difference_length"],
        )
        assert proc.stdout == ranged
