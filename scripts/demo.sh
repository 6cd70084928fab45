#!/usr/bin/env bash
# The main job on the embedded default (README: `make demo`, which builds ateda first):
# create the Python venv from pinned requirements, ingest the bundled sample alerts into
# ./lakehouse (SQLite Iceberg catalog, local warehouse and cutouts), build silver + gold
# with dbt on DuckDB, print gold rows and draw the light curve of the object with the
# most detections. Safe to re-run: a second ingest adds no duplicate rows.
set -euo pipefail
cd "$(dirname "$0")/.."
LAKEHOUSE="${ATEDA_LAKEHOUSE:-lakehouse}"
SAMPLE="${1:-tests/data/ztf}"
step() { printf '\n==> %s\n' "$*"; }

if [ ! -x target/release/ateda ]; then
  step "Building ateda"
  cargo build --release -p ateda-cli
fi

step "Python environment (.venv from pinned requirements)"
VENV=$(scripts/python-env.sh)

step "Bronze: ateda ingest --lakehouse $LAKEHOUSE $SAMPLE"
set +e
target/release/ateda ingest --lakehouse "$LAKEHOUSE" "$SAMPLE"
code=$?
set -e
case $code in
  0) ;;
  2) echo "note: some inputs were quarantined (see bronze.quarantine); continuing" >&2 ;;
  *) echo "ateda ingest failed (exit $code)" >&2; exit "$code" ;;
esac

step "Silver + gold: dbt build (DuckDB), then a look at gold"
"$VENV/bin/python" scripts/demo_report.py --lakehouse "$LAKEHOUSE"

step "Where things are"
cat <<TXT
  bronze (Iceberg, SQLite catalog): $LAKEHOUSE/catalog.db + $LAKEHOUSE/warehouse/
  cutout stamps (one object each):  $LAKEHOUSE/cutouts/ztf/night=YYYY-MM-DD/<candid>/<kind>.fits.gz
  silver + gold (DuckDB file):      $LAKEHOUSE/ateda.duckdb
  query:  $VENV/bin/python -c "import duckdb; print(duckdb.connect('$LAKEHOUSE/ateda.duckdb', read_only=True).sql('select * from gold.object limit 5'))"
TXT
