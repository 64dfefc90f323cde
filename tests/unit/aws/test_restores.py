"""Restore's AWS calls through real boto3 against the sandbox, and Stubber where it cannot
show something: objects and thaws, the create, the image by name, progress, attempts."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from amistore_operator.aws import errors, restores
from amistore_operator.core import model, restoreview
from botocore.stub import Stubber

from tests.sandbox.ec2sim.control import Ec2SimControl
from tests.sandbox.ec2sim.runner import ThreadedEc2Sim
from tests.sandbox_tests.restoring import AMI, BUCKET, GIB, KEY, NOW, OWN, stored
from tests.unit.aws import stubs

UID = "5f0c3a8e-1111-4222-8333-944445555666"
TAGS = {restoreview.RESTORE_UID_TAG: UID, "team": "web"}
OTHER_AMI = "ami-0c0000000000000b2"


class Observed:
    """Both counters: EC2's and S3's calls by operation and outcome."""

    def __init__(self) -> None:
        self.ec2: list[tuple[str, str, str]] = []
        self.s3: list[tuple[str, str, str]] = []

    def observe_ec2_call(
        self, region: str, operation: str, outcome: str, seconds: float, account: str = ""
    ) -> None:
        self.ec2.append((operation, outcome, account))

    def observe_s3_call(
        self, region: str, operation: str, outcome: str, seconds: float, account: str = ""
    ) -> None:
        self.s3.append((operation, outcome, account))


class Rig:
    """The sandbox's control client and a RestoreClient pointed at it, paying and counting."""

    def __init__(self, ctl: Ec2SimControl) -> None:
        self.ctl = ctl
        self.observed = Observed()
        self.paid: list[str] = []
        self.client = restores.make_client(
            "eu-west-1",
            on_read_attempt=lambda: self.paid.append("read"),
            on_write_attempt=lambda: self.paid.append("write"),
            metrics=self.observed,
            s3_metrics=self.observed,
            account=OWN,
        )


@pytest.fixture(scope="module")
def sim() -> Iterator[ThreadedEc2Sim]:
    with ThreadedEc2Sim(throttle=False) as running:
        yield running


@pytest.fixture
def rig(
    sim: ThreadedEc2Sim, aws_env: None, no_backoff: None, monkeypatch: pytest.MonkeyPatch
) -> Rig:
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", sim.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", sim.url)
    ctl = Ec2SimControl(sim.url)
    ctl.reset()
    ctl.set_throttle(enabled=False)
    ctl.set_clock(NOW, frozen=True)
    return Rig(ctl)


def store_other(ctl: Ec2SimControl, name: str) -> str:
    """A second stored AMI in BUCKET; its key."""
    ctl.register_amis([OTHER_AMI])
    ctl.update_image(OTHER_AMI, name=name)
    ctl.create_task(OTHER_AMI, BUCKET, state="Completed")
    return f"{OTHER_AMI}.bin"


# --- S3: the object and its thaw ---------------------------------------------------------


def test_head_of_a_standard_object_and_of_none(rig: Rig) -> None:
    stored(rig.ctl, name="golden-web")
    size = rig.ctl.object(BUCKET, KEY)["size"]
    head = rig.client.head(BUCKET, KEY)
    assert head == restoreview.StoredObject(size, "STANDARD", ami_name="golden-web")
    assert head is not None
    assert not head.archived
    assert rig.client.head(BUCKET, "ami-0c00000000000ffff.bin") is None
    assert rig.observed.s3 == [("HeadObject", "success", OWN), ("HeadObject", "client_error", OWN)]


def test_a_deep_archive_object_before_while_and_after_its_thaw(rig: Rig) -> None:
    stored(rig.ctl, name="golden-web")
    rig.ctl.set_storage_class(BUCKET, KEY, "DEEP_ARCHIVE")
    rig.ctl.set_thaw_seconds("DEEP_ARCHIVE", Standard=600)
    before = rig.client.head(BUCKET, KEY)
    assert before is not None
    assert (before.storage_class, before.thaw_ongoing, before.thaw_expiry) == (
        "DEEP_ARCHIVE",
        None,
        None,
    )
    assert before.archived
    assert before.deep
    assert not before.thawed
    rig.client.thaw(BUCKET, KEY, 2, "Standard", days_apply=True)
    rig.client.thaw(BUCKET, KEY, 2, "Standard", days_apply=True)  # 409: still success
    during = rig.client.head(BUCKET, KEY)
    assert during is not None
    assert (during.thaw_ongoing, during.thaw_expiry, during.thawed) == (True, None, False)
    rig.ctl.advance(600)
    after = rig.client.head(BUCKET, KEY)
    assert after is not None
    # Two days after the thaw completed, up to the next midnight UTC.
    assert after.thaw_expiry == datetime.datetime(2027, 1, 18, tzinfo=datetime.UTC)
    assert (after.thaw_ongoing, after.thawed, after.ami_name) == (False, True, "golden-web")
    calls = [(c["params"], c["status"]) for c in rig.ctl.restore_object_calls()]
    thawed = {"Bucket": BUCKET, "Key": KEY, "Days": 2, "Tier": "Standard"}
    assert calls == [(thawed, 202), (thawed, 409)]
    assert rig.observed.s3.count(("RestoreObject", "success", OWN)) == 1
    assert rig.observed.s3.count(("RestoreObject", "client_error", OWN)) == 1


def test_an_intelligent_tiering_thaw_takes_no_days(rig: Rig) -> None:
    stored(rig.ctl)
    rig.ctl.set_storage_class(BUCKET, KEY, "INTELLIGENT_TIERING", "DEEP_ARCHIVE_ACCESS")
    head = rig.client.head(BUCKET, KEY)
    assert head is not None
    assert (head.storage_class, head.archive_status) == (
        "INTELLIGENT_TIERING",
        "DEEP_ARCHIVE_ACCESS",
    )
    assert head.archived
    assert head.deep
    rig.client.thaw(BUCKET, KEY, 7, "Bulk", days_apply=False)
    [call] = rig.ctl.restore_object_calls()
    assert (call["params"], call["status"]) == ({"Bucket": BUCKET, "Key": KEY, "Tier": "Bulk"}, 202)


def test_a_refused_thaw_raises(rig: Rig) -> None:
    stored(rig.ctl)
    rig.ctl.set_storage_class(BUCKET, KEY, "DEEP_ARCHIVE")
    with pytest.raises(errors.AwsError) as caught:
        rig.client.thaw(BUCKET, KEY, 1, "Expedited", days_apply=True)
    assert (caught.value.code, caught.value.reason) == (
        "InvalidArgument",
        model.PollErrorReason.INVALID_REQUEST,
    )
    rig.ctl.set_storage_class(BUCKET, KEY, "STANDARD")
    with pytest.raises(errors.AwsError) as caught:
        rig.client.thaw(BUCKET, KEY, 1, "Standard", days_apply=True)
    assert caught.value.code == "InvalidObjectState"


# --- EC2: the create, the image by name, progress ----------------------------------------


def test_a_restore_found_by_name_pending_then_available(rig: Rig) -> None:
    stored(rig.ctl, name="golden-web", volumes=[8, 16])
    rig.ctl.restore_settings(restore_duration_seconds=100)
    assert rig.client.image_named("web-restored") is None
    ami_id = rig.client.create(BUCKET, KEY, "web-restored", TAGS)
    image = rig.client.image_named("web-restored")
    assert image is not None
    assert (image.image_id, image.name, image.state, image.state_reason) == (
        ami_id,
        "web-restored",
        "pending",
        "",
    )
    assert image.tag(restoreview.RESTORE_UID_TAG) == UID
    assert dict(image.tags) == TAGS
    assert len(image.snapshot_ids) == 2
    assert rig.client.progress(image.snapshot_ids) == 0
    rig.ctl.advance(40)
    assert rig.client.progress(image.snapshot_ids) == 40
    rig.ctl.advance(60)
    done = rig.client.image_named("web-restored")
    assert done is not None
    assert done.state == "available"
    assert rig.client.progress(image.snapshot_ids) == 100
    [call] = rig.ctl.calls("CreateRestoreImageTask")
    tags = [{"Key": k, "Value": v} for k, v in TAGS.items()]
    assert call["params"] == {
        "Bucket": BUCKET,
        "ObjectKey": KEY,
        "Name": "web-restored",
        "TagSpecifications": [
            {"ResourceType": "image", "Tags": tags},
            {"ResourceType": "snapshot", "Tags": tags},
        ],
    }


def test_an_image_is_found_by_its_uid_tag_whatever_its_name_and_not_once_failed(
    rig: Rig,
) -> None:
    stored(rig.ctl)
    rig.ctl.restore_settings(restore_duration_seconds=100)
    assert rig.client.image_of(UID) is None
    failed = rig.client.create(BUCKET, KEY, "first-name", TAGS)
    rig.ctl.fail_restore(failed)
    rig.ctl.advance(200)
    assert rig.client.image_of(UID) is None  # a failed image is the last attempt's
    ami_id = rig.client.create(BUCKET, KEY, "second-name", TAGS)
    rig.client.create(BUCKET, KEY, "someone-elses", {restoreview.RESTORE_UID_TAG: "other"})
    image = rig.client.image_of(UID)
    assert image is not None
    assert (image.image_id, image.name) == (ami_id, "second-name")
    [call] = [c for c in rig.ctl.calls("DescribeImages") if c["params"].get("Filters")][-1:]
    assert call["params"]["Filters"] == [
        {"Name": f"tag:{restoreview.RESTORE_UID_TAG}", "Values": [UID]}
    ]


def test_a_gone_snapshot_is_left_out_of_the_mean(rig: Rig) -> None:
    stored(rig.ctl, volumes=[8])
    rig.ctl.restore_settings(restore_duration_seconds=100)
    ami_id = rig.client.create(BUCKET, KEY, "half", {})
    rig.ctl.advance(50)
    image = rig.client.image_named("half")
    assert image is not None
    assert image.image_id == ami_id
    assert image.tags == ()
    gone = "snap-0fffffffffffffff0"
    assert rig.client.progress([gone, *image.snapshot_ids]) == 50
    assert rig.client.progress([gone]) is None
    assert rig.client.progress([]) is None


def test_a_name_in_use_is_refused_naming_its_holder(rig: Rig) -> None:
    stored(rig.ctl, name="golden-web")
    first = rig.client.create(BUCKET, KEY, "web-restored", TAGS)
    with pytest.raises(errors.AwsError) as caught:
        rig.client.create(BUCKET, KEY, "web-restored", TAGS)
    assert caught.value.code == restoreview.NAME_TAKEN
    assert first in caught.value.message
    with pytest.raises(errors.AwsError) as caught:
        rig.client.create(BUCKET, KEY, "golden-web", {})  # the source AMI's own name
    assert (caught.value.code, AMI in caught.value.message) == (restoreview.NAME_TAKEN, True)


def test_restores_over_the_capacity_are_refused(rig: Rig) -> None:
    stored(rig.ctl)
    other = store_other(rig.ctl, "golden-api")
    rig.ctl.update_object(BUCKET, KEY, size=60 * GIB)
    rig.ctl.restore_settings(restore_capacity_gb=100)
    rig.ctl.update_object(BUCKET, other, size=60 * GIB)
    rig.client.create(BUCKET, KEY, "first", {})
    with pytest.raises(errors.AwsError) as caught:
        rig.client.create(BUCKET, other, "second", {})
    assert caught.value.code == restoreview.LIMIT_EXCEEDED
    assert ("CreateRestoreImageTask", "capacity", OWN) in rig.observed.ec2


def test_a_failed_image_carries_its_reason_and_is_deregistered(rig: Rig) -> None:
    stored(rig.ctl)
    ami_id = rig.client.create(BUCKET, KEY, "doomed", TAGS)
    rig.ctl.fail_restore(ami_id, "Client.InvalidObject", "The stored AMI could not be read.")
    image = rig.client.image_named("doomed")
    assert image is not None
    assert (image.state, image.state_reason) == (
        "failed",
        "Client.InvalidObject: The stored AMI could not be read.",
    )
    rig.client.deregister(ami_id)
    assert rig.client.image_named("doomed") is None  # listed a while as deregistered: none
    with pytest.raises(errors.AwsError) as caught:
        rig.client.deregister(ami_id)
    assert caught.value.code.startswith("InvalidAMIID.")


# --- attempts: paid, counted, retried (reads) or not (the writes) --------------------------


def test_the_create_is_one_attempt_even_when_aws_answers_500(rig: Rig) -> None:
    stored(rig.ctl)
    rig.ctl.inject_fault("InternalError", action="CreateRestoreImageTask", count=1)
    with pytest.raises(errors.AwsError) as caught:
        rig.client.create(BUCKET, KEY, "once", TAGS)
    assert caught.value.reason == model.PollErrorReason.AWS_UNAVAILABLE
    assert [c["status"] for c in rig.ctl.calls("CreateRestoreImageTask")] == [500]
    assert rig.paid == ["write"]
    rig.ctl.inject_fault("Unavailable", action="DescribeImages", count=2)
    assert rig.client.image_named("once") is None  # the third attempt answers
    assert rig.paid == ["write"] + ["read"] * 3
    rig.ctl.inject_fault("Unavailable", action="HeadObject", count=1)
    assert rig.client.head(BUCKET, KEY) is not None  # retried, paid by no EC2 bucket
    assert rig.paid == ["write"] + ["read"] * 3
    assert rig.observed.ec2 == [
        ("CreateRestoreImageTask", "server_error", OWN),
        ("DescribeImages", "server_error", OWN),
        ("DescribeImages", "server_error", OWN),
        ("DescribeImages", "success", OWN),
    ]
    assert rig.observed.s3 == [("HeadObject", "server_error", OWN), ("HeadObject", "success", OWN)]


def test_the_deregistration_is_one_attempt(rig: Rig) -> None:
    stored(rig.ctl)
    ami_id = rig.client.create(BUCKET, KEY, "kept", {})
    rig.ctl.inject_fault("Unavailable", action="DeregisterImage", count=1)
    with pytest.raises(errors.AwsError):
        rig.client.deregister(ami_id)
    assert [c["status"] for c in rig.ctl.calls("DeregisterImage")] == [503]
    assert rig.client.image_named("kept") is not None
    assert rig.observed.ec2[-2:] == [
        ("DeregisterImage", "server_error", OWN),
        ("DescribeImages", "success", OWN),
    ]
    assert rig.paid == ["write", "write", "read"]


def test_reads_retry_and_the_writes_never_do(aws_env: None) -> None:
    client = restores.make_client("eu-west-1")
    api: restoreview.RestoreApi = client  # mypy checks that it fills the interface
    assert api is client
    reads: Any = client.client.meta.config
    writes: Any = client.write_client.meta.config
    s3: Any = client.s3.meta.config
    assert reads.retries == s3.retries == {"mode": "standard", "total_max_attempts": 3}
    assert writes.retries == {"mode": "standard", "total_max_attempts": 1}


# --- what the sandbox does not show: Stubber in place of AWS --------------------------------


@pytest.fixture
def stubbed(aws_env: None) -> Iterator[tuple[restores.RestoreClient, Stubber]]:
    with stubs.stubbed(restores.make_client("eu-west-1")) as pair:
        yield pair


def named(name: str) -> dict[str, Any]:
    return {
        "Owners": ["self"],
        "Filters": [{"Name": "name", "Values": [name]}],
        "IncludeDeprecated": True,
        "IncludeDisabled": True,
    }


def test_two_images_of_one_name_the_first_by_id_a_deregistered_one_none(
    stubbed: tuple[restores.RestoreClient, Stubber],
) -> None:
    client, stubber = stubbed
    answer = [
        {"ImageId": "ami-0b", "Name": "web", "State": "available"},
        {"ImageId": "ami-0a", "Name": "web", "State": "pending"},
        {"ImageId": "ami-09", "Name": "web", "State": "deregistered"},
    ]
    stubber.add_response("describe_images", {"Images": answer}, named("web"))
    stubber.add_response("describe_images", {"Images": answer[2:]}, named("web"))
    image = client.image_named("web")
    assert image is not None
    assert (image.image_id, image.state) == ("ami-0a", "pending")
    assert client.image_named("web") is None


def test_a_create_without_tags_sends_no_tag_specifications(aws_env: None) -> None:
    client = restores.make_client("eu-west-1")
    with Stubber(client.write_client) as stubber:
        params = {"Bucket": BUCKET, "ObjectKey": KEY, "Name": "web"}
        stubber.add_response("create_restore_image_task", {"ImageId": "ami-0a"}, params)
        stubber.add_response("create_restore_image_task", {}, params)
        assert client.create(BUCKET, KEY, "web", {}) == "ami-0a"
        with pytest.raises(errors.AwsError) as caught:
            client.create(BUCKET, KEY, "web", {})
        assert caught.value.reason == model.PollErrorReason.AWS_UNAVAILABLE
        stubber.assert_no_pending_responses()


def test_a_head_s3_names_no_class_of_is_standard_and_a_refusal_raises(aws_env: None) -> None:
    client = restores.make_client("eu-west-1")
    with Stubber(client.s3) as stubber:
        params = {"Bucket": BUCKET, "Key": KEY}
        answer = {"ContentLength": 10, "Restore": 'ongoing-request="true"'}
        stubber.add_response("head_object", answer, params)
        stubber.add_client_error("head_object", "403", "Forbidden", http_status_code=403)
        assert client.head(BUCKET, KEY) == restoreview.StoredObject(10, "STANDARD", None, True)
        with pytest.raises(errors.AwsError) as caught:
            client.head(BUCKET, KEY)
        assert caught.value.reason == model.PollErrorReason.ACCESS_DENIED


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        (None, (None, None)),
        ('ongoing-request="true"', (True, None)),
        (
            'ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"',
            (False, datetime.datetime(2012, 12, 21, tzinfo=datetime.UTC)),
        ),
        ('ongoing-request="false", expiry-date="someday"', (False, None)),
    ],
)
def test_parse_restore(
    header: str | None, parsed: tuple[bool | None, datetime.datetime | None]
) -> None:
    assert restores.parse_restore(header) == parsed


def test_percent() -> None:
    assert [restores.percent(p) for p in ("42%", "100%", None, "", "x", "150%")] == [
        42, 100, 0, 0, 0, 100,
    ]  # fmt: skip
