"""Kubernetes faults: apiserver restart, expired watch history, failed status writes,
deletion and edits mid-poll, a 1,000-AMI resource, and event storms.

On the real API server a fault proxy in front of it (``kube_faults``) ends every open
watch with 410 Expired at once (kube-apiserver sends that only to a watcher that fell
behind its watch cache) and answers status writes 409 or 422 on cue. One fault only the
API emulator can make, so that test runs on an emulator of its own (``private_cluster``)
whatever the session's server is: an API server restart that loses every object (etcd
keeps them).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e import faults_support as fs
from tests.e2e import harness
from tests.e2e.conftest import POLL_INTERVAL, OperatorFactory
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e
launch = fs.launch
private_cluster = fs.private_cluster
kube_faults = fs.kube_faults

AMI_A = fs.ami(0xC001)
AMI_B = fs.ami(0xC002)


def _state(kubectl: harness.Kubectl, name: str) -> str | None:
    return kubectl.status(name).get("state")


def test_apiserver_restart_loses_everything_and_the_operator_carries_on(
    ec2: control.Ec2SimControl, launch: fs.Launcher, private_cluster: Any
) -> None:
    kube = private_cluster()
    kubectl = kube.kubectl()
    ec2.create_task(AMI_A, fs.BUCKET, duration_seconds=3600)
    operator = launch(env={"KUBECONFIG": str(kube.kubeconfig)})
    manifest = harness.amistore("survivor", imageIds=[AMI_A])
    kubectl.apply(manifest)
    harness.wait_until(
        lambda: _state(kubectl, "survivor") == "InProgress", timeout=fs.WAIT, what="InProgress"
    )

    # In memory: namespace, resource and its status are gone (the CRD comes back, as etcd
    # keeps it); the operator's watch breaks and must re-list and re-watch by itself.
    kube.restart()
    kubectl.apply(manifest)
    # Nothing changed in AWS: what the operator wrote before the restart must not stop
    # it from writing the status again into the re-created object.
    harness.wait_until(
        lambda: _state(kubectl, "survivor") == "InProgress",
        timeout=fs.WAIT,
        what="the status written again after the restart",
    )
    ec2.update_task(AMI_A, progress=100, state="Completed")
    harness.wait_until(
        lambda: _state(kubectl, "survivor") == "Completed",
        timeout=60,
        what="the re-created resource polled after the restart",
    )
    status = kubectl.status("survivor")
    assert fs.condition(status, "Synced")["status"] == "True"
    assert status["tasks"][0]["progressPercentage"] == 100
    assert operator.process.poll() is None
    operator.wait_ready()


def test_expired_watch_history_is_relisted(
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    launch: fs.Launcher,
    kube_faults: fs.KubeFaults,
) -> None:
    ec2.create_task(AMI_A, fs.BUCKET, duration_seconds=3600)
    ec2.create_task(AMI_B, fs.BUCKET, progress=100, state="Completed")
    operator = launch(env={"KUBECONFIG": str(kube_faults.operator_kubeconfig)})
    kubectl.apply(harness.amistore("watched", imageIds=[AMI_A], pollIntervalSeconds=3600))
    harness.wait_until(
        lambda: _state(kubectl, "watched") == "InProgress", timeout=fs.WAIT, what="InProgress"
    )
    kube_faults.expire()
    # A spec change after the 410 is only seen through a new watch: the interval is an hour.
    kubectl.apply(harness.amistore("watched", imageIds=[AMI_B], pollIntervalSeconds=3600))
    harness.wait_until(
        lambda: _state(kubectl, "watched") == "Completed",
        timeout=fs.WAIT,
        what="the edit made after the watch expired",
    )
    assert operator.process.poll() is None
    assert "Traceback" not in operator.logs()


@pytest.mark.parametrize("code", [409, 422])
def test_failed_status_write_is_retried(
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    launch: fs.Launcher,
    kube_faults: fs.KubeFaults,
    code: int,
) -> None:
    ec2.create_task(AMI_A, fs.BUCKET, duration_seconds=3600)
    launch(env={"KUBECONFIG": str(kube_faults.operator_kubeconfig)})
    kubectl.apply(harness.amistore("contested", imageIds=[AMI_A]))
    harness.wait_until(
        lambda: _state(kubectl, "contested") == "InProgress", timeout=fs.WAIT, what="InProgress"
    )
    path = f"/namespaces/{kubectl.namespace}/amistores/contested/status"
    kube_faults.fail_writes(path, 2, code)
    ec2.update_task(AMI_A, progress=100, state="Completed")
    harness.wait_until(
        lambda: kube_faults.faults_left() == 0,
        timeout=fs.WAIT,
        what="both injected write failures used up",
    )
    harness.wait_until(
        lambda: _state(kubectl, "contested") == "Completed",
        timeout=fs.WAIT,
        what="the write to succeed on a later try",
    )
    assert kube_faults.refused(path, code) == 2
    reasons = [e["reason"] for e in kubectl.events("contested")]
    assert reasons.count("StoreCompleted") == 1


def test_deleted_and_edited_mid_poll(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    ec2.create_task(AMI_A, fs.BUCKET, duration_seconds=3600)
    ec2.create_task(AMI_B, fs.BUCKET, progress=100, state="Completed")
    operator = start_operator()
    kubectl.apply(harness.amistore("doomed", imageIds=[AMI_A]))
    kubectl.apply(harness.amistore("edited", imageIds=[AMI_A]))
    harness.wait_until(
        lambda: _state(kubectl, "doomed") == _state(kubectl, "edited") == "InProgress",
        timeout=fs.WAIT,
        what="both InProgress",
    )
    # Every call now takes 3 s, longer than the interval: a call is nearly always in flight.
    seq = fs.last_seq(ec2)
    ec2.inject_fault("delay", fs.DESCRIBE, delay_seconds=3)
    fs.wait_calls(ec2, 1, since_seq=seq)
    kubectl.run("delete", "amistore", "doomed", "--timeout=15s", timeout=20)
    kubectl.apply(harness.amistore("edited", imageIds=[AMI_B]))
    harness.wait_until(
        lambda: _state(kubectl, "edited") == "Completed", timeout=fs.WAIT, what="the edit"
    )
    assert [t["amiId"] for t in kubectl.status("edited")["tasks"]] == [AMI_B]
    ec2.clear_faults()
    fs.wait_calls(ec2, 2, since_seq=seq)
    names = {labels["name"] for labels, _ in fs.samples(operator.metrics(), "amistore_task_state")}
    assert "doomed" not in names
    assert "Traceback" not in operator.logs()


def test_a_thousand_amis_stay_under_a_mebibyte_with_capped_events(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    made = ec2.bulk(
        1000, bucket=fs.BUCKET, duration_seconds=36000, spread_seconds=3600, fail_every=7
    )
    # Budget for every in-progress task each interval: the changes below show at once.
    ec2.set_throttle(enabled=False)
    start_operator("--ec2-rate", "50", "--ec2-burst", "500")
    kubectl.apply(harness.amistore("huge", imageIds=made["ami_ids"]))
    status = harness.wait_until(
        lambda: (s := kubectl.status("huge")).get("tasksTotal") == 1000 and s,
        timeout=60,
        what="1,000 tasks tracked",
    )
    assert len(status["tasks"]) == 500
    assert status["tasksFailed"] == 1000 // 7
    assert status["tasksInProgress"] == 1000 - 1000 // 7
    body = kubectl.run("get", "amistore", "huge", "-o", "json").stdout
    assert len(body.encode()) < 1024 * 1024
    # 1,000 tasks seen for the first time at once: a capped handful of Events, not 1,000.
    events = harness.wait_until(
        lambda: [e for e in kubectl.events("huge") if e["reason"].startswith("Store")],
        timeout=fs.WAIT,
        what="the task events",
    )
    assert len(events) <= 21
    summary = [e for e in events if "more task changes" in e["message"]]
    assert len(summary) == 1

    # All changing at once: 200 complete and 100 fail, inside and past the 500-entry cap
    # (the list is newest first); each is announced exactly once, by name or in a summary.
    burst = {e["metadata"]["name"] for e in kubectl.events("huge")}
    running = [a for i, a in enumerate(made["ami_ids"]) if (i + 1) % 7]
    completed, failed = set(running[0:600:3]), set(running[1:300:3])
    for ami_id in completed:
        ec2.update_task(ami_id, state="Completed", progress=100)
    for ami_id in failed:
        ec2.update_task(ami_id, state="Failed", failure_reason="Disk quota exceeded")
    seq = fs.last_seq(ec2)
    status = fs.wait_status(
        kubectl,
        "huge",
        lambda s: (s.get("tasksCompleted"), s.get("tasksFailed")) == (200, 1000 // 7 + 100),
        "the 300 changes counted",
        timeout=60,
    )
    assert status["tasksInProgress"] == 1000 - 1000 // 7 - 300
    for entry in status["tasks"]:
        if entry["amiId"] in completed:
            assert entry["state"] == "Completed", entry
        elif entry["amiId"] in failed:
            assert (entry["state"], entry["failureReason"]) == ("Failed", "Disk quota exceeded")

    def announced() -> tuple[dict[str, int], int]:
        """Per AMI named, how many Events named it; and how many the summaries counted."""
        named: dict[str, int] = {}
        summed = 0
        for event in kubectl.events("huge"):
            if event["metadata"]["name"] in burst or not event["reason"].startswith("Store"):
                continue
            message = event["message"]
            if "more task changes" in message:
                summed += int(message.split()[1])  # "and N more task changes (...)"
                continue
            ami_id = message.split(":", 1)[0]
            assert (ami_id in completed and event["reason"] == "StoreCompleted") or (
                ami_id in failed and event["reason"] == "StoreFailed"
            ), event
            named[ami_id] = named.get(ami_id, 0) + 1
        return named, summed

    harness.wait_until(
        lambda: sum(announced()[0].values()) + announced()[1] >= 300,
        timeout=fs.WAIT,
        what="the 300 changes announced",
    )
    # Three more intervals of polls: nothing is announced again.
    seq = fs.last_seq(ec2)
    last = fs.wait_calls(ec2, 1, since_seq=seq)[0]
    fs.wait_calls(
        ec2, 1, since_seq=seq, where=lambda c: c["time"] > last["time"] + 3.5 * POLL_INTERVAL
    )
    named, summed = announced()
    assert set(named.values()) == {1}
    assert len(named) + summed == 300
