"""S3 RestoreObject through real boto3 against the simulator: an archived object's thaw,
its expiry, S3's answers, and CreateRestoreImageTask refusing an object not thawed."""

from __future__ import annotations

import concurrent.futures
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e import harness
from tests.sandbox.ec2sim.control import Ec2SimControl
from tests.sandbox.ec2sim.runner import ThreadedEc2Sim
from tests.sandbox_tests.restoring import (
    BUCKET,
    KEY,
    NOW,
    error_of,
    restore,
    s3_client,
    stored,
    thaw,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


@pytest.fixture
def s3(sim: ThreadedEc2Sim) -> Any:
    return s3_client(sim.url)


@pytest.fixture
def ctl(ctl: Ec2SimControl) -> Ec2SimControl:
    ctl.set_clock(NOW, frozen=True)
    return ctl


def test_an_archived_object_is_refused_until_thawed(
    ctl: Ec2SimControl, ec2: EC2Client, s3: Any
) -> None:
    stored(ctl)
    ctl.set_storage_class(BUCKET, KEY, "GLACIER")
    code, status, message = error_of(lambda: restore(ec2, "thawed"))
    assert (code, status) == ("InvalidParameterValue", 400)
    assert "GLACIER" in message
    ctl.set_thaw_seconds("GLACIER", Standard=300)
    assert thaw(s3, days=2) == 202
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["Restore"] == 'ongoing-request="true"'
    assert error_of(lambda: restore(ec2, "thawed"))[0] == "InvalidParameterValue"
    ctl.advance(299)
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["Restore"] == 'ongoing-request="true"'
    ctl.advance(1)
    # Two days after the thaw completed, rounded up to the next midnight UTC.
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["Restore"] == (
        'ongoing-request="false", expiry-date="Mon, 18 Jan 2027 00:00:00 GMT"'
    )
    assert ctl.object(BUCKET, KEY)["thaw"]["ready_at"] == NOW + 300
    restore(ec2, "thawed")


def test_restore_object_answers_202_then_409_then_200_and_extends(
    ctl: Ec2SimControl, s3: Any
) -> None:
    stored(ctl)
    ctl.set_storage_class(BUCKET, KEY, "DEEP_ARCHIVE")
    ctl.set_thaw_seconds("DEEP_ARCHIVE", Bulk=600)
    assert thaw(s3, days=1, tier="Bulk") == 202
    assert error_of(lambda: thaw(s3, days=1, tier="Bulk"))[:2] == ("RestoreAlreadyInProgress", 409)
    ctl.advance(600)
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["Restore"] == (
        'ongoing-request="false", expiry-date="Sun, 17 Jan 2027 00:00:00 GMT"'
    )
    assert thaw(s3, days=5, tier="Bulk") == 200
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["Restore"] == (
        'ongoing-request="false", expiry-date="Thu, 21 Jan 2027 00:00:00 GMT"'
    )
    logged = [(c["params"], c["status"], c["error_code"]) for c in ctl.restore_object_calls()]
    params = {"Bucket": BUCKET, "Key": KEY, "Tier": "Bulk"}
    assert logged == [
        ({**params, "Days": 1}, 202, None),
        ({**params, "Days": 1}, 409, "RestoreAlreadyInProgress"),
        ({**params, "Days": 5}, 200, None),
    ]


def test_a_thawed_copy_expires_after_its_days(ctl: Ec2SimControl, ec2: EC2Client, s3: Any) -> None:
    stored(ctl)
    ctl.set_storage_class(BUCKET, KEY, "GLACIER")
    ctl.restore_settings(day_seconds=100, thaw_seconds={"GLACIER": {"Standard": 10}})
    assert thaw(s3, days=1) == 202
    ctl.advance(10)
    assert ctl.object(BUCKET, KEY)["restore"] == {"ongoing": False, "expiry_date": NOW + 200}
    restore(ec2, "in-time")
    ctl.advance(190)
    assert "Restore" not in s3.head_object(Bucket=BUCKET, Key=KEY)
    assert error_of(lambda: restore(ec2, "too-late"))[0] == "InvalidParameterValue"
    assert thaw(s3, days=1) == 202  # a new thaw, as the copy is gone


def test_restore_object_refusals(ctl: Ec2SimControl, s3: Any) -> None:
    stored(ctl)
    for storage_class in ("STANDARD", "GLACIER_IR", "STANDARD_IA"):
        ctl.set_storage_class(BUCKET, KEY, storage_class)
        assert error_of(lambda: thaw(s3))[:2] == ("InvalidObjectState", 403)
    ctl.set_storage_class(BUCKET, KEY, "INTELLIGENT_TIERING")
    assert error_of(lambda: thaw(s3, days=None))[:2] == ("ObjectAlreadyInActiveTierError", 403)
    ctl.set_storage_class(BUCKET, KEY, "DEEP_ARCHIVE")
    assert error_of(lambda: thaw(s3, tier="Expedited"))[:2] == ("InvalidArgument", 400)
    assert error_of(lambda: thaw(s3, days=None))[:2] == ("InvalidArgument", 400)
    ctl.set_storage_class(BUCKET, KEY, "INTELLIGENT_TIERING", "ARCHIVE_ACCESS")
    code, status, message = error_of(lambda: thaw(s3, days=3))
    assert (code, status) == ("InvalidArgument", 400)
    assert message.startswith("INTELLIGENT_TIERING objects are not subject to restore expiry")
    missing = error_of(lambda: s3.restore_object(Bucket=BUCKET, Key="nope", RestoreRequest={}))
    assert missing[:2] == ("NoSuchKey", 404)
    assert ctl.object(BUCKET, KEY)["thaw"] is None


def test_an_intelligent_tiering_archive_thaws_back_to_frequent_access(
    ctl: Ec2SimControl, ec2: EC2Client, s3: Any
) -> None:
    stored(ctl)
    ctl.set_storage_class(BUCKET, KEY, "INTELLIGENT_TIERING", "DEEP_ARCHIVE_ACCESS")
    message = error_of(lambda: restore(ec2, "tiered"))[2]
    assert "INTELLIGENT_TIERING storage class (DEEP_ARCHIVE_ACCESS)" in message
    ctl.set_thaw_seconds("DEEP_ARCHIVE", Standard=30)
    assert thaw(s3, days=None) == 202
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert (head["Restore"], head["ArchiveStatus"]) == (
        'ongoing-request="true"',
        "DEEP_ARCHIVE_ACCESS",
    )
    ctl.advance(30)
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert (head["StorageClass"], head["Restore"]) == (
        "INTELLIGENT_TIERING",
        'ongoing-request="false"',
    )
    assert "ArchiveStatus" not in head
    restore(ec2, "tiered")
    assert error_of(lambda: thaw(s3, days=None))[0] == "ObjectAlreadyInActiveTierError"


def test_faults_holds_and_throttling_apply_to_the_new_actions(
    ctl: Ec2SimControl, ec2: EC2Client, s3: Any
) -> None:
    stored(ctl)
    ctl.inject_fault("InternalError", action="CreateRestoreImageTask", count=1)
    assert error_of(lambda: restore(ec2, "faulty"))[:2] == ("InternalError", 500)
    ctl.set_storage_class(BUCKET, KEY, "GLACIER")
    ctl.inject_fault("InternalError", action="RestoreObject", count=1)
    assert error_of(lambda: thaw(s3))[:2] == ("InternalError", 500)
    ctl.hold("RestoreObject")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer = pool.submit(thaw, s3)
        harness.wait_until(lambda: ctl.held() == {"RestoreObject": 1}, timeout=10, what="held")
        assert ctl.object(BUCKET, KEY)["thaw"] is None
        assert ctl.release("RestoreObject") == 1
        assert answer.result(timeout=10) == 202
    ctl.set_throttle("CreateRestoreImageTask", burst=1, rate=0.001, enabled=True)
    ctl.set_throttle("RestoreObject", burst=1, rate=0.001)
    assert error_of(lambda: restore(ec2, "throttled"))[0] == "InvalidParameterValue"  # not thawed
    assert error_of(lambda: restore(ec2, "throttled"))[:2] == ("RequestLimitExceeded", 503)
    assert error_of(lambda: thaw(s3))[0] == "RestoreAlreadyInProgress"
    assert error_of(lambda: thaw(s3))[:2] == ("SlowDown", 503)
    ctl.set_throttle(enabled=False)
    codes = [c["error_code"] for c in ctl.restore_object_calls()]
    assert codes == ["InternalError", None, "RestoreAlreadyInProgress", "SlowDown"]
