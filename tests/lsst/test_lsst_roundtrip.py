"""Every bundled Rubin sample, as shipped and converted to the other form (container <->
wire), ingested into a fresh lakehouse (the fakes share their keys) and read back through
pyiceberg and DuckDB equal to the packet field by field, stamps byte for byte; the 7.x
fakes' bogus midpointMjdTai is quarantined, a copy with a real MJD round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from rubin_packets import (
    BOGUS_MJD,
    FAKES,
    GOOD_MJD,
    REAL_WIRE,
    Packet,
    assert_rows_match,
    container_datum,
    day_obs,
    sample,
)

from ateda_testlib import run_ingest
from bronze.readers import catalog, table_rows

FORMS = ("container", "wire")
V7 = ("fake_v7_0", "fake_v7_4")


def in_form(p: Packet, form: str) -> Packet:
    return p if p.form == form else p.as_form(form, name=f"{p.name}-as-{form}")


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", [n for n in FAKES if n not in V7] + [REAL_WIRE])
def test_sample_round_trips(tmp_path, lakehouse, name, form):
    shipped = sample(name)
    p = in_form(shipped, form)
    # the conversion keeps the datum: same bytes, same content hash
    assert p.datum == shipped.datum
    if form == "container":
        assert container_datum(p.data) == shipped.datum
    else:
        assert p.data[:5] == b"\x00" + p.sid.to_bytes(4, "big")
    run = run_ingest(lakehouse, p.write(tmp_path / "in"))
    assert run.code == 0, run.stdout + run.stderr[-3000:]
    s = run.summary
    assert (s["alerts_seen"], s["ingested"], s["quarantined"]) == (1, 1, 0), s
    assert_rows_match(lakehouse, [p], run_id=s["run_id"])
    if name == REAL_WIRE:
        row = next(iter(table_rows(lakehouse, "lsst_alerts")))
        assert row["diaSourceId"] == 7912941781254298
        assert str(row["night"]) == "2025-10-12"
        sizes = sorted(
            len(p.record[f]) for f in ("cutoutScience", "cutoutTemplate", "cutoutDifference")
        )
        assert sizes == [34_560, 34_560, 69_120]
        assert s["cutouts_written"] == 3
    else:
        # the fakes carry no stamps: no cutout object written
        assert not (lakehouse / "cutouts").exists() or not any(
            f.is_file() for f in (lakehouse / "cutouts").rglob("*")
        )


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", V7)
def test_7x_bogus_mjd_is_quarantined_and_a_fixed_copy_round_trips(tmp_path, name, form):
    original = in_form(sample(name), form)
    assert original.mjd == BOGUS_MJD and "diaSourceId" not in original.record
    lh = tmp_path / "lh-original"
    src = original.write(tmp_path / "original")
    run = run_ingest(lh, src)
    assert run.code == 2, run.stdout + run.stderr[-3000:]
    assert (run.summary["ingested"], run.summary["quarantined"]) == (0, 1), run.summary
    (q,) = table_rows(lh, "quarantine")
    assert q["source"].endswith(original.file_name), q["source"]
    assert "diaSource.midpointMjdTai" in q["reason"], q["reason"]
    assert "1480360995" in q["reason"], q["reason"]
    assert Path(q["quarantine_uri"].removeprefix("file://")).read_bytes() == original.data
    if catalog(lh).table_exists("bronze.lsst_alerts"):
        assert table_rows(lh, "lsst_alerts") == []

    fixed = original.edited(f"{original.name}-fixed", mjd=GOOD_MJD)
    assert str(day_obs(GOOD_MJD)) == "2025-08-15"
    lh = tmp_path / "lh-fixed"
    run = run_ingest(lh, fixed.write(tmp_path / "fixed"))
    assert run.code == 0, run.stdout + run.stderr[-3000:]
    assert_rows_match(lh, [fixed], run_id=run.summary["run_id"])
    (row,) = table_rows(lh, "lsst_alerts")
    # 7.x: the key column is the triggering diaSource's id, the alertId kept as is
    assert row["diaSourceId"] == 281323062375219200
    assert row["alertId"] == 1231321321
