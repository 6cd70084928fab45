"""The S3 cutout benchmark (issue 17): one generated ZTF night's stamps into SeaweedFS on
loopback, by `ateda ingest` (per-stamp and packed layouts) and by a Python boto3 thread pool.

    python scripts/bench/s3.py [--n 20000] [--threads 32] [--pack-size BYTES]
                               [--pack-part-size BYTES] [--work DIR] [--keep]

1. `ateda gen --n N` makes the night (a directory of .avro files).
2. `scripts/services.sh start` with its own state dir (under --work): a SeaweedFS of its
   own on 127.0.0.1, stopped and removed at the end (--keep keeps it).
3. A counting HTTP proxy (this file, `--proxy`, its own process) stands in front of the
   S3 port: every request is forwarded unchanged and counted by method, with the body
   bytes of PUTs. Every contender goes through it, so the PUT counts are counted, not
   estimated; the proxy costs each the same copy of the bytes.
4. `ateda ingest --cutouts s3://cutouts/<run>/ateda` of the directory (catalog and
   warehouse: a local embedded lakehouse, so only the stamps go to S3).
4p. The same with `--cutout-layout packed` (`--cutouts s3://cutouts/<run>/packed`, a
   lakehouse of its own): stamps back to back in packs of --pack-size bytes (ateda's
   default 128 MiB), each one PUT, or a multipart upload (POST, part PUTs, POST) when
   larger than --pack-part-size.
5. The baseline (`--boto3`, its own process): fastavro reads each packet, its three
   stamps are uploaded with boto3 `put_object` by a pool of --threads threads, under the
   same key layout.
6. One alert's stamps read back with `ateda cutout` from S3 equal the packet's, in both
   layouts; in the packed one, every row points into a pack the summary counted, the
   ranges add up to the bytes PUT, and sampled stamps read by ranged GET equal the
   packets' stamp bytes.

Prints, per contender: alerts/s, MB/s (stamp bytes PUT per second), PUT and POST
requests per 1,000 alerts and all requests (counted by the proxy), peak RSS (the kernel's
rusage of that process alone), the 1-minute load average after the run; then the goals
(packed: <= 1 PUT per 1,000 alerts, >= 3x the boto3 rate; every ateda RSS < 1 GiB), each
met or not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ATEDA = Path(os.environ.get("ATEDA_BIN", REPO / "target" / "release" / "ateda"))
NIGHT = "20231012"
KINDS = {
    "cutoutScience": "science",
    "cutoutTemplate": "template",
    "cutoutDifference": "difference",
}
COUNTS_PATH = "/__ateda_bench_counts"
# Stamps of the packed contender read back by ranged GET and compared with the packets.
SAMPLE = 30
# Goals (issue 17): packed PUTs per 1,000 alerts at most, packed rate / boto3 rate at
# least, peak RSS of an ateda run below (MiB).
PUT_GOAL = 1
RATE_GOAL = 3.0
RSS_GOAL_MIB = 1024


# --- the counting proxy -------------------------------------------------------------------


class Counts:
    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.put_bytes = 0

    def as_json(self) -> bytes:
        return json.dumps({"requests": self.requests, "put_bytes": self.put_bytes}).encode()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 20):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def copy_exact(reader, writer, n: int) -> None:
    while n > 0:
        data = await reader.read(min(n, 1 << 20))
        if not data:
            raise asyncio.IncompleteReadError(b"", n)
        writer.write(data)
        n -= len(data)
        await writer.drain()


async def copy_chunked(reader, writer) -> int:
    """Forwards a chunked body as is; returns its payload bytes."""
    total = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        writer.write(line)
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            # trailers up to the empty line
            while (t := await reader.readuntil(b"\r\n")) != b"\r\n":
                writer.write(t)
            writer.write(b"\r\n")
            await writer.drain()
            return total
        await copy_exact(reader, writer, size + 2)
        total += size


async def serve_client(client_r, client_w, upstream: tuple[str, int], counts: Counts) -> None:
    try:
        up_r, up_w = await asyncio.open_connection(*upstream)
    except OSError:
        client_w.close()
        return
    back = asyncio.create_task(pipe(up_r, client_w))
    try:
        while True:
            head = await client_r.readuntil(b"\r\n\r\n")
            method, target = head.split(b" ", 2)[:2]
            if target == COUNTS_PATH.encode():
                body = counts.as_json()
                client_w.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await client_w.drain()
                continue
            name = method.decode()
            counts.requests[name] = counts.requests.get(name, 0) + 1
            headers = {}
            for line in head.split(b"\r\n")[1:]:
                if b":" in line:
                    k, v = line.split(b":", 1)
                    headers[k.strip().lower()] = v.strip()
            up_w.write(head)
            if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                n = await copy_chunked(client_r, up_w)
            else:
                n = int(headers.get(b"content-length", b"0"))
                await copy_exact(client_r, up_w, n)
            if name == "PUT":
                counts.put_bytes += n
            await up_w.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        up_w.close()
        client_w.close()
        back.cancel()


def run_proxy(listen_port: int, upstream_port: int) -> None:
    counts = Counts()

    async def main() -> None:
        server = await asyncio.start_server(
            lambda r, w: serve_client(r, w, ("127.0.0.1", upstream_port), counts),
            "127.0.0.1",
            listen_port,
            limit=1 << 20,
        )
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --- the boto3 baseline ------------------------------------------------------------------


def run_boto3(night: Path, dest: str, threads: int) -> None:
    """Reads every packet of `night` with fastavro and PUTs its stamps to `dest`
    (s3://bucket/prefix) with a pool of `threads`; prints what it uploaded as JSON."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime, timedelta

    import boto3
    import botocore.config
    import fastavro

    bucket, _, prefix = dest.removeprefix("s3://").partition("/")
    s3 = boto3.client(
        "s3",
        config=botocore.config.Config(max_pool_connections=threads, retries={"mode": "standard"}),
    )

    def stamps():
        for path in sorted(night.rglob("*.avro")):
            with path.open("rb") as f:
                for rec in fastavro.reader(f):
                    jd = rec["candidate"]["jd"]
                    day = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=jd - 2440587.5)).date()
                    for field, kind in KINDS.items():
                        st = rec.get(field)
                        if st:
                            key = f"{prefix}/ztf/night={day}/{rec['candid']}/{kind}.fits.gz"
                            yield key, st["stampData"]

    def put(item) -> int:
        key, data = item
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        return len(data)

    # at most 4 stamps per thread queued or in flight (a sliding window): the stamps are
    # never all in memory at once
    slots = threading.BoundedSemaphore(4 * threads)
    futures = []
    with ThreadPoolExecutor(threads) as pool:
        for item in stamps():
            slots.acquire()
            f = pool.submit(put, item)
            f.add_done_callback(lambda _: slots.release())
            futures.append(f)
    sent = [f.result() for f in futures]
    print(json.dumps({"stamps": len(sent), "bytes": sum(sent)}))


# --- the benchmark -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            k, v = line.removeprefix("export ").split("=", 1)
            env[k] = v
    return env


def timed(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, float, str]:
    """Runs cmd; returns (wall seconds, peak RSS MiB of that process alone, stdout)."""
    with log.open("wb") as err, (log.with_suffix(".out")).open("w+b") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if code != 0:
        sys.exit(f"{' '.join(cmd[:3])} failed (exit {code}): see {log}")
    return wall, usage.ru_maxrss / 1024, text


def counts(proxy_port: int) -> dict:
    url = f"http://127.0.0.1:{proxy_port}{COUNTS_PATH}"
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def delta(before: dict, after: dict) -> tuple[dict[str, int], int]:
    req = {
        k: after["requests"].get(k, 0) - before["requests"].get(k, 0)
        for k in after["requests"]
        if after["requests"].get(k, 0) - before["requests"].get(k, 0)
    }
    return req, after["put_bytes"] - before["put_bytes"]


def bronze_rows(lakehouse: Path) -> list[dict]:
    """candid and cutout columns of every bronze.alerts row of an embedded lakehouse."""
    from pyiceberg.catalog.sql import SqlCatalog

    cat = SqlCatalog(
        "ateda",
        uri=f"sqlite:///{lakehouse / 'catalog.db'}",
        warehouse=f"file://{lakehouse / 'warehouse'}",
    )
    cols = ["candid"] + [
        f"cutout_{kind}_{c}" for kind in KINDS.values() for c in ("uri", "offset", "length")
    ]
    return cat.load_table("bronze.alerts").scan(selected_fields=tuple(cols)).to_arrow().to_pylist()


def check_packed(night: Path, lakehouse: Path, summary: dict, put_bytes: int, env: dict) -> dict:
    """The packed contender's rows: every stamp a range of a .pack object, the ranges adding
    up to the bytes PUT, the packs the rows point into all the pack objects listed under the
    run's prefix; SAMPLE stamps read by ranged GET (boto3, through the proxy, after the
    counts were taken) equal the packets' stamp bytes. The summary's packs_written is
    recorded beside the packs counted here (a mismatch is printed, not fatal)."""
    import boto3
    import fastavro

    rows = bronze_rows(lakehouse)
    packs, total = set(), 0
    for r in rows:
        for kind in KINDS.values():
            uri, off, n = (r[f"cutout_{kind}_{c}"] for c in ("uri", "offset", "length"))
            assert uri.startswith("s3://") and uri.endswith(".pack"), r
            assert off is not None and n > 0, r
            packs.add(uri)
            total += n
    assert total == put_bytes, (total, put_bytes)
    files = {p.stem: p for p in night.rglob("*.avro")}
    step = max(1, len(rows) // SAMPLE)
    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
    )
    bucket, _, prefix = next(iter(packs)).removeprefix("s3://").partition("/")
    prefix = prefix.split("/packs/")[0] + "/packs/"
    listed = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        listed |= {f"s3://{bucket}/{o['Key']}" for o in page.get("Contents", [])}
    assert listed == packs, (sorted(listed), sorted(packs))
    checked = 0
    for r in rows[::step][:SAMPLE]:
        with files[str(r["candid"])].open("rb") as f:
            rec = next(iter(fastavro.reader(f)))
        for field, kind in KINDS.items():
            bucket, _, key = r[f"cutout_{kind}_uri"].removeprefix("s3://").partition("/")
            off, n = r[f"cutout_{kind}_offset"], r[f"cutout_{kind}_length"]
            got = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={off}-{off + n - 1}")
            assert got["Body"].read() == rec[field]["stampData"], (r, kind)
            checked += 1
    return {
        "packs": len(packs),
        "packs_written_summary": summary["packs_written"],
        "stamp_bytes": total,
        "rows": len(rows),
        "ranges_read": checked,
    }


def cutout_readback(night: Path, lakehouse: Path, out: Path, env: dict) -> None:
    """The first packet's stamps through `ateda cutout` from S3 equal the packet's."""
    import fastavro

    sample = sorted(night.rglob("*.avro"))[0]
    with sample.open("rb") as f:
        rec = next(iter(fastavro.reader(f)))
    cmd = [str(ATEDA), "cutout", str(rec["candid"]), "--lakehouse", str(lakehouse), "-o", str(out)]
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    for field, kind in KINDS.items():
        assert (out / f"{rec['candid']}-{kind}.fits.gz").read_bytes() == rec[field]["stampData"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="alerts in the night")
    ap.add_argument("--threads", type=int, default=32, help="boto3 upload threads")
    ap.add_argument(
        "--pack-size", type=int, help="packed contender's --pack-size (ateda's default)"
    )
    ap.add_argument(
        "--pack-part-size", type=int, help="packed contender's --pack-part-size (ateda's default)"
    )
    ap.add_argument("--work", type=Path, default=REPO / ".work" / "bench-s3")
    ap.add_argument("--keep", action="store_true", help="keep the SeaweedFS and its data")
    ap.add_argument(
        "--proxy", nargs=2, type=int, metavar=("LISTEN", "UPSTREAM"), help=argparse.SUPPRESS
    )
    ap.add_argument(
        "--boto3", nargs=3, metavar=("NIGHT", "DEST", "THREADS"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.proxy:
        return run_proxy(*args.proxy)
    if args.boto3:
        return run_boto3(Path(args.boto3[0]), args.boto3[1], int(args.boto3[2]))

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    night = work / f"night-{args.n}"
    if not night.is_dir() or len(list(night.rglob("*.avro"))) != args.n:
        shutil.rmtree(night, ignore_errors=True)
        subprocess.run(
            [str(ATEDA), "gen", "--n", str(args.n), "--night", NIGHT, "--out", str(night)],
            check=True,
            capture_output=True,
        )
    services = work / "services"
    svc_env = {**os.environ, "ATEDA_SERVICES_DIR": str(services)}
    subprocess.run(
        [str(REPO / "scripts" / "services.sh"), "start"],
        check=True,
        env=svc_env,
        stdout=subprocess.DEVNULL,
    )
    proxy = None
    load_start = os.getloadavg()
    try:
        s3 = read_env(services / "env.sh")
        upstream = int(s3["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
        port = free_port()
        proxy = subprocess.Popen([sys.executable, __file__, "--proxy", str(port), str(upstream)])
        for _ in range(100):
            try:
                counts(port)
                break
            except OSError:
                time.sleep(0.1)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({k: v for k, v in s3.items() if k.startswith("AWS_")})
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        env["RUST_LOG"] = "warn"
        run = uuid.uuid4().hex[:8]
        rows = []

        def contender(name: str, cmd: list[str], log: str) -> str:
            c0 = counts(port)
            wall, rss, out = timed(cmd, env, work / log)
            req, nbytes = delta(c0, counts(port))
            rows.append((name, wall, rss, req, nbytes, os.getloadavg()[0]))
            return out

        per_stamp = "ateda ingest (per-stamp) -> S3"
        lakehouse = work / f"lakehouse-{run}"
        dest = f"s3://cutouts/bench-{run}/ateda"
        contender(
            per_stamp,
            [str(ATEDA), "ingest", "--lakehouse", str(lakehouse), "--cutouts", dest, str(night)],
            "ateda.log",
        )

        packed = "ateda ingest (packed) -> S3"
        packed_lh = work / f"lakehouse-{run}-packed"
        summary = work / f"packed-summary-{run}.json"
        cmd = [str(ATEDA), "ingest", "--lakehouse", str(packed_lh), "--cutout-layout", "packed"]
        cmd += ["--cutouts", f"s3://cutouts/bench-{run}/packed", "--summary-json", str(summary)]
        if args.pack_size:
            cmd += ["--pack-size", str(args.pack_size)]
        if args.pack_part_size:
            cmd += ["--pack-part-size", str(args.pack_part_size)]
        contender(packed, cmd + [str(night)], "ateda-packed.log")

        boto = f"python boto3 x{args.threads} threads -> S3"
        out = contender(
            boto,
            [sys.executable, __file__, "--boto3", str(night)]
            + [f"s3://cutouts/bench-{run}/boto3", str(args.threads)],
            "boto3.log",
        )
        sent = json.loads(out.strip().splitlines()[-1])

        # read-back: `ateda cutout` from S3 in both layouts, ranged GETs of the packs
        cutout_readback(night, lakehouse, work / f"cutout-{run}", env)
        cutout_readback(night, packed_lh, work / f"cutout-{run}-packed", env)
        by = {r[0]: r for r in rows}
        check = check_packed(night, packed_lh, json.loads(summary.read_text()), by[packed][4], env)

        print(
            f"\nS3 cutouts: {args.n} ZTF alerts ({sent['stamps']} stamps, {sent['bytes'] / 1e6:.0f} MB) into SeaweedFS on loopback"
        )
        print(
            f"{'':38} {'wall s':>7} {'alerts/s':>9} {'MB/s':>7} {'PUT/1k alerts':>14} "
            f"{'POST/1k':>8} {'req/1k':>7} {'RSS MiB':>8} {'load 1m':>8}"
        )
        results: dict = {"alerts": args.n, "rows": {}}
        for name, wall, rss, req, nbytes, load in rows:
            puts = req.get("PUT", 0)
            total = sum(req.values())
            print(
                f"{name:38} {wall:7.1f} {args.n / wall:9.0f} {nbytes / 1e6 / wall:7.1f} "
                f"{puts * 1000 / args.n:14.2f} {req.get('POST', 0) * 1000 / args.n:8.2f} "
                f"{total * 1000 / args.n:7.2f} {rss:8.0f} {load:8.2f}"
            )
            results["rows"][name] = {
                "wall_s": wall,
                "alerts_per_s": args.n / wall,
                "mb_per_s": nbytes / 1e6 / wall,
                "requests": req,
                "put_bytes": nbytes,
                "peak_rss_mib": rss,
                "load_avg_1m": load,
            }
        for name, *_, req, _, _ in rows:
            print(f"  requests, {name}: {json.dumps(req, sort_keys=True)}")
        res = results["rows"]
        ratios = {
            "per_stamp_vs_boto3": res[per_stamp]["alerts_per_s"] / res[boto]["alerts_per_s"],
            "packed_vs_boto3": res[packed]["alerts_per_s"] / res[boto]["alerts_per_s"],
            "packed_vs_per_stamp": res[packed]["alerts_per_s"] / res[per_stamp]["alerts_per_s"],
        }
        put_per_1k = res[packed]["requests"].get("PUT", 0) * 1000 / args.n
        goals = {
            "packed_put_per_1k_alerts": {
                "what": "packed: PUT requests per 1,000 alerts",
                "value": round(put_per_1k, 2),
                "goal": f"<= {PUT_GOAL}",
                "met": put_per_1k <= PUT_GOAL,
            },
            "packed_vs_boto3": {
                "what": "packed ateda rate / boto3 rate",
                "value": round(ratios["packed_vs_boto3"], 2),
                "goal": f">= {RATE_GOAL}x",
                "met": ratios["packed_vs_boto3"] >= RATE_GOAL,
            },
        }
        for name in (per_stamp, packed):
            goals[f"peak_rss: {name}"] = {
                "what": f"peak RSS MiB, {name}",
                "value": round(res[name]["peak_rss_mib"]),
                "goal": f"< {RSS_GOAL_MIB}",
                "met": res[name]["peak_rss_mib"] < RSS_GOAL_MIB,
            }
        results.update(
            ratios=ratios,
            goals=goals,
            packed=check,
            stamps=sent,
        )
        print(
            f"ateda per-stamp / boto3 rate: {ratios['per_stamp_vs_boto3']:.2f}x; "
            f"ateda packed / boto3 rate: {ratios['packed_vs_boto3']:.2f}x; "
            f"packed / per-stamp: {ratios['packed_vs_per_stamp']:.2f}x"
        )
        print(
            f"packed: {check['packs']} packs (rows point into them; every pack object listed),"
            f" {check['stamp_bytes'] / 1e6:.1f} MB = the bytes PUT,"
            f" {check['stamp_bytes'] / args.n / 1e3:.1f} KB per alert;"
            f" {check['ranges_read']} stamps read by ranged GET: exact bytes"
        )
        if check["packs"] != check["packs_written_summary"]:
            print(
                f"MISMATCH: the summary's packs_written is {check['packs_written_summary']},"
                f" the rows point into {check['packs']} packs"
            )
        print("`ateda cutout` read-back from S3: exact bytes (per-stamp and packed)")
        print("goals:")
        for g in goals.values():
            print(
                f"  {g['what']:46} {g['value']:>8} (goal {g['goal']}): "
                f"{'met' if g['met'] else 'NOT met'}"
            )
        load = os.getloadavg()
        results["load_avg_start"], results["load_avg_end"] = list(load_start), list(load)
        print(
            f"load average at start {' '.join(f'{x:.2f}' for x in load_start)}, "
            f"at end {' '.join(f'{x:.2f}' for x in load)} ({os.cpu_count()} cores)"
        )
        (work / "results.json").write_text(json.dumps(results, indent=2))
    finally:
        if proxy:
            proxy.terminate()
            proxy.wait()
        if not args.keep:
            subprocess.run(
                [str(REPO / "scripts" / "services.sh"), "stop"],
                check=False,
                env=svc_env,
                stdout=subprocess.DEVNULL,
            )
            shutil.rmtree(services, ignore_errors=True)
            for p in work.glob("lakehouse-*"):
                shutil.rmtree(p, ignore_errors=True)
            for p in work.glob("cutout-*"):
                shutil.rmtree(p, ignore_errors=True)
            for p in work.glob("packed-summary-*.json"):
                p.unlink()


if __name__ == "__main__":
    main()
