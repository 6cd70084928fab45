"""The ingest benchmark: one command, one generated night, every contender timed.

    python scripts/bench/run.py [--n 20000] [--large 100000] [--lsst-n 20000] [--work DIR]

Times, on the same synthetic night made by `ateda gen` from the bundled packets:
  1. `ateda ingest` of the night as a directory of .avro files (per-stamp layout: an
     object per stamp);
  1p. the same with `--cutout-layout packed` (stamps back to back in pack files of
      128 MiB; issue 17);
  1b. `cp -r` of the stamp tree that ingest wrote (the file-system floor: the same
      files created with no decoding);
  1c. `dd` of as many bytes as the stamps hold into one file (the write floor: no file
      creation at all, only the bytes into the page cache);
  2. `ateda ingest` of the night as ztf_public_YYYYMMDD.tar.gz (streamed);
  2p. the same with `--cutout-layout packed`;
  3. `gzip -dc` of that tarball alone (the decompression floor);
  4. the Python fastavro + pyarrow baseline (scripts/bench/baseline_fastavro.py);
  2b. `ateda ingest` of a drifted tarball of the same size (`ateda gen --drift
      extra-fields`: about half the alerts carry a field the bundled schemas lack, so the
      night has twice the writer schemas and the table evolves during the run);
  5. with --large: `ateda ingest` of a larger tarball, to show peak memory stays flat;
  6. with --lsst-n (default 20000): a synthetic Rubin night (`ateda gen --survey lsst`,
     wire format unless --lsst-format container) timed the same way: `ateda ingest` of the
     directory (per-stamp, then packed), `cp -r` and `dd` of its stamps, `ateda ingest` of lsst_YYYYMMDD.tar.gz,
     `gzip -dc` of it, and the fastavro baseline on the directory; then how long a
     10-million-alert Rubin night would take at these rates.
--n 0 skips the ZTF night (and --large), --lsst-n 0 the Rubin one.
Prints alerts/s, MB/s, peak RSS of each (from the kernel's rusage of that process alone),
the 1-minute load average after each run (the figures follow it on a shared machine) and
the ratios, each goal with met / not met (GOALS: packed directory ingest >= 70% of `dd`,
per-stamp directory ingest >= 90% of `cp -r`, tarball ingest >= 100% of `gzip -dc`,
every ateda peak RSS < 1 GiB). Before each timed run the page cache is flushed (`sync`), so no run pays
for the previous one's writeback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ATEDA = Path(os.environ.get("ATEDA_BIN", REPO / "target" / "release" / "ateda"))
NIGHT = "20231012"
# A Rubin dayObs (the UTC date 12 hours before each midpointMjdTai).
LSST_NIGHT = "20251012"
# Alerts of a full Rubin night, for the projection printed at the end.
RUBIN_NIGHT = 10_000_000
# Seconds after a mass deletion before file creation is back to its usual speed.
QUIET_S = 300
# The goals of the ratios (issue 17): key in results["ratios"] -> (what, least ratio).
GOALS = {
    "packed_directory_vs_write_floor": ("ZTF directory ingest, packed / dd", 0.70),
    "directory_vs_stamp_copy": ("ZTF directory ingest, per-stamp / cp -r", 0.90),
    "tarball_vs_gzip_dc": ("ZTF tar.gz ingest / gzip -dc", 1.00),
    "rubin_packed_directory_vs_write_floor": ("rubin directory ingest, packed / dd", 0.70),
    "rubin_directory_vs_stamp_copy": ("rubin directory ingest, per-stamp / cp -r", 0.90),
    "rubin_tarball_vs_gzip_dc": ("rubin tar.gz ingest / gzip -dc", 1.00),
}
# Peak RSS of every ateda run stays below this (MiB).
RSS_GOAL_MIB = 1024


def timed(cmd: list[str], stdout=subprocess.DEVNULL) -> tuple[float, float]:
    """Runs cmd after a sync; returns (wall seconds, peak RSS MiB) of that process alone."""
    os.sync()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    err = proc.stderr.read().decode() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(cmd)} failed ({code}):\n{err}")
    return wall, usage.ru_maxrss / 1024


def ingest(lakehouse: Path, source: Path, packed: bool = False, summary: Path | None = None):
    """The `ateda ingest` command line of one timed run."""
    cmd = [str(ATEDA), "ingest", "--no-progress", "--lakehouse", str(lakehouse)]
    if packed:
        cmd += ["--cutout-layout", "packed"]
    if summary:
        cmd += ["--summary-json", str(summary)]
    return cmd + [str(source)]


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def gen(n: int, out: Path, tar: bool, drift: bool = False) -> Path:
    cmd = [str(ATEDA), "gen", "--n", str(n), "--night", NIGHT, "--out", str(out)]
    cmd += ["--templates", str(REPO / "tests" / "data" / "ztf")]
    if tar:
        cmd.append("--tar")
    if drift:
        cmd += ["--drift", "extra-fields"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out / f"ztf_public_{NIGHT}.tar.gz" if tar else out


def gen_lsst(n: int, out: Path, tar: bool, fmt: str) -> Path:
    cmd = [str(ATEDA), "gen", "--survey", "lsst", "--n", str(n), "--night", LSST_NIGHT]
    cmd += ["--out", str(out), "--format", fmt]
    cmd += ["--templates", str(REPO / "tests" / "data" / "lsst")]
    if tar:
        cmd.append("--tar")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out / f"lsst_{LSST_NIGHT}.tar.gz" if tar else out


def hours(alerts_per_s: float) -> float:
    """Hours a Rubin-sized night (RUBIN_NIGHT alerts) takes at this rate."""
    return RUBIN_NIGHT / alerts_per_s / 3600


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="alerts in the ZTF night (0: skip)")
    ap.add_argument(
        "--large", type=int, default=100_000, help="alerts in the RSS-flatness run (0: skip)"
    )
    ap.add_argument(
        "--lsst-n", type=int, default=20_000, help="alerts in the Rubin night (0: skip)"
    )
    ap.add_argument(
        "--lsst-format",
        choices=["wire", "container"],
        default="wire",
        help="framing of the Rubin alert files (wire: Rubin's Kafka format)",
    )
    ap.add_argument("--work", type=Path, default=REPO / ".work" / "bench")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"run-{int(time.time())}-", dir=args.work))
    cleaned = args.work / "last-cleanup"
    ago = time.time() - cleaned.stat().st_mtime if cleaned.exists() else QUIET_S
    if ago < QUIET_S:
        print(
            f"warning: the previous benchmark deleted its files {ago:.0f} s ago; on a "
            f"journal-less ext4, creating files is slower for minutes after mass deletions, "
            f"so wait {QUIET_S} s between runs for comparable figures"
        )
    python = sys.executable
    print(
        f"ateda benchmark: {args.n} ZTF alerts (night {NIGHT}), {args.lsst_n} Rubin alerts "
        f"(dayObs {LSST_NIGHT}, {args.lsst_format} format), {os.cpu_count()} cores, "
        f"work dir {work}"
    )
    rows = []

    def row(name: str, alerts: int, nbytes: int, wall: float, rss: float) -> dict:
        r = {
            "run": name,
            "alerts": alerts,
            "wall_s": round(wall, 3),
            "alerts_per_s": round(alerts / wall),
            "mb_per_s": round(nbytes / 1e6 / wall, 1),
            "peak_rss_mib": round(rss),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
        rows.append(r)
        return r

    results: dict = {"rows": rows, "ratios": {}, "load_avg_start": list(os.getloadavg())}
    if args.n:
        ztf_night(args, work, row, python, results)
    if args.lsst_n:
        lsst_night(args, work, row, python, results)

    print(
        f"\n{'run':46} {'alerts':>8} {'wall s':>8} {'alerts/s':>9} {'MB/s':>7} "
        f"{'peak RSS MiB':>13} {'load 1m':>8}"
    )
    for r in rows:
        print(
            f"{r['run']:46} {r['alerts']:>8} {r['wall_s']:>8} {r['alerts_per_s']:>9} "
            f"{r['mb_per_s']:>7} {r['peak_rss_mib']:>13} {r['load_avg_1m']:>8}"
        )
    for line in results.pop("lines", []):
        print(line)
    results["goals"] = goals(results)
    print("\ngoals:")
    for g in results["goals"].values():
        print(f"  {g['what']:52} {g['value']:>8} (goal {g['goal']}): {g['verdict']}")
    load = os.getloadavg()
    results["load_avg_end"] = list(load)
    print(
        f"load average at start {' '.join(f'{x:.2f}' for x in results['load_avg_start'])}, "
        f"at end {' '.join(f'{x:.2f}' for x in load)} ({os.cpu_count()} cores)"
    )
    (args.work / "results.json").write_text(json.dumps(results, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        os.sync()
        cleaned.touch()


def goals(results: dict) -> dict:
    """Each ratio goal of GOALS that this run measured, and peak RSS < 1 GiB of every ateda
    run: {key: {what, value, goal, met, verdict}}."""
    out = {}
    for key, (what, least) in GOALS.items():
        if key in results["ratios"]:
            v = results["ratios"][key]
            out[key] = {
                "what": what,
                "value": f"{v * 100:.0f}%",
                "goal": f">= {least * 100:.0f}%",
                "met": v >= least,
            }
    for r in results["rows"]:
        if "ateda" in r["run"]:
            out[f"peak_rss: {r['run']}"] = {
                "what": f"peak RSS, {r['run']}",
                "value": f"{r['peak_rss_mib']} MiB",
                "goal": f"< {RSS_GOAL_MIB} MiB",
                "met": r["peak_rss_mib"] < RSS_GOAL_MIB,
            }
    for g in out.values():
        g["verdict"] = "met" if g["met"] else "NOT met"
    return out


def packs(summary: Path, cutouts: Path, n: int) -> dict:
    """What a packed run wrote: packs (from the summary JSON and on disk) and stamp bytes."""
    s = json.loads(summary.read_text())
    files = list(cutouts.rglob("*.pack"))
    nbytes = sum(p.stat().st_size for p in files)
    return {
        "packs_written": s["packs_written"],
        "cutouts_written": s["cutouts_written"],
        "pack_files": len(files),
        "stamp_bytes": nbytes,
        "stamp_bytes_per_alert": round(nbytes / n),
    }


def ztf_night(args, work: Path, row, python: str, results: dict) -> None:
    """The ZTF night: directory, floors, tarball, drifted tarball, baseline, large run."""
    src_dir = gen(args.n, work / "night", tar=False)
    tarball = gen(args.n, work, tar=True)
    dir_bytes, tar_bytes = du(src_dir), du(tarball)
    w, m = timed(ingest(work / "lh-dir", src_dir))
    d = row("ateda ingest (directory)", args.n, dir_bytes, w, m)
    # The same night in the packed layout: the stamps back to back in a few pack files.
    w, m = timed(ingest(work / "lh-packed", src_dir, packed=True, summary=work / "packed.json"))
    pd = row("ateda ingest (directory, packed)", args.n, dir_bytes, w, m)
    packed = packs(work / "packed.json", work / "lh-packed" / "cutouts", args.n)
    # The file-system floor of the directory ingest: creating the same stamp files
    # (3 per alert, one directory per alert) with `cp -r`, no decoding at all.
    w, m = timed(["cp", "-r", str(work / "lh-dir" / "cutouts"), str(work / "cutouts-copy")])
    stamp_bytes = du(work / "lh-dir" / "cutouts")
    c = row("cp -r of the stamp tree alone", args.n, stamp_bytes, w, m)
    # The write floor: the same number of bytes into one file, no file creation at all.
    # No program that writes the stamps can be faster than this on this disk.
    mib = -(-stamp_bytes // 2**20)
    w, m = timed(["dd", "if=/dev/zero", f"of={work / 'floor.bin'}", "bs=1M", f"count={mib}"])
    f = row("dd of the stamp bytes into one file", args.n, mib * 2**20, w, m)
    w, m = timed(ingest(work / "lh-tar", tarball))
    t = row("ateda ingest (tar.gz stream)", args.n, tar_bytes, w, m)
    w, m = timed(ingest(work / "lh-tar-packed", tarball, packed=True))
    pt = row("ateda ingest (tar.gz stream, packed)", args.n, tar_bytes, w, m)
    drifted = gen(args.n, work / "drifted", tar=True, drift=True)
    summary = work / "drifted-summary.json"
    w, m = timed(
        [str(ATEDA), "ingest", "--no-progress", "--lakehouse", str(work / "lh-drift")]
        + ["--summary-json", str(summary), str(drifted)]
    )
    dr = row("ateda ingest (tar.gz, drifted schemas)", args.n, du(drifted), w, m)
    columns_added = json.loads(summary.read_text())["columns_added"]
    w, m = timed(["gzip", "-dc", str(tarball)])
    g = row("gzip -dc (tar.gz alone)", args.n, tar_bytes, w, m)
    base = REPO / "scripts" / "bench" / "baseline_fastavro.py"
    w, m = timed([python, str(base), str(src_dir), str(work / "baseline")])
    b = row("python fastavro+pyarrow baseline", args.n, dir_bytes, w, m)
    lg = None
    if args.large:
        big = gen(args.large, work / "large", tar=True)
        w, m = timed(
            [str(ATEDA), "ingest", "--no-progress", "--lakehouse", str(work / "lh-large"), str(big)]
        )
        lg = row("ateda ingest (tar.gz stream, large)", args.large, du(big), w, m)

    ratios = {
        "directory_vs_python_baseline": round(d["alerts_per_s"] / b["alerts_per_s"], 1),
        "directory_vs_stamp_copy": round(d["alerts_per_s"] / c["alerts_per_s"], 2),
        "tarball_vs_gzip_dc": round(t["alerts_per_s"] / g["alerts_per_s"], 2),
        "stamp_copy_vs_python_baseline": round(c["alerts_per_s"] / b["alerts_per_s"], 1),
        "write_floor_vs_python_baseline": round(f["alerts_per_s"] / b["alerts_per_s"], 1),
        "drifted_vs_tarball": round(dr["alerts_per_s"] / t["alerts_per_s"], 2),
        "packed_directory_vs_write_floor": round(pd["alerts_per_s"] / f["alerts_per_s"], 2),
        "packed_vs_per_stamp_directory": round(pd["alerts_per_s"] / d["alerts_per_s"], 2),
        "packed_tarball_vs_gzip_dc": round(pt["alerts_per_s"] / g["alerts_per_s"], 2),
    }
    lines = [
        f"\ndirectory ingest / python baseline: {ratios['directory_vs_python_baseline']}x",
        f"directory ingest / cp -r of stamps: {ratios['directory_vs_stamp_copy'] * 100:.0f}%"
        " (the file-system floor)",
        f"python baseline / cp -r of stamps:  {ratios['stamp_copy_vs_python_baseline']}x"
        " (the ratio an ingest as fast as copying its stamps would show)",
        f"python baseline / dd of stamp bytes: {ratios['write_floor_vs_python_baseline']}x"
        " (the ceiling for any ingest that writes its stamps on this disk)",
        f"tarball ingest / gzip -dc rate:     {ratios['tarball_vs_gzip_dc'] * 100:.0f}%",
        f"packed directory ingest / dd of stamp bytes: "
        f"{ratios['packed_directory_vs_write_floor'] * 100:.0f}% (the write floor)",
        f"packed / per-stamp directory ingest: {ratios['packed_vs_per_stamp_directory']}x",
        f"packed tarball ingest / gzip -dc rate: {ratios['packed_tarball_vs_gzip_dc'] * 100:.0f}%",
        f"packed night: {packed['pack_files']} pack files for {args.n} alerts"
        f" (summary packs_written: {packed['packs_written']}),"
        f" {packed['stamp_bytes'] / 1e6:.1f} MB of stamps"
        f" ({packed['stamp_bytes_per_alert'] / 1e3:.1f} KB per alert; per-stamp:"
        f" {stamp_bytes / 1e6:.1f} MB in {3 * args.n} files)",
        f"drifted / plain tarball ingest:     {ratios['drifted_vs_tarball'] * 100:.0f}%"
        f" (the drifted run evolved the table: {'; '.join(columns_added)})",
    ]
    if lg:
        ratios["rss_large_vs_small"] = round(lg["peak_rss_mib"] / t["peak_rss_mib"], 2)
        lines.append(
            f"peak RSS {args.n} vs {args.large} alerts:    {t['peak_rss_mib']} MiB vs "
            f"{lg['peak_rss_mib']} MiB ({ratios['rss_large_vs_small']}x)"
        )
    results["ratios"].update(ratios)
    results["ztf_packed"] = packed
    results["drifted_columns_added"] = columns_added
    results.setdefault("lines", []).extend(lines)


def lsst_night(args, work: Path, row, python: str, results: dict) -> None:
    """The Rubin night: directory, floors, tarball, gzip -dc, baseline; the 10M projection."""
    n = args.lsst_n
    src_dir = gen_lsst(n, work / "lsst-night", tar=False, fmt=args.lsst_format)
    tarball = gen_lsst(n, work, tar=True, fmt=args.lsst_format)
    dir_bytes, tar_bytes = du(src_dir), du(tarball)
    lh_dir = work / "lh-lsst-dir"
    w, m = timed(ingest(lh_dir, src_dir))
    d = row("rubin: ateda ingest (directory)", n, dir_bytes, w, m)
    lh_packed = work / "lh-lsst-packed"
    w, m = timed(ingest(lh_packed, src_dir, packed=True, summary=work / "lsst-packed.json"))
    pd = row("rubin: ateda ingest (directory, packed)", n, dir_bytes, w, m)
    packed = packs(work / "lsst-packed.json", lh_packed / "cutouts", n)
    w, m = timed(["cp", "-r", str(lh_dir / "cutouts"), str(work / "lsst-cutouts-copy")])
    stamp_bytes = du(lh_dir / "cutouts")
    c = row("rubin: cp -r of the stamp tree alone", n, stamp_bytes, w, m)
    mib = -(-stamp_bytes // 2**20)
    floor = work / "lsst-floor.bin"
    w, m = timed(["dd", "if=/dev/zero", f"of={floor}", "bs=1M", f"count={mib}"])
    f = row("rubin: dd of the stamp bytes into one file", n, mib * 2**20, w, m)
    floor.unlink()
    w, m = timed(ingest(work / "lh-lsst-tar", tarball))
    t = row("rubin: ateda ingest (tar.gz stream)", n, tar_bytes, w, m)
    w, m = timed(["gzip", "-dc", str(tarball)])
    g = row("rubin: gzip -dc (tar.gz alone)", n, tar_bytes, w, m)
    base = REPO / "scripts" / "bench" / "baseline_fastavro.py"
    w, m = timed([python, str(base), str(src_dir), str(work / "lsst-baseline")])
    b = row("rubin: python fastavro+pyarrow baseline", n, dir_bytes, w, m)

    ratios = {
        "rubin_directory_vs_python_baseline": round(d["alerts_per_s"] / b["alerts_per_s"], 1),
        "rubin_directory_vs_stamp_copy": round(d["alerts_per_s"] / c["alerts_per_s"], 2),
        "rubin_directory_vs_write_floor": round(d["alerts_per_s"] / f["alerts_per_s"], 2),
        "rubin_tarball_vs_gzip_dc": round(t["alerts_per_s"] / g["alerts_per_s"], 2),
        "rubin_packed_directory_vs_write_floor": round(pd["alerts_per_s"] / f["alerts_per_s"], 2),
    }
    night = {
        "alerts": n,
        "format": args.lsst_format,
        "mean_packet_bytes": round(dir_bytes / n),
        "mean_stamp_bytes_per_alert": round(stamp_bytes / n),
        "tarball_bytes": tar_bytes,
        "packed": packed,
        "hours_for_10m_alerts": {
            "directory_ingest": round(hours(d["alerts_per_s"]), 2),
            "packed_directory_ingest": round(hours(pd["alerts_per_s"]), 2),
            "tarball_ingest": round(hours(t["alerts_per_s"]), 2),
            "cp_r_floor": round(hours(c["alerts_per_s"]), 2),
            "dd_floor": round(hours(f["alerts_per_s"]), 2),
            "gzip_dc_floor": round(hours(g["alerts_per_s"]), 2),
        },
    }
    h = night["hours_for_10m_alerts"]
    lines = [
        f"\nrubin night: {n} alerts, {night['mean_packet_bytes'] / 1e3:.1f} KB per packet"
        f" ({args.lsst_format} format), {night['mean_stamp_bytes_per_alert'] / 1e3:.1f} KB of"
        f" stamps per alert, tarball {tar_bytes / 1e6:.1f} MB",
        f"rubin directory ingest / python baseline: {ratios['rubin_directory_vs_python_baseline']}x",
        f"rubin directory ingest / cp -r of stamps: "
        f"{ratios['rubin_directory_vs_stamp_copy'] * 100:.0f}% (the file-system floor)",
        f"rubin directory ingest / dd of stamp bytes: "
        f"{ratios['rubin_directory_vs_write_floor'] * 100:.0f}% (the write floor)",
        f"rubin packed directory ingest / dd of stamp bytes: "
        f"{ratios['rubin_packed_directory_vs_write_floor'] * 100:.0f}% ({packed['pack_files']}"
        f" pack files, summary packs_written {packed['packs_written']}, {packed['stamp_bytes_per_alert'] / 1e3:.1f} KB of stamps per alert)",
        f"rubin tarball ingest / gzip -dc rate:     {ratios['rubin_tarball_vs_gzip_dc'] * 100:.0f}%",
        f"rubin night of {RUBIN_NIGHT:,} alerts on this machine: {h['directory_ingest']} h"
        f" (directory ingest), {h['packed_directory_ingest']} h (directory, packed),"
        f" {h['tarball_ingest']} h (tarball); floors: cp -r"
        f" {h['cp_r_floor']} h, dd {h['dd_floor']} h, gzip -dc {h['gzip_dc_floor']} h",
    ]
    results["ratios"].update(ratios)
    results["rubin_night"] = night
    results.setdefault("lines", []).extend(lines)


if __name__ == "__main__":
    main()
