"""Drifted ZTF packets built from the real ones with fastavro: the writer schema JSON and
every record of a real packet are edited, then written as a new Avro container. Shared by
tests/bronze/test_schema_drift.py (SQLite catalog) and tests/cluster/test_schema_drift_rest.py
(REST catalog + S3)."""

from __future__ import annotations

import copy
import io
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import fastavro

from ateda_testlib import night_of_jd
from bronze.readers import compare_record, read_packets

CUTOUT_FIELDS_KIND = {
    "cutoutScience": "science",
    "cutoutTemplate": "template",
    "cutoutDifference": "difference",
}
CUTOUT_FIELDS = tuple(CUTOUT_FIELDS_KIND)


@dataclass
class Drifted:
    """One drifted container: its member name, bytes, and the records as written."""

    name: str
    data: bytes
    records: list[dict]
    schema: dict

    @property
    def candid(self) -> int:
        (rec,) = self.records
        return rec["candid"]

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / self.name
        path.write_bytes(self.data)
        return path


def read(path: Path) -> tuple[list[dict], dict]:
    """The records and writer schema (as JSON, a copy to edit) of a real packet."""
    records, schema = read_packets(path)
    return records, copy.deepcopy(schema)


def encode(records: list[dict], schema: dict) -> bytes:
    buf = io.BytesIO()
    fastavro.writer(buf, fastavro.parse_schema(copy.deepcopy(schema)), records)
    return buf.getvalue()


def _record_of(t):
    """The record a field type holds: itself, its non-null union branch, its array items."""
    if isinstance(t, list):
        (t,) = [b for b in t if b != "null"]
    if isinstance(t, dict) and t.get("type") == "array":
        t = t["items"]
    assert isinstance(t, dict) and t.get("type") == "record", t
    return t


def fields_at(schema: dict, *path: str) -> list[dict]:
    """The field list of the record reached from the top record through `path` (record
    fields, nullable unions and array elements are followed; the named type must be
    defined there, as ZTF defines candidate, prv_candidate, fp_hist and cutout)."""
    record = schema
    for name in path:
        record = _record_of(field(record["fields"], name)["type"])
    return record["fields"]


def field(fields: list[dict], name: str) -> dict:
    (f,) = [f for f in fields if f["name"] == name]
    return f


def drift(
    packet: Path,
    edit_schema: Callable[[dict], None],
    edit_record: Callable[[dict], None],
    label: str,
) -> Drifted:
    records, schema = read(packet)
    edit_schema(schema)
    for rec in records:
        edit_record(rec)
    return Drifted(f"{label}-{packet.name}", encode(records, schema), records, schema)


# --- the drifts of the suite -------------------------------------------------------------


def extra_top(packet: Path, name: str = "drift_top_score", value: float = 0.125) -> Drifted:
    """A new top-level field: a nullable double (with a doc) and a plain string."""

    def schema(s: dict) -> None:
        s["fields"].append(
            {"name": name, "type": ["null", "double"], "doc": "a broker's score (drift test)"}
        )
        s["fields"].append({"name": f"{name}_label", "type": "string"})

    def record(r: dict) -> None:
        r[name] = value
        r[f"{name}_label"] = f"label-{r['candid']}"

    return drift(packet, schema, record, f"top-{name}")


def extra_candidate(packet: Path) -> Drifted:
    """New fields inside `candidate`: a float (stored as float32) and a required long."""

    def schema(s: dict) -> None:
        fields_at(s, "candidate").extend(
            [
                {"name": "drift_cand_real", "type": ["null", "float"], "doc": "a float32"},
                {"name": "drift_cand_count", "type": "long"},
            ]
        )

    def record(r: dict) -> None:
        r["candidate"]["drift_cand_real"] = 0.1  # not exact in float32: bits are compared
        r["candidate"]["drift_cand_count"] = 2**40 + 7

    d = drift(packet, schema, record, "cand")
    # what a float32 column holds: 0.1 rounded to float32, as fastavro reads it back
    with io.BytesIO(d.data) as fh:
        d.records = list(fastavro.reader(fh))
    return d


def extra_prv(packet: Path) -> Drifted:
    """A new field in every `prv_candidates` element (its index)."""

    def schema(s: dict) -> None:
        fields_at(s, "prv_candidates").append({"name": "drift_prv_index", "type": ["null", "int"]})

    def record(r: dict) -> None:
        assert r["prv_candidates"], "a packet with history"
        for i, p in enumerate(r["prv_candidates"]):
            p["drift_prv_index"] = i

    return drift(packet, schema, record, "prv")


def extra_fp(packet: Path) -> Drifted:
    """A new field in every `fp_hists` element (a v4 packet: it has forced photometry)."""

    def schema(s: dict) -> None:
        fields_at(s, "fp_hists").append({"name": "drift_fp_note", "type": ["null", "string"]})

    def record(r: dict) -> None:
        assert r["fp_hists"], "a v4 packet with forced photometry"
        for i, p in enumerate(r["fp_hists"]):
            p["drift_fp_note"] = f"fp{i}" if i % 2 == 0 else None

    return drift(packet, schema, record, "fp")


def nullable(packet: Path) -> Drifted:
    """`candidate.magpsf` as ["null","float"] and the stamps' `fileName` as
    ["null","string"] (the cutout record is one named type shared by the three stamps),
    with a null in each: magpsf, and the difference stamp's file name."""

    def schema(s: dict) -> None:
        field(fields_at(s, "candidate"), "magpsf")["type"] = ["null", "float"]
        field(fields_at(s, "cutoutScience"), "fileName")["type"] = ["null", "string"]

    def record(r: dict) -> None:
        r["candidate"]["magpsf"] = None
        r["cutoutDifference"]["fileName"] = None

    return drift(packet, schema, record, "nullable")


def promote_fid(packet: Path) -> Drifted:
    """`candidate.fid` int -> long."""

    def schema(s: dict) -> None:
        f = field(fields_at(s, "candidate"), "fid")
        assert f["type"] == "int"
        f["type"] = "long"

    return drift(packet, schema, lambda r: None, "long")


def promote_sgscore1(packet: Path) -> Drifted:
    """`candidate.sgscore1` float -> double (the value is the float32 one, widened)."""

    def schema(s: dict) -> None:
        f = field(fields_at(s, "candidate"), "sgscore1")
        assert f["type"] == ["null", "float"]
        f["type"] = ["null", "double"]

    return drift(packet, schema, lambda r: None, "double")


def conflict_magpsf(packet: Path) -> Drifted:
    """An irreconcilable change: `candidate.magpsf` became a string."""

    def schema(s: dict) -> None:
        field(fields_at(s, "candidate"), "magpsf")["type"] = "string"

    def record(r: dict) -> None:
        r["candidate"]["magpsf"] = f"{r['candidate']['magpsf']:.4f}"

    return drift(packet, schema, record, "conflict")


def make_tarball(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# --- the suite: one drift per real packet, what each must change -------------------------

SUITE: dict[str, Callable[[Path], Drifted]] = {
    "top": extra_top,
    "candidate": extra_candidate,
    "prv": extra_prv,
    "fp": extra_fp,
    "nullable": nullable,
    "long": promote_fid,
    "double": promote_sgscore1,
    "conflict": conflict_magpsf,
}
# what `columns_added` (and `ateda schema diff`) says for each drift
COLUMNS_ADDED: dict[str, list[str]] = {
    "top": ["add drift_top_score: double", "add drift_top_score_label: string"],
    "candidate": ["add candidate.drift_cand_real: float", "add candidate.drift_cand_count: long"],
    "prv": ["add prv_candidates.element.drift_prv_index: int"],
    "fp": ["add fp_hists.element.drift_fp_note: string"],
    "nullable": [],
    "long": ["promote candidate.fid: int -> long"],
    "double": ["promote candidate.sgscore1: float -> double"],
    "conflict": [],
}
# what `ateda schema history` records for the schema id each drift made (Iceberg full
# names: a list's element record is `<list>.element`)
HISTORY: dict[str, list[str]] = {
    "top": ["add drift_top_score", "add drift_top_score_label"],
    "candidate": ["add candidate.drift_cand_real", "add candidate.drift_cand_count"],
    "prv": ["add prv_candidates.element.drift_prv_index"],
    "fp": ["add fp_hists.element.drift_fp_note"],
    "long": ["promote candidate.fid: int -> long"],
    "double": ["promote candidate.sgscore1: float -> double"],
}
CONFLICT_REASON = (
    "candidate.magpsf: writer type string cannot be stored in the bronze column of type float"
)
# columns ateda fills itself (not from a packet field)
ATEDA_COLUMNS = ("cutout_", "night", "ingest_", "ingested_at")


NIGHT = "20231012"


def night_packets(packets: list[Path]) -> list[Path]:
    """The real 4.01 packets: one night (2023-10-12), all with history and forced
    photometry: the templates of the suite and the unchanged packets mixed in."""
    out = []
    for p in packets:
        (rec,), schema = read(p)
        if schema.get("version") == "4.01":
            assert night_of_jd(rec["candidate"]["jd"]).strftime("%Y%m%d") == NIGHT, p
            out.append(p)
    assert len(out) == 24
    return out


def build_suite(templates: list[Path]) -> dict[str, Drifted]:
    """One drifted container per SUITE entry, each from its own real packet."""
    assert len(templates) >= len(SUITE)
    return {label: make(p) for (label, make), p in zip(SUITE.items(), templates, strict=False)}


def expected_rows(
    drifted: dict[str, Drifted], unchanged: list[Path]
) -> dict[int, tuple[str, dict]]:
    """candid -> (member name, record as written) of every packet that must land: the
    drifted ones but the conflict, and the unchanged real packets."""
    out = {}
    for label, d in drifted.items():
        if label != "conflict":
            (rec,) = d.records
            out[rec["candid"]] = (d.name, rec)
    for p in unchanged:
        (rec,), _ = read(p)
        out[rec["candid"]] = (p.name, rec)
    return out


def stamps_of(rec: dict) -> dict[str, dict]:
    """Removes and returns the packet's stamp records (bronze stores them elsewhere)."""
    return {k: rec.pop(k) for k in CUTOUT_FIELDS}


def compare_packet(packet: dict, row: dict, f32: set[str]) -> list[str]:
    """Differences between a packet (stamps removed) and its bronze row: every packet
    field equal (floats bit for bit; a promoted column holds the widened value, equal to
    fastavro's reading of the narrower one), and every column the packet lacks is null."""
    diffs: list[str] = []
    compare_record(packet, row, f32, "", diffs)

    def lacking(p: dict, r: dict, path: str) -> None:
        for key, value in r.items():
            name = f"{path}.{key}" if path else key
            if not path and key.startswith(ATEDA_COLUMNS):
                continue
            if key not in p:
                if value is not None:
                    diffs.append(f"{name}: the packet lacks it, bronze has {value!r:.80}")
            elif isinstance(value, dict) and isinstance(p[key], dict):
                lacking(p[key], value, name)
            elif isinstance(value, list) and isinstance(p[key], list):
                for pv, rv in zip(p[key], value, strict=False):
                    if isinstance(pv, dict) and isinstance(rv, dict):
                        lacking(pv, rv, f"{name}[]")

    lacking(packet, row, "")
    return diffs


def run_together(commands: list[tuple[list[str], dict[str, str] | None]]) -> list[tuple]:
    """Runs the commands at the same moment: each waits behind `read` in a shell until all
    are started, then execs. Returns (exit code, stdout, stderr) of each."""
    procs = [
        subprocess.Popen(
            ["sh", "-c", 'read _ && exec "$@"', "sh", *cmd],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cmd, env in commands
    ]
    for p in procs:  # the barrier: every process exists, release them all
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        p.stdin.close()
        p.stdin = None
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        out.append((p.returncode, stdout, stderr))
    return out


@dataclass
class SharedDrift:
    """Two writers' sources with the same drift (for concurrent runs) and what must result."""

    dirs: list[Path]
    columns_added: list[str]  # by the two runs together
    history: list[str]  # the one schema change
    columns: tuple[str, ...]  # dotted names read back
    values: dict[int, tuple]  # candid -> values of `columns`

    def got(self, rows: list[dict]) -> dict[int, tuple]:
        def get(row: dict, name: str):
            for part in name.split("."):
                row = row[part]
            return row

        return {r["candid"]: tuple(get(r, c) for c in self.columns) for r in rows}


def shared_drift(kind: str, packets: list[Path], root: Path, n: int = 4) -> SharedDrift:
    """Two source directories of `n` different packets each, with the same drift: "add"
    (new top-level fields `drift_shared`, `drift_shared_label`; 0.25 in one writer's
    packets, 0.75 in the other's) or "promote" (`candidate.fid` int -> long)."""
    dirs, values = [], {}
    for i, value in enumerate((0.25, 0.75)):
        src = root / f"writer{i}"
        for p in packets[n * i : n * i + n]:
            if kind == "add":
                d = extra_top(p, name="drift_shared", value=value)
                values[d.candid] = (value, f"label-{d.candid}")
            else:
                d = promote_fid(p)
                values[d.candid] = (d.records[0]["candidate"]["fid"],)
            d.write(src)
        dirs.append(src)
    if kind == "add":
        return SharedDrift(
            dirs,
            ["add drift_shared: double", "add drift_shared_label: string"],
            ["add drift_shared", "add drift_shared_label"],
            ("drift_shared", "drift_shared_label"),
            values,
        )
    promote = "promote candidate.fid: int -> long"
    return SharedDrift(dirs, [promote], [promote], ("candidate.fid",), values)
