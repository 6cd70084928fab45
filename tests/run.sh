#!/usr/bin/env bash
# The test command (README: `make test`). On a fresh machine it builds ateda, creates the
# Python venv from pinned requirements, starts the local services the tests need
# (SeaweedFS: S3 + Iceberg REST on 127.0.0.1), runs every test and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "Rust: format, lint, build, unit + integration tests"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --release -- -D warnings
cargo build --release --workspace
cargo test --release --workspace 2>&1 | tee .work-cargo-test.log | grep -E "^(test result|running|error)" || true
if grep -qE "^test result: FAILED|^error" .work-cargo-test.log; then
  cat .work-cargo-test.log; rm -f .work-cargo-test.log; exit 1
fi
rm -f .work-cargo-test.log

step "Python environment"
VENV=$(scripts/python-env.sh)
export PATH="$PWD/$VENV/bin:$PATH"
export ATEDA_BIN="$PWD/target/release/ateda"
ruff check .
ruff format --check .

services_pid=""
cleanup() {
  if [ -n "$services_pid" ]; then scripts/services.sh stop || true; fi
}
trap cleanup EXIT
if [ -x scripts/services.sh ]; then
  step "Local services (S3 + Iceberg REST)"
  scripts/services.sh start
  services_pid=started
  # shellcheck disable=SC1091
  source .work/services/env.sh
fi

step "Python tests (independent readers, dbt, Dagster, deploy checks)"
pytest -q -p no:cacheprovider tests

step "done in $(( $(date +%s) - started )) s"
