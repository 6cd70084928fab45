"""The landing area where nightly `ztf_public_YYYYMMDD.tar.gz` (ZTF) and
`lsst_YYYYMMDD.tar.gz` (Rubin) files arrive.

Two kinds, chosen by the location string (ATEDA_LANDING or the resource's `landing`):

- a local directory (`/data/landing`): tarballs, or per-night directories of .avro files;
- an S3 prefix (`s3://bucket/prefix`): tarballs only. Credentials, endpoint and region
  come from the standard AWS_* variables (boto3). A night's tarballs are downloaded to
  `<lakehouse>/.landing-cache/` for the ingest and removed afterwards.
  The fetch jobs (fetch.py) upload verified tarballs there with `S3Landing.put`.

A night's sources (both surveys' tarballs, directories) go to one `ateda ingest`.

A file counts as landed once it has not changed for `settle_s` seconds (no half-copied
tarballs); its fingerprint (size + mtime, or size + ETag on S3) lets the sensor start a new
run when a night's file is replaced.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .nights import night_of_file, night_source_names, night_sources

TARBALL_SUFFIX = ".tar.gz"


class LandingError(RuntimeError):
    """The landing location cannot be read (names the location and the reason)."""


@dataclass(frozen=True)
class LandedFile:
    """A settled nightly tarball: its night ('YYYY-MM-DD'), file name and fingerprint."""

    night: str
    name: str
    fingerprint: str


class Landing(Protocol):
    """Where nightly sources land."""

    location: str

    def landed(self, settle_s: float, now: float | None = None) -> list[LandedFile]:
        """Settled nightly tarballs, sorted by name."""
        ...

    def uri(self, name: str) -> str:
        """The full location of one landed file (for run tags and messages)."""
        ...

    def fetch(self, night: str, cache: Path) -> AbstractContextManager[list[Path]]:
        """Context manager: local paths holding the night's sources (empty: none)."""
        ...


@dataclass(frozen=True)
class LocalLanding:
    """A local directory."""

    path: Path

    @property
    def location(self) -> str:
        return str(self.path)

    def landed(self, settle_s: float, now: float | None = None) -> list[LandedFile]:
        now = time.time() if now is None else now
        if not self.path.is_dir():
            return []
        out = []
        for p in sorted(self.path.iterdir()):
            night = night_of_file(p.name)
            if night is None or not p.is_file() or not p.name.endswith(TARBALL_SUFFIX):
                continue
            st = p.stat()
            if now - st.st_mtime < settle_s:
                continue
            out.append(LandedFile(night.isoformat(), p.name, f"{st.st_size}:{st.st_mtime_ns}"))
        return out

    def uri(self, name: str) -> str:
        return str(self.path / name)

    @contextmanager
    def fetch(self, night: str, cache: Path) -> Iterator[list[Path]]:
        yield night_sources(self.path, night)


@dataclass(frozen=True)
class S3Landing:
    """An S3 prefix, `s3://bucket/prefix`, read with boto3 (AWS_* environment)."""

    bucket: str
    prefix: str

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _client(self):
        import boto3

        # boto3 reads AWS_ACCESS_KEY_ID/SECRET, AWS_ENDPOINT_URL and AWS_REGION itself.
        return boto3.client("s3", region_name=os.environ.get("AWS_REGION") or None)

    def _key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def landed(self, settle_s: float, now: float | None = None) -> list[LandedFile]:
        from botocore.exceptions import BotoCoreError, ClientError

        now = time.time() if now is None else now
        out = []
        try:
            pages = self._client().get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"):
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(self.prefix) :]
                    night = night_of_file(name)
                    if night is None or not name.endswith(TARBALL_SUFFIX):
                        continue
                    if now - obj["LastModified"].timestamp() < settle_s:
                        continue
                    etag = str(obj.get("ETag", "")).strip('"')
                    out.append(LandedFile(night.isoformat(), name, f"{obj['Size']}:{etag}"))
        except (BotoCoreError, ClientError) as e:
            raise LandingError(f"cannot list landing {self.location}: {e}") from e
        return sorted(out, key=lambda f: f.name)

    def uri(self, name: str) -> str:
        return f"s3://{self.bucket}/{self._key(name)}"

    @contextmanager
    def fetch(self, night: str, cache: Path) -> Iterator[list[Path]]:
        from botocore.exceptions import BotoCoreError, ClientError

        names = [n for n in night_source_names(night) if n.endswith(TARBALL_SUFFIX)]
        cache.mkdir(parents=True, exist_ok=True)
        # One private directory per fetch: two runs of the same night never share a file.
        with tempfile.TemporaryDirectory(prefix="fetch-", dir=cache) as tmp:
            found = []
            for name in names:
                local = Path(tmp) / name
                try:
                    self._client().download_file(self.bucket, self._key(name), str(local))
                except ClientError as e:
                    if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                        continue
                    raise LandingError(f"cannot download {self.uri(name)}: {e}") from e
                except BotoCoreError as e:
                    raise LandingError(f"cannot download {self.uri(name)}: {e}") from e
                found.append(local)
            yield found

    def put(self, local: Path, md5: str) -> bool:
        """Uploads a verified tarball under its own name (S3 objects appear whole, so the
        sensor never sees half an upload). Skipped when the object is already there with
        the same size and MD5 (recorded as metadata `md5`): an unchanged night does not
        start another run. True when uploaded."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client()
        key = self._key(local.name)
        try:
            try:
                head = client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                    raise
            else:
                same_size = head.get("ContentLength") == local.stat().st_size
                if same_size and head.get("Metadata", {}).get("md5") == md5:
                    return False
            client.upload_file(str(local), self.bucket, key, ExtraArgs={"Metadata": {"md5": md5}})
        except (BotoCoreError, ClientError) as e:
            raise LandingError(f"cannot upload {local} to {self.uri(local.name)}: {e}") from e
        return True


def open_landing(location: str | Path) -> Landing:
    """A landing area from its location: `s3://bucket/prefix` or a local directory."""
    text = str(location)
    if text.startswith("s3://"):
        rest = text[len("s3://") :]
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise LandingError(f"landing {text!r}: no bucket (expected s3://bucket/prefix)")
        prefix = prefix.strip("/")
        return S3Landing(bucket, f"{prefix}/" if prefix else "")
    if "://" in text:
        raise LandingError(
            f"landing {text!r}: unsupported scheme (a local directory or s3://bucket/prefix)"
        )
    return LocalLanding(Path(text).resolve())
