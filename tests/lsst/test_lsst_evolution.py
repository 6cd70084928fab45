"""One bronze.lsst_alerts across every Rubin schema version: 7.0 to 11.0 ingested oldest
first, one run per version into one lakehouse, alternating container and wire form; the
table evolves, each row keeps its version and equals its packet."""

from __future__ import annotations

from rubin_packets import (
    INGEST_COLUMNS,
    REAL_WIRE,
    STAMPS,
    VERSIONS,
    assert_rows_match,
    packet_of_version,
    sample,
)

from ateda_testlib import run_ingest
from bronze.readers import catalog


def test_one_table_evolves_across_every_version(tmp_path, lakehouse):
    packets = []
    for i, version in enumerate(VERSIONS):
        p = packet_of_version(version, 10_000 + i, "wire" if i % 2 else "container")
        run = run_ingest(lakehouse, p.write(tmp_path / f"v{version}"))
        assert run.code == 0, f"{version}: " + run.stdout + run.stderr[-3000:]
        assert run.summary["ingested"] == 1, run.summary
        packets.append(p)
        # rows of older versions read the same after each evolution
        assert_rows_match(lakehouse, packets)
    real = sample(REAL_WIRE)
    run = run_ingest(lakehouse, real.write(tmp_path / "real"))
    assert run.code == 0, run.stdout + run.stderr[-3000:]
    packets.append(real)
    assert_rows_match(lakehouse, packets)

    cat = catalog(lakehouse)
    lsst_tables = [t for t in cat.list_tables("bronze") if "lsst" in t[-1]]
    assert lsst_tables == [("bronze", "lsst_alerts")], lsst_tables
    columns = {f.name for f in cat.load_table("bronze.lsst_alerts").schema().fields}
    fields = {k for p in packets for k in p.record if k not in STAMPS}
    assert fields | INGEST_COLUMNS <= columns, sorted(fields | INGEST_COLUMNS - columns)
    assert not columns & set(STAMPS), "stamps are objects, not columns"
    versions = {p.key: p.version for p in packets}
    assert sorted(set(versions.values()), key=lambda v: tuple(map(int, v.split(".")))) == list(
        VERSIONS
    )
