"""CreateStoreImageTask's capacity limit and EC2's visibility delay, through real boto3."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.e2e import harness
from tests.sandbox.ec2sim import sts
from tests.sandbox.ec2sim.control import ControlError, Ec2SimControl
from tests.sandbox.ec2sim.runner import ThreadedEc2Sim, boto3_client, session_client

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

AMIS = [f"ami-0c{n:06x}" for n in range(6)]
BUCKET = "amis-export"
ACCOUNT = "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/amistore-operator"


@pytest.fixture
def ctl(ctl: Ec2SimControl) -> Ec2SimControl:
    ctl.set_clock(frozen=True)
    ctl.register_amis(AMIS)
    return ctl


def create(ec2: EC2Client, ami_id: str, *, dry_run: bool = False) -> str:
    return ec2.create_store_image_task(ImageId=ami_id, Bucket=BUCKET, DryRun=dry_run)["ObjectKey"]


def refused(ec2: EC2Client, ami_id: str) -> ClientError:
    with pytest.raises(ClientError) as caught:
        create(ec2, ami_id)
    return caught.value


def listed(ec2: EC2Client) -> list[str]:
    return [t["AmiId"] for t in ec2.describe_store_image_tasks()["StoreImageTaskResults"]]


def by_id(ec2: EC2Client, ami_id: str) -> list[str]:
    results = ec2.describe_store_image_tasks(ImageIds=[ami_id])["StoreImageTaskResults"]
    return [t["AmiId"] for t in results]


def test_defaults_are_awss_documented_limit_and_no_delay(ctl: Ec2SimControl) -> None:
    assert ctl.configure(store_capacity_gb=500) == {
        "create_duration_seconds": 60.0,
        "store_capacity_gb": 500.0,
        "ami_size_gb": 60.0,
        "visibility_delay_seconds": 0.0,
        "ami_sizes": {},
        "bucket_regions": {},
        "in_progress_gb": 0.0,
    }
    ctl.reset()
    assert ctl.config()["store_capacity_gb"] == 1200.0
    ctl.configure(60.0)  # the older positional form sets the duration alone
    assert ctl.config()["create_duration_seconds"] == 60.0


def test_over_capacity_is_refused_as_resource_limit_exceeded(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    ctl.configure(store_capacity_gb=1200, ami_size_gb=500, create_duration_seconds=100)
    create(ec2, AMIS[0])
    create(ec2, AMIS[1])
    error = refused(ec2, AMIS[2])  # 1,000 GB in progress + 500 > 1,200
    assert error.response["Error"]["Code"] == "ResourceLimitExceeded"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = error.response["Error"]["Message"]
    assert "1,200 GB" in message, message
    assert "1,000 GB" in message, message
    assert sorted(t["ami_id"] for t in ctl.tasks()) == [AMIS[0], AMIS[1]]
    last = ctl.calls("CreateStoreImageTask")[-1]
    assert (last["status"], last["error_code"]) == (400, "ResourceLimitExceeded")
    assert ctl.config()["in_progress_gb"] == 1000.0


def test_accepted_again_once_a_task_in_progress_finishes(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    ctl.configure(store_capacity_gb=100, ami_size_gb=60, create_duration_seconds=50)
    create(ec2, AMIS[0])
    ctl.advance(20)
    assert refused(ec2, AMIS[1]).response["Error"]["Code"] == "ResourceLimitExceeded"
    ctl.advance(29)  # 49 s: still in progress
    assert refused(ec2, AMIS[1]).response["Error"]["Code"] == "ResourceLimitExceeded"
    ctl.advance(1)  # 50 s: finished, by its duration
    create(ec2, AMIS[1])
    assert (
        ec2.describe_store_image_tasks(ImageIds=[AMIS[0]])["StoreImageTaskResults"][0][
            "StoreTaskState"
        ]
        == "Completed"
    )


def test_a_task_finishing_in_real_time_frees_capacity(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.set_clock(frozen=False)
    ctl.configure(store_capacity_gb=100, ami_size_gb=60, create_duration_seconds=3)
    create(ec2, AMIS[0])
    assert refused(ec2, AMIS[1]).response["Error"]["Code"] == "ResourceLimitExceeded"
    codes: set[str] = set()

    def accepted() -> bool:
        try:
            create(ec2, AMIS[1])
        except ClientError as exc:
            codes.add(exc.response["Error"]["Code"])
            return False
        return True

    harness.wait_until(accepted, timeout=10, what="a create accepted once the first task ends")
    assert codes <= {"ResourceLimitExceeded"}


def test_awss_example_200_and_400_in_progress_accepts_another(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    ctl.configure(create_duration_seconds=3600)
    ctl.set_ami_sizes({AMIS[0]: 200, AMIS[1]: 400, AMIS[2]: 600, AMIS[3]: 1})
    create(ec2, AMIS[0])
    create(ec2, AMIS[1])
    create(ec2, AMIS[2])  # 600 GB in progress + 600 = the limit, not above it
    assert ctl.config()["in_progress_gb"] == 1200.0
    assert refused(ec2, AMIS[3]).response["Error"]["Code"] == "ResourceLimitExceeded"


def test_one_ami_larger_than_the_limit_alone_is_accepted_then_blocks(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    ctl.set_ami_sizes({AMIS[0]: 1500})
    create(ec2, AMIS[0])
    assert refused(ec2, AMIS[1]).response["Error"]["Code"] == "ResourceLimitExceeded"


def test_zero_capacity_means_unlimited(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.configure(store_capacity_gb=0, ami_size_gb=1000)
    for ami in AMIS:
        create(ec2, ami)
    assert ctl.config()["store_capacity_gb"] is None
    assert len(listed(ec2)) == len(AMIS)


def test_scripted_tasks_in_progress_count_too(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.configure(store_capacity_gb=100)
    ctl.create_task(AMIS[0], "elsewhere", progress=10)  # in progress, pinned
    ctl.create_task(AMIS[1], BUCKET, state="Failed", failure_reason="x")
    assert refused(ec2, AMIS[2]).response["Error"]["Code"] == "ResourceLimitExceeded"
    ctl.update_task(AMIS[0], state="Completed")
    create(ec2, AMIS[2])


def test_dry_run_is_not_refused_for_capacity(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.configure(store_capacity_gb=60)
    create(ec2, AMIS[0])
    with pytest.raises(ClientError) as caught:
        create(ec2, AMIS[1], dry_run=True)
    assert caught.value.response["Error"]["Code"] == "DryRunOperation"
    ctl.inject_fault("UnauthorizedOperation", "CreateStoreImageTask", count=1)
    with pytest.raises(ClientError) as caught:
        create(ec2, AMIS[1], dry_run=True)
    assert caught.value.response["Error"]["Code"] == "UnauthorizedOperation"
    assert len(ctl.tasks()) == 1


def test_unknown_ami_is_not_found_before_capacity(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.configure(store_capacity_gb=60)
    create(ec2, AMIS[0])
    assert refused(ec2, "ami-0fffffff").response["Error"]["Code"] == "InvalidAMIID.NotFound"
    assert refused(ec2, "ami-nope").response["Error"]["Code"] == "InvalidAMIID.Malformed"


def test_botocore_does_not_retry_the_refusal(sim: ThreadedEc2Sim, ctl: Ec2SimControl) -> None:
    ctl.configure(store_capacity_gb=60)
    retrying = boto3_client(sim.url, total_max_attempts=3, mode="standard")
    create(retrying, AMIS[0])
    ctl.clear_calls()
    assert refused(retrying, AMIS[1]).response["Error"]["Code"] == "ResourceLimitExceeded"
    assert len(ctl.calls("CreateStoreImageTask")) == 1


def test_capacity_is_per_account(sim: ThreadedEc2Sim, ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.put_role(ROLE)
    ctl.configure(store_capacity_gb=100)  # one simulator-wide setting
    other = ctl.for_account(ACCOUNT)
    other.register_amis(AMIS)
    create(ec2, AMIS[0])
    assert refused(ec2, AMIS[1]).response["Error"]["Code"] == "ResourceLimitExceeded"
    credentials = boto3_sts(sim).assume_role(RoleArn=ROLE, RoleSessionName="test")["Credentials"]
    in_other = session_client(sim.url, credentials)
    create(in_other, AMIS[0])  # the other account has nothing in progress
    assert refused(in_other, AMIS[1]).response["Error"]["Code"] == "ResourceLimitExceeded"
    assert other.config()["in_progress_gb"] == ctl.config()["in_progress_gb"] == 60.0
    assert {c["account"] for c in ctl.calls("CreateStoreImageTask")} == {
        ACCOUNT,
        sts.DEFAULT_ACCOUNT,
    }


def boto3_sts(sim: ThreadedEc2Sim) -> Any:
    return boto3.client(
        "sts",
        region_name="eu-west-1",
        endpoint_url=sim.url,
        aws_access_key_id="AKIASANDBOXEXAMPLE00",
        aws_secret_access_key="sandbox-secret-not-real",
    )


def test_a_new_task_is_hidden_from_both_describe_forms_for_the_delay(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    ctl.configure(visibility_delay_seconds=5, store_capacity_gb=100)
    ctl.create_task(AMIS[1], BUCKET, progress=0, state="Completed", started_seconds_ago=60)
    create(ec2, AMIS[0])
    assert by_id(ec2, AMIS[0]) == []
    assert listed(ec2) == [AMIS[1]]
    assert [(t["ami_id"], t["visible"]) for t in ctl.tasks()] == [
        (AMIS[0], False),
        (AMIS[1], True),
    ]
    # Hidden, yet it holds its capacity at once.
    assert refused(ec2, AMIS[2]).response["Error"]["Code"] == "ResourceLimitExceeded"
    ctl.advance(4.5)
    assert by_id(ec2, AMIS[0]) == []
    ctl.advance(0.5)  # exactly the delay (binary fractions keep the sum exact)
    assert by_id(ec2, AMIS[0]) == [AMIS[0]]
    assert listed(ec2) == [AMIS[0], AMIS[1]]
    assert all(t["visible"] for t in ctl.tasks())


def test_scripted_tasks_are_never_delayed(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.configure(visibility_delay_seconds=30)
    ctl.create_task(AMIS[0], BUCKET, duration_seconds=100)
    assert by_id(ec2, AMIS[0]) == [AMIS[0]]


def test_bad_settings_are_refused(ctl: Ec2SimControl) -> None:
    for bad in (
        {"store_capacity_gb": -1},
        {"ami_size_gb": 0},
        {"visibility_delay_seconds": -1},
        {"create_duration_seconds": -1},
    ):
        with pytest.raises(ControlError):
            ctl.configure(**bad)
    with pytest.raises(ControlError):
        ctl.set_ami_sizes({AMIS[0]: -5})
    assert ctl.config()["store_capacity_gb"] == 1200.0


def test_steady_state_nothing_more_happens(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    """A refused create leaves no trace but its log line, however long one waits."""
    ctl.configure(store_capacity_gb=60, create_duration_seconds=100)
    create(ec2, AMIS[0])
    refused(ec2, AMIS[1])
    for _ in range(3):
        ctl.advance(40)
        assert [t["ami_id"] for t in ctl.tasks()] == [AMIS[0]]
    assert ctl.config()["in_progress_gb"] == 0.0


def test_a_bucket_in_another_region_is_refused_for_good(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.register_amis(["ami-0b000001"])
    region = ec2.meta.region_name
    ctl.set_bucket_regions({BUCKET: "ap-south-1" if region != "ap-south-1" else "eu-west-1"})
    error = refused(ec2, "ami-0b000001")
    assert error.response["Error"]["Code"] == "InvalidParameter"
    assert BUCKET in error.response["Error"]["Message"]
    assert listed(ec2) == []
    # DryRun checks only the EC2 action, as on AWS.
    with pytest.raises(ClientError) as caught:
        create(ec2, "ami-0b000001", dry_run=True)
    assert caught.value.response["Error"]["Code"] == "DryRunOperation"
    ctl.set_bucket_regions({BUCKET: region})
    assert create(ec2, "ami-0b000001") == "ami-0b000001.bin"
