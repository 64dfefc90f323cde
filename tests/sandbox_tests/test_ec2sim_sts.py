"""STS AssumeRole and GetCallerIdentity, and accounts, through real boto3 against the simulator."""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.sandbox.ec2sim import sts
from tests.sandbox.ec2sim.control import Ec2SimControl
from tests.sandbox.ec2sim.runner import ThreadedEc2Sim, session_client

A, B = "111111111111", "222222222222"
ROLE_A = f"arn:aws:iam::{A}:role/amistore-operator"
ROLE_B = f"arn:aws:iam::{B}:role/teams/amistore"
AMI = "ami-0000000a"


@pytest.fixture
def ctl(ctl: Ec2SimControl) -> Ec2SimControl:
    ctl.put_role(ROLE_A)
    ctl.put_role(ROLE_B, external_id="secret-42")
    return ctl


def _config() -> Config:
    return Config(retries={"mode": "standard", "total_max_attempts": 1})


def _base(sim: ThreadedEc2Sim, service: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name="eu-west-1",
        endpoint_url=sim.url,
        aws_access_key_id="AKIASANDBOXEXAMPLE00",
        aws_secret_access_key="sandbox-secret-not-real",
        config=_config(),
    )


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = exc.value.response["Error"]
    return err["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"], err["Message"]


def test_caller_identity_of_the_operators_own_keys(sim: ThreadedEc2Sim, ctl: Ec2SimControl) -> None:
    identity = _base(sim, "sts").get_caller_identity()
    assert identity["Account"] == sts.DEFAULT_ACCOUNT
    assert identity["Arn"].startswith(f"arn:aws:iam::{sts.DEFAULT_ACCOUNT}:")


def test_assume_role_gives_the_accounts_session(sim: ThreadedEc2Sim, ctl: Ec2SimControl) -> None:
    before = time.time()
    answer = _base(sim, "sts").assume_role(RoleArn=ROLE_A, RoleSessionName="amistore-operator")
    credentials = answer["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    lasts = credentials["Expiration"].timestamp() - before
    assert sts.DEFAULT_SESSION_SECONDS - 2 <= lasts <= sts.DEFAULT_SESSION_SECONDS + 1
    assert answer["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{A}:assumed-role/amistore-operator/amistore-operator"
    )
    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    sts_client: Any = session.client("sts", region_name="eu-west-1", endpoint_url=sim.url)
    assert sts_client.get_caller_identity()["Account"] == A
    calls = ctl.calls("AssumeRole")
    assert [(c["params"]["RoleArn"], c["account"]) for c in calls] == [
        (ROLE_A, sts.DEFAULT_ACCOUNT)
    ]


def test_each_account_has_its_own_tasks(sim: ThreadedEc2Sim, ctl: Ec2SimControl) -> None:
    ctl.for_account(A).create_task(AMI, "bucket-a", progress=40)
    ctl.create_task(AMI, "bucket-own", progress=70)
    credentials = _base(sim, "sts").assume_role(RoleArn=ROLE_A, RoleSessionName="test")
    in_a = session_client(sim.url, credentials["Credentials"]).describe_store_image_tasks(
        ImageIds=[AMI]
    )
    own = _base(sim, "ec2").describe_store_image_tasks(ImageIds=[AMI])
    assert [t["Bucket"] for t in in_a["StoreImageTaskResults"]] == ["bucket-a"]
    assert [t["Bucket"] for t in own["StoreImageTaskResults"]] == ["bucket-own"]
    assert {c["account"] for c in ctl.calls("DescribeStoreImageTasks")} == {
        A,
        sts.DEFAULT_ACCOUNT,
    }


def test_each_account_has_its_own_throttle_buckets(sim: ThreadedEc2Sim, ctl: Ec2SimControl) -> None:
    ctl.set_throttle(enabled=True)
    ctl.for_account(A).set_throttle("DescribeStoreImageTasks", burst=1, rate=0, enabled=True)
    ctl.for_account(A).create_task(AMI, "bucket-a", progress=40)
    ctl.create_task(AMI, "bucket-own", progress=70)
    credentials = _base(sim, "sts").assume_role(RoleArn=ROLE_A, RoleSessionName="test")
    in_a = session_client(sim.url, credentials["Credentials"])
    in_a.describe_store_image_tasks(ImageIds=[AMI])
    with pytest.raises(ClientError) as caught:
        in_a.describe_store_image_tasks(ImageIds=[AMI])
    assert _error(caught)[0] == "RequestLimitExceeded"
    own = _base(sim, "ec2")
    for _ in range(3):  # the default account's bucket is AWS's, untouched by A's
        own.describe_store_image_tasks(ImageIds=[AMI])


def test_external_id_is_checked(sim: ThreadedEc2Sim, ctl: Ec2SimControl) -> None:
    client = _base(sim, "sts")
    for extra in ({}, {"ExternalId": "wrong-id"}):
        with pytest.raises(ClientError) as caught:
            client.assume_role(RoleArn=ROLE_B, RoleSessionName="amistore-operator", **extra)
        code, status, message = _error(caught)
        assert (code, status) == ("AccessDenied", 403)
        assert message.endswith(
            f"is not authorized to perform: sts:AssumeRole on resource: {ROLE_B}"
        )
    answer = client.assume_role(
        RoleArn=ROLE_B, RoleSessionName="amistore-operator", ExternalId="secret-42"
    )
    assert answer["Credentials"]["AccessKeyId"]


def test_unknown_and_refused_roles(sim: ThreadedEc2Sim, ctl: Ec2SimControl) -> None:
    client = _base(sim, "sts")
    with pytest.raises(ClientError) as caught:
        client.assume_role(RoleArn=f"arn:aws:iam::{A}:role/nobody", RoleSessionName="x1")
    assert _error(caught)[:2] == ("AccessDenied", 403)
    ctl.put_role(ROLE_A, refuse="the role's trust policy was edited")
    with pytest.raises(ClientError) as caught:
        client.assume_role(RoleArn=ROLE_A, RoleSessionName="x1")
    assert _error(caught) == ("AccessDenied", 403, "the role's trust policy was edited")
    ctl.put_role(ROLE_A)
    assert client.assume_role(RoleArn=ROLE_A, RoleSessionName="x1")["Credentials"]


def test_bad_parameters_are_validation_errors(sim: ThreadedEc2Sim, ctl: Ec2SimControl) -> None:
    client = _base(sim, "sts")
    with pytest.raises(ClientError) as caught:
        client.assume_role(RoleArn=ROLE_A, RoleSessionName="has space")
    assert _error(caught)[:2] == ("ValidationError", 400)


def test_an_expired_session_key_is_refused(sim: ThreadedEc2Sim, ctl: Ec2SimControl) -> None:
    ctl.sts(session_seconds=1)
    ctl.for_account(A).create_task(AMI, "bucket-a", progress=40)
    credentials = _base(sim, "sts").assume_role(RoleArn=ROLE_A, RoleSessionName="short")
    client = session_client(sim.url, credentials["Credentials"])
    client.describe_store_image_tasks(ImageIds=[AMI])
    deadline = time.monotonic() + 5
    while ctl.sts()["sessions"][0]["expired"] is False and time.monotonic() < deadline:
        time.sleep(0.1)  # the wall clock has to pass the expiry: poll it, bounded
    with pytest.raises(ClientError) as caught:
        client.describe_store_image_tasks(ImageIds=[AMI])
    assert _error(caught) == ("ExpiredToken", 400, sts.EXPIRED_MESSAGE)
    assert ctl.calls("DescribeStoreImageTasks")[-1]["error_code"] == "ExpiredToken"


def test_a_held_get_caller_identity_waits_until_released(
    sim: ThreadedEc2Sim, ctl: Ec2SimControl
) -> None:
    """A slow STS at an operator's start: GetCallerIdentity in flight until released."""
    ctl.hold("GetCallerIdentity")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer = pool.submit(_base(sim, "sts").get_caller_identity)
        deadline = time.monotonic() + 10
        while ctl.held() != {"GetCallerIdentity": 1}:
            assert time.monotonic() < deadline, "the call was never held"
            time.sleep(0.05)
        assert not answer.done()
        assert ctl.release("GetCallerIdentity") == 1
        assert answer.result(timeout=10)["Account"] == sts.DEFAULT_ACCOUNT
    assert ctl.held() == {}
