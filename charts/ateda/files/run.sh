#!/bin/sh
# Ingest wrapper (POSIX sh: runs in the ateda image and in the aws-cli fetch image).
#   run.sh fetch            copy the night's S3 object to /staging (init container)
#   run.sh ingest ARGS...   exec `ateda ingest ARGS... SOURCE`
#   run.sh fetch-ingest ARGS...
#                           exec `ateda fetch NIGHT --ingest --to /scratch ARGS...` (source.type
#                           archive: the archive is ATEDA_ARCHIVE, read by ateda itself)
# The night is ATEDA_NIGHT (YYYYMMDD) or today minus ATEDA_NIGHT_OFFSET_DAYS (UTC);
# `{{night}}` in ATEDA_SOURCE is replaced by it.
set -eu

night="${ATEDA_NIGHT:-}"
if [ -z "$night" ]; then
  offset="${ATEDA_NIGHT_OFFSET_DAYS:-1}"
  night=$(date -u -d "@$(( $(date -u +%s) - offset * 86400 ))" +%Y%m%d)
fi
case "$night" in
  [0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]) ;;
  *) echo "run.sh: night '$night' is not YYYYMMDD" >&2; exit 64 ;;
esac

source="${ATEDA_SOURCE:?ATEDA_SOURCE is not set}"
while :; do
  case "$source" in
    *'{{night}}'*) source="${source%%\{\{night\}\}*}${night}${source#*\{\{night\}\}}" ;;
    *) break ;;
  esac
done

mode="${1:-ingest}"
[ $# -gt 0 ] && shift
case "$mode" in
  fetch)
    dest="/staging/$(basename "$source")"
    echo "run.sh: night $night: fetching $source -> $dest" >&2
    # aws-cli v2 reads AWS_ENDPOINT_URL, AWS_REGION and the key pair from the environment.
    exec aws s3 cp --only-show-errors "$source" "$dest"
    ;;
  ingest)
    if [ "${ATEDA_SOURCE_STAGED:-false}" = "true" ]; then
      source="/staging/$(basename "$source")"
    fi
    echo "run.sh: night $night: ateda ingest $* $source" >&2
    exec ateda ingest "$@" "$source"
    ;;
  fetch-ingest)
    echo "run.sh: night $night: ateda fetch $night --ingest --to /scratch $* (archive ${ATEDA_ARCHIVE:-default})" >&2
    exec ateda fetch "$night" --ingest --to /scratch "$@"
    ;;
  print)
    # For checks: prints the resolved night and source.
    echo "$night $source"
    ;;
  *)
    echo "run.sh: unknown mode '$mode' (fetch | ingest | fetch-ingest | print)" >&2
    exit 64
    ;;
esac
