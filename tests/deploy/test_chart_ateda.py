"""charts/ateda: lint, render with every values file, validate, and check what matters
in the rendered pods (security context, env wiring, metrics, source handling)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import chart_values_doc
import pytest
import yaml
from deploylib import REPO, load_docs, pod_specs, validate_manifests

from ateda_testlib import ateda_bin

CHART = REPO / "charts" / "ateda"
# The environments' values (helmfile kind / large), kept beside the other releases' values.
ENV_VALUES = {
    "kind": ["-f", str(REPO / "deploy" / "values" / "ateda-kind.yaml")],
    "large": ["-f", str(REPO / "deploy" / "values" / "ateda-large.yaml")],
}
# The chart's CI combinations (ci/*-values.yaml, chart-testing's convention).
CI_FILES = sorted(CHART.glob("ci/*-values.yaml"))
CI_VALUES = {p.name.removesuffix("-values.yaml"): ["-f", str(p)] for p in CI_FILES}
# Every values combination: the environments (with a one-off Job) and the CI files.
ONE_OFF = ["--set", "job.enabled=true", "--set", "job.night=20231012"]
VALUES = {
    **{f"env-{k}": [*v, *ONE_OFF] for k, v in ENV_VALUES.items()},
    **{f"ci-{k}": v for k, v in CI_VALUES.items()},
}
# `ateda ingest` tuning: chart value -> flag (the chart's table, _helpers.tpl).
TUNING = {
    "commitEvery": "--commit-every",
    "workers": "--workers",
    "chunk": "--chunk",
    "uploads": "--uploads",
    "catalogRetrySeconds": "--catalog-retry-secs",
}


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
    proc = tools.run(tools.helm, "lint", "--strict", CHART, *VALUES[values])
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("values", VALUES)
def test_template_validates(tools, values):
    docs = render(tools, *VALUES[values])
    kinds = {d["kind"] for d in docs}
    assert {"CronJob", "ConfigMap", "ServiceAccount"} <= kinds
    unchecked = validate_manifests(docs)
    assert set(unchecked) <= {
        "monitoring.coreos.com/v1/PodMonitor",
        "monitoring.coreos.com/v1/ServiceMonitor",
    }


def test_template_with_helm4(tools):
    """The chart also renders with Helm 4 (the kubectl wheel's helm)."""
    proc = tools.run(tools.helm4, "template", "ateda", CHART, *ENV_VALUES["kind"], *ONE_OFF)
    assert {d["kind"] for d in load_docs(proc.stdout)} >= {"CronJob", "Job"}


@pytest.mark.parametrize(
    ("args", "cronjob"),
    [
        ([], True),  # the chart alone: the CronJob ingests
        (["--set", "dagster.orchestrates=true"], False),
        (["--set", "dagster.orchestrates=false"], True),
        (["--set", "cronjob.enabled=false"], False),
        (["--set", "dagster.orchestrates=true", "--set", "cronjob.enabled=false"], False),
    ],
)
def test_one_orchestrator_per_night(tools, args, cronjob):
    """cronjob.enabled defaults from dagster.orchestrates: never both."""
    for env in ENV_VALUES.values():
        docs = render(tools, *env, *args)
        assert bool(by_kind(docs, "CronJob")) is cronjob, args


@pytest.mark.parametrize("values", VALUES)
def test_security_context(tools, values):
    docs = render(tools, *VALUES[values])
    specs = pod_specs(docs)
    # CronJob (+ one-off Job) (+ `ateda stream` Deployments)
    assert specs and len(specs) == 1 + len(by_kind(docs, "Job")) + len(by_kind(docs, "Deployment"))
    for owner, spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True, owner
        assert spec["securityContext"]["runAsUser"] != 0, owner
        assert spec["automountServiceAccountToken"] is False, owner
        if not owner.startswith("Deployment/"):
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
    docs = render(tools, *VALUES["env-kind"])
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
        # Kind's own tuning; everything else is the binary's default (no flag).
        assert args[args.index("--workers") + 1] == "2"
        assert args[args.index("--uploads") + 1] == "32"
        assert "--commit-every" not in args and "--catalog-retry-secs" not in args
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
    docs = render(tools, *VALUES["ci-default"])
    (secret,) = by_kind(docs, "Secret")
    assert secret["stringData"] == {
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
    }
    docs = render(tools, *VALUES["ci-existing-secret"])
    assert not by_kind(docs, "Secret")
    for _, spec in pod_specs(docs):
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in ingest_container(spec)["env"]}
        assert refs["AWS_ACCESS_KEY_ID"] == {"name": "my-s3", "key": "id"}
        assert refs["AWS_SECRET_ACCESS_KEY"] == {"name": "my-s3", "key": "secret"}


def test_pvc_source_and_sqlite_catalog(tools):
    docs = render(tools, *VALUES["ci-pvc-sqlite"])
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


def test_large_values(tools):
    docs = render(tools, *VALUES["env-large"])
    (monitor,) = by_kind(docs, "PodMonitor")
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    for _, spec in pod_specs(docs):
        staging = next(v for v in spec["volumes"] if v["name"] == "staging")
        assert (
            staging["ephemeral"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"]
            == "200Gi"
        )


def tuning_args(args: list[str]) -> dict[str, str]:
    return {a: args[i + 1] for i, a in enumerate(args) if a in TUNING.values()}


def env_configmap(docs: list[dict]) -> dict:
    return next(d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-env"))[
        "data"
    ]


def test_defaults_pass_no_tuning(tools):
    """The chart restates none of the binary's defaults: unset values, no flag, no env."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert {k: values["ingest"][k] for k in TUNING} == dict.fromkeys(TUNING)
    assert values["ingest"]["logLevel"] == ""
    for name in ("ci-default", "ci-one-off-job"):
        docs = render(tools, *VALUES[name])
        for owner, spec in pod_specs(docs):
            assert tuning_args(ingest_container(spec)["args"]) == {}, (name, owner)
        env = env_configmap(docs)
        assert "RUST_LOG" not in env and "ATEDA_CATALOG_RETRY_SECS" not in env, name


def test_chart_tuning_table_is_the_tests():
    """The value -> flag table in _helpers.tpl is TUNING (and every ingest value is in it,
    besides extraArgs and logLevel)."""
    tpl = (CHART / "templates" / "_helpers.tpl").read_text()
    block = re.search(r'define "ateda.tuningFlags" -}}\n(.*?)\n{{- end }}', tpl, re.S)
    assert block and yaml.safe_load(block.group(1)) == TUNING
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values["ingest"]) == {*TUNING, "extraArgs", "logLevel"}


def test_every_tuning_value_is_a_flag_the_binary_accepts(tools):
    """Each tuning value set becomes its flag with that value; every flag the chart passes
    to `ateda ingest` is one the real binary accepts."""
    docs = render(tools, *VALUES["ci-tuning"], *ONE_OFF)
    wanted = yaml.safe_load((CHART / "ci" / "tuning-values.yaml").read_text())["ingest"]
    helptext = subprocess.run(
        [str(ateda_bin()), "ingest", "--help"], capture_output=True, text=True, check=True
    ).stdout
    accepted = set(re.findall(r"--[a-z][a-z0-9-]*", helptext))
    assert env_configmap(docs)["RUST_LOG"] == "debug"
    for owner, spec in pod_specs(docs):
        args = ingest_container(spec)["args"]
        assert tuning_args(args) == {TUNING[k]: str(wanted[k]) for k in TUNING}, owner
        flags = {a for a in args if a.startswith("--")}
        assert flags and flags <= accepted, flags - accepted


def test_cutout_layout_env(tools):
    """cutouts.layout renders as ATEDA_CUTOUT_LAYOUT (default per-stamp) and
    cutouts.packSize / packPartSize as ATEDA_PACK_SIZE / ATEDA_PACK_PART_SIZE (only when
    set, as exact integers), in the ConfigMap every ateda container (Job, CronJob, stream
    Deployment) reads."""
    for name in ("ci-default", "env-kind", "env-large"):
        env = env_configmap(render(tools, *VALUES[name]))
        assert env["ATEDA_CUTOUT_LAYOUT"] == "per-stamp", name
        assert "ATEDA_PACK_SIZE" not in env, name
        assert "ATEDA_PACK_PART_SIZE" not in env, name
    stream = [
        "--set",
        "stream.brokers=kafka:9092",
        "--set",
        "stream.deployments[0].name=ztf",
        "--set",
        "stream.deployments[0].topics[0]=ztf_public",
    ]
    docs = render(
        tools,
        *VALUES["ci-default"],
        *ONE_OFF,
        *stream,
        "--set",
        "cutouts.layout=packed",
        "--set",
        "cutouts.packSize=134217728",
        "--set",
        "cutouts.packPartSize=33554432",
    )
    env = env_configmap(docs)
    assert env["ATEDA_CUTOUT_LAYOUT"] == "packed"
    assert env["ATEDA_PACK_SIZE"] == "134217728"
    assert env["ATEDA_PACK_PART_SIZE"] == "33554432"
    owners = {owner.split("/")[0] for owner, _ in pod_specs(docs)}
    assert {"Job", "CronJob", "Deployment"} <= owners, owners
    for owner, spec in pod_specs(docs):
        for c in spec["containers"]:
            assert {"configMapRef": {"name": "ateda-env"}} in c["envFrom"], owner


def test_no_environment_values_inside_the_chart():
    """Environment values live in deploy/values/, the chart holds its defaults only."""
    assert [p.name for p in CHART.glob("values*.yaml")] == ["values.yaml"]
    for env in ENV_VALUES.values():
        assert Path(env[1]).is_file()


def test_readme_values_table():
    """charts/ateda/README.md lists every value with its default and meaning (regenerate
    with `python tests/deploy/chart_values_doc.py --write`)."""
    readme = (CHART / "README.md").read_text()
    assert readme == chart_values_doc.readme_with_table(readme)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert {k.split(".")[0] for k, _, _ in chart_values_doc.rows(values, _schema())} == set(values)


def _schema() -> dict:
    import json

    return json.loads((CHART / "values.schema.json").read_text())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "securityContext.readOnlyRootFilesystem=false"], "readOnlyRootFilesystem"),
        (["--set", "securityContext.runAsNonRoot=false"], "runAsNonRoot"),
        (["--set", "lakehouse.catalog=thrift://hms:9083"], "catalog"),
        (["--set", "source.type=ftp"], "source.type"),
        (["--set", "lakehouse.typo=1"], "typo"),
        (["--set", "ingest.workers=0"], "workers"),
        (["--set", "ingest.commitEvery=many"], "commitEvery"),
        (["--set", "cutouts.layout=zip"], "cutouts.layout"),
        (["--set", "cutouts.packSize=0"], "cutouts.packSize"),
        (["--set", "cutouts.packPartSize=1048576"], "cutouts.packPartSize"),
        (["--set", "job.enabled=true"], "job.night"),
        (["--set", "job.enabled=true", "--set", "job.night=2023-10-12"], "job.night"),
        (
            ["--set", "dagster.orchestrates=true", "--set", "cronjob.enabled=true"],
            "two orchestrators",
        ),
    ],
)
def test_bad_values_are_rejected(tools, args, message):
    proc = render(tools, *VALUES["ci-default"], *args, check=False)
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
