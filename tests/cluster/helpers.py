"""Helpers of the cluster tests: the services' environment, per-test catalogs, readers."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pytest
from pyiceberg.catalog.rest import RestCatalog

from ateda_testlib import REPO, ateda_bin

ENV_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "ATEDA_TEST_REST_URI",
    "ATEDA_TEST_WAREHOUSE",
    "ATEDA_TEST_CUTOUTS",
)
SERVICES = REPO / "scripts" / "services.sh"
CUTOUTS = {
    "cutoutScience": "science",
    "cutoutTemplate": "template",
    "cutoutDifference": "difference",
}


@dataclass(frozen=True)
class Cluster:
    """Where the S3 API and the Iceberg REST catalog are (from .work/services/env.sh)."""

    env: dict[str, str] = field(repr=False)  # holds the secret key: never in test output
    created: list[str] = field(default_factory=list, repr=False, compare=False)

    @property
    def rest_uri(self) -> str:
        return self.env["ATEDA_TEST_REST_URI"]

    @property
    def endpoint(self) -> str:
        return self.env["AWS_ENDPOINT_URL"]

    @property
    def secret(self) -> str:
        return self.env["AWS_SECRET_ACCESS_KEY"]

    def boto(self, service: str = "s3"):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.secret,
            region_name=self.env["AWS_REGION"],
        )

    def new_warehouse(self, label: str) -> str:
        """A fresh, empty Iceberg catalog: SeaweedFS serves one catalog per table bucket."""
        name = f"t-{label}-{uuid.uuid4().hex[:10]}"
        self.boto("s3tables").create_table_bucket(name=name)
        self.created.append(f"s3://{name}")
        return f"s3://{name}"

    def new_cutouts(self, label: str) -> str:
        uri = f"{self.env['ATEDA_TEST_CUTOUTS'].rstrip('/')}/{label}-{uuid.uuid4().hex[:10]}"
        self.created.append(uri)
        return uri

    def cleanup(self) -> None:
        """Removes what the tests made, best effort: each table bucket holds its own
        SeaweedFS volume, and a kept services dir would otherwise run out of them."""
        tables = self.boto("s3tables")
        arns = {b["name"]: b["arn"] for b in tables.list_table_buckets()["tableBuckets"]}
        for uri in reversed(self.created):
            try:
                if uri.startswith(self.env["ATEDA_TEST_CUTOUTS"]):
                    self.delete_prefix(uri)
                    continue
                cat = self.catalog(uri)
                for ns in cat.list_namespaces():
                    for ident in cat.list_tables(ns):
                        cat.purge_table(ident)
                    cat.drop_namespace(ns)
                tables.delete_table_bucket(tableBucketARN=arns[uri.removeprefix("s3://")])
            except Exception as e:  # leftovers only cost disk space
                print(f"cleanup of {uri} failed: {e}")
        self.created.clear()

    def delete_prefix(self, uri: str) -> None:
        u = urlparse(uri)
        s3 = self.boto()
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=u.netloc, Prefix=u.path.lstrip("/") + "/"
        )
        for page in pages:
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=u.netloc, Delete={"Objects": keys, "Quiet": True})

    def catalog(self, warehouse: str) -> RestCatalog:
        """An independent reader/writer: pyiceberg's REST client (its own S3 client)."""
        return RestCatalog(
            "ateda",
            uri=self.rest_uri,
            warehouse=warehouse,
            # pyiceberg 0.12 otherwise sends `Authorization: Bearer None`, which SeaweedFS
            # rejects; the catalog accepts unsigned requests (anonymous identity).
            auth={"type": "noop"},
            **{
                "s3.endpoint": self.endpoint,
                "s3.access-key-id": self.env["AWS_ACCESS_KEY_ID"],
                "s3.secret-access-key": self.secret,
                "s3.region": self.env["AWS_REGION"],
            },
        )

    def get_object(self, uri: str) -> bytes:
        u = urlparse(uri)
        assert u.scheme == "s3", uri
        return self.boto().get_object(Bucket=u.netloc, Key=u.path.lstrip("/"))["Body"].read()


def cluster_from_env(env: dict[str, str] | os._Environ = os.environ) -> Cluster:
    missing = [v for v in ENV_VARS if not env.get(v)]
    if missing:
        pytest.skip(
            "cluster services not configured (missing "
            + ", ".join(missing)
            + "): run `scripts/services.sh start && source .work/services/env.sh` (tests/run.sh does)"
        )
    return Cluster({k: env[k] for k in env if k.startswith(("AWS_", "ATEDA_"))})


def read_env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            out[key] = value
    return out


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    summary: dict

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def ingest_cmd(
    cluster: Cluster, warehouse: str, cutouts: str, sources, extra=(), summary: Path | None = None
) -> tuple[list[str], dict[str, str]]:
    """`ateda ingest` pointed at the cluster by environment variables only (as in a pod)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ATEDA_"))}
    env.update({k: v for k, v in cluster.env.items() if k.startswith("AWS_")})
    env.update(ATEDA_CATALOG=cluster.rest_uri, ATEDA_WAREHOUSE=warehouse, ATEDA_CUTOUTS=cutouts)
    cmd = [str(ateda_bin()), "ingest", "--no-progress"]
    if summary is not None:
        cmd += ["--summary-json", str(summary)]
    return cmd + [*extra, *map(str, sources)], env


def run_ingest(
    cluster: Cluster,
    warehouse: str,
    cutouts: str,
    *sources,
    tmp: Path,
    extra: tuple[str, ...] = (),
    rust_log: str | None = None,
) -> Run:
    summary = tmp / f"summary-{uuid.uuid4().hex[:8]}.json"
    cmd, env = ingest_cmd(cluster, warehouse, cutouts, sources, extra, summary)
    if rust_log:
        env["RUST_LOG"] = rust_log
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    data = json.loads(summary.read_text()) if summary.exists() else {}
    return Run(proc.returncode, proc.stdout, proc.stderr, data)


def assert_no_secret(cluster: Cluster, text: str) -> None:
    """The secret key appears nowhere in `text` (reported by line number, never echoed)."""
    leaked = [i + 1 for i, line in enumerate(text.splitlines()) if cluster.secret in line]
    assert not leaked, f"the secret key was printed on output lines {leaked[:10]}"


def services(action: str, services_dir: Path, timeout: float = 60) -> str:
    """Runs scripts/services.sh with its state in `services_dir` (a private server)."""
    env = dict(os.environ, ATEDA_SERVICES_DIR=str(services_dir))
    proc = subprocess.run(
        [str(SERVICES), action],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"services.sh {action}: {proc.stdout}{proc.stderr}"
    return proc.stdout
