"""Bad AMI IDs: a deregistered AMI batched with 30 healthy resources, and a malformed ID.

Only the resource naming the bad ID turns ``Synced=False``; the 30 others
stay Synced and keep getting fresh data.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e import faults_support as fs
from tests.e2e import harness
from tests.e2e.conftest import OperatorFactory
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e
launch = fs.launch
private_cluster = fs.private_cluster

HEALTHY = [fs.ami(0xB000 + i) for i in range(30)]
BAD = fs.ami(0xBBAD)


def _all_synced(kubectl: harness.Kubectl, names: list[str]) -> bool:
    items = kubectl.run("get", "amistores", "-o", "json").stdout
    statuses = {i["metadata"]["name"]: i.get("status") or {} for i in json.loads(items)["items"]}
    return all(fs.condition(statuses.get(n, {}), "Synced").get("status") == "True" for n in names)


def _healthy_resources(kubectl: harness.Kubectl, extra: list[str]) -> list[str]:
    names = [f"ok-{i:02d}" for i in range(len(HEALTHY))]
    fs.apply_all(
        kubectl,
        [harness.amistore(n, imageIds=[a]) for n, a in zip(names, HEALTHY, strict=True)] + extra,
    )
    return names


def test_deregistered_ami_is_isolated_from_its_batch(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    # Registered AMIs without tasks (Pending) are polled by ImageIds every interval: 31 IDs,
    # two batches, the bad one sharing a batch with healthy ones.
    ec2.register_amis([*HEALTHY, BAD])
    start_operator()
    names = _healthy_resources(kubectl, [harness.amistore("bad", imageIds=[BAD])])
    harness.wait_until(
        lambda: _all_synced(kubectl, [*names, "bad"]), timeout=fs.WAIT, what="all 31 Synced"
    )
    seq = fs.last_seq(ec2)
    ec2.deregister_amis([BAD])
    cond = fs.wait_synced(kubectl, "bad", "False", "InvalidImageId")
    assert BAD in cond["message"]
    rejected = fs.wait_calls(
        ec2, 1, since_seq=seq, where=lambda c: c["error_code"] == "InvalidAMIID.NotFound"
    )
    assert any(len(c["params"].get("ImageIds", [])) > 1 for c in rejected)  # it was batched

    # The others get fresh data: a task started now for one of them shows within seconds.
    ec2.create_task(HEALTHY[7], fs.BUCKET, duration_seconds=600)
    harness.wait_until(
        lambda: kubectl.status("ok-07").get("state") == "InProgress",
        timeout=fs.WAIT,
        what="ok-07 InProgress",
    )
    # Two more polls after the isolation, then: nobody else ever flipped.
    fs.wait_calls(ec2, 4, since_seq=fs.last_seq(ec2))
    assert _all_synced(kubectl, names)
    flipped = [n for n in names if fs.sync_events(kubectl, n)]
    assert flipped == []
    assert fs.sync_events(kubectl, "bad") == ["SyncFailed"]


def test_malformed_id_is_an_invalid_spec_of_that_resource_only(
    ec2: control.Ec2SimControl, launch: fs.Launcher, private_cluster: Any
) -> None:
    # The CRD rejects malformed IDs at `kubectl apply`; a cluster with a laxer (older) CRD
    # lets one reach the operator, which must reject it itself.
    cluster = private_cluster(lax_ids=True)
    kubectl = cluster.kubectl()
    ec2.register_amis(HEALTHY)
    launch(env={"KUBECONFIG": str(cluster.kubeconfig)})
    names = _healthy_resources(kubectl, [harness.amistore("typo", imageIds=["ami-12345"])])
    cond = fs.wait_synced(kubectl, "typo", "False", "InvalidSpec")
    assert "ami-12345" in cond["message"]
    harness.wait_until(lambda: _all_synced(kubectl, names), timeout=fs.WAIT, what="30 Synced")
    assert kubectl.status("typo")["state"] == "Unknown"
    asked = {i for c in ec2.calls(fs.DESCRIBE) for i in c["params"].get("ImageIds", [])}
    assert "ami-12345" not in asked  # never sent to AWS
    assert fs.sync_events(kubectl, "typo") == ["SyncFailed"]
