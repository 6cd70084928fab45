"""Iceberg maintenance of the ATEDA bronze tables (run by the spark-operator).

`ateda ingest` only appends (fast_append: one small manifest per commit, one Parquet file
per night per commit), so tables need regular upkeep:

1. rewrite_data_files: bin-pack small data files of recent nights into large ones;
2. rewrite_manifests: merge the many small manifests that fast appends leave;
3. expire_snapshots: drop old snapshots (keeping the last N) and the files only they use;
4. remove_orphan_files: delete files no snapshot references (e.g. left by failed commit
   attempts), only when older than a safety margin so no running ingest is affected.

The statements are plain Spark SQL procedure calls (Iceberg SQL extensions), built by
`statements()` without Spark so they can be checked offline:

    python iceberg_maintenance.py --dry-run
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

# The alert tables (partitioned by night): only recent nights are compacted.
NIGHT_PARTITIONED = ("alerts", "lsst_alerts")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--catalog", default="ateda", help="Spark catalog name (spark.sql.catalog.X)")
    p.add_argument("--namespace", default="bronze")
    p.add_argument("--tables", default="alerts,lsst_alerts,ingest_ledger,quarantine")
    p.add_argument(
        "--recent-nights",
        type=int,
        default=7,
        help="compact only nights within this many days in the alert tables (0: every night)",
    )
    p.add_argument("--target-file-size-mb", type=int, default=512)
    p.add_argument("--expire-older-than-days", type=int, default=7)
    p.add_argument("--retain-last", type=int, default=10)
    p.add_argument("--orphan-older-than-days", type=int, default=3)
    p.add_argument("--now", help="reference time, ISO 8601 UTC (default: now)")
    p.add_argument("--dry-run", action="store_true", help="print the statements, run nothing")
    return p.parse_args(argv)


def _ts(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def statements(args: argparse.Namespace, now: dt.datetime) -> list[str]:
    """The maintenance procedure calls, in order, for every table."""
    target = args.target_file_size_mb * 1024 * 1024
    expire_before = _ts(now - dt.timedelta(days=args.expire_older_than_days))
    orphan_before = _ts(now - dt.timedelta(days=args.orphan_older_than_days))
    out = []
    for name in [t.strip() for t in args.tables.split(",") if t.strip()]:
        table = f"{args.namespace}.{name}"
        where = ""
        if name in NIGHT_PARTITIONED and args.recent_nights > 0:
            since = (now - dt.timedelta(days=args.recent_nights)).date().isoformat()
            where = f", where => \"night >= DATE '{since}'\""
        out.append(
            f"CALL {args.catalog}.system.rewrite_data_files(table => '{table}', "
            f"strategy => 'binpack', options => map('target-file-size-bytes', '{target}', "
            f"'min-input-files', '2', 'partial-progress.enabled', 'true'){where})"
        )
        out.append(f"CALL {args.catalog}.system.rewrite_manifests(table => '{table}')")
        out.append(
            f"CALL {args.catalog}.system.expire_snapshots(table => '{table}', "
            f"older_than => TIMESTAMP '{expire_before}', retain_last => {args.retain_last})"
        )
        out.append(
            f"CALL {args.catalog}.system.remove_orphan_files(table => '{table}', "
            f"older_than => TIMESTAMP '{orphan_before}')"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    now = (
        dt.datetime.fromisoformat(args.now)
        if args.now
        else dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)  # noqa: UP017 (Spark image: 3.10)
    )
    todo = statements(args, now)
    if args.dry_run:
        print("\n".join(todo))
        return 0

    from pyspark.sql import SparkSession  # only in the Spark image

    # A session the caller already runs (tests/spark) is used and left running; one made
    # here (the spark-operator's driver) is stopped at the end.
    caller_session = SparkSession.getActiveSession()
    spark = SparkSession.builder.appName("ateda-iceberg-maintenance").getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    existing = {
        row.tableName
        for row in spark.sql(f"SHOW TABLES IN {args.catalog}.{args.namespace}").collect()
    }
    failed = 0
    for sql in todo:
        table = sql.split("table => '", 1)[1].split("'", 1)[0].split(".", 1)[1]
        if table not in existing:
            print(f"skip (no table {args.namespace}.{table}): {sql}", flush=True)
            continue
        print(sql, flush=True)
        try:
            for row in spark.sql(sql).collect():
                print(f"  {row.asDict()}", flush=True)
        except Exception as exc:  # one failed step must not stop the others
            failed += 1
            print(f"  FAILED: {exc}", file=sys.stderr, flush=True)
    if caller_session is None:
        spark.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
