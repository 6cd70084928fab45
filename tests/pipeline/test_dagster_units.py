"""Dagster pieces on their own: the exact bronze check (fails when it should, also with
the real binary), ingest tuning passed only when set (flags the real binary accepts), the
StarRocks catalog name handed to dbt, the dbt manifest preparation, the module split."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from dataclasses import fields
from pathlib import Path

import fastavro
import pytest

import dagster as dg
from ateda_testlib import DATA, REPO, ateda_bin, night_of_jd

sys.path.insert(0, str(REPO / "dagster"))

from ateda_dagster import checks  # noqa: E402
from ateda_dagster.bronze_read import NightCounts  # noqa: E402
from ateda_dagster.dbt_vars import dbt_vars  # noqa: E402
from ateda_dagster.ingest import run_ingest  # noqa: E402
from ateda_dagster.resources import AtedaResource  # noqa: E402
from ateda_dagster.settings import IngestTuning, Settings, tuning_flag  # noqa: E402

NIGHT = "2019-12-16"


def summary(ingested: int, already: int = 0, run_id: str = "r1") -> dict:
    return {
        "run_id": run_id,
        "alerts_seen": ingested + already,
        "ingested": ingested,
        "already_present": already,
        "quarantined": 0,
    }


# --- rows_match_source: exact -------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "reported", "passed"),
    [
        # first ingest: every alert of the source, once
        (0, NightCounts(24, 24, 24), summary(24), True),
        # re-run: nothing added, everything already there
        (24, NightCounts(24, 24, 0), summary(0, 24), True),
        # a larger tarball of the same night later: only the new alerts added
        (10, NightCounts(24, 24, 14), summary(14, 10), True),
        # a commit applied twice: more rows than reported (the old `>=` rule passed this)
        (0, NightCounts(48, 24, 48), summary(24), False),
        # a commit lost: fewer rows than reported
        (0, NightCounts(20, 20, 20), summary(24), False),
        # the source is another night's: the run's rows are not in this partition
        (0, NightCounts(0, 0, 0), summary(24), False),
        # rows of earlier runs disappeared (or another writer added some)
        (30, NightCounts(24, 24, 24), summary(24), False),
        # the summary does not add up
        (0, NightCounts(24, 24, 24), {**summary(24), "alerts_seen": 30}, False),
    ],
)
def test_rows_match_source_is_exact(before, after, reported, passed):
    result = checks.rows_match_source(before, after, reported)
    assert result.passed is passed
    assert result.metadata["night_rows"].value == after.rows
    assert result.metadata["rows_before"].value == before
    assert (result.description is None) is passed


def test_check_specs_cover_the_results():
    names = {s.name for s in checks.bronze_check_specs(dg.AssetKey(["bronze", "alerts"]))}
    assert names == {checks.ROWS_MATCH_SOURCE, checks.CANDID_UNIQUE, checks.NOTHING_QUARANTINED}
    assert not checks.candid_unique(NightCounts(3, 2)).passed
    assert checks.nothing_quarantined(1).severity == dg.AssetCheckSeverity.WARN


# --- the same with the real binary ----------------------------------------------------


def night_files(night: str) -> list[Path]:
    out = []
    for path in sorted(DATA.glob("v*/*.avro")):
        with open(path, "rb") as fh:
            if any(
                night_of_jd(r["candidate"]["jd"]).isoformat() == night for r in fastavro.reader(fh)
            ):
                out.append(path)
    return out


def tarball(landing: Path, name_night: str, files: list[Path]) -> None:
    landing.mkdir(parents=True, exist_ok=True)
    with tarfile.open(landing / f"ztf_public_{name_night.replace('-', '')}.tar.gz", "w:gz") as tar:
        for f in files:
            tar.add(f, arcname=f.name)


def materialize(settings: Settings, night: str, **config):
    from ateda_dagster.assets import bronze_alerts
    from ateda_dagster.definitions import resources

    result = dg.materialize(
        [bronze_alerts],
        partition_key=night,
        resources=resources(
            lakehouse=str(settings.lakehouse),
            landing=str(settings.landing),
            ateda_bin=str(settings.ateda_bin),
            **config,
        ),
        raise_on_error=False,
    )
    assert result.success
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_check_passes_then_passes_on_rerun(tmp_path):
    files = night_files(NIGHT)
    tarball(tmp_path / "landing", NIGHT, files)
    settings = Settings(tmp_path / "lh", tmp_path / "landing", ateda_bin())
    first = materialize(settings, NIGHT)["rows_match_source"]
    assert first.passed, first.metadata
    assert first.metadata["rows_before"].value == 0
    n = first.metadata["night_rows"].value
    assert n == first.metadata["ingested"].value > 0
    again = materialize(settings, NIGHT)["rows_match_source"]
    assert again.passed, again.metadata
    assert (again.metadata["rows_before"].value, again.metadata["ingested"].value) == (n, 0)
    assert again.metadata["night_rows"].value == n


def test_check_fails_on_another_nights_source(tmp_path):
    """Night 2019-12-16's packets landed as ztf_public_20200101.tar.gz: the ingest succeeds,
    but no row is in partition 2020-01-01: the check fails."""
    tarball(tmp_path / "landing", "2020-01-01", night_files(NIGHT))
    settings = Settings(tmp_path / "lh", tmp_path / "landing", ateda_bin())
    check = materialize(settings, "2020-01-01")["rows_match_source"]
    assert not check.passed
    assert check.metadata["night_rows"].value == 0 and check.metadata["ingested"].value > 0


def test_check_fails_when_bronze_holds_more_than_reported(tmp_path):
    """An `ateda` whose summary under-reports what it added (as a commit applied twice
    would leave bronze): night rows == ingested + already present, so the old `>=` rule
    passed; the exact check does not."""
    real = ateda_bin()
    fake = tmp_path / "ateda-under-reports"
    fake.write_text(
        f"""#!{sys.executable}
import json, subprocess, sys
args = sys.argv[1:]
code = subprocess.run([{str(real)!r}, *args]).returncode
path = args[args.index("--summary-json") + 1]
s = json.load(open(path))
s["already_present"] += s["ingested"]
s["ingested"] = 0
json.dump(s, open(path, "w"))
sys.exit(code)
"""
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    tarball(tmp_path / "landing", NIGHT, night_files(NIGHT))
    settings = Settings(tmp_path / "lh", tmp_path / "landing", fake)
    check = materialize(settings, NIGHT)["rows_match_source"]
    md = {k: v.value for k, v in check.metadata.items()}
    assert md["night_rows"] == md["ingested"] + md["already_present"]  # `>=` held
    assert not check.passed
    assert md["run_rows"] == md["night_rows"] > 0


# --- ingest tuning: only when set, flags the binary knows -----------------------------


def help_flags() -> str:
    return subprocess.run(
        [str(ateda_bin()), "ingest", "--help"], capture_output=True, text=True, check=True
    ).stdout


def test_resource_passes_no_tuning_by_default(tmp_path):
    """The resource restates none of the binary's defaults: no tuning flag by default."""
    assert AtedaResource().tuning() == IngestTuning()
    assert IngestTuning().flags() == []
    tarball(tmp_path / "landing", NIGHT, night_files(NIGHT))
    settings = AtedaResource(lakehouse=str(tmp_path / "lh"), ateda_bin=str(ateda_bin())).settings()
    result = run_ingest(settings, tmp_path / "landing")
    tuning = {tuning_flag(f.name) for f in fields(IngestTuning)}
    assert not tuning & set(result.command), result.command


def test_every_tuning_setting_is_a_flag_the_binary_accepts(tmp_path):
    text = help_flags()
    for f in fields(IngestTuning):
        assert f"{tuning_flag(f.name)} " in text, f.name
    # Set: passed, and it takes effect (24 alerts, 5 per commit).
    files = night_files("2023-10-12")
    settings = AtedaResource(
        lakehouse=str(tmp_path / "lh"), ateda_bin=str(ateda_bin()), commit_every=5, chunk=5
    ).settings()
    result = run_ingest(settings, *files)
    cmd = result.command
    assert cmd[cmd.index("--commit-every") + 1] == "5" and cmd[cmd.index("--chunk") + 1] == "5"
    assert "--workers" not in cmd
    assert result.summary["commits"] >= result.summary["ingested"] // 5 >= 4


# --- ATEDA_STARROCKS_CATALOG ----------------------------------------------------------


def test_starrocks_catalog_reaches_dbt_vars(tmp_path, monkeypatch):
    monkeypatch.setenv("ATEDA_CATALOG", "http://nessie:19120/iceberg")
    monkeypatch.delenv("ATEDA_STARROCKS_CATALOG", raising=False)
    assert "starrocks_iceberg_catalog" not in dbt_vars(Settings.from_env(tmp_path), "2023-10-12")
    monkeypatch.setenv("ATEDA_STARROCKS_CATALOG", "lake_catalog")
    v = dbt_vars(Settings.from_env(tmp_path), "2023-10-12")
    assert v["starrocks_iceberg_catalog"] == "lake_catalog"
    assert v["bronze_alerts_metadata"] is None


def test_starrocks_catalog_compiles_into_the_models(tmp_path, monkeypatch):
    """dbt's starrocks target reads bronze through the catalog Dagster names."""
    from ateda_dagster.dbt_project import dbt_executable

    monkeypatch.setenv("ATEDA_CATALOG", "http://nessie:19120/iceberg")
    monkeypatch.setenv("ATEDA_STARROCKS_CATALOG", "lake_catalog")
    dbt_dir = REPO / "dbt"
    proc = subprocess.run(
        [
            dbt_executable(),
            "compile",
            "--target",
            "starrocks",
            "--vars",
            json.dumps(dbt_vars(Settings.from_env(tmp_path), "2023-10-12")),
            "--target-path",
            str(tmp_path / "target"),
            "--profiles-dir",
            str(dbt_dir),
        ],
        cwd=dbt_dir,
        env={**os.environ, "STARROCKS_HOST": "127.0.0.1", "STARROCKS_PORT": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    compiled = "".join(p.read_text() for p in (tmp_path / "target" / "compiled").rglob("*.sql"))
    assert "`lake_catalog`.`bronze`.`alerts`" in compiled
    assert "iceberg_catalog" not in compiled


# --- dbt manifest: dagster-dbt's preparer, when missing or stale ------------------------


def test_manifest_prepared_when_missing_or_stale(tmp_path):
    from dagster_dbt import DbtProject

    from ateda_dagster.dbt_project import manifest_is_stale, prepare_if_stale

    project_dir = tmp_path / "dbt"
    shutil.copytree(REPO / "dbt", project_dir, ignore=shutil.ignore_patterns("target", "logs"))
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir, target="duckdb")
    assert manifest_is_stale(project)
    manifest = prepare_if_stale(project)
    assert manifest == project.manifest_path and manifest.exists()
    assert not manifest_is_stale(project)
    first = manifest.stat().st_mtime_ns
    prepare_if_stale(project)
    assert manifest.stat().st_mtime_ns == first  # fresh: not prepared again
    model = next((project_dir / "models").rglob("*.sql"))
    os.utime(model, ns=(first + 10**9, first + 10**9))
    assert manifest_is_stale(project)
    prepare_if_stale(project)
    assert not manifest_is_stale(project)


def test_lakehouse_names_still_importable():
    """Scripts and tests import these from ateda_dagster.lakehouse (now a re-export)."""
    import ateda_dagster.lakehouse as lh
    from ateda_dagster import bronze_read, dbt_vars, locks, settings, sqlite_catalog

    assert lh.Settings is settings.Settings and lh.dbt_vars is dbt_vars.dbt_vars
    assert lh.duckdb_lock is locks.duckdb_lock
    assert lh.bronze_connection is bronze_read.bronze_connection
    assert lh.bronze_metadata_location is sqlite_catalog.bronze_metadata_location
    for name in lh.__all__:
        assert getattr(lh, name) is not None
