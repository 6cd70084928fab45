#!/usr/bin/env bash
# The main job on the embedded default (README: `make demo`, which builds ateda first):
# create the Python venv from pinned requirements, ingest the bundled sample alerts of both
# surveys (tests/data/ztf and tests/data/lsst, plus a small synthetic Rubin night so that a
# Rubin light curve has points) into ./lakehouse (SQLite Iceberg catalog, local warehouse
# and cutouts) in one `ateda ingest`, build silver + gold with dbt on DuckDB, print gold
# rows of both surveys and draw a ZTF and a Rubin light curve. Safe to re-run: a second
# ingest adds no duplicate rows.
set -euo pipefail
cd "$(dirname "$0")/.."
LAKEHOUSE="${ATEDA_LAKEHOUSE:-lakehouse}"
if [ "$#" -gt 0 ]; then SAMPLES=("$@"); else SAMPLES=(tests/data/ztf tests/data/lsst); fi
# The synthetic Rubin night (dayObs) and its size; ATEDA_DEMO_LSST_N=0 skips it.
LSST_NIGHT="${ATEDA_DEMO_LSST_NIGHT:-20251014}"
LSST_N="${ATEDA_DEMO_LSST_N:-200}"
step() { printf '\n==> %s\n' "$*"; }

if [ ! -x target/release/ateda ]; then
  step "Building ateda"
  cargo build --release -p ateda-cli
fi

step "Python environment (.venv from pinned requirements)"
VENV=$(scripts/python-env.sh)

if [ "$#" -eq 0 ] && [ "$LSST_N" -gt 0 ]; then
  GEN_DIR="$LAKEHOUSE/demo-sources/lsst_$LSST_NIGHT"
  if [ ! -d "$GEN_DIR" ]; then
    step "Rubin: a synthetic night, ateda gen --survey lsst --n $LSST_N --night $LSST_NIGHT"
    echo "The bundled Rubin samples are thin (one real alert, no history): $LSST_N synthetic"
    echo "Rubin alerts (objects with prvDiaSources and prvDiaForcedSources, made from the real"
    echo "alert) give the Rubin light curve its points. They are synthetic, not Rubin data."
    mkdir -p "$(dirname "$GEN_DIR")"
    target/release/ateda gen --survey lsst --n "$LSST_N" --night "$LSST_NIGHT" --out "$GEN_DIR.tmp"
    mv "$GEN_DIR.tmp" "$GEN_DIR"
  fi
  SAMPLES+=("$GEN_DIR")
fi

step "Bronze: ateda ingest --lakehouse $LAKEHOUSE ${SAMPLES[*]}"
set +e
target/release/ateda ingest --lakehouse "$LAKEHOUSE" "${SAMPLES[@]}"
code=$?
set -e
case $code in
  0) ;;
  2) echo "note: some inputs were quarantined (see bronze.quarantine; the bundled fake Rubin 7.x samples carry a bogus midpointMjdTai); continuing" >&2 ;;
  *) echo "ateda ingest failed (exit $code)" >&2; exit "$code" ;;
esac

step "Silver + gold: dbt build (DuckDB), then a look at gold (ZTF and Rubin side by side)"
"$VENV/bin/python" scripts/demo_report.py --lakehouse "$LAKEHOUSE"

step "Where things are"
cat <<TXT
  bronze (Iceberg, SQLite catalog): $LAKEHOUSE/catalog.db + $LAKEHOUSE/warehouse/ (bronze.alerts: ZTF, bronze.lsst_alerts: Rubin)
  cutout stamps (one object each):  $LAKEHOUSE/cutouts/{ztf,lsst}/night=YYYY-MM-DD/<candid or diaSourceId>/<kind>...
  silver + gold (DuckDB file):      $LAKEHOUSE/ateda.duckdb (gold tables have a survey column: ztf, lsst)
  light curves:                     $LAKEHOUSE/light_curve_<objectId>.png, $LAKEHOUSE/light_curve_lsst_<diaObjectId>.png
  query:  $VENV/bin/python -c "import duckdb; print(duckdb.connect('$LAKEHOUSE/ateda.duckdb', read_only=True).sql('select survey, objectId, ndet, first_mjd, mean_ra, mean_dec from gold.object order by ndet desc limit 10'))"
TXT
