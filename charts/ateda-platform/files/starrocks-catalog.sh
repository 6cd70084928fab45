#!/bin/sh
# Creates (or re-creates, so it follows the values) the StarRocks Iceberg external catalog
# on Nessie's Iceberg REST endpoint with the MinIO S3 settings, and the dbt databases.
set -eu
export HOME=/tmp

sr() {
  if [ -n "${STARROCKS_PASSWORD:-}" ]; then
    MYSQL_PWD="$STARROCKS_PASSWORD" mysql -h "$FE_HOST" -P "$FE_PORT" -u "$STARROCKS_USER" --connect-timeout=5 "$@"
  else
    mysql -h "$FE_HOST" -P "$FE_PORT" -u "$STARROCKS_USER" --connect-timeout=5 "$@"
  fi
}

deadline=$(( $(date +%s) + ${WAIT_SECONDS:-900} ))
echo "waiting for StarRocks FE $FE_HOST:$FE_PORT and an alive BE"
until sr -N -e "SHOW BACKENDS" 2>/dev/null | grep -qw true; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "StarRocks is not ready after ${WAIT_SECONDS:-900} s" >&2
    exit 1
  fi
  sleep 10
done

if sr -N -e "SHOW CATALOGS" | cut -f1 | grep -qx "$CATALOG"; then
  echo "dropping catalog $CATALOG to re-create it with the current settings"
  sr -e "DROP CATALOG $CATALOG"
fi

echo "creating catalog $CATALOG -> $ICEBERG_URI (warehouse $ICEBERG_WAREHOUSE, S3 $S3_ENDPOINT)"
sr <<SQL
CREATE EXTERNAL CATALOG $CATALOG
COMMENT "ATEDA Iceberg tables (bronze) through Nessie's Iceberg REST endpoint"
PROPERTIES (
  "type" = "iceberg",
  "iceberg.catalog.type" = "rest",
  "iceberg.catalog.uri" = "$ICEBERG_URI",
  "iceberg.catalog.warehouse" = "$ICEBERG_WAREHOUSE",
  "aws.s3.endpoint" = "$S3_ENDPOINT",
  "aws.s3.region" = "$AWS_REGION",
  "aws.s3.enable_path_style_access" = "true",
  "aws.s3.enable_ssl" = "false",
  "aws.s3.access_key" = "$AWS_ACCESS_KEY_ID",
  "aws.s3.secret_key" = "$AWS_SECRET_ACCESS_KEY",
  "client.factory" = "com.starrocks.connector.share.iceberg.IcebergAwsClientFactory"
);
SQL

for db in $DATABASES; do
  sr -e "CREATE DATABASE IF NOT EXISTS $db"
done

echo "catalogs:"
sr -e "SHOW CATALOGS"
sr -e "SHOW DATABASES FROM $CATALOG" || echo "(no namespace yet: run an ingest first)"
