"""Landing sensor: a new ztf_public_YYYYMMDD.tar.gz or lsst_YYYYMMDD.tar.gz starts a run
of that night (the run ingests every source of the night; a second run finds them present)."""

import json
import os

import dagster as dg
from dagster import SensorEvaluationContext

from .landing import LandingError, open_landing
from .resources import AtedaResource

# A file must be unchanged this long before it counts as landed (no half-copied tarballs).
SETTLE_S = float(os.environ.get("ATEDA_LANDING_SETTLE_S", "10"))


def landed_files(landing, settle_s: float = SETTLE_S, now: float | None = None):
    """(night 'YYYY-MM-DD', file name, fingerprint) of settled nightly tarballs, sorted.

    `landing` is a local directory or an `s3://bucket/prefix` location.
    """
    return [(f.night, f.name, f.fingerprint) for f in open_landing(landing).landed(settle_s, now)]


def make_landing_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Starts a night's run when ztf_public_YYYYMMDD.tar.gz or lsst_YYYYMMDD.tar.gz lands (or changes) in the landing area (directory or S3 prefix).",
    )
    def landing_sensor(context: SensorEvaluationContext, ateda: AtedaResource):
        landing = open_landing(ateda.settings().landing)
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        requests = []
        try:
            landed = landing.landed(SETTLE_S)
        except LandingError as e:
            # Keep the cursor: the next tick retries; the reason shows in the sensor's log.
            return dg.SkipReason(str(e))
        for f in landed:
            if seen.get(f.name) == f.fingerprint:
                continue
            seen[f.name] = f.fingerprint
            requests.append(
                dg.RunRequest(
                    run_key=f"{f.name}:{f.fingerprint}",
                    partition_key=f.night,
                    tags={"ateda/source": landing.uri(f.name)},
                )
            )
        context.update_cursor(json.dumps(seen, sort_keys=True))
        if not requests:
            return dg.SkipReason(f"no new nightly tarball in {landing.location}")
        return requests

    return landing_sensor
