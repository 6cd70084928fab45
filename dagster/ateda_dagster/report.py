"""Print a few gold rows and plot the light curve of the object with the most detections.

    python -m ateda_dagster.report --lakehouse DIR [--object ZTF...] [--rows 5]

Writes DIR/light_curve_<objectId>.png (matplotlib, Agg backend).
"""

import argparse
import sys
from pathlib import Path

import duckdb

from .locks import duckdb_lock
from .settings import Settings

FILTERS = {1: ("g", "tab:green"), 2: ("r", "tab:red"), 3: ("i", "tab:orange")}


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


def most_detected_object(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute(
        "select objectId from gold.object order by ndet desc, objectId limit 1"
    ).fetchone()
    if row is None:
        raise LookupError("gold.object is empty: run the pipeline first")
    return row[0]


def plot_light_curve(con: duckdb.DuckDBPyConnection, object_id: str, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = con.execute(
        "select mjd, fid, kind, mag, e_mag, diffmaglim from gold.light_curve "
        "where objectId = ? order by point_index",
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


def report(lakehouse: Path, object_id: str | None = None, rows: int = 5) -> Path:
    db = lakehouse / "ateda.duckdb"
    if not db.exists():
        raise FileNotFoundError(f"{db} not found: run the pipeline first")
    # a shared lock: wait for a running dbt build instead of failing on DuckDB's file lock
    with duckdb_lock(Settings.from_env(lakehouse), exclusive=False):
        return _report(db, lakehouse, object_id, rows)


def _report(db: Path, lakehouse: Path, object_id: str | None, rows: int) -> Path:
    con = duckdb.connect(str(db), read_only=True)
    try:
        counts = " union all ".join(
            f"select '{s}.{t}' as table_name, count(*) as n_rows from {s}.{t}"
            for s, t in (
                ("silver", "ztf_alert"),
                ("silver", "detection"),
                ("silver", "non_detection"),
                ("silver", "forced_photometry"),
                ("gold", "object"),
                ("gold", "magstat"),
                ("gold", "light_curve"),
                ("gold", "nightly_stats"),
            )
        )
        _print_table(con, "row counts", counts)
        _print_table(
            con,
            "gold.nightly_stats",
            "select night, field, fid, n_alerts, n_objects, n_new_objects, median_diffmaglim "
            f"from gold.nightly_stats order by night desc, n_alerts desc limit {rows}",
        )
        _print_table(
            con,
            "gold.object (most detections)",
            "select objectId, n_alerts, ndet, n_non_detections, n_forced_photometry, first_mjd, "
            f"last_mjd, mean_ra, mean_dec, g_r_mean, stellar from gold.object "
            f"order by ndet desc, objectId limit {rows}",
        )
        oid = object_id or most_detected_object(con)
        _print_table(
            con,
            f"gold.magstat {oid}",
            "select fid, ndet, mag_mean, mag_median, mag_min, mag_max, mag_sigma, dmdt_first, "
            f"saturation_rate from gold.magstat where objectId = '{oid}' order by fid",
        )
        png = plot_light_curve(con, oid, lakehouse / f"light_curve_{oid}.png")
    finally:
        con.close()
    print(f"\nlight curve of {oid}: {png}")
    return png


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ateda_dagster.report", description=__doc__)
    ap.add_argument(
        "--lakehouse", help="lakehouse directory (default: $ATEDA_LAKEHOUSE or ./lakehouse)"
    )
    ap.add_argument("--object", help="objectId to plot (default: the one with most detections)")
    ap.add_argument("--rows", type=int, default=5)
    args = ap.parse_args(argv)
    report(Settings.from_env(args.lakehouse).lakehouse, args.object, args.rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
