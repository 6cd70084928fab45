"""The checks of the bronze asset, as functions of what the ingest reported and what
bronze holds (no I/O here: the asset reads, these decide)."""

from __future__ import annotations

import dagster as dg

from .bronze_read import NightCounts

ROWS_MATCH_SOURCE = "rows_match_source"
CANDID_UNIQUE = "candid_unique"
NOTHING_QUARANTINED = "nothing_quarantined"

DESCRIPTIONS = {
    ROWS_MATCH_SOURCE: (
        "exact: the night's bronze rows = rows before the ingest + alerts the ingest added, "
        "every added alert is in this night (rows with this run's ingest_run_id = ingested), "
        "and every decoded alert is accounted for (alerts_seen = ingested + already_present; "
        "quarantined members are not decoded). On a first ingest: rows = alerts of the "
        "source minus those in quarantined members."
    ),
    CANDID_UNIQUE: (
        "keys are unique among the night's bronze rows (candid in bronze.alerts, "
        "diaSourceId in bronze.lsst_alerts)"
    ),
    NOTHING_QUARANTINED: (
        "no member of the source was quarantined (warning: the rest is ingested)"
    ),
}


DIASOURCEID_UNIQUE = "diasourceid_unique"
LSST_DESCRIPTIONS = {
    DIASOURCEID_UNIQUE: (
        "diaSourceId is unique among the night's bronze.lsst_alerts rows (the exact count "
        "of the ingest over both tables is rows_match_source on bronze/alerts)"
    ),
}


def _count(summary: dict, key: str) -> int:
    return int(summary.get(key) or 0)


def rows_match_source(rows_before: int, after: NightCounts, summary: dict) -> dg.AssetCheckResult:
    """Passes only when bronze changed by exactly what `ateda ingest` reported (rows of
    bronze.alerts and bronze.lsst_alerts together: one ingest writes both).

    Fails when rows were lost (a commit missing), doubled (a commit applied twice), landed
    in another night (the source is not that night's), or the summary does not add up.
    """
    ingested = _count(summary, "ingested")
    already = _count(summary, "already_present")
    seen = _count(summary, "alerts_seen")
    problems = []
    if after.rows != rows_before + ingested:
        problems.append(f"night rows {after.rows} != {rows_before} before + {ingested} ingested")
    if after.run_rows != ingested:
        problems.append(
            f"rows of run {summary.get('run_id')} in the night {after.run_rows} != {ingested} ingested"
        )
    if seen != ingested + already:
        problems.append(f"alerts_seen {seen} != {ingested} ingested + {already} already present")
    return dg.AssetCheckResult(
        check_name=ROWS_MATCH_SOURCE,
        passed=not problems,
        description="; ".join(problems) or None,
        metadata={
            "night_rows": after.rows,
            "lsst_night_rows": after.lsst_rows,
            "rows_before": rows_before,
            "ingested": ingested,
            "run_rows": after.run_rows,
            "already_present": already,
            "alerts_seen": seen,
            "quarantined": _count(summary, "quarantined"),
        },
    )


def candid_unique(after: NightCounts) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=CANDID_UNIQUE,
        passed=after.rows == after.distinct_candid,
        metadata={"rows": after.rows, "distinct_candid": after.distinct_candid},
    )


def nothing_quarantined(quarantined: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=NOTHING_QUARANTINED,
        passed=quarantined == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"quarantined": quarantined},
    )


def bronze_check_specs(asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(name, asset=asset, description=d) for name, d in DESCRIPTIONS.items()]


def diasourceid_unique(after: NightCounts) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=DIASOURCEID_UNIQUE,
        passed=after.lsst_rows == after.lsst_distinct,
        metadata={"rows": after.lsst_rows, "distinct_diaSourceId": after.lsst_distinct},
    )


def lsst_check_specs(asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name, asset=asset, description=d) for name, d in LSST_DESCRIPTIONS.items()
    ]
