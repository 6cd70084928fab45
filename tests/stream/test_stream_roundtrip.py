"""`ateda produce` then `ateda stream` through a real Kafka-protocol broker (tansu) into a
fresh lakehouse: real and generated ZTF packets on one topic, generated Rubin wire-format
packets and the real Rubin wire packet on another, each with a poison message in the middle
(garbage bytes; a wire-format message naming an unknown schema id). One stream run reads
both topics; every row and stamp is compared with what was produced, the offsets in the
snapshot summary with the produced positions, the poison with its quarantine record."""

from __future__ import annotations

import dataclasses
import shutil
import struct
from pathlib import Path

import pytest
from rubin_packets import REAL_WIRE, read_sample, sample
from streamlib import (
    IDLE_EXIT,
    KafkaPacket,
    Stream,
    ZtfMessage,
    assert_lsst_rows,
    assert_ztf_rows,
    committed_rows,
    gen_lsst,
    gen_ztf,
    kafka_offsets,
    kafka_source,
    produce,
    produced_positions,
    table_metadata,
    table_rows_where,
)

from ateda_testlib import DATA

ZTF_TOPIC = "ztf_20231012_programid1"
LSST_TOPIC = "lsst-alerts-v9"
N_GEN_ZTF = 300
N_GEN_LSST = 200
GARBAGE = b"not an alert: \x00\x01\x02 garbage bytes from a misconfigured producer " * 20


@pytest.fixture(scope="module")
def night(tmp_path_factory, broker):
    """Produce both topics, stream them once (--idle-exit), return what was sent and the
    run's result."""
    root = tmp_path_factory.mktemp("roundtrip")
    # ZTF: the 32 real packets, then generated ones, the garbage message in the middle;
    # one directory whose sorted names are the produce order.
    real = sorted(DATA.glob("v*/*.avro"))
    assert len(real) == 32
    gen = sorted(gen_ztf(root / "gen-ztf", N_GEN_ZTF).glob("*.avro"))
    assert len(gen) == N_GEN_ZTF
    payloads = [p.read_bytes() for p in real + gen]
    middle = len(payloads) // 2
    payloads.insert(middle, GARBAGE)
    ztf_dir = root / "ztf-topic"
    ztf_dir.mkdir()
    for i, data in enumerate(payloads):
        (ztf_dir / f"{i:05d}.avro").write_bytes(data)
    ztf_good = [
        ZtfMessage(kafka_source(ZTF_TOPIC, i), data)
        for i, data in enumerate(payloads)
        if i != middle
    ]

    # Rubin: generated wire-format packets and the real one, given as files in order; a
    # wire message with schema id 1234 (no such Rubin schema) in the middle.
    lsst_files = sorted(gen_lsst(root / "gen-lsst", N_GEN_LSST).glob("*.avro"))
    assert len(lsst_files) == N_GEN_LSST
    lsst_files.append(sample(REAL_WIRE).write(root / "real-lsst"))
    other = sample("fake_v10_0").edited("other", key=6002).as_form("wire")
    unknown = root / "unknown-id-1234.avro"
    unknown.write_bytes(b"\x00" + struct.pack(">I", 1234) + other.datum)
    lsst_middle = len(lsst_files) // 2
    lsst_files.insert(lsst_middle, unknown)
    lsst_good = []
    for i, f in enumerate(lsst_files):
        if i == lsst_middle:
            continue
        p = read_sample(f)
        assert p.form == "wire" and p.data == f.read_bytes()
        fields = {fl.name: getattr(p, fl.name) for fl in dataclasses.fields(p)}
        lsst_good.append(KafkaPacket(**fields, source=kafka_source(LSST_TOPIC, i)))

    produced = {
        ZTF_TOPIC: produce(broker, ZTF_TOPIC, [ztf_dir], len(payloads)),
        LSST_TOPIC: produce(broker, LSST_TOPIC, lsst_files, len(lsst_files)),
    }
    lakehouse = root / "lakehouse"
    stream = Stream(lakehouse, broker, [ZTF_TOPIC, LSST_TOPIC], idle_exit=IDLE_EXIT).start()
    result = stream.wait(timeout=90)
    sent_per_topic = [sum(map(len, payloads)), sum(f.stat().st_size for f in lsst_files)]
    yield {
        "sent_per_topic": sent_per_topic,
        "sent_bytes": sum(sent_per_topic),
        "lakehouse": lakehouse,
        "result": result,
        "produced": produced,
        "ztf": ztf_good,
        "ztf_n": len(payloads),
        "ztf_poison": (middle, GARBAGE),
        "lsst": lsst_good,
        "lsst_n": len(lsst_files),
        "lsst_poison": (lsst_middle, unknown.read_bytes()),
    }
    shutil.rmtree(root / "gen-ztf", ignore_errors=True)


def test_stream_exits_on_idle_with_a_summary(night):
    res = night["result"]
    assert res.code == 0, res.output
    s = res.summary
    n_good = len(night["ztf"]) + len(night["lsst"])
    assert s["messages"] == night["ztf_n"] + night["lsst_n"], s
    assert (s["ingested"], s["already_present"], s["quarantined"]) == (n_good, 0, 2), s
    # as in ateda ingest, a member rejected before decoding is no alert seen
    assert s["alerts_seen"] == n_good, s
    assert s["commits"] >= 1 and s["commit_points"] >= 1, s
    assert (s["ended"], s["sessions"]) == ("idle", 1), s
    # 3 stamps per real/generated ZTF alert; the Rubin generated and real packets carry 3
    lh = night["lakehouse"]
    assert s["cutouts_written"] == sum(1 for f in (lh / "cutouts").rglob("*") if f.is_file()), s
    assert committed_rows(lh, "alerts") == len(night["ztf"])
    assert committed_rows(lh, "lsst_alerts") == len(night["lsst"])


def test_bytes_read_counts_the_message_bytes(night):
    """As `ateda ingest` counts the bytes of its members, the stream counts the bytes of
    its messages."""
    sent = night["sent_bytes"]
    assert [p["bytes"] for p in night["produced"].values()] == night["sent_per_topic"]
    assert night["result"].summary["bytes_read"] == sent, night["result"].summary


def test_every_ztf_row_and_stamp_equals_what_was_produced(night):
    assert_ztf_rows(night["lakehouse"], night["ztf"], run_ids={night["result"].summary["run_id"]})


def test_every_rubin_row_and_stamp_equals_what_was_produced(night):
    assert_lsst_rows(night["lakehouse"], night["lsst"])
    run_id = night["result"].summary["run_id"]
    rows = table_rows_where(night["lakehouse"], "lsst_alerts")
    assert {r["ingest_run_id"] for r in rows} == {run_id}
    real = next(r for r in rows if r["diaSourceId"] == 7912941781254298)
    assert str(real["night"]) == "2025-10-12"


def test_offsets_in_the_snapshot_summary_are_the_produced_positions(night):
    lh = night["lakehouse"]
    want = {
        ZTF_TOPIC: produced_positions(night["ztf_n"]),
        LSST_TOPIC: produced_positions(night["lsst_n"]),
    }
    for table, topic in (("alerts", ZTF_TOPIC), ("lsst_alerts", LSST_TOPIC)):
        offsets = kafka_offsets(lh, table)
        assert topic in offsets, (table, offsets)
        # a table may also carry the other topic's positions (offsets-only commits):
        # then they are the produced ones too
        for t, positions in offsets.items():
            assert positions == want[t], (table, t, positions, want[t])
        # the offsets sit on the snapshot that made the rows visible (or a later
        # offsets-only one): the current snapshot holds every produced row
        meta = table_metadata(lh, table)
        current = meta["current-snapshot-id"]
        summary = next(s for s in meta["snapshots"] if s["snapshot-id"] == current)["summary"]
        assert "ateda.kafka-offsets.ateda" in summary, summary
    # a group that never ran has no offsets
    assert kafka_offsets(lh, "alerts", group="other") == {}


def test_poison_messages_are_quarantined_with_their_kafka_position(night):
    lh = night["lakehouse"]
    rows = {q["source"]: q for q in table_rows_where(lh, "quarantine")}
    ztf_i, ztf_bytes = night["ztf_poison"]
    lsst_i, lsst_bytes = night["lsst_poison"]
    ztf_src = kafka_source(ZTF_TOPIC, ztf_i)
    lsst_src = kafka_source(LSST_TOPIC, lsst_i)
    assert set(rows) == {ztf_src, lsst_src}, sorted(rows)
    assert "not an Avro" in rows[ztf_src]["reason"], rows[ztf_src]["reason"]
    reason = rows[lsst_src]["reason"]
    assert "schema id 1234" in reason and "7.0-11.0" in reason, reason
    run_id = night["result"].summary["run_id"]
    for src, data in ((ztf_src, ztf_bytes), (lsst_src, lsst_bytes)):
        q = rows[src]
        kept = Path(q["quarantine_uri"].removeprefix("file://")).read_bytes()
        assert kept == data, f"{src}: quarantined bytes differ"
        assert q["size_bytes"] == len(data)
        assert q["run_id"] == run_id


def test_ledger_has_one_row_per_message(night):
    lh = night["lakehouse"]
    ledger = table_rows_where(lh, "ingest_ledger")
    by_source: dict[str, list[dict]] = {}
    for r in ledger:
        by_source.setdefault(r["source"], []).append(r)
    good = [m.source for m in night["ztf"]] + [p.source for p in night["lsst"]]
    for src in good:
        row = by_source.get(src, [])
        assert len(row) == 1, (src, row)
        assert (row[0]["alerts"], row[0]["ingested"], row[0]["already_present"]) == (1, 1, 0)
    assert set(by_source) - set(good) <= {
        kafka_source(ZTF_TOPIC, night["ztf_poison"][0]),
        kafka_source(LSST_TOPIC, night["lsst_poison"][0]),
    }
    run_id = night["result"].summary["run_id"]
    assert {r["run_id"] for r in ledger} == {run_id}
