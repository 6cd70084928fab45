"""Night names: `ztf_public_YYYYMMDD.tar.gz`, `lsst_YYYYMMDD.tar.gz` (Rubin; what
`ateda gen --survey lsst --tar` writes) or a night directory, and its partition."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

NIGHT_FILE = re.compile(r"^(?:ztf_public|lsst)_(\d{8})\.tar\.gz$")
NIGHT_DIR = re.compile(r"^(?:ztf_public_|lsst_)?(\d{8})$")


def night_of_file(name: str) -> date | None:
    """`ztf_public_20231012.tar.gz`, `lsst_20231012.tar.gz` (or a directory
    `ztf_public_20231012`/`lsst_20231012`/`20231012`) -> date."""
    m = NIGHT_FILE.match(name) or NIGHT_DIR.match(name)
    if not m:
        return None
    d = m.group(1)
    return date(int(d[:4]), int(d[4:6]), int(d[6:]))


def night_source_names(night: str) -> list[str]:
    """The names a night's source may have in the landing area, tarballs first."""
    compact = night.replace("-", "")
    return [
        f"ztf_public_{compact}.tar.gz",
        f"lsst_{compact}.tar.gz",
        f"ztf_public_{compact}",
        f"lsst_{compact}",
        compact,
    ]


def night_sources(landing: Path, night: str) -> list[Path]:
    """Every landing source of a night ('YYYY-MM-DD'): ZTF and Rubin tarballs, then
    directories (one `ateda ingest` takes them all)."""
    return [landing / n for n in night_source_names(night) if (landing / n).exists()]


def night_source(landing: Path, night: str) -> Path | None:
    """The first landing source of a night ('YYYY-MM-DD'): a tarball, else a directory."""
    found = night_sources(landing, night)
    return found[0] if found else None
