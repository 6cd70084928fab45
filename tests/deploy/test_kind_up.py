"""scripts/kind-up.sh (issue 19): no Docker, Kind or cluster here, so every step it takes is
covered by what can run: the script's own shellcheck (and the other shell scripts of the
cluster path), its --dry-run (the commands, parsed and checked against the files they
depend on: the Kind config, Dockerfiles, environment values, chart values, the real
`ateda` CLI, the Kubernetes schema of the upload pod, StarRocks SQL parsed by sqlglot), and
the message naming missing prerequisites."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlglot
import yaml
from deploylib import REPO, validate_manifests

from ateda_testlib import ateda_bin

SCRIPT = REPO / "scripts" / "kind-up.sh"
CACHE = Path(
    os.environ.get("ATEDA_SHELLCHECK_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ateda" / "shellcheck"
)
# Debian bookworm's shellcheck (apt-get download + dpkg -x, as scripts/nginx.sh does).
SHELLCHECK_DEB = "shellcheck"
SHELL_SCRIPTS = [
    "scripts/kind-up.sh",
    "scripts/spark-env.sh",
    "charts/ateda/files/run.sh",
    "charts/ateda-platform/files/starrocks-catalog.sh",
]


def shellcheck() -> Path:
    found = shutil.which("shellcheck")
    if found:
        return Path(found)
    binary = CACHE / "root" / "usr" / "bin" / "shellcheck"
    if not binary.exists():
        work = CACHE / f"work.{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        proc = subprocess.run(
            ["apt-get", "download", "-o", "APT::Sandbox::User=root", SHELLCHECK_DEB],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        (deb,) = work.glob("shellcheck_*.deb")
        subprocess.run(["dpkg", "-x", str(deb), str(work / "root")], check=True, timeout=120)
        shutil.rmtree(CACHE / "root", ignore_errors=True)
        (work / "root").rename(CACHE / "root")
        shutil.rmtree(work)
    return binary


def test_shell_scripts_are_shellcheck_clean():
    tool = shellcheck()
    version = subprocess.run([tool, "--version"], capture_output=True, text=True, check=True)
    assert "version:" in version.stdout
    proc = subprocess.run(
        [str(tool), "--severity=style", *SHELL_SCRIPTS],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout


def kind_up(*args: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("ATEDA_BIN", None)  # the script's default CLI path, as a user runs it
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def commands(stdout: str) -> list[list[str]]:
    """The `+ ` lines of the output, split as the shell would (comments dropped)."""
    out = []
    for line in stdout.splitlines():
        if line.startswith("+ "):
            out.append(shlex.split(line[2:].split("   # ")[0].replace(" < ", " <STDIN> ")))
    return out


@pytest.fixture(scope="module")
def dry_run() -> list[list[str]]:
    proc = kind_up("--dry-run", "--night", "20231013", "--alerts", "300")
    assert proc.returncode == 0, proc.stderr
    assert "==> 8. URLs" in proc.stdout
    return commands(proc.stdout)


def find(cmds: list[list[str]], *head: str) -> list[list[str]]:
    return [c for c in cmds if c[: len(head)] == list(head)]


def test_dry_run_steps_in_order(dry_run):
    heads = [" ".join(c[:3]) for c in dry_run]
    order = [
        "kind create cluster",
        "kubectl config use-context",
        "docker build -f",
        "docker build -f",
        "kind load docker-image",
        "cargo build --release",
        "helmfile -e kind",
        "target/release/ateda status --namespace",
        "target/release/ateda status --namespace",
        "rm -rf /tmp/ateda-kind-up",
        "target/release/ateda gen --n",
        "kubectl -n ateda",
        "kubectl -n ateda",
        "kubectl -n ateda",
    ]
    assert [h for h in heads if not h.startswith("rm -rf")] == [
        o for o in order if not o.startswith("rm -rf")
    ], heads


def test_cluster_and_images_match_the_deploy_files(dry_run):
    kind = yaml.safe_load((REPO / "deploy" / "kind.yaml").read_text())
    (create,) = find(dry_run, "kind", "create", "cluster")
    assert create[create.index("--config") + 1] == "deploy/kind.yaml"
    (ctx,) = find(dry_run, "kubectl", "config", "use-context")
    assert ctx[-1] == f"kind-{kind['name']}"
    ateda_values = yaml.safe_load((REPO / "deploy" / "values" / "ateda-kind.yaml").read_text())
    env = yaml.safe_load((REPO / "deploy" / "env" / "kind.yaml").read_text())
    wanted = {
        "docker/ateda.Dockerfile": f"{ateda_values['image']['repository']}:{ateda_values['image']['tag']}",
        "docker/dagster.Dockerfile": f"{env['dagster']['image']['repository']}:{env['dagster']['image']['tag']}",
    }
    builds = find(dry_run, "docker", "build")
    assert {b[b.index("-f") + 1]: b[b.index("-t") + 1] for b in builds} == wanted
    for dockerfile in wanted:
        assert (REPO / dockerfile).is_file()
    (load,) = find(dry_run, "kind", "load", "docker-image")
    assert load[3:5] == list(wanted.values()) and load[load.index("--name") + 1] == kind["name"]
    # the Kind values never pull these images: the loaded ones are used
    assert ateda_values["image"]["pullPolicy"] == env["dagster"]["image"]["pullPolicy"] == "Never"
    (apply,) = find(dry_run, "helmfile")
    assert apply == ["helmfile", "-e", "kind", "apply"]


def test_ateda_commands_are_the_real_cli(dry_run):
    """`ateda status` and `ateda gen` with flags the real binary lists."""
    for sub in ("status", "gen"):
        used = [c for c in find(dry_run, "target/release/ateda", sub)]
        assert used, sub
        helptext = subprocess.run(
            [str(ateda_bin()), sub, "--help"], capture_output=True, text=True, check=True
        ).stdout
        for cmd in used:
            for flag in (a for a in cmd if a.startswith("--")):
                assert flag in helptext, (sub, flag)
    (gen,) = find(dry_run, "target/release/ateda", "gen")
    assert gen[gen.index("--night") + 1] == "20231013" and gen[gen.index("--n") + 1] == "300"


def test_upload_pod_is_valid_and_lands_where_dagster_looks(dry_run):
    (upload,) = [c for c in find(dry_run, "kubectl", "-n", "ateda", "run")]
    assert upload[-2:] == ["<STDIN>", "/tmp/ateda-kind-up/ztf_public_20231013.tar.gz"]
    overrides = json.loads(upload[upload.index("--overrides") + 1])
    name = upload[4]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, **overrides}
    pod["spec"]["restartPolicy"] = "Never"
    validate_manifests([pod])
    (c,) = pod["spec"]["containers"]
    assert c["name"] == name  # kubectl run merges the override into the container of that name
    chart = yaml.safe_load((REPO / "charts" / "ateda" / "values.yaml").read_text())
    fetch = chart["source"]["s3"]["fetchImage"]
    assert (
        c["image"] == upload[upload.index("--image") + 1] == f"{fetch['repository']}:{fetch['tag']}"
    )
    ateda_values = yaml.safe_load((REPO / "deploy" / "values" / "ateda-kind.yaml").read_text())
    assert c["envFrom"] == [{"secretRef": {"name": ateda_values["s3"]["existingSecret"]}}]
    assert c["args"][:4] == ["s3", "cp", "-", "s3://landing/ztf_public_20231013.tar.gz"]
    assert c["args"][c["args"].index("--endpoint-url") + 1] == ateda_values["s3"]["endpoint"]
    dagster = (REPO / "deploy" / "values" / "dagster.yaml.gotmpl").read_text()
    assert "name: ATEDA_LANDING\n          value: s3://landing" in dagster


def test_starrocks_queries(dry_run):
    queries = find(dry_run, "kubectl", "-n", "ateda", "exec")
    assert len(queries) == 2
    platform = (REPO / "deploy" / "values" / "ateda-platform.yaml.gotmpl").read_text()
    fe_service = re.search(r"starrocksFeHost: (\S+)", platform).group(1)
    env = yaml.safe_load((REPO / "deploy" / "env" / "kind.yaml").read_text())
    for q in queries:
        target = q[4]
        assert target.startswith("statefulset/") and fe_service == f"{target.split('/')[1]}-service"
        sql = q[q.index("-e") + 1]
        for statement in sqlglot.parse(sql, read="starrocks"):
            if statement is not None:
                assert isinstance(statement, sqlglot.exp.Query), statement
        assert "night = '2023-10-13'" in sql
    assert f"{env['starrocks']['icebergCatalog']}.bronze.alerts" in queries[1][-1]
    assert "gold.nightly_stats" in queries[0][-1]


def test_urls_are_the_kind_ports():
    proc = kind_up("--dry-run")
    urls = proc.stdout.split("==> 8. URLs", 1)[1]
    kind = yaml.safe_load((REPO / "deploy" / "kind.yaml").read_text())
    ports = {m["hostPort"] for m in kind["nodes"][0]["extraPortMappings"]}
    shown = {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)\b", urls)}
    shown |= {int(p) for p in re.findall(r"-P (\d+)", urls)}
    assert ports <= shown
    assert "kind delete cluster --name ateda" in urls


def test_missing_prerequisites_are_named(tmp_path):
    """Without the tools the script stops before doing anything (exit 2) and names each."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "sed", "grep", "cat", "date", "rm", "bash"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    proc = kind_up(path=str(bin_dir))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    for tool in ("docker", "kind", "kubectl", "helm", "helmfile", "cargo"):
        assert f"  - {tool}: " in proc.stderr, tool
    assert "+ " not in proc.stdout  # nothing was run


@pytest.mark.parametrize(
    ("args", "code"), [(["--night", "2023-10-13"], 64), (["--bogus"], 64), (["--help"], 0)]
)
def test_arguments(args, code):
    proc = kind_up(*args)
    assert proc.returncode == code, proc.stderr
    if code == 0:
        assert "--dry-run" in proc.stdout and "From zero" in proc.stdout


# --- the real (not dry) control flow, with recording stand-ins for the cluster CLIs ----

STAND_IN = """#!/bin/sh
# records its argv (and the size of its standard input for `kubectl run -i`) and answers
# like the real CLI would on a healthy cluster
log="$KIND_UP_LOG"
printf '%s' "$(basename "$0")" >>"$log"
for a in "$@"; do printf ' [%s]' "$a" >>"$log"; done
case "$(basename "$0") $*" in
  "kubectl "*" run "*) printf ' stdin=%s' "$(wc -c | tr -d ' ')" >>"$log" ;;
esac
printf '\\n' >>"$log"
case "$(basename "$0") $*" in
  "helm plugin list"*) echo "diff  3.9.11  Preview helm upgrade changes as a diff" ;;
  "kind get clusters"*) : ;;
  *"SELECT count(*) FROM gold.nightly_stats"*)
    n=$(cat "$KIND_UP_LOG.polls" 2>/dev/null || echo 0); echo $((n + 1)) >"$KIND_UP_LOG.polls"
    if [ "$n" -ge 1 ]; then echo 11; else echo 0; fi ;;
  "ateda status"*)
    n=$(cat "$KIND_UP_LOG.status" 2>/dev/null || echo 0); echo $((n + 1)) >"$KIND_UP_LOG.status"
    [ "$n" -ge 1 ] || { echo "minio: not ready"; exit 3; } ;;
  "ateda gen"*) exec "$REAL_ATEDA" "$@" ;;
esac
exit 0
"""


def test_real_run_with_stand_ins(tmp_path):
    """Without --dry-run, with the cluster CLIs replaced by recording stand-ins (none can
    run here): every step runs in order, the waits poll until the stand-ins say ready (a
    not-ready `ateda status` and an empty gold are retried), the real `ateda gen` tarball is
    piped whole into the upload pod, and the URLs come last."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("docker", "kind", "kubectl", "helm", "helmfile", "cargo", "ateda"):
        (bin_dir / tool).write_text(STAND_IN)
        (bin_dir / tool).chmod(0o755)
    log = tmp_path / "calls.log"
    env = dict(
        os.environ,
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        KIND_UP_LOG=str(log),
        REAL_ATEDA=str(ateda_bin()),
        ATEDA_BIN=str(bin_dir / "ateda"),
        ATEDA_POLL_SECONDS="0",
        ATEDA_UP_TIMEOUT="60",
        TMPDIR=str(tmp_path),
    )
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--night", "20231013", "--alerts", "12"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    calls = log.read_text().splitlines()
    heads = [c.split(" [")[0] + " " + " ".join(re.findall(r"\[([^]]*)\]", c)[:2]) for c in calls]
    expected = [
        "helm plugin list",
        "kind get clusters",
        "kind create cluster",
        "kubectl config use-context",
        "docker build -f",
        "docker build -f",
        "kind load docker-image",
        "cargo build --release",
        "helmfile -e kind",
        "ateda status --namespace",  # not ready: retried
        "ateda status --namespace",
        "ateda status --namespace",
        "ateda gen --n",
        "kubectl -n ateda",  # upload
        "kubectl -n ateda",  # gold empty: retried
        "kubectl -n ateda",
        "kubectl -n ateda",  # the query
    ]
    assert [h for h in heads if not h.startswith("docker info")] == expected, heads
    tarball = tmp_path / "ateda-kind-up" / "ztf_public_20231013.tar.gz"
    upload = next(c for c in calls if "[run]" in c)
    assert f"stdin={tarball.stat().st_size}" in upload
    assert tarball.stat().st_size > 12 * 10_000  # 12 real-sized alerts
    assert "SELECT night, count(*)" in calls[-1]
    assert proc.stdout.rstrip().endswith("kind delete cluster --name ateda")
