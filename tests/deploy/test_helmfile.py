"""helmfile.yaml: releases pinned and labelled, the local releases rendered offline for
both environments (remote charts need a download: skipped by label) and validated."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from deploylib import REPO, load_docs, pod_specs, validate_manifests

ENVIRONMENTS = ("kind", "large")
REMOTE_CHARTS = {
    "minio": "minio/minio",
    "postgresql": "bitnami/postgresql",
    "nessie": "nessie/nessie",
    "starrocks": "starrocks/kube-starrocks",
    "spark-operator": "spark-operator/spark-operator",
    "dagster": "dagster/dagster",
}
LOCAL_RELEASES = {"ateda-secrets", "ateda-platform", "ateda"}
METRICS = (
    "ateda_alerts_ingested_total",
    "ateda_alerts_quarantined_total",
    "ateda_bytes_read_total",
    "ateda_cutouts_written_total",
    "ateda_commit_duration_seconds",
)


def helmfile_docs() -> list[dict]:
    return [d for d in yaml.safe_load_all((REPO / "helmfile.yaml").read_text()) if d]


def releases() -> list[dict]:
    return [r for d in helmfile_docs() for r in d.get("releases", [])]


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def rendered(request, tools):
    env = request.param
    proc = tools.run(
        *tools.helmfile_cmd(env, "--selector", "chart-source=local", "template", "--skip-deps")
    )
    return env, load_docs(proc.stdout)


def test_releases_pinned_and_labelled():
    rel = {r["name"]: r for r in releases()}
    assert set(rel) == set(REMOTE_CHARTS) | LOCAL_RELEASES
    repos = {r["name"] for d in helmfile_docs() for r in d.get("repositories", [])}
    for name, chart in REMOTE_CHARTS.items():
        r = rel[name]
        assert r["chart"] == chart
        assert chart.split("/")[0] in repos
        assert re.fullmatch(r"\d+\.\d+\.\d+", str(r["version"])), f"{name}: pin an exact version"
        assert r["labels"]["chart-source"] == "remote"
    for name in LOCAL_RELEASES:
        assert rel[name]["chart"].startswith("./charts/")
        assert rel[name]["labels"]["chart-source"] == "local"
    for r in rel.values():
        assert r["namespace"] == "ateda"  # what `ateda status` checks
        for needed in r.get("needs", []):
            assert needed.split("/")[-1] in rel, f"{r['name']} needs unknown {needed}"
    envs = {e for d in helmfile_docs() for e in d.get("environments", {})}
    assert envs == set(ENVIRONMENTS)


def test_helmfile_lint_local(tools):
    for env in ENVIRONMENTS:
        proc = tools.run(
            *tools.helmfile_cmd(env, "--selector", "chart-source=local", "lint", "--skip-deps")
        )
        assert "0 chart(s) failed" in proc.stdout


def test_local_releases_validate(rendered):
    env, docs = rendered
    unchecked = set(validate_manifests(docs))
    allowed = {
        "sparkoperator.k8s.io/v1beta2/ScheduledSparkApplication",
        "monitoring.coreos.com/v1/PodMonitor",
    }
    assert unchecked <= allowed, unchecked
    for owner, spec in pod_specs(docs):
        for c in spec.get("initContainers", []) + spec["containers"]:
            assert c["securityContext"]["runAsNonRoot"] is True, (env, owner, c["name"])
            assert c["securityContext"]["readOnlyRootFilesystem"] is True, (env, owner, c["name"])


def test_secrets_by_environment(rendered):
    env, docs = rendered
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    if env == "kind":
        assert set(secrets) == {"ateda-s3", "nessie-s3", "nessie-jdbc", "ateda-starrocks"}
        s3 = secrets["ateda-s3"]["stringData"]
        assert s3["AWS_ACCESS_KEY_ID"] == secrets["nessie-s3"]["stringData"]["awsAccessKeyId"]
    else:
        assert not secrets  # pre-created in the large environment


def render_without_dagster(tools, env: str) -> list[dict]:
    """The local releases of an environment that does not deploy Dagster."""
    proc = tools.run(
        *tools.helmfile_cmd(
            env,
            "--state-values-set",
            "dagster.enabled=false",
            "--selector",
            "chart-source=local",
            "template",
            "--skip-deps",
        )
    )
    return load_docs(proc.stdout)


def enabled_releases(tools, env: str, *extra: str) -> dict[str, bool]:
    """Release name -> enabled, from `helmfile list` (offline: --skip-charts)."""
    proc = tools.run(*tools.helmfile_cmd(env, *extra, "list", "--skip-charts"))
    lines = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    header = lines[0]
    col = header.index("ENABLED")
    return {row[0]: row[col] == "true" for row in lines[1:]}


def test_one_orchestrator_per_night_with_dagster(rendered, tools):
    """Where the release set deploys Dagster (both environments; `large` is production),
    Dagster's landing sensor ingests the nights: the ateda release renders no CronJob."""
    env, docs = rendered
    assert enabled_releases(tools, env)["dagster"] is True
    ateda = [
        d
        for d in docs
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/instance") == "ateda"
    ]
    assert ateda, "the ateda release rendered nothing"
    assert not [d for d in docs if d["kind"] == "CronJob"], env


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cronjob_ingests_without_dagster(tools, env):
    """dagster.enabled: false in the environment: no Dagster release, and the chart's
    CronJob is the one orchestrator."""
    assert (
        enabled_releases(tools, env, "--state-values-set", "dagster.enabled=false")["dagster"]
        is False
    )
    docs = render_without_dagster(tools, env)
    (cron,) = [d for d in docs if d["kind"] == "CronJob"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["suspend"] is (env == "kind")  # Kind: started by hand


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_ateda_release_uses_environment_values(tools, env):
    docs = render_without_dagster(tools, env)
    cron = next(d for d in docs if d["kind"] == "CronJob")
    ingest = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert ingest["image"] == (
        "ateda:dev" if env == "kind" else "registry.example.org/ateda/ateda:0.1.0"
    )
    # The environment's own tuning only (deploy/values/ateda-<env>.yaml); the rest is the
    # binary's defaults, passed as no flag.
    args = ingest["args"]
    workers, uploads = {"kind": ("2", "32"), "large": ("8", "128")}[env]
    assert args[args.index("--workers") + 1] == workers
    assert args[args.index("--uploads") + 1] == uploads
    assert not {"--commit-every", "--chunk", "--catalog-retry-secs"} & set(args)


def written_values(tools, tmp_path, env: str, release: str) -> dict:
    """A release's values as helmfile renders them (offline: no chart download)."""
    tools.run(
        *tools.helmfile_cmd(
            env,
            "--selector",
            f"name={release}",
            "write-values",
            "--skip-deps",
            "--output-file-template",
            str(tmp_path / "{{ .Release.Name }}.yaml"),
        )
    )
    return yaml.safe_load((tmp_path / f"{release}.yaml").read_text())


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_starrocks_catalog_name_is_one_value(tools, tmp_path, env):
    """The StarRocks catalog ateda-platform creates is the one Dagster hands to dbt
    (ATEDA_STARROCKS_CATALOG, read by ateda_dagster.settings): both from the environment's
    starrocks.icebergCatalog."""
    wanted = yaml.safe_load((REPO / "deploy" / "env" / f"{env}.yaml").read_text())["starrocks"][
        "icebergCatalog"
    ]
    platform = written_values(tools, tmp_path, env, "ateda-platform")
    assert platform["starrocksCatalog"]["catalogName"] == wanted
    dagster = written_values(tools, tmp_path, env, "dagster")
    (location,) = dagster["dagster-user-deployments"]["deployments"]
    dagster_env = {e["name"]: e.get("value") for e in location["env"]}
    assert dagster_env["ATEDA_STARROCKS_CATALOG"] == wanted
    assert dagster_env["ATEDA_CATALOG"] == platform["endpoints"]["nessieIcebergUri"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cutout_layout_is_one_value(tools, tmp_path, env):
    """The environment's cutouts.layout/packSize reach both ingest paths: the ateda
    release's values (ConfigMap ATEDA_CUTOUT_LAYOUT) and Dagster's run environment (its
    landing sensor ingests the nights)."""
    wanted = yaml.safe_load((REPO / "deploy" / "env" / f"{env}.yaml").read_text())["cutouts"]
    assert wanted == {"layout": "per-stamp", "packSize": None}
    ateda = written_values(tools, tmp_path, env, "ateda")
    assert ateda["cutouts"] == {"layout": "per-stamp"}
    dagster = written_values(tools, tmp_path, env, "dagster")
    (location,) = dagster["dagster-user-deployments"]["deployments"]
    dagster_env = {e["name"]: e.get("value") for e in location["env"]}
    assert dagster_env["ATEDA_CUTOUT_LAYOUT"] == "per-stamp"
    assert "ATEDA_PACK_SIZE" not in dagster_env

    # set for the environment: both get it, the pack size as an exact integer
    packed = [
        "--state-values-set",
        "cutouts.layout=packed",
        "--state-values-set",
        "cutouts.packSize=134217728",
    ]
    out = tmp_path / "packed"
    tools.run(
        *tools.helmfile_cmd(
            env,
            *packed,
            "--selector",
            "name=ateda",
            "--selector",
            "name=dagster",
            "write-values",
            "--skip-deps",
            "--output-file-template",
            str(out / "{{ .Release.Name }}.yaml"),
        )
    )
    ateda = yaml.safe_load((out / "ateda.yaml").read_text())
    assert ateda["cutouts"] == {"layout": "packed", "packSize": 134217728}
    (location,) = yaml.safe_load((out / "dagster.yaml").read_text())["dagster-user-deployments"][
        "deployments"
    ]
    dagster_env = {e["name"]: e.get("value") for e in location["env"]}
    assert dagster_env["ATEDA_CUTOUT_LAYOUT"] == "packed"
    assert dagster_env["ATEDA_PACK_SIZE"] == "134217728"


def test_starrocks_catalog_job(rendered):
    _, docs = rendered
    job = next(
        d
        for d in docs
        if d["kind"] == "Job" and d["metadata"]["name"].endswith("starrocks-catalog")
    )
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    c = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["ICEBERG_URI"] == "http://nessie:19120/iceberg"
    assert env["S3_ENDPOINT"] == "http://minio:9000"
    assert env["CATALOG"] == "iceberg_catalog"
    assert env["FE_HOST"] == "kube-starrocks-fe-service"
    assert {"secretRef": {"name": "ateda-s3"}} in c["envFrom"]
    script = next(
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("starrocks-catalog")
    )["data"]["starrocks-catalog.sh"]
    for needle in (
        '"iceberg.catalog.type" = "rest"',
        "CREATE EXTERNAL CATALOG",
        "aws.s3.enable_path_style_access",
    ):
        assert needle in script


def test_spark_maintenance(rendered):
    _, docs = rendered
    app = next(d for d in docs if d["kind"] == "ScheduledSparkApplication")
    assert app["apiVersion"] == "sparkoperator.k8s.io/v1beta2"
    tpl = app["spec"]["template"]
    assert tpl["type"] == "Python" and tpl["mainApplicationFile"].endswith(
        "/iceberg_maintenance.py"
    )
    conf = tpl["sparkConf"]
    assert conf["spark.sql.catalog.ateda.type"] == "rest"
    assert conf["spark.sql.catalog.ateda.uri"] == "http://nessie:19120/iceberg"
    assert conf["spark.sql.extensions"].endswith("IcebergSparkSessionExtensions")
    assert any(
        p.startswith("org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:")
        for p in tpl["deps"]["packages"]
    )
    for role in ("driver", "executor"):
        mounts = tpl[role]["volumeMounts"]
        assert mounts == [{"name": "maintenance-script", "mountPath": "/opt/ateda/maintenance"}]
    cm = next(
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("iceberg-maintenance")
    )
    script = (REPO / "deploy" / "spark" / "iceberg_maintenance.py").read_text()
    assert cm["data"]["iceberg_maintenance.py"] == script


def test_monitoring_configmaps(rendered):
    _, docs = rendered
    cms = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    dash = cms["ateda-platform-grafana-dashboard"]
    assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dash["data"]["ateda-ingest.json"]) == json.loads(
        (REPO / "deploy" / "monitoring" / "grafana-dashboard-ateda.json").read_text()
    )
    scrape = yaml.safe_load(cms["ateda-platform-prometheus-scrape"]["data"]["ateda-scrape.yaml"])
    assert scrape["scrape_configs"][0]["job_name"] == "ateda-ingest"


def test_dashboard_covers_metrics():
    dash = json.loads((REPO / "deploy" / "monitoring" / "grafana-dashboard-ateda.json").read_text())
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
    for metric in METRICS:
        assert metric in exprs, metric
    assert "histogram_quantile" in exprs and "ateda_commit_duration_seconds_bucket" in exprs
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))


def test_platform_chart_lint_and_schema(tools):
    chart = REPO / "charts" / "ateda-platform"
    everything = [
        "--set",
        "secrets.create=true,secrets.s3AccessKeyId=k,secrets.s3SecretAccessKey=s,secrets.nessieJdbcPassword=p",
        "--set",
        "starrocksCatalog.enabled=true,maintenance.enabled=true,monitoring.enabled=true",
        "--set",
        "maintenance.script=print,monitoring.dashboard=x,monitoring.scrapeConfig=x",
    ]
    proc = tools.run(tools.helm, "lint", "--strict", chart, *everything)
    assert "0 chart(s) failed" in proc.stdout
    bad = tools.run(
        tools.helm,
        "template",
        "p",
        chart,
        *everything,
        "--set",
        "securityContext.readOnlyRootFilesystem=false",
        check=False,
    )
    assert bad.returncode != 0 and "readOnlyRootFilesystem" in bad.stderr
