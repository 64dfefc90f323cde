"""S3 HeadObject of the objects store tasks leave, through real boto3 against the simulator."""

from __future__ import annotations

import concurrent.futures
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e import harness
from tests.sandbox.ec2sim.control import ControlError, Ec2SimControl
from tests.sandbox.ec2sim.runner import ThreadedEc2Sim

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

AMI = "ami-0b0000000000000a1"
BUCKET = "amis-archive"
KEY = f"{AMI}.bin"
OTHER = "222222222222"
ROLE = f"arn:aws:iam::{OTHER}:role/amistore"
NOW = 1_800_000_000.0
GIB = 2**30
ETAG = re.compile(r'^"[0-9a-f]{32}"$')


def s3_client(url: str | None, credentials: Mapping[str, Any] | None = None) -> Any:
    """A real boto3 S3 client for the simulator (None: AWS_ENDPOINT_URL_S3 says where)."""
    keys = {"aws_access_key_id": "AKIASANDBOXEXAMPLE00", "aws_secret_access_key": "not-real"}
    if credentials is not None:
        keys = {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
    return boto3.client(  # type: ignore[call-overload]
        "s3",
        region_name="eu-west-1",
        endpoint_url=url,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        **keys,
    )


@pytest.fixture
def s3(sim: ThreadedEc2Sim) -> Any:
    return s3_client(sim.url)


@pytest.fixture
def ctl(ctl: Ec2SimControl) -> Ec2SimControl:
    ctl.set_clock(NOW, frozen=True)
    return ctl


def status_of(call: Callable[[], object]) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def at(when: float) -> datetime:
    return datetime.fromtimestamp(when, UTC)


def test_a_completed_task_leaves_its_object(ctl: Ec2SimControl, s3: Any) -> None:
    ctl.create_task(AMI, BUCKET, duration_seconds=60, started_seconds_ago=100)
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert head["ContentLength"] == 8 * GIB  # the AMI's one default 8 GiB snapshot
    assert ETAG.match(head["ETag"])
    assert head["LastModified"] == at(NOW - 40)  # when the task reached 100 percent
    assert "StorageClass" not in head  # S3 sends no x-amz-storage-class for STANDARD
    assert "x-amz-storage-class" not in head["ResponseMetadata"]["HTTPHeaders"]
    assert head["ServerSideEncryption"] == "AES256"
    assert "Expiration" not in head
    assert "Restore" not in head
    logged = ctl.calls("HeadObject")
    assert [(c["params"], c["status"]) for c in logged] == [({"Bucket": BUCKET, "Key": KEY}, 200)]


def test_no_object_until_the_task_completes(ctl: Ec2SimControl, s3: Any) -> None:
    ctl.create_task(AMI, BUCKET, duration_seconds=600, started_seconds_ago=100)
    assert status_of(lambda: s3.head_object(Bucket=BUCKET, Key=KEY)) == ("404", 404)
    assert ctl.calls("HeadObject")[-1]["error_code"] == "NoSuchKey"
    ctl.advance(1000)
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["LastModified"] == at(NOW + 500)


def test_a_failed_task_leaves_nothing(ctl: Ec2SimControl, s3: Any) -> None:
    ctl.create_task(AMI, BUCKET, fail_at_percent=50, failure_reason="boom", started_seconds_ago=90)
    assert status_of(lambda: s3.head_object(Bucket=BUCKET, Key=KEY)) == ("404", 404)


def test_the_size_follows_the_snapshots_or_a_test(ctl: Ec2SimControl, s3: Any) -> None:
    ctl.register_amis([AMI])
    ctl.set_snapshots(AMI, [8, 16, 1])
    ctl.create_task(AMI, BUCKET, state="Completed")
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ContentLength"] == 25 * GIB
    ctl.update_object(BUCKET, KEY, size=123_456)
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ContentLength"] == 123_456


@pytest.mark.parametrize(
    "storage_class", ["STANDARD_IA", "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR", "INTELLIGENT_TIERING"]
)
def test_a_storage_class_other_than_standard_is_reported(
    ctl: Ec2SimControl, s3: Any, storage_class: str
) -> None:
    ctl.create_task(AMI, BUCKET, state="Completed")
    ctl.update_object(BUCKET, KEY, storage_class=storage_class)
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["StorageClass"] == storage_class


def test_expiration_restore_and_archive_headers(ctl: Ec2SimControl, s3: Any) -> None:
    ctl.create_task(AMI, BUCKET, state="Completed")
    ctl.set_expiration(BUCKET, KEY, 1_800_086_400.0, "expire-archives")
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert head["Expiration"] == (
        'expiry-date="Sat, 16 Jan 2027 08:00:00 GMT", rule-id="expire-archives"'
    )
    ctl.update_object(BUCKET, KEY, storage_class="GLACIER")
    ctl.set_restore(BUCKET, KEY, ongoing=True)
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["Restore"] == 'ongoing-request="true"'
    ctl.set_restore(BUCKET, KEY, ongoing=False, expiry_date=1_800_172_800.0)
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["Restore"] == (
        'ongoing-request="false", expiry-date="Sun, 17 Jan 2027 08:00:00 GMT"'
    )
    with pytest.raises(ControlError, match="INTELLIGENT_TIERING"):
        ctl.update_object(BUCKET, KEY, archive_status="ARCHIVE_ACCESS")
    ctl.update_object(
        BUCKET, KEY, storage_class="INTELLIGENT_TIERING", archive_status="DEEP_ARCHIVE_ACCESS"
    )
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert (head["StorageClass"], head["ArchiveStatus"]) == (
        "INTELLIGENT_TIERING",
        "DEEP_ARCHIVE_ACCESS",
    )
    ctl.update_object(BUCKET, KEY, expiration=None, restore=None, archive_status=None)
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert {"Expiration", "Restore", "ArchiveStatus"}.isdisjoint(head)


def test_a_re_export_overwrites_the_object(ctl: Ec2SimControl, s3: Any, ec2: EC2Client) -> None:
    ctl.configure(create_duration_seconds=60)
    ctl.create_task(AMI, BUCKET, state="Completed", started_seconds_ago=600)
    first = s3.head_object(Bucket=BUCKET, Key=KEY)
    ctl.advance(10)
    assert ec2.create_store_image_task(ImageId=AMI, Bucket=BUCKET)["ObjectKey"] == KEY
    # While the new task runs, the object is the first export's.
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"] == first["ETag"]
    ctl.advance(61)
    second = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert second["ETag"] != first["ETag"]
    assert second["LastModified"] == at(NOW + 70)
    third = ctl.overwrite_object(BUCKET, KEY)["etag"]
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"] == third != second["ETag"]


def test_an_object_whose_task_was_replaced_unseen_stays(ctl: Ec2SimControl, s3: Any) -> None:
    ctl.create_task(AMI, BUCKET, state="Completed", started_seconds_ago=600)
    ctl.create_task(AMI, "elsewhere", progress=5)  # replaces the task before anyone looked
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["LastModified"] == at(NOW - 540)
    assert status_of(lambda: s3.head_object(Bucket="elsewhere", Key=KEY)) == ("404", 404)


def test_objects_outlive_their_ami_and_the_task_listing(
    ctl: Ec2SimControl, s3: Any, ec2: EC2Client
) -> None:
    ctl.create_task(AMI, BUCKET, state="Completed")
    etag = s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"]
    ec2.deregister_image(ImageId=AMI, DeleteAssociatedSnapshots=True)
    ctl.advance(40 * 86_400)  # past the 31 days DescribeStoreImageTasks shows
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"] == etag


def test_a_deleted_object_stays_deleted_until_written_again(
    ctl: Ec2SimControl, s3: Any, ec2: EC2Client
) -> None:
    ctl.configure(create_duration_seconds=60)
    ctl.create_task(AMI, BUCKET, state="Completed")
    ctl.delete_object(BUCKET, KEY)
    assert status_of(lambda: s3.head_object(Bucket=BUCKET, Key=KEY)) == ("404", 404)
    assert status_of(lambda: s3.head_object(Bucket=BUCKET, Key=KEY)) == ("404", 404)
    with pytest.raises(ControlError, match="404"):
        ctl.delete_object(BUCKET, KEY)
    ec2.create_store_image_task(ImageId=AMI, Bucket=BUCKET)
    ctl.advance(60)
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["LastModified"] == at(NOW + 60)


def test_a_denied_bucket_and_another_owner_answer_403(ctl: Ec2SimControl, s3: Any) -> None:
    ctl.create_task(AMI, BUCKET, state="Completed")
    ctl.deny_bucket(BUCKET)
    assert status_of(lambda: s3.head_object(Bucket=BUCKET, Key=KEY)) == ("403", 403)
    assert ctl.calls("HeadObject")[-1]["error_code"] == "AccessDenied"
    ctl.deny_bucket(BUCKET, denied=False)
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ContentLength"] == 8 * GIB
    wrong_owner = lambda: s3.head_object(Bucket=BUCKET, Key=KEY, ExpectedBucketOwner=OTHER)  # noqa: E731
    assert status_of(wrong_owner) == ("403", 403)
    right = s3.head_object(Bucket=BUCKET, Key=KEY, ExpectedBucketOwner=ctl.sts()["default_account"])
    assert right["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_each_account_reads_its_own_objects(
    ctl: Ec2SimControl, s3: Any, sim: ThreadedEc2Sim
) -> None:
    ctl.put_role(ROLE)
    ctl.for_account(OTHER).create_task(AMI, BUCKET, state="Completed")
    assert status_of(lambda: s3.head_object(Bucket=BUCKET, Key=KEY)) == ("404", 404)
    sts = boto3.client(
        "sts",
        region_name="eu-west-1",
        endpoint_url=sim.url,
        aws_access_key_id="AKIASANDBOXEXAMPLE00",
        aws_secret_access_key="not-real",
    )
    credentials = sts.assume_role(RoleArn=ROLE, RoleSessionName="s3-test")["Credentials"]
    theirs = s3_client(sim.url, credentials)
    assert theirs.head_object(Bucket=BUCKET, Key=KEY)["ContentLength"] == 8 * GIB
    assert ctl.calls("HeadObject")[-1]["account"] == OTHER


def test_the_endpoint_from_aws_endpoint_url_s3(
    ctl: Ec2SimControl, sim: ThreadedEc2Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctl.create_task(AMI, BUCKET, state="Completed")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", sim.url)
    client = s3_client(None)
    assert client.meta.endpoint_url == sim.url
    assert client.head_object(Bucket=BUCKET, Key=KEY)["ContentLength"] == 8 * GIB


def test_head_object_uses_faults_and_holds(ctl: Ec2SimControl, s3: Any) -> None:
    ctl.create_task(AMI, BUCKET, state="Completed")
    ctl.inject_fault("InternalError", action="HeadObject", count=1)
    assert status_of(lambda: s3.head_object(Bucket=BUCKET, Key=KEY)) == ("500", 500)
    ctl.inject_fault("RequestLimitExceeded", action="HeadObject", count=1)
    assert status_of(lambda: s3.head_object(Bucket=BUCKET, Key=KEY)) == ("503", 503)
    codes = [c["error_code"] for c in ctl.calls("HeadObject")]
    assert codes == ["InternalError", "SlowDown"]
    ctl.hold("HeadObject")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer = pool.submit(s3.head_object, Bucket=BUCKET, Key=KEY)
        harness.wait_until(lambda: ctl.held() == {"HeadObject": 1}, timeout=10, what="held")
        assert not answer.done()
        assert ctl.release("HeadObject") == 1
        assert answer.result(timeout=10)["ContentLength"] == 8 * GIB


def test_other_s3_requests_are_not_implemented(ctl: Ec2SimControl, s3: Any) -> None:
    ctl.create_task(AMI, BUCKET, state="Completed")
    assert status_of(lambda: s3.get_object(Bucket=BUCKET, Key=KEY)) == ("NotImplemented", 501)
    assert status_of(s3.list_buckets) == ("NotImplemented", 501)


def test_an_unsigned_head_is_refused(ctl: Ec2SimControl, sim: ThreadedEc2Sim) -> None:
    ctl.create_task(AMI, BUCKET, state="Completed")
    request = urllib.request.Request(f"{sim.url}/{BUCKET}/{KEY}", method="HEAD")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403


def test_control_objects_listing(ctl: Ec2SimControl) -> None:
    ctl.create_task(AMI, BUCKET, state="Completed", started_seconds_ago=100)
    ctl.create_task("ami-0b0000000000000a2", BUCKET, progress=10)
    made = ctl.update_object("other-bucket", "manual.bin", create=True, size=5)
    assert made["from_task"] is False
    listed = [(o["bucket"], o["key"], o["size"], o["from_task"]) for o in ctl.objects()]
    assert listed == [
        (BUCKET, KEY, 8 * GIB, True),
        ("other-bucket", "manual.bin", 5, False),
    ]
    assert ctl.object(BUCKET, KEY)["last_modified"] == NOW - 40
    with pytest.raises(ControlError, match="404"):
        ctl.object(BUCKET, "missing.bin")
    with pytest.raises(ControlError, match="storage_class"):
        ctl.update_object(BUCKET, KEY, storage_class="COLD")
