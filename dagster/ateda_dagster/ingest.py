"""Run `ateda ingest` and read its JSON summary."""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .settings import Settings

SUMMARY_KEYS = (
    "alerts_seen",
    "ingested",
    "already_present",
    "quarantined",
    "cutouts_written",
    "snapshot_id",
    "elapsed_s",
    "run_id",
)


class IngestError(RuntimeError):
    """`ateda ingest` stopped with an error (exit code 1 or no summary)."""


@dataclass
class IngestResult:
    returncode: int
    summary: dict
    command: list[str]
    stderr_tail: str = ""
    sources: list[str] = field(default_factory=list)

    @property
    def quarantined(self) -> int:
        return int(self.summary.get("quarantined") or 0)


def run_ingest(settings: Settings, *sources: Path, timeout: float | None = None) -> IngestResult:
    """`ateda ingest --lakehouse L --summary-json F SOURCE...` (plus --catalog, --warehouse,
    --cutouts when the settings name the cluster's services, --cutout-layout/--pack-size
    and the tuning flags the settings set: none by default, so the binary's own defaults
    apply).

    Exit 0: everything ingested or already present; 2: something was quarantined (the rest
    is ingested, the summary counts it); 1 or anything else: an error -> IngestError.
    """
    if not settings.ateda_bin.exists():
        raise IngestError(
            f"ateda binary not found at {settings.ateda_bin}: "
            "run `cargo build --release -p ateda-cli` or set ATEDA_BIN"
        )
    settings.lakehouse.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ateda-ingest-") as tmp:
        summary_path = Path(tmp) / "summary.json"
        cmd = [
            str(settings.ateda_bin),
            "ingest",
            "--lakehouse",
            str(settings.lakehouse),
            "--summary-json",
            str(summary_path),
        ]
        for flag, value in (
            ("--catalog", settings.catalog),
            ("--warehouse", settings.warehouse),
            ("--cutouts", settings.cutouts),
        ):
            if value:
                cmd += [flag, value]
        cmd += settings.cutout_flags()
        cmd += settings.tuning.flags()
        cmd += [str(s) for s in sources]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    tail = "\n".join(proc.stderr.strip().splitlines()[-20:])
    if proc.returncode not in (0, 2) or not summary:
        raise IngestError(f"`{' '.join(cmd)}` exited with {proc.returncode}:\n{tail}")
    return IngestResult(proc.returncode, summary, cmd, tail, [str(s) for s in sources])
