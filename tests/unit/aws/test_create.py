"""CreateStoreImageTask: request shape, no retries, DryRun preflight, error mapping, budget."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from amistore_operator.aws import create, errors
from amistore_operator.core import model
from botocore.stub import Stubber

from tests.sandbox.ec2sim.control import Ec2SimControl
from tests.sandbox.ec2sim.runner import ThreadedEc2Sim
from tests.unit.aws import stubs

AMI = "ami-0123456789abcdef0"


@pytest.fixture
def stubbed(aws_env: None) -> Iterator[tuple[create.CreateClient, Stubber]]:
    with stubs.stubbed(create.make_client("eu-west-1")) as pair:
        yield pair


def test_a_create_is_never_retried(aws_env: None) -> None:
    config: Any = create.make_client("eu-west-1").client.meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}


def test_create_sends_image_bucket_and_tags(stubbed: tuple[create.CreateClient, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response(
        "create_store_image_task",
        {"ObjectKey": f"{AMI}.bin"},
        {
            "ImageId": AMI,
            "Bucket": "amis-prod",
            "S3ObjectTags": [{"Key": "team", "Value": "infra"}],
        },
    )
    assert client.create(AMI, "amis-prod", [("team", "infra")]) == f"{AMI}.bin"


def test_a_refusal_keeps_aws_code_and_message(
    stubbed: tuple[create.CreateClient, Stubber],
) -> None:
    client, stubber = stubbed
    stubber.add_client_error(
        "create_store_image_task", "InvalidParameter", "The bucket is in another region"
    )
    with pytest.raises(errors.AwsError) as caught:
        client.create(AMI, "amis-prod")
    assert caught.value.code == "InvalidParameter"
    assert caught.value.message == "The bucket is in another region"
    assert caught.value.reason == model.PollErrorReason.INVALID_REQUEST


def test_preflight_passes_on_dry_run_operation(
    stubbed: tuple[create.CreateClient, Stubber],
) -> None:
    client, stubber = stubbed
    stubber.add_client_error(
        "create_store_image_task",
        "DryRunOperation",
        "Request would have succeeded, but DryRun flag is set.",
        http_status_code=412,
        expected_params={"ImageId": AMI, "Bucket": "amis-prod", "DryRun": True},
    )
    client.preflight(AMI, "amis-prod")


def test_preflight_refused_is_access_denied(
    stubbed: tuple[create.CreateClient, Stubber],
) -> None:
    client, stubber = stubbed
    stubber.add_client_error(
        "create_store_image_task",
        "UnauthorizedOperation",
        "You are not authorized to perform this operation.",
        http_status_code=403,
    )
    with pytest.raises(errors.AwsError) as caught:
        client.preflight(AMI, "amis-prod")
    assert caught.value.reason == model.PollErrorReason.ACCESS_DENIED


def test_against_the_simulator_each_attempt_pays_and_creates_one_task(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ThreadedEc2Sim(throttle=False) as sim:
        monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", sim.url)
        ctl = Ec2SimControl(sim.url)
        ctl.reset()
        ctl.register_amis([AMI])
        paid: list[str] = []
        client = create.make_client("eu-west-1", on_attempt=lambda: paid.append("create"))
        client.preflight(AMI, "amis-prod")  # DryRun: allowed, nothing created
        assert ctl.tasks() == []
        assert client.create(AMI, "amis-prod", [("team", "infra")]) == f"{AMI}.bin"
        assert paid == ["create", "create"]
        assert [t["ami_id"] for t in ctl.tasks()] == [AMI]
        assert len(ctl.calls("CreateStoreImageTask")) == 2
