"""Cluster storage: `ateda ingest` against an Iceberg REST catalog and S3 (SeaweedFS stand-in)."""
