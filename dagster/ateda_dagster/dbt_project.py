"""The dbt project as Dagster sees it; the manifest is (re)built by `dbt parse` when stale."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from .lakehouse import DBT_DIR

TARGET = os.environ.get("ATEDA_DBT_TARGET", "duckdb")

dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR, target=TARGET)


def _newest_source_mtime(root: Path) -> float:
    newest = 0.0
    for sub in ("models", "macros", "tests"):
        for p in (root / sub).rglob("*"):
            if p.is_file():
                newest = max(newest, p.stat().st_mtime)
    for name in ("dbt_project.yml", "profiles.yml"):
        newest = max(newest, (root / name).stat().st_mtime)
    return newest


def dbt_executable() -> str:
    """dbt from the running interpreter's environment (the venv), else PATH."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def ensure_manifest() -> Path:
    """`dbt parse` when target/manifest.json is missing or older than the project files."""
    manifest = dbt_project.manifest_path
    if manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime(DBT_DIR):
        return manifest
    subprocess.run(
        [
            dbt_executable(),
            "parse",
            "--quiet",
            "--project-dir",
            str(DBT_DIR),
            "--profiles-dir",
            str(DBT_DIR),
            "--target",
            TARGET,
        ],
        check=True,
        cwd=DBT_DIR,
    )
    return manifest
