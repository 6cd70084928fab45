"""`ateda ingest --schema-registry URL` against the registry stand-in: one request per
distinct schema id (cached for the run), transient 503s repeated, a schema known only to
the registry ingested with its new column, an unknown id quarantined naming the id and the
registry, and with the registry down the bundled schemas are used."""

from __future__ import annotations

import json
from dataclasses import replace

from registry_standin import RegistryStandin
from rubin_packets import (
    REAL_WIRE,
    Packet,
    assert_rows_match,
    conform,
    packet_of_version,
    sample,
    with_extra_field,
)

from ateda_testlib import run_ingest
from bronze.readers import catalog, table_rows


def registry_only(key: int, value: float) -> Packet:
    """A packet of schema id 1101: 11.0 plus the optional field `extraScore`."""
    schema = with_extra_field("11.0", 1101, "extraScore", "double")
    rec = conform(packet_of_version("11.0", key, "wire").record, schema)
    rec["extraScore"] = value
    return Packet(f"v11_1-{key}", rec, schema, "wire", 1101)


def write_all(packets: list[Packet], directory):
    for p in packets:
        p.write(directory)
    return directory


def test_registry_asked_once_per_id_and_a_schema_only_it_knows(tmp_path, lakehouse):
    new = registry_only(7020, 0.125)
    known = [
        sample(REAL_WIRE),
        *(packet_of_version("9.0", 7000 + i, "wire") for i in range(3)),
        packet_of_version("8.0", 7010, "wire"),
        packet_of_version("7.4", 7011, "wire"),
        packet_of_version("10.0", 7012, "wire"),
        packet_of_version("11.0", 7013, "container"),  # schema embedded: no request
    ]
    unknown = replace(packet_of_version("9.0", 7030, "wire"), sid=1234, name="unknown-1234")
    with RegistryStandin() as reg:
        reg.add(1101, json.dumps(new.schema))
        src = write_all([*known, new, unknown], tmp_path / "night")
        run = run_ingest(lakehouse, src, extra=("--schema-registry", reg.url))
        requests = reg.schema_requests()
        url = reg.url
    assert run.code == 2, run.stdout + run.stderr[-3000:]
    assert requests == {900: 1, 800: 1, 704: 1, 1000: 1, 1101: 1, 1234: 1}, requests
    assert (run.summary["ingested"], run.summary["quarantined"]) == (len(known) + 1, 1)
    table = catalog(lakehouse).load_table("bronze.lsst_alerts")
    assert table.schema().find_field("extraScore") is not None
    assert_rows_match(lakehouse, [*known, new], run_id=run.summary["run_id"])
    rows = {r["diaSourceId"]: r for r in table_rows(lakehouse, "lsst_alerts")}
    assert rows[7020]["extraScore"] == 0.125
    assert all(r["extraScore"] is None for k, r in rows.items() if k != 7020)
    (q,) = table_rows(lakehouse, "quarantine")
    assert q["source"].endswith("unknown-1234.avro")
    assert "schema id 1234" in q["reason"] and url in q["reason"], q["reason"]
    assert "7.0-11.0" in q["reason"], q["reason"]


def test_transient_registry_failures_are_repeated(tmp_path, lakehouse):
    packets = [packet_of_version("9.0", 8000, "wire"), packet_of_version("10.0", 8001, "wire")]
    with RegistryStandin(fail_first=2) as reg:
        src = write_all(packets, tmp_path / "night")
        run = run_ingest(lakehouse, src, extra=("--schema-registry", reg.url))
        requests = reg.schema_requests()
        failed = reg.failed
    assert run.code == 0, run.stdout + run.stderr[-3000:]
    assert failed == 2
    assert set(requests) == {900, 1000} and sum(requests.values()) == 4, requests
    assert_rows_match(lakehouse, packets, run_id=run.summary["run_id"])


def test_registry_down_means_bundled_schemas(tmp_path, lakehouse, closed_port):
    packets = [
        sample(REAL_WIRE),
        packet_of_version("10.0", 9001, "wire"),
        packet_of_version("7.4", 9002, "wire"),
        packet_of_version("11.0", 9003, "wire"),
    ]
    new = registry_only(9010, 1.5)
    src = write_all([*packets, new], tmp_path / "night")
    url = f"http://127.0.0.1:{closed_port}"
    run = run_ingest(lakehouse, src, extra=("--schema-registry", url))
    assert run.code == 2, run.stdout + run.stderr[-3000:]
    assert (run.summary["ingested"], run.summary["quarantined"]) == (len(packets), 1)
    assert_rows_match(lakehouse, packets, run_id=run.summary["run_id"])
    (q,) = table_rows(lakehouse, "quarantine")
    assert q["source"].endswith(new.file_name)
    assert "schema id 1101" in q["reason"] and url in q["reason"], q["reason"]
    assert "unreachable" in q["reason"], q["reason"]
    logs = run.stdout + run.stderr
    assert logs.count("schema registry unreachable") == 1, logs[-3000:]
