"""The `ateda fetch --ingest` benchmark (issue 18): ingest while downloading, next to
downloading then ingesting.

    python scripts/bench/fetch.py [--n 20000] [--rate 40m] [--repeat 1] [--work DIR] [--keep]

On one synthetic ZTF night made by `ateda gen --tar` (ztf_public_YYYYMMDD.tar.gz with its
MD5SUMS), served by a real nginx on loopback (scripts/nginx.sh), in the same run:
  1. `curl -o` of the tarball (the download floor), then `ateda ingest` of the downloaded
     file (the ingest floor); their sum is the two-step way;
  2. `ateda fetch NIGHT --ingest` into a fresh lakehouse: the tarball read by the ingest
     as it arrives (and written to `--to` as `ateda fetch` does, MD5 verified).
With --rate (nginx's limit_rate syntax, e.g. 40m = 40 MB/s) the server sends the tarball
at that rate, as a remote archive would; by default at loopback speed. Prints each time, (curl + ingest) / fetch --ingest (goal >= 1.3x) and what a perfect
overlap of the two floors would give, (curl + ingest) / max(curl, ingest) (figures move
+-30% between runs on a busy machine, so the measured ratio can land above it). Before each timed run the
page cache is flushed (`sync`). --repeat N runs both N times, alternating which goes first,
and prints medians (the figures follow the machine's load). Results also go to <work>/fetch-results.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ATEDA = Path(os.environ.get("ATEDA_BIN", REPO / "target" / "release" / "ateda"))
NGINX_SH = REPO / "scripts" / "nginx.sh"
NIGHT = "20231012"
TARBALL = f"ztf_public_{NIGHT}.tar.gz"


def env() -> dict[str, str]:
    """Straight to the loopback server, whatever proxy the environment names."""
    out = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    out["NO_PROXY"] = out["no_proxy"] = "127.0.0.1,localhost"
    return out


def timed(cmd: list[str]) -> float:
    """Runs cmd after a sync; its wall seconds (exit 0 required)."""
    os.sync()
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env(), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return wall


def md5_file(path: Path) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def load() -> str:
    """The 1-minute load average (the figures move with it)."""
    return f"{os.getloadavg()[0]:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="alerts in the night")
    ap.add_argument(
        "--rate",
        help="serve the tarball at this rate (nginx limit_rate, e.g. 40m); default: loopback speed",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="repetitions (alternating order; medians printed)",
    )
    ap.add_argument("--work", type=Path, default=REPO / ".work" / "bench")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"fetch-{int(time.time())}-", dir=args.work))
    root, state = work / "archive", work / "nginx"
    (root / "a").mkdir(parents=True)
    state.mkdir()
    subprocess.run(
        [str(ATEDA), "gen", "--n", str(args.n), "--night", NIGHT, "--out", str(root / "a")]
        + ["--templates", str(REPO / "tests" / "data" / "ztf"), "--tar"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    tarball = root / "a" / TARBALL
    size = tarball.stat().st_size
    (root / "a" / "MD5SUMS").write_text(f"{md5_file(tarball)}  {TARBALL}\n")
    if args.rate:
        (root / "a" / f"{TARBALL}.slow").touch()  # scripts/nginx.sh: sent at NGINX_SLOW_RATE
    started = subprocess.run(
        [str(NGINX_SH), "start", str(root), str(state)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NGINX_SLOW_RATE": args.rate or "1m"},
    )
    if started.returncode != 0:
        sys.exit(f"scripts/nginx.sh start failed:\n{started.stdout}{started.stderr}")
    url = started.stdout.strip().splitlines()[-1] + "/a/"
    print(
        f"ateda fetch --ingest benchmark: {args.n} ZTF alerts, {size / 1e6:.1f} MB tarball "
        f"served by nginx at {url}"
        + (f" at {args.rate} bytes/s" if args.rate else " at loopback speed")
        + f", {os.cpu_count()} cores, load average {load()}, work dir {work}"
    )
    runs = []  # (curl, ingest, fetch --ingest) per repetition
    try:
        for i in range(args.repeat):
            rep = work / f"rep{i}"
            (rep / "curl").mkdir(parents=True)

            def two_step(rep=rep) -> tuple[float, float]:
                got = rep / "curl" / TARBALL
                curl = timed(["curl", "-sS", "--fail", "-o", str(got), url + TARBALL])
                ingest = timed(
                    [str(ATEDA), "ingest", "--no-progress", "--lakehouse", str(rep / "lh-two")]
                    + [str(got)]
                )
                return curl, ingest

            def one_step(rep=rep) -> float:
                return timed(
                    [str(ATEDA), "fetch", NIGHT, "--ingest", "--no-progress", "--archive", url]
                    + ["--to", str(rep / "fetched"), "--lakehouse", str(rep / "lh-fetch")]
                )

            # alternate the order, so a drift of the machine's load favours neither
            if i % 2 == 0:
                (curl, ingest), fetch_ingest = two_step(), one_step()
            else:
                fetch_ingest = one_step()
                curl, ingest = two_step()
            runs.append((curl, ingest, fetch_ingest))
            if args.repeat > 1:
                print(
                    f"  repetition {i + 1}: curl {curl:.2f} s, ingest {ingest:.2f} s, "
                    f"fetch --ingest {fetch_ingest:.2f} s: "
                    f"{(curl + ingest) / fetch_ingest:.2f}x (load average {load()})"
                )
    finally:
        subprocess.run(
            [str(NGINX_SH), "stop", str(state)],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    curl = statistics.median(r[0] for r in runs)
    ingest = statistics.median(r[1] for r in runs)
    two_step = statistics.median(r[0] + r[1] for r in runs)
    fetch_ingest = statistics.median(r[2] for r in runs)
    ratio = two_step / fetch_ingest
    ceiling = two_step / max(curl, ingest)
    rows = [
        ("curl -o (download floor)", curl),
        ("ateda ingest of the downloaded tarball (ingest floor)", ingest),
        ("curl -o then ateda ingest", two_step),
        ("ateda fetch --ingest", fetch_ingest),
    ]
    what = f"median of {args.repeat}, " if args.repeat > 1 else ""
    print(f"\n{'run':56} {'wall s':>8} {'alerts/s':>9} {'MB/s':>7}   ({what}load average {load()})")
    for name, wall in rows:
        print(f"{name:56} {wall:>8.2f} {args.n / wall:>9.0f} {size / 1e6 / wall:>7.1f}")
    print(
        f"fetch --ingest is {ratio:.2f}x curl -o then ingest (goal >= 1.3x); a perfect overlap "
        f"of the two floors would give {ceiling:.2f}x (sum / the slower floor)"
    )
    (args.work / "fetch-results.json").write_text(
        json.dumps(
            {
                "alerts": args.n,
                "rate": args.rate or "loopback",
                "tarball_bytes": size,
                "curl_s": round(curl, 3),
                "ingest_s": round(ingest, 3),
                "curl_then_ingest_s": round(two_step, 3),
                "fetch_ingest_s": round(fetch_ingest, 3),
                "ratio": round(ratio, 3),
                "ceiling": round(ceiling, 3),
                "runs": [[round(x, 3) for x in r] for r in runs],
            },
            indent=2,
        )
    )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
