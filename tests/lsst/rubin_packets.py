"""Rubin/LSST packets for the tests, in both forms Rubin ships them, and the comparison of
bronze.lsst_alerts rows with them.

- an Avro object container file (writer schema embedded), as the samples `fake_vX_Y.avro`;
- the Confluent wire format: `0x00`, the 4-byte big-endian schema id (`major * 100 +
  minor`), the Avro datum with no schema, as Rubin's Kafka stream and the sample
  `wire_v9_0_*.avro`.

A `Packet` holds one alert record and its writer schema and encodes itself in either form
with fastavro; packets of any bundled version are built from the samples (`conform`).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import struct
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

import fastavro
from pyiceberg.types import FloatType, ListType, StructType

from ateda_testlib import REPO
from bronze.readers import catalog, duckdb_connection, metadata_location, same_value, table_rows

SAMPLES = REPO / "tests" / "data" / "lsst"
SCHEMAS = REPO / "crates" / "ateda-schema" / "schemas"
VERSIONS = ("7.0", "7.1", "7.2", "7.3", "7.4", "8.0", "9.0", "10.0", "11.0")
FAKES = ("fake_v7_0", "fake_v7_4", "fake_v8_0", "fake_v9_0", "fake_v10_0")
REAL_WIRE = "wire_v9_0_7912941781254298"
STAMPS = {
    "cutoutScience": "science",
    "cutoutTemplate": "template",
    "cutoutDifference": "difference",
}
# columns bronze adds to the packet's own fields
INGEST_COLUMNS = {
    "cutout_science_uri",
    "cutout_template_uri",
    "cutout_difference_uri",
    "night",
    "ingest_source",
    "ingest_schema_version",
    "ingest_run_id",
    "ingested_at",
    "ingest_alert_sha256",
}
# a valid MJD for the 7.x fakes, whose midpointMjdTai (1480360995.0) is not one
GOOD_MJD = 60902.99
BOGUS_MJD = 1480360995.0
MJD_EPOCH = date(1858, 11, 17)


def schema_id(version: str) -> int:
    major, minor = version.split(".")
    return int(major) * 100 + int(minor)


def version_of_id(sid: int) -> str:
    return f"{sid // 100}.{sid % 100}"


@cache
def _bundled_text(version: str) -> str:
    return (SCHEMAS / f"lsst-{version}.avsc").read_text()


def bundled_schema(version: str) -> dict:
    """The bundled writer schema of a version (a fresh copy to edit)."""
    return json.loads(_bundled_text(version))


def version_of_schema(schema: dict) -> str:
    """`lsst.v9_0.alert` -> `9.0`."""
    name = schema["name"]
    assert name.startswith("lsst.v"), name
    return name.split(".")[1].removeprefix("v").replace("_", ".")


def day_obs(mjd: float) -> date:
    """Rubin's dayObs of an MJD: the date at UTC-12h (bronze's `night`)."""
    return MJD_EPOCH + timedelta(days=int((mjd - 0.5) // 1))


def _parsed(schema: dict):
    return fastavro.parse_schema(copy.deepcopy(schema))


@dataclass
class Packet:
    """One Rubin alert: its record (stamps included) and writer schema; `form` is
    `container` or `wire`, `sid` the schema id a wire packet names."""

    name: str
    record: dict
    schema: dict
    form: str
    sid: int
    # the exact bytes when read from a file (else encoded from the record)
    raw: bytes | None = field(default=None, repr=False)

    @property
    def version(self) -> str:
        """The version bronze records (`ingest_schema_version`): the schema id's."""
        return version_of_id(self.sid)

    @property
    def datum(self) -> bytes:
        if self.raw is not None:
            return self.raw[5:] if self.form == "wire" else container_datum(self.raw)
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, _parsed(self.schema), self.record)
        return buf.getvalue()

    @property
    def data(self) -> bytes:
        """The packet as a file holds it."""
        if self.raw is not None:
            return self.raw
        if self.form == "wire":
            return b"\x00" + struct.pack(">I", self.sid) + self.datum
        buf = io.BytesIO()
        fastavro.writer(buf, _parsed(self.schema), [self.record], codec="null")
        return buf.getvalue()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.datum).hexdigest()

    @property
    def key(self) -> int:
        """`diaSourceId`; for 7.x (no top-level one) the triggering diaSource's."""
        rec = self.record
        return rec["diaSourceId"] if "diaSourceId" in rec else rec["diaSource"]["diaSourceId"]

    @property
    def mjd(self) -> float:
        return self.record["diaSource"]["midpointMjdTai"]

    @property
    def file_name(self) -> str:
        return f"{self.name}.avro"

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / self.file_name
        path.write_bytes(self.data)
        return path

    def as_form(self, form: str, name: str | None = None) -> Packet:
        """The same record in `form`, written with the bundled schema of its version
        (container -> wire: schemaless datum behind the 5-byte header; wire ->
        container: an object container file)."""
        schema = bundled_schema(self.version) if self.version in VERSIONS else self.schema
        return replace(self, form=form, schema=schema, raw=None, name=name or self.name)

    def edited(self, name: str, key: int | None = None, mjd: float | None = None) -> Packet:
        """A copy with another key (top-level diaSourceId when the version has one, and
        diaSource.diaSourceId) and/or another diaSource.midpointMjdTai."""
        rec = copy.deepcopy(self.record)
        if key is not None:
            if "diaSourceId" in rec:
                rec["diaSourceId"] = key
            rec["diaSource"]["diaSourceId"] = key
        if mjd is not None:
            rec["diaSource"]["midpointMjdTai"] = mjd
        return replace(self, name=name, record=rec, raw=None)


def read_sample(path: Path) -> Packet:
    """A sample file, container or wire format, with its exact bytes."""
    data = path.read_bytes()
    if data[:4] == b"Obj\x01":
        reader = fastavro.reader(io.BytesIO(data))
        (record,) = list(reader)
        schema = json.loads(reader.metadata["avro.schema"])
        sid = schema_id(version_of_schema(schema))
        return Packet(path.stem, record, schema, "container", sid, data)
    assert data[0] == 0, path
    (sid,) = struct.unpack(">I", data[1:5])
    schema = bundled_schema(version_of_id(sid))
    record = fastavro.schemaless_reader(io.BytesIO(data[5:]), _parsed(schema))
    return Packet(path.stem, record, schema, "wire", sid, data)


def sample(name: str) -> Packet:
    return read_sample(SAMPLES / f"{name}.avro")


def container_datum(data: bytes) -> bytes:
    """The datum of a one-record container (its one block's data)."""
    (block,) = list(fastavro.block_reader(io.BytesIO(data)))
    assert block.num_records == 1
    return block.bytes_.getvalue()


# --- packets of any bundled version --------------------------------------------------------

_PLACEHOLDER = {
    "null": None,
    "boolean": False,
    "int": 7,
    "long": 7,
    "float": 0.5,
    "double": 0.25,
    "string": "x",
    "bytes": b"",
}


def _named(schema: dict) -> dict[str, dict]:
    names: dict[str, dict] = {}

    def walk(t) -> None:
        if isinstance(t, list):
            for b in t:
                walk(b)
        elif isinstance(t, dict):
            if t.get("type") == "record":
                names[t["name"]] = t
                for f in t["fields"]:
                    walk(f["type"])
            elif t.get("type") == "array":
                walk(t["items"])

    walk(schema)
    return names


def conform(record: dict, schema: dict) -> dict:
    """A record of `schema` built from `record` of another version: fields present in both
    keep their values, others take their default (null) or, when required, a
    placeholder value."""
    names = _named(schema)

    def value(v, t):
        if isinstance(t, str) and t in names:
            t = names[t]
        if isinstance(t, list):
            if v is None and "null" in t:
                return None
            (branch,) = [b for b in t if b != "null"]
            return value(v, branch)
        if isinstance(t, dict):
            if t["type"] == "record":
                src = v if isinstance(v, dict) else {}
                out = {}
                for f in t["fields"]:
                    if f["name"] in src:
                        out[f["name"]] = value(src[f["name"]], f["type"])
                    elif "default" in f:
                        out[f["name"]] = f["default"]
                    else:
                        out[f["name"]] = value(None, f["type"])
                return out
            if t["type"] == "array":
                return [value(x, t["items"]) for x in (v or [])]
            t = t["type"]
        if v is None:
            return _PLACEHOLDER[t]
        if t in ("float", "double") and isinstance(v, int):
            return float(v)
        return v

    out = value(record, schema)
    fastavro.validation.validate(out, _parsed(schema), raise_errors=True)
    return out


def packet_of_version(version: str, key: int, form: str) -> Packet:
    """A packet of any bundled version with diaSourceId `key`, from the nearest sample
    (7.x fakes with a valid MJD)."""
    base = {
        "7": "fake_v7_0" if version == "7.0" else "fake_v7_4",
        "8": "fake_v8_0",
        "9": "fake_v9_0",
        "10": "fake_v10_0",
        "11": "fake_v10_0",
    }[version.split(".")[0]]
    src = sample(base)
    schema = bundled_schema(version)
    rec = conform(src.record, schema)
    p = Packet(f"v{version.replace('.', '_')}-{key}", rec, schema, form, schema_id(version))
    return p.edited(p.name, key=key, mjd=GOOD_MJD if version.startswith("7.") else None)


def with_extra_field(version: str, sid: int, name: str, avro_type) -> dict:
    """The bundled schema of `version` plus one optional top-level field, named as the
    version of `sid` (`lsst.v11_1.alert`): a schema a registry knows and ateda does not."""
    schema = bundled_schema(version)
    schema["name"] = f"lsst.v{sid // 100}_{sid % 100}.alert"
    schema["fields"].append({"name": name, "type": ["null", avro_type], "default": None})
    return schema


# --- bronze read back ----------------------------------------------------------------------


def rows_pyiceberg(lakehouse: Path) -> dict[int, dict]:
    """bronze.lsst_alerts through pyiceberg, by diaSourceId."""
    rows = table_rows(lakehouse, "lsst_alerts")
    out = {r["diaSourceId"]: r for r in rows}
    assert len(out) == len(rows), "diaSourceId not unique"
    return out


def rows_duckdb(lakehouse: Path) -> dict[int, dict]:
    """bronze.lsst_alerts through DuckDB's iceberg_scan, by diaSourceId."""
    con = duckdb_connection()
    loc = metadata_location(lakehouse, "lsst_alerts")
    rows = con.execute(f"select * from iceberg_scan('{loc}')").to_arrow_table().to_pylist()
    out = {r["diaSourceId"]: r for r in rows}
    assert len(out) == len(rows), "diaSourceId not unique"
    return out


def float32_columns(lakehouse: Path) -> set[str]:
    """Dotted names of the float columns (lists as `[]`), from the Iceberg schema."""
    table = catalog(lakehouse).load_table("bronze.lsst_alerts")
    out: set[str] = set()

    def walk(t, prefix: str) -> None:
        if isinstance(t, StructType):
            for f in t.fields:
                walk(f.field_type, f"{prefix}.{f.name}" if prefix else f.name)
        elif isinstance(t, ListType):
            walk(t.element_type, f"{prefix}[]")
        elif isinstance(t, FloatType):
            out.add(prefix)

    walk(table.schema().as_struct(), "")
    return out


_MISSING = object()


def _null(got, pyiceberg: bool) -> bool:
    # pyiceberg 0.12 reads a null list as [] (DuckDB reads null): the one allowance
    return got is None or (pyiceberg and got == [])


def row_diffs(packet: Packet, row: dict, f32: set[str], pyiceberg: bool) -> list[str]:
    """Where a bronze row differs from its packet: every packet field (nested records and
    lists, floats bit for bit, bools as bools); every column the packet's version lacks
    is null."""
    diffs: list[str] = []

    def cmp(exp, got, path: str, top: bool = False) -> None:
        if got is _MISSING:
            diffs.append(f"{path}: no such column")
        elif isinstance(exp, dict):
            if not isinstance(got, dict):
                diffs.append(f"{path}: record vs {got!r:.80}")
                return
            for k, v in exp.items():
                if top and k in STAMPS:
                    continue
                cmp(v, got.get(k, _MISSING), f"{path}.{k}" if path else k)
            for k in got.keys() - exp.keys():
                if top and (k in INGEST_COLUMNS or k == "diaSourceId"):
                    continue
                if not _null(got[k], pyiceberg):
                    diffs.append(f"{path}.{k}: not in the packet, bronze has {got[k]!r:.80}")
        elif isinstance(exp, list):
            if not isinstance(got, list) or len(got) != len(exp):
                diffs.append(f"{path}: list of {len(exp)} vs {got!r:.80}")
                return
            for e, g in zip(exp, got, strict=True):
                cmp(e, g, f"{path}[]")
        elif exp is None:
            if not _null(got, pyiceberg):
                diffs.append(f"{path}: packet null, bronze {got!r:.80}")
        elif isinstance(exp, bool) or isinstance(got, bool):
            if type(exp) is not type(got) or exp != got:
                diffs.append(f"{path}: packet {exp!r} != bronze {got!r}")
        elif not same_value(exp, got, f32=path in f32):
            diffs.append(f"{path}: packet {exp!r} != bronze {got!r}")

    cmp(packet.record, row, "", top=True)
    if "diaSourceId" not in packet.record and row.get("diaSourceId") != packet.key:
        diffs.append(f"diaSourceId: {row.get('diaSourceId')} != diaSource.diaSourceId {packet.key}")
    return diffs


def check_row(lakehouse: Path, packet: Packet, row: dict, run_id: str | None = None) -> None:
    """The ingest columns of a packet's row: night, version, hash, source, stamps (the
    object at each cutout URI holds the stamp's exact bytes, under the key layout)."""
    night = day_obs(packet.mjd)
    assert row["night"] == night, (packet.name, row["night"], night)
    assert row["ingest_schema_version"] == packet.version, packet.name
    assert row["ingest_alert_sha256"] == packet.sha256, packet.name
    assert row["ingest_source"].endswith(packet.file_name), row["ingest_source"]
    if run_id is not None:
        assert row["ingest_run_id"] == run_id
    root = lakehouse.resolve() / "cutouts" / "lsst" / f"night={night.isoformat()}"
    for fld, kind in STAMPS.items():
        stamp = packet.record.get(fld)
        uri = row[f"cutout_{kind}_uri"]
        if not stamp:
            assert uri is None, (packet.name, kind, uri)
            continue
        assert uri is not None, (packet.name, kind)
        path = Path(urlparse(uri).path)
        assert path == root / str(packet.key) / f"{kind}-{packet.sha256[:32]}.fits", uri
        assert path.read_bytes() == stamp, f"{packet.name} {kind}: stamp bytes differ"


def assert_rows_match(lakehouse: Path, packets: list[Packet], run_id: str | None = None) -> None:
    """bronze.lsst_alerts holds exactly `packets`, equal field by field through pyiceberg
    and DuckDB, with their ingest columns and stamps right."""
    f32 = float32_columns(lakehouse)
    want = {p.key: p for p in packets}
    assert len(want) == len(packets), "test packets must have distinct keys"
    for reader, rows in (
        ("pyiceberg", rows_pyiceberg(lakehouse)),
        ("duckdb", rows_duckdb(lakehouse)),
    ):
        assert sorted(rows) == sorted(want), (reader, sorted(rows), sorted(want))
        for key, p in want.items():
            diffs = row_diffs(p, rows[key], f32, pyiceberg=reader == "pyiceberg")
            assert not diffs, f"{reader} {p.name}: {len(diffs)} differences: {diffs[:8]}"
            check_row(lakehouse, p, rows[key], run_id)
