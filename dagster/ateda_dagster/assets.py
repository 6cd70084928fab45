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

from .dbt_project import dbt_project, ensure_manifest
from .ingest import SUMMARY_KEYS, run_ingest
from .lakehouse import (
    bronze_connection,
    dbt_vars,
    duckdb_lock,
    install_duckdb_extensions,
)
from .landing import LandingError, open_landing
from .resources import AtedaResource

# One partition per observation night: the UTC date of candidate.jd, which is also the
# date in the nightly tarball's name (ZTF observes 03:00-13:00 UTC). end_offset=1 makes
# tonight's partition available as soon as its tarball lands.
nightly = dg.DailyPartitionsDefinition(start_date="2017-11-01", timezone="UTC", end_offset=1)

BRONZE_ALERTS = dg.AssetKey(["bronze", "alerts"])


def _metadata_value(value: Any) -> Any:
    return dg.MetadataValue.null() if value is None else value


@dg.asset(
    key=BRONZE_ALERTS,
    partitions_def=nightly,
    group_name="bronze",
    kinds={"iceberg", "rust"},
    description=(
        "bronze.alerts rows of one night: `ateda ingest` of the night's "
        "ztf_public_YYYYMMDD.tar.gz (or directory) from the landing area (local directory, or S3 "
        "prefix: fetched to <lakehouse>/.landing-cache for the ingest). Idempotent: a "
        "re-run adds nothing twice."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "rows_match_source",
            asset=BRONZE_ALERTS,
            description="bronze rows of the night >= alerts the source delivered (ingested + already present)",
        ),
        dg.AssetCheckSpec(
            "candid_unique",
            asset=BRONZE_ALERTS,
            description="candid is unique among the night's bronze rows",
        ),
        dg.AssetCheckSpec(
            "nothing_quarantined",
            asset=BRONZE_ALERTS,
            description="no member of the source was quarantined (warning: the rest is ingested)",
        ),
    ],
)
def bronze_alerts(context: AssetExecutionContext, ateda: AtedaResource):
    settings = ateda.settings()
    night = context.partition_key
    landing = open_landing(settings.landing)
    with ExitStack() as stack:
        if ateda.source:
            source: Path | None = Path(ateda.source)
        else:
            try:
                source = stack.enter_context(landing.fetch(night, settings.landing_cache))
            except LandingError as e:
                raise dg.Failure(str(e)) from e
        if source is None or not source.exists():
            raise dg.Failure(
                f"no source for night {night} in {landing.location} "
                f"(expected ztf_public_{night.replace('-', '')}.tar.gz or a directory)"
            )
        shown = str(source) if ateda.source else landing.uri(source.name)
        result = run_ingest(settings, source)
    s = result.summary
    if result.quarantined:
        context.log.warning(f"{result.quarantined} member(s) of {shown} quarantined")

    con = bronze_connection(settings)
    try:
        rows, distinct = con.execute(
            "select count(*), count(distinct candid) from bronze_alerts where night = cast(? as date)",
            [night],
        ).fetchone()
    finally:
        con.close()
    delivered = int(s.get("ingested") or 0) + int(s.get("already_present") or 0)

    metadata = {k: _metadata_value(s.get(k)) for k in SUMMARY_KEYS}
    metadata.update(
        {
            "source": dg.MetadataValue.path(shown),
            "exit_code": result.returncode,
            "night_rows": rows,
            "dagster/row_count": rows,
        }
    )
    yield dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name="rows_match_source",
                passed=rows >= delivered,
                metadata={"night_rows": rows, "delivered": delivered},
            ),
            dg.AssetCheckResult(
                check_name="candid_unique",
                passed=rows == distinct,
                metadata={"rows": rows, "distinct_candid": distinct},
            ),
            dg.AssetCheckResult(
                check_name="nothing_quarantined",
                passed=result.quarantined == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"quarantined": result.quarantined},
            ),
        ],
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


ensure_manifest()


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
