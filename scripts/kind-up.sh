#!/usr/bin/env bash
# From zero to a StarRocks query over the bronze and gold tables, on Kind (docs/deploy.md).
#
#   scripts/kind-up.sh [--dry-run] [--night YYYYMMDD] [--alerts N] [--skip-images]
#
# Steps (each command is printed before it runs; --dry-run prints them and runs nothing):
#   1. prerequisites: docker (with a running daemon), kind, kubectl, helm (+ the helm-diff
#      plugin), helmfile, cargo: one message naming everything missing, exit 2;
#   2. the Kind cluster `ateda` from deploy/kind.yaml (kept if it exists);
#   3. the images ateda:dev and ateda-dagster:dev built and loaded into the cluster
#      (--skip-images: use the ones already loaded);
#   4. `helmfile -e kind apply` (MinIO, PostgreSQL, Nessie, StarRocks, Spark operator,
#      Dagster, ateda-platform, ateda);
#   5. `ateda status` until every workload is ready (ATEDA_UP_TIMEOUT seconds, default 1800);
#   6. the sample night: `ateda gen` makes ztf_public_NIGHT.tar.gz from the bundled real
#      packets, a one-shot aws-cli pod copies it to s3://landing; Dagster's landing sensor
#      then runs the night (ateda ingest -> bronze, dbt -> silver, gold on StarRocks);
#   7. waits for gold.nightly_stats to hold the night, then one StarRocks query (through the
#      FE pod's mysql client) over bronze and gold;
#   8. prints the URLs.
# Environment: ATEDA_UP_TIMEOUT (seconds per wait), HELMFILE_ARGS (more helmfile flags, e.g.
# "--state-values-set kafka.brokers=kafka:9092"), ATEDA_BIN (the ateda CLI to use, default
# target/release/ateda), ATEDA_POLL_SECONDS (between checks while waiting, default 15).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

CLUSTER=ateda # deploy/kind.yaml `name`
NAMESPACE=ateda
ENVIRONMENT=kind
ATEDA_IMAGE=ateda:dev           # deploy/values/ateda-kind.yaml
DAGSTER_IMAGE=ateda-dagster:dev # deploy/env/kind.yaml dagster.image
AWS_CLI_IMAGE=amazon/aws-cli:2.22.35
S3_SECRET=ateda-s3              # made by the ateda-secrets release on Kind
STARROCKS_FE=statefulset/kube-starrocks-fe
DAGSTER_WEB=svc/dagster-dagster-webserver
ATEDA=${ATEDA_BIN:-target/release/ateda} # built in step 3
TIMEOUT=${ATEDA_UP_TIMEOUT:-1800}
POLL=${ATEDA_POLL_SECONDS:-15}

DRY_RUN=false
SKIP_IMAGES=false
NIGHT=20231012
ALERTS=5000

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) DRY_RUN=true ;;
    --skip-images) SKIP_IMAGES=true ;;
    --night)
      NIGHT=${2:?--night needs YYYYMMDD}
      shift
      ;;
    --alerts)
      ALERTS=${2:?--alerts needs a number}
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "kind-up.sh: unknown argument $1 (see --help)" >&2
      exit 64
      ;;
  esac
  shift
done
[[ $NIGHT =~ ^[0-9]{8}$ ]] || {
  echo "kind-up.sh: --night must be YYYYMMDD, got $NIGHT" >&2
  exit 64
}
[[ $ALERTS =~ ^[0-9]+$ ]] || {
  echo "kind-up.sh: --alerts must be a number, got $ALERTS" >&2
  exit 64
}
DAY="${NIGHT:0:4}-${NIGHT:4:2}-${NIGHT:6:2}"
TARBALL=ztf_public_$NIGHT.tar.gz
WORK=${TMPDIR:-/tmp}/ateda-kind-up

step() { printf '\n==> %s\n' "$*"; }

# One argument as the shell reads it: bare when safe, else in single quotes.
quote() {
  if [[ $1 =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}

show() { # CMD... as one line, prefixed "+ "
  local first=true a
  printf '+ '
  for a in "$@"; do
    [ "$first" = true ] || printf ' '
    first=false
    quote "$a"
  done
}

# Prints a command and runs it unless --dry-run.
run() {
  show "$@"
  printf '\n'
  if [ "$DRY_RUN" = false ]; then "$@"; fi
}

# The same for a command that reads FILE on its standard input.
run_stdin() { # FILE CMD...
  local file=$1
  shift
  show "$@"
  printf ' < %s\n' "$(quote "$file")"
  if [ "$DRY_RUN" = false ]; then "$@" <"$file"; fi
}

# Repeats CMD... (quietly) until it succeeds; gives up after TIMEOUT s.
wait_for() { # WHAT CMD...
  local what=$1 deadline
  shift
  show "$@"
  printf '   # repeated every %s s until it succeeds: %s (at most %s s)\n' "$POLL" "$what" "$TIMEOUT"
  [ "$DRY_RUN" = false ] || return 0
  deadline=$(($(date +%s) + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "kind-up.sh: gave up waiting for $what after $TIMEOUT s" >&2
      return 1
    fi
    sleep "$POLL"
  done
}

prerequisites() {
  local missing=() tool
  declare -A hint=(
    [docker]="Docker Engine or Desktop, https://docs.docker.com/get-docker/ (give it >= 6 CPUs, 12 GiB)"
    [kind]="kind >= 0.29, https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
    [kubectl]="kubectl, https://kubernetes.io/docs/tasks/tools/"
    [helm]="Helm >= 3.15, https://helm.sh/docs/intro/install/"
    [helmfile]="helmfile >= 0.166, https://github.com/helmfile/helmfile#installation"
    [cargo]="Rust (cargo), https://rustup.rs (builds the ateda CLI for 'ateda status' and 'ateda gen')"
  )
  for tool in docker kind kubectl helm helmfile cargo; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool: ${hint[$tool]}")
  done
  if command -v docker >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
    missing+=("a running Docker daemon: 'docker info' fails (start Docker)")
  fi
  if command -v helm >/dev/null 2>&1 && ! helm plugin list 2>/dev/null | grep -qw diff; then
    missing+=("the helm-diff plugin (helmfile apply needs it): helm plugin install https://github.com/databus23/helm-diff")
  fi
  if [ ${#missing[@]} -eq 0 ]; then
    echo "prerequisites: docker, kind, kubectl, helm (+ helm-diff), helmfile, cargo found"
    return 0
  fi
  echo "kind-up.sh: missing prerequisites:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  if [ "$DRY_RUN" = true ]; then
    echo "(--dry-run: printing the commands anyway)" >&2
    return 0
  fi
  exit 2
}

# The pod that copies the tarball from standard input to s3://landing (no AWS CLI needed on
# the host): the aws-cli image with the S3 Secret's key pair, in-cluster MinIO endpoint.
upload_overrides() {
  cat <<EOF
{"apiVersion": "v1", "spec": {"containers": [{"name": "ateda-upload-$NIGHT", "image": "$AWS_CLI_IMAGE", "args": ["s3", "cp", "-", "s3://landing/$TARBALL", "--endpoint-url", "http://minio:9000", "--only-show-errors"], "stdin": true, "stdinOnce": true, "envFrom": [{"secretRef": {"name": "$S3_SECRET"}}], "env": [{"name": "AWS_REGION", "value": "us-east-1"}]}]}}
EOF
}

# StarRocks SQL through the FE pod's own mysql client (no client needed on the host).
FE_SQL=(kubectl -n "$NAMESPACE" exec "$STARROCKS_FE" -- mysql -h 127.0.0.1 -P 9030 -u root)

# Succeeds once gold.nightly_stats holds the night (Dagster's run is done).
night_in_gold() {
  local n
  n=$("${FE_SQL[@]}" -N -e "SELECT count(*) FROM gold.nightly_stats WHERE night = '$DAY'") || return 1
  [ "${n:-0}" -gt 0 ]
}

step "1. Prerequisites"
prerequisites

step "2. Kind cluster '$CLUSTER' (deploy/kind.yaml)"
if [ "$DRY_RUN" = false ] && kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  echo "cluster $CLUSTER exists: kept"
else
  run kind create cluster --config deploy/kind.yaml
fi
run kubectl config use-context "kind-$CLUSTER"

step "3. Images"
if [ "$SKIP_IMAGES" = true ]; then
  echo "--skip-images: using $ATEDA_IMAGE and $DAGSTER_IMAGE as loaded"
else
  run docker build -f docker/ateda.Dockerfile -t "$ATEDA_IMAGE" .
  run docker build -f docker/dagster.Dockerfile -t "$DAGSTER_IMAGE" .
  run kind load docker-image "$ATEDA_IMAGE" "$DAGSTER_IMAGE" --name "$CLUSTER"
fi
run cargo build --release -p ateda-cli

step "4. The platform: helmfile -e $ENVIRONMENT apply (~10-15 min the first time)"
# shellcheck disable=SC2086 # HELMFILE_ARGS is a list of flags
run helmfile -e "$ENVIRONMENT" ${HELMFILE_ARGS:-} apply

step "5. Readiness (ateda status)"
wait_for "every workload ready" "$ATEDA" status --namespace "$NAMESPACE"
run "$ATEDA" status --namespace "$NAMESPACE"

step "6. The sample night $NIGHT through Dagster"
run rm -rf "$WORK"
run "$ATEDA" gen --n "$ALERTS" --night "$NIGHT" --out "$WORK" --tar
run_stdin "$WORK/$TARBALL" kubectl -n "$NAMESPACE" run "ateda-upload-$NIGHT" --rm -i --quiet \
  --restart=Never --image "$AWS_CLI_IMAGE" --overrides "$(upload_overrides)"
echo "Dagster's landing sensor starts ateda_nightly for $DAY (ingest, then dbt silver and gold)"

step "7. StarRocks"
show "${FE_SQL[@]}" -N -e "SELECT count(*) FROM gold.nightly_stats WHERE night = '$DAY'"
printf '   # repeated every %s s until it is > 0: Dagster has built gold for %s (at most %s s)\n' "$POLL" "$DAY" "$TIMEOUT"
if [ "$DRY_RUN" = false ]; then
  deadline=$(($(date +%s) + TIMEOUT))
  until night_in_gold; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "kind-up.sh: no gold.nightly_stats rows for $DAY after $TIMEOUT s: see the run in the Dagster UI" >&2
      exit 1
    fi
    sleep "$POLL"
  done
fi
run "${FE_SQL[@]}" -e "SELECT night, count(*) AS alerts, count(DISTINCT objectId) AS objects FROM iceberg_catalog.bronze.alerts GROUP BY night ORDER BY night; SELECT * FROM gold.nightly_stats WHERE night = '$DAY' ORDER BY field, fid LIMIT 10;"

step "8. URLs"
cat <<EOF
MinIO S3 API        http://127.0.0.1:9000   (key pair: Secret $S3_SECRET, deploy/env/kind.yaml)
MinIO console       http://127.0.0.1:9001
StarRocks (MySQL)   mysql -h 127.0.0.1 -P 9030 -u root
StarRocks FE HTTP   http://127.0.0.1:8030
Dagster UI          kubectl -n $NAMESPACE port-forward $DAGSTER_WEB 3000:80   then http://127.0.0.1:3000
Nessie (Iceberg)    kubectl -n $NAMESPACE port-forward svc/nessie 19120:19120   then http://127.0.0.1:19120/iceberg
Tear down           kind delete cluster --name $CLUSTER
EOF
