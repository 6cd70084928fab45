"""Landing sensor: a new ztf_public_YYYYMMDD.tar.gz starts a run of that night."""

import json
import os
import time

import dagster as dg
from dagster import SensorEvaluationContext

from .lakehouse import night_of_file
from .resources import AtedaResource

# A file must be unchanged this long before it counts as landed (no half-copied tarballs).
SETTLE_S = float(os.environ.get("ATEDA_LANDING_SETTLE_S", "10"))


def landed_files(landing, settle_s: float = SETTLE_S, now: float | None = None):
    """(night 'YYYY-MM-DD', file name, fingerprint) of settled nightly tarballs, sorted."""
    now = time.time() if now is None else now
    if not landing.is_dir():
        return []
    out = []
    for p in sorted(landing.iterdir()):
        night = night_of_file(p.name)
        if night is None or not p.is_file() or not p.name.endswith(".tar.gz"):
            continue
        st = p.stat()
        if now - st.st_mtime < settle_s:
            continue
        out.append((night.isoformat(), p.name, f"{st.st_size}:{st.st_mtime_ns}"))
    return out


def make_landing_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Starts a night's run when ztf_public_YYYYMMDD.tar.gz lands (or changes) in the landing directory.",
    )
    def landing_sensor(context: SensorEvaluationContext, ateda: AtedaResource):
        landing = ateda.settings().landing
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        requests = []
        for night, name, fingerprint in landed_files(landing):
            if seen.get(name) == fingerprint:
                continue
            seen[name] = fingerprint
            requests.append(
                dg.RunRequest(
                    run_key=f"{name}:{fingerprint}",
                    partition_key=night,
                    tags={"ateda/source": str(landing / name)},
                )
            )
        context.update_cursor(json.dumps(seen, sort_keys=True))
        if not requests:
            return dg.SkipReason(f"no new nightly tarball in {landing}")
        return requests

    return landing_sensor
