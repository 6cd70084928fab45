"""`ateda stream` stopped the hard way and the soft way, and shared by two consumers, while
`ateda produce --rate` keeps sending (a real tansu broker): kill -9 at random points five
times then a restart ends with every produced alert exactly once (in the packed cutout
layout: every stamp at its recorded byte range, orphan packs only unreferenced); SIGTERM exits 0 within
seconds with the rows and the offsets of one commit; two consumers of one group split the
partitions and together store every alert once."""

from __future__ import annotations

import random
import subprocess
import time

import pytest
from streamlib import (
    IDLE_EXIT,
    ZtfMessage,
    assert_ztf_rows,
    committed_rows,
    create_topic,
    free_port,
    gen_ztf,
    kafka_offsets,
    kafka_source,
    key_list,
    last_json,
    produce_cmd,
    produced_positions,
    table_rows_where,
    tarball_members,
    wait_rows,
)

from ateda_testlib import ateda_bin


def start_producer(broker, topic, sources, rate) -> subprocess.Popen:
    """`ateda produce --rate` in the background, into a topic created beforehand (a
    consumer may subscribe before the producer's first message)."""
    create_topic(broker, topic)
    return subprocess.Popen(
        produce_cmd(broker, topic, sources, rate=rate),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_producer(proc: subprocess.Popen, n: int, timeout: float = 90) -> None:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"ateda produce exited {proc.returncode}:\n{err[-3000:]}"
    assert last_json(out)["produced"] == n, out


def messages_of(topic: str, payloads: list[bytes]) -> list[ZtfMessage]:
    return [ZtfMessage(kafka_source(topic, i), data) for i, data in enumerate(payloads)]


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    """A generated ZTF night as ztf_public_20231012.tar.gz and its members in order."""
    tb = gen_ztf(tmp_path_factory.mktemp("kill-night"), 1200, seed=11, tar=True)
    return tb, tarball_members(tb)


def test_kill_9_five_times_then_restart_is_exact(tmp_path, broker, streams, tarball):
    topic = "kill9"
    tb, payloads = tarball
    n = len(payloads)
    producer = start_producer(broker, topic, [tb], rate=30)
    lh = tmp_path / "lakehouse"
    # static membership: a restarted consumer takes its partitions back without waiting
    # for the killed member's session to expire
    stream = streams(
        lh,
        broker,
        [topic],
        group="kill9",
        # the packed cutout layout: each commit point closes its packs before the rows
        # and positions that point into them are committed
        extra=["--commit-every", "50", "--instance-id", "stream-0", "--cutout-layout", "packed"],
    )
    rng = random.Random(16)
    seen = []
    for _ in range(5):
        before = committed_rows(lh, "alerts")
        stream.start()
        # a random point after this run made progress (a commit landed)
        wait_rows(lh, "alerts", min(before + 1, n), timeout=40, streams=(stream,))
        time.sleep(rng.uniform(0.0, 1.2))
        stream.kill9()
        seen.append(committed_rows(lh, "alerts"))
    finish_producer(producer, n)
    assert seen == sorted(seen) and seen[-1] < n, f"rows at each kill: {seen}"
    stream.idle_exit = IDLE_EXIT
    res = stream.start().wait(timeout=90)
    assert res.code == 0, res.output
    keys = key_list(lh, "alerts")
    assert len(keys) == len(set(keys)) == n, f"{len(keys)} rows, {len(set(keys))} distinct"
    assert_ztf_rows(lh, messages_of(topic, payloads))
    assert kafka_offsets(lh, "alerts", group="kill9") == {topic: produced_positions(n)}
    # killed sessions leave packs no row points into, which `ateda maintain` removes
    sweep = subprocess.run(
        [str(ateda_bin()), "maintain", "--lakehouse", str(lh), "--older-than-hours", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    assert_ztf_rows(lh, messages_of(topic, payloads))
    print(f"rows committed at the five kills: {seen}; maintain: {sweep.stderr.strip()}")


def test_sigterm_commits_what_is_decoded_and_exits_0(tmp_path, broker, streams, tarball):
    topic = "sigterm"
    tb, payloads = tarball
    payloads = payloads[:600]
    src = tmp_path / "sigterm"
    src.mkdir()
    for i, data in enumerate(payloads):
        (src / f"{i:05d}.avro").write_bytes(data)
    producer = start_producer(broker, topic, [src], rate=100)
    lh = tmp_path / "lakehouse"
    # no commit before the signal (interval and batch out of reach): the rows visible
    # afterwards are exactly what the SIGTERM commit wrote
    stream = streams(
        lh,
        broker,
        [topic],
        group="sigterm",
        commit_interval="10m",
        metrics_port=free_port(),
        extra=["--commit-every", "100000"],
    )
    stream.start()
    stream.wait_metric("ateda_stream_messages_total", 100, timeout=40)
    assert committed_rows(lh, "alerts") == 0
    res, seconds = stream.terminate(timeout=30)
    assert res.code == 0, res.output
    assert seconds < 5, f"exit {seconds:.1f} s after SIGTERM"
    s = res.summary
    rows = committed_rows(lh, "alerts")
    offsets = kafka_offsets(lh, "alerts", group="sigterm")[topic]
    # the rows committed are exactly the messages below the committed offsets
    below = [i for i in range(len(payloads)) if i // 3 < offsets.get(i % 3, 0)]
    keys = sorted(key_list(lh, "alerts"))
    want = sorted(ZtfMessage("", payloads[i]).candid for i in below)
    assert keys == want, f"{len(keys)} rows vs {len(want)} messages below {offsets}"
    assert_ztf_rows(lh, [ZtfMessage(kafka_source(topic, i), payloads[i]) for i in below])
    assert 100 <= rows == s["ingested"] == len(below) < len(payloads), (rows, s)
    # everything it had received was decoded and committed: nothing left behind
    assert s["messages"] == sum(offsets.values()), (s, offsets)
    print(f"SIGTERM: exit 0 after {seconds:.2f} s, {rows} rows committed, offsets {offsets}")

    # the rest, by a restarted consumer, watched through its metrics
    finish_producer(producer, len(payloads))
    stream.commit_interval = "1s"
    stream.extra = []
    stream.start()
    wait_rows(lh, "alerts", len(payloads), timeout=60, streams=(stream,))
    deadline = time.monotonic() + 20
    while True:
        m = stream.metrics()
        lag = {
            k: v
            for k, v in m.items()
            if k.startswith("ateda_stream_consumer_lag{") and f'topic="{topic}"' in k
        }
        # the lag per partition, from librdkafka's statistics, reaches 0 on all three
        done = len(lag) == 3 and set(lag.values()) == {0}
        if done and m.get("ateda_stream_messages_total") == len(payloads) - rows:
            break
        assert time.monotonic() < deadline, {k: v for k, v in m.items() if "stream" in k}
        time.sleep(0.2)
    assert m["ateda_alerts_ingested_total"] == len(payloads) - rows
    assert m["ateda_stream_end_to_end_seconds_count"] == len(payloads) - rows
    assert m["ateda_commit_duration_seconds_count"] >= 1
    again, _ = stream.terminate()
    assert again.code == 0, again.output
    assert again.summary["ingested"] == len(payloads) - rows, again.summary
    msgs = [ZtfMessage(kafka_source(topic, i), d) for i, d in enumerate(payloads)]
    assert_ztf_rows(lh, msgs)
    assert kafka_offsets(lh, "alerts", group="sigterm") == {
        topic: produced_positions(len(payloads))
    }


def test_two_consumers_in_one_group_split_the_partitions(tmp_path, broker, streams, tarball):
    topic = "pair"
    tb, payloads = tarball
    payloads = payloads[:600]
    src = tmp_path / "pair"
    src.mkdir()
    for i, data in enumerate(payloads):
        (src / f"{i:05d}.avro").write_bytes(data)
    producer = start_producer(broker, topic, [src], rate=150)
    lh = tmp_path / "lakehouse"
    opts = ["--commit-every", "50"]
    # a by flags, b by environment variables only (as in a pod)
    pair = [
        streams(
            lh,
            broker,
            [topic],
            group="pair",
            name=name,
            idle_exit=IDLE_EXIT,
            extra=opts,
            by_env=name == "b",
        )
        for name in ("a", "b")
    ]
    for s in pair:
        s.start()
    finish_producer(producer, len(payloads))
    results = [s.wait(timeout=90) for s in pair]
    for r in results:
        assert r.code == 0, r.output
    run_ids = {r.summary["run_id"]: name for r, name in zip(results, "ab", strict=True)}
    assert len(run_ids) == 2
    # which consumer stored which partition: the ledger's run_id per Kafka position
    partitions: dict[str, set[int]] = {name: set() for name in "ab"}
    for row in table_rows_where(lh, "ingest_ledger"):
        t, p, _ = row["source"].removeprefix("kafka://").split("/")
        assert t == topic, row["source"]
        partitions[run_ids[row["run_id"]]].add(int(p))
    assert partitions["a"] and partitions["b"], f"partitions per consumer: {partitions}"
    assert partitions["a"] | partitions["b"] == {0, 1, 2}
    assert sum(r.summary["ingested"] for r in results) == len(payloads)
    assert_ztf_rows(lh, messages_of(topic, payloads), run_ids=set(run_ids))
    assert kafka_offsets(lh, "alerts", group="pair") == {topic: produced_positions(len(payloads))}
    print(f"partitions per consumer: {partitions}")
