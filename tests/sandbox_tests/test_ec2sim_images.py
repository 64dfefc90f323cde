"""DescribeImages, DescribeImageAttribute, DescribeImageReferences, DescribeSnapshots and
DeregisterImage through real boto3 against the simulator."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e import harness
from tests.sandbox.ec2sim import images, sts
from tests.sandbox.ec2sim.control import ControlError, Ec2SimControl
from tests.sandbox.ec2sim.runner import ThreadedEc2Sim, session_client

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

OWN = sts.DEFAULT_ACCOUNT
OTHER = "222222222222"
ROLE = f"arn:aws:iam::{OTHER}:role/amistore"
DAY = 86_400.0


def ami(n: int) -> str:
    return f"ami-0a{n:015x}"


def error_of(call: Callable[[], object]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def image_ids(answer: Any) -> list[str]:
    return [i["ImageId"] for i in answer["Images"]]


@pytest.fixture
def other(sim: ThreadedEc2Sim, ctl: Ec2SimControl) -> EC2Client:
    """An EC2 client signing as the other account (through AssumeRole)."""
    ctl.put_role(ROLE)
    base = boto3.client(
        "sts",
        region_name="eu-west-1",
        endpoint_url=sim.url,
        aws_access_key_id="AKIASANDBOXEXAMPLE00",
        aws_secret_access_key="sandbox-secret-not-real",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    answer = base.assume_role(RoleArn=ROLE, RoleSessionName="images-test")
    return session_client(sim.url, answer["Credentials"])


def test_a_registered_ami_has_sensible_defaults(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.register_amis([ami(1)])
    [image] = ec2.describe_images(ImageIds=[ami(1)])["Images"]
    [device] = image["BlockDeviceMappings"]
    assert images.SNAPSHOT_ID_RE.match(device["Ebs"]["SnapshotId"])
    assert len(device["Ebs"]["SnapshotId"]) == len("snap-") + 17
    assert device["Ebs"]["VolumeSize"] == 8
    assert device["DeviceName"] == image["RootDeviceName"] == "/dev/xvda"
    assert (image["ImageId"], image["OwnerId"], image["State"], image["Public"]) == (
        ami(1),
        OWN,
        "available",
        False,
    )
    assert image["Name"] == f"image-{ami(1)}"
    assert image["DeregistrationProtection"] == "disabled"
    [snapshot] = ec2.describe_snapshots(SnapshotIds=[device["Ebs"]["SnapshotId"]])["Snapshots"]
    assert (snapshot["VolumeSize"], snapshot["OwnerId"], snapshot["State"]) == (8, OWN, "completed")


def test_owners_self_and_the_name_filter_with_wildcards(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.register_amis([ami(n) for n in range(1, 5)])
    for n, name in ((1, "web-2024"), (2, "web-2025"), (3, "db-2025"), (4, "web-x")):
        ctl.update_image(ami(n), name=name)

    def names(values: list[str], owners: list[str] | None = None) -> list[str]:
        kwargs: dict[str, Any] = {"Filters": [{"Name": "name", "Values": values}]}
        if owners is not None:
            kwargs["Owners"] = owners
        return [i["Name"] for i in ec2.describe_images(**kwargs)["Images"]]

    assert names(["web-*"], ["self"]) == ["web-2024", "web-2025", "web-x"]
    assert names(["web-20??"]) == ["web-2024", "web-2025"]
    assert names(["*-2025", "web-x"], [OWN]) == ["web-2025", "db-2025", "web-x"]
    assert names(["web-2024"]) == ["web-2024"]
    assert names(["*"], ["amazon"]) == []
    assert names(["*"], [OTHER]) == []
    assert image_ids(ec2.describe_images(Owners=["self"])) == [ami(n) for n in range(1, 5)]
    code, status, _ = error_of(
        lambda: ec2.describe_images(Filters=[{"Name": "nope", "Values": ["x"]}])
    )
    assert (code, status) == ("InvalidParameterValue", 400)


def test_unknown_malformed_and_deregistered_ids(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.register_amis([ami(1), ami(2)])
    ec2.deregister_image(ImageId=ami(2))
    code, status, message = error_of(lambda: ec2.describe_images(ImageIds=[ami(1), ami(2), ami(3)]))
    assert (code, status) == ("InvalidAMIID.NotFound", 400)
    assert message == f"The image ids '[{ami(2)}, {ami(3)}]' do not exist"
    assert error_of(lambda: ec2.describe_images(ImageIds=["ami-12"]))[0] == "InvalidAMIID.Malformed"
    assert image_ids(ec2.describe_images(Owners=["self"])) == [ami(1)]


def test_a_deregistered_ami_is_listed_then_empty_while_an_instance_runs_then_gone(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    ctl.set_clock(frozen=True)
    ctl.image_settings(deregistered_visible_seconds=60)
    ctl.register_amis([ami(1)])
    instance = ctl.add_instance(ami(1))
    ec2.deregister_image(ImageId=ami(1))
    [image] = ec2.describe_images(ImageIds=[ami(1)])["Images"]
    assert image["State"] == "deregistered"
    assert [i["State"] for i in ec2.describe_images(Owners=["self"])["Images"]] == ["deregistered"]
    assert error_of(lambda: ec2.deregister_image(ImageId=ami(1)))[0] == "InvalidAMIID.Unavailable"
    ctl.advance(61)
    assert ec2.describe_images(ImageIds=[ami(1)])["Images"] == []  # empty results, no error
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    ctl.set_instance_state(instance, "terminated")
    assert error_of(lambda: ec2.describe_images(ImageIds=[ami(1)]))[0] == "InvalidAMIID.NotFound"
    assert error_of(lambda: ec2.deregister_image(ImageId=ami(1)))[0] == "InvalidAMIID.NotFound"


def test_another_accounts_ami_is_seen_once_shared_and_only_its_owner_deregisters_it(
    ctl: Ec2SimControl, ec2: EC2Client, other: EC2Client
) -> None:
    theirs = ctl.for_account(OTHER)
    theirs.register_amis([ami(7)])
    assert error_of(lambda: ec2.describe_images(ImageIds=[ami(7)]))[0] == "InvalidAMIID.NotFound"
    assert ec2.describe_images(ExecutableUsers=["self"])["Images"] == []
    theirs.share_image(ami(7), user_ids=[OWN])
    [image] = ec2.describe_images(ImageIds=[ami(7)])["Images"]
    assert (image["OwnerId"], image["Public"]) == (OTHER, False)
    assert image_ids(ec2.describe_images(ExecutableUsers=["self"])) == [ami(7)]
    assert image_ids(ec2.describe_images(Owners=[OTHER])) == [ami(7)]
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    assert image_ids(other.describe_images(Owners=["self"])) == [ami(7)]
    assert image_ids(other.describe_images(ExecutableUsers=[OWN])) == [ami(7)]
    code, _, message = error_of(lambda: ec2.deregister_image(ImageId=ami(7)))
    assert (code, message) == ("AuthFailure", f"Not authorized for image:{ami(7)}")
    refused = error_of(
        lambda: ec2.describe_image_attribute(ImageId=ami(7), Attribute="launchPermission")
    )
    assert refused[0] == "AuthFailure"
    theirs.share_image(ami(7), user_ids=[], public=True)
    assert image_ids(ec2.describe_images(ExecutableUsers=["all"])) == [ami(7)]
    assert other.deregister_image(ImageId=ami(7))["Return"] is True
    assert error_of(lambda: ec2.describe_images(ImageIds=[ami(7)]))[0] == "InvalidAMIID.NotFound"


def test_an_ami_moved_to_another_owner(
    ctl: Ec2SimControl, ec2: EC2Client, other: EC2Client
) -> None:
    ctl.register_amis([ami(1)])
    ctl.update_image(ami(1), public=True)
    ctl.set_image_owner(ami(1), OTHER)
    [image] = ec2.describe_images(ImageIds=[ami(1)])["Images"]
    assert image["OwnerId"] == OTHER
    snapshot = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert other.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["OwnerId"] == OTHER
    assert ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"] == []  # not ours now


def test_describe_images_pages(ctl: Ec2SimControl, ec2: EC2Client, sim: ThreadedEc2Sim) -> None:
    ctl.register_amis([ami(n) for n in range(12)])
    pages = list(
        ec2.get_paginator("describe_images").paginate(
            Owners=["self"], PaginationConfig={"PageSize": 5}
        )
    )
    assert [len(p["Images"]) for p in pages] == [5, 5, 2]
    assert [i for p in pages for i in image_ids(p)] == [ami(n) for n in range(12)]
    combined = error_of(lambda: ec2.describe_images(ImageIds=[ami(1)], MaxResults=5))
    assert combined[0] == "InvalidParameterCombination"
    assert error_of(lambda: ec2.describe_images(MaxResults=4))[0] == "InvalidParameterValue"
    bad = error_of(lambda: ec2.describe_images(MaxResults=5, NextToken="nope"))
    assert bad[0] == "InvalidPaginationToken"


def test_launch_permissions_and_protection_attributes(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.register_amis([ami(1)])
    org = "arn:aws:organizations::111111111111:organization/o-abc123"
    unit = "arn:aws:organizations::111111111111:ou/o-abc123/ou-ab12-cdef3456"
    ctl.share_image(
        ami(1),
        public=True,
        user_ids=["333333333333"],
        organization_arns=[org],
        organizational_unit_arns=[unit],
    )
    ctl.set_protection(ami(1), "enabled")
    answer = ec2.describe_image_attribute(ImageId=ami(1), Attribute="launchPermission")
    assert answer["LaunchPermissions"] == [
        {"Group": "all"},
        {"UserId": "333333333333"},
        {"OrganizationArn": org},
        {"OrganizationalUnitArn": unit},
    ]
    protection = ec2.describe_image_attribute(ImageId=ami(1), Attribute="deregistrationProtection")
    assert protection["DeregistrationProtection"] == {"Value": "enabled"}
    for attribute, code in (
        ("blockDeviceMapping", "AuthFailure"),
        ("kernel", "InvalidParameterValue"),
    ):
        refused = error_of(
            lambda a=attribute: ec2.describe_image_attribute(ImageId=ami(1), Attribute=a)  # type: ignore[misc]
        )
        assert refused[0] == code
    assert image_ids(ec2.describe_images(Filters=[{"Name": "is-public", "Values": ["true"]}])) == [
        ami(1)
    ]


def test_protection_refuses_deregistration_through_its_cooldown(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    ctl.set_clock(1_800_000_000.0, frozen=True)
    ctl.register_amis([ami(1), ami(2)])
    ctl.set_protection(ami(1), "enabled")
    code, status, message = error_of(lambda: ec2.deregister_image(ImageId=ami(1)))
    assert (code, status) == ("OperationNotPermitted", 400)
    assert "enabled" in message
    ctl.set_protection(ami(1), "disabled")
    assert ec2.deregister_image(ImageId=ami(1))["Return"] is True

    ctl.set_protection(ami(2), "enabled-with-cooldown")
    assert ec2.describe_images(ImageIds=[ami(2)])["Images"][0]["DeregistrationProtection"] == (
        "enabled-with-cooldown"
    )
    ctl.set_protection(ami(2), "disabled")
    until = datetime.fromtimestamp(1_800_000_000.0 + DAY, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    shown = ec2.describe_images(ImageIds=[ami(2)])["Images"][0]["DeregistrationProtection"]
    assert shown == f"disabled-until-{until}"
    assert error_of(lambda: ec2.deregister_image(ImageId=ami(2)))[0] == "OperationNotPermitted"
    ctl.advance(DAY - 1)
    assert error_of(lambda: ec2.deregister_image(ImageId=ami(2)))[0] == "OperationNotPermitted"
    ctl.advance(1)
    assert ec2.describe_images(ImageIds=[ami(2)])["Images"][0]["DeregistrationProtection"] == (
        "disabled"
    )
    assert ec2.deregister_image(ImageId=ami(2))["Return"] is True


def test_deregistering_fails_the_store_task_and_twice_is_not_found(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    ctl.create_task(ami(1), "archive", state="Completed")
    ctl.create_task(ami(2), "archive", progress=40)
    answer = ec2.deregister_image(ImageId=ami(1))
    assert answer["Return"] is True
    assert "DeleteSnapshotResults" not in answer
    code, _, message = error_of(lambda: ec2.describe_store_image_tasks(ImageIds=[ami(1)]))
    assert (code, message) == ("InvalidAMIID.NotFound", f"The image id '[{ami(1)}]' does not exist")
    listed = ec2.describe_store_image_tasks()["StoreImageTaskResults"]
    assert [t["AmiId"] for t in listed] == [ami(2)]
    assert error_of(lambda: ec2.deregister_image(ImageId=ami(1)))[0] == "InvalidAMIID.NotFound"
    assert error_of(lambda: ec2.deregister_image(ImageId="ami-zz"))[0] == "InvalidAMIID.Malformed"


def snapshot_ids(ec2: EC2Client, ami_id: str) -> list[str]:
    [image] = ec2.describe_images(ImageIds=[ami_id])["Images"]
    return [d["Ebs"]["SnapshotId"] for d in image["BlockDeviceMappings"]]


def test_delete_associated_snapshots_skips_shared_ones_and_reports_faults(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    ctl.register_amis([ami(1), ami(2)])
    shared = snapshot_ids(ec2, ami(2))[0]
    ctl.set_snapshots(ami(1), [{"snapshot_id": shared, "size_gib": 8}, 16, 4, 2, 1])
    _, mine, *faulty = snapshot_ids(ec2, ami(1))
    for snapshot, fault in zip(faulty, images.DELETE_FAULTS, strict=True):
        ctl.set_snapshot_delete_result(snapshot, fault)
    volumes = [
        d["Ebs"]["VolumeSize"]
        for d in ec2.describe_images(ImageIds=[ami(1)])["Images"][0]["BlockDeviceMappings"]
    ]
    assert volumes == [8, 16, 4, 2, 1]
    answer = ec2.deregister_image(ImageId=ami(1), DeleteAssociatedSnapshots=True)
    assert answer["Return"] is True
    assert answer["DeleteSnapshotResults"] == [
        {"SnapshotId": shared, "ReturnCode": "skipped"},
        {"SnapshotId": mine, "ReturnCode": "success"},
        *(
            {"SnapshotId": s, "ReturnCode": f}
            for s, f in zip(faulty, images.DELETE_FAULTS, strict=True)
        ),
    ]
    code, _, message = error_of(lambda: ec2.describe_snapshots(SnapshotIds=[mine]))
    assert (code, message) == ("InvalidSnapshot.NotFound", f"The snapshot '{mine}' does not exist.")
    kept = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert sorted(s["SnapshotId"] for s in kept) == sorted([shared, *faulty])
    # The other AMI still has its snapshot; once it goes, nothing shares it.
    answer = ec2.deregister_image(ImageId=ami(2), DeleteAssociatedSnapshots=True)
    assert answer["DeleteSnapshotResults"] == [{"SnapshotId": shared, "ReturnCode": "success"}]


def test_describe_snapshots_ids_owners_and_pages(
    ctl: Ec2SimControl, ec2: EC2Client, other: EC2Client
) -> None:
    ctl.register_amis([ami(n) for n in range(7)])
    ctl.for_account(OTHER).register_amis([ami(99)])
    theirs = other.describe_snapshots(OwnerIds=["self"])["Snapshots"][0]["SnapshotId"]
    mine = sorted(s["SnapshotId"] for s in ec2.describe_snapshots()["Snapshots"])
    assert len(mine) == 7
    assert theirs not in mine
    # Another account's snapshot is left out; an unknown one fails the call.
    by_id = ec2.describe_snapshots(SnapshotIds=[mine[0], theirs])["Snapshots"]
    assert [s["SnapshotId"] for s in by_id] == [mine[0]]
    unknown = "snap-0fffffffffffffff0"
    assert error_of(lambda: ec2.describe_snapshots(SnapshotIds=[unknown]))[:2] == (
        "InvalidSnapshot.NotFound",
        400,
    )
    malformed = error_of(lambda: ec2.describe_snapshots(SnapshotIds=["snap-123"]))
    assert malformed[0] == "InvalidSnapshotID.Malformed"
    assert ec2.describe_snapshots(OwnerIds=[OTHER])["Snapshots"] == []
    pages = list(ec2.get_paginator("describe_snapshots").paginate(PaginationConfig={"PageSize": 5}))
    assert [len(p["Snapshots"]) for p in pages] == [5, 2]
    assert [s["SnapshotId"] for p in pages for s in p["Snapshots"]] == mine


@pytest.mark.parametrize(
    ("action", "kwargs"),
    [
        ("describe_images", {"ImageIds": [ami(1)]}),
        ("describe_image_attribute", {"ImageId": ami(1), "Attribute": "launchPermission"}),
        ("describe_image_references", {"ImageIds": [ami(1)], "IncludeAllResourceTypes": True}),
        ("describe_snapshots", {}),
        ("deregister_image", {"ImageId": ami(1)}),
    ],
)
def test_dry_run_changes_nothing(
    ctl: Ec2SimControl, ec2: EC2Client, action: str, kwargs: dict[str, Any]
) -> None:
    ctl.register_amis([ami(1)])
    code, status, _ = error_of(lambda: getattr(ec2, action)(DryRun=True, **kwargs))
    assert (code, status) == ("DryRunOperation", 412)
    assert image_ids(ec2.describe_images(ImageIds=[ami(1)])) == [ami(1)]


def references(ec2: EC2Client, ami_ids: list[str], **kwargs: Any) -> list[tuple[str, str, str]]:
    answer = ec2.describe_image_references(ImageIds=ami_ids, **kwargs)
    return [(r["ImageId"], r["ResourceType"], r["Arn"]) for r in answer["ImageReferences"]]


def test_image_references_of_every_resource_type(
    ctl: Ec2SimControl, ec2: EC2Client, other: EC2Client
) -> None:
    ctl.register_amis([ami(1), ami(2)])
    running = ctl.add_instance(ami(1))
    stopped = ctl.add_instance(ami(1), state="stopped")
    ctl.add_instance(ami(2))
    deep = ctl.add_launch_template([ami(1), *[ami(2)] * 10])  # ami(1) is version 1 of 11
    newest = ctl.add_launch_template([ami(2), None])
    ctl.add_launch_template_version(newest, ami(1))
    ctl.add_ssm_parameter("/golden/ami", ami(1))
    ctl.add_recipe("base", ami(1), version="2.1.0")
    ctl.add_recipe("runtime", ami(1), container=True)
    ctl.for_account(OTHER).add_instance(ami(1))  # another account's: only it sees it
    arn = f"arn:aws:{{}}:eu-west-1:{OWN}:"
    assert references(ec2, [ami(1)], IncludeAllResourceTypes=True) == [
        (ami(1), "ec2:Instance", arn.format("ec2") + f"instance/{running}"),
        (ami(1), "ec2:Instance", arn.format("ec2") + f"instance/{stopped}"),
        (ami(1), "ec2:LaunchTemplate", arn.format("ec2") + f"launch-template/{newest}"),
        (ami(1), "ssm:Parameter", arn.format("ssm") + "parameter/golden/ami"),
        (
            ami(1),
            "imagebuilder:ImageRecipe",
            arn.format("imagebuilder") + "image-recipe/base/2.1.0",
        ),
        (
            ami(1),
            "imagebuilder:ContainerRecipe",
            arn.format("imagebuilder") + "container-recipe/runtime/1.0.0",
        ),
    ]
    only_running = references(
        ec2,
        [ami(1)],
        ResourceTypes=[
            {
                "ResourceType": "ec2:Instance",
                "ResourceTypeOptions": [{"OptionName": "state-name", "OptionValues": ["running"]}],
            }
        ],
    )
    assert [a for _, _, a in only_running] == [arn.format("ec2") + f"instance/{running}"]
    deeper = references(
        ec2,
        [ami(1)],
        ResourceTypes=[
            {
                "ResourceType": "ec2:LaunchTemplate",
                "ResourceTypeOptions": [{"OptionName": "version-depth", "OptionValues": ["11"]}],
            }
        ],
    )
    assert sorted(a.rsplit("/", 1)[1] for _, _, a in deeper) == sorted([deep, newest])
    both = references(ec2, [ami(2), ami(1)], ResourceTypes=[{"ResourceType": "ec2:Instance"}])
    assert [i for i, _, _ in both] == [ami(2), ami(1), ami(1)]
    ctl.share_image(ami(1), public=True)
    [theirs] = references(other, [ami(1)], IncludeAllResourceTypes=True)
    assert theirs[2].startswith(f"arn:aws:ec2:eu-west-1:{OTHER}:instance/")
    for kind, ident in (
        ("instance", running),
        ("instance", stopped),
        ("launch-template", newest),
        ("ssm-parameter", "/golden/ami"),
        ("image-recipe", "base/2.1.0"),
    ):
        ctl.remove_reference(kind, ident)
    assert [t for _, t, _ in references(ec2, [ami(1)], IncludeAllResourceTypes=True)] == [
        "imagebuilder:ContainerRecipe"
    ]
    with pytest.raises(ControlError, match="404"):
        ctl.remove_reference("instance", running)


def test_image_references_pages_and_validation(
    ctl: Ec2SimControl, ec2: EC2Client, sim: ThreadedEc2Sim
) -> None:
    ctl.register_amis([ami(1)])
    made = [ctl.add_instance(ami(1)) for _ in range(7)]
    pages = list(
        ec2.get_paginator("describe_image_references").paginate(
            ImageIds=[ami(1)], IncludeAllResourceTypes=True, PaginationConfig={"PageSize": 5}
        )
    )
    assert [len(p["ImageReferences"]) for p in pages] == [5, 2]
    assert [r["Arn"].rsplit("/", 1)[1] for p in pages for r in p["ImageReferences"]] == made

    def refused(**kwargs: Any) -> str:
        return error_of(lambda: ec2.describe_image_references(**kwargs))[0]

    eleven = [ami(n) for n in range(11)]
    assert refused(ImageIds=eleven, IncludeAllResourceTypes=True) == "InvalidParameterValue"
    assert refused(ImageIds=[ami(1)]) == "MissingParameter"
    assert refused(ImageIds=[ami(3)], IncludeAllResourceTypes=True) == "InvalidAMIID.NotFound"
    for kind, name, values in (
        ("ec2:LaunchTemplate", "version-depth", ["0"]),
        ("ec2:LaunchTemplate", "version-depth", ["10001"]),
        ("ec2:LaunchTemplate", "state-name", ["running"]),
        ("ec2:Instance", "state-name", ["sleeping"]),
        ("ssm:Parameter", "version-depth", ["1"]),
    ):
        option = {"OptionName": name, "OptionValues": values}
        kinds = [{"ResourceType": kind, "ResourceTypeOptions": [option]}]
        assert refused(ImageIds=[ami(1)], ResourceTypes=kinds) == "InvalidParameterValue", option


def test_new_actions_use_faults_holds_throttling_and_the_call_log(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    ctl.register_amis([ami(1)])
    ctl.inject_fault("InternalError", action="DescribeImages", count=1)
    assert error_of(lambda: ec2.describe_images(ImageIds=[ami(1)], Owners=["self"]))[:2] == (
        "InternalError",
        500,
    )
    ec2.describe_images(ImageIds=[ami(1)], Owners=["self"])
    logged = ctl.calls("DescribeImages")
    assert [(c["status"], c["error_code"]) for c in logged] == [(500, "InternalError"), (200, None)]
    assert logged[-1]["params"] == {"ImageIds": [ami(1)], "Owners": ["self"]}

    ctl.set_throttle(enabled=True)
    limits = ctl.throttle()["actions"]
    assert (limits["DescribeImages"]["burst"], limits["DescribeImages"]["rate"]) == (100, 20)
    ctl.set_throttle("DeregisterImage", burst=1, rate=0.001)
    ctl.set_protection(ami(1), "enabled")
    assert error_of(lambda: ec2.deregister_image(ImageId=ami(1)))[0] == "OperationNotPermitted"
    throttled = error_of(lambda: ec2.deregister_image(ImageId=ami(1)))
    assert throttled[:2] == ("RequestLimitExceeded", 503)
    ctl.set_throttle(enabled=False)

    ctl.set_protection(ami(1), "disabled")
    ctl.hold("DeregisterImage")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer = pool.submit(ec2.deregister_image, ImageId=ami(1), DeleteAssociatedSnapshots=True)
        harness.wait_until(
            lambda: ctl.held() == {"DeregisterImage": 1}, timeout=10, what="a held call"
        )
        assert image_ids(ec2.describe_images(ImageIds=[ami(1)])) == [ami(1)]
        assert ctl.release("DeregisterImage") == 1
        assert answer.result(timeout=10)["Return"] is True
    last = ctl.calls("DeregisterImage")[-1]
    assert last["params"] == {"ImageId": ami(1), "DeleteAssociatedSnapshots": True}
    assert last["status"] == 200


def test_the_other_accounts_throttle_buckets_are_its_own(
    ctl: Ec2SimControl, ec2: EC2Client, other: EC2Client
) -> None:
    ctl.set_throttle("DescribeSnapshots", burst=1, rate=0.001, enabled=True)
    ec2.describe_snapshots()
    assert error_of(ec2.describe_snapshots)[0] == "RequestLimitExceeded"
    other.describe_snapshots()  # a bucket of its own, full
    ctl.set_throttle(enabled=False)


def test_control_refusals(ctl: Ec2SimControl) -> None:
    ctl.register_amis([ami(1)])
    refused: list[dict[str, Any]] = [
        {"protection": "on"},
        {"snapshots": []},
        {"snapshots": [{"snapshot_id": "snap-1", "size_gib": 8}]},
        {"public": "yes"},
        {"owner": "12"},
    ]
    for fields in refused:
        with pytest.raises(ControlError, match="400"):
            ctl.update_image(ami(1), **fields)
    with pytest.raises(ControlError, match="404"):
        ctl.image(ami(2))
    assert ctl.image(ami(1))["protection"] == "disabled"
