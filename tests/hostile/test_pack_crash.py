"""Packed cutouts under kill -9 (issue 17): a run killed after closing packs but before
the commit whose rows point into them leaves orphan packs, never a row pointing at a
missing or changing range. `ateda maintain` lists them (dry run), removes exactly them
(every pack left is referenced; no temporary file is left), and a re-run ingests every
alert once, each stamp read back by its byte range equal to the packet's."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import subprocess
import time
from pathlib import Path

import fastavro

from ateda_testlib import ateda_bin, gen_alerts, run_ingest
from bronze.readers import table_rows

N = 1200
KINDS = (
    ("science", "cutoutScience"),
    ("template", "cutoutTemplate"),
    ("difference", "cutoutDifference"),
)
PACKED = (
    "--cutout-layout",
    "packed",
    "--pack-size",
    "1000000",
    "--commit-every",
    "400",
    "--chunk",
    "50",
)


def pack_files(lh: Path) -> dict[str, str]:
    """Every file under the packs directories (hidden ones too): path -> sha256."""
    root = lh / "cutouts"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def maintain(lh: Path, *extra: str) -> dict:
    proc = subprocess.run(
        [str(ateda_bin()), "maintain", "--lakehouse", str(lh), "--older-than-hours", "0", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def referenced(lh: Path) -> set[str]:
    if not (lh / "catalog.db").exists():
        return set()
    try:
        rows = table_rows(lh, "alerts")
    except Exception:  # noqa: BLE001 - no table yet: nothing referenced
        return set()
    return {r[f"cutout_{k}_uri"] for r in rows for k, _ in KINDS if r[f"cutout_{k}_uri"]}


def test_kill_9_leaves_only_orphans_that_maintain_removes(tmp_path):
    files = gen_alerts(tmp_path / "night", N, "20261130")
    lh = tmp_path / "lh"
    packs_dir = lh / "cutouts" / "ztf" / "packs"
    rng = random.Random(17)
    kills = 0
    for attempt in range(3):
        proc = subprocess.Popen(
            [str(ateda_bin()), "ingest", "--lakehouse", str(lh), *PACKED, str(tmp_path / "night")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        seen = set(packs_dir.rglob("*.pack")) if packs_dir.exists() else set()
        deadline = time.monotonic() + 60
        # first round: killed as soon as a pack is whole (its rows' commit is hundreds of
        # alerts away); later rounds at a random moment after that
        while proc.poll() is None and time.monotonic() < deadline:
            if packs_dir.exists() and set(packs_dir.rglob("*.pack")) - seen:
                break
            time.sleep(0.005)
        if attempt:
            time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 1

    # every row points into a pack that is there; what no row points into is an orphan
    refs = referenced(lh)
    on_disk = {f"file://{(lh / 'cutouts' / k).resolve()}" for k in pack_files(lh)}
    assert refs <= on_disk, refs - on_disk
    dry = maintain(lh, "--dry-run")["ztf"]
    assert not dry["removed"]
    assert set(dry["orphans"]) == on_disk - refs
    assert dry["orphans"], "the first kill came before any commit of its packs"
    assert set(f"file://{(lh / 'cutouts' / k).resolve()}" for k in pack_files(lh)) == on_disk

    kept = {
        k: v
        for k, v in pack_files(lh).items()
        if f"file://{(lh / 'cutouts' / k).resolve()}" in refs
    }
    swept = maintain(lh)["ztf"]
    assert swept["removed"] and set(swept["orphans"]) == set(dry["orphans"])
    assert pack_files(lh) == kept, "exactly the referenced packs are left, unchanged"

    final = run_ingest(lh, tmp_path / "night", extra=PACKED)
    assert final.code == 0, final.stderr[-2000:]
    assert final.summary["ingested"] + final.summary["already_present"] == N
    rows = table_rows(lh, "alerts")
    assert sorted(r["candid"] for r in rows) == sorted({r["candid"] for r in rows})
    assert len(rows) == N
    by_candid = {r["candid"]: r for r in rows}
    for f in files:
        with f.open("rb") as fh:
            (rec,) = list(fastavro.reader(fh))
        row = by_candid[rec["candid"]]
        for kind, field in KINDS:
            uri, off, length = (row[f"cutout_{kind}_{c}"] for c in ("uri", "offset", "length"))
            with open(uri.removeprefix("file://"), "rb") as pack:
                pack.seek(off)
                assert pack.read(length) == rec[field]["stampData"], (rec["candid"], kind)
    # after the final run nothing is orphaned
    assert maintain(lh, "--dry-run")["ztf"]["orphans"] == []
    assert not [k for k in pack_files(lh) if Path(k).name.startswith(".")]
