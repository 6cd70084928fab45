"""`bronze.alerts` made earlier with an older, smaller schema: `ateda ingest` adds the
missing columns (top level and nested) and keeps the table, its uuid and its history."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import (
    DateType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    StructType,
)

from cluster.helpers import run_ingest

OLD_SCHEMA = Schema(
    NestedField(1, "schemavsn", StringType(), required=False),
    NestedField(2, "objectId", StringType(), required=False),
    NestedField(3, "candid", LongType(), required=True),
    NestedField(
        4,
        "candidate",
        StructType(
            NestedField(6, "jd", DoubleType(), required=False),
            NestedField(7, "fid", IntegerType(), required=False),
            NestedField(8, "magpsf", FloatType(), required=False),
        ),
        required=False,
    ),
    NestedField(5, "night", DateType(), required=False),
)
OLD_ROW = {
    "schemavsn": "3.0",
    "objectId": "ZTF18old",
    "candid": 42,
    "candidate": {"jd": 2458849.5, "fid": 1, "magpsf": 18.5},
    "night": dt.date(2020, 1, 1),
}


def test_old_table_is_evolved_not_recreated(cluster, packets, tmp_path):
    warehouse = cluster.new_warehouse("evo")
    cat = cluster.catalog(warehouse)
    cat.create_namespace("bronze")
    spec = PartitionSpec(
        PartitionField(source_id=5, field_id=1000, transform=IdentityTransform(), name="night")
    )
    old = cat.create_table("bronze.alerts", schema=OLD_SCHEMA, partition_spec=spec)
    old.append(pa.Table.from_pylist([OLD_ROW], schema=old.schema().as_arrow()))
    old = cat.load_table("bronze.alerts")
    uuid, first_snapshot = old.metadata.table_uuid, old.current_snapshot().snapshot_id

    run = run_ingest(cluster, warehouse, cluster.new_cutouts("evo"), *packets, tmp=tmp_path)
    assert run.code == 0, run.stderr[-3000:]
    assert run.summary["ingested"] == 32
    assert "evolving table schema" in run.stderr

    table = cat.load_table("bronze.alerts")
    assert table.metadata.table_uuid == uuid, "the table was not recreated"
    assert first_snapshot in [s.snapshot_id for s in table.snapshots()], "history kept"
    assert table.current_snapshot().parent_snapshot_id is not None
    assert len(table.metadata.schemas) >= 2, "a new schema version, the old one kept"
    assert [f.name for f in table.spec().fields] == ["night"]
    schema = table.schema()
    for name in ("publisher", "prv_candidates", "fp_hists", "cutout_science_uri", "ingest_run_id"):
        assert schema.find_field(name), name
    assert schema.find_field("candidate.drb"), "nested struct evolved too"
    assert schema.find_field("candid").field_id == 3, "old field ids kept"

    rows = {r["candid"]: r for r in table.scan().to_arrow().to_pylist()}
    assert len(rows) == 33
    kept = rows[42]
    assert kept["objectId"] == "ZTF18old" and kept["candidate"]["magpsf"] == 18.5
    assert kept["publisher"] is None and kept["candidate"]["drb"] is None
    # the other tables were bootstrapped next to it
    assert sorted(t[1] for t in cat.list_tables("bronze")) == [
        "alerts",
        "ingest_ledger",
        "lsst_alerts",
        "quarantine",
    ]
