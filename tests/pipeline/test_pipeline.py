"""Dagster + dbt on the embedded default, checked against the real packets.

One temporary lakehouse per module: the sample night (2023-10-12, 24 real v4 packets)
lands as `ztf_public_20231012.tar.gz`, the nightly Dagster job materializes it (ateda
ingest -> bronze, dbt build -> silver + gold, every check), and the tests compare the
tables with values computed here from the packets with fastavro.
"""

from __future__ import annotations

import math
import os
import sys
import tarfile
import time
from collections import defaultdict
from pathlib import Path

import dbt_expect
import duckdb
import fastavro
import pytest

import dagster as dg
from ateda_testlib import DATA, REPO, ateda_bin, night_of_jd

sys.path.insert(0, str(REPO / "dagster"))

from ateda_dagster.ingest import run_ingest  # noqa: E402
from ateda_dagster.lakehouse import Settings  # noqa: E402
from ateda_dagster.pipeline import dbt_build, run_night  # noqa: E402
from ateda_dagster.pipeline import main as pipeline_main  # noqa: E402
from ateda_dagster.report import report  # noqa: E402
from ateda_dagster.resources import AtedaResource  # noqa: E402
from ateda_dagster.sensors import landed_files  # noqa: E402

SAMPLE_NIGHT = "2023-10-12"
KNOWN_OBJECT = "ZTF17aadcuwj"  # 2023-10-12 alert with 38 detections in its history

SILVER_GOLD_KEYS = {
    "silver.ztf_alert": ["candid"],
    "silver.detection": ["objectId", "candid"],
    "silver.non_detection": ["objectId", "fid", "mjd"],
    "silver.forced_photometry": ["objectId", "pid"],
    "silver.reference": ["objectId", "rfid"],
    "silver.xmatch_gaia": ["objectId"],
    "silver.xmatch_ps1": ["objectId", "match_rank"],
    "silver.xmatch_ss": ["candid"],
    "silver.lsst_alert": ["diaSourceId"],
    "silver.dia_source": ["diaSourceId"],
    "silver.dia_forced_source": ["diaForcedSourceId"],
    "silver.dia_object": ["diaObjectId"],
    "silver.ss_source": ["diaSourceId"],
    "gold.object": ["survey", "objectId"],
    "gold.magstat": ["survey", "objectId", "band"],
    "gold.light_curve": ["survey", "objectId", "point_index"],
    "gold.nightly_stats": ["survey", "night", "field", "band"],
}


def read_alerts() -> dict[str, list[tuple[Path, dict]]]:
    """Packets grouped by night (UTC date of candidate.jd)."""
    by_night: dict[str, list[tuple[Path, dict]]] = defaultdict(list)
    for path in sorted(DATA.glob("v*/*.avro")):
        with open(path, "rb") as fh:
            for rec in fastavro.reader(fh):
                by_night[night_of_jd(rec["candidate"]["jd"]).isoformat()].append((path, rec))
    return by_night


def write_tarball(landing: Path, night: str, files: list[Path]) -> Path:
    landing.mkdir(parents=True, exist_ok=True)
    out = landing / f"ztf_public_{night.replace('-', '')}.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        for f in sorted(set(files)):
            tar.add(f, arcname=f.name)
    return out


def expected(alerts: list[dict]) -> dict:
    """Silver contents derived here from the packets (dbt_expect, docs/ztf-domain.md)."""
    return {
        "detection": dbt_expect.detections(alerts),
        "non_detection": set(dbt_expect.non_detections(alerts)),
        "forced_photometry": dbt_expect.forced_photometry(alerts),
    }


def alerts_in_silver(db, packets_by_night) -> list[dict]:
    """The packets of every night the lakehouse holds so far."""
    nights = [
        n
        for (n,) in db.execute(
            "select distinct cast(night as varchar) from silver.ztf_alert"
        ).fetchall()
    ]
    return [r for n in nights for _, r in packets_by_night[n]]


def bronze_metadata(result) -> dict:
    (mat,) = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["bronze", "alerts"])
    ]
    return {k: v.value for k, v in mat.metadata.items()}


# Where a row came from (paths, run ids) legitimately differs between two lakehouses.
PROVENANCE = (
    "exclude (cutout_science_uri, cutout_template_uri, cutout_difference_uri, "
    "ingest_source, ingest_run_id)"
)


def table_snapshot(db: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            t: con.execute(
                f"select * {PROVENANCE if t == 'silver.ztf_alert' else ''} from {t} order by all"
            ).fetchall()
            for t in SILVER_GOLD_KEYS
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def packets_by_night():
    return read_alerts()


@pytest.fixture(scope="module")
def env(tmp_path_factory, packets_by_night):
    """Lakehouse + landing with one tarball per night; the sample night materialized."""
    root = tmp_path_factory.mktemp("pipeline")
    landing = root / "landing"
    for night, items in packets_by_night.items():
        write_tarball(landing, night, [p for p, _ in items])
    settings = Settings(lakehouse=root / "lakehouse", landing=landing, ateda_bin=ateda_bin())
    started = time.monotonic()
    result = run_night(settings, SAMPLE_NIGHT)
    elapsed = time.monotonic() - started
    assert result.success
    return {"settings": settings, "result": result, "elapsed": elapsed}


@pytest.fixture
def db(env):
    """Read-only connection, closed after each test (it would block the next dbt run)."""
    con = duckdb.connect(str(env["settings"].duckdb_path), read_only=True)
    yield con
    con.close()


def test_bronze_asset_reports_ingest_summary(env, packets_by_night):
    result = env["result"]
    md = bronze_metadata(result)
    n = len(packets_by_night[SAMPLE_NIGHT])
    assert n == 24
    assert md["alerts_seen"] == n and md["ingested"] == n
    assert md["already_present"] == 0 and md["quarantined"] == 0
    assert md["cutouts_written"] == 3 * n
    assert isinstance(md["snapshot_id"], int)
    assert md["night_rows"] == n and md["exit_code"] == 0
    assert md["source"].endswith("ztf_public_20231012.tar.gz")


def test_every_asset_and_check(env):
    result = env["result"]
    keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    for t in SILVER_GOLD_KEYS:
        assert t.replace(".", "/") in keys
    assert "bronze/alerts" in keys
    evals = result.get_asset_check_evaluations()
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in evals if not e.passed]
    assert failed == []
    names = {(e.asset_key.to_user_string(), e.check_name) for e in evals}
    assert ("bronze/alerts", "rows_match_source") in names
    assert ("silver/ztf_alert", "assert_ztf_alert_rows_match_bronze") in names
    assert any("unique_combination" in c for k, c in names if k == "silver/detection")
    assert len(evals) >= 50
    # the per-stamp layout: sampled stamps read whole from their own objects
    (stamps,) = [
        e
        for e in evals
        if (e.asset_key.to_user_string(), e.check_name) == ("silver/ztf_alert", "stamps_readable")
    ]
    md = {k: v.value for k, v in stamps.metadata.items()}
    assert md["stamps_read"] == 3 * md["rows_sampled"] > 0 and md["stamps_in_packs"] == 0


def test_row_counts_against_packets(db, packets_by_night):
    alerts = [rec for _, rec in packets_by_night[SAMPLE_NIGHT]]
    exp = expected(alerts)

    def count(sql: str) -> int:
        return db.execute(sql).fetchone()[0]

    assert count("select count(*) from silver.ztf_alert") == len(alerts)
    assert count("select count(*) from silver.detection") == len(exp["detection"])
    assert count("select count(*) from silver.non_detection") == len(exp["non_detection"])
    assert count("select count(*) from silver.forced_photometry") == len(exp["forced_photometry"])
    objects = {a["objectId"] for a in alerts}
    assert count("select count(*) from gold.object") == len(objects)
    assert count("select sum(n_alerts) from gold.nightly_stats") == len(alerts)
    assert count("select count(distinct night) from gold.nightly_stats") == 1
    assert count("select count(*) from silver.xmatch_ps1") == sum(
        1 for a in alerts for i in (1, 2, 3) if a["candidate"][f"objectidps{i}"] is not None
    )
    fids = {(oid, d["fid"]) for (oid, _), d in exp["detection"].items()}
    assert count("select count(*) from gold.magstat") == len(fids)
    usable_fp = [k for k, f in exp["forced_photometry"].items() if dbt_expect.fp_flags(f)[1]]
    assert 0 < len(usable_fp) < len(exp["forced_photometry"])
    points = len(exp["detection"]) + len(exp["non_detection"]) + len(usable_fp)
    assert count("select count(*) from gold.light_curve") == points
    assert count("select sum(n_forced_photometry) from gold.object") == len(usable_fp)


def test_keys_unique(db):
    for table, key in SILVER_GOLD_KEYS.items():
        cols = ", ".join(key)
        dupes = db.execute(
            f"select {cols}, count(*) from {table} group by {cols} having count(*) > 1"
        ).fetchall()
        nulls = db.execute(
            f"select count(*) from {table} where " + " or ".join(f"{c} is null" for c in key)
        ).fetchone()[0]
        assert dupes == [] and nulls == 0, table


def test_every_table_and_column_documented(db):
    """The schema.yml descriptions reach DuckDB as comments (persist_docs): every silver and
    gold table and every one of their columns has one."""
    tables = {
        f"{schema}.{name}": comment
        for schema, name, comment in db.execute(
            "select schema_name, table_name, comment from duckdb_tables() "
            "where schema_name in ('silver', 'gold')"
        ).fetchall()
    }
    assert tables.keys() == SILVER_GOLD_KEYS.keys()
    assert all(c and c.strip() for c in tables.values()), tables
    undocumented = db.execute(
        "select schema_name, table_name, column_name from duckdb_columns() "
        "where schema_name in ('silver', 'gold') and (comment is null or trim(comment) = '')"
    ).fetchall()
    assert undocumented == []


def test_known_object_detections(db, packets_by_night):
    (alert,) = [r for _, r in packets_by_night[SAMPLE_NIGHT] if r["objectId"] == KNOWN_OBJECT]
    exp = {c: d for (oid, c), d in expected([alert])["detection"].items() if oid == KNOWN_OBJECT}
    rows = db.execute(
        "select candid, mjd, fid, magpsf, sigmapsf, isdiffpos, has_stamp, parent_candid, from_alert "
        "from silver.detection where objectId = ? order by mjd",
        [KNOWN_OBJECT],
    ).fetchall()
    assert len(rows) == len(exp) == 38
    assert {r[0] for r in rows} == set(exp)
    for candid, mjd, fid, magpsf, sigmapsf, isdiffpos, has_stamp, parent, from_alert in rows:
        e = exp[candid]
        assert mjd == pytest.approx(e["jd"] - 2400000.5, abs=1e-9)
        assert fid == e["fid"]
        assert magpsf == pytest.approx(e["magpsf"], rel=1e-7)
        assert sigmapsf == pytest.approx(e["sigmapsf"], rel=1e-7)
        assert isdiffpos == (1 if e["isdiffpos"] in ("t", "1") else -1)
        own = candid == alert["candid"]
        assert from_alert is own and has_stamp is own
        assert parent == (None if own else alert["candid"])
    obj = db.execute(
        "select ndet, n_alerts, first_mjd, last_mjd from gold.object where objectId = ?",
        [KNOWN_OBJECT],
    ).fetchone()
    mjds = [e["jd"] - 2400000.5 for e in exp.values()]
    assert obj[0] == 38 and obj[1] == 1
    assert obj[2] == pytest.approx(min(mjds)) and obj[3] == pytest.approx(max(mjds))
    by_fid = db.execute(
        "select fid, ndet, mag_min, mag_max from gold.magstat where objectId = ? order by fid",
        [KNOWN_OBJECT],
    ).fetchall()
    for fid, ndet, mag_min, mag_max in by_fid:
        mags = [e["magpsf"] for e in exp.values() if e["fid"] == fid]
        assert ndet == len(mags)
        assert mag_min == pytest.approx(min(mags)) and mag_max == pytest.approx(max(mags))


def test_magstat_dmdt_follows_alerce(db, packets_by_night):
    """dmdt_first from the packets: same-filter limits > 0.5 d before the first detection,
    the minimum of (mag_first + e_mag_first - diffmaglim) / dt; null when none qualifies."""
    nights = [
        n
        for (n,) in db.execute(
            "select distinct cast(night as varchar) from silver.ztf_alert"
        ).fetchall()
    ]
    alerts = [r for n in nights for _, r in packets_by_night[n]]
    dets: dict[tuple, dict] = {}
    limits: dict[tuple, float] = {}
    for a in alerts:
        oid = a["objectId"]
        for p in [a["candidate"], *(a.get("prv_candidates") or [])]:
            if p["candid"] is None:
                limits[(oid, p["fid"], p["jd"] - 2400000.5)] = p["diffmaglim"]
            else:
                dets.setdefault((oid, p["candid"]), p)
    first: dict[tuple, dict] = {}
    for (oid, _candid), p in sorted(dets.items(), key=lambda kv: (kv[1]["jd"], kv[0][1])):
        first.setdefault((oid, p["fid"]), p)
    want = {}
    for (oid, fid), p in first.items():
        mjd0 = p["jd"] - 2400000.5
        rates = [
            ((p["magpsf"] + p["sigmapsf"] - lim) / (mjd0 - mjd), mjd)
            for (o, f, mjd), lim in limits.items()
            if o == oid and f == fid and mjd < mjd0 - 0.5
        ]
        want[(oid, fid)] = min(rates, key=lambda r: (r[0], -r[1])) if rates else None
    got = {
        (oid, fid): (rate, mjd, dt)
        for oid, fid, rate, mjd, dt in db.execute(
            "select objectId, fid, dmdt_first, dmdt_non_detection_mjd, dt_first from gold.magstat"
        ).fetchall()
    }
    assert got.keys() == want.keys()
    assert any(w is not None for w in want.values()), "the sample has rises to measure"
    for key, w in want.items():
        rate, mjd, dt = got[key]
        if w is None:
            assert (rate, mjd, dt) == (None, None, None), key
        else:
            assert rate == pytest.approx(w[0], rel=1e-9) and mjd == pytest.approx(w[1], abs=1e-9)
            assert dt > 0.5, key
    # the case that motivated the rule: a g-band limit 41 s before ZTF17aadcuwj's first g detection
    assert got[(KNOWN_OBJECT, 1)][2] is None or got[(KNOWN_OBJECT, 1)][2] > 0.5


def test_non_detections_are_upper_limits(db, packets_by_night):
    alerts = [r for _, r in packets_by_night[SAMPLE_NIGHT]]
    limits = {
        (a["objectId"], p["fid"], p["jd"] - 2400000.5): p["diffmaglim"]
        for a in alerts
        for p in a.get("prv_candidates") or []
        if p["candid"] is None
    }
    rows = db.execute("select objectId, fid, mjd, diffmaglim from silver.non_detection").fetchall()
    assert len(rows) == len(limits)
    got = {(o, f, round(m, 9)): d for o, f, m, d in rows}
    for (o, f, m), lim in limits.items():
        d = got[(o, f, round(m, 9))]
        assert (d is None and lim is None) or d == pytest.approx(lim, rel=1e-7)


def test_forced_photometry_keeps_every_point_with_flags(db, packets_by_night):
    """Every fp_hists point is in silver with its procstatus; measured/usable and the
    magnitudes recomputed here; gold keeps only the usable points."""
    alerts = [r for _, r in packets_by_night[SAMPLE_NIGHT]]
    fp = expected(alerts)["forced_photometry"]
    n_points = sum(len(a.get("fp_hists") or []) for a in alerts)
    assert len(fp) == n_points > 100
    rows = {
        (o, p): rest
        for o, p, *rest in db.execute(
            "select objectId, pid, procstatus, measured, usable, mag, e_mag, forcediffimflux, "
            "parent_candid from silver.forced_photometry"
        ).fetchall()
    }
    assert set(rows) == set(fp)
    flags = {key: dbt_expect.fp_flags(f) for key, f in fp.items()}
    # the sample has all three kinds: usable, measured with a bad procstatus, no measurement
    assert {flags[k] for k in fp} == {(True, True), (True, False), (False, False)}
    for key, f in fp.items():
        procstatus, measured, usable, mag, e_mag, flux, parent = rows[key]
        assert procstatus == f["procstatus"], key
        assert (measured, usable) == flags[key], key
        assert parent == f["parent_candid"], key
        if f["forcediffimflux"] is None:
            assert flux is None, key
        else:
            assert flux == pytest.approx(f["forcediffimflux"], rel=1e-7), key
        if measured:
            want_mag, want_e_mag = dbt_expect.fp_mag(f)
            assert mag == pytest.approx(want_mag, abs=1e-9), key
            assert e_mag == pytest.approx(want_e_mag, rel=1e-9), key
        else:
            assert (mag, e_mag) == (None, None), key
    lc = {
        (o, p)
        for o, p in db.execute(
            "select objectId, pid from gold.light_curve where kind = 'forced_photometry'"
        ).fetchall()
    }
    assert lc == {k for k in fp if flags[k][1]}


def test_object_position_weighted_and_stellar_from_first_detection(db, packets_by_night):
    """mean ra/dec weighted by 1/e^2 (ALeRCE's per-filter errors) and the stellar flag of
    the first detection, both recomputed from the packets for every object."""
    dets = expected(alerts_in_silver(db, packets_by_night))["detection"]
    by_obj: dict[str, list[dict]] = defaultdict(list)
    for (oid, _), d in dets.items():
        by_obj[oid].append(d)
    got = {
        oid: (ra, dec, st)
        for oid, ra, dec, st in db.execute(
            "select objectId, mean_ra, mean_dec, stellar from gold.object"
        ).fetchall()
    }
    assert got.keys() == by_obj.keys()
    weighting_matters = False
    for oid, rows in by_obj.items():
        ra, dec, st = got[oid]
        want_ra, want_dec = dbt_expect.weighted_position(rows)
        assert dbt_expect.ra_distance(ra, want_ra) < 1e-9, oid
        assert dec == pytest.approx(want_dec, abs=1e-9), oid
        plain_dec = sum(r["dec"] for r in rows) / len(rows)
        weighting_matters |= abs(plain_dec - want_dec) > 1e-9
        assert st is dbt_expect.first_detection(rows)["stellar"], oid
    # the sample tells the weighted mean from a plain one (first vs latest stellar: the
    # synthetic case in test_dbt_semantics)
    assert weighting_matters


def test_position_error_columns(db, packets_by_night):
    dets = expected(alerts_in_silver(db, packets_by_night))["detection"]
    rows = db.execute("select objectId, candid, fid, dec, e_ra, e_dec from silver.detection")
    n = 0
    for oid, candid, fid, dec, e_ra, e_dec in rows.fetchall():
        d = dets[(oid, candid)]
        assert fid == d["fid"] and dec == pytest.approx(d["dec"], abs=1e-12)
        err = dbt_expect.POSITION_ERROR[fid]
        assert e_dec == pytest.approx(err, rel=1e-12)
        assert e_ra == pytest.approx(err / abs(math.cos(math.radians(d["dec"]))), rel=1e-12)
        n += 1
    assert n == len(dets)


def test_light_curve_ordered_by_mjd(db):
    rows = db.execute(
        "select objectId, point_index, mjd, kind from gold.light_curve order by objectId, point_index"
    ).fetchall()
    by_obj: dict[str, list] = defaultdict(list)
    for oid, idx, mjd, kind in rows:
        by_obj[oid].append((idx, mjd, kind))
    assert len(by_obj) == 24
    for oid, pts in by_obj.items():
        assert [p[0] for p in pts] == list(range(1, len(pts) + 1)), oid
        mjds = [p[1] for p in pts]
        assert mjds == sorted(mjds), oid
    kinds = {k for _, _, _, k in rows}
    assert kinds == {"detection", "non_detection", "forced_photometry"}
    # the table's physical order is the plotting order
    physical = db.execute("select objectId, point_index from gold.light_curve").fetchall()
    assert physical == [(o, i) for o, i, _, _ in rows]


def test_rerun_of_a_night_gives_the_same_tables(env):
    settings = env["settings"]
    before = table_snapshot(settings.duckdb_path)
    again = run_night(settings, SAMPLE_NIGHT)
    assert again.success
    md = bronze_metadata(again)
    assert (md["ingested"], md["already_present"]) == (0, 24)
    after = table_snapshot(settings.duckdb_path)
    for t, rows in after.items():
        assert rows == before[t], t


def test_nights_in_any_order_equal_one_full_build(env, tmp_path):
    """More nights, incremental and newest first == one dbt build over the same nights,
    bit for bit (deterministic dedup winners, order-independent aggregates)."""
    settings = env["settings"]
    others = ["2025-03-25", "2019-12-16", "2018-04-18"]
    tarballs = [settings.landing / f"ztf_public_{n.replace('-', '')}.tar.gz" for n in others]
    run_ingest(settings, *tarballs)
    for night in others:
        assert dbt_build(settings, night, ["--quiet"]) == 0
    incremental = table_snapshot(settings.duckdb_path)

    # the CLI `make demo` uses: ingest sources, then one dbt build over every night
    full = Settings(lakehouse=tmp_path / "full", landing=tmp_path, ateda_bin=settings.ateda_bin)
    sources = [str(settings.landing / "ztf_public_20231012.tar.gz"), *map(str, tarballs)]
    assert pipeline_main(["--lakehouse", str(full.lakehouse), *sources]) == 0
    full_tables = table_snapshot(full.duckdb_path)
    for t, rows in full_tables.items():
        assert rows == incremental[t], t
    assert len(incremental["silver.ztf_alert"]) == 24 + 1 + 3 + 1
    nights = {r[1].isoformat() for r in incremental["gold.nightly_stats"]}
    assert nights == {SAMPLE_NIGHT, *others}


def test_report_plots_most_detected_object(env, capsys):
    settings = env["settings"]
    png = report(settings.lakehouse)
    out = capsys.readouterr().out
    assert png.exists() and png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    top = con.execute(
        "select objectId from gold.object order by ndet desc, objectId limit 1"
    ).fetchone()[0]
    con.close()
    assert png.name == f"light_curve_{top}.png"
    assert "gold.nightly_stats" in out and top in out


def test_landing_sensor_requests_the_night(tmp_path, packets_by_night):
    from ateda_dagster.definitions import landing_sensor

    landing = tmp_path / "landing"
    tarball = write_tarball(landing, SAMPLE_NIGHT, [p for p, _ in packets_by_night[SAMPLE_NIGHT]])
    (landing / "notes.txt").write_text("not a night")
    old = time.time() - 60
    os.utime(tarball, (old, old))
    assert [n for n, _, _ in landed_files(landing)] == [SAMPLE_NIGHT]

    resources = {"ateda": AtedaResource(landing=str(landing))}
    ctx = dg.build_sensor_context(cursor=None, resources=resources)
    requests = list(landing_sensor(ctx))
    assert [r.partition_key for r in requests] == [SAMPLE_NIGHT]
    assert requests[0].run_key.startswith("ztf_public_20231012.tar.gz:")

    again = landing_sensor(dg.build_sensor_context(cursor=ctx.cursor, resources=resources))
    assert isinstance(again, dg.SkipReason)

    # a tarball still being copied (fresh mtime) is not picked up yet
    fresh = write_tarball(landing, "2024-05-19", [p for p, _ in packets_by_night["2024-05-19"]])
    assert fresh.name not in [n for _, n, _ in landed_files(landing)]


def materialize_bronze(settings: Settings, night: str):
    from ateda_dagster.assets import bronze_alerts
    from ateda_dagster.definitions import resources

    return dg.materialize(
        [bronze_alerts],
        partition_key=night,
        resources=resources(
            lakehouse=str(settings.lakehouse),
            landing=str(settings.landing),
            ateda_bin=str(settings.ateda_bin),
        ),
        raise_on_error=False,
    )


def test_quarantine_is_reported_not_fatal(tmp_path, packets_by_night):
    """A corrupt member: the night still materializes, the WARN check says so."""
    landing = tmp_path / "landing"
    landing.mkdir()
    good = [p for p, _ in packets_by_night["2019-12-16"]]
    with tarfile.open(landing / "ztf_public_20191216.tar.gz", "w:gz") as tar:
        for f in good:
            tar.add(f, arcname=f.name)
        junk = tmp_path / "broken.avro"
        junk.write_bytes(b"Obj\x01 this is not an avro container")
        tar.add(junk, arcname="broken.avro")
    settings = Settings(tmp_path / "lh", landing, ateda_bin())
    result = materialize_bronze(settings, "2019-12-16")
    assert result.success
    md = bronze_metadata(result)
    assert (md["exit_code"], md["quarantined"], md["ingested"]) == (2, 1, len(good))
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["nothing_quarantined"].passed
    assert checks["nothing_quarantined"].severity == dg.AssetCheckSeverity.WARN
    assert checks["rows_match_source"].passed and checks["candid_unique"].passed


def test_missing_night_source_fails(tmp_path):
    settings = Settings(tmp_path / "lh", tmp_path / "empty-landing", ateda_bin())
    result = materialize_bronze(settings, "2020-01-01")
    assert not result.success
    assert not (tmp_path / "lh" / "catalog.db").exists()


def test_duckdb_writers_are_serialized(tmp_path):
    """Two nights' runs must not write ateda.duckdb at once (DuckDB: one writer)."""
    from ateda_dagster.lakehouse import duckdb_lock

    settings = Settings(tmp_path / "lh", tmp_path, ateda_bin())
    with duckdb_lock(settings):
        with pytest.raises(TimeoutError):
            with duckdb_lock(settings, timeout_s=1):
                pass
        with pytest.raises(TimeoutError):
            with duckdb_lock(settings, exclusive=False, timeout_s=1):
                pass
    with duckdb_lock(settings, exclusive=False), duckdb_lock(settings, exclusive=False):
        pass  # readers share
