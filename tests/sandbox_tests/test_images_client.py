"""The operator's cleanup client (aws/images.py) through real boto3 against the simulator."""

from __future__ import annotations

import pytest
from amistore_operator.aws import errors, images
from amistore_operator.core import images as core_images
from amistore_operator.core import model

from tests.sandbox.ec2sim import sts
from tests.sandbox.ec2sim.control import Ec2SimControl
from tests.sandbox.ec2sim.runner import ThreadedEc2Sim

OWN = sts.DEFAULT_ACCOUNT
OTHER = "222222222222"
GIB = 2**30


def ami(n: int) -> str:
    return f"ami-0a{n:015x}"


@pytest.fixture
def client(sim: ThreadedEc2Sim, monkeypatch: pytest.MonkeyPatch) -> images.ImageClient:
    """A client as the operator makes it (ec2.new_session), pointed at the simulator."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "AKIASANDBOXEXAMPLE00",
        "AWS_SECRET_ACCESS_KEY": "sandbox-secret-not-real",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_EC2": sim.url,
    }.items():
        monkeypatch.setenv(name, value)
    return images.make_client("eu-west-1")


def held_image(ctl: Ec2SimControl, ami_id: str) -> core_images.Image:
    """What the simulator holds of the AMI, as the client should show it."""
    held = ctl.image(ami_id)
    return core_images.Image(
        image_id=held["ami_id"],
        owner_id=held["owner"],
        state=held["state"],
        public=held["public"],
        protection=held["protection"],
        snapshot_ids=tuple(s["snapshot_id"] for s in held["snapshots"]),
        name=held["name"],
    )


def test_images_are_what_the_simulator_holds(
    ctl: Ec2SimControl, client: images.ImageClient
) -> None:
    ctl.set_clock(1_800_000_000.0, frozen=True)
    ctl.register_amis([ami(n) for n in range(1, 6)])
    ctl.set_snapshots(ami(1), [8, 16, 4])
    ctl.update_image(ami(1), name="web-2025")
    ctl.set_protection(ami(2), "enabled")
    ctl.set_protection(ami(3), "enabled-with-cooldown")
    ctl.set_protection(ami(3), "disabled")  # disabled-until-<a day later>
    ctl.share_image(ami(4), public=True)
    ctl.deregister_amis([ami(5)])
    ctl.for_account(OTHER).register_amis([ami(6)])  # not shared: we cannot see it
    asked = [ami(n) for n in range(1, 8)]  # ami(7): no account has it
    found = client.images(asked)
    assert sorted(found) == [ami(n) for n in range(1, 5)]
    for ami_id, image in found.items():
        assert image == held_image(ctl, ami_id)
    assert len(found[ami(1)].snapshot_ids) == 3
    assert (found[ami(3)].protection or "").startswith("disabled-until-")
    assert found[ami(4)].public
    with pytest.raises(errors.AwsError) as caught:
        client.images([ami(1), "ami-12"])
    assert caught.value.code == "InvalidAMIID.Malformed"


def test_a_recently_deregistered_ami_shows_its_state(
    ctl: Ec2SimControl, client: images.ImageClient
) -> None:
    ctl.set_clock(frozen=True)
    ctl.image_settings(deregistered_visible_seconds=60)
    ctl.register_amis([ami(1), ami(2)])
    assert client.deregister(ami(1), False).returned
    found = client.images([ami(1), ami(2)])
    assert (found[ami(1)].state, found[ami(2)].state) == ("deregistered", "available")
    ctl.advance(61)
    assert sorted(client.images([ami(1), ami(2)])) == [ami(2)]


def test_another_accounts_shared_ami(ctl: Ec2SimControl, client: images.ImageClient) -> None:
    theirs = ctl.for_account(OTHER)
    theirs.register_amis([ami(7)])
    theirs.share_image(ami(7), user_ids=[OWN])
    [image] = client.images([ami(7)]).values()
    assert (image.owner_id, image.public) == (OTHER, False)
    with pytest.raises(errors.AwsError) as caught:
        client.launch_permissions(ami(7))  # only its owner may ask
    assert caught.value.code == "AuthFailure"
    with pytest.raises(errors.AwsError) as caught:
        client.deregister(ami(7), True)
    assert caught.value.code == "AuthFailure"


def test_launch_permissions_are_what_the_simulator_holds(
    ctl: Ec2SimControl, client: images.ImageClient
) -> None:
    ctl.register_amis([ami(1), ami(2)])
    org = "arn:aws:organizations::111111111111:organization/o-abc123"
    unit = "arn:aws:organizations::111111111111:ou/o-abc123/ou-ab12-cdef3456"
    ctl.share_image(
        ami(1),
        public=True,
        user_ids=["333333333333", "444444444444"],
        organization_arns=[org],
        organizational_unit_arns=[unit],
    )
    assert client.launch_permissions(ami(1)) == core_images.LaunchPermissions(
        True, ("333333333333", "444444444444"), (org,), (unit,)
    )
    assert client.launch_permissions(ami(2)) == core_images.LaunchPermissions()
    ctl.share_image(ami(1), public=False, user_ids=[], organization_arns=[])
    assert client.launch_permissions(ami(1)) == core_images.LaunchPermissions(units=(unit,))


def test_references_of_every_type_across_batches(
    ctl: Ec2SimControl, client: images.ImageClient
) -> None:
    amis = [ami(n) for n in range(12)]
    ctl.register_amis(amis)
    instance = ctl.add_instance(ami(0), state="stopped")
    # ami(1) is version 1 of 12: only a version-depth past AWS's default 10 finds it.
    deep = ctl.add_launch_template([ami(1), *[ami(2)] * 11])
    ctl.add_ssm_parameter("/golden/ami", ami(3))
    ctl.add_recipe("base", ami(10), version="2.1.0")
    ctl.add_recipe("runtime", ami(11), container=True)
    ctl.deregister_amis([ami(4)])  # gone: its batch is asked again without it
    arn = f"arn:aws:{{}}:eu-west-1:{OWN}:"
    found = {(r.image_id, r.resource_type, r.arn) for r in client.references(amis)}
    assert found == {
        (ami(0), "ec2:Instance", arn.format("ec2") + f"instance/{instance}"),
        (ami(1), "ec2:LaunchTemplate", arn.format("ec2") + f"launch-template/{deep}"),
        (ami(2), "ec2:LaunchTemplate", arn.format("ec2") + f"launch-template/{deep}"),
        (ami(3), "ssm:Parameter", arn.format("ssm") + "parameter/golden/ami"),
        (
            ami(10),
            "imagebuilder:ImageRecipe",
            arn.format("imagebuilder") + "image-recipe/base/2.1.0",
        ),
        (
            ami(11),
            "imagebuilder:ContainerRecipe",
            arn.format("imagebuilder") + "container-recipe/runtime/1.0.0",
        ),
    }
    calls = [c["params"]["ImageIds"] for c in ctl.calls("DescribeImageReferences")]
    assert len(calls[0]) == 10
    assert all(len(ids) <= core_images.REFERENCES_PER_CALL for ids in calls)
    assert {i for ids in calls for i in ids} == set(amis)
    assert client.references([ami(5)]) == []


def test_snapshots_are_what_the_simulator_holds(
    ctl: Ec2SimControl, client: images.ImageClient
) -> None:
    ctl.register_amis([ami(1)])
    ctl.set_snapshots(ami(1), [8, 500])
    ctl.for_account(OTHER).register_amis([ami(9)])
    theirs = ctl.for_account(OTHER).image(ami(9))["snapshots"][0]["snapshot_id"]
    held = {s["snapshot_id"]: s["size_gib"] for s in ctl.image(ami(1))["snapshots"]}
    unknown = "snap-0fffffffffffffff0"
    found = client.snapshots([*held, theirs, unknown])
    assert found == {s: core_images.Snapshot(s, gib * GIB) for s, gib in held.items()}
    assert sorted(s.size_bytes for s in found.values()) == [8 * GIB, 500 * GIB]


def test_deregister_deletes_the_snapshots_and_reports_each(
    ctl: Ec2SimControl, client: images.ImageClient
) -> None:
    ctl.register_amis([ami(1), ami(2)])
    [shared] = held_image(ctl, ami(2)).snapshot_ids
    ctl.set_snapshots(ami(1), [{"snapshot_id": shared, "size_gib": 8}, 16, 4])
    _, mine, faulty = held_image(ctl, ami(1)).snapshot_ids
    ctl.set_snapshot_delete_result(faulty, "missing-permissions")
    done = client.deregister(ami(1), True)
    assert done == core_images.Deregistered(
        True, ((shared, "skipped"), (mine, "success"), (faulty, "missing-permissions"))
    )
    assert done.deleted() == (mine,)
    assert sorted(client.snapshots([shared, mine, faulty])) == sorted([shared, faulty])
    assert sorted(s["snapshot_id"] for s in ctl.snapshots()) == sorted([shared, faulty])
    assert ctl.image(ami(1))["state"] == "deregistered"
    assert client.images([ami(1)]) == {}
    kept = client.deregister(ami(2), False)
    assert kept == core_images.Deregistered(True)
    assert shared in client.snapshots([shared])
    with pytest.raises(errors.AwsError) as caught:
        client.deregister(ami(2), True)
    assert caught.value.reason == model.PollErrorReason.INVALID_IMAGE_ID


def test_protection_refuses_and_a_lost_answer_is_not_asked_again(
    ctl: Ec2SimControl, client: images.ImageClient
) -> None:
    ctl.register_amis([ami(1)])
    ctl.set_protection(ami(1), "enabled")
    with pytest.raises(errors.AwsError) as caught:
        client.deregister(ami(1), True)
    assert caught.value.code == "OperationNotPermitted"
    ctl.set_protection(ami(1), "disabled")
    ctl.inject_fault("InternalError", action="DeregisterImage", count=1)
    with pytest.raises(errors.AwsError) as caught:
        client.deregister(ami(1), True)
    assert caught.value.reason == model.PollErrorReason.AWS_UNAVAILABLE
    assert [c["status"] for c in ctl.calls("DeregisterImage")] == [400, 500]
    assert client.images([ami(1)])[ami(1)].state == "available"
    assert client.deregister(ami(1), True).returned
