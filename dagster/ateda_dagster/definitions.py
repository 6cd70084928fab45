"""Dagster definitions: `dagster dev -m ateda_dagster.definitions` (from dagster/)."""

from dagster_dbt import DbtCliResource

import dagster as dg

from .assets import ateda_dbt, bronze_alerts, bronze_lsst_alerts
from .dbt_project import dbt_executable, dbt_project
from .fetch import archive_sensor, fetch_job, fetch_latest_job, fetch_schedule
from .resources import AtedaResource
from .sensors import make_landing_sensor
from .stamp_check import STAMP_CHECKS  # issue 17: stamps read back from silver's rows
from .stream_sensor import stream_sensor  # issue 16: silver/gold follow `ateda stream`

nightly_job = dg.define_asset_job(
    "ateda_nightly",
    selection=dg.AssetSelection.all(),
    description="Ingest one night into bronze, then build silver and gold and run every check.",
    # With dagster.yaml's run_queue limit (1 per key), nights queue instead of overlapping;
    # the DuckDB writer lock (lakehouse.duckdb_lock) serializes them in any case.
    tags={"ateda/lakehouse": "embedded"},
)

landing_sensor = make_landing_sensor(nightly_job)


def resources(**ateda_config) -> dict:
    return {
        "ateda": AtedaResource(**ateda_config),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
    }


defs = dg.Definitions(
    assets=[bronze_alerts, bronze_lsst_alerts, ateda_dbt],
    asset_checks=STAMP_CHECKS,
    jobs=[nightly_job, fetch_job, fetch_latest_job],
    schedules=[fetch_schedule],
    sensors=[landing_sensor, stream_sensor, archive_sensor],
    resources=resources(),
    # One DuckDB file is written by dbt and read by the checks: run the steps in one
    # process, one after the other.
    executor=dg.in_process_executor,
)
