"""After `ateda ingest` in the demo: build silver + gold, then show them.

    python scripts/demo_report.py --lakehouse lakehouse [--no-build]

= `python -m ateda_dagster.pipeline --lakehouse DIR` (dbt build of every night in bronze)
followed by `python -m ateda_dagster.report --lakehouse DIR` (gold rows of both surveys, a
light-curve PNG for ZTF and one for Rubin).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dagster"))

from ateda_dagster.lakehouse import Settings  # noqa: E402
from ateda_dagster.pipeline import dbt_build  # noqa: E402
from ateda_dagster.report import report  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lakehouse", help="default: $ATEDA_LAKEHOUSE or ./lakehouse")
    ap.add_argument("--no-build", action="store_true", help="only report")
    args = ap.parse_args()
    settings = Settings.from_env(args.lakehouse)
    if not args.no_build:
        code = dbt_build(settings, None, ["--quiet"])
        if code != 0:
            print(f"dbt build failed (exit {code})", file=sys.stderr)
            return code
    report(settings.lakehouse)
    return 0


if __name__ == "__main__":
    sys.exit(main())
