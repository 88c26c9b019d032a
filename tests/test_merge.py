"""Merging audits (pytest-xdist workers, shards): auditing A then B in one Auditor must
equal auditing A and B apart and merging, for the counts, the endpoints, the coverage and
the API-level findings."""

from __future__ import annotations

import pickle
from collections import Counter

from mitmproxy import io

from helpers import ROOT, default_policy, http_flow
from statuslint.auditor import Auditor
from statuslint.reports import model


def _demo_flows() -> list:
    with open(ROOT / "recordings" / "demo.flows", "rb") as fo:
        return list(io.FlowReader(fo).stream())


def _audit(auditor: Auditor, flows: list, source: str) -> Auditor:
    info = auditor.input(source)
    for index, f in enumerate(flows):
        info.flows += 1
        auditor.feed(f, index, source)
    return auditor


def _flow_level(auditor: Auditor) -> list[tuple]:
    return [(f.rule, f.flow.source, f.flow.index) for f in auditor.ordered_findings() if f.flow is not None]


def _api(auditor: Auditor) -> list[dict]:
    return [f.to_json() for f in auditor.api_findings()]


def test_audit_a_then_b_equals_merge_of_a_and_b() -> None:
    flows = _demo_flows()
    half = len(flows) // 2
    a_flows, b_flows = flows[:half], flows[half:]
    policy = default_policy()

    sequential = _audit(Auditor(policy), a_flows, "a")
    _audit(sequential, b_flows, "b")
    merged = _audit(Auditor(policy), a_flows, "a")
    # Across a process boundary, as pytest-xdist sends it.
    merged.merge(pickle.loads(pickle.dumps(_audit(Auditor(policy), b_flows, "b").export_state())))

    expected, got = sequential.summary(), merged.summary()
    # Every cross-flow check keeps its state per input: B's flows meet nothing of A's in
    # one audit either, so even how often each check was put to the test is the same.
    assert got == expected
    assert got["flows"] == len(flows) and got["by_rule"]["inconsistent-status"] >= 1
    assert _api(merged) == _api(sequential) != []
    assert _flow_level(merged) == _flow_level(sequential)
    assert [i.__dict__ for i in merged.inputs] == [i.__dict__ for i in sequential.inputs]
    report = model.build(merged, "default")
    assert report["summary"]["by_severity"] == expected["by_severity"]


def test_merge_of_empty_auditors_adds_up_shards() -> None:
    """The controller of an xdist run saw no traffic itself: merged, the workers' counts
    add up, and API-level findings are those of all the traffic audited at once.
    (Each shard is its own input: flow-level counts are the sum of the shards'.)"""
    flows = _demo_flows()
    policy = default_policy()
    shards = [_audit(Auditor(policy), part, f"gw{n}") for n, part in enumerate([flows[:30], flows[30:70], flows[70:]])]
    controller = Auditor(policy)
    for shard in shards:
        controller.merge(shard)
    summary = controller.summary()
    assert summary["flows"] == sum(s.counts["flows"] for s in shards) == len(flows)
    assert controller.by_rule == sum((s.by_rule for s in shards), Counter())
    requests = Counter()
    for shard in shards:
        for row in shard.endpoint_rows():
            requests[row["endpoint"]] += row["requests"]
    assert {row["endpoint"]: row["requests"] for row in summary["endpoints"]} == requests
    assert [i.source for i in controller.inputs] == ["gw0", "gw1", "gw2"]
    sequential = Auditor(policy)
    for n, part in enumerate([flows[:30], flows[30:70], flows[70:]]):
        _audit(sequential, part, f"gw{n}")
    assert _api(controller) == _api(sequential) != []


def test_parameters_learned_apart_apply_to_the_merged_endpoints() -> None:
    """Neither shard saw more than 50 names under /users/, together they did: the merged
    table has one /users/{id} endpoint, as one audit of all the traffic has."""
    policy = default_policy()
    names = [f"user{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(60)]
    a_flows = [http_flow(path=f"/users/{n}") for n in names[:30]]
    b_flows = [http_flow(path=f"/users/{n}") for n in names[30:]]
    sequential = _audit(Auditor(policy), a_flows, "a")
    _audit(sequential, b_flows, "b")
    a, b = _audit(Auditor(policy), a_flows, "a"), _audit(Auditor(policy), b_flows, "b")
    assert all("{id}" not in row["endpoint"] for row in a.endpoint_rows())
    a.merge(b)
    assert a.endpoint_rows() == sequential.endpoint_rows()
    assert [row["endpoint"] for row in a.endpoint_rows()] == ["GET api.example.test /users/{id}"]


def test_merge_detaches_the_state() -> None:
    """Traffic audited by the other side after the merge does not leak into the merged one."""
    policy = default_policy()
    a, b = Auditor(policy), Auditor(policy)
    _audit(b, [http_flow(method="POST", path="/v1/books", status=201)], "b")
    a.merge(b)
    before = a.summary()
    _audit(b, [http_flow(method="POST", path="/v1/books", status=201)], "b2")
    assert a.summary() == before
    assert a.summary()["by_rule"] == {"created-without-location": 1}


def test_lifecycle_state_survives_a_merge() -> None:
    """What the cross-flow checks remember comes along: a GET after the merge of a shard
    that deleted the URL (same input) is served-after-delete."""
    policy = default_policy()
    shard = _audit(Auditor(policy), [http_flow(method="DELETE", path="/v1/books/7", status=204, body=b"")], "live")
    merged = Auditor(policy)
    merged.merge(shard)
    found = merged.feed(http_flow(method="GET", path="/v1/books/7"), 1, "live")
    assert [f.rule for f in found] == ["served-after-delete"]
