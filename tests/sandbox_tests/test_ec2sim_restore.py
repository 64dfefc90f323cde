"""CreateRestoreImageTask through real boto3 against the simulator: the restored AMI,
its name, tags, capacity and end, and the control API that drives it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.sandbox.ec2sim.control import ControlError, Ec2SimControl
from tests.sandbox_tests.restoring import (
    AMI,
    BUCKET,
    GIB,
    KEY,
    NOW,
    OWN,
    error_of,
    restore,
    snapshot_states,
    stored,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


@pytest.fixture
def ctl(ctl: Ec2SimControl) -> Ec2SimControl:
    ctl.set_clock(NOW, frozen=True)
    return ctl


def test_a_restored_ami_is_pending_then_available_as_its_snapshots_progress(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    stored(ctl, name="golden-web", volumes=[8, 16])
    ctl.restore_settings(restore_duration_seconds=100)
    answer = ec2.create_restore_image_task(Bucket=BUCKET, ObjectKey=KEY, Name="web-restored")
    assert set(answer) == {"ImageId", "ResponseMetadata"}
    ami_id = answer["ImageId"]
    named = ec2.describe_images(
        Owners=["self"], Filters=[{"Name": "name", "Values": ["web-restored"]}]
    )
    [image] = named["Images"]
    assert (image["ImageId"], image["State"], image["OwnerId"]) == (ami_id, "pending", OWN)
    assert "StateReason" not in image
    assert [d["Ebs"]["VolumeSize"] for d in image["BlockDeviceMappings"]] == [8, 16]
    assert snapshot_states(ec2, ami_id) == [("pending", "0%")]
    ctl.advance(50)
    assert snapshot_states(ec2, ami_id) == [("pending", "50%")]
    pending = ec2.describe_images(Filters=[{"Name": "state", "Values": ["pending"]}])["Images"]
    assert [i["ImageId"] for i in pending] == [ami_id]
    ctl.advance(50)
    assert ec2.describe_images(ImageIds=[ami_id])["Images"][0]["State"] == "available"
    assert snapshot_states(ec2, ami_id) == [("completed", "100%")]
    assert ec2.describe_images(ImageIds=[AMI])["Images"][0]["Name"] == "golden-web"
    [call] = ctl.calls("CreateRestoreImageTask")
    assert call["params"] == {"Bucket": BUCKET, "ObjectKey": KEY, "Name": "web-restored"}
    assert call["status"] == 200


def test_the_name_defaults_to_the_one_recorded_when_the_ami_was_stored(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    stored(ctl, name="golden-v1")
    ctl.update_image(AMI, name="golden-v2")  # renamed after the store: the object keeps v1
    ami_id = restore(ec2)
    assert ec2.describe_images(ImageIds=[ami_id])["Images"][0]["Name"] == "golden-v1"


def test_a_name_in_use_is_refused_naming_the_ami_that_holds_it(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    stored(ctl, name="golden-web")
    code, status, message = error_of(lambda: restore(ec2))  # the source still holds its name
    assert (code, status) == ("InvalidAMIName.Duplicate", 400)
    assert message == f"AMI name golden-web is already in use by AMI {AMI}"
    first = restore(ec2, "copy")
    assert error_of(lambda: restore(ec2, "copy"))[2] == (
        f"AMI name copy is already in use by AMI {first}"
    )
    untouched = "ami-0c0000000000000b2"
    ctl.register_amis([untouched])  # never looked at: its default name is image-<id>
    message = error_of(lambda: restore(ec2, f"image-{untouched}"))[2]
    assert message.endswith(f"by AMI {untouched}")
    ec2.deregister_image(ImageId=AMI)
    assert ec2.describe_images(ImageIds=[restore(ec2)])["Images"][0]["Name"] == "golden-web"
    assert len(ctl.restored_images()) == 2


def test_dry_run_and_a_denied_call(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    stored(ctl)
    code, status, _ = error_of(lambda: restore(ec2, "dry", DryRun=True))
    assert (code, status) == ("DryRunOperation", 412)
    ctl.inject_fault("UnauthorizedOperation", action="CreateRestoreImageTask", count=1)
    code, status, _ = error_of(lambda: restore(ec2, "dry", DryRun=True))
    assert (code, status) == ("UnauthorizedOperation", 403)
    assert ctl.restored_images() == []
    assert ec2.describe_images(Filters=[{"Name": "name", "Values": ["dry"]}])["Images"] == []


def test_restores_in_progress_over_the_capacity_are_refused(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    stored(ctl)
    ctl.update_object(BUCKET, KEY, size=60 * GIB)
    assert ctl.restore_settings(restore_capacity_gb=100)["restore_capacity_gb"] == 100
    first = restore(ec2, "first")
    assert ctl.restore_settings()["in_progress_gb"] == 60
    code, status, message = error_of(lambda: restore(ec2, "second"))
    assert (code, status) == ("ResourceLimitExceeded", 400)
    assert "60 GB" in message
    assert "100 GB" in message
    ctl.complete_restore(first)
    assert ctl.restore_settings()["in_progress_gb"] == 0
    restore(ec2, "second")
    ctl.update_object(BUCKET, KEY, size=500 * GIB)
    assert error_of(lambda: restore(ec2, "third"))[0] == "ResourceLimitExceeded"
    ctl.restore_settings(restore_capacity_gb=0)  # unlimited
    restore(ec2, "third")


def test_a_failed_restore_shows_its_reason(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    stored(ctl)
    ctl.restore_settings(restore_duration_seconds=100)
    ami_id = restore(ec2, "doomed")
    ctl.advance(30)
    ctl.fail_restore(ami_id, "Client.InvalidObject", "The stored AMI could not be read.")
    ctl.advance(1000)
    [image] = ec2.describe_images(ImageIds=[ami_id])["Images"]
    assert image["State"] == "failed"
    assert image["StateReason"] == {
        "Code": "Client.InvalidObject",
        "Message": "The stored AMI could not be read.",
    }
    assert snapshot_states(ec2, ami_id) == [("error", "30%")]
    failed = ec2.describe_images(Filters=[{"Name": "state", "Values": ["failed"]}])["Images"]
    assert [i["ImageId"] for i in failed] == [ami_id]
    other = restore(ec2, "doomed-too")
    state_reason = ctl.fail_restore(other)["state_reason"]
    assert state_reason["code"] == "Server.InternalError"


def test_tags_go_on_the_image_and_its_snapshots(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    stored(ctl, volumes=[8, 4])
    ami_id = restore(
        ec2,
        "tagged",
        TagSpecifications=[
            {"ResourceType": "image", "Tags": [{"Key": "team", "Value": "web"}]},
            {"ResourceType": "snapshot", "Tags": [{"Key": "cost", "Value": "restore"}]},
        ],
    )
    [image] = ec2.describe_images(ImageIds=[ami_id])["Images"]
    assert image["Tags"] == [{"Key": "team", "Value": "web"}]
    ids = [d["Ebs"]["SnapshotId"] for d in image["BlockDeviceMappings"]]
    snapshots = ec2.describe_snapshots(SnapshotIds=ids)["Snapshots"]
    assert [s["Tags"] for s in snapshots] == [[{"Key": "cost", "Value": "restore"}]] * 2
    assert "Tags" not in ec2.describe_images(ImageIds=[AMI])["Images"][0]
    logged = ctl.calls("CreateRestoreImageTask")[-1]["params"]["TagSpecifications"]
    assert logged[0] == {"ResourceType": "image", "Tags": [{"Key": "team", "Value": "web"}]}
    wrong = [{"ResourceType": "instance", "Tags": [{"Key": "a", "Value": "b"}]}]
    refused = error_of(lambda: restore(ec2, "tagged-2", TagSpecifications=wrong))
    assert refused[0] == "InvalidParameterValue"
    assert error_of(lambda: restore(ec2, "web*restored"))[0] == "InvalidAMIName.Malformed"


def test_the_tag_filter_finds_an_ami_by_its_tag_value(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    stored(ctl)
    tag = [{"ResourceType": "image", "Tags": [{"Key": "team", "Value": "web"}]}]
    tagged = restore(ec2, "tagged", TagSpecifications=tag)
    restore(ec2, "untagged")

    def named(name: str, *values: str) -> list[str]:
        found = ec2.describe_images(Owners=["self"], Filters=[{"Name": name, "Values": [*values]}])
        return [i["ImageId"] for i in found["Images"]]

    assert named("tag:team", "web") == [tagged]
    assert named("tag:team", "w*") == [tagged]
    assert named("tag:team", "*") == [tagged]  # an AMI without the tag never matches
    assert named("tag:team", "db") == []
    assert named("tag:owner", "*") == []
    assert error_of(lambda: named("tag:", "web"))[0] == "InvalidParameterValue"


def test_the_object_must_be_a_stored_ami_in_the_callers_region(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    stored(ctl)
    missing = error_of(
        lambda: ec2.create_restore_image_task(Bucket=BUCKET, ObjectKey="nope.bin", Name="x-1")
    )
    assert missing[:2] == ("InvalidParameterValue", 400)
    assert "does not exist" in missing[2]
    ctl.update_object(BUCKET, "manual.bin", create=True)
    not_ami = error_of(
        lambda: ec2.create_restore_image_task(Bucket=BUCKET, ObjectKey="manual.bin", Name="x-2")
    )
    assert not_ami[0] == "InvalidParameterValue"
    assert "not an AMI" in not_ami[2]
    ctl.set_bucket_regions({BUCKET: "us-east-1"})
    elsewhere = error_of(lambda: restore(ec2, "x-3"))
    assert elsewhere[0] == "InvalidParameter"
    assert "us-east-1" in elsewhere[2]
    assert ctl.restored_images() == []


def test_the_control_api_pins_completes_and_lists_restores(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    stored(ctl, volumes=[8])
    tags = [{"ResourceType": "image", "Tags": [{"Key": "team", "Value": "web"}]}]
    ami_id = restore(ec2, "driven", TagSpecifications=tags)
    pinned = ctl.update_restored_image(ami_id, progress=40)
    assert (pinned["state"], pinned["progress"]) == ("pending", 40)
    ctl.advance(1000)
    assert snapshot_states(ec2, ami_id) == [("pending", "40%")]
    ctl.update_restored_image(ami_id, state="pending", duration_seconds=100)
    ctl.advance(30)
    assert snapshot_states(ec2, ami_id) == [("pending", "70%")]
    done = ctl.complete_restore(ami_id)
    assert (done["state"], done["progress"]) == ("available", 100)
    [listed] = ctl.restored_images()
    assert {k: listed[k] for k in ("ami_id", "name", "bucket", "key", "tags", "size_gb")} == {
        "ami_id": ami_id,
        "name": "driven",
        "bucket": BUCKET,
        "key": KEY,
        "tags": {"team": "web"},
        "size_gb": 8,
    }
    assert ctl.image(ami_id)["state"] == "available"
    for fields in ({"progress": 100}, {"state": "gone"}, {"state": "failed", "reason": "x"}):
        with pytest.raises(ControlError, match="400"):
            ctl.update_restored_image(ami_id, **fields)
    with pytest.raises(ControlError, match="404"):
        ctl.restored_image(AMI)  # stored, not restored
    with pytest.raises(ControlError, match="400"):
        ctl.restore_settings(thaw_seconds={"GLACIER_IR": {"Standard": 1}})
