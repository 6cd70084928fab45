"""ATEDA orchestration: nightly bronze ingest, dbt silver/gold, checks, landing sensor."""
