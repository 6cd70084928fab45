"""Reading one cutout stamp's exact bytes from where a bronze/silver row says it is
(docs/cutouts.md): the object at `cutout_<kind>_uri`, and within it the byte range
`cutout_<kind>_offset`, `cutout_<kind>_length` (packed layout) or, when those are null,
the whole object (per-stamp layout).

URIs: `file:///path` (or a bare local path): seek + read; `s3://bucket/key`: one GET, with
a `Range: bytes=offset-(offset+length-1)` header for a byte range. S3 credentials,
endpoint and region come from the standard AWS_* variables (boto3, as landing.py).
"""

from __future__ import annotations

import gzip
import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlparse

GZIP_MAGIC = b"\x1f\x8b"
FITS_START = b"SIMPLE  ="


class StampError(RuntimeError):
    """A stamp cannot be read as its row describes it (names the URI and the range)."""


def _describe(uri: str, offset: int | None, length: int | None) -> str:
    return uri if offset is None else f"{uri} bytes [{offset}, {offset + (length or 0)})"


def read_stamp(uri: str, offset: int | None = None, length: int | None = None) -> bytes:
    """The stamp's exact bytes: bytes [offset, offset + length) of the object at `uri`, or
    the whole object when `offset` is None (then `length`, if given, must be its size).

    Raises StampError when the object is missing or shorter than the range, the range is
    half given or negative, or the URI scheme is not file:// or s3://."""
    if offset is not None and (length is None or offset < 0 or length < 0):
        raise StampError(f"{uri}: bad byte range offset={offset} length={length}")
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        data = _read_s3(parsed.netloc, parsed.path.lstrip("/"), offset, length, uri)
    elif parsed.scheme in ("file", ""):
        data = _read_local(Path(unquote(parsed.path) if parsed.scheme else uri), offset, length)
    else:
        raise StampError(f"{uri}: unsupported scheme {parsed.scheme!r} (file:// or s3://)")
    if length is not None and len(data) != length:
        raise StampError(
            f"{_describe(uri, offset, length)}: read {len(data)} bytes, expected {length}"
        )
    return data


def _read_local(path: Path, offset: int | None, length: int | None) -> bytes:
    try:
        with path.open("rb") as fh:
            if offset is None:
                return fh.read()
            fh.seek(offset)
            return fh.read(length)
    except OSError as e:
        raise StampError(f"{path}: {e}") from e


def _s3_client():
    # boto3 reads AWS_ACCESS_KEY_ID/SECRET, AWS_ENDPOINT_URL and AWS_REGION itself; one
    # client per set of those values (a client is thread-safe, its set-up is not free).
    env = tuple(os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID"))
    return _client_for(env)


@lru_cache(maxsize=4)
def _client_for(env: tuple[str | None, ...]):
    import boto3

    return boto3.client("s3", region_name=env[1] or None)


def _read_s3(bucket: str, key: str, offset: int | None, length: int | None, uri: str) -> bytes:
    from botocore.exceptions import BotoCoreError, ClientError

    if offset is not None and length == 0:
        return b""  # an empty range has no Range header form
    args = {"Bucket": bucket, "Key": key}
    if offset is not None:
        args["Range"] = f"bytes={offset}-{offset + length - 1}"
    try:
        return _s3_client().get_object(**args)["Body"].read()
    except (BotoCoreError, ClientError) as e:
        raise StampError(f"{_describe(uri, offset, length)}: {e}") from e


def fits_bytes(stamp: bytes) -> bytes:
    """The FITS file a stamp holds: gunzipped when it is gzip (ZTF's stamps), as is
    otherwise (Rubin's). Raises StampError unless it starts with a FITS primary header
    (`SIMPLE  =`)."""
    data = stamp
    if stamp[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(stamp)
        except (OSError, EOFError) as e:
            raise StampError(f"not a valid gzip stream: {e}") from e
    if not data.startswith(FITS_START):
        raise StampError(f"not FITS: starts with {data[:16]!r}")
    return data
