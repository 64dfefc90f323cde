"""Identities: the operator's own account, and assumed-role sessions refreshed by botocore.

Run against the EC2 simulator's STS in this process, with real boto3.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from amistore_operator.aws import credentials, ec2, errors
from amistore_operator.core import accounts, model

from tests.sandbox.ec2sim import sts
from tests.sandbox.ec2sim.control import Ec2SimControl
from tests.sandbox.ec2sim.runner import ThreadedEc2Sim

A, B = "111111111111", "222222222222"
ROLE_A = f"arn:aws:iam::{A}:role/amistore-operator"
ROLE_B = f"arn:aws:iam::{B}:role/amistore-operator"
AMI = "ami-0000000a"
MAP = accounts.parse(
    {
        "accounts": {
            A: {"roleArn": ROLE_A, "namespaces": ["*"]},
            B: {"roleArn": ROLE_B, "externalId": "secret-42", "namespaces": ["*"]},
        }
    }
)


@pytest.fixture(scope="module")
def sim() -> Iterator[ThreadedEc2Sim]:
    with ThreadedEc2Sim(throttle=False) as running:
        yield running


@pytest.fixture
def ctl(sim: ThreadedEc2Sim, monkeypatch: pytest.MonkeyPatch) -> Ec2SimControl:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "AKIASANDBOXEXAMPLE00",
        "AWS_SECRET_ACCESS_KEY": "sandbox-secret-not-real",
        "AWS_ENDPOINT_URL_EC2": sim.url,
        "AWS_ENDPOINT_URL_STS": sim.url,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    control = Ec2SimControl(sim.url)
    control.reset()
    control.put_role(ROLE_A)
    control.put_role(ROLE_B, external_id="secret-42")
    for account, bucket in ((A, "bucket-a"), (B, "bucket-b"), ("", "bucket-own")):
        control.for_account(account).create_task(AMI, bucket, progress=10)
    return control


def identities() -> credentials.Identities:
    return credentials.Identities(account_map=lambda: MAP, sts_region="eu-west-1")


def buckets(client: ec2.StoreTaskClient) -> list[str | None]:
    return [task.bucket for task in client.describe_ids([AMI])]


def test_the_operators_own_account(ctl: Ec2SimControl) -> None:
    ids = identities()
    assert ids.resolve_own_account() == sts.DEFAULT_ACCOUNT
    assert ids.own_account == sts.DEFAULT_ACCOUNT
    assert buckets(ids.ec2_client("", "eu-west-1")) == ["bucket-own"]
    assert ctl.calls("AssumeRole") == []


def test_a_failed_caller_identity_leaves_it_blank(
    ctl: Ec2SimControl, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")  # nothing listens
    assert identities().resolve_own_account() == ""
    assert any("own AWS account" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records)


def test_the_own_account_is_asked_again_until_sts_answers(
    sim: ThreadedEc2Sim,
    ctl: Ec2SimControl,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """STS unreachable at start: asked again after 1 s, 2 s, 4 s, ..., never given up."""
    caplog.set_level(logging.INFO, logger="amistore_operator")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")  # nothing listens
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:  # STS is back
            monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sim.url)

    ids = identities()
    found = ids.resolve_own_account_until_known(first_wait=1, max_wait=2, sleep=sleep)
    assert found == ids.own_account == sts.DEFAULT_ACCOUNT
    assert waits == [1, 2, 2]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("trying again in" in m for m in messages) == 3
    assert f"The operator's own AWS account is {sts.DEFAULT_ACCOUNT}" in messages
    assert len(ctl.calls("GetCallerIdentity")) == 1


class Calls:
    """An Ec2CallObserver that keeps the account label of each attempt."""

    def __init__(self) -> None:
        self.accounts: list[str] = []

    def observe_ec2_call(
        self, region: str, operation: str, outcome: str, seconds: float, account: str = ""
    ) -> None:
        self.accounts.append(account)


def test_a_client_made_before_sts_named_the_account_labels_its_calls_with_it(
    ctl: Ec2SimControl,
) -> None:
    ids = identities()
    calls = Calls()
    client = ids.ec2_client("", "eu-west-1", metrics=calls)  # a first poll before STS answered
    assert buckets(client) == ["bucket-own"]
    ids.resolve_own_account()
    assert buckets(client) == ["bucket-own"]
    assert calls.accounts == ["", sts.DEFAULT_ACCOUNT]


def test_each_account_assumes_its_role_once_for_all_its_regions(ctl: Ec2SimControl) -> None:
    ids = identities()
    assert buckets(ids.ec2_client(A, "eu-west-1")) == ["bucket-a"]
    assert buckets(ids.ec2_client(A, "us-east-1")) == ["bucket-a"]  # the same session
    assert buckets(ids.ec2_client(B, "eu-west-1")) == ["bucket-b"]
    assumed = [c["params"] for c in ctl.calls("AssumeRole")]
    assert assumed == [
        {"RoleArn": ROLE_A, "RoleSessionName": "amistore-operator"},
        {"RoleArn": ROLE_B, "RoleSessionName": "amistore-operator", "ExternalId": "secret-42"},
    ]
    assert ids.session(A) is ids.session(A)
    assert ids.session(A) is not ids.session(B)


def test_a_refused_role_fails_with_awss_message_then_recovers(
    ctl: Ec2SimControl, caplog: pytest.LogCaptureFixture
) -> None:
    ctl.put_role(ROLE_A, refuse="Not authorized to assume the role")
    client = identities().ec2_client(A, "eu-west-1")
    with pytest.raises(errors.AwsError) as caught:
        client.describe_ids([AMI])
    assert caught.value.reason is model.PollErrorReason.ASSUME_ROLE_FAILED
    assert caught.value.code == "AccessDenied"
    assert caught.value.message == (
        f"AssumeRole {ROLE_A} failed: Not authorized to assume the role"
    )
    assert not any(r.exc_info for r in caplog.records), "botocore's refresh traceback"
    ctl.put_role(ROLE_A)
    assert buckets(client) == ["bucket-a"]  # the next call assumes the role again


def test_sessions_are_refreshed_before_they_expire(
    ctl: Ec2SimControl, caplog: pytest.LogCaptureFixture
) -> None:
    # botocore refreshes 15 minutes (900 s) ahead: a 902-second session every ~2 seconds.
    ctl.sts(session_seconds=902)
    client = identities().ec2_client(A, "eu-west-1")
    started = time.monotonic()
    calls = 0
    while time.monotonic() - started < 6.5:
        assert buckets(client) == ["bucket-a"]  # never an expired key
        calls += 1
        time.sleep(0.1)
    assumed = len(ctl.calls("AssumeRole"))
    assert calls > 40
    assert 3 <= assumed <= 5, "one AssumeRole per refresh, not one per call"
    described = ctl.calls("DescribeStoreImageTasks")
    assert all(c["status"] == 200 for c in described)
    assert not any(r.levelno >= logging.WARNING for r in caplog.records)


def test_an_account_that_left_the_map_is_not_assumed(ctl: Ec2SimControl) -> None:
    current = [MAP]
    ids = credentials.Identities(account_map=lambda: current[0], sts_region="eu-west-1")
    client = ids.ec2_client(A, "eu-west-1")
    current[0] = accounts.NO_MAP
    with pytest.raises(errors.AwsError) as caught:
        client.describe_ids([AMI])
    assert caught.value.reason is model.PollErrorReason.ACCOUNT_NOT_ALLOWED
    assert ctl.calls("AssumeRole") == []


def test_roles_are_assumed_through_the_regional_sts_endpoint(
    ctl: Ec2SimControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_STS")
    ids = credentials.Identities(account_map=lambda: MAP, sts_region="eu-central-1")
    fetcher: Any = ids._fetcher(MAP.accounts[A])  # the fetcher botocore refreshes through
    client = fetcher._create_client()
    assert client.meta.endpoint_url == "https://sts.eu-central-1.amazonaws.com"


def test_a_reloaded_role_or_external_id_is_assumed_at_the_next_call(ctl: Ec2SimControl) -> None:
    """A's role and B's external ID change; C is unchanged and keeps its session."""
    c, role_a2 = "333333333333", f"arn:aws:iam::{A}:role/amistore-operator-v2"
    role_c = "arn:aws:iam::333333333333:role/amistore-operator"
    ctl.put_role(role_a2, external_id="secret-a2")
    ctl.put_role(role_c)
    ctl.for_account(c).create_task(AMI, "bucket-c", progress=10)

    def account_map(a: dict[str, str], b_id: str) -> accounts.AccountMap:
        every = {"namespaces": ["*"]}
        entries = {
            A: {**a, **every},
            B: {"roleArn": ROLE_B, "externalId": b_id, **every},
            c: {"roleArn": role_c, **every},
        }
        return accounts.parse({"accounts": entries})

    current = [account_map({"roleArn": ROLE_A}, "secret-42")]
    ids = credentials.Identities(account_map=lambda: current[0], sts_region="eu-west-1")
    clients = {account: ids.ec2_client(account, "eu-west-1") for account in (A, B, c)}
    for client in clients.values():
        client.describe_ids([AMI])
    before = len(ctl.calls("AssumeRole"))

    ctl.put_role(ROLE_B, external_id="secret-43")  # B's trust policy now wants another ID
    # The map is reloaded: A names another role, B the new external ID, C is unchanged.
    current[0] = account_map({"roleArn": role_a2, "externalId": "secret-a2"}, "secret-43")
    assert [buckets(client) for client in clients.values()] == [
        ["bucket-a"],
        ["bucket-b"],
        ["bucket-c"],
    ]
    assumed = [call["params"] for call in ctl.calls("AssumeRole")[before:]]
    assert assumed == [
        {"RoleArn": role_a2, "RoleSessionName": "amistore-operator", "ExternalId": "secret-a2"},
        {"RoleArn": ROLE_B, "RoleSessionName": "amistore-operator", "ExternalId": "secret-43"},
    ], "A and B assume their new roles at their next call; C keeps its session"
    for client in clients.values():  # then each account's new session signs on
        client.describe_ids([AMI])
    assert len(ctl.calls("AssumeRole")) == before + 2


def test_an_account_removed_from_the_map_signs_no_further_call(ctl: Ec2SimControl) -> None:
    current = [MAP]
    ids = credentials.Identities(account_map=lambda: current[0], sts_region="eu-west-1")
    client = ids.ec2_client(A, "eu-west-1")
    assert buckets(client) == ["bucket-a"]
    current[0] = accounts.parse({"accounts": {B: {"roleArn": ROLE_B, "namespaces": ["*"]}}})
    described = len(ctl.calls("DescribeStoreImageTasks"))
    with pytest.raises(errors.AwsError) as caught:
        client.describe_ids([AMI])
    assert caught.value.reason is model.PollErrorReason.ACCOUNT_NOT_ALLOWED
    assert len(ctl.calls("DescribeStoreImageTasks")) == described, "signed by the old role"
