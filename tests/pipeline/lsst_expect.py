"""Rubin/LSST silver and gold semantics recomputed in Python from the alert packets
(fastavro records), independently of the dbt SQL (dbt/README.md "Rubin/LSST")."""

from __future__ import annotations

import io
import json
import math
from datetime import date, timedelta
from pathlib import Path

import fastavro

from ateda_testlib import REPO

SCHEMAS = REPO / "crates" / "ateda-schema" / "schemas"
MJD_EPOCH = date(1858, 11, 17)
BANDS = ("u", "g", "r", "i", "z", "y")


def _schema(schema_id: int):
    version = f"{schema_id // 100}.{schema_id % 100}"
    return fastavro.parse_schema(json.loads((SCHEMAS / f"lsst-{version}.avsc").read_text()))


def read_packets(path: Path) -> list[dict]:
    """The alerts of one Rubin packet file: an Avro container file, or Rubin's Confluent
    wire format (0x00, 4-byte schema id major*100+minor, the datum)."""
    data = path.read_bytes()
    if data[:4] == b"Obj\x01":
        return list(fastavro.reader(io.BytesIO(data)))
    assert data[0] == 0, path
    return [fastavro.schemaless_reader(io.BytesIO(data[5:]), _schema(int.from_bytes(data[1:5])))]


def num(x):
    """A float as silver stores it: NaN is null."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def day_obs(mjd: float) -> date:
    """Rubin's night: the UTC date of mjd - 0.5 d."""
    return MJD_EPOCH + timedelta(days=math.floor(mjd - 0.5))


def ab_mag(flux) -> float | None:
    flux = num(flux)
    return 31.4 - 2.5 * math.log10(flux) if flux is not None and flux > 0 else None


def ab_mag_err(flux, err) -> float | None:
    flux, err = num(flux), num(err)
    if flux is None or flux <= 0 or err is None:
        return None
    return 1.0857 * err / flux


def alert_key(a: dict) -> int:
    return a.get("diaSourceId") or a["alertId"]


def object_id(a: dict):
    """diaSource.diaObjectId, else the carried diaObject's."""
    return a["diaSource"].get("diaObjectId") or (a.get("diaObject") or {}).get("diaObjectId")


def dia_sources(alerts: list[dict]) -> dict[int, dict]:
    """diaSourceId -> the winning copy: the alert's own row, else the earliest carrier
    (its midpointMjdTai, then its diaSourceId); with diaObjectId, from_alert, parent_*."""
    out: dict[int, dict] = {}

    def rank(r):
        return (0 if r["from_alert"] else 1, r["parent_mjd"] or 0.0, r["parent_diaSourceId"] or 0)

    for a in alerts:
        oid, mjd, key = object_id(a), a["diaSource"]["midpointMjdTai"], alert_key(a)
        copies = [
            {
                **a["diaSource"],
                "diaObjectId": oid,
                "from_alert": True,
                "parent_mjd": None,
                "parent_diaSourceId": None,
            }
        ]
        for p in a.get("prvDiaSources") or []:
            copies.append(
                {
                    **p,
                    "diaObjectId": p.get("diaObjectId") or oid,
                    "from_alert": False,
                    "parent_mjd": mjd,
                    "parent_diaSourceId": key,
                }
            )
        for row in copies:
            k = row["diaSourceId"]
            if k not in out or rank(row) < rank(out[k]):
                out[k] = row
    return out


def forced_sources(alerts: list[dict]) -> dict[int, dict]:
    """diaForcedSourceId -> the earliest carrier's copy."""
    out: dict[int, dict] = {}
    for a in alerts:
        oid, mjd, key = object_id(a), a["diaSource"]["midpointMjdTai"], alert_key(a)
        for f in a.get("prvDiaForcedSources") or []:
            row = {
                **f,
                "diaObjectId": f.get("diaObjectId") or oid,
                "parent_mjd": mjd,
                "parent_diaSourceId": key,
            }
            k = f["diaForcedSourceId"]
            if k not in out or (mjd, key) < (out[k]["parent_mjd"], out[k]["parent_diaSourceId"]):
                out[k] = row
    return out


def dia_objects(alerts: list[dict]) -> dict[int, tuple[dict, dict]]:
    """diaObjectId -> (latest diaObject, its carrying alert): latest midpointMjdTai, then
    larger validityStartMjdTai (null oldest), then larger alert diaSourceId."""
    out: dict[int, tuple[dict, dict]] = {}

    def rank(o, a):
        v = num(o.get("validityStartMjdTai"))
        return (a["diaSource"]["midpointMjdTai"], -1 if v is None else v, alert_key(a))

    for a in alerts:
        o = a.get("diaObject")
        if o is None:
            continue
        k = o["diaObjectId"]
        if k not in out or rank(o, a) > rank(*out[k]):
            out[k] = (o, a)
    return out


def mjdstarthist(a: dict) -> float | None:
    o = a.get("diaObject") or {}
    first = num(o.get("firstDiaSourceMjdTai"))
    if first is not None:
        return first
    return a["diaSource"]["midpointMjdTai"] if (o.get("nDiaSources") or 1) <= 1 else None


def weighted_mean(values: list[float], errors: list) -> float:
    """1/err^2-weighted mean over the values with an error > 0; the plain mean when none has."""
    pairs = [(v, e) for v, e in zip(values, errors, strict=True) if num(e) is not None and e > 0]
    if not pairs:
        return sum(values) / len(values)
    w = [1.0 / (e * e) for _, e in pairs]
    return sum(wi * v for wi, (v, _) in zip(w, pairs, strict=True)) / sum(w)
