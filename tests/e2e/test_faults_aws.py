"""AWS faults: throttling, 5xx bursts, timeouts, dropped connections, auth, region, credentials.

Each test injects a fault through the EC2 simulator's control API while the
real operator polls, and asserts what the user sees: the Synced condition's
reason and AWS's message, one Warning event per flip, tasks that never regress,
and recovery within one interval once the fault ends.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.e2e import faults_support as fs
from tests.e2e import harness
from tests.e2e.conftest import POLL_INTERVAL, OperatorFactory
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e
launch = fs.launch  # the fixture, for this module

AMI_BUSY = fs.ami(0xA001)
AMI_DONE = fs.ami(0xA002)
# One interval, plus the poller's slack and one retried attempt: "within one interval".
RECOVERY = POLL_INTERVAL + 8
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def track(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, name: str, **spec: Any
) -> dict[str, Any]:
    """One InProgress and one Completed task, polled until both are in status and Synced."""
    ec2.create_task(AMI_BUSY, fs.BUCKET, duration_seconds=3600)
    ec2.create_task(AMI_DONE, fs.BUCKET, progress=100, state="Completed")
    kubectl.apply(harness.amistore(name, imageIds=[AMI_BUSY, AMI_DONE], **spec))

    def ready() -> dict[str, Any] | None:
        status = kubectl.status(name)
        good = status.get("state") == "InProgress"
        return status if good and fs.condition(status, "Synced").get("status") == "True" else None

    return harness.wait_until(ready, timeout=fs.WAIT, what="InProgress and Synced")


def flip_and_recover(
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    name: str,
    kind: str,
    reason: str,
    message: str | None = None,
    **fault: Any,
) -> dict[str, Any]:
    """Inject a lasting fault until Synced=False with ``reason``, clear it, wait for recovery."""
    before = kubectl.status(name)
    ec2.inject_fault(kind, fs.DESCRIBE, message=message, **fault)
    seq = fs.last_seq(ec2)
    cond = fs.wait_synced(kubectl, name, "False", reason)
    # Several failed polls, so a per-poll event or write would show.
    fs.wait_calls(ec2, 3, since_seq=seq)
    fs.assert_not_regressed(before, kubectl.status(name))
    assert kubectl.status(name)["lastPollTime"] == before["lastPollTime"]
    ec2.clear_faults()
    fs.wait_synced(kubectl, name, "True", timeout=RECOVERY)
    fs.assert_not_regressed(before, kubectl.status(name))
    return cond


def test_sustained_throttling_backs_off_with_jitter_and_recovers(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    interval = 10
    operator = start_operator()
    before = track(ec2, kubectl, "throttled", pollIntervalSeconds=interval)
    ec2.inject_fault("RequestLimitExceeded", fs.DESCRIBE)
    seq = fs.last_seq(ec2)
    cond = fs.wait_synced(kubectl, "throttled", "False", "Throttled")
    assert cond["message"] == "Request limit exceeded."
    storm = fs.wait_calls(ec2, 12, since_seq=seq, timeout=60)[:12]
    assert {c["error_code"] for c in storm} == {"RequestLimitExceeded"}
    times = [c["time"] for c in storm]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Backoff is capped at one interval and jittered (no fixed period), rather than
    # hammering a throttled API on a schedule. That the cap doubles per failed refresh
    # is asserted with a seeded jitter in tests/unit/test_poller.py: with full jitter
    # any single run's later gaps can be shorter than its earlier ones.
    assert max(gaps) <= interval + 5, gaps
    assert len({round(g, 1) for g in gaps}) > len(gaps) // 2, gaps
    assert fs.sync_events(kubectl, "throttled") == ["SyncFailed"]
    fs.assert_not_regressed(before, kubectl.status("throttled"))
    throttled = [
        value
        for labels, value in fs.samples(operator.metrics(), "amistore_ec2_requests_total")
        if labels["outcome"] == "throttled"
    ]
    assert sum(throttled) >= 12

    ec2.clear_faults()
    fs.wait_synced(kubectl, "throttled", "True", timeout=interval + 5)
    assert fs.sync_events(kubectl, "throttled") == ["SyncFailed", "SyncRecovered"]
    fs.assert_not_regressed(before, kubectl.status("throttled"))


def test_server_error_bursts_are_retried_and_outages_reported(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    start_operator()
    track(ec2, kubectl, "bursty")
    # A short burst is absorbed by botocore's retries: no flip at all.
    seq = fs.last_seq(ec2)
    ec2.inject_fault("InternalError", fs.DESCRIBE, count=2)
    calls = fs.wait_calls(ec2, 1, since_seq=seq, where=lambda c: c["status"] == 200)
    assert [c["error_code"] for c in ec2.calls(fs.DESCRIBE) if c["seq"] > seq][:2] == [
        "InternalError",
        "InternalError",
    ]
    assert calls
    fs.wait_calls(ec2, 2, since_seq=calls[0]["seq"], where=lambda c: c["status"] == 200)
    assert fs.synced(kubectl, "bursty")["status"] == "True"
    assert fs.sync_events(kubectl, "bursty") == []

    # A lasting outage: Synced=False with AWS's message, recovered when it ends.
    cond = flip_and_recover(ec2, kubectl, "bursty", "Unavailable", "AwsUnavailable")
    assert cond["message"] == "The server is overloaded and can't handle the request."
    assert fs.sync_events(kubectl, "bursty") == ["SyncFailed", "SyncRecovered"]


def test_timeouts_and_dropped_connections(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, launch: fs.Launcher
) -> None:
    launch(env={"AMISTORE_EC2_READ_TIMEOUT": "1"})
    track(ec2, kubectl, "flaky")
    slow = flip_and_recover(ec2, kubectl, "flaky", "delay", "AwsUnavailable", delay_seconds=2.5)
    assert "Read timeout" in slow["message"]
    dropped = flip_and_recover(ec2, kubectl, "flaky", "drop", "AwsUnavailable")
    assert "Connection" in dropped["message"] or "connection" in dropped["message"]
    assert fs.sync_events(kubectl, "flaky") == [
        "SyncFailed",
        "SyncRecovered",
        "SyncFailed",
        "SyncRecovered",
    ]


AUTH_FAULTS = [
    # (fault, reason, how AWS's message starts)
    ("AuthFailure", "InvalidCredentials", "AWS was not able to validate the provided access"),
    ("UnauthorizedOperation", "AccessDenied", "You are not authorized to perform this operation."),
    ("RequestExpired", "InvalidCredentials", "Request has expired."),
]


def test_auth_faults_show_the_reason_and_aws_message(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    start_operator()
    track(ec2, kubectl, "denied")
    for kind, reason, message in AUTH_FAULTS:
        cond = flip_and_recover(ec2, kubectl, "denied", kind, reason)
        assert cond["message"].startswith(message), cond
    assert fs.sync_events(kubectl, "denied") == ["SyncFailed", "SyncRecovered"] * 3
    warnings = [e for e in kubectl.events("denied") if e["reason"] == "SyncFailed"]
    assert {e["type"] for e in warnings} == {"Warning"}
    for (_, reason, message), event in zip(AUTH_FAULTS, _by_time(warnings), strict=True):
        assert event["message"].startswith(f"{reason}: {message}")


def _by_time(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # eventTime has microseconds; lastTimestamp only whole seconds on kube-apiserver.
    return sorted(events, key=lambda e: e.get("eventTime") or e.get("lastTimestamp") or "")


def test_unknown_region_affects_only_its_resource(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    start_operator()
    track(ec2, kubectl, "home")
    kubectl.apply(harness.amistore("lost", imageIds=[AMI_DONE], region="xx-nowhere-1"))
    cond = fs.wait_synced(kubectl, "lost", "False", "InvalidCredentials")
    assert "xx-nowhere-1" in cond["message"]
    assert kubectl.status("lost")["state"] == "Unknown"
    assert fs.synced(kubectl, "home")["status"] == "True"
    assert fs.sync_events(kubectl, "home") == []


def test_no_credentials_at_all(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, launch: fs.Launcher, tmp_path: Any
) -> None:
    missing = str(tmp_path / "absent")
    launch(
        env={"AWS_SHARED_CREDENTIALS_FILE": missing, "AWS_CONFIG_FILE": missing},
        drop=CREDENTIAL_VARIABLES,
    )
    ec2.create_task(AMI_DONE, fs.BUCKET, progress=100, state="Completed")
    kubectl.apply(harness.amistore("anonymous", imageIds=[AMI_DONE]))
    cond = fs.wait_synced(kubectl, "anonymous", "False", "InvalidCredentials")
    assert cond["message"] == "Unable to locate credentials"
    status = kubectl.status("anonymous")
    assert status["state"] == "Unknown"
    assert fs.condition(status, "Complete")["status"] == "Unknown"
    assert ec2.calls(fs.DESCRIBE) == []  # nothing unsigned ever left the process
