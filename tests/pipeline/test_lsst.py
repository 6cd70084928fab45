"""Rubin/LSST through silver and gold, checked against the packets.

One lakehouse per module: the bundled ZTF and Rubin samples (tests/data/ztf, tests/data/lsst)
and a synthetic Rubin night (`ateda gen --survey lsst`: objects with prvDiaSources and
prvDiaForcedSources) go through one `ateda ingest` (exit 2: the fake 7.x samples carry a
bogus midpointMjdTai and are quarantined; the fake 8.0-10.0 samples share one diaSourceId,
so one of them is kept), then one dbt build. Expected values are computed here from the
packets bronze kept (fastavro; lsst_expect), for both surveys side by side in gold. A second
lakehouse processes the nights one by one, newest first, and must equal the full build; the
Dagster test materializes a Rubin night through the nightly job.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import duckdb
import lsst_expect as lx
import pytest

from ateda_testlib import REPO, ateda_bin

sys.path.insert(0, str(REPO / "dagster"))

from ateda_dagster.ingest import run_ingest  # noqa: E402
from ateda_dagster.lakehouse import Settings  # noqa: E402
from ateda_dagster.pipeline import dbt_build, run_night  # noqa: E402

ZTF_DATA = REPO / "tests" / "data" / "ztf"
LSST_DATA = REPO / "tests" / "data" / "lsst"
GEN_NIGHT = "20251014"
REAL_ALERT = 7912941781254298  # wire_v9_0_*.avro: band r, psfFlux -1230 nJy
SSO_ALERT = 7912941781254299  # made here from it: a solar-system detection (ssSource, 9.0 names)

LSST_TABLES = {
    "silver.lsst_alert": ["diaSourceId"],
    "silver.dia_source": ["diaSourceId"],
    "silver.dia_forced_source": ["diaForcedSourceId"],
    "silver.dia_object": ["diaObjectId"],
    "silver.ss_source": ["diaSourceId"],
}


def gen_lsst(out: Path, n: int, night: str) -> list[Path]:
    """`ateda gen --survey lsst`: a synthetic Rubin night, one <diaSourceId>.avro per alert."""
    proc = subprocess.run(
        [
            str(ateda_bin()),
            "gen",
            "--survey",
            "lsst",
            "--n",
            str(n),
            "--night",
            night,
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO,  # the default templates: tests/data/lsst
    )
    assert proc.returncode == 0, proc.stderr
    files = sorted(out.rglob("*.avro"))
    assert len(files) == n
    return files


def approx_or_none(got, want, rel: float) -> bool:
    """Equal within `rel`, or both null (NaN in the packet is null in silver)."""
    if want is None or got is None:
        return got is None and want is None
    return got == pytest.approx(want, rel=rel)


def write_sso_packet(out: Path) -> Path:
    """The real 9.0 alert turned into a known asteroid's detection: no diaObject, an
    ssObjectId and an ssSource with 9.0's field names (eclipticLambda, heliocentricDist...)."""
    import copy
    import json

    import fastavro

    (real,) = lx.read_packets(next(LSST_DATA.glob("wire_v9_0_*.avro")))
    a = copy.deepcopy(real)
    a["diaSourceId"] = SSO_ALERT
    a["diaSource"].update(diaSourceId=SSO_ALERT, diaObjectId=None, ssObjectId=42, psfFlux=5000.0)
    a["diaObject"] = None
    a["prvDiaSources"] = a["prvDiaForcedSources"] = None
    a["ssSource"] = {
        "ssObjectId": 42,
        "diaSourceId": SSO_ALERT,
        **{k: None for k in ("galacticL", "galacticB", "phaseAngle", "residualRa", "residualDec")},
        **{f"{p}{c}": None for p in ("heliocentric", "topocentric") for c in ("X", "Y", "Z")},
        **{f"{p}V{c}": None for p in ("heliocentric", "topocentric") for c in ("X", "Y", "Z")},
        "eclipticLambda": 41.5,
        "eclipticBeta": -50.25,
        "heliocentricDist": 2.5,
        "topocentricDist": 1.5,
        "predictedVMagnitude": 21.0,
    }
    schema = json.loads((lx.SCHEMAS / "lsst-9.0.avsc").read_text())
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{SSO_ALERT}.avro"
    with open(path, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(schema), [a])
    return path


def ingested_files(db) -> set[str]:
    """File names of the ingest_source of silver.lsst_alert's rows."""
    return {
        Path(s.split("!")[-1]).name
        for (s,) in db.execute("select ingest_source from silver.lsst_alert").fetchall()
    }


def kept_alerts(db, files: list[Path]) -> list[dict]:
    """The packets bronze kept: those whose file is an ingest_source of silver.lsst_alert."""
    sources = ingested_files(db)
    return [a for f in files if f.name in sources for a in lx.read_packets(f)]


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("lsst")
    gen_files = gen_lsst(root / "gen", 150, GEN_NIGHT)
    sso = write_sso_packet(root / "sso")
    settings = Settings(
        lakehouse=root / "lakehouse", landing=root / "landing", ateda_bin=ateda_bin()
    )
    result = run_ingest(settings, ZTF_DATA, LSST_DATA, root / "gen", sso)
    assert result.returncode == 2, result.stderr_tail  # the fake 7.x samples: quarantined
    assert dbt_build(settings, None, ["--quiet"]) == 0
    db = duckdb.connect(str(settings.duckdb_path), read_only=True)
    files = sorted(LSST_DATA.glob("*.avro")) + gen_files + [sso]
    alerts = kept_alerts(db, files)
    kept_files = [f for f in files if f.name in ingested_files(db)]
    yield {
        "root": root,
        "settings": settings,
        "db": db,
        "alerts": alerts,
        "gen": gen_files,
        "kept_files": kept_files,
    }
    db.close()


def test_bronze_kept_what_it_should(lake):
    keys = {lx.alert_key(a) for a in lake["alerts"]}
    # gen night + the real alert + one fake + the asteroid
    assert len(keys) == len(lake["alerts"]) == 150 + 3
    assert REAL_ALERT in keys and 1231321321 in keys and SSO_ALERT in keys
    assert all(40000 < a["diaSource"]["midpointMjdTai"] < 70000 for a in lake["alerts"])


def test_lsst_alert_rows_against_packets(lake):
    db = lake["db"]
    got = {
        r[0]: r[1:]
        for r in db.execute(
            "select diaSourceId, diaObjectId, night, mjd, band, psfFlux, mag, e_mag, isdiffpos, "
            "mjdstarthist, n_prv_dia_sources, has_stamp from silver.lsst_alert"
        ).fetchall()
    }
    assert len(got) == len(lake["alerts"])
    for a in lake["alerts"]:
        s = a["diaSource"]
        oid, night, mjd, band, flux, mag, e_mag, sign, start, n_prv, stamp = got[lx.alert_key(a)]
        assert oid == lx.object_id(a)
        assert night == lx.day_obs(s["midpointMjdTai"])
        assert mjd == s["midpointMjdTai"] and band == s["band"]
        assert flux == pytest.approx(lx.num(s["psfFlux"]), rel=1e-7)
        want = lx.ab_mag(s["psfFlux"])
        assert (mag is None) is (want is None)
        if want is not None:
            assert mag == pytest.approx(want, abs=1e-9)
            assert e_mag == pytest.approx(lx.ab_mag_err(s["psfFlux"], s["psfFluxErr"]), rel=1e-9)
        assert sign == (1 if s["psfFlux"] > 0 else -1)
        assert start == pytest.approx(lx.mjdstarthist(a), abs=1e-9) or start == lx.mjdstarthist(a)
        assert n_prv == len(a.get("prvDiaSources") or [])
        assert stamp is bool(
            a.get("cutoutScience") or a.get("cutoutTemplate") or a.get("cutoutDifference")
        )


def test_the_real_alert(lake):
    """wire_v9_0: band r, psfFlux -1230 nJy (no AB magnitude), a brand-new object whose
    firstDiaSourceMjdTai is NaN (mjdstarthist falls back to its own time)."""
    row = (
        lake["db"]
        .execute(
            "select band, psfFlux, mag, e_mag, isdiffpos, mjd, firstDiaSourceMjdTai, mjdstarthist, "
            "night from silver.lsst_alert where diaSourceId = ?",
            [REAL_ALERT],
        )
        .fetchone()
    )
    band, flux, mag, e_mag, sign, mjd, first, start, night = row
    assert band == "r" and flux == pytest.approx(-1230.2757568359375) and sign == -1
    assert mag is None and e_mag is None
    assert mjd == pytest.approx(60961.233, abs=1e-3)
    assert first is None and start == mjd
    assert night.isoformat() == "2025-10-12"


def test_solar_system_detection(lake):
    """ss_source maps 9.0's names onto 10.0+'s; the detection has no diaObject, so it is in
    dia_source (null diaObjectId) but in no gold object."""
    db = lake["db"]
    row = db.execute(
        "select ssObjectId, eclLambda, eclBeta, helioRange, topoRange, ephVmag, band, psfFlux, "
        "night from silver.ss_source where diaSourceId = ?",
        [SSO_ALERT],
    ).fetchone()
    assert row[:8] == (42, 41.5, -50.25, 2.5, 1.5, 21.0, "r", 5000.0)
    assert row[8].isoformat() == "2025-10-12"
    assert db.execute("select count(*) from silver.ss_source").fetchone()[0] == 1
    oid, ss = db.execute(
        "select diaObjectId, ssObjectId from silver.dia_source where diaSourceId = ?", [SSO_ALERT]
    ).fetchone()
    assert (oid, ss) == (None, 42)
    assert (
        db.execute(
            "select count(*) from gold.light_curve where survey = 'lsst' and candid = ?",
            [SSO_ALERT],
        ).fetchone()[0]
        == 0
    )


def test_dia_source_dedup_and_magnitudes(lake):
    db = lake["db"]
    want = lx.dia_sources(lake["alerts"])
    assert any(not r["from_alert"] for r in want.values()), "the night has history rows"
    got = {
        r[0]: r[1:]
        for r in db.execute(
            "select diaSourceId, diaObjectId, mjd, night, band, psfFlux, mag, e_mag, from_alert, "
            "parent_diaSourceId, has_stamp from silver.dia_source"
        ).fetchall()
    }
    assert got.keys() == want.keys()
    for k, w in want.items():
        oid, mjd, night, band, flux, mag, e_mag, from_alert, parent, stamp = got[k]
        assert (oid, band, from_alert, parent) == (
            w["diaObjectId"],
            w["band"],
            w["from_alert"],
            w["parent_diaSourceId"],
        ), k
        assert mjd == w["midpointMjdTai"] and night == lx.day_obs(w["midpointMjdTai"])
        assert approx_or_none(flux, lx.num(w["psfFlux"]), 1e-7), k
        m = lx.ab_mag(w["psfFlux"])
        assert (mag is None and m is None) or mag == pytest.approx(m, abs=1e-9), k
        e = lx.ab_mag_err(w["psfFlux"], w["psfFluxErr"])
        assert (e_mag is None and e is None) or e_mag == pytest.approx(e, rel=1e-9), k
        if not from_alert:
            assert stamp is False, k  # only an alert's own row has stamps


def test_dia_forced_source_against_packets(lake):
    want = lx.forced_sources(lake["alerts"])
    assert len(want) > 10
    got = {
        r[0]: r[1:]
        for r in lake["db"]
        .execute(
            "select diaForcedSourceId, diaObjectId, mjd, band, psfFlux, mag, parent_diaSourceId "
            "from silver.dia_forced_source"
        )
        .fetchall()
    }
    assert got.keys() == want.keys()
    for k, w in want.items():
        oid, mjd, band, flux, mag, parent = got[k]
        assert (oid, band, parent) == (w["diaObjectId"], w["band"], w["parent_diaSourceId"]), k
        assert mjd == w["midpointMjdTai"]
        assert approx_or_none(flux, lx.num(w["psfFlux"]), 1e-7), k
        m = lx.ab_mag(w["psfFlux"])
        assert (mag is None and m is None) or mag == pytest.approx(m, abs=1e-9), k


def test_dia_object_is_the_latest_version(lake):
    want = lx.dia_objects(lake["alerts"])
    assert any(
        len([a for a in lake["alerts"] if (a.get("diaObject") or {}).get("diaObjectId") == k]) > 1
        for k in want
    ), "some object has several alerts"
    got = {
        r[0]: r[1:]
        for r in lake["db"]
        .execute(
            "select diaObjectId, source_diaSourceId, nDiaSources, ra, dec from silver.dia_object"
        )
        .fetchall()
    }
    assert got.keys() == want.keys()
    for k, (o, a) in want.items():
        assert got[k] == (lx.alert_key(a), o["nDiaSources"], o["ra"], o["dec"]), k


def test_gold_object_side_by_side(lake):
    db = lake["db"]
    by_survey = dict(db.execute("select survey, count(*) from gold.object group by all").fetchall())
    assert by_survey["ztf"] == 32  # the bundled ZTF sample's objects, unchanged
    dets = lx.dia_sources(lake["alerts"])
    by_obj: dict = defaultdict(list)
    for d in dets.values():
        if d["diaObjectId"] is not None:
            by_obj[str(d["diaObjectId"])].append(d)
    assert by_survey["lsst"] == len(by_obj)
    fp = defaultdict(int)
    for f in lx.forced_sources(lake["alerts"]).values():
        if lx.num(f["psfFlux"]) is not None:
            fp[str(f["diaObjectId"])] += 1
    got = {
        r[0]: r[1:]
        for r in db.execute(
            "select objectId, ndet, first_mjd, last_mjd, mean_ra, mean_dec, g_r_mean, n_forced_photometry, "
            "ndet_u, ndet_y, n_non_detections from gold.object where survey = 'lsst'"
        ).fetchall()
    }
    for oid, rows in by_obj.items():
        ndet, first, last, ra, dec, g_r, n_fp, n_u, n_y, n_nd = got[oid]
        mjds = [r["midpointMjdTai"] for r in rows]
        assert ndet == len(rows) and (first, last) == (min(mjds), max(mjds)), oid
        assert ra == pytest.approx(
            lx.weighted_mean([r["ra"] for r in rows], [r["raErr"] for r in rows]), abs=1e-9
        )
        assert dec == pytest.approx(
            lx.weighted_mean([r["dec"] for r in rows], [r["decErr"] for r in rows]), abs=1e-9
        )
        g = [lx.ab_mag(r["psfFlux"]) for r in rows if r["band"] == "g"]
        r_ = [lx.ab_mag(r["psfFlux"]) for r in rows if r["band"] == "r"]
        g, r_ = [x for x in g if x is not None], [x for x in r_ if x is not None]
        if g and r_:
            assert g_r == pytest.approx(sum(g) / len(g) - sum(r_) / len(r_), abs=1e-9), oid
        else:
            assert g_r is None, oid
        assert n_fp == fp[oid] and n_nd == 0, oid
        assert (n_u, n_y) == (
            sum(r["band"] == "u" for r in rows),
            sum(r["band"] == "y" for r in rows),
        )


def test_gold_magstat_and_light_curve(lake):
    db = lake["db"]
    dets = [d for d in lx.dia_sources(lake["alerts"]).values() if d["diaObjectId"] is not None]
    groups: dict = defaultdict(list)
    for d in dets:
        groups[(str(d["diaObjectId"]), d["band"])].append(d)
    got = {
        (r[0], r[1]): r[2:]
        for r in db.execute(
            "select objectId, band, ndet, mag_mean, mag_min, flux_mean, fid from gold.magstat "
            "where survey = 'lsst'"
        ).fetchall()
    }
    assert got.keys() == groups.keys()
    for key, rows in groups.items():
        ndet, mean, mn, flux_mean, fid = got[key]
        mags = [m for m in (lx.ab_mag(r["psfFlux"]) for r in rows) if m is not None]
        assert ndet == len(rows) and fid is None
        assert (mean is None and not mags) or mean == pytest.approx(sum(mags) / len(mags), abs=1e-9)
        assert (mn is None and not mags) or mn == pytest.approx(min(mags), abs=1e-9)
        fluxes = [lx.num(r["psfFlux"]) for r in rows if lx.num(r["psfFlux"]) is not None]
        assert approx_or_none(flux_mean, sum(fluxes) / len(fluxes) if fluxes else None, 1e-9)
    # ZTF magstat keeps its fid, band is its letter
    assert (
        db.execute(
            "select count(*) from gold.magstat where survey = 'ztf' and band <> "
            "case fid when 1 then 'g' when 2 then 'r' when 3 then 'i' end"
        ).fetchone()[0]
        == 0
    )
    # light curve: every detection, the forced points with a flux; mjd order; nJy
    fp = [f for f in lx.forced_sources(lake["alerts"]).values() if lx.num(f["psfFlux"]) is not None]
    n = db.execute("select count(*) from gold.light_curve where survey = 'lsst'").fetchone()[0]
    assert n == len(dets) + len(fp)
    rows = db.execute(
        "select objectId, point_index, mjd, kind, flux_unit, mag, flux from gold.light_curve "
        "where survey = 'lsst' order by objectId, point_index"
    ).fetchall()
    last: dict = {}
    for oid, idx, mjd, kind, unit, mag, flux in rows:
        assert idx == last.get(oid, (0, 0))[0] + 1 and mjd >= last.get(oid, (0, 0))[1]
        last[oid] = (idx, mjd)
        assert kind in ("detection", "forced_photometry") and unit == "nJy"
        want = lx.ab_mag(flux)
        assert (mag is None and want is None) or mag == pytest.approx(want, abs=1e-6)


def test_nightly_stats_per_survey(lake):
    db = lake["db"]
    want: dict = defaultdict(int)
    for a in lake["alerts"]:
        want[(lx.day_obs(a["diaSource"]["midpointMjdTai"]), a["diaSource"]["band"])] += 1
    got = {
        (n, b): c
        for n, b, c, f in db.execute(
            "select night, band, n_alerts, field from gold.nightly_stats where survey = 'lsst'"
        ).fetchall()
        if f == 0
    }
    assert got == dict(want)
    ztf = "select sum(n_alerts) from gold.nightly_stats where survey = 'ztf'"
    assert db.execute(ztf).fetchone()[0] == 32


def test_every_new_table_and_column_documented(lake):
    db = lake["db"]
    for t in LSST_TABLES:
        schema, name = t.split(".")
        comment = db.execute(
            "select comment from duckdb_tables() where schema_name = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]
        assert comment and comment.strip(), t
    undocumented = db.execute(
        "select schema_name, table_name, column_name from duckdb_columns() "
        "where schema_name in ('silver', 'gold') and (comment is null or trim(comment) = '')"
    ).fetchall()
    assert undocumented == []


def test_nights_newest_first_equal_one_full_build(lake, tmp_path):
    """Rubin nights built one by one (incremental, newest first) give the full build's
    tables: dedup winners and the latest diaObject do not depend on processing order."""
    settings = Settings(lakehouse=tmp_path / "lh", landing=tmp_path, ateda_bin=ateda_bin())
    full = lake["db"]
    # exactly the packets the full build kept (of the fake samples sharing a diaSourceId,
    # whichever one an ingest meets first stays)
    kept = lake["kept_files"]
    assert run_ingest(settings, *kept).returncode == 0
    nights = [
        n.isoformat()
        for (n,) in full.execute(
            "select distinct night from silver.lsst_alert order by night desc"
        ).fetchall()
    ]
    assert len(nights) >= 3
    for night in nights:
        assert dbt_build(settings, night, ["--quiet"]) == 0
    inc = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        provenance = "exclude (ingest_source, ingest_run_id, cutout_science_uri, cutout_template_uri, cutout_difference_uri)"
        for t in [
            *LSST_TABLES,
            "gold.object",
            "gold.magstat",
            "gold.light_curve",
            "gold.nightly_stats",
        ]:
            cols = provenance if t == "silver.lsst_alert" else ""
            where = "where survey = 'lsst'" if t.startswith("gold.") else ""
            a = inc.execute(f"select * {cols} from {t} {where} order by all").fetchall()
            b = full.execute(f"select * {cols} from {t} {where} order by all").fetchall()
            assert a == b, t
    finally:
        inc.close()


def test_dagster_materializes_a_rubin_night(lake, tmp_path):
    """A Rubin night lands as a directory YYYYMMDD/; the nightly job ingests it (bronze/
    lsst_alerts) and builds silver and gold with every check passing."""
    landing = tmp_path / "landing"
    night_dir = landing / GEN_NIGHT
    night_dir.mkdir(parents=True)
    for f in lake["gen"][:40]:
        (night_dir / f.name).write_bytes(f.read_bytes())
    settings = Settings(lakehouse=tmp_path / "lh", landing=landing, ateda_bin=ateda_bin())
    night = f"{GEN_NIGHT[:4]}-{GEN_NIGHT[4:6]}-{GEN_NIGHT[6:]}"
    result = run_night(settings, night)
    assert result.success
    mats = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert mats["bronze/lsst_alerts"]["night_rows"].value == 40
    assert mats["bronze/alerts"]["night_rows"].value == 0
    assert mats["bronze/alerts"]["ingested"].value == 40
    for key in (
        "silver/lsst_alert",
        "silver/dia_source",
        "silver/dia_forced_source",
        "silver/dia_object",
        "gold/object",
        "gold/light_curve",
    ):
        assert key in mats, key
    failed = [
        (e.asset_key.to_user_string(), e.check_name)
        for e in result.get_asset_check_evaluations()
        if not e.passed
    ]
    assert failed == []
    names = {
        (e.asset_key.to_user_string(), e.check_name) for e in result.get_asset_check_evaluations()
    }
    assert ("bronze/lsst_alerts", "diasourceid_unique") in names
    assert ("silver/lsst_alert", "assert_lsst_alert_rows_match_bronze") in names
    db = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        assert db.execute("select count(*) from silver.lsst_alert").fetchone()[0] == 40
        assert db.execute("select count(*) from silver.ztf_alert").fetchone()[0] == 0
        n_obj = db.execute("select count(*) from gold.object where survey = 'lsst'").fetchone()[0]
        assert 0 < n_obj <= 40
        assert (
            db.execute("select count(*) from gold.object where survey = 'ztf'").fetchone()[0] == 0
        )
    finally:
        db.close()


def test_landing_takes_every_source_of_a_night(tmp_path):
    """A Rubin tarball (lsst_YYYYMMDD.tar.gz, `ateda gen --survey lsst --tar`) lands like
    ZTF's; the night's run gets both surveys' sources for one ingest."""
    import os
    import time

    from ateda_dagster.landing import open_landing
    from ateda_dagster.nights import night_of_file

    assert night_of_file("lsst_20251014.tar.gz").isoformat() == "2025-10-14"
    assert night_of_file("lsst_20251014").isoformat() == "2025-10-14"
    landing = tmp_path / "landing"
    landing.mkdir()
    for name in ("ztf_public_20251014.tar.gz", "lsst_20251014.tar.gz", "lsst_20251015.tar.gz"):
        (landing / name).write_bytes(b"")
        old = time.time() - 60
        os.utime(landing / name, (old, old))
    lz = open_landing(landing)
    assert [(f.night, f.name) for f in lz.landed(10)] == [
        ("2025-10-14", "lsst_20251014.tar.gz"),
        ("2025-10-15", "lsst_20251015.tar.gz"),
        ("2025-10-14", "ztf_public_20251014.tar.gz"),
    ]
    with lz.fetch("2025-10-14", tmp_path / "cache") as sources:
        assert [p.name for p in sources] == ["ztf_public_20251014.tar.gz", "lsst_20251014.tar.gz"]
    with lz.fetch("2025-10-16", tmp_path / "cache") as sources:
        assert sources == []


def test_report_draws_both_surveys(lake, capsys):
    """The report (make demo) shows gold of both surveys and draws a light curve of each."""
    from ateda_dagster.report import report, report_pngs

    png = report(lake["settings"].lakehouse)
    out = capsys.readouterr().out
    ztf, rubin = report_pngs
    assert png == ztf and ztf.name.startswith("light_curve_ZTF")
    top = (
        lake["db"]
        .execute(
            "select objectId from gold.object where survey = 'lsst' order by ndet desc, objectId limit 1"
        )
        .fetchone()[0]
    )
    assert rubin.name == f"light_curve_lsst_{top}.png"
    for p in (ztf, rubin):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    assert "gold row counts per survey" in out and f"Rubin {top}" in out
