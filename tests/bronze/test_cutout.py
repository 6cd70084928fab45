"""`ateda cutout ID`: the exact stamp bytes of an ingested alert, each kind, both surveys."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import fastavro
import pytest

from ateda_testlib import REPO, ateda_bin, run_ingest

KINDS = {
    "cutoutScience": "science",
    "cutoutTemplate": "template",
    "cutoutDifference": "difference",
}
# a bundled Rubin sample without stamps (their cutout columns are null)
LSST_FILE = REPO / "tests" / "data" / "lsst" / "fake_v10_0.avro"


def cutout(lakehouse: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ateda_bin()), "cutout", "--lakehouse", str(lakehouse), *args],
        check=False,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, packets):
    base = tmp_path_factory.mktemp("cutout")
    lakehouse = base / "lakehouse"
    # two bundled ZTF packets of each schema version (3.2 to 4.02), generated Rubin alerts (with stamps) and
    # a bundled Rubin sample (without)
    by_version: dict[str, list[Path]] = {}
    for p in packets:
        by_version.setdefault(schema_version(p), []).append(p)
    assert set(by_version) == {"3.2", "3.3", "4.01", "4.02"}
    sources = [p for ps in by_version.values() for p in ps[:2]]
    subprocess.run(
        [str(ateda_bin()), "gen", "--survey", "lsst", "--n", "2", "--night", "20251012"]
        + ["--out", str(base / "lsst")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    rubin = sorted((base / "lsst").glob("*.avro"))
    assert len(rubin) == 2
    run = run_ingest(lakehouse, *sources, *rubin, LSST_FILE)
    assert run.code == 0, run.stderr
    return lakehouse, sources, rubin


def schema_version(path: Path) -> str:
    with path.open("rb") as f:
        return json.loads(fastavro.reader(f).metadata["avro.schema"])["version"]


def stamp_bytes(rec: dict, field: str) -> bytes | None:
    v = rec.get(field)
    return v["stampData"] if isinstance(v, dict) else v


def test_each_kind_gives_the_packets_exact_stamp_bytes(ingested, tmp_path):
    lakehouse, sources, _ = ingested
    checked = 0
    for path in sources:
        with path.open("rb") as f:
            records = list(fastavro.reader(f))
        for rec in records:
            candid = rec["candid"]
            for field, kind in KINDS.items():
                out = tmp_path / f"{candid}-{kind}.bin"
                proc = cutout(lakehouse, str(candid), "--kind", kind, "-o", str(out))
                assert proc.returncode == 0, proc.stderr.decode()
                assert out.read_bytes() == stamp_bytes(rec, field)
                checked += 1
            # all three into a directory, named <candid>-<kind>.fits.gz
            d = tmp_path / f"all-{candid}"
            proc = cutout(lakehouse, str(candid), "--kind", "all", "-o", str(d), "--survey", "ztf")
            assert proc.returncode == 0, proc.stderr.decode()
            for field, kind in KINDS.items():
                assert (d / f"{candid}-{kind}.fits.gz").read_bytes() == stamp_bytes(rec, field)
    assert checked == 3 * len(sources) >= 21


def test_rubin_stamps_and_stdout(ingested, tmp_path):
    lakehouse, _, rubin = ingested
    for path in rubin:
        with path.open("rb") as f:
            (rec,) = list(fastavro.reader(f))
        key = rec["diaSourceId"]
        # no --survey: found in bronze.lsst_alerts after bronze.alerts; to stdout
        proc = cutout(lakehouse, str(key), "--kind", "difference", "-o", "-")
        assert proc.returncode == 0, proc.stderr.decode()
        assert proc.stdout == rec["cutoutDifference"]
        proc = cutout(lakehouse, str(key), "--survey", "lsst", "-o", str(tmp_path / str(key)))
        assert proc.returncode == 0, proc.stderr.decode()
        for field, kind in KINDS.items():
            got = tmp_path / str(key) / f"{key}-{kind}.fits"
            assert got.read_bytes() == rec[field]
    # a row without stamps: asked for one kind or all, a clear error
    with LSST_FILE.open("rb") as f:
        (rec,) = list(fastavro.reader(f))
    assert rec["cutoutScience"] is None
    key = str(rec["diaSourceId"])
    proc = cutout(lakehouse, key, "--kind", "science", "-o", str(tmp_path / "none"))
    assert proc.returncode == 1
    assert b"has no science stamp" in proc.stderr
    assert not (tmp_path / "none").exists()


def test_unknown_key_and_wrong_survey_fail_clearly(ingested, tmp_path):
    lakehouse, sources, _ = ingested
    proc = cutout(lakehouse, "12345", "-o", str(tmp_path / "x"))
    assert proc.returncode == 1
    assert b"no alert with key 12345 in bronze.alerts or bronze.lsst_alerts" in proc.stderr
    with sources[0].open("rb") as f:
        candid = next(iter(fastavro.reader(f)))["candid"]
    proc = cutout(lakehouse, str(candid), "--survey", "lsst", "-o", str(tmp_path / "y"))
    assert proc.returncode == 1
    assert b"bronze.lsst_alerts" in proc.stderr
    proc = cutout(tmp_path / "nothing-here", "1")
    assert proc.returncode == 1
    assert b"no lakehouse" in proc.stderr
