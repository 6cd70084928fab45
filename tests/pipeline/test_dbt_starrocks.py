"""The cluster target: `dbt compile --target starrocks` works with no server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ateda_testlib import REPO

DBT_DIR = REPO / "dbt"


def dbt(*args: str, target_path: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "dbt"
    env = {**os.environ, "STARROCKS_HOST": "127.0.0.1", "STARROCKS_PORT": "1"}  # nothing listens
    return subprocess.run(
        [str(exe if exe.exists() else "dbt"), *args, "--target-path", str(target_path)],
        cwd=DBT_DIR,
        env={**env, "DBT_PROFILES_DIR": str(DBT_DIR)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_compile_starrocks_offline(tmp_path):
    proc = dbt("compile", "--target", "starrocks", target_path=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    compiled = tmp_path / "compiled" / "ateda" / "models"
    detection = (compiled / "marts" / "silver" / "detection.sql").read_text()
    # bronze through the Iceberg external catalog, StarRocks dialect from the dispatched macros
    assert "`iceberg_catalog`.`bronze`.`alerts`" in detection
    assert "cross join lateral unnest(a.prv_candidates)" in detection
    assert "days_add(" in detection and "iceberg_scan" not in detection
    magstat = (compiled / "marts" / "gold" / "magstat.sql").read_text()
    assert "percentile_cont(" in magstat and "min_by(" in magstat
    assert "list_avg" not in magstat and "arg_min" not in magstat
    obj = (compiled / "marts" / "gold" / "object.sql").read_text()
    # the weighted mean position, StarRocks form (DuckDB's is an ordered list_sum)
    assert "sum(case when (ra_offset) is not null then (ra_offset) * (w_ra) end)" in obj
    assert "list_sum" not in obj and "min_by(stellar, mjd)" in obj
    # every model compiled (tests compile under .../schema.yml/)
    models = [p for p in compiled.rglob("*.sql") if not p.parent.name.endswith(".yml")]
    assert len(models) == 32
    # Rubin: bronze.lsst_alerts through the same catalog, NaN as null without isnan()
    dia = (compiled / "marts" / "silver" / "dia_source.sql").read_text()
    assert "`iceberg_catalog`.`bronze`.`lsst_alerts`" in dia
    assert "cross join lateral unnest(a.prvDiaSources)" in dia
    assert "isnan(" not in dia and "p.src.psfFlux <> p.src.psfFlux" in dia
    lc = (compiled / "marts" / "gold" / "light_curve.sql").read_text()
    assert "'lsst' as survey" in lc and "'ztf' as survey" in lc


def test_no_model_calls_dbts_is_incremental():
    """The project's macro is ateda.is_incremental_run() (offline StarRocks compile); dbt's
    own is_incremental() is neither shadowed nor called."""
    sources = [*DBT_DIR.glob("models/**/*.sql"), *DBT_DIR.glob("macros/**/*.sql")]
    assert sources
    for path in sources:
        text = path.read_text()
        assert "macro is_incremental(" not in text, path
        assert "is_incremental()" not in text.replace("is_incremental_run()", ""), path
