"""Shared test helpers (imported by tests as `ateda_testlib`; conftest.py names collide
across test folders): repo paths, the ateda binary, an ingest runner."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "ztf"


def night_of_jd(jd: float) -> date:
    """Observation night of a Julian date: its UTC calendar date (bronze's `night`)."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=jd - 2440587.5)).date()


def ateda_bin() -> Path:
    path = Path(os.environ.get("ATEDA_BIN", REPO / "target" / "release" / "ateda"))
    if not path.exists():
        pytest.fail(
            f"ateda binary not found at {path}: run `cargo build --release` or set ATEDA_BIN"
        )
    return path


@dataclass
class IngestRun:
    """Result of one `ateda ingest` process."""

    code: int
    stdout: str
    stderr: str
    summary: dict


def run_ingest(lakehouse: Path, *sources: Path | str, extra: tuple[str, ...] = ()) -> IngestRun:
    summary = lakehouse.parent / f"{lakehouse.name}-summary.json"
    if summary.exists():
        summary.unlink()
    cmd = [
        str(ateda_bin()),
        "ingest",
        "--lakehouse",
        str(lakehouse),
        "--summary-json",
        str(summary),
        *extra,
        *map(str, sources),
    ]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    data = json.loads(summary.read_text()) if summary.exists() else {}
    return IngestRun(proc.returncode, proc.stdout, proc.stderr, data)


def gen_alerts(out: Path, n: int, night: str) -> list[Path]:
    """`ateda gen`: n synthetic alerts of a night (YYYYMMDD) as <candid>.avro files."""
    subprocess.run(
        [str(ateda_bin()), "gen", "--n", str(n), "--night", night, "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    files = sorted(out.rglob("*.avro"))
    assert len(files) == n
    return files
