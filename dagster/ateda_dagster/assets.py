"""Nightly assets: bronze ingest (ateda), silver and gold (dbt), and their checks."""

import json
import tempfile
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

import dagster as dg
from dagster import AssetExecutionContext

from . import checks
from .bronze_read import NightCounts, night_counts, night_rows_if_any
from .dbt_project import dbt_project
from .dbt_vars import dbt_vars
from .duckdb_extensions import install_duckdb_extensions
from .ingest import SUMMARY_KEYS, run_ingest
from .landing import LandingError, open_landing
from .locks import duckdb_lock
from .resources import AtedaResource

# One partition per observation night: the UTC date of candidate.jd, which is also the
# date in the nightly tarball's name (ZTF observes 03:00-13:00 UTC). end_offset=1 makes
# tonight's partition available as soon as its tarball lands.
nightly = dg.DailyPartitionsDefinition(start_date="2017-11-01", timezone="UTC", end_offset=1)

BRONZE_ALERTS = dg.AssetKey(["bronze", "alerts"])
BRONZE_LSST_ALERTS = dg.AssetKey(["bronze", "lsst_alerts"])


def _metadata_value(value: Any) -> Any:
    return dg.MetadataValue.null() if value is None else value


@dg.asset(
    key=BRONZE_ALERTS,
    partitions_def=nightly,
    group_name="bronze",
    kinds={"iceberg", "rust"},
    description=(
        "bronze.alerts rows of one night: `ateda ingest` of the night's sources from the "
        "landing area (ztf_public_YYYYMMDD.tar.gz, lsst_YYYYMMDD.tar.gz, or a YYYYMMDD/ "
        "directory; local directory, or S3 prefix: tarballs fetched to "
        "<lakehouse>/.landing-cache for the ingest). ZTF and Rubin packets are told apart "
        "by content: ZTF rows land here, Rubin rows in bronze.lsst_alerts (asset "
        "bronze/lsst_alerts). Idempotent: a re-run adds nothing twice."
    ),
    check_specs=checks.bronze_check_specs(BRONZE_ALERTS),
)
def bronze_alerts(context: AssetExecutionContext, ateda: AtedaResource):
    settings = ateda.settings()
    night = context.partition_key
    landing = open_landing(settings.landing)
    with ExitStack() as stack:
        if ateda.source:
            sources = [Path(ateda.source)]
        else:
            try:
                sources = stack.enter_context(landing.fetch(night, settings.landing_cache))
            except LandingError as e:
                raise dg.Failure(str(e)) from e
        if not sources or not all(s.exists() for s in sources):
            compact = night.replace("-", "")
            raise dg.Failure(
                f"no source for night {night} in {landing.location} "
                f"(expected ztf_public_{compact}.tar.gz, lsst_{compact}.tar.gz or a directory)"
            )
        shown = ", ".join(str(s) if ateda.source else landing.uri(s.name) for s in sources)
        rows_before = night_rows_if_any(settings, night)
        result = run_ingest(settings, *sources)
    s = result.summary
    if result.quarantined:
        context.log.warning(f"{result.quarantined} member(s) of {shown} quarantined")

    after = night_counts(settings, night, s.get("run_id"))

    metadata = {k: _metadata_value(s.get(k)) for k in SUMMARY_KEYS}
    # The summary's snapshot_id is the run's last commit, of either table: name each
    # table's own (summary "tables", per alerts table).
    tables = s.get("tables") or {}
    metadata["snapshot_id"] = _metadata_value((tables.get("alerts") or {}).get("snapshot_id"))
    metadata["lsst_snapshot_id"] = _metadata_value(
        (tables.get("lsst_alerts") or {}).get("snapshot_id")
    )
    metadata.update(
        {
            "source": dg.MetadataValue.path(shown)
            if len(sources) == 1
            else dg.MetadataValue.text(shown),
            "exit_code": result.returncode,
        }
    )
    # The ingest as a whole (rows of both tables) is checked here; night_rows is this
    # table's, lsst_night_rows bronze.lsst_alerts' (asset bronze/lsst_alerts).
    yield dg.MaterializeResult(
        metadata={
            **metadata,
            "night_rows": after.ztf_rows,
            "lsst_night_rows": after.lsst_rows,
            "dagster/row_count": after.ztf_rows,
        },
        check_results=[
            checks.rows_match_source(rows_before, after, s),
            checks.candid_unique(after),
            checks.nothing_quarantined(result.quarantined),
        ],
    )


@dg.asset(
    key=BRONZE_LSST_ALERTS,
    deps=[BRONZE_ALERTS],
    partitions_def=nightly,
    group_name="bronze",
    kinds={"iceberg"},
    description=(
        "bronze.lsst_alerts (Rubin/LSST) rows of one night (dayObs: UTC date of "
        "midpointMjdTai - 0.5 d), written by the night's `ateda ingest` (asset bronze/alerts, "
        "which checks the ingest over both tables); this asset records them."
    ),
    check_specs=checks.lsst_check_specs(BRONZE_LSST_ALERTS),
)
def bronze_lsst_alerts(context: AssetExecutionContext, ateda: AtedaResource):
    settings = ateda.settings()
    try:
        after = night_counts(settings, context.partition_key)
    except LookupError:
        after = NightCounts(0, 0)  # nothing ingested yet
    yield dg.MaterializeResult(
        metadata={"night_rows": after.lsst_rows, "dagster/row_count": after.lsst_rows},
        check_results=[checks.diasourceid_unique(after)],
    )


class AtedaDbtTranslator(DagsterDbtTranslator):
    """Asset keys `<schema>/<model>` (staging/…, silver/…, gold/…), groups by schema."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        schema = dbt_resource_props.get("config", {}).get("schema") or "default"
        return dg.AssetKey([schema, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "bronze"
        return dbt_resource_props.get("config", {}).get("schema") or "default"


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    partitions_def=nightly,
    dagster_dbt_translator=AtedaDbtTranslator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
    ),
)
def ateda_dbt(context: AssetExecutionContext, dbt: DbtCliResource, ateda: AtedaResource):
    """Silver and gold for one night: `dbt build --vars {night, bronze metadata, lakehouse}`
    (models incremental by night; dbt tests reported as asset checks)."""
    settings = ateda.settings()
    install_duckdb_extensions(settings.duckdb_extensions)
    dbt_vars_json = json.dumps(dbt_vars(settings, context.partition_key))
    # Artifacts of each invocation (~4 MB) go to a temporary target path, not dbt/target.
    # One writer of ateda.duckdb at a time (two nights' runs may overlap).
    with (
        duckdb_lock(settings),
        tempfile.TemporaryDirectory(prefix="ateda-dbt-") as target_path,
    ):
        invocation = dbt.cli(
            ["build", "--vars", dbt_vars_json], context=context, target_path=Path(target_path)
        )
        yield from invocation.stream()
