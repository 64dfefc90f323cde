"""Stall detection end to end: a task freezes, Stalled flips once, and it resumes; restarts too."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e import faults_support as fs
from tests.e2e import harness
from tests.e2e.conftest import POLL_INTERVAL, OperatorFactory
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e

AMI = fs.ami(0x57A11)
QUIET_POLLS = 3


def entry(status: dict[str, Any]) -> dict[str, Any]:
    return fs.task_entries(status).get(AMI, {})


def stalled(status: dict[str, Any]) -> dict[str, Any]:
    return fs.condition(status, "Stalled")


def stall_events(kubectl: harness.Kubectl, name: str) -> dict[str, int]:
    """How many StoreStalled and StoreResumed events the resource got (repeats counted)."""
    counts = {"StoreStalled": 0, "StoreResumed": 0}
    for event in kubectl.events(name):
        if event["reason"] in counts:
            counts[event["reason"]] += int(event.get("count") or 1)
    return counts


def test_a_task_freezes_stalls_once_survives_a_restart_and_resumes_once(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    stall_after = 8  # seconds; at least two 2 s intervals, so 8 s it is
    task = ec2.create_task(AMI, fs.BUCKET, duration_seconds=100)
    operator = start_operator("--stall-after", str(stall_after))
    kubectl.apply(harness.amistore("frozen", imageIds=[AMI], bucket=fs.BUCKET))
    moving = fs.wait_status(
        kubectl,
        "frozen",
        lambda s: entry(s).get("progressPercentage", 0) >= 5,
        "5% done",
        timeout=fs.WAIT + 10,
    )
    assert (stalled(moving)["status"], stalled(moving)["reason"]) == ("False", "Progressing")

    pinned = ec2.task(AMI)["progress"]
    ec2.update_task(AMI, progress=pinned)  # AWS stops moving it
    status = fs.wait_status(
        kubectl, "frozen", lambda s: stalled(s).get("status") == "True", "Stalled=True"
    )
    condition = stalled(status)
    moved = entry(status)["lastProgressTime"]
    assert condition["reason"] == "ProgressStalled"
    assert f"{AMI} at {pinned}% since {moved}" in condition["message"]
    assert "at least two effective poll intervals" in condition["message"]
    # Time alone flipped it: about the threshold after the last move, within two polls.
    waited = fs.unix(condition["lastTransitionTime"]) - fs.unix(moved)
    assert stall_after <= waited <= stall_after + 2 * POLL_INTERVAL + 2, waited
    assert entry(status)["stalled"] is True
    harness.wait_until(
        lambda: stall_events(kubectl, "frozen")["StoreStalled"] == 1,
        timeout=fs.WAIT,
        what="one StoreStalled event",
    )
    stuck = fs.samples(operator.metrics(), "amistore_task_stalled")
    assert [(labels["ami_id"], value) for labels, value in stuck] == [(AMI, 1.0)]
    last = fs.samples(operator.metrics(), "amistore_task_last_progress_timestamp_seconds")
    assert [value for _, value in last] == [fs.unix(moved)]
    fs.assert_quiet(kubectl, ec2, "frozen", AMI, QUIET_POLLS)

    # A restart in the middle of the stall: read back from the status, nothing repeated.
    operator.stop()
    start_operator("--stall-after", str(stall_after))
    fs.assert_quiet(kubectl, ec2, "frozen", AMI, QUIET_POLLS)
    assert stalled(kubectl.status("frozen")) == condition
    assert stall_events(kubectl, "frozen") == {"StoreStalled": 1, "StoreResumed": 0}

    # AWS moves it again: about one percent per 1.7 s from where it stood, never 8 s still.
    elapsed = time.time() - task["start_time"]
    ec2.update_task(AMI, duration_seconds=elapsed * 100 / (pinned + 2))
    status = fs.wait_status(
        kubectl, "frozen", lambda s: stalled(s).get("status") == "False", "Stalled=False"
    )
    assert stalled(status)["reason"] == "Progressing"
    assert "stalled" not in entry(status)
    harness.wait_until(
        lambda: stall_events(kubectl, "frozen")["StoreResumed"] == 1,
        timeout=fs.WAIT,
        what="one StoreResumed event",
    )
    # It keeps moving: no new stall over a few more polls, and no repeated event.
    fs.wait_polls_naming(ec2, AMI, QUIET_POLLS)
    assert stalled(kubectl.status("frozen"))["status"] == "False"
    assert stall_events(kubectl, "frozen") == {"StoreStalled": 1, "StoreResumed": 1}


def test_the_stall_clock_survives_a_restart_before_the_threshold(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    stall_after = 30
    ec2.create_task(AMI, fs.BUCKET, progress=0)  # queued by AWS: 0% throughout
    operator = start_operator("--stall-after", str(stall_after))
    kubectl.apply(harness.amistore("queued", imageIds=[AMI], bucket=fs.BUCKET))
    seen = fs.wait_status(kubectl, "queued", lambda s: "lastProgressTime" in entry(s), "a sighting")
    moved = fs.unix(entry(seen)["lastProgressTime"])
    assert stalled(seen)["reason"] == "Progressing"
    # Let a third of the threshold pass (a few polls), then restart.
    fs.wait_calls(
        ec2,
        6,
        since_seq=fs.last_seq(ec2),
        where=lambda c: AMI in c["params"].get("ImageIds", []),
        timeout=6 * POLL_INTERVAL + fs.WAIT,
    )
    operator.stop()
    restarted = time.time()
    assert restarted - moved >= 10
    start_operator("--stall-after", str(stall_after))
    status = fs.wait_status(
        kubectl,
        "queued",
        lambda s: stalled(s).get("status") == "True",
        "Stalled=True",
        timeout=stall_after + fs.WAIT,
    )
    # Counted from the sighting before the restart, not from the restart (that would be
    # at least 40 s after it).
    flipped = fs.unix(stalled(status)["lastTransitionTime"])
    assert stall_after <= flipped - moved <= stall_after + 3 * POLL_INTERVAL, flipped - moved
    assert flipped < restarted + stall_after
    assert entry(status)["lastProgressTime"] == entry(seen)["lastProgressTime"]
    assert "at 0% since" in stalled(status)["message"]
    assert "possibly queued by AWS" in stalled(status)["message"]
    harness.wait_until(
        lambda: stall_events(kubectl, "queued") == {"StoreStalled": 1, "StoreResumed": 0},
        timeout=fs.WAIT,
        what="one StoreStalled event",
    )
