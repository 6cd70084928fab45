"""Night names: `ztf_public_YYYYMMDD.tar.gz` (or a night directory) and its partition."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

NIGHT_FILE = re.compile(r"^ztf_public_(\d{8})\.tar\.gz$")
NIGHT_DIR = re.compile(r"^(?:ztf_public_)?(\d{8})$")


def night_of_file(name: str) -> date | None:
    """`ztf_public_20231012.tar.gz` (or a directory `ztf_public_20231012`/`20231012`) -> date."""
    m = NIGHT_FILE.match(name) or NIGHT_DIR.match(name)
    if not m:
        return None
    d = m.group(1)
    return date(int(d[:4]), int(d[4:6]), int(d[6:]))


def night_source(landing: Path, night: str) -> Path | None:
    """The landing source of a night ('YYYY-MM-DD'): the tarball, else a directory."""
    compact = night.replace("-", "")
    for candidate in (
        landing / f"ztf_public_{compact}.tar.gz",
        landing / f"ztf_public_{compact}",
        landing / compact,
    ):
        if candidate.exists():
            return candidate
    return None
