#!/usr/bin/env bash
# A real nginx (the Debian package's binary, not installed system-wide) serving a directory
# on 127.0.0.1: the loopback HTTP archive of the `ateda fetch` tests (tests/fetch/).
#
#   scripts/nginx.sh bin                 print the nginx binary (downloaded once, see below)
#   scripts/nginx.sh start ROOT STATE    serve ROOT on 127.0.0.1:<free port>; prints the URL
#   scripts/nginx.sh stop STATE          stop exactly the nginx `start` started for STATE
#   scripts/nginx.sh status STATE        say whether it runs and where
#
# The binary: `apt-get download nginx` (Debian's package; in bookworm `nginx-light` is only
# a metapackage depending on it and on an echo module we do not need) into
# ${XDG_CACHE_HOME:-$HOME/.cache}/ateda/nginx, unpacked there with `dpkg -x` and checked
# with `nginx -V` (ATEDA_NGINX_CACHE: another cache). NGINX=/path/to/nginx: another binary.
#
# STATE gets nginx.conf, nginx.pid, port, url, error.log, access.log and tmp/ (nginx needs
# nothing under /etc/nginx or /var/lib/nginx). Locations, all over ROOT:
#   /            static files: ETag, Last-Modified, Range (206) as nginx does by default
#   /norange/    the same files, Range ignored (`max_ranges 0`: 200 and the whole file)
# In both, a file F is sent at $NGINX_SLOW_RATE (default 1m bytes/s, after a first
# second's worth) while F.slow exists next to it, so a test can cut a download mid-body
# (SIGKILL to the worker: its connections drop, the master starts a new one) and then
# let it resume at full speed.
# access.log has one line per request, tab-separated:
#   $request $status $body_bytes_sent $http_range $http_if_range $sent_http_etag $msec
set -euo pipefail
shopt -s inherit_errexit
CACHE=${ATEDA_NGINX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ateda/nginx}
SLOW_RATE=${NGINX_SLOW_RATE:-1m}

die() {
  echo "nginx.sh: $*" >&2
  exit 1
}

# Libraries the binary links (bookworm package names); Debian machines have them (grep,
# python3 and apt need them too).
LIB_PACKAGES="libpcre2-8-0 libssl3 zlib1g libcrypt1"

apt_download() { # PACKAGE... into the current directory
  local out
  if out=$(apt-get download -o APT::Sandbox::User=root "$@" 2>&1); then return 0; fi
  # a fresh machine may have no package lists yet
  if [ "$(id -u)" = 0 ] && grep -qiE "unable to locate|no candidate|has no installation candidate" <<<"$out"; then
    apt-get update -qq >&2 || true
    apt-get download -o APT::Sandbox::User=root "$@" >&2 && return 0
  fi
  echo "$out" >&2
  return 1
}

nginx_runs() { # BIN
  "$1" -V >/dev/null 2>&1
}

ensure_nginx() {
  if [ -n "${NGINX:-}" ]; then
    nginx_runs "$NGINX" || die "NGINX=$NGINX does not run (\`$NGINX -V\` fails)"
    echo "$NGINX"
    return
  fi
  local bin=$CACHE/nginx
  if [ -x "$bin" ] && nginx_runs "$bin"; then
    echo "$bin"
    return
  fi
  command -v apt-get >/dev/null 2>&1 || die "apt-get is needed to download nginx (or set NGINX=/path/to/nginx)"
  command -v dpkg >/dev/null 2>&1 || die "dpkg is needed to unpack nginx (or set NGINX=/path/to/nginx)"
  mkdir -p "$CACHE"
  (
    # one download at a time (concurrent test runs share the cache)
    exec 9>"$CACHE/.lock"
    command -v flock >/dev/null 2>&1 && flock 9
    if [ -x "$bin" ] && nginx_runs "$bin"; then exit 0; fi
    local work=$CACHE/work.$$
    rm -rf "$work" && mkdir -p "$work/debs" "$work/root"
    trap 'rm -rf "$work"' EXIT
    (cd "$work/debs" && apt_download nginx) >&2 || die "apt-get download nginx failed"
    dpkg -x "$work"/debs/nginx_*.deb "$work/root"
    [ -x "$work/root/usr/sbin/nginx" ] || die "no usr/sbin/nginx in $(ls "$work"/debs)"
    if ! "$work/root/usr/sbin/nginx" -V >/dev/null 2>&1; then
      die "the downloaded nginx does not run here: $("$work/root/usr/sbin/nginx" -V 2>&1 | tail -1)$(ldd "$work/root/usr/sbin/nginx" 2>/dev/null | grep 'not found' | tr -s ' \t\n' ' '); install its libraries (apt-get install $LIB_PACKAGES) or set NGINX=/path/to/nginx"
    fi
    rm -rf "$CACHE/root" "$CACHE/debs"
    mv "$work/root" "$CACHE/root"
    mv "$work/debs" "$CACHE/debs"
    # the entry point: exec keeps the pid (the pid file names the server itself)
    {
      echo '#!/bin/sh'
      echo "exec \"$CACHE/root/usr/sbin/nginx\" \"\$@\""
    } >"$bin.tmp"
    chmod +x "$bin.tmp"
    mv "$bin.tmp" "$bin"
    nginx_runs "$bin" || die "the downloaded nginx does not run: $("$bin" -V 2>&1 | tail -1)"
    echo "nginx.sh: $("$bin" -v 2>&1) from $(ls "$CACHE/debs" | tr '\n' ' ')into $CACHE" >&2
  )
  echo "$bin"
}

# The running server's pid, if STATE's pid file names a live nginx using STATE's config.
running_pid() { # STATE
  local pidfile=$1/nginx.pid pid
  [ -s "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$1/nginx.conf" || return 1
  echo "$pid"
}

write_conf() { # ROOT STATE PORT
  local root=$1 state=$2 port=$3 user=""
  # a root master would run its workers as `nobody`, who cannot read a private tmp dir
  if [ "$(id -u)" = 0 ]; then user="user root $(id -gn);"; fi
  cat >"$state/nginx.conf" <<EOF
# Written by scripts/nginx.sh start: serves $root on 127.0.0.1:$port.
$user
worker_processes 1;
pid $state/nginx.pid;
error_log $state/error.log notice;
events {
    worker_connections 256;
}
http {
    types {
        application/gzip gz;
        text/plain txt;
    }
    default_type application/octet-stream;
    client_body_temp_path $state/tmp/body;
    proxy_temp_path $state/tmp/proxy;
    fastcgi_temp_path $state/tmp/fastcgi;
    uwsgi_temp_path $state/tmp/uwsgi;
    scgi_temp_path $state/tmp/scgi;
    log_format fetch escape=none "\$request\t\$status\t\$body_bytes_sent\t\$http_range\t\$http_if_range\t\$sent_http_etag\t\$msec";
    access_log $state/access.log fetch;
    sendfile on;
    keepalive_timeout 10s;
    server {
        listen 127.0.0.1:$port;
        server_name localhost;
        root $root;
        autoindex on;
        set \$rate 0;
        location / {
            if (-f \$request_filename.slow) {
                set \$rate $SLOW_RATE;
            }
            limit_rate \$rate;
        }
        location /norange/ {
            alias $root/;
            max_ranges 0;
            if (-f \$request_filename.slow) {
                set \$rate $SLOW_RATE;
            }
            limit_rate \$rate;
        }
    }
}
EOF
}

start() { # ROOT STATE
  [ $# -eq 2 ] || die "usage: scripts/nginx.sh start ROOT STATE"
  [ -d "$1" ] || die "no directory $1"
  mkdir -p "$2"
  local root state bin pid port try
  root=$(cd "$1" && pwd)
  state=$(cd "$2" && pwd)
  if pid=$(running_pid "$state"); then
    echo "nginx: already running (pid $pid) at $(cat "$state/url")" >&2
    cat "$state/url"
    return
  fi
  bin=$(ensure_nginx)
  mkdir -p "$state/tmp"
  rm -f "$state/nginx.pid"
  for try in $(seq 1 30); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    write_conf "$root" "$state" "$port"
    # nginx binds before it daemonizes: a taken port is a non-zero exit here
    if "$bin" -p "$state" -e "$state/error.log" -c "$state/nginx.conf" 2>"$state/start.err"; then
      break
    fi
    grep -q "Address already in use" "$state/start.err" || die "nginx failed to start: $(cat "$state/start.err")"
    port=""
  done
  [ -n "$port" ] || die "no free port after 30 tries"
  for try in $(seq 1 100); do
    if pid=$(running_pid "$state") && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port" >"$state/port"
      echo "http://127.0.0.1:$port" >"$state/url"
      echo "nginx: pid $pid serving $root at http://127.0.0.1:$port (logs in $state)" >&2
      cat "$state/url"
      return
    fi
    sleep 0.05
  done
  die "nginx did not come up on port $port; see $state/error.log"
}

stop() { # STATE
  [ $# -eq 1 ] || die "usage: scripts/nginx.sh stop STATE"
  [ -d "$1" ] || return 0
  local state pid i
  state=$(cd "$1" && pwd)
  pid=$(running_pid "$state") || {
    echo "nginx: not running" >&2
    return 0
  }
  kill -TERM "$pid" 2>/dev/null || true # fast shutdown: open downloads are cut
  for i in $(seq 1 100); do
    [ -e "/proc/$pid" ] || break
    sleep 0.05
  done
  if [ -e "/proc/$pid" ]; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  echo "nginx: stopped (pid $pid)" >&2
}

status() { # STATE
  [ $# -eq 1 ] || die "usage: scripts/nginx.sh status STATE"
  local state pid
  state=$(cd "$1" 2>/dev/null && pwd) || die "no state directory $1"
  if pid=$(running_pid "$state"); then
    echo "nginx: running (pid $pid) at $(cat "$state/url")"
  else
    echo "nginx: not running"
    return 1
  fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  bin) ensure_nginx ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  status) status "$@" ;;
  *) die "usage: scripts/nginx.sh bin | start ROOT STATE | stop STATE | status STATE" ;;
esac
