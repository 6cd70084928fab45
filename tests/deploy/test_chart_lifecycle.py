"""charts/ateda as users run it again and again (`helmfile apply` after a values change),
the `ateda stream` Deployments (issue 16) and the archive source (issue 18).

The upgrade defect (issue 19): a Job's pod template is immutable, so a one-off Job whose
spec changes under the same name makes `helm upgrade` fail with "spec.template: field is
immutable". The chart names the Job by a hash of its spec; the invariant checked here over
many value sets is the one the API server enforces: two renders with the same Job name have
the same Job spec (so an upgrade never changes a Job in place), and every change of the
spec gives another name (Helm deletes the old Job and creates the new one)."""

from __future__ import annotations

import itertools
import re
import subprocess

import pytest
import yaml
from deploylib import REPO, load_docs, validate_manifests

from ateda_testlib import ateda_bin

CHART = REPO / "charts" / "ateda"
CI = {p.name.removesuffix("-values.yaml"): p for p in CHART.glob("ci/*-values.yaml")}
KIND = ["-f", str(REPO / "deploy" / "values" / "ateda-kind.yaml")]
ONE_OFF = ["--set", "job.enabled=true", "--set", "job.night=20231012"]
# The `ateda stream` CLI as specified in issue 16 (flags with no environment equivalent).
STREAM_FLAGS = {"--from", "--commit-every", "--kafka-option", "--metrics-addr"}
STREAM_ENV = {
    "ATEDA_KAFKA_BROKERS",
    "ATEDA_KAFKA_TOPICS",
    "ATEDA_KAFKA_TOPIC_PATTERN",
    "ATEDA_KAFKA_GROUP",
    "ATEDA_COMMIT_INTERVAL",
    "ATEDA_INSTANCE_ID",
}


def render(tools, *args, check: bool = True):
    proc = tools.run(
        tools.helm, "template", "ateda", CHART, "--namespace", "ateda", *args, check=check
    )
    return load_docs(proc.stdout) if check else proc


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


# --- the one-off Job's identity across upgrades ---------------------------------------

# Value sets a user moves between with `helmfile apply` / `helm upgrade`: the first is the
# Kind environment with a one-off Job; each other changes one thing.
UPGRADES = {
    "kind": [],
    "kind-again": [],  # the same values again: nothing may change, nothing re-runs
    "memory-limit": ["--set", "resources.limits.memory=3Gi"],
    "image-tag": ["--set", "image.tag=dev2"],
    "workers": ["--set", "ingest.workers=4"],
    "catalog": ["--set", "lakehouse.catalog=http://nessie-2:19120/iceberg"],  # ConfigMap only
    "run-id": ["--set", "job.runId=2"],
    "other-night": ["--set", "job.night=20231013"],
    "schedule": ["--set", "cronjob.schedule=0 15 * * *"],  # not the Job's business
    "archive": ["--set", "source.type=archive"],
}


@pytest.fixture(scope="module")
def upgrade_renders(tools) -> dict[str, list[dict]]:
    return {name: render(tools, *KIND, *ONE_OFF, *args) for name, args in UPGRADES.items()}


def one_off(docs: list[dict]) -> dict:
    (job,) = of_kind(docs, "Job")
    return job


def test_job_name_carries_spec_hash(upgrade_renders):
    for name, docs in upgrade_renders.items():
        job = one_off(docs)
        meta = job["metadata"]
        night = meta["labels"]["ateda.io/night"]
        run_id = meta["labels"]["ateda.io/run-id"]
        spec_hash = meta["annotations"]["ateda.io/spec-hash"]
        assert re.fullmatch(r"[0-9a-f]{8}", spec_hash), name
        assert meta["name"] == f"ateda-ingest-{night}-{run_id}-{spec_hash}", name


def test_same_name_means_same_spec(upgrade_renders):
    """What makes `helm upgrade` fail is a Job changed in place: over every pair of value
    sets, equal names have equal specs (and so different specs have different names; only
    job.runId changes the name alone, to run the same spec again)."""
    jobs = {name: one_off(docs) for name, docs in upgrade_renders.items()}
    pairs = 0
    for (a, ja), (b, jb) in itertools.combinations(jobs.items(), 2):
        if ja["metadata"]["name"] == jb["metadata"]["name"]:
            assert ja["spec"] == jb["spec"], (a, b)
            pairs += 1
        elif ja["spec"] == jb["spec"]:
            assert {a, b} & {"run-id"}, (a, b)
    assert pairs == 3  # kind, kind-again, schedule


def test_which_changes_replace_the_job(upgrade_renders):
    name = {k: one_off(docs)["metadata"]["name"] for k, docs in upgrade_renders.items()}
    # unchanged values, or values outside the Job: the same Job, nothing runs again
    assert name["kind-again"] == name["kind"]
    assert name["schedule"] == name["kind"]
    # anything in the Job's spec (resources, image, flags, the ConfigMap it reads through
    # its checksum annotation, run id, night, source): a new Job
    for changed in ("memory-limit", "image-tag", "workers", "catalog", "run-id", "archive"):
        assert name[changed] != name["kind"], changed
    assert name["other-night"].startswith("ateda-ingest-20231013-1-")
    # the CronJob (mutable) keeps its name; with Dagster on Kind there is none: check the
    # chart alone
    for docs in upgrade_renders.values():
        assert [d["metadata"]["name"] for d in of_kind(docs, "CronJob")] in ([], ["ateda-ingest"])


def test_job_name_fits_with_long_release_names(tools):
    docs = render(tools, *ONE_OFF, "--set", f"fullnameOverride={'x' * 60}", *KIND)
    job = one_off(docs)["metadata"]
    assert len(job["name"]) <= 63
    assert job["name"].endswith("-" + job["annotations"]["ateda.io/spec-hash"])
    validate_manifests(docs)


def test_job_is_not_a_hook(upgrade_renders):
    """A hook Job would re-run the night on every upgrade and hold `helmfile apply` until it
    ends: the one-off Job is a plain release resource."""
    for docs in upgrade_renders.values():
        assert "helm.sh/hook" not in one_off(docs)["metadata"].get("annotations", {})


# --- `ateda stream` Deployments (issue 16) ---------------------------------------------


@pytest.fixture(scope="module")
def stream_docs(tools) -> list[dict]:
    return render(tools, "-f", str(CI["stream"]))


def deployments(docs: list[dict]) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in of_kind(docs, "Deployment")}


def env_of(container: dict) -> dict[str, dict | str]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def flag_values(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_no_stream_by_default(tools):
    for args in ([], KIND, ["-f", str(CI["default"])]):
        docs = render(tools, *args) if args else render(tools, "-f", str(CI["default"]))
        assert not of_kind(docs, "Deployment")
        assert "ateda-stream-metrics" not in {d["metadata"]["name"] for d in docs}


def test_stream_deployments(stream_docs):
    deps = deployments(stream_docs)
    assert set(deps) == {"ateda-stream-ztf", "ateda-stream-lsst"}
    ztf, lsst = deps["ateda-stream-ztf"], deps["ateda-stream-lsst"]
    assert ztf["spec"]["replicas"] == 2 and lsst["spec"]["replicas"] == 1
    for name, dep in deps.items():
        spec = dep["spec"]
        labels = spec["selector"]["matchLabels"]
        assert labels["app.kubernetes.io/component"] == "stream"
        assert labels.items() <= spec["template"]["metadata"]["labels"].items()
        pod = spec["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] == 60
        (c,) = pod["containers"]
        assert c["command"] == ["ateda", "stream"]
        env = env_of(c)
        assert STREAM_ENV - {"ATEDA_KAFKA_TOPICS", "ATEDA_KAFKA_TOPIC_PATTERN"} <= set(env)
        assert env["ATEDA_KAFKA_BROKERS"] == "kafka-0.kafka:9092,kafka-1.kafka:9092"
        assert env["ATEDA_INSTANCE_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        assert env["AWS_SECRET_ACCESS_KEY"]["secretKeyRef"]["name"] == "ateda-s3"
        assert c["envFrom"] == [{"configMapRef": {"name": "ateda-env"}}]  # ATEDA_CATALOG, ...
        assert c["ports"] == [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]
        assert flag_values(c["args"], "--metrics-addr") == ["0.0.0.0:9100"]
        annotations = spec["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == "9100", name
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
    zc = ztf["spec"]["template"]["spec"]["containers"][0]
    lc = lsst["spec"]["template"]["spec"]["containers"][0]
    assert env_of(zc)["ATEDA_KAFKA_TOPICS"] == "ztf_public,ztf_partnership"
    assert "ATEDA_KAFKA_TOPIC_PATTERN" not in env_of(zc)
    assert env_of(lc)["ATEDA_KAFKA_TOPIC_PATTERN"] == "^lsst-alerts-.*"
    assert "ATEDA_KAFKA_TOPICS" not in env_of(lc)
    assert env_of(zc)["ATEDA_KAFKA_GROUP"] == "ateda-ztf"
    assert env_of(lc)["ATEDA_KAFKA_GROUP"] == "ateda-stream-lsst"  # the default
    assert env_of(zc)["ATEDA_COMMIT_INTERVAL"] == "30s"
    assert env_of(lc)["ATEDA_COMMIT_INTERVAL"] == "10s"
    assert flag_values(zc["args"], "--from") == ["earliest"]
    assert flag_values(lc["args"], "--from") == ["latest"]
    assert flag_values(zc["args"], "--commit-every") == ["50000"]
    assert flag_values(lc["args"], "--commit-every") == ["20000"]
    # stream-wide options, with the deployment's own merged over them (ints stay ints)
    assert flag_values(zc["args"], "--kafka-option") == [
        "fetch.max.bytes=52428800",
        "security.protocol=PLAINTEXT",
    ]
    assert flag_values(lc["args"], "--kafka-option") == ["security.protocol=PLAINTEXT"]
    assert lc["resources"]["limits"]["memory"] == "4Gi"
    assert zc["resources"]["limits"]["memory"] == "2Gi"


def test_stream_flags_are_the_cli(stream_docs):
    """The chart passes `ateda stream` only the flags of its specified CLI (the rest goes
    through the environment), and only flags (and env variables) the binary lists."""
    passed = set()
    for dep in deployments(stream_docs).values():
        args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        passed |= {a for a in args if a.startswith("--")}
    assert passed == STREAM_FLAGS
    proc = subprocess.run(
        [str(ateda_bin()), "stream", "--help"], capture_output=True, text=True, check=True
    )
    accepted = set(re.findall(r"--[a-z][a-z0-9-]*", proc.stdout))
    assert passed <= accepted, passed - accepted
    for var in STREAM_ENV:
        assert var in proc.stdout, var


def test_stream_monitoring(stream_docs):
    (svc,) = [
        d
        for d in of_kind(stream_docs, "Service")
        if d["metadata"]["name"].endswith("stream-metrics")
    ]
    assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "stream"
    assert svc["spec"]["ports"][0]["port"] == 9100
    for kind in ("PodMonitor", "ServiceMonitor"):
        (mon,) = of_kind(stream_docs, kind)
        (expr,) = mon["spec"]["selector"]["matchExpressions"]
        assert expr == {
            "key": "app.kubernetes.io/component",
            "operator": "In",
            "values": ["ingest", "stream"],
        }
    unchecked = validate_manifests(stream_docs)
    assert set(unchecked) <= {
        "monitoring.coreos.com/v1/PodMonitor",
        "monitoring.coreos.com/v1/ServiceMonitor",
    }


def test_stream_upgrade_keeps_selector(tools, stream_docs):
    """A Deployment's selector is immutable: a values change must not touch it."""
    before = deployments(stream_docs)
    after = deployments(
        render(
            tools,
            "-f",
            str(CI["stream"]),
            "--set",
            "stream.commitInterval=5s,image.tag=next,stream.resources.limits.memory=3Gi",
        )
    )
    for name, dep in before.items():
        assert after[name]["spec"]["selector"] == dep["spec"]["selector"]
        assert after[name]["spec"]["template"] != dep["spec"]["template"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "stream.brokers="], "needs stream.brokers"),
        (["--set", "stream.brokers=kafka"], "brokers"),
        (["--set", "stream.deployments[0].topicPattern=x"], "deployments"),
        (["--set", "stream.deployments[0].name=ZTF_1"], "name"),
        (["--set", "stream.from=beginning"], "from"),
        (["--set", "stream.commitInterval=30"], "commitInterval"),
    ],
)
def test_bad_stream_values_are_rejected(tools, args, message):
    proc = render(tools, "-f", str(CI["stream"]), *args, check=False)
    assert proc.returncode != 0, proc.stdout[:300]
    assert message in proc.stderr


@pytest.mark.parametrize(("brokers", "count"), [("", 0), ("kafka:9092", 1)])
def test_helmfile_wires_stream_from_environment(tools, brokers, count):
    """helmfile: a stream Deployment exactly when the environment names a Kafka."""
    proc = tools.run(
        *tools.helmfile_cmd(
            "kind",
            "--state-values-set",
            f"kafka.brokers={brokers}",
            "--selector",
            "name=ateda",
            "template",
            "--skip-deps",
        )
    )
    deps = of_kind(load_docs(proc.stdout), "Deployment")
    assert len(deps) == count
    if count:
        c = deps[0]["spec"]["template"]["spec"]["containers"][0]
        env = yaml.safe_load((REPO / "deploy" / "env" / "kind.yaml").read_text())["kafka"]
        assert env_of(c)["ATEDA_KAFKA_BROKERS"] == "kafka:9092"
        assert env_of(c)["ATEDA_KAFKA_TOPIC_PATTERN"] == env["streams"][0]["topicPattern"]
        assert c["image"] == "ateda:dev"  # the environment's chart values still apply


# --- the archive source (issue 18) ---------------------------------------------------


def test_archive_source(tools):
    docs = render(tools, "-f", str(CI["archive-source"]))
    cm = next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"] == "ateda-env")
    assert cm["data"]["ATEDA_ARCHIVE"] == "https://ztf.uw.edu/alerts/public/"
    assert cm["data"]["ATEDA_SOURCE_STAGED"] == "false"
    (cron,) = of_kind(docs, "CronJob")
    (job,) = of_kind(docs, "Job")
    for pod in (cron["spec"]["jobTemplate"]["spec"]["template"], job["spec"]["template"]):
        spec = pod["spec"]
        assert "initContainers" not in spec  # no landing object to stage
        (c,) = spec["containers"]
        assert c["command"] == ["/bin/sh", "/opt/ateda/run.sh", "fetch-ingest"]
        assert c["args"] == ["--no-progress"]
        assert {m["mountPath"]: m["name"] for m in c["volumeMounts"]}["/scratch"] == "scratch"
        scratch = next(v for v in spec["volumes"] if v["name"] == "scratch")
        claim = scratch["ephemeral"]["volumeClaimTemplate"]["spec"]
        assert claim["resources"]["requests"]["storage"] == "60Gi"
        assert "ports" not in c and "prometheus.io/scrape" not in pod["metadata"]["annotations"]
    cron_env = {
        e["name"]
        for e in cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert "ATEDA_NIGHT" not in cron_env  # yesterday's night, resolved by run.sh at run time
    validate_manifests(docs)
    other = render(
        tools,
        "-f",
        str(CI["archive-source"]),
        "--set",
        "source.archive.url=http://mirror:8080/ztf/",
    )
    cm = next(d for d in of_kind(other, "ConfigMap") if d["metadata"]["name"] == "ateda-env")
    assert cm["data"]["ATEDA_ARCHIVE"] == "http://mirror:8080/ztf/"
    bad = render(
        tools, "-f", str(CI["archive-source"]), "--set", "source.archive.url=ftp://x/", check=False
    )
    assert bad.returncode != 0 and "url" in bad.stderr


def test_run_sh_fetch_ingest(tmp_path):
    """The command the archive pods run: `ateda fetch NIGHT --ingest --to /scratch ARGS`,
    with the night given or yesterday's (UTC)."""
    from test_chart_ateda import run_sh

    env = {
        "ATEDA_SOURCE": "https://ztf.uw.edu/alerts/public/",
        "ATEDA_ARCHIVE": "https://ztf.uw.edu/alerts/public/",
    }
    out = run_sh(tmp_path, "fetch-ingest", "--no-progress", ATEDA_NIGHT="20231012", **env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        "ateda",
        "fetch",
        "20231012",
        "--ingest",
        "--to",
        "/scratch",
        "--no-progress",
    ]
    yesterday = run_sh(tmp_path, "fetch-ingest", ATEDA_NIGHT_OFFSET_DAYS="1", **env)
    night = yesterday.stdout.split()[2]
    printed = run_sh(tmp_path, "print", ATEDA_NIGHT_OFFSET_DAYS="1", **env).stdout.split()[0]
    assert night == printed and re.fullmatch(r"\d{8}", night)


def test_fetch_flags_the_binary_accepts():
    """Every `ateda fetch` flag the chart passes is one the real binary lists (`--ingest`
    too, once `fetch --ingest` is in the binary)."""
    helptext = subprocess.run(
        [str(ateda_bin()), "fetch", "--help"], capture_output=True, text=True, check=True
    ).stdout
    accepted = set(re.findall(r"--[a-z][a-z0-9-]*", helptext))
    assert {"--to", "--no-progress", "--archive"} <= accepted
    if "--ingest" in accepted:
        assert "--ingest" in helptext


def test_notes_name_the_job_and_the_streams(tools):
    """NOTES.txt (rendered by Helm 4's client-side dry run) names the one-off Job by its
    real, hashed name and each stream Deployment."""
    proc = tools.run(
        tools.helm4,
        "install",
        "ateda",
        CHART,
        "--dry-run=client",
        "-f",
        str(CI["stream"]),
        *ONE_OFF,
    )
    manifest, notes = proc.stdout.split("NOTES:", 1)
    (job,) = of_kind(load_docs(manifest.split("MANIFEST:", 1)[1]), "Job")
    assert f"logs -f job/{job['metadata']['name']} -c ingest" in notes
    for name in ("ateda-stream-ztf", "ateda-stream-lsst"):
        assert f"logs -f deploy/{name}" in notes
