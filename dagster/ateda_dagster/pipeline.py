"""Run the pipeline without a Dagster daemon.

python -m ateda_dagster.pipeline --lakehouse DIR --night 2023-10-12 [--source PATH]
    one night through Dagster (the same assets and checks as the nightly job):
    ingest the night's source (landing tarball/directory, or --source), then
    `dbt build` incremental for that night.

python -m ateda_dagster.pipeline --lakehouse DIR [SOURCE ...]
    ingest the sources (if any) with `ateda ingest`, then one `dbt build` over every
    night in bronze (no night filter).
"""

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from .dbt_project import dbt_executable, prepare_if_stale
from .dbt_vars import dbt_vars
from .duckdb_extensions import install_duckdb_extensions
from .ingest import run_ingest
from .locks import duckdb_lock
from .settings import DBT_DIR, Settings, landing_location


def run_night(settings: Settings, night: str, source: Path | None = None):
    """Materialize every asset (and run every check) of partition `night`.

    Returns Dagster's ExecuteInProcessResult (`.success`, events, check evaluations).
    """
    import dagster as dg

    from .assets import ateda_dbt, bronze_alerts, bronze_lsst_alerts
    from .definitions import resources
    from .stamp_check import STAMP_CHECKS

    result = dg.materialize(
        [bronze_alerts, bronze_lsst_alerts, ateda_dbt, *STAMP_CHECKS],
        partition_key=night,
        resources=resources(
            lakehouse=str(settings.lakehouse),
            landing=str(settings.landing),
            ateda_bin=str(settings.ateda_bin),
            source=str(source) if source else None,
            cutout_layout=settings.cutout_layout,
            pack_size=settings.pack_size,
        ),
        raise_on_error=False,
    )
    for ev in result.get_asset_check_evaluations():
        if not ev.passed:
            print(f"check failed: {ev.asset_key.to_user_string()} {ev.check_name}", file=sys.stderr)
    return result


def dbt_build(settings: Settings, night: str | None = None, extra: list[str] | None = None) -> int:
    """`dbt build` on the embedded default (DuckDB) for one night or every night."""
    prepare_if_stale()
    install_duckdb_extensions(settings.duckdb_extensions)
    cmd = [
        dbt_executable(),
        "build",
        "--project-dir",
        str(DBT_DIR),
        "--profiles-dir",
        str(DBT_DIR),
        "--target",
        "duckdb",
        "--vars",
        json.dumps(dbt_vars(settings, night)),
        *(extra or []),
    ]
    with duckdb_lock(settings):
        return subprocess.run(cmd, cwd=DBT_DIR, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ateda_dagster.pipeline", description=__doc__)
    ap.add_argument(
        "--lakehouse", help="lakehouse directory (default: $ATEDA_LAKEHOUSE or ./lakehouse)"
    )
    ap.add_argument(
        "--landing",
        help="landing directory or s3://bucket/prefix (default: $ATEDA_LANDING or LAKEHOUSE/landing)",
    )
    ap.add_argument("--night", action="append", default=[], help="YYYY-MM-DD; repeatable")
    ap.add_argument("--source", help="with --night: ingest this path instead of the landing file")
    ap.add_argument("sources", nargs="*", type=Path, help="without --night: paths to ingest first")
    args = ap.parse_args(argv)

    settings = Settings.from_env(args.lakehouse)
    if args.landing:
        settings = replace(settings, landing=landing_location(args.landing))
    started = time.monotonic()

    if args.night:
        if args.sources:
            ap.error("give sources with --source when --night is used")
        for night in args.night:
            ok = run_night(
                settings, night, Path(args.source).resolve() if args.source else None
            ).success
            print(f"night {night}: {'ok' if ok else 'FAILED'} ({time.monotonic() - started:.1f} s)")
            if not ok:
                return 1
        return 0

    if args.sources:
        result = run_ingest(settings, *args.sources)
        print("ingest:", json.dumps(result.summary))
    code = dbt_build(settings)
    print(f"dbt build: exit {code} ({time.monotonic() - started:.1f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
