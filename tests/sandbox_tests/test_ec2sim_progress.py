"""Scripted task progress over the simulator's clock, and CreateStoreImageTask."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError

from tests.sandbox.ec2sim.control import ControlError, Ec2SimControl
from tests.sandbox.ec2sim.runner import ThreadedEc2Sim

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import StoreImageTaskResultTypeDef

AMI = "ami-0a1b2c3d4e5f60718"


@pytest.fixture
def ctl(ctl: Ec2SimControl) -> Ec2SimControl:
    ctl.set_clock(frozen=True)
    return ctl


def one(ec2: EC2Client, ami_id: str = AMI) -> StoreImageTaskResultTypeDef:
    results = ec2.describe_store_image_tasks(ImageIds=[ami_id])["StoreImageTaskResults"]
    assert len(results) == 1
    return results[0]


def test_progress_is_linear_in_the_moved_clock(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.create_task(AMI, "b", duration_seconds=1000)
    seen = []
    for step in (0, 250, 249, 1, 499, 1, 10_000):
        ctl.advance(step)
        task = one(ec2)
        seen.append((task["ProgressPercentage"], task["StoreTaskState"]))
    assert seen == [
        (0, "InProgress"),
        (25, "InProgress"),
        (49, "InProgress"),
        (50, "InProgress"),
        (99, "InProgress"),
        (100, "Completed"),
        (100, "Completed"),
    ]
    assert "StoreTaskFailureReason" not in one(ec2)


def test_scripted_failure_at_a_percentage(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    reason = "Access Denied for bucket my-bucket"
    ctl.create_task(
        AMI, "my-bucket", duration_seconds=100, fail_at_percent=60, failure_reason=reason
    )
    ctl.advance(59)
    assert one(ec2)["StoreTaskState"] == "InProgress"
    ctl.advance(1)
    failed = one(ec2)
    assert (failed["StoreTaskState"], failed["ProgressPercentage"]) == ("Failed", 60)
    assert failed["StoreTaskFailureReason"] == reason
    ctl.advance(1000)
    assert one(ec2)["StoreTaskState"] == "Failed"


def test_running_clock_moves_progress(sim: ThreadedEc2Sim, ec2: EC2Client) -> None:
    control = Ec2SimControl(sim.url)
    control.reset()
    control.create_task(AMI, "b", duration_seconds=0.5)
    assert not control.clock()["frozen"]
    # Only real time moves it: wait on the condition, bounded, instead of sleeping blindly.
    seen = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "Completed" not in seen:
        seen.add(one(ec2)["StoreTaskState"])
    assert seen == {"InProgress", "Completed"}


def test_set_clock_and_unfreeze(ctl: Ec2SimControl) -> None:
    frozen = ctl.set_clock(1_800_000_000.0)
    assert frozen["now"] == 1_800_000_000.0
    assert frozen["frozen"]
    assert ctl.clock()["now"] == 1_800_000_000.0
    running = ctl.set_clock(frozen=False)
    assert not running["frozen"]
    assert running["now"] >= 1_800_000_000.0


def test_control_sets_progress_and_state(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.create_task(AMI, "b", duration_seconds=100)
    ctl.update_task(AMI, progress=42)
    ctl.advance(1000)
    assert one(ec2)["ProgressPercentage"] == 42
    ctl.update_task(AMI, state="Failed", failure_reason="Bucket not found: b")
    task = one(ec2)
    assert (task["StoreTaskState"], task.get("StoreTaskFailureReason")) == (
        "Failed",
        "Bucket not found: b",
    )
    assert ctl.update_task(AMI, state="Completed")["progress"] == 100
    assert ctl.task(AMI)["state"] == "Completed"
    with pytest.raises(ControlError):
        ctl.update_task(AMI, state="Done")
    with pytest.raises(ControlError):
        ctl.task("ami-99999999")


def test_create_store_image_task(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.register_amis([AMI])
    ctl.configure(create_duration_seconds=100)
    response = ec2.create_store_image_task(
        ImageId=AMI, Bucket="my-bucket", S3ObjectTags=[{"Key": "team", "Value": "infra"}]
    )
    assert response["ObjectKey"] == f"{AMI}.bin"
    ctl.advance(30)
    task = one(ec2)
    assert (task["Bucket"], task["S3objectKey"], task["ProgressPercentage"]) == (
        "my-bucket",
        f"{AMI}.bin",
        30,
    )
    call = ctl.calls("CreateStoreImageTask")[0]
    assert call["params"] == {
        "ImageId": AMI,
        "Bucket": "my-bucket",
        "S3ObjectTags": [{"Key": "team", "Value": "infra"}],
    }


def test_a_new_task_replaces_the_old_one(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.create_task(AMI, "old", state="Failed", failure_reason="x", started_seconds_ago=60)
    ec2.create_store_image_task(ImageId=AMI, Bucket="new")
    task = one(ec2)
    assert (task["Bucket"], task["StoreTaskState"]) == ("new", "InProgress")
    assert len(ec2.describe_store_image_tasks()["StoreImageTaskResults"]) == 1


@pytest.mark.parametrize(
    ("image_id", "code"),
    [("ami-12345678", "InvalidAMIID.NotFound"), ("ami-xyz", "InvalidAMIID.Malformed")],
)
def test_create_rejects_bad_amis(
    ctl: Ec2SimControl, ec2: EC2Client, image_id: str, code: str
) -> None:
    with pytest.raises(ClientError) as exc:
        ec2.create_store_image_task(ImageId=image_id, Bucket="b")
    assert exc.value.response["Error"]["Code"] == code
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert ctl.tasks() == []


def test_create_dry_run(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.register_amis([AMI])
    with pytest.raises(ClientError) as exc:
        ec2.create_store_image_task(ImageId=AMI, Bucket="b", DryRun=True)
    assert exc.value.response["Error"]["Code"] == "DryRunOperation"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert ctl.tasks() == []


def test_bulk_creates_amis_with_tasks(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    made = ctl.bulk(300, bucket="bench", duration_seconds=100, spread_seconds=300, fail_every=3)
    assert made["count"] == 300
    assert made["ami_ids"][0] == made["first_ami_id"] == "ami-00000000000000001"
    assert len(set(made["ami_ids"])) == 300
    failed = ec2.describe_store_image_tasks(
        Filters=[{"Name": "task-state", "Values": ["Failed"]}], MaxResults=200
    )["StoreImageTaskResults"]
    assert len(failed) == 100
    assert {t["StoreTaskFailureReason"] for t in failed} == {"Access Denied for bucket bench"}
    stored = ctl.tasks()
    assert [t["ami_id"] for t in stored[:2]] == made["ami_ids"][:2]  # newest first
    assert all(t["visible"] for t in stored)
    state = ctl.state()
    assert (state["amis"], state["tasks"]) == (300, 300)
    more = ctl.bulk(2, bucket="bench")
    assert more["first_ami_id"] == "ami-0000000000000012d"


def progress_after(ctl: Ec2SimControl, ec2: EC2Client, steps: list[float]) -> list[int]:
    seen = []
    for step in steps:
        ctl.advance(step)
        seen.append(one(ec2)["ProgressPercentage"])
    return seen


def test_a_queued_task_sits_at_zero_then_moves(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.create_task(AMI, "b", duration_seconds=100, queued_seconds=300)
    assert progress_after(ctl, ec2, [0, 299, 1, 50, 50]) == [0, 0, 0, 50, 100]
    assert one(ec2)["StoreTaskState"] == "Completed"


def test_a_curve_of_rate_segments(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    # Fast to 50% in 100 s, then slow: 50 more points over 400 s.
    ctl.create_task(AMI, "b", segments=[(50, 100), (100, 400)])
    assert progress_after(ctl, ec2, [50, 50, 200, 199, 1]) == [25, 50, 75, 99, 100]
    assert one(ec2)["StoreTaskState"] == "Completed"


def test_uneven_steps_report_only_the_step_reached(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.create_task(AMI, "b", duration_seconds=100, steps=[3, 40, 45, 90])
    assert progress_after(ctl, ec2, [2, 1, 36, 1, 5, 45, 10]) == [0, 3, 3, 40, 45, 90, 100]


def test_a_bad_curve_is_refused(ctl: Ec2SimControl) -> None:
    with pytest.raises(ControlError, match="segments"):
        ctl.create_task(AMI, "b", segments=[(80, 10), (50, 10)])
    with pytest.raises(ControlError, match="steps"):
        ctl.create_task(AMI, "b", steps=[0, 150])
