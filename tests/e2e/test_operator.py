"""The real amistore-operator, real kubectl and real boto3 against the sandbox (or a cluster)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.e2e import faults_support as fs
from tests.e2e import harness
from tests.e2e.conftest import POLL_INTERVAL, OperatorFactory
from tests.sandbox.ec2sim import control, sts

pytestmark = pytest.mark.e2e

AMI_A = "ami-0a1b2c3d4e5f60718"
AMI_B = "ami-0b1b2c3d4e5f60718"
AMI_C = "ami-0c1b2c3d4e5f60718"
BUCKET = "acme-ami-archive"
WAIT = 30.0


def state_of(kubectl: harness.Kubectl, name: str) -> str | None:
    """The resource's aggregate state, None before the first status write."""
    return kubectl.status(name).get("state")


def test_export_progresses_and_completes(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    ec2.create_task(AMI_A, BUCKET, duration_seconds=12)
    operator = start_operator()
    kubectl.apply(harness.amistore("golden", imageIds=[AMI_A], bucket=BUCKET))

    first = harness.wait_until(
        lambda: kubectl.status("golden") if state_of(kubectl, "golden") == "InProgress" else None,
        timeout=WAIT,
        what="state InProgress",
    )
    progress = first["progressPercentage"]
    harness.wait_until(
        lambda: kubectl.status("golden").get("progressPercentage", 0) > progress,
        timeout=WAIT,
        what="rising progress",
    )
    waited = kubectl.run(
        "wait", "--for=condition=Complete", "amistore/golden", "--timeout=40s", timeout=60
    )
    assert "condition met" in waited.stdout

    final = kubectl.status("golden")
    assert final["state"] == "Completed"
    assert final["progressPercentage"] == 100
    assert (final["tasksTotal"], final["tasksCompleted"]) == (1, 1)
    task = final["tasks"][0]
    assert task["amiId"] == AMI_A
    assert task["bucket"] == BUCKET
    assert task["s3ObjectKey"].startswith(AMI_A)
    assert fs.condition(final, "Synced")["status"] == "True"
    reasons = [e["reason"] for e in kubectl.events("golden")]
    assert reasons.count("StoreCompleted") == 1
    metrics = operator.metrics()
    assert (
        {
            "namespace": kubectl.namespace,
            "name": "golden",
            "ami_id": AMI_A,
            "region": "eu-west-1",
            "account": sts.DEFAULT_ACCOUNT,  # the operator's own, from GetCallerIdentity
            "state": "Completed",
        },
        1.0,
    ) in fs.samples(metrics, "amistore_task_state")


def test_failure_shows_reason_and_warning_event(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    reason = "Access Denied for bucket acme-locked-bucket"
    ec2.create_task(AMI_B, "acme-locked-bucket", progress=35, state="Failed", failure_reason=reason)
    operator = start_operator()
    kubectl.apply(harness.amistore("broken", imageIds=[AMI_B]))

    harness.wait_until(
        lambda: state_of(kubectl, "broken") == "Failed", timeout=WAIT, what="state Failed"
    )
    status = kubectl.status("broken")
    assert status["tasks"][0]["failureReason"] == reason
    failed = fs.condition(status, "Failed")
    assert failed["status"] == "True"
    assert AMI_B in failed["message"]
    assert fs.condition(status, "Complete")["status"] == "False"
    warnings = harness.wait_until(
        lambda: [
            e
            for e in kubectl.events("broken")
            if e["type"] == "Warning" and e["reason"] == "StoreFailed"
        ],
        timeout=WAIT,
        what="a StoreFailed Warning event",
    )
    assert len(warnings) == 1
    assert reason in warnings[0]["message"]
    assert (
        {
            "namespace": kubectl.namespace,
            "name": "broken",
            "ami_id": AMI_B,
            "region": "eu-west-1",
            "account": sts.DEFAULT_ACCOUNT,
            "reason": reason,
        },
        1.0,
    ) in fs.samples(operator.metrics(), "amistore_task_failure_info")


def test_ami_without_task_is_pending_then_starts(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    ec2.register_amis([AMI_C])
    start_operator()
    kubectl.apply(harness.amistore("later", imageIds=[AMI_C]))
    harness.wait_until(
        lambda: state_of(kubectl, "later") == "Pending", timeout=WAIT, what="state Pending"
    )
    status = kubectl.status("later")
    assert status["tasks"] == [
        {**status["tasks"][0], "amiId": AMI_C, "state": "Pending", "progressPercentage": 0}
    ]
    assert status["tasksPending"] == 1

    ec2.create_task(AMI_C, BUCKET, duration_seconds=600)
    harness.wait_until(
        lambda: state_of(kubectl, "later") == "InProgress", timeout=WAIT, what="InProgress"
    )
    assert "StoreStarted" in [e["reason"] for e in kubectl.events("later")]


def test_spec_edit_is_acted_on_within_seconds_and_series_follow(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    ec2.create_task(AMI_A, BUCKET, progress=100, state="Completed")
    ec2.create_task(AMI_B, BUCKET, duration_seconds=600)
    operator = start_operator()
    kubectl.apply(harness.amistore("edited", imageIds=[AMI_A], pollIntervalSeconds=3600))
    harness.wait_until(
        lambda: state_of(kubectl, "edited") == "Completed", timeout=WAIT, what="Completed"
    )

    started = time.monotonic()
    kubectl.apply(harness.amistore("edited", imageIds=[AMI_B], pollIntervalSeconds=3600))
    harness.wait_until(
        lambda: [t["amiId"] for t in kubectl.status("edited").get("tasks", [])] == [AMI_B],
        timeout=15,
        what="the new AMI replacing the old one in status",
    )
    # The interval is an hour: only the spec change can explain a poll this soon.
    assert time.monotonic() - started < 15
    status = kubectl.status("edited")
    assert status["state"] == "InProgress"
    assert (
        status["observedGeneration"] == kubectl.get("amistore", "edited")["metadata"]["generation"]
    )
    series = harness.wait_until(
        lambda: (
            {
                labels["ami_id"]
                for labels, _ in fs.samples(operator.metrics(), "amistore_task_progress_percent")
                if labels["name"] == "edited"
            }
            == {AMI_B}
        ),
        timeout=WAIT,
        what="the removed AMI's series to vanish",
    )
    assert series


def test_invalid_resources_are_rejected_by_kubectl_apply(kubectl: harness.Kubectl) -> None:
    bad_id = kubectl.run(
        "apply", "-f", "-", stdin=harness.amistore("bad", imageIds=["ami-12"]), check=False
    )
    assert bad_id.returncode != 0
    assert "imageIds" in bad_id.stderr
    assert "should match" in bad_id.stderr

    both = kubectl.run(
        "apply",
        "-f",
        "-",
        stdin=harness.amistore("bad", imageIds=[AMI_A], taskStates=["Failed"]),
        check=False,
    )
    assert both.returncode != 0
    assert "taskStates can only be used without imageIds" in both.stderr

    too_fast = kubectl.run(
        "apply", "-f", "-", stdin=harness.amistore("bad", pollIntervalSeconds=1), check=False
    )
    assert too_fast.returncode != 0
    assert "pollIntervalSeconds" in too_fast.stderr
    assert kubectl.run("get", "amistore", "bad", check=False).returncode != 0


def test_deletion_removes_series_and_releases_the_resource(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    ec2.create_task(AMI_A, BUCKET, duration_seconds=600)
    operator = start_operator()
    kubectl.apply(harness.amistore("doomed", imageIds=[AMI_A]))
    harness.wait_until(
        lambda: any(
            labels["name"] == "doomed"
            for labels, _ in fs.samples(operator.metrics(), "amistore_task_state")
        ),
        timeout=WAIT,
        what="the resource's series",
    )
    kubectl.run("delete", "amistore", "doomed", "--timeout=20s", timeout=30)
    assert kubectl.run("get", "amistore", "doomed", check=False).returncode != 0
    text = operator.metrics()
    assert not [
        labels
        for labels, _ in fs.samples(text, "amistore_task_state")
        if labels["name"] == "doomed"
    ]
    assert not [
        labels
        for labels, _ in fs.samples(text, "amistore_resource_synced")
        if labels["name"] == "doomed"
    ]


def test_printer_columns(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    ec2.create_task(AMI_A, BUCKET, progress=100, state="Completed")
    ec2.create_task(AMI_B, BUCKET, progress=40, state="Failed", failure_reason="Disk error")
    start_operator()
    kubectl.apply(
        harness.amistore("columns", imageIds=[AMI_A, AMI_B], bucket=BUCKET, region="eu-west-1")
    )
    harness.wait_until(
        lambda: state_of(kubectl, "columns") == "Failed", timeout=WAIT, what="Failed"
    )
    narrow = kubectl.run("get", "amistores").stdout.splitlines()
    assert narrow[0].split() == ["NAME", "STATE", "PROGRESS", "COMPLETED", "FAILED", "TOTAL", "AGE"]
    row = narrow[1].split()
    assert row[:6] == ["columns", "Failed", "70", "1", "1", "2"]  # (100 + 40) / 2
    wide = kubectl.run("get", "ams", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == [
        "NAME",
        "STATE",
        "PROGRESS",
        "COMPLETED",
        "FAILED",
        "TOTAL",
        "AGE",
        "REGION",
        "BUCKET",
        "ACCOUNT",
        "SYNCED",
        "LAST",
        "POLL",
        "ETA",
    ]
    wide_row = wide[1].split()
    assert wide_row[7:11] == ["eu-west-1", BUCKET, sts.DEFAULT_ACCOUNT, "True"]
    # Ages, not timestamps: kubectl renders `date` columns like "5s".
    assert wide_row[6][-1] in "smhd"
    assert wide_row[11][-1] in "smhd"
    by_category = kubectl.run("get", "aws").stdout
    assert "columns" in by_category


def store_events(kubectl: harness.Kubectl, name: str, reason: str) -> int:
    """How many times an Event of this reason was posted about the resource."""
    return sum(int(e.get("count") or 1) for e in kubectl.events(name) if e["reason"] == reason)


def calls_naming(ec2: control.Ec2SimControl, ami_id: str, since_seq: int) -> list[control.CallInfo]:
    """DescribeStoreImageTasks calls after ``since_seq`` that asked for this AMI."""
    return [
        c
        for c in ec2.calls("DescribeStoreImageTasks")
        if c["seq"] > since_seq and ami_id in c["params"].get("ImageIds", [])
    ]


def next_poll(ec2: control.Ec2SimControl, after: control.CallInfo) -> list[control.CallInfo]:
    """DescribeStoreImageTasks calls of a later refresh than the call ``after``."""
    return [
        c
        for c in ec2.calls("DescribeStoreImageTasks")
        if c["seq"] > after["seq"] and c["time"] >= after["time"] + POLL_INTERVAL / 2
    ]


def test_restart_loses_and_regresses_nothing(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    ec2.create_task(AMI_A, BUCKET, progress=60)
    ec2.create_task(AMI_B, BUCKET, duration_seconds=600)
    first = start_operator()
    kubectl.apply(harness.amistore("durable", imageIds=[AMI_A, AMI_B]))
    harness.wait_until(
        lambda: state_of(kubectl, "durable") == "InProgress", timeout=WAIT, what="InProgress"
    )
    ec2.update_task(AMI_A, state="Completed", progress=100)
    harness.wait_until(
        lambda: store_events(kubectl, "durable", "StoreCompleted") == 1,
        timeout=WAIT,
        what="StoreCompleted for the finished task",
    )
    first.kill()
    before = kubectl.status("durable")
    assert next(t for t in before["tasks"] if t["amiId"] == AMI_A)["state"] == "Completed"
    # AWS forgets the completed task (its 31 days passed) while the operator is down.
    ec2.update_task(AMI_A, started_seconds_ago=40 * 86400)
    assert not next(t for t in ec2.tasks() if t["ami_id"] == AMI_A)["visible"]
    seq = ec2.calls()[-1]["seq"] if ec2.calls() else -1
    start_operator()
    # The finished task is re-checked within 10 intervals of the restart: AWS answers
    # nothing for it. Then wait for a poll after that answer was served, and look.
    recheck = harness.wait_until(
        lambda: calls_naming(ec2, AMI_A, seq),
        timeout=10 * POLL_INTERVAL + WAIT,
        what="the forgotten task to be re-checked after the restart",
    )[0]
    harness.wait_until(
        lambda: next_poll(ec2, recheck), timeout=WAIT, what="a poll after the re-check"
    )
    after = kubectl.status("durable")
    tasks = {t["amiId"]: t for t in after["tasks"]}
    assert tasks[AMI_A]["state"] == "Completed"
    assert (
        tasks[AMI_A]["lastTransitionTime"]
        == next(t for t in before["tasks"] if t["amiId"] == AMI_A)["lastTransitionTime"]
    )
    assert (
        tasks[AMI_B]["progressPercentage"]
        >= next(t for t in before["tasks"] if t["amiId"] == AMI_B)["progressPercentage"]
    )
    assert (
        fs.condition(after, "Synced")["lastTransitionTime"]
        == fs.condition(before, "Synced")["lastTransitionTime"]
    )
    assert store_events(kubectl, "durable", "StoreCompleted") == 1
    assert store_events(kubectl, "durable", "StoreStarted") == 2


def test_unchanged_resources_are_never_written(
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    start_operator: OperatorFactory,
    api_requests: harness.ApiRequests,
) -> None:
    ec2.create_task(AMI_A, BUCKET, progress=100, state="Completed")
    # Pinned progress: polled every interval, never changing.
    ec2.create_task(AMI_B, BUCKET, progress=50)
    start_operator()
    kubectl.apply(harness.amistore("quiet", imageIds=[AMI_A, AMI_B]))
    harness.wait_until(
        lambda: state_of(kubectl, "quiet") == "InProgress", timeout=WAIT, what="InProgress"
    )
    api_requests.clear()
    seq = ec2.calls()[-1]["seq"] if ec2.calls() else -1
    # The quiet period being measured: the operator keeps polling EC2 (the in-progress task
    # every interval, the Completed one re-checked every 5 to 10 intervals) and must not
    # write. Wait for the re-check, then for a poll after it: by then its answer was served.
    recheck = harness.wait_until(
        lambda: calls_naming(ec2, AMI_A, seq),
        timeout=10 * POLL_INTERVAL + WAIT,
        what="the Completed task to be re-checked",
    )[0]
    harness.wait_until(
        lambda: next_poll(ec2, recheck), timeout=WAIT, what="a poll after the re-check"
    )
    writes = [r for r in api_requests.all() if r.is_write and r.resource.startswith("amistores")]
    assert writes == []
    assert sorted(e["reason"] for e in kubectl.events("quiet")) == [
        "StoreCompleted",
        "StoreStarted",
    ]


def test_bad_flag_is_one_clear_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "amistore_operator", "--poll-interval", "soon"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--poll-interval" in lines[0]
    assert "Traceback" not in result.stderr


def test_sigterm_exits_cleanly_within_ten_seconds(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    ec2.create_task(AMI_A, BUCKET, duration_seconds=600)
    operator = start_operator()
    kubectl.apply(harness.amistore("busy", imageIds=[AMI_A]))
    harness.wait_until(
        lambda: state_of(kubectl, "busy") == "InProgress", timeout=WAIT, what="InProgress"
    )
    started = time.monotonic()
    assert operator.stop(signal.SIGTERM, timeout=10) == 0
    assert time.monotonic() - started < 10


def test_no_log_line_per_poll_and_no_log_events(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    ec2.create_task(AMI_A, BUCKET, progress=50, state="InProgress")
    operator = start_operator()
    kubectl.apply(harness.amistore("steady", imageIds=[AMI_A]))
    harness.wait_until(
        lambda: state_of(kubectl, "steady") == "InProgress", timeout=WAIT, what="InProgress"
    )
    ec2.clear_calls()
    harness.wait_until(
        lambda: len(ec2.calls("DescribeStoreImageTasks")) >= 2, timeout=WAIT, what="two polls"
    )
    lines = operator.logs().count("\n")
    ec2.clear_calls()
    harness.wait_until(
        lambda: len(ec2.calls("DescribeStoreImageTasks")) >= 3, timeout=WAIT, what="more polls"
    )
    assert operator.logs().count("\n") == lines, operator.logs()[-2000:]
    reasons = [e["reason"] for e in kubectl.events("steady")]
    assert reasons == ["StoreStarted"]
