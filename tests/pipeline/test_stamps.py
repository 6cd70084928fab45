"""`ateda_dagster.stamps.read_stamp`: a stamp's exact bytes from (uri, offset, length), for
a local file and an object on the local S3 server (SeaweedFS), whole object and byte
range; and `fits_bytes` on real stamps of the bundled packets.

The S3 tests run against the server tests/run.sh starts (scripts/services.sh; source
.work/services/env.sh) and are skipped without it.
"""

from __future__ import annotations

import gzip
import os
import sys
import uuid

import boto3
import fastavro
import pytest

from ateda_testlib import DATA, REPO

sys.path.insert(0, str(REPO / "dagster"))

from ateda_dagster.stamps import StampError, fits_bytes, read_stamp  # noqa: E402

needs_s3 = pytest.mark.skipif(
    not os.environ.get("AWS_ENDPOINT_URL"),
    reason="no S3 server: run through tests/run.sh (starts SeaweedFS, sources env.sh)",
)
BUCKET = "cutouts"


@pytest.fixture(scope="module")
def stamps() -> list[bytes]:
    """The three stamps of one bundled ZTF packet (gzipped FITS), as the packet holds them."""
    path = sorted(DATA.glob("v4*/*.avro"))[0]
    with path.open("rb") as f:
        rec = next(iter(fastavro.reader(f)))
    out = [rec[k]["stampData"] for k in ("cutoutScience", "cutoutTemplate", "cutoutDifference")]
    assert all(len(s) > 100 for s in out)
    return out


@pytest.fixture(scope="module")
def pack(stamps) -> tuple[bytes, list[tuple[int, int]]]:
    """A pack as the packed layout writes one: the stamps back to back after some leading
    bytes (another run's stamps), with each stamp's (offset, length)."""
    body = bytearray(b"\x00leading bytes of other stamps\xff" * 7)
    ranges = []
    for s in stamps:
        ranges.append((len(body), len(s)))
        body += s
    body += b"trailing"
    return bytes(body), ranges


def test_local_file_whole_object_and_ranges(tmp_path, stamps, pack):
    body, ranges = pack
    single = tmp_path / "science-abc.fits.gz"
    single.write_bytes(stamps[0])
    packed = tmp_path / "night=2023-10-12" / "run-0001.pack"
    packed.parent.mkdir()
    packed.write_bytes(body)

    assert read_stamp(single.as_uri()) == stamps[0]
    assert read_stamp(str(single)) == stamps[0]  # a bare path too
    assert read_stamp(single.as_uri(), None, len(stamps[0])) == stamps[0]
    for (offset, length), stamp in zip(ranges, stamps, strict=True):
        assert read_stamp(packed.as_uri(), offset, length) == stamp
    assert read_stamp(packed.as_uri()) == body
    assert read_stamp(packed.as_uri(), 3, 0) == b""


def test_local_file_errors_name_the_uri(tmp_path, pack):
    body, _ = pack
    packed = tmp_path / "a.pack"
    packed.write_bytes(body)
    with pytest.raises(StampError, match="expected 10"):
        read_stamp(packed.as_uri(), len(body) - 4, 10)  # past the end
    with pytest.raises(StampError, match="missing.pack"):
        read_stamp((tmp_path / "missing.pack").as_uri(), 0, 4)
    with pytest.raises(StampError, match="bad byte range"):
        read_stamp(packed.as_uri(), 0, None)
    with pytest.raises(StampError, match="bad byte range"):
        read_stamp(packed.as_uri(), -1, 4)
    with pytest.raises(StampError, match="unsupported scheme"):
        read_stamp("gs://bucket/a.pack", 0, 4)


@pytest.fixture
def s3_objects(stamps, pack):
    """The single stamp and the pack as objects in the cutouts bucket, deleted afterwards."""
    s3 = boto3.client("s3", region_name=os.environ.get("AWS_REGION"))
    prefix = f"ateda-test/stamps-{uuid.uuid4().hex[:10]}"
    keys = {
        "single": f"{prefix}/ztf/night=2023-10-12/1/science-abc.fits.gz",
        "pack": f"{prefix}/ztf/packs/night=2023-10-12/run-0000.pack",
    }
    s3.put_object(Bucket=BUCKET, Key=keys["single"], Body=stamps[0])
    s3.put_object(Bucket=BUCKET, Key=keys["pack"], Body=pack[0])
    yield {name: f"s3://{BUCKET}/{key}" for name, key in keys.items()}
    for key in keys.values():
        s3.delete_object(Bucket=BUCKET, Key=key)


@needs_s3
def test_s3_whole_object_and_ranges(s3_objects, stamps, pack):
    body, ranges = pack
    assert read_stamp(s3_objects["single"]) == stamps[0]
    assert read_stamp(s3_objects["pack"]) == body
    for (offset, length), stamp in zip(ranges, stamps, strict=True):
        assert read_stamp(s3_objects["pack"], offset, length) == stamp
    # the last byte of the object, and an empty range
    assert read_stamp(s3_objects["pack"], len(body) - 1, 1) == body[-1:]
    assert read_stamp(s3_objects["pack"], 5, 0) == b""


@needs_s3
def test_s3_errors_name_the_uri(s3_objects, pack):
    body, _ = pack
    with pytest.raises(StampError, match="expected 10"):
        read_stamp(s3_objects["pack"], len(body) - 4, 10)  # the server returns 4 bytes
    missing = s3_objects["pack"] + ".missing"
    with pytest.raises(StampError, match=r"\.missing"):
        read_stamp(missing, 0, 4)


def test_fits_bytes(stamps):
    for s in stamps:
        assert fits_bytes(s) == gzip.decompress(s)  # ZTF: gzipped FITS
    plain = gzip.decompress(stamps[0])
    assert fits_bytes(plain) == plain  # Rubin: FITS as is
    with pytest.raises(StampError, match="not FITS"):
        fits_bytes(gzip.compress(b"hello"))
    with pytest.raises(StampError, match="not a valid gzip"):
        fits_bytes(stamps[0][:50])


def test_sample_query_on_both_targets():
    """stamps_readable's sample query is one text for both dbt targets: StarRocks SQL (as
    sqlglot's StarRocks dialect reads it) that DuckDB runs with the same meaning."""
    import duckdb
    import sqlglot
    from sqlglot import exp

    from ateda_dagster.stamp_check import sample_query

    sql = sample_query("ztf_alert", "candid", "2023-10-12", 2)
    tree = sqlglot.parse_one(sql, read="starrocks", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(tree, exp.Select)
    with pytest.raises(ValueError):
        sample_query("ztf_alert", "candid", "2023-10-12' or true --", 2)
    con = duckdb.connect()
    con.execute("create schema silver")
    con.execute(
        "create table silver.ztf_alert as select * from (values "
        "(3, true, date '2023-10-12'), (1, true, date '2023-10-12'), "
        "(2, false, date '2023-10-12'), (0, true, date '2023-10-11'), "
        "(4, true, date '2023-10-12')) as t(candid, has_stamp, night)"
    )
    assert [r[0] for r in con.execute(sql).fetchall()] == [1, 3]
    every = sample_query("ztf_alert", "candid", None, 10)
    assert [r[0] for r in con.execute(every).fetchall()] == [0, 1, 3, 4]
