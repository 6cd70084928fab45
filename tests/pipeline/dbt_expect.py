"""Silver and gold semantics recomputed in Python from the alert packets (fastavro records),
independently of the dbt SQL, for the tests to compare against (docs/ztf-domain.md)."""

from __future__ import annotations

import math

MJD_OFFSET = 2400000.5
# ALeRCE's positional error per filter when the packet has none [arcsec]
POSITION_ERROR = {1: 0.065, 2: 0.085, 3: 0.01}


def stellar(distpsnr1, sgscore1, chinr, sharpnr) -> bool:
    ps1 = distpsnr1 is not None and sgscore1 is not None and distpsnr1 < 1.4 and sgscore1 > 0.4
    shape = chinr is not None and sharpnr is not None and chinr < 2 and -0.13 < sharpnr < 0.1
    return ps1 or shape


def carrier_key(row: dict) -> tuple:
    """The one tie rule: the alert's own row first, then the earliest carrying alert."""
    return (0 if row["from_alert"] else 1, row["parent_jd"] or 0.0, row["parent_candid"] or 0)


def detections(alerts: list[dict]) -> dict[tuple, dict]:
    """(objectId, candid) -> the winning copy, with from_alert, parent_*, stellar."""
    out: dict[tuple, dict] = {}
    for a in alerts:
        c = a["candidate"]
        copies = [
            {
                **c,
                "from_alert": True,
                "parent_candid": None,
                "parent_jd": None,
                "stellar": stellar(c["distpsnr1"], c["sgscore1"], c["chinr"], c["sharpnr"]),
            }
        ]
        for p in a.get("prv_candidates") or []:
            if p["candid"] is None:
                continue
            # a history row has no PS1 match of its own: the carrying alert's is used
            s = stellar(c["distpsnr1"], c["sgscore1"], p["chinr"], p["sharpnr"])
            copies.append(
                {
                    **p,
                    "from_alert": False,
                    "parent_candid": a["candid"],
                    "parent_jd": c["jd"],
                    "stellar": s,
                }
            )
        for row in copies:
            key = (a["objectId"], row["candid"])
            if key not in out or carrier_key(row) < carrier_key(out[key]):
                out[key] = row
    return out


def fp_flags(f: dict) -> tuple[bool, bool]:
    """(measured, usable) of one fp_hists point."""
    flux, unc = f["forcediffimflux"], f["forcediffimfluxunc"]
    measured = (
        flux not in (None, 0, -99999) and unc not in (None, 0, -99999) and f["magzpsci"] is not None
    )
    return measured, measured and f["procstatus"] == "0"


def fp_mag(f: dict) -> tuple[float, float]:
    flux, unc, zp = f["forcediffimflux"], f["forcediffimfluxunc"], f["magzpsci"]
    mag = -2.5 * math.log10(abs(flux * 10 ** ((8.9 - zp) / 2.5) * 1e6)) + 23.9
    return mag, 1.0857 * unc / abs(flux)


def forced_photometry(alerts: list[dict]) -> dict[tuple, dict]:
    """(objectId, pid) -> every fp_hists point (none dropped), the earliest carrier's copy."""
    out: dict[tuple, dict] = {}
    for a in alerts:
        for f in a.get("fp_hists") or []:
            row = {
                **f,
                "from_alert": False,
                "parent_candid": a["candid"],
                "parent_jd": a["candidate"]["jd"],
            }
            key = (a["objectId"], f["pid"])
            if key not in out or carrier_key(row) < carrier_key(out[key]):
                out[key] = row
    return out


def non_detections(alerts: list[dict]) -> dict[tuple, float]:
    return {
        (a["objectId"], p["fid"], p["jd"] - MJD_OFFSET): p["diffmaglim"]
        for a in alerts
        for p in a.get("prv_candidates") or []
        if p["candid"] is None
    }


def weighted_position(rows: list[dict]) -> tuple[float, float]:
    """ALeRCE's mean position: weights 1/e^2 with e_dec = POSITION_ERROR[fid] and
    e_ra = e_dec / |cos(dec)|. ra is averaged as weighted unit vectors on the circle (a
    different method from the SQL's wrapped offsets; for arcsecond clusters the two agree
    to far below 1e-9 deg), so a cluster straddling 0/360 averages near 0."""
    rows = [r for r in rows if r["ra"] is not None and r["dec"] is not None]
    w_dec = [POSITION_ERROR[r["fid"]] ** -2 for r in rows]
    w_ra = [(POSITION_ERROR[r["fid"]] / abs(math.cos(math.radians(r["dec"])))) ** -2 for r in rows]
    s = sum(w * math.sin(math.radians(r["ra"])) for w, r in zip(w_ra, rows, strict=True))
    c = sum(w * math.cos(math.radians(r["ra"])) for w, r in zip(w_ra, rows, strict=True))
    ra = math.degrees(math.atan2(s, c)) % 360.0
    dec = sum(w * r["dec"] for w, r in zip(w_dec, rows, strict=True)) / sum(w_dec)
    return ra, dec


def ra_distance(a: float, b: float) -> float:
    """Angular distance between two right ascensions on the circle [deg]."""
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


def first_detection(rows: list[dict]) -> dict:
    return min(rows, key=lambda r: (r["jd"], r["candid"]))
