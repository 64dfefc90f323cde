"""Time: Completed and Failed tasks keep their state after AWS forgets them (31 days)."""

from __future__ import annotations

import pytest

from tests.e2e import faults_support as fs
from tests.e2e import harness
from tests.e2e.conftest import OperatorFactory
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e

DONE = fs.ami(0xE001)
FAILED = fs.ami(0xE002)
LATER = fs.ami(0xE003)
REASON = "Access Denied for bucket acme-ami-archive"
DAY = 86400


def test_finished_tasks_outlive_the_31_day_window(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    ec2.create_task(DONE, fs.BUCKET, progress=100, state="Completed")
    ec2.create_task(FAILED, fs.BUCKET, progress=40, state="Failed", failure_reason=REASON)
    ec2.register_amis([LATER])
    operator = start_operator()
    kubectl.apply(harness.amistore("by-id", imageIds=[DONE, FAILED]))
    kubectl.apply(harness.amistore("by-bucket", bucket=fs.BUCKET))
    before = {
        name: fs.wait_status(kubectl, name, lambda s: s.get("tasksTotal") == 2, "both tasks")
        for name in ("by-id", "by-bucket")
    }
    events = {name: len(fs.wait_task_events(kubectl, name, 2)) for name in before}

    ec2.advance(32 * DAY)
    assert ec2.task(DONE)["state"] == "Completed"  # stored, but no longer visible to EC2
    seq = fs.last_seq(ec2)
    # A spec change re-polls every AMI of that resource at once; the listing runs every interval.
    kubectl.apply(harness.amistore("by-id", imageIds=[DONE, FAILED, LATER]))
    fs.wait_calls(ec2, 1, since_seq=seq, where=lambda c: DONE in c["params"].get("ImageIds", []))
    fs.wait_calls(ec2, 2, since_seq=seq, where=lambda c: "Filters" in str(c["params"]))
    harness.wait_until(
        lambda: kubectl.status("by-id").get("tasksTotal") == 3, timeout=fs.WAIT, what="3 tasks"
    )
    for name, old in before.items():
        status = kubectl.status(name)
        fs.assert_not_regressed(old, status)
        tasks = fs.task_entries(status)
        assert tasks[DONE] == fs.task_entries(old)[DONE]
        assert tasks[FAILED] == fs.task_entries(old)[FAILED]
        assert tasks[FAILED]["failureReason"] == REASON
        assert fs.condition(status, "Synced")["status"] == "True"
        assert fs.condition(status, "Failed")["status"] == "True"
        assert len(kubectl.events(name)) == events[name]
    assert fs.task_entries(kubectl.status("by-id"))[LATER]["state"] == "Pending"
    states = {
        (labels["name"], labels["ami_id"])
        for labels, value in fs.samples(operator.metrics(), "amistore_task_state")
        if value == 1 and labels["state"] in ("Completed", "Failed")
    }
    assert states == {(n, a) for n in before for a in (DONE, FAILED)}
