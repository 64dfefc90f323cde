"""AMI cleanup's EC2 calls: the model subset, requests, answers, gone IDs, batches, retries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3.session
import botocore.loaders
import pytest
from amistore_operator.aws import ec2, ec2model, errors, imagemodel, images
from amistore_operator.core import images as core_images
from amistore_operator.core import model
from botocore.stub import Stubber

from tests.sandbox.ec2sim.control import Ec2SimControl
from tests.sandbox.ec2sim.runner import ThreadedEc2Sim
from tests.unit.aws import stubs

OWN = "111122223333"
SEVEN = {
    "DescribeStoreImageTasks", "CreateStoreImageTask", "DescribeImages",
    "DescribeImageAttribute", "DescribeImageReferences", "DescribeSnapshots", "DeregisterImage",
}  # fmt: skip
DEEP = [
    {
        "ResourceType": "ec2:LaunchTemplate",
        "ResourceTypeOptions": [{"OptionName": "version-depth", "OptionValues": ["10000"]}],
    }
]


def ami(n: int) -> str:
    return f"ami-0a{n:015x}"


def snap(n: int) -> str:
    return f"snap-0b{n:015x}"


# --- the model ---------------------------------------------------------------------------


def _without_docs(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_docs(v) for k, v in value.items() if k != "documentation"}
    if isinstance(value, list):
        return [_without_docs(v) for v in value]
    return value


def _refs(shape: dict[str, Any]) -> list[str]:
    found = [shape[k]["shape"] for k in ("member", "key", "value") if k in shape]
    return found + [member["shape"] for member in shape.get("members", {}).values()]


def test_model_is_botocores_but_for_the_members_left_out() -> None:
    full = botocore.loaders.Loader().load_service_model("ec2", "service-2", imagemodel.API_VERSION)
    assert imagemodel.SERVICE == ec2model.SERVICE
    assert imagemodel.API_VERSION == ec2model.API_VERSION
    for name, operation in imagemodel.OPERATIONS.items():
        assert operation == _without_docs(full["operations"][name]), name
    for name, shape in imagemodel.SHAPES.items():
        theirs = _without_docs(full["shapes"][name])
        if "members" in shape:
            kept = shape["members"]
            assert kept, name
            assert kept == {k: theirs["members"][k] for k in kept}, name
            assert set(shape.get("required", ())) <= set(kept), name
            assert {**shape, "members": theirs["members"]} == theirs, name
        else:
            assert shape == theirs, name
    # Exactly the shapes the operations reach, and a name ec2model has too is the same shape.
    reached: set[str] = set()
    todo = [s for o in imagemodel.OPERATIONS.values() for s in (o["input"], o["output"])]
    names = [s["shape"] for s in todo]
    while names:
        name = names.pop()
        if name not in reached:
            reached.add(name)
            names += _refs(imagemodel.SHAPES[name])
    assert reached == set(imagemodel.SHAPES)
    for name in set(imagemodel.SHAPES) & set(ec2model.MODEL["shapes"]):
        assert imagemodel.SHAPES[name] == ec2model.MODEL["shapes"][name], name


def test_merged_adds_the_operations_and_changes_neither_model() -> None:
    before = repr(ec2model.MODEL)
    merged = imagemodel.merged(ec2model.MODEL)
    assert set(merged["operations"]) == SEVEN
    assert merged["metadata"] == ec2model.MODEL["metadata"]
    assert repr(ec2model.MODEL) == before
    assert imagemodel.merged(merged) == merged


def test_a_session_from_new_session_makes_all_seven_operations(aws_env: None) -> None:
    session = ec2.new_session()
    client = images.make_client("eu-west-1", session=session)
    restore = {"CreateRestoreImageTask"}  # restoremodel's, merged by the same loader
    for made in (client.client, client.write_client):
        assert set(made.meta.service_model.operation_names) == SEVEN | restore
    export = ec2.make_client("eu-west-1", session=session).client
    assert set(export.meta.service_model.operation_names) == SEVEN | restore
    assert session.client("sts", region_name="eu-west-1").meta.service_model.service_name == "sts"


def test_a_session_with_botocores_full_model_keeps_it(aws_env: None) -> None:
    client = images.make_client("eu-west-1", session=boto3.session.Session())
    service = client.client.meta.service_model
    assert len(service.operation_names) > 500
    image: Any = service.shape_for("Image")
    assert "Architecture" in image.members  # not the trimmed shape


def test_reads_retry_and_the_deregister_never_does(aws_env: None) -> None:
    client = images.make_client("eu-west-1")
    reads: Any = client.client.meta.config
    writes: Any = client.write_client.meta.config
    assert reads.retries == {"mode": "standard", "total_max_attempts": 3}
    assert writes.retries == {"mode": "standard", "total_max_attempts": 1}
    assert (reads.read_timeout, writes.read_timeout) == (20.0, 20.0)


# --- the calls, Stubber in place of AWS ----------------------------------------------------


@pytest.fixture
def stubbed(aws_env: None) -> Iterator[tuple[images.ImageClient, Stubber]]:
    with stubs.stubbed(images.make_client("eu-west-1")) as pair:
        yield pair


def describe(ids: list[str]) -> dict[str, Any]:
    return {"ImageIds": ids, "IncludeDeprecated": True, "IncludeDisabled": True}


def image(n: int, **fields: Any) -> dict[str, Any]:
    return {"ImageId": ami(n), "OwnerId": OWN, "State": "available", "Public": False, **fields}


def test_images_as_describe_images_shows_them(
    stubbed: tuple[images.ImageClient, Stubber],
) -> None:
    client, stubber = stubbed
    devices = [
        {"Ebs": {"SnapshotId": snap(1)}},
        {},  # an instance store volume: no snapshot
        {"Ebs": {"SnapshotId": snap(2)}},
    ]
    answer = [
        image(1, Name="web", DeregistrationProtection="disabled", BlockDeviceMappings=devices),
        image(2, State="disabled", Public=True, DeregistrationProtection="enabled-with-cooldown"),
    ]
    stubber.add_response("describe_images", {"Images": answer}, describe([ami(1), ami(2)]))
    assert client.images([ami(1), ami(2), ami(1)]) == {
        ami(1): core_images.Image(
            ami(1), OWN, "available", False, "disabled", (snap(1), snap(2)), "web"
        ),
        ami(2): core_images.Image(ami(2), OWN, "disabled", True, "enabled-with-cooldown", ()),
    }
    assert client.images([]) == {}


def test_a_gone_ami_fails_the_batch_and_is_then_absent(
    stubbed: tuple[images.ImageClient, Stubber],
) -> None:
    client, stubber = stubbed
    ids = [ami(n) for n in range(1, 5)]
    gone = "InvalidAMIID.NotFound"
    stubber.add_client_error("describe_images", gone, "gone", expected_params=describe(ids))
    stubber.add_response("describe_images", {"Images": [image(1), image(2)]}, describe(ids[:2]))
    unavailable = "InvalidAMIID.Unavailable"
    stubber.add_client_error("describe_images", unavailable, "x", expected_params=describe(ids[2:]))
    stubber.add_response("describe_images", {"Images": [image(3)]}, describe([ami(3)]))
    stubber.add_client_error("describe_images", gone, "gone", expected_params=describe([ami(4)]))
    assert sorted(client.images(ids)) == [ami(1), ami(2), ami(3)]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("InvalidAMIID.Malformed", model.PollErrorReason.INVALID_IMAGE_ID),
        ("UnauthorizedOperation", model.PollErrorReason.ACCESS_DENIED),
    ],
)
def test_other_describe_errors_raise(
    stubbed: tuple[images.ImageClient, Stubber], code: str, reason: model.PollErrorReason
) -> None:
    client, stubber = stubbed
    stubber.add_client_error("describe_images", code, "no", http_status_code=400)
    with pytest.raises(errors.AwsError) as caught:
        client.images([ami(1), ami(2)])
    assert (caught.value.code, caught.value.reason) == (code, reason)


def test_launch_permissions(stubbed: tuple[images.ImageClient, Stubber]) -> None:
    client, stubber = stubbed
    org = "arn:aws:organizations::111111111111:organization/o-abc123"
    unit = "arn:aws:organizations::111111111111:ou/o-abc123/ou-ab12-cdef3456"
    granted = [
        {"Group": "all"},
        {"UserId": "333333333333"},
        {"UserId": "444444444444"},
        {"OrganizationArn": org},
        {"OrganizationalUnitArn": unit},
    ]
    params = {"ImageId": ami(1), "Attribute": "launchPermission"}
    stubber.add_response("describe_image_attribute", {"LaunchPermissions": granted}, params)
    stubber.add_response("describe_image_attribute", {"LaunchPermissions": []}, params)
    shared = client.launch_permissions(ami(1))
    assert shared == core_images.LaunchPermissions(
        True, ("333333333333", "444444444444"), (org,), (unit,)
    )
    assert shared.shared
    assert not client.launch_permissions(ami(1)).shared
    stubber.add_client_error("describe_image_attribute", "AuthFailure", "not yours", 401)
    with pytest.raises(errors.AwsError) as caught:
        client.launch_permissions(ami(1))
    assert caught.value.code == "AuthFailure"


def references(ids: list[str], token: str | None = None) -> dict[str, Any]:
    params = {"ImageIds": ids, "IncludeAllResourceTypes": True, "ResourceTypes": DEEP}
    return params if token is None else {**params, "NextToken": token}


def ref(n: int, kind: str = "ec2:Instance", what: str = "instance/i-1") -> dict[str, str]:
    return {"ImageId": ami(n), "ResourceType": kind, "Arn": f"arn:aws:ec2:eu-west-1:{OWN}:{what}"}


def test_references_ask_ten_amis_a_call_and_follow_every_page(
    stubbed: tuple[images.ImageClient, Stubber],
) -> None:
    client, stubber = stubbed
    ids = [ami(n) for n in range(11)]
    template = ref(3, "ec2:LaunchTemplate", "launch-template/lt-1")
    first = {"ImageReferences": [ref(0)], "NextToken": "t1"}
    stubber.add_response("describe_image_references", first, references(ids[:10]))
    second = {"ImageReferences": [template], "NextToken": "t2"}
    stubber.add_response("describe_image_references", second, references(ids[:10], "t1"))
    stubber.add_response(
        "describe_image_references", {"ImageReferences": []}, references(ids[:10], "t2")
    )
    stubber.add_response(
        "describe_image_references", {"ImageReferences": [ref(10)]}, references(ids[10:])
    )
    assert client.references(ids) == [
        core_images.Reference(ami(0), "ec2:Instance", f"arn:aws:ec2:eu-west-1:{OWN}:instance/i-1"),
        core_images.Reference(
            ami(3), "ec2:LaunchTemplate", f"arn:aws:ec2:eu-west-1:{OWN}:launch-template/lt-1"
        ),
        core_images.Reference(ami(10), "ec2:Instance", f"arn:aws:ec2:eu-west-1:{OWN}:instance/i-1"),
    ]
    assert client.references([]) == []


def test_a_gone_ami_has_no_references(stubbed: tuple[images.ImageClient, Stubber]) -> None:
    client, stubber = stubbed
    ids = [ami(1), ami(2)]
    gone = "InvalidAMIID.NotFound"
    stubber.add_client_error(
        "describe_image_references", gone, "x", expected_params=references(ids)
    )
    stubber.add_response(
        "describe_image_references", {"ImageReferences": [ref(1)]}, references(ids[:1])
    )
    stubber.add_client_error(
        "describe_image_references", gone, "x", expected_params=references(ids[1:])
    )
    assert [r.image_id for r in client.references(ids)] == [ami(1)]


def test_snapshots_and_a_missing_one(stubbed: tuple[images.ImageClient, Stubber]) -> None:
    client, stubber = stubbed
    ids = [snap(1), snap(2), snap(3)]
    missing = "InvalidSnapshot.NotFound"
    stubber.add_client_error(
        "describe_snapshots", missing, "x", expected_params={"SnapshotIds": ids}
    )
    one = {"Snapshots": [{"SnapshotId": snap(1), "VolumeSize": 8}]}
    stubber.add_response("describe_snapshots", one, {"SnapshotIds": ids[:1]})
    stubber.add_client_error(
        "describe_snapshots", missing, "x", expected_params={"SnapshotIds": ids[1:]}
    )
    two = {"Snapshots": [{"SnapshotId": snap(2), "VolumeSize": 500}]}
    stubber.add_response("describe_snapshots", two, {"SnapshotIds": ids[1:2]})
    stubber.add_client_error(
        "describe_snapshots", missing, "x", expected_params={"SnapshotIds": ids[2:]}
    )
    assert client.snapshots(ids) == {
        snap(1): core_images.Snapshot(snap(1), 8 * 2**30),
        snap(2): core_images.Snapshot(snap(2), 500 * 2**30),
    }
    stubber.add_client_error("describe_snapshots", "InvalidSnapshotID.Malformed", "bad")
    with pytest.raises(errors.AwsError):
        client.snapshots(["snap-1"])


def test_deregister_maps_each_snapshots_result(aws_env: None) -> None:
    client = images.make_client("eu-west-1")
    results = [
        {"SnapshotId": snap(1), "ReturnCode": "success"},
        {"SnapshotId": snap(2), "ReturnCode": "skipped"},
        {"SnapshotId": snap(3), "ReturnCode": "missing-permissions"},
    ]
    with Stubber(client.write_client) as stubber:
        params = {"ImageId": ami(1), "DeleteAssociatedSnapshots": True}
        stubber.add_response(
            "deregister_image", {"Return": True, "DeleteSnapshotResults": results}, params
        )
        stubber.add_response(
            "deregister_image", {"Return": True}, {**params, "DeleteAssociatedSnapshots": False}
        )
        stubber.add_client_error("deregister_image", "OperationNotPermitted", "protected")
        done = client.deregister(ami(1), True)
        assert done == core_images.Deregistered(
            True,
            ((snap(1), "success"), (snap(2), "skipped"), (snap(3), "missing-permissions")),
        )
        assert done.deleted() == (snap(1),)
        assert done.kept() == ((snap(2), "skipped"), (snap(3), "missing-permissions"))
        assert client.deregister(ami(1), False) == core_images.Deregistered(True)
        with pytest.raises(errors.AwsError) as caught:
            client.deregister(ami(1), True)
        assert caught.value.code == "OperationNotPermitted"
        stubber.assert_no_pending_responses()


# --- attempts over HTTP: paid, counted, retried (reads) or not (DeregisterImage) ------------


class Observed:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def observe_ec2_call(
        self, region: str, operation: str, outcome: str, seconds: float, account: str = ""
    ) -> None:
        self.calls.append((operation, outcome, account))


def test_every_attempt_is_paid_by_its_bucket_and_counted(
    aws_env: None, no_backoff: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ThreadedEc2Sim(throttle=False) as sim:
        monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", sim.url)
        ctl = Ec2SimControl(sim.url)
        ctl.reset()
        ctl.register_amis([ami(1), ami(2)])
        paid: list[str] = []
        observed = Observed()
        client = images.make_client(
            "eu-west-1",
            on_read_attempt=lambda: paid.append("read"),
            on_write_attempt=lambda: paid.append("write"),
            metrics=observed,
            account=OWN,
        )
        ctl.inject_fault("Unavailable", action="DescribeImages", count=2)
        assert sorted(client.images([ami(1)])) == [ami(1)]  # the third attempt answers
        assert paid == ["read"] * 3
        ctl.inject_fault("Unavailable", action="DeregisterImage", count=1)
        with pytest.raises(errors.AwsError) as caught:
            client.deregister(ami(2), True)
        assert caught.value.reason == model.PollErrorReason.AWS_UNAVAILABLE
        assert paid == ["read"] * 3 + ["write"]
        assert [c["status"] for c in ctl.calls("DeregisterImage")] == [503]  # one attempt
        assert sorted(client.images([ami(2)])) == [ami(2)]  # still registered
        assert observed.calls == [
            ("DescribeImages", "server_error", OWN),
            ("DescribeImages", "server_error", OWN),
            ("DescribeImages", "success", OWN),
            ("DeregisterImage", "server_error", OWN),
            ("DescribeImages", "success", OWN),
        ]
