"""Print a few gold rows of both surveys and plot the light curve of the object with the
most detections of each.

    python -m ateda_dagster.report --lakehouse DIR [--object ZTF...] [--lsst-object ID] [--rows 5]

Writes DIR/light_curve_<objectId>.png (ZTF) and DIR/light_curve_lsst_<diaObjectId>.png
(Rubin: AB magnitude and difference flux in nJy per band) with matplotlib (Agg backend).
"""

import argparse
import sys
from pathlib import Path

import duckdb

from .locks import duckdb_lock
from .settings import Settings

FILTERS = {1: ("g", "tab:green"), 2: ("r", "tab:red"), 3: ("i", "tab:orange")}
LSST_BANDS = {
    "u": "tab:purple",
    "g": "tab:green",
    "r": "tab:red",
    "i": "tab:orange",
    "z": "tab:brown",
    "y": "black",
}


def _print_table(con: duckdb.DuckDBPyConnection, title: str, sql: str) -> None:
    rel = con.sql(sql)
    print(f"\n== {title}")
    cols = rel.columns
    rows = rel.fetchall()
    cells = [[_fmt(v) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def most_detected_object(con: duckdb.DuckDBPyConnection, survey: str = "ztf") -> str:
    row = con.execute(
        "select objectId from gold.object where survey = ? order by ndet desc, objectId limit 1",
        [survey],
    ).fetchone()
    if row is None:
        raise LookupError(f"gold.object has no {survey} object: run the pipeline first")
    return row[0]


def plot_lsst_light_curve(con: duckdb.DuckDBPyConnection, object_id: str, out: Path) -> Path:
    """A Rubin light curve: AB magnitude (flux > 0) on top, difference flux psfFlux [nJy]
    with its error below (negative fluxes have no magnitude), per band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = con.execute(
        "select mjd, band, kind, mag, e_mag, flux, flux_unc from gold.light_curve "
        "where survey = 'lsst' and objectId = ? order by point_index",
        [object_id],
    ).fetchall()
    fig, (ax_mag, ax_flux) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    for band, colour in LSST_BANDS.items():
        for kind, marker, fill, label in (
            ("detection", "o", colour, "diaSource"),
            ("forced_photometry", "s", "none", "forced"),
        ):
            sel = [p for p in pts if p[1] == band and p[2] == kind]
            with_mag = [p for p in sel if p[3] is not None]
            with_flux = [p for p in sel if p[5] is not None]
            if with_mag:
                ax_mag.errorbar(
                    [p[0] for p in with_mag],
                    [p[3] for p in with_mag],
                    yerr=[p[4] or 0 for p in with_mag],
                    fmt=marker,
                    mfc=fill,
                    color=colour,
                    alpha=0.8 if kind == "detection" else 0.5,
                    label=f"{band} {label}",
                )
            if with_flux:
                ax_flux.errorbar(
                    [p[0] for p in with_flux],
                    [p[5] for p in with_flux],
                    yerr=[p[6] or 0 for p in with_flux],
                    fmt=marker,
                    mfc=fill,
                    color=colour,
                    alpha=0.8 if kind == "detection" else 0.5,
                )
    ax_mag.invert_yaxis()
    ax_mag.set_ylabel("AB magnitude (31.4 - 2.5 log10 psfFlux)")
    ax_mag.set_title(f"Rubin diaObject {object_id}: {len(pts)} points")
    if ax_mag.get_legend_handles_labels()[0]:
        ax_mag.legend(fontsize=8, ncol=3)
    ax_flux.axhline(0, color="grey", lw=0.5)
    ax_flux.set_xlabel("MJD (TAI)")
    ax_flux.set_ylabel("psfFlux [nJy]")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_light_curve(con: duckdb.DuckDBPyConnection, object_id: str, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = con.execute(
        "select mjd, fid, kind, mag, e_mag, diffmaglim from gold.light_curve "
        "where survey = 'ztf' and objectId = ? order by point_index",
        [object_id],
    ).fetchall()
    fig, ax = plt.subplots(figsize=(9, 5))
    for fid, (band, colour) in FILTERS.items():
        det = [p for p in pts if p[1] == fid and p[2] == "detection"]
        nd = [p for p in pts if p[1] == fid and p[2] == "non_detection" and p[5] is not None]
        fp = [p for p in pts if p[1] == fid and p[2] == "forced_photometry" and p[3] is not None]
        if det:
            ax.errorbar(
                [p[0] for p in det],
                [p[3] for p in det],
                yerr=[p[4] or 0 for p in det],
                fmt="o",
                color=colour,
                label=f"{band} detection",
            )
        if fp:
            ax.errorbar(
                [p[0] for p in fp],
                [p[3] for p in fp],
                yerr=[p[4] or 0 for p in fp],
                fmt="s",
                mfc="none",
                color=colour,
                alpha=0.6,
                label=f"{band} forced phot.",
            )
        if nd:
            ax.scatter(
                [p[0] for p in nd],
                [p[5] for p in nd],
                marker="v",
                color=colour,
                alpha=0.35,
                label=f"{band} upper limit",
            )
    ax.invert_yaxis()
    ax.set_xlabel("MJD")
    ax.set_ylabel("magnitude")
    ax.set_title(f"{object_id}: {len(pts)} points")
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def report(
    lakehouse: Path, object_id: str | None = None, rows: int = 5, lsst_object_id: str | None = None
) -> Path:
    """Print gold rows of both surveys, plot a light curve per survey; returns the ZTF plot
    (the Rubin one when the lakehouse has no ZTF object). `report_pngs` after the call
    lists every plot written."""
    db = lakehouse / "ateda.duckdb"
    if not db.exists():
        raise FileNotFoundError(f"{db} not found: run the pipeline first")
    # a shared lock: wait for a running dbt build instead of failing on DuckDB's file lock
    with duckdb_lock(Settings.from_env(lakehouse), exclusive=False):
        pngs = _report(db, lakehouse, object_id, rows, lsst_object_id)
    report_pngs[:] = pngs
    return pngs[0]


report_pngs: list[Path] = []


def _report(
    db: Path, lakehouse: Path, object_id: str | None, rows: int, lsst_object_id: str | None
) -> list[Path]:
    con = duckdb.connect(str(db), read_only=True)
    pngs: list[Path] = []
    try:
        counts = " union all ".join(
            f"select '{s}.{t}' as table_name, count(*) as n_rows from {s}.{t}"
            for s, t in (
                ("silver", "ztf_alert"),
                ("silver", "detection"),
                ("silver", "non_detection"),
                ("silver", "forced_photometry"),
                ("silver", "lsst_alert"),
                ("silver", "dia_source"),
                ("silver", "dia_forced_source"),
                ("silver", "dia_object"),
                ("silver", "ss_source"),
            )
        )
        _print_table(con, "silver row counts", counts)
        _print_table(
            con,
            "gold row counts per survey",
            "select survey, "
            "(select count(*) from gold.object o where o.survey = s.survey) as object, "
            "(select count(*) from gold.magstat m where m.survey = s.survey) as magstat, "
            "(select count(*) from gold.light_curve l where l.survey = s.survey) as light_curve, "
            "(select count(*) from gold.nightly_stats n where n.survey = s.survey) as nightly_stats "
            "from (select 'ztf' as survey union all select 'lsst') as s order by survey desc",
        )
        _print_table(
            con,
            "gold.nightly_stats",
            "select survey, night, field, band, n_alerts, n_objects, n_new_objects, "
            "median_diffmaglim, mean_rb from gold.nightly_stats "
            f"order by night desc, n_alerts desc limit {rows * 2}",
        )
        _print_table(
            con,
            "gold.object (most detections per survey)",
            "select survey, objectId, n_alerts, ndet, n_non_detections, n_forced_photometry, "
            "first_mjd, last_mjd, mean_ra, mean_dec, g_r_mean, stellar from ("
            "select *, row_number() over (partition by survey order by ndet desc, objectId) as r "
            f"from gold.object) where r <= {rows} order by survey desc, ndet desc, objectId",
        )
        has_ztf = con.execute("select count(*) from gold.object where survey = 'ztf'").fetchone()[0]
        if has_ztf:
            oid = object_id or most_detected_object(con, "ztf")
            _print_table(
                con,
                f"gold.magstat {oid}",
                "select band, fid, ndet, mag_mean, mag_median, mag_min, mag_max, mag_sigma, "
                "dmdt_first, saturation_rate from gold.magstat "
                f"where survey = 'ztf' and objectId = '{oid}' order by fid",
            )
            png = plot_light_curve(con, oid, lakehouse / f"light_curve_{oid}.png")
            print(f"\nlight curve of ZTF {oid}: {png}")
            pngs.append(png)
        has_lsst = con.execute("select count(*) from gold.object where survey = 'lsst'").fetchone()[
            0
        ]
        if has_lsst:
            lid = lsst_object_id or most_detected_object(con, "lsst")
            _print_table(
                con,
                f"gold.magstat Rubin {lid}",
                "select band, ndet, mag_mean, mag_min, mag_max, mag_sigma, flux_mean, flux_max "
                f"from gold.magstat where survey = 'lsst' and objectId = '{lid}' order by band",
            )
            png = plot_lsst_light_curve(con, lid, lakehouse / f"light_curve_lsst_{lid}.png")
            print(f"light curve of Rubin diaObject {lid}: {png}")
            pngs.append(png)
        if not pngs:
            raise LookupError("gold.object is empty: run the pipeline first")
    finally:
        con.close()
    return pngs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ateda_dagster.report", description=__doc__)
    ap.add_argument(
        "--lakehouse", help="lakehouse directory (default: $ATEDA_LAKEHOUSE or ./lakehouse)"
    )
    ap.add_argument("--object", help="ZTF objectId to plot (default: the one with most detections)")
    ap.add_argument(
        "--lsst-object", help="Rubin diaObjectId to plot (default: the one with most detections)"
    )
    ap.add_argument("--rows", type=int, default=5)
    args = ap.parse_args(argv)
    report(Settings.from_env(args.lakehouse).lakehouse, args.object, args.rows, args.lsst_object)
    return 0


if __name__ == "__main__":
    sys.exit(main())
