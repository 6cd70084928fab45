#!/usr/bin/env bash
# The ingest benchmark (README: `make bench`; per-stamp and packed cutout layouts, each
# ratio goal met or not, the load average with each figure). Extra arguments go to
# scripts/bench/run.py, e.g. `scripts/bench.sh --n 20000 --large 100000 --lsst-n 20000`
# (`--n 0 --large 0`: the Rubin night only; `--lsst-n 0`: the ZTF night only).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p ateda-cli >&2
VENV=$(scripts/python-env.sh)
"$VENV/bin/python" scripts/bench/run.py "$@"

# --- streaming (issue 16) ---------------------------------------------------------------
# ateda produce + ateda stream through a loopback tansu broker next to ateda ingest of the
# same generated night, then end-to-end latency at a steady produce rate
# (scripts/bench/stream.py). ATEDA_BENCH_STREAM=0 skips it; ATEDA_BENCH_STREAM_ARGS passes
# its flags, e.g. ATEDA_BENCH_STREAM_ARGS="--n 5000 --latency-n 5000".
if [ "${ATEDA_BENCH_STREAM:-1}" != 0 ]; then
  # shellcheck disable=SC2086
  "$VENV/bin/python" scripts/bench/stream.py ${ATEDA_BENCH_STREAM_ARGS:-}
fi

# --- fetch --ingest (issue 18) -----------------------------------------------------------
# ateda fetch --ingest of a generated night served by a loopback nginx next to curl -o of
# the same tarball then ateda ingest (scripts/bench/fetch.py). ATEDA_BENCH_FETCH=0 skips
# it; ATEDA_BENCH_FETCH_ARGS passes its flags, e.g. ATEDA_BENCH_FETCH_ARGS="--n 5000" or
# "--rate 40m" (the tarball served at 40 MB/s, as by a remote archive).
if [ "${ATEDA_BENCH_FETCH:-1}" != 0 ]; then
  # shellcheck disable=SC2086
  "$VENV/bin/python" scripts/bench/fetch.py ${ATEDA_BENCH_FETCH_ARGS:-}
fi

# --- S3 cutouts (issue 17) ---------------------------------------------------------------
# The same generated ZTF night's stamps into a SeaweedFS of its own on loopback
# (scripts/services.sh), by ateda ingest (per-stamp and packed layouts) and by a Python
# boto3 thread pool, through a counting proxy: alerts/s, MB/s, PUT and POST requests per
# 1,000 alerts (counted), peak RSS, the goals met or not (scripts/bench/s3.py).
# ATEDA_BENCH_S3=0 skips it; ATEDA_BENCH_S3_ARGS passes its flags, e.g.
# ATEDA_BENCH_S3_ARGS="--n 5000 --threads 64" or "--pack-part-size 16777216" (multipart).
if [ "${ATEDA_BENCH_S3:-1}" != 0 ]; then
  # shellcheck disable=SC2086
  "$VENV/bin/python" scripts/bench/s3.py ${ATEDA_BENCH_S3_ARGS:-}
fi
