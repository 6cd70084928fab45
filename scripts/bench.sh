#!/usr/bin/env bash
# The ingest benchmark (README: `make bench`). Extra arguments go to scripts/bench/run.py,
# e.g. `scripts/bench.sh --n 20000 --large 100000 --lsst-n 20000` (`--n 0 --large 0`: the
# Rubin night only; `--lsst-n 0`: the ZTF night only).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p ateda-cli >&2
VENV=$(scripts/python-env.sh)
exec "$VENV/bin/python" scripts/bench/run.py "$@"
