"""Fetching nights from the ZTF public archive into the landing area (issue 18): `ateda
fetch` downloads `ztf_public_YYYYMMDD.tar.gz` with resume and verifies its MD5 against the
archive's `MD5SUMS` (docs/fetch.md); the landing sensor then starts the night's run.

- A local landing directory: `ateda fetch NIGHT --to <landing>` (the CLI renames the
  tarball into place only once verified; `.part`/`.md5` files are not nightly tarballs, so
  the sensor ignores them).
- An S3 landing prefix: `ateda fetch NIGHT --to <lakehouse>/.fetch-cache`, then, only when
  it exited 0, each verified tarball is uploaded with the landing's boto3 client (never a
  `.part`). The cache keeps the verified tarballs of the newest `cache_keep` nights (config,
  env ATEDA_FETCH_CACHE_KEEP, default 2) so a re-run of a recent night is a no-op
  (`already fetched and verified`); older ones are deleted once they are in the landing
  (`prune_cache`: only verified tarballs with their `.md5` record, never a `.part`, so an
  interrupted download still resumes; 0 deletes each tarball right after its upload).

Jobs: `ateda_fetch` (partitioned by night: backfill a range from the UI) and
`ateda_fetch_latest` (the newest night named in `MD5SUMS`), run daily by `fetch_schedule`;
`archive_sensor` (off by default) polls the archive's `MD5SUMS` instead and requests
`ateda_fetch` for a night as soon as it is listed.
"""

import json
import os
import re
import subprocess
import urllib.request
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
# A nightly tarball's line in MD5SUMS (`md5sum` output; binary mode `*` accepted).
LISTED = re.compile(r"^([0-9a-fA-F]{32}) [ *](?:.*/)?ztf_public_(\d{8})\.tar\.gz\s*$", re.M)
# Nights of the cache kept after upload (env ATEDA_FETCH_CACHE_KEEP).
CACHE_KEEP = 2
# How often the archive sensor reads MD5SUMS.
ARCHIVE_POLL_S = 600


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


def cache_keep(override: int | None = None) -> int:
    """Nights of verified tarballs kept in the fetch cache: the run's config, else
    ATEDA_FETCH_CACHE_KEEP, else 2."""
    if override is not None:
        return max(0, override)
    return max(0, int(os.environ.get("ATEDA_FETCH_CACHE_KEEP", CACHE_KEEP)))


def prune_cache(cache: Path, landed: set[str], keep: int) -> list[Path]:
    """Deletes the cache's verified tarballs (with their `.md5` record) that are in the
    landing (`landed`: tarball names), except those of the newest `keep` nights. A
    tarball without its record, a `.part` or a `.bad` is never touched. Returns what was
    deleted."""
    verified = sorted(
        p for p in cache.glob("ztf_public_*.tar.gz") if p.with_name(p.name + ".md5").exists()
    )
    deleted = []
    for path in verified[: max(0, len(verified) - keep)]:
        if path.name in landed:
            path.unlink()
            path.with_name(path.name + ".md5").unlink(missing_ok=True)
            deleted.append(path)
    return deleted


def fetch_nights(
    settings: Settings,
    night: str,
    archive: str,
    parallel: int | None = None,
    keep: int | None = None,
) -> Fetched:
    """`ateda fetch NIGHT` (YYYYMMDD, A..B or `latest`) into the landing area. Raises
    FetchError (the CLI's output) unless it exits 0; nothing is uploaded then. With an
    S3 landing, the cache is pruned after the uploads (`prune_cache`, `keep` nights)."""
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
        # only what this run put in (or found in) the landing is deleted from the cache
        prune_cache(to, {p.name for p in tarballs}, cache_keep(keep))
    return Fetched(output, tarballs, [landing.uri(p.name) for p in tarballs], uploaded)


class FetchConfig(dg.Config):
    """`archive`: the archive directory URL (default ATEDA_ARCHIVE, else ZTF's public
    archive). `night`: for `ateda_fetch_latest` only (default `latest`; YYYYMMDD or
    A..B also work). `parallel`: `ateda fetch --parallel` (default: the CLI's).
    `cache_keep`: with an S3 landing, nights of verified tarballs kept in the fetch cache
    after upload (default ATEDA_FETCH_CACHE_KEEP, else 2)."""

    archive: str | None = None
    night: str = "latest"
    parallel: int | None = None
    cache_keep: int | None = None


@dg.op(
    description="`ateda fetch` of the run's night (its partition, else config `night`) into the landing area."
)
def fetch_night(context: dg.OpExecutionContext, config: FetchConfig, ateda: AtedaResource):
    night = context.partition_key.replace("-", "") if context.has_partition_key else config.night
    archive = archive_url(config.archive)
    settings = ateda.settings()
    context.log.info(f"ateda fetch {night} from {archive} into {settings.landing}")
    try:
        done = fetch_nights(settings, night, archive, config.parallel, config.cache_keep)
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


def listed_nights(archive: str, timeout: float = 30) -> dict[str, str]:
    """The nights the archive's MD5SUMS lists: YYYYMMDD -> MD5 of its tarball."""
    url = archive if archive.endswith("/") else archive + "/"
    opener = urllib.request.build_opener()
    with opener.open(url + "MD5SUMS", timeout=timeout) as resp:
        text = resp.read().decode("utf-8", "replace")
    return {m.group(2): m.group(1).lower() for m in LISTED.finditer(text)}


@dg.sensor(
    name="archive_sensor",
    job=fetch_job,
    minimum_interval_seconds=ARCHIVE_POLL_S,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Polls the archive's MD5SUMS (ATEDA_ARCHIVE, else ZTF's) and requests ateda_fetch "
        "for a night as soon as it is listed (or republished with another MD5); the first "
        "evaluation takes the newest night only. Off until turned on."
    ),
)
def archive_sensor(context: dg.SensorEvaluationContext):
    """Cursor: `{"newest": YYYYMMDD, "md5": ...}` of the newest night requested. A night
    newer than it is requested (all of them since, oldest first; only the newest on the
    first evaluation), and so is the newest one again when its MD5 changed. The run key is
    `<night>-<md5>`, so a night is never requested twice for the same tarball."""
    archive = archive_url()
    try:
        nights = listed_nights(archive)
    except OSError as e:
        return dg.SkipReason(f"cannot read {archive}MD5SUMS: {e}")
    if not nights:
        return dg.SkipReason(f"no ztf_public_YYYYMMDD.tar.gz in {archive}MD5SUMS")
    cursor = json.loads(context.cursor) if context.cursor else {}
    seen = cursor.get("newest")
    newest = max(nights)
    if seen is None:
        wanted = [newest]
    else:
        wanted = [n for n in sorted(nights) if n > seen]
        if seen in nights and nights[seen] != cursor.get("md5"):
            wanted.insert(0, seen)
    if not wanted:
        return dg.SkipReason(f"no new night in {archive}MD5SUMS (newest {newest})")
    last = wanted[-1]
    context.update_cursor(json.dumps({"newest": last, "md5": nights[last]}))
    return [
        dg.RunRequest(
            run_key=f"{n}-{nights[n]}",
            partition_key=f"{n[:4]}-{n[4:6]}-{n[6:]}",
            run_config={"ops": {"fetch_night": {"config": {"archive": archive}}}},
            tags={"ateda/archive": archive},
        )
        for n in wanted
    ]
