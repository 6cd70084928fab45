"""Fetching nights from the ZTF public archive into the landing area (issue 18): `ateda
fetch` downloads `ztf_public_YYYYMMDD.tar.gz` with resume and verifies its MD5 against the
archive's `MD5SUMS` (docs/fetch.md); the landing sensor then starts the night's run.

- A local landing directory: `ateda fetch NIGHT --to <landing>` (the CLI renames the
  tarball into place only once verified; `.part`/`.md5` files are not nightly tarballs, so
  the sensor ignores them).
- An S3 landing prefix: `ateda fetch NIGHT --to <lakehouse>/.fetch-cache`, then, only when
  it exited 0, each verified tarball is uploaded with the landing's boto3 client (never a
  `.part`). The cache keeps the verified tarballs so a re-run is a no-op
  (`already fetched and verified`) and an interrupted download resumes.

Jobs: `ateda_fetch` (partitioned by night: backfill a range from the UI) and
`ateda_fetch_latest` (the newest night named in `MD5SUMS`), run daily by `fetch_schedule`.
"""

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from .assets import nightly
from .landing import LandingError, LocalLanding, S3Landing, open_landing
from .resources import AtedaResource
from .settings import Settings

DEFAULT_ARCHIVE = "https://ztf.uw.edu/alerts/public/"
# Daily at 15:00 UTC: a ZTF night ends by ~13:00 UTC and the archive publishes it after.
FETCH_CRON = "0 15 * * *"
VERIFIED = re.compile(r"(ztf_public_\d{8}\.tar\.gz): .*(MD5 ok|already fetched and verified)")


def archive_url(override: str | None = None) -> str:
    """The archive directory URL: the run's config, else ATEDA_ARCHIVE, else ZTF's."""
    return override or os.environ.get("ATEDA_ARCHIVE") or DEFAULT_ARCHIVE


def fetch_cache(settings: Settings) -> Path:
    """Where nights fetched for an S3 landing are downloaded and verified first."""
    return settings.lakehouse / ".fetch-cache"


class FetchError(RuntimeError):
    """`ateda fetch` did not verify every night asked for (its output is the message)."""


@dataclass(frozen=True)
class Fetched:
    """What one fetch did: the CLI's output, the verified tarballs (local paths) and the
    landing locations they are at."""

    output: str
    tarballs: list[Path]
    landed: list[str]
    uploaded: list[str]


def fetch_nights(
    settings: Settings, night: str, archive: str, parallel: int | None = None
) -> Fetched:
    """`ateda fetch NIGHT` (YYYYMMDD, A..B or `latest`) into the landing area. Raises
    FetchError (the CLI's output) unless it exits 0; nothing is uploaded then."""
    landing = open_landing(settings.landing)
    if isinstance(landing, LocalLanding):
        to = landing.path
    elif isinstance(landing, S3Landing):
        to = fetch_cache(settings)
    else:  # pragma: no cover - open_landing returns one of the two
        raise TypeError(f"unknown landing {landing!r}")
    cmd = [str(settings.ateda_bin), "fetch", night, "--archive", archive, "--to", str(to)]
    cmd += ["--no-progress"] + (["--parallel", str(parallel)] if parallel else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise FetchError(f"ateda fetch {night} exited {proc.returncode}:\n{output}")
    # Verified nights are the stdout lines `<tarball>: ... MD5 ok` / `already fetched ...`.
    names = sorted({m.group(1) for m in VERIFIED.finditer(proc.stdout)})
    tarballs = [to / n for n in names]
    uploaded = []
    if isinstance(landing, S3Landing):
        for path in tarballs:
            record = json.loads(path.with_name(path.name + ".md5").read_text())
            if landing.put(path, record["md5"]):
                uploaded.append(landing.uri(path.name))
    return Fetched(output, tarballs, [landing.uri(p.name) for p in tarballs], uploaded)


class FetchConfig(dg.Config):
    """`archive`: the archive directory URL (default ATEDA_ARCHIVE, else ZTF's public
    archive). `night`: for `ateda_fetch_latest` only (default `latest`; YYYYMMDD or
    A..B also work). `parallel`: `ateda fetch --parallel` (default: the CLI's)."""

    archive: str | None = None
    night: str = "latest"
    parallel: int | None = None


@dg.op(
    description="`ateda fetch` of the run's night (its partition, else config `night`) into the landing area."
)
def fetch_night(context: dg.OpExecutionContext, config: FetchConfig, ateda: AtedaResource):
    night = context.partition_key.replace("-", "") if context.has_partition_key else config.night
    archive = archive_url(config.archive)
    settings = ateda.settings()
    context.log.info(f"ateda fetch {night} from {archive} into {settings.landing}")
    try:
        done = fetch_nights(settings, night, archive, config.parallel)
    except (FetchError, LandingError) as e:
        raise dg.Failure(description=str(e)) from None
    context.log.info(done.output)
    for uri in done.uploaded:
        context.log.info(f"uploaded {uri}")
    return dg.Output(
        None,
        metadata={
            "night": night,
            "archive": archive,
            "landed": done.landed,
            "uploaded": done.uploaded,
            "output": dg.MetadataValue.text(done.output),
        },
    )


@dg.job(
    name="ateda_fetch",
    partitions_def=nightly,
    description="Fetch the partition's night from the archive into the landing area (backfill a range from the UI).",
)
def fetch_job():
    fetch_night()


@dg.job(
    name="ateda_fetch_latest",
    description="Fetch the newest night named in the archive's MD5SUMS into the landing area.",
)
def fetch_latest_job():
    fetch_night()


fetch_schedule = dg.ScheduleDefinition(
    name="fetch_schedule",
    job=fetch_latest_job,
    cron_schedule=FETCH_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Daily: `ateda fetch latest` into the landing area (the landing sensor then ingests it). Off until turned on.",
)
