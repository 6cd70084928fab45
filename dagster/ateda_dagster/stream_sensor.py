"""Silver and gold following `ateda stream` (issue 16): a sensor on new bronze snapshots.

`ateda stream` commits rows to bronze.alerts / bronze.lsst_alerts every commit interval
while the night goes on; nothing lands in the landing area, so the landing sensor never
fires. `stream_sensor` (off by default: turn it on in the UI, or `dagster sensor start
ateda_stream_sensor`) looks at each bronze table's current snapshot id every
ATEDA_STREAM_SENSOR_INTERVAL_S seconds (default 120). When a table has a snapshot it has
not seen (cursor: the snapshot id per table), it requests `ateda_stream_follow` (dbt
silver + gold, no ingest: the stream is the ingest) for the current night of that table's
survey: ZTF's night is the UTC date, Rubin's the dayObs (UTC date 12 hours earlier). A
night with no bronze rows yet is not requested. Runs carry the nightly job's
`ateda/lakehouse` tag, so with dagster.yaml's run queue limit they queue behind each other
and behind the nightly runs (dbt's models are incremental by night: each run rebuilds the
night from bronze as it is then).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from dagster import SensorEvaluationContext

from .assets import ateda_dbt
from .bronze_read import BRONZE_TABLES, night_rows_if_any
from .resources import AtedaResource
from .settings import Settings
from .sqlite_catalog import bronze_metadata_location

INTERVAL_S = int(os.environ.get("ATEDA_STREAM_SENSOR_INTERVAL_S", "120"))
# Rubin's dayObs is the date at UTC-12h (bronze.lsst_alerts' `night`).
RUBIN_DAY_OFFSET = timedelta(hours=12)

stream_follow_job = dg.define_asset_job(
    "ateda_stream_follow",
    selection=dg.AssetSelection.assets(ateda_dbt),
    description=(
        "Silver and gold of one night from bronze as `ateda stream` has committed it so far "
        "(dbt build, every dbt test; no ingest). Requested by ateda_stream_sensor."
    ),
    tags={"ateda/lakehouse": "embedded"},
)


def now_utc() -> datetime:
    """The clock (a function, so tests can set it)."""
    return datetime.now(UTC)


def current_nights(now: datetime) -> dict[str, str]:
    """The night ('YYYY-MM-DD') a row committed now belongs to, per bronze table: ZTF's
    UTC date, Rubin's dayObs."""
    return {
        "alerts": now.date().isoformat(),
        "lsst_alerts": (now - RUBIN_DAY_OFFSET).date().isoformat(),
    }


def _metadata_snapshot_id(location: str) -> int | None:
    path = urllib.parse.urlparse(location).path if "://" in location else location
    meta = json.loads(Path(path).read_text())
    sid = meta.get("current-snapshot-id")
    return None if sid in (None, -1) else int(sid)


def _rest_snapshot_id(settings: Settings, table: str) -> int | None:
    """The current snapshot id of bronze.<table> from the Iceberg REST catalog (GET
    /v1/config for the warehouse's prefix, then the table's metadata)."""
    base = (settings.catalog or "").rstrip("/")
    query = urllib.parse.urlencode({"warehouse": settings.warehouse or ""})
    with urllib.request.urlopen(f"{base}/v1/config?{query}", timeout=30) as r:
        config = json.load(r)
    prefix = {**config.get("defaults", {}), **config.get("overrides", {})}.get("prefix")
    root = f"{base}/v1/{urllib.parse.quote(prefix, safe='')}" if prefix else f"{base}/v1"
    try:
        with urllib.request.urlopen(f"{root}/namespaces/bronze/tables/{table}", timeout=30) as r:
            meta = json.load(r)["metadata"]
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise
    sid = meta.get("current-snapshot-id")
    return None if sid in (None, -1) else int(sid)


def bronze_snapshots(settings: Settings) -> dict[str, int | None]:
    """Current snapshot id of each bronze alerts table (None: no table, or no snapshot)."""
    out: dict[str, int | None] = {}
    for table, _key in BRONZE_TABLES:
        if settings.rest_catalog:
            out[table] = _rest_snapshot_id(settings, table)
            continue
        try:
            out[table] = _metadata_snapshot_id(bronze_metadata_location(settings.lakehouse, table))
        except (FileNotFoundError, LookupError):
            out[table] = None  # nothing ingested yet / a survey never seen
    return out


def make_stream_sensor(job=stream_follow_job) -> dg.SensorDefinition:
    @dg.sensor(
        name="ateda_stream_sensor",
        job=job,
        minimum_interval_seconds=INTERVAL_S,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            "Follows `ateda stream`: when bronze.alerts or bronze.lsst_alerts has a new "
            "snapshot, requests silver + gold (ateda_stream_follow) for the current night "
            "of that survey. Off by default."
        ),
    )
    def stream_sensor(context: SensorEvaluationContext, ateda: AtedaResource):
        settings = ateda.settings()
        seen: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
        try:
            snaps = bronze_snapshots(settings)
        except (OSError, ValueError) as e:
            # Keep the cursor: the next tick retries; the reason shows in the sensor's log.
            return dg.SkipReason(f"cannot read the bronze snapshots: {e}")
        changed = [t for t, sid in snaps.items() if sid is not None and seen.get(t) != sid]
        if not changed:
            return dg.SkipReason(f"no new bronze snapshot since {seen or 'the start'}")
        nights = current_nights(now_utc())
        requests = []
        skipped = []
        for night in sorted({nights[t] for t in changed}):
            if night_rows_if_any(settings, night) == 0:
                skipped.append(night)
                continue
            requests.append(
                dg.RunRequest(
                    # one run per night and bronze state: a tick that sees the same
                    # snapshots again requests nothing new
                    run_key=f"stream:{night}:{snaps.get('alerts')}:{snaps.get('lsst_alerts')}",
                    partition_key=night,
                    tags={
                        "ateda/trigger": "stream",
                        "ateda/bronze-snapshots": json.dumps(snaps, sort_keys=True),
                    },
                )
            )
        context.update_cursor(json.dumps({**seen, **{t: snaps[t] for t in changed}}))
        if not requests:
            return dg.SkipReason(
                f"new bronze snapshots {snaps}, but no bronze rows in the current night "
                f"{', '.join(skipped)}"
            )
        return requests

    return stream_sensor


stream_sensor = make_stream_sensor()
