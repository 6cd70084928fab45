"""deploy/ and docker/: Kind config, NodePorts, the Iceberg maintenance script, the
Dockerfiles and the CLIs fetched for these checks."""

from __future__ import annotations

import importlib.util
import re

import yaml
from deploylib import REPO

KIND = REPO / "deploy" / "kind.yaml"
MAINTENANCE = REPO / "deploy" / "spark" / "iceberg_maintenance.py"


def test_tools_run(tools):
    assert "v3.15" in tools.run(tools.helm, "version", "--short").stdout
    assert "0.166" in tools.run(tools.helmfile, "--version").stdout
    assert "v1.35" in tools.run(tools.kubectl, "version", "--client").stdout
    assert "v4." in tools.run(tools.helm4, "version", "--short").stdout


def test_kind_config_publishes_the_nodeports():
    cfg = yaml.safe_load(KIND.read_text())
    assert cfg["kind"] == "Cluster" and cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    (node,) = cfg["nodes"]
    assert re.fullmatch(r"kindest/node:v1\.\d+\.\d+", node["image"])
    mapped = {m["containerPort"]: m["hostPort"] for m in node["extraPortMappings"]}
    assert all(m["listenAddress"] == "127.0.0.1" for m in node["extraPortMappings"])
    assert mapped == {30900: 9000, 30901: 9001, 30930: 9030, 30830: 8030}
    # Every mapped NodePort is one a release sets in the kind environment.
    values = "".join(p.read_text() for p in (REPO / "deploy" / "values").glob("*.gotmpl"))
    node_ports = {int(p) for p in re.findall(r"nodePort: (\d+)", values)}
    assert node_ports == set(mapped)


def load_maintenance():
    spec = importlib.util.spec_from_file_location("iceberg_maintenance", MAINTENANCE)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_maintenance_statements():
    mod = load_maintenance()
    import datetime as dt

    args = mod.parse_args(["--recent-nights", "7", "--retain-last", "5"])
    todo = mod.statements(args, dt.datetime(2023, 10, 20))
    assert len(todo) == 16  # 4 procedures x 4 tables
    alerts = [s for s in todo if "'bronze.alerts'" in s]
    assert [s.split("(")[0] for s in alerts] == [
        "CALL ateda.system.rewrite_data_files",
        "CALL ateda.system.rewrite_manifests",
        "CALL ateda.system.expire_snapshots",
        "CALL ateda.system.remove_orphan_files",
    ]
    assert "night >= DATE '2023-10-13'" in alerts[0]
    assert "'target-file-size-bytes', '536870912'" in alerts[0]
    assert "older_than => TIMESTAMP '2023-10-13 00:00:00', retain_last => 5" in alerts[2]
    assert "older_than => TIMESTAMP '2023-10-17 00:00:00'" in alerts[3]
    lsst = [s for s in todo if "'bronze.lsst_alerts'" in s]
    assert "night >= DATE '2023-10-13'" in lsst[0]
    ledger = [s for s in todo if "'bronze.ingest_ledger'" in s]
    assert "where =>" not in ledger[0]


def test_maintenance_dry_run(capsys):
    mod = load_maintenance()
    assert mod.main(["--dry-run", "--now", "2023-10-20T00:00:00", "--tables", "alerts"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and all(line.startswith("CALL ateda.system.") for line in out)


def test_ateda_dockerfile():
    text = (REPO / "docker" / "ateda.Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\S+)", text, re.M)
    assert stages[0][0].startswith("rust:1.95") and stages[1][0] in ("debian:bookworm-slim",)
    assert "cargo build --release --locked -p ateda-cli" in text
    assert "COPY --from=build /out/ateda /usr/local/bin/ateda" in text
    # Runs as the non-root uid/gid the chart's pod security context uses.
    chart = yaml.safe_load((REPO / "charts" / "ateda" / "values.yaml").read_text())
    uid, gid = chart["podSecurityContext"]["runAsUser"], chart["podSecurityContext"]["runAsGroup"]
    assert re.search(rf"^USER {uid}:{gid}$", text, re.M)
    ignore = (REPO / "docker" / "ateda.Dockerfile.dockerignore").read_text().split()
    assert ignore[ignore.index("*") :][:4] == ["*", "!Cargo.toml", "!Cargo.lock", "!crates/"]


def test_dagster_dockerfile():
    text = (REPO / "docker" / "dagster.Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", text, re.M)
    # The bronze asset runs `ateda ingest`: the binary comes from the ateda image.
    assert re.search(r"^FROM \$\{ATEDA_IMAGE\} AS ateda$", text, re.M)
    assert "COPY --from=ateda /usr/local/bin/ateda /usr/local/bin/ateda" in text
    assert "ENV ATEDA_BIN=/usr/local/bin/ateda" in text
    assert (
        "COPY dagster/requirements.txt" in text and "pip install -r /tmp/requirements.txt" in text
    )
    assert "COPY dbt /opt/ateda/dbt" in text
    # the manifest is prepared by dagster-dbt's own command, for the StarRocks target
    assert re.search(
        r"ATEDA_DBT_TARGET=starrocks dagster-dbt project prepare-and-package \\\n"
        r"\s+--file /opt/ateda/dagster/ateda_dagster/dbt_project.py",
        text,
    )
    assert re.search(r"^USER 10001", text, re.M)
    # dbt-starrocks comes from the pinned requirements the image installs.
    reqs = (REPO / "dagster" / "requirements.txt").read_text()
    assert re.search(r"^dbt-starrocks==", reqs, re.M)
    # The code location the Helm release runs matches the image's default command.
    dagster_values = (REPO / "deploy" / "values" / "dagster.yaml.gotmpl").read_text()
    module = re.search(r'"--module-name"\n\s+- "([\w.]+)"', dagster_values).group(1)
    assert f'"--module-name", "{module}"' in text
