#!/usr/bin/env bash
# Spark + Iceberg offline, for the tests in tests/spark/ (docs/spark.md): the jars that
# pyspark==3.5.5 (pinned in tests/requirements.txt) needs to read and maintain the
# lakehouse's Iceberg tables through its SQLite catalog, without Maven.
#
#   scripts/spark-env.sh            prepare the cache (once) and print its directory
#   scripts/spark-env.sh classpath  prepare, then print the driver classpath (jar:jar:jar)
#   scripts/spark-env.sh libpath    prepare, then print the directory of libsqlitejdbc.so
#   scripts/spark-env.sh version    prepare, then print the Iceberg version of the runtime
#
# Cache: ${ATEDA_SPARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ateda/spark} (outside the
# repository; about 50 MB once built). What goes into it:
#   - iceberg-spark-runtime-3.5_2.12-1.10.2.jar, unzipped from the PyPI wheel
#     snowpark-connect-deps-iceberg==1.0.3 (`pip download --no-deps`, never installed);
#   - that jar lacks the Jackson it was relocated against
#     (org/apache/iceberg/shaded/com/fasterxml/jackson/...): jackson-core, -databind and
#     -annotations 2.18.8 from the wheel snowpark-connect-deps-2==3.56.7, META-INF and
#     module-info entries dropped, relocated with Debian's jarjar into
#     iceberg-shaded-jackson-2.18.8.jar (added beside the runtime on the classpath);
#   - Debian's xerial SQLite JDBC driver and its JNI library (the Debian jar loads it from
#     java.library.path), for Iceberg's JdbcCatalog on <lakehouse>/catalog.db.
# Debian packages come from `apt-get download` + `dpkg -x` into the cache (as
# scripts/nginx.sh does for nginx): libxerial-sqlite-jdbc-java, libxerial-sqlite-jdbc-jni,
# libjarjar-java and libasm-java (jarjar's bytecode library; the jarjar package does not
# declare it). Needs java (17 was measured), apt-get, dpkg and a python with pip
# ($ATEDA_PYTHON, default .venv/bin/python, else python3). The wheels are deleted once the
# jars are out of them.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
CACHE=${ATEDA_SPARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ateda/spark}
ICEBERG_WHEEL=snowpark-connect-deps-iceberg==1.0.3
JACKSON_WHEEL=snowpark-connect-deps-2==3.56.7
ICEBERG_VERSION=1.10.2
JACKSON_VERSION=2.18.8
RUNTIME=iceberg-spark-runtime-3.5_2.12-$ICEBERG_VERSION.jar
SHADED=iceberg-shaded-jackson-$JACKSON_VERSION.jar
DEBS="libxerial-sqlite-jdbc-java libxerial-sqlite-jdbc-jni libjarjar-java libasm-java"
# The cache layout this script version builds (bump to rebuild every cache).
LAYOUT=1

die() {
  echo "spark-env.sh: $*" >&2
  exit 1
}

python_bin() {
  if [ -n "${ATEDA_PYTHON:-}" ]; then
    echo "$ATEDA_PYTHON"
  elif [ -x .venv/bin/python ]; then
    echo "$PWD/.venv/bin/python"
  else
    command -v python3 || die "no python3 (set ATEDA_PYTHON)"
  fi
}

apt_download() { # PACKAGE... into the current directory
  local out
  if out=$(apt-get download -o APT::Sandbox::User=root "$@" 2>&1); then return 0; fi
  if [ "$(id -u)" = 0 ] && grep -qiE "unable to locate|no candidate|has no installation candidate" <<<"$out"; then
    apt-get update -qq >&2 || true
    apt-get download -o APT::Sandbox::User=root "$@" >&2 && return 0
  fi
  echo "$out" >&2
  return 1
}

ready() {
  [ "$(cat "$CACHE/layout" 2>/dev/null)" = "$LAYOUT" ] &&
    [ -s "$CACHE/jars/$RUNTIME" ] && [ -s "$CACHE/jars/$SHADED" ] &&
    [ -s "$CACHE/jars/xerial-sqlite-jdbc.jar" ] && [ -s "$CACHE/native/libsqlitejdbc.so" ]
}

build() {
  local missing="" tool py work
  for tool in java apt-get dpkg; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
  done
  [ -z "$missing" ] || die "missing:$missing (needed once, to build the Spark cache $CACHE)"
  py=$(python_bin)
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  command -v flock >/dev/null 2>&1 && flock 9
  if ready; then return 0; fi
  work=$CACHE/work.$$
  rm -rf "$work" && mkdir -p "$work/debs" "$work/root" "$work/wheels" "$work/jars" "$work/native"
  # shellcheck disable=SC2064 # expand $work now
  trap "rm -rf '$work'" EXIT
  # shellcheck disable=SC2086 # word splitting of the package list is meant
  (cd "$work/debs" && apt_download $DEBS) >&2 || die "apt-get download $DEBS failed"
  for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$work/root"; done
  "$py" -m pip download --disable-pip-version-check --quiet --no-deps --only-binary=:all: \
    --dest "$work/wheels" "$ICEBERG_WHEEL" "$JACKSON_WHEEL" >&2 ||
    die "pip download $ICEBERG_WHEEL $JACKSON_WHEEL failed"
  # Unzip the runtime; merge the three Jackson jars without META-INF and module-info
  # (jarjar's ASM cannot read them, and the services files would name unrelocated classes).
  "$py" - "$work" "$RUNTIME" "$JACKSON_VERSION" <<'EOF' >&2
import glob
import sys
import zipfile

work, runtime, jackson = sys.argv[1:]
(iceberg,) = glob.glob(f"{work}/wheels/snowpark_connect_deps_iceberg-*.whl")
(deps,) = glob.glob(f"{work}/wheels/snowpark_connect_deps_2-*.whl")
with zipfile.ZipFile(iceberg) as whl:
    with open(f"{work}/jars/{runtime}", "wb") as out:
        out.write(whl.read(f"snowpark_connect_deps_iceberg/jars/{runtime}"))
seen = set()
with zipfile.ZipFile(deps) as whl, zipfile.ZipFile(
    f"{work}/jackson-merged.jar", "w", zipfile.ZIP_DEFLATED
) as out:
    for part in ("core", "databind", "annotations"):
        with zipfile.ZipFile(whl.open(f"snowpark_connect_deps_2/jars/jackson-{part}-{jackson}.jar")) as jar:
            for name in jar.namelist():
                if name.startswith("META-INF/") or name.endswith(("module-info.class", "/")):
                    continue
                if name not in seen:
                    seen.add(name)
                    out.writestr(name, jar.read(name))
print(f"spark-env.sh: {len(seen)} Jackson {jackson} entries to relocate")
EOF
  echo 'rule com.fasterxml.jackson.** org.apache.iceberg.shaded.com.fasterxml.jackson.@1' >"$work/rules.txt"
  java -cp "$work/root/usr/share/java/jarjar.jar:$work/root/usr/share/java/asm-all.jar" \
    com.tonicsystems.jarjar.Main process "$work/rules.txt" "$work/jackson-merged.jar" \
    "$work/jars/$SHADED" >&2 || die "jarjar failed"
  "$py" - "$work/jars/$SHADED" <<'EOF' >&2 || die "the relocated Jackson jar is incomplete"
import sys
import zipfile

names = set(zipfile.ZipFile(sys.argv[1]).namelist())
want = "org/apache/iceberg/shaded/com/fasterxml/jackson/databind/ObjectMapper.class"
assert want in names, want
assert not any(n.startswith("com/fasterxml/") for n in names)
EOF
  cp -L "$work/root/usr/share/java/xerial-sqlite-jdbc.jar" "$work/jars/xerial-sqlite-jdbc.jar"
  cp -L "$work"/root/usr/lib/*/jni/libsqlitejdbc.so "$work/native/libsqlitejdbc.so"
  rm -rf "$CACHE/jars" "$CACHE/native" "$CACHE/debs"
  mv "$work/jars" "$work/native" "$work/debs" "$CACHE/"
  echo "$LAYOUT" >"$CACHE/layout"
  echo "spark-env.sh: built $CACHE ($(du -sh "$CACHE/jars" | cut -f1) of jars): $RUNTIME, $SHADED, xerial SQLite JDBC" >&2
}

ready || build
case "${1:-dir}" in
  dir) echo "$CACHE" ;;
  classpath) echo "$CACHE/jars/$RUNTIME:$CACHE/jars/$SHADED:$CACHE/jars/xerial-sqlite-jdbc.jar" ;;
  libpath) echo "$CACHE/native" ;;
  version) echo "$ICEBERG_VERSION" ;;
  *) die "usage: scripts/spark-env.sh [dir | classpath | libpath | version]" ;;
esac
