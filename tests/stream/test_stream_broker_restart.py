"""The broker dies (kill -9) under a running `ateda stream` and comes back on the same port
with its log on S3 (tansu `--storage-engine s3://…` on SeaweedFS): the consumer rides out
the outage, takes the messages produced after the restart, and the lakehouse ends with
every alert exactly once and the produced positions in the snapshot summary."""

from __future__ import annotations

import time

from streamlib import (
    ZtfMessage,
    assert_ztf_rows,
    committed_rows,
    gen_ztf,
    kafka_offsets,
    kafka_source,
    key_list,
    produce,
    produced_positions,
    wait_rows,
)

N = 600


def test_broker_restart_mid_stream_is_exact(tmp_path, s3_broker, streams):
    topic = "ztf_20231012_programid1"
    files = sorted(gen_ztf(tmp_path / "gen", N, seed=21).glob("*.avro"))
    halves = [tmp_path / "first", tmp_path / "second"]
    for h in halves:
        h.mkdir()
    for i, f in enumerate(files):
        f.rename(halves[i >= N // 2] / f"{i:05d}.avro")
    payloads = [f.read_bytes() for h in halves for f in sorted(h.iterdir())]

    produce(s3_broker, topic, [halves[0]], N // 2)
    lh = tmp_path / "lakehouse"
    opts = ["--commit-every", "100"]
    stream = streams(lh, s3_broker, [topic], extra=opts).start()
    # the first commit landed: the broker goes down mid-stream
    wait_rows(lh, "alerts", 1, timeout=60, streams=(stream,))
    s3_broker.kill()
    at_kill = committed_rows(lh, "alerts")
    time.sleep(3)
    assert stream.running(), stream.result().output
    s3_broker.start()
    # the topic survived the restart: produce the second half into it
    produce(s3_broker, topic, [halves[1]], N // 2)
    wait_rows(lh, "alerts", N, timeout=90, streams=(stream,))
    res, seconds = stream.terminate(timeout=30)
    assert res.code == 0, res.output
    keys = key_list(lh, "alerts")
    assert len(keys) == len(set(keys)) == N
    msgs = [ZtfMessage(kafka_source(topic, i), d) for i, d in enumerate(payloads)]
    assert_ztf_rows(lh, msgs, run_ids={res.summary["run_id"]})
    assert kafka_offsets(lh, "alerts") == {topic: produced_positions(N)}
    print(f"broker killed with {at_kill} rows committed; SIGTERM exit after {seconds:.2f} s")
