"""What the restore self-tests share: the stored AMI, its object, and the calls on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.sandbox.ec2sim import sts
from tests.sandbox.ec2sim.control import Ec2SimControl

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

OWN = sts.DEFAULT_ACCOUNT
AMI = "ami-0c0000000000000a1"
BUCKET = "amis-archive"
KEY = f"{AMI}.bin"
NOW = 1_800_000_000.0  # Fri, 15 Jan 2027 08:00:00 GMT
GIB = 2**30


def s3_client(url: str) -> Any:
    """A real boto3 S3 client for the simulator; no retries."""
    return boto3.client(
        "s3",
        region_name="eu-west-1",
        endpoint_url=url,
        aws_access_key_id="AKIASANDBOXEXAMPLE00",
        aws_secret_access_key="not-real",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def error_of(call: Callable[[], object]) -> tuple[str, int, str]:
    """The code, HTTP status and message of the error the call raises."""
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"].get("Message", ""),
    )


def stored(ctl: Ec2SimControl, *, name: str | None = None, volumes: list[int] | None = None) -> str:
    """Store AMI into BUCKET (its object written now, recording the AMI as it is); the key."""
    ctl.register_amis([AMI])
    if name is not None:
        ctl.update_image(AMI, name=name)
    if volumes is not None:
        ctl.set_snapshots(AMI, list(volumes))
    ctl.create_task(AMI, BUCKET, state="Completed")
    assert ctl.object(BUCKET, KEY)["ami_name"] == (name or f"image-{AMI}")
    return KEY


def restore(ec2: EC2Client, name: str | None = None, **kwargs: Any) -> str:
    """CreateRestoreImageTask of the stored AMI's object; the new AMI's ID."""
    if name is not None:
        kwargs["Name"] = name
    return ec2.create_restore_image_task(Bucket=BUCKET, ObjectKey=KEY, **kwargs)["ImageId"]


def thaw(s3: Any, days: int | None = 1, tier: str = "Standard") -> int:
    """RestoreObject of the stored AMI's object; the HTTP status S3 answered."""
    request: dict[str, Any] = {"GlacierJobParameters": {"Tier": tier}}
    if days is not None:
        request["Days"] = days
    answer = s3.restore_object(Bucket=BUCKET, Key=KEY, RestoreRequest=request)
    return int(answer["ResponseMetadata"]["HTTPStatusCode"])


def snapshot_states(ec2: EC2Client, ami_id: str) -> list[tuple[str, str]]:
    """The distinct (State, Progress) of the AMI's snapshots."""
    [image] = ec2.describe_images(ImageIds=[ami_id])["Images"]
    ids = [d["Ebs"]["SnapshotId"] for d in image["BlockDeviceMappings"]]
    found = ec2.describe_snapshots(SnapshotIds=ids)["Snapshots"]
    return sorted({(s["State"], s["Progress"]) for s in found})
