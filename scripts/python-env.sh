#!/usr/bin/env bash
# Creates (or updates) the project's Python environment in .venv from the pinned
# requirements files. Idempotent and quiet; prints the venv path.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${ATEDA_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
reqs=()
for f in tests/requirements.txt dagster/requirements.txt deploy/requirements.txt; do
  [ -f "$f" ] && reqs+=(-r "$f")
done
stamp="$VENV/.requirements.sha256"
want=$(cat tests/requirements.txt dagster/requirements.txt deploy/requirements.txt 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$VENV/bin/pip" install --disable-pip-version-check -q "${reqs[@]}" >&2
  echo "$want" > "$stamp"
fi
echo "$VENV"
