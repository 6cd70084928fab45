"""The dbt project as Dagster sees it, and its manifest (dbt/target/manifest.json).

The manifest is prepared by dagster-dbt's own preparer (`DbtProject.preparer`: `dbt deps`
when the project has packages, then `dbt parse`):

- under `dagster dev`: at every code-location load (`DbtProject.prepare_if_dev()`);
- in an image: at build time (`dagster-dbt project prepare-and-package --file
  dagster/ateda_dagster/dbt_project.py`, or `dbt parse`; the code then finds it fresh);
- anywhere else (tests, `python -m ateda_dagster.pipeline`, `dagster asset materialize`
  from a checkout): when it is missing or older than the project files
  (`prepare_if_stale()`, called once at import).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from .settings import DBT_DIR

TARGET = os.environ.get("ATEDA_DBT_TARGET", "duckdb")
# Files whose change makes the manifest stale.
PROJECT_DIRS = ("models", "macros", "tests")
PROJECT_FILES = ("dbt_project.yml", "profiles.yml")


def dbt_executable() -> str:
    """dbt from the running interpreter's environment (the venv), else PATH."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def _put_venv_dbt_on_path() -> None:
    """dagster-dbt's preparer runs `dbt` from PATH: when the code runs from a venv that is
    not activated (`.venv/bin/dagster dev`, `.venv/bin/pytest`), put the venv's bin
    directory first, as activating it would."""
    exe = dbt_executable()
    if shutil.which("dbt") is None and exe != "dbt":
        os.environ["PATH"] = os.pathsep.join([str(Path(exe).parent), os.environ.get("PATH", "")])


def _newest_source_mtime(root: Path) -> float:
    newest = 0.0
    for sub in PROJECT_DIRS:
        for p in (root / sub).rglob("*"):
            if p.is_file():
                newest = max(newest, p.stat().st_mtime)
    for name in PROJECT_FILES:
        newest = max(newest, (root / name).stat().st_mtime)
    return newest


def manifest_is_stale(project: DbtProject) -> bool:
    manifest = project.manifest_path
    return not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime(
        Path(project.project_dir)
    )


def prepare_if_stale(project: DbtProject | None = None) -> Path:
    """Prepare the manifest with the project's preparer when missing or stale."""
    project = project or dbt_project
    if manifest_is_stale(project):
        project.preparer.prepare(project)
    return project.manifest_path


_put_venv_dbt_on_path()
dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR, target=TARGET)
dbt_project.prepare_if_dev()
prepare_if_stale(dbt_project)
