"""A long stream makes many small files; the Spark maintenance app keeps them bounded
(issue 16). `ateda stream` commits every 5 alerts into the session's Spark lakehouse (one
data file per commit), `deploy/spark/iceberg_maintenance.py` (with its default retention,
as the cluster runs it) compacts them, the stream goes on from the positions the tables
record (the walk back passes the maintenance snapshots), and after a second round the
file count is bounded again while every alert is there exactly once.

Runs after test_spark_iceberg.py in the same lakehouse (Spark's catalog `ateda` is fixed
per session): counts are taken relative to what is there when it starts."""

from __future__ import annotations

import subprocess
import sys

from pyiceberg.catalog.sql import SqlCatalog
from sparklib import load_maintenance, release_catalog

from ateda_testlib import REPO, ateda_bin

sys.path.insert(0, str(REPO / "tests" / "stream"))
from streamlib import (  # noqa: E402
    IDLE_EXIT,
    Broker,
    Stream,
    create_topic,
    kafka_offsets,
    produce,
    produced_positions,
)

TOPIC = "ztf_20261130_programid1"
PER_ROUND = 40
COMMIT_EVERY = 5


def catalog(lakehouse) -> SqlCatalog:
    return SqlCatalog(
        "ateda",
        uri=f"sqlite:///{lakehouse}/catalog.db",
        warehouse=f"file://{lakehouse}/warehouse",
    )


def live_files(lakehouse) -> int:
    if not (lakehouse / "catalog.db").exists():
        return 0
    return len(catalog(lakehouse).load_table("bronze.alerts").inspect.files())


def candids(lakehouse) -> list[int]:
    if not (lakehouse / "catalog.db").exists():
        return []
    t = catalog(lakehouse).load_table("bronze.alerts")
    return t.scan(selected_fields=("candid",)).to_arrow().column(0).to_pylist()


def gen(out, night: str) -> None:
    proc = subprocess.run(
        [str(ateda_bin()), "gen", "--n", str(PER_ROUND), "--night", night, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def maintain(spark) -> None:
    release_catalog(spark)
    code = load_maintenance().main(["--recent-nights", "0", "--tables", "alerts"])
    assert code == 0
    release_catalog(spark)


def stream_round(lakehouse, broker) -> Stream:
    s = Stream(
        lakehouse,
        broker,
        [TOPIC],
        group="maintained",
        idle_exit=IDLE_EXIT,
        commit_interval="30s",
        extra=["--commit-every", str(COMMIT_EVERY)],
        name="maintained",
    )
    res = s.start().wait(180)
    assert res.code == 0, res.output
    return s


def test_maintenance_keeps_a_long_stream_s_files_bounded(spark, spark_lakehouse, tmp_path):
    lakehouse = spark_lakehouse
    # Neither Spark nor pyiceberg may create catalog.db (their tables lack the column
    # iceberg-rust reads): when no test made it yet, the first stream does.
    if (lakehouse / "catalog.db").exists():
        release_catalog(spark)
    keys_before = candids(lakehouse)
    broker = Broker(tmp_path / "broker")
    broker.start()
    try:
        create_topic(broker, TOPIC, 3)
        rounds = []
        for r in range(2):
            night = tmp_path / f"round-{r}"
            gen(night, f"2026112{8 + r}")  # a night's candids are the night's own
            produce(broker, TOPIC, [night], PER_ROUND)
            files_before = live_files(lakehouse)
            s = stream_round(lakehouse, broker)
            files_streamed = live_files(lakehouse)
            # about one data file per commit point (a point may take rows read just after
            # it, leaving the next one a position-only commit): many small files
            assert s.result().summary["commit_points"] >= PER_ROUND // COMMIT_EVERY
            assert files_streamed - files_before >= PER_ROUND // COMMIT_EVERY // 2, (
                files_before,
                files_streamed,
            )
            if r > 0:
                # the second round resumed where the tables say, across the maintenance
                # snapshots (not at the group's offsets, not from the start)
                assert "resuming at the position the tables record" in s.stderr(), s.stderr()
                assert s.result().summary["already_present"] == 0, s.result().summary
            maintain(spark)
            files_maintained = live_files(lakehouse)
            nights = len(
                set(
                    catalog(lakehouse)
                    .load_table("bronze.alerts")
                    .scan(selected_fields=("night",))
                    .to_arrow()
                    .column(0)
                    .to_pylist()
                )
            )
            rounds.append((files_before, files_streamed, files_maintained, nights))
            # bounded: one file per night, whatever the number of commits
            assert files_maintained == nights, rounds
            offsets = kafka_offsets(lakehouse, "alerts", group="maintained")
            # each `ateda produce` starts again at partition 0
            want = {p: (r + 1) * n for p, n in produced_positions(PER_ROUND).items()}
            assert offsets == {TOPIC: want}, offsets
        print(f"\n(files before, after streaming, after maintenance, nights) per round: {rounds}")
        keys = candids(lakehouse)
        assert len(keys) == len(set(keys)) == len(keys_before) + 2 * PER_ROUND
        # Spark reads the same count
        count = spark.sql("SELECT count(DISTINCT candid) AS n FROM ateda.bronze.alerts").collect()
        assert count[0].n == len(keys)
        release_catalog(spark)
    finally:
        broker.stop()
