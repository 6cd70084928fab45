"""Transient failures of the Iceberg REST catalog during commits.

The real catalog (SeaweedFS) sits behind tests/cluster/faulty_proxy.py, which fails chosen
commits the way a catalog behind a load balancer does. Whatever happens, the table ends
with every alert exactly once: refused commits are repeated, a commit whose answer was
lost is found in the table by its token and never appended twice, and a catalog that stays
down past the retry budget stops the run with one clear error, after which a re-run
completes the night."""

from __future__ import annotations

import time

import fastavro
import pytest

from cluster.faulty_proxy import FaultyProxy
from cluster.helpers import assert_no_secret, run_ingest

ALERTS_COMMIT = "/namespaces/bronze/tables/alerts"
RETRY_LINE = "catalog call failed transiently; retrying"
FOUND_LINE = "the commit whose answer was lost had been applied; not repeating it"


@pytest.fixture
def proxy(cluster):
    p = FaultyProxy(cluster.rest_uri)
    yield p
    p.close()


@pytest.fixture(scope="module")
def candids(packets) -> set[int]:
    out = set()
    for path in packets:
        with open(path, "rb") as fh:
            out.update(rec["candid"] for rec in fastavro.reader(fh))
    return out


def alerts_table(cluster, warehouse):
    return cluster.catalog(warehouse).load_table("bronze.alerts")


def stored_candids(cluster, warehouse) -> list[int]:
    table = alerts_table(cluster, warehouse)
    return table.scan(selected_fields=("candid",)).to_arrow().column("candid").to_pylist()


def ingest_via(proxy, cluster, label, packets, tmp_path, *extra, into=None):
    """`ateda ingest` of the packets through the proxy, 10 alerts per commit, into a fresh
    warehouse and cutouts root (or `into`, a (warehouse, cutouts) pair, for a re-run)."""
    warehouse, cutouts = into or (cluster.new_warehouse(label), cluster.new_cutouts(label))
    run = run_ingest(
        cluster,
        warehouse,
        cutouts,
        *packets,
        tmp=tmp_path,
        extra=("--catalog", proxy.uri, "--commit-every", "10", "--chunk", "10", *extra),
    )
    assert_no_secret(cluster, run.output)
    return run, warehouse, cutouts


def test_refused_commits_are_repeated(cluster, proxy, packets, candids, tmp_path):
    rule = proxy.fail("POST", ALERTS_COMMIT, "refuse", times=2)
    run, warehouse, _ = ingest_via(proxy, cluster, "refuse", packets, tmp_path)
    assert run.code == 0, run.stderr[-3000:]
    assert rule.applied == 2
    assert run.stderr.count(RETRY_LINE) == 2, run.stderr[-3000:]
    assert "503" in run.stderr
    got = stored_candids(cluster, warehouse)
    assert sorted(got) == sorted(candids), "every alert exactly once"
    assert run.summary["ingested"] == len(candids)


@pytest.mark.parametrize("mode", ["lose-answer", "cut"])
def test_commit_applied_but_answer_lost_is_not_repeated(
    cluster, proxy, packets, candids, tmp_path, mode
):
    rule = proxy.fail("POST", ALERTS_COMMIT, mode, times=1)
    run, warehouse, _ = ingest_via(proxy, cluster, mode, packets, tmp_path)
    assert run.code == 0, run.stderr[-3000:]
    assert rule.applied == 1
    assert FOUND_LINE in run.stderr, run.stderr[-3000:]
    got = stored_candids(cluster, warehouse)
    assert len(got) == len(set(got)), "a commit was applied twice"
    assert set(got) == candids
    # one snapshot per commit the ingest made, each with its own token
    commits = run.stderr.count("committed bronze.alerts")
    tokens = [
        s.summary.additional_properties.get("ateda.commit-token")
        for s in alerts_table(cluster, warehouse).snapshots()
    ]
    assert commits >= 2 and len(tokens) == commits, (commits, tokens)
    assert len(set(tokens)) == commits and None not in tokens, tokens


def test_catalog_down_past_the_budget_fails_clearly_then_rerun_completes(
    cluster, proxy, packets, candids, tmp_path
):
    proxy.fail("POST", ALERTS_COMMIT, "refuse", times=10_000)
    started = time.monotonic()
    run, warehouse, cutouts = ingest_via(
        proxy, cluster, "down", packets, tmp_path, "--catalog-retry-secs", "2"
    )
    took = time.monotonic() - started
    assert run.code == 1, run.stderr[-3000:]
    errors = [x for x in run.stderr.splitlines() if x.startswith("ateda ingest: error:")]
    assert len(errors) == 1, run.stderr[-3000:]
    assert "committing to alerts" in errors[0] and "503" in errors[0], errors[0]
    assert took < 60, f"gave up after {took:.0f} s with a 2 s budget"
    assert "re-run the same command" in run.stderr

    proxy.clear()
    rerun, _, _ = ingest_via(proxy, cluster, "down", packets, tmp_path, into=(warehouse, cutouts))
    assert rerun.code == 0, rerun.stderr[-3000:]
    got = stored_candids(cluster, warehouse)
    assert sorted(got) == sorted(candids), "the re-run completes the night exactly"
