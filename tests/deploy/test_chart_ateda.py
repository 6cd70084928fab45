"""charts/ateda: lint, render with every values file, validate, and check what matters
in the rendered pods (security context, env wiring, metrics, source handling)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from deploylib import REPO, load_docs, pod_specs, validate_manifests

from ateda_testlib import ateda_bin

CHART = REPO / "charts" / "ateda"
# Every values file of the chart; the defaults need credentials (or an existing Secret).
VALUES = {
    "default": ["--set", "s3.accessKeyId=test-key", "--set", "s3.secretAccessKey=test-secret"],
    "kind": ["-f", str(CHART / "values-kind.yaml")],
    "prod": ["-f", str(CHART / "values-prod.yaml")],
}
ONE_OFF = ["--set", "job.enabled=true", "--set", "job.night=20231012"]


def render(tools, *args: str, check: bool = True):
    proc = tools.run(
        tools.helm, "template", "ateda", CHART, "--namespace", "ateda", *args, check=check
    )
    return load_docs(proc.stdout) if check else proc


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def ingest_container(spec: dict) -> dict:
    return next(c for c in spec["containers"] if c["name"] == "ingest")


@pytest.mark.parametrize("values", VALUES)
def test_helm_lint(tools, values):
    proc = tools.run(tools.helm, "lint", "--strict", CHART, *VALUES[values], *ONE_OFF)
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("values", VALUES)
def test_template_validates(tools, values):
    docs = render(tools, *VALUES[values], *ONE_OFF)
    kinds = {d["kind"] for d in docs}
    assert {"CronJob", "Job", "ConfigMap", "ServiceAccount"} <= kinds
    unchecked = validate_manifests(docs)
    assert set(unchecked) <= {
        "monitoring.coreos.com/v1/PodMonitor",
        "monitoring.coreos.com/v1/ServiceMonitor",
    }


def test_template_with_helm4(tools):
    """The chart also renders with Helm 4 (the kubectl wheel's helm)."""
    proc = tools.run(
        tools.helm4, "template", "ateda", CHART, "-f", CHART / "values-kind.yaml", *ONE_OFF
    )
    assert {d["kind"] for d in load_docs(proc.stdout)} >= {"CronJob", "Job"}


@pytest.mark.parametrize("values", VALUES)
def test_security_context(tools, values):
    docs = render(tools, *VALUES[values], *ONE_OFF)
    specs = pod_specs(docs)
    assert len(specs) == 2  # CronJob + one-off Job
    for owner, spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True, owner
        assert spec["securityContext"]["runAsUser"] != 0, owner
        assert spec["automountServiceAccountToken"] is False, owner
        assert spec["restartPolicy"] == "Never", owner
        tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")
        assert "emptyDir" in tmp, owner
        for c in containers(spec):
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, (owner, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (owner, c["name"])
            assert sc["allowPrivilegeEscalation"] is False, (owner, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (owner, c["name"])
            mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
            assert mounts["/tmp"]["name"] == "tmp", (owner, c["name"])


def test_env_wiring_kind(tools):
    docs = render(tools, *VALUES["kind"], *ONE_OFF)
    env = next(d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-env"))[
        "data"
    ]
    assert env["ATEDA_CATALOG"] == "http://nessie:19120/iceberg"
    assert env["ATEDA_WAREHOUSE"] == "warehouse"
    assert env["ATEDA_CUTOUTS"] == "s3://cutouts/ateda"
    assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ALLOW_HTTP"] == "true"
    assert env["ATEDA_SOURCE"] == "s3://landing/ztf_public_{{night}}.tar.gz"
    assert env["ATEDA_SOURCE_STAGED"] == "true"
    # Kind uses the Secret made by the ateda-secrets release: the chart makes none.
    assert not by_kind(docs, "Secret")

    for owner, spec in pod_specs(docs):
        for c in containers(spec):
            assert c["envFrom"] == [{"configMapRef": {"name": "ateda-env"}}], owner
            refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"] if "valueFrom" in e}
            assert refs["AWS_ACCESS_KEY_ID"] == {"name": "ateda-s3", "key": "AWS_ACCESS_KEY_ID"}
            assert refs["AWS_SECRET_ACCESS_KEY"] == {
                "name": "ateda-s3",
                "key": "AWS_SECRET_ACCESS_KEY",
            }
        ingest = ingest_container(spec)
        assert ingest["image"] == "ateda:dev"
        assert ingest["command"] == ["/bin/sh", "/opt/ateda/run.sh", "ingest"]
        args = ingest["args"]
        assert args[args.index("--metrics-addr") + 1] == "0.0.0.0:9898"
        assert args[args.index("--catalog-retry-secs") + 1] == "60"
        assert ingest["ports"] == [{"name": "metrics", "containerPort": 9898, "protocol": "TCP"}]
        # The S3 tarball is staged by the fetch init container on a scratch volume.
        fetch = spec["initContainers"][0]
        assert fetch["name"] == "fetch" and fetch["command"][-1] == "fetch"
        assert {m["mountPath"] for m in fetch["volumeMounts"]} >= {"/staging", "/opt/ateda"}

    job = by_kind(docs, "Job")[0]
    pod = job["spec"]["template"]
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9898"
    night = {e["name"]: e.get("value") for e in ingest_container(pod["spec"])["env"]}["ATEDA_NIGHT"]
    assert night == "20231012"
    rules = job["spec"]["podFailurePolicy"]["rules"]
    assert rules[0]["onExitCodes"]["values"] == [2] and rules[0]["action"] == "FailJob"

    cron = by_kind(docs, "CronJob")[0]["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    assert cron["suspend"] is True
    cron_env = ingest_container(cron["jobTemplate"]["spec"]["template"]["spec"])["env"]
    assert "ATEDA_NIGHT" not in {e["name"] for e in cron_env}  # computed at run time


def test_created_secret_and_existing_secret(tools):
    docs = render(tools, *VALUES["default"])
    (secret,) = by_kind(docs, "Secret")
    assert secret["stringData"] == {
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
    }
    docs = render(
        tools,
        "--set",
        "s3.existingSecret=my-s3",
        "--set",
        "s3.accessKeyIdKey=id",
        "--set",
        "s3.secretAccessKeyKey=secret",
    )
    assert not by_kind(docs, "Secret")
    for _, spec in pod_specs(docs):
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in ingest_container(spec)["env"]}
        assert refs["AWS_ACCESS_KEY_ID"] == {"name": "my-s3", "key": "id"}
        assert refs["AWS_SECRET_ACCESS_KEY"] == {"name": "my-s3", "key": "secret"}


def test_pvc_source_and_sqlite_catalog(tools):
    docs = render(
        tools,
        *VALUES["default"],
        "--set",
        "source.type=pvc",
        "--set",
        "source.pvc.claimName=ztf-landing",
        "--set",
        "lakehouse.catalog=sqlite:/lakehouse/catalog.db",
        "--set",
        "embedded.existingClaim=lakehouse",
    )
    validate_manifests(docs)
    env = next(d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-env"))[
        "data"
    ]
    assert env["ATEDA_SOURCE"] == "/landing/ztf_public_{{night}}.tar.gz"
    assert env["ATEDA_SOURCE_STAGED"] == "false"
    assert env["ATEDA_CATALOG"] == "sqlite:/lakehouse/catalog.db"
    for _, spec in pod_specs(docs):
        assert "initContainers" not in spec
        vols = {v["name"]: v for v in spec["volumes"]}
        assert vols["landing"]["persistentVolumeClaim"] == {
            "claimName": "ztf-landing",
            "readOnly": True,
        }
        mounts = {m["mountPath"]: m for m in ingest_container(spec)["volumeMounts"]}
        assert mounts["/landing"]["readOnly"] is True
        assert mounts["/lakehouse"]["name"] == "lakehouse"


def test_prod_values(tools):
    docs = render(tools, *VALUES["prod"])
    (monitor,) = by_kind(docs, "PodMonitor")
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    for _, spec in pod_specs(docs):
        staging = next(v for v in spec["volumes"] if v["name"] == "staging")
        assert (
            staging["ephemeral"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"]
            == "200Gi"
        )


def test_ingest_flags_exist_in_the_binary(tools):
    """Every flag the chart passes to `ateda ingest` is one the real binary accepts."""
    docs = render(tools, *VALUES["kind"], *ONE_OFF, "--set", "ingest.catalogRetrySeconds=120")
    helptext = subprocess.run(
        [str(ateda_bin()), "ingest", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for _, spec in pod_specs(docs):
        args = ingest_container(spec)["args"]
        assert args[args.index("--catalog-retry-secs") + 1] == "120"
        flags = [a for a in args if a.startswith("--")]
        assert flags and all(f in helptext for f in flags), flags


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "securityContext.readOnlyRootFilesystem=false"], "readOnlyRootFilesystem"),
        (["--set", "securityContext.runAsNonRoot=false"], "runAsNonRoot"),
        (["--set", "lakehouse.catalog=thrift://hms:9083"], "catalog"),
        (["--set", "source.type=ftp"], "source.type"),
        (["--set", "lakehouse.typo=1"], "typo"),
        (["--set", "job.enabled=true"], "job.night"),
        (["--set", "job.enabled=true", "--set", "job.night=2023-10-12"], "job.night"),
    ],
)
def test_bad_values_are_rejected(tools, args, message):
    proc = render(tools, *VALUES["default"], *args, check=False)
    assert proc.returncode != 0, proc.stdout[:500]
    assert message in proc.stderr


# --- the run.sh wrapper (night resolution, fetch and ingest command lines) -----------


def run_sh(tmp_path: Path, mode: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Runs charts/ateda/files/run.sh with stub `aws` and `ateda` that print their argv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("aws", "ateda"):
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*"\n')
        stub.chmod(0o755)
    shell = shutil.which("dash") or "/bin/sh"
    full_env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", **env}
    return subprocess.run(
        [shell, str(CHART / "files" / "run.sh"), mode, *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_run_sh_fetch_and_ingest(tmp_path):
    env = {"ATEDA_SOURCE": "s3://landing/ztf_public_{{night}}.tar.gz", "ATEDA_NIGHT": "20231012"}
    fetch = run_sh(tmp_path, "fetch", **env)
    assert fetch.returncode == 0, fetch.stderr
    assert fetch.stdout.split() == [
        "aws",
        "s3",
        "cp",
        "--only-show-errors",
        "s3://landing/ztf_public_20231012.tar.gz",
        "/staging/ztf_public_20231012.tar.gz",
    ]
    ingest = run_sh(
        tmp_path, "ingest", "--metrics-addr", "0.0.0.0:9898", ATEDA_SOURCE_STAGED="true", **env
    )
    assert ingest.returncode == 0, ingest.stderr
    assert ingest.stdout.split() == [
        "ateda",
        "ingest",
        "--metrics-addr",
        "0.0.0.0:9898",
        "/staging/ztf_public_20231012.tar.gz",
    ]
    direct = run_sh(tmp_path, "ingest", ATEDA_SOURCE_STAGED="false", **env)
    assert direct.stdout.split() == ["ateda", "ingest", "s3://landing/ztf_public_20231012.tar.gz"]


def test_run_sh_default_night_and_bad_night(tmp_path):
    out = run_sh(
        tmp_path,
        "print",
        ATEDA_SOURCE="/landing/{{night}}/ztf_public_{{night}}.tar.gz",
        ATEDA_NIGHT_OFFSET_DAYS="1",
    )
    assert out.returncode == 0, out.stderr
    night, source = out.stdout.split()
    assert len(night) == 8 and night.isdigit()
    assert source == f"/landing/{night}/ztf_public_{night}.tar.gz"
    bad = run_sh(tmp_path, "ingest", ATEDA_SOURCE="x", ATEDA_NIGHT="2023-10-12")
    assert bad.returncode == 64 and "not YYYYMMDD" in bad.stderr
