"""The steady state: after a change has been reported, nothing more happens.

Not on later polls (no Event, no status write, no change to the resource's series), and
not after a restart of the operator either.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e import faults_support as fs
from tests.e2e import harness
from tests.e2e.conftest import POLL_INTERVAL, OperatorFactory
from tests.sandbox.ec2sim import control, sts

pytestmark = pytest.mark.e2e

DONE = fs.ami(0x5D01)
BROKEN = fs.ami(0x5D02)
BUSY = fs.ami(0x5D03)  # pinned progress: polled every interval, never changing
QUIET_INTERVALS = 3
REASON = "Access Denied for bucket acme-ami-archive"
IDENTITY = "GetCallerIdentity"


def observed(
    kubectl: harness.Kubectl, operator: harness.OperatorProcess, name: str
) -> dict[str, Any]:
    """Everything a user sees of the resource: object version, Events, its series."""
    series = sorted(
        (sample, tuple(sorted(labels.items())), value)
        for sample in (
            "amistore_task_progress_percent",
            "amistore_task_state",
            "amistore_task_failure_info",
            "amistore_task_start_time_seconds",
            "amistore_task_info",
            "amistore_resource_synced",
        )
        for labels, value in fs.samples(operator.metrics(), sample)
        if labels.get("name") == name
    )
    events = sorted(
        (e["metadata"]["name"], e["reason"], e["message"], int(e.get("count") or 1))
        for e in kubectl.events(name)
    )
    return {
        "resourceVersion": kubectl.get("amistore", name)["metadata"]["resourceVersion"],
        "status": kubectl.status(name),
        "events": events,
        "series": series,
    }


def quiet_polls(ec2: control.Ec2SimControl, since_seq: int) -> None:
    """Until the operator polled for QUIET_INTERVALS intervals after ``since_seq``.

    Including a re-check of the finished tasks, and the poll after it (so what that
    call answered was served to the resource before anyone looks).
    """
    first = fs.wait_calls(ec2, 1, since_seq=since_seq)[0]
    rechecked = fs.wait_calls(
        ec2,
        1,
        since_seq=since_seq,
        where=lambda c: DONE in c["params"].get("ImageIds", []),
        timeout=10 * POLL_INTERVAL + fs.WAIT,
    )[0]
    last = max(rechecked["time"], first["time"] + QUIET_INTERVALS * POLL_INTERVAL)
    fs.wait_calls(
        ec2,
        1,
        since_seq=rechecked["seq"],
        where=lambda c: c["time"] >= last + POLL_INTERVAL / 2,
        timeout=QUIET_INTERVALS * POLL_INTERVAL + fs.WAIT,
    )


def assert_quiet_across_a_restart(
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    operator: harness.OperatorProcess,
    start_operator: OperatorFactory,
    name: str,
    seen: dict[str, Any],
) -> harness.OperatorProcess:
    """Quiet polls leave what a user sees of ``name`` as ``seen``; so do those after a
    restart, whose new process renders the same series and announces nothing again.

    Returns the restarted process.
    """
    quiet_polls(ec2, fs.last_seq(ec2))
    assert observed(kubectl, operator, name) == seen
    assert operator.stop() == 0
    seq = fs.last_seq(ec2)
    restarted = start_operator()
    quiet_polls(ec2, seq)
    assert observed(kubectl, restarted, name) == seen
    return restarted


def test_nothing_more_happens_after_a_change_nor_after_a_restart(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    ec2.create_tasks(
        [
            {"ami_id": a, "bucket": fs.BUCKET, "progress": p}
            for a, p in ((DONE, 70), (BROKEN, 20), (BUSY, 50))
        ]
    )
    operator = start_operator()
    kubectl.apply(harness.amistore("steady", imageIds=[DONE, BROKEN, BUSY]))
    fs.wait_status(
        kubectl, "steady", lambda s: s.get("tasksInProgress") == 3, "three InProgress tasks"
    )

    # The change: one task completes, one fails, at once.
    ec2.update_task(DONE, state="Completed", progress=100)
    ec2.update_task(BROKEN, state="Failed", failure_reason=REASON)
    fs.wait_status(
        kubectl,
        "steady",
        lambda s: (s.get("tasksCompleted"), s.get("tasksFailed")) == (1, 1),
        "the completion and the failure",
    )

    def reported_once() -> dict[str, Any] | None:
        seen = observed(kubectl, operator, "steady")
        reasons = {e[1] for e in seen["events"]}
        return seen if {"StoreCompleted", "StoreFailed"} <= reasons else None

    reported = harness.wait_until(reported_once, timeout=fs.WAIT, what="the change's Events")
    assert sorted(e[1] for e in reported["events"]) == [
        "StoreCompleted",
        "StoreFailed",
        "StoreStarted",
        "StoreStarted",
        "StoreStarted",
    ]

    restarted = assert_quiet_across_a_restart(
        ec2, kubectl, operator, start_operator, "steady", reported
    )
    states = {
        labels["ami_id"]: labels["state"]
        for labels, value in fs.samples(restarted.metrics(), "amistore_task_state")
        if labels["name"] == "steady" and value == 1
    }
    assert states == {DONE: "Completed", BROKEN: "Failed", BUSY: "InProgress"}


def test_nothing_more_happens_after_a_sync_flip_and_its_recovery(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    ec2.create_tasks(
        [
            {"ami_id": DONE, "bucket": fs.BUCKET, "progress": 100, "state": "Completed"},
            {"ami_id": BUSY, "bucket": fs.BUCKET, "progress": 50},
        ]
    )
    operator = start_operator()
    kubectl.apply(harness.amistore("flips", imageIds=[DONE, BUSY]))
    fs.wait_synced(kubectl, "flips", "True")

    ec2.inject_fault("Unavailable", fs.DESCRIBE)
    fs.wait_synced(kubectl, "flips", "False", "AwsUnavailable")
    harness.wait_until(
        lambda: fs.sync_events(kubectl, "flips") == ["SyncFailed"],
        timeout=fs.WAIT,
        what="one SyncFailed",
    )
    failing = observed(kubectl, operator, "flips")
    # Still failing for three more intervals: announced once, written once.
    fs.wait_intervals(ec2, QUIET_INTERVALS)
    assert observed(kubectl, operator, "flips") == failing

    ec2.clear_faults()
    fs.wait_synced(kubectl, "flips", "True")
    harness.wait_until(
        lambda: fs.sync_events(kubectl, "flips") == ["SyncFailed", "SyncRecovered"],
        timeout=fs.WAIT,
        what="one SyncRecovered",
    )
    recovered = observed(kubectl, operator, "flips")
    assert_quiet_across_a_restart(ec2, kubectl, operator, start_operator, "flips", recovered)


def test_a_restart_while_sts_is_slow_keeps_the_account_and_writes_nothing(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    """The restarted operator may poll before STS names its own account: nothing is lost.

    Its ``status.account`` stays (no write deleting it, then one putting it back), and
    once STS answers, nothing changes either.
    """
    ec2.create_tasks(
        [
            {"ami_id": DONE, "bucket": fs.BUCKET, "progress": 100, "state": "Completed"},
            {"ami_id": BUSY, "bucket": fs.BUCKET, "progress": 50},
        ]
    )
    operator = start_operator()
    kubectl.apply(harness.amistore("slowsts", imageIds=[DONE, BUSY]))
    fs.wait_status(
        kubectl,
        "slowsts",
        lambda s: s.get("account") == sts.DEFAULT_ACCOUNT and s.get("tasksCompleted") == 1,
        "the account and the completed task",
    )
    quiet_polls(ec2, fs.last_seq(ec2))
    settled = observed(kubectl, operator, "slowsts")
    assert operator.stop() == 0

    ec2.hold(IDENTITY)
    seq = fs.last_seq(ec2)
    restarted = start_operator()
    quiet_polls(ec2, seq)
    assert ec2.held().get(IDENTITY, 0) >= 1  # asked, and not answered yet
    assert observed(kubectl, restarted, "slowsts") == settled

    ec2.release(IDENTITY)
    harness.wait_until(
        lambda: f"own AWS account is {sts.DEFAULT_ACCOUNT}" in restarted.logs(),
        timeout=fs.WAIT,
        what="the restarted operator to learn its account",
    )
    quiet_polls(ec2, fs.last_seq(ec2))
    assert observed(kubectl, restarted, "slowsts") == settled
