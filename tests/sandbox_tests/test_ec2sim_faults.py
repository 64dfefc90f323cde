"""Injected faults, authentication and throttling, as botocore sees them."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from tests.sandbox.ec2sim.control import ControlError, Ec2SimControl
from tests.sandbox.ec2sim.runner import ThreadedEc2Sim, boto3_client

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

DESCRIBE = "DescribeStoreImageTasks"
CREATE = "CreateStoreImageTask"


@pytest.fixture(scope="module")
def sim() -> Iterator[ThreadedEc2Sim]:
    with ThreadedEc2Sim() as running:
        yield running


@pytest.fixture
def ctl(sim: ThreadedEc2Sim) -> Ec2SimControl:
    control = Ec2SimControl(sim.url)
    control.reset()
    return control


def failure(call: object) -> tuple[str, int]:
    with pytest.raises(ClientError) as exc:
        call()  # type: ignore[operator]
    return (
        exc.value.response["Error"]["Code"],
        exc.value.response["ResponseMetadata"]["HTTPStatusCode"],
    )


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("InternalError", 500),
        ("Unavailable", 503),
        ("UnauthorizedOperation", 403),
        ("RequestExpired", 400),
        ("AuthFailure", 401),
        ("RequestLimitExceeded", 503),
    ],
)
def test_injected_error_arrives_as_client_error(
    ctl: Ec2SimControl, ec2: EC2Client, kind: str, status: int
) -> None:
    ctl.inject_fault(kind, action=DESCRIBE, count=1)
    assert failure(ec2.describe_store_image_tasks) == (kind, status)
    assert ec2.describe_store_image_tasks()["StoreImageTaskResults"] == []
    assert [(c["status"], c["error_code"]) for c in ctl.calls()] == [(status, kind), (200, None)]


def test_unauthorized_message_carries_an_encoded_part(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.inject_fault("UnauthorizedOperation")
    with pytest.raises(ClientError) as exc:
        ec2.describe_store_image_tasks()
    assert "Encoded authorization failure message: " in exc.value.response["Error"]["Message"]


def test_fault_scope_count_and_clear(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.register_amis(["ami-12345678"])
    ctl.inject_fault("InternalError", action=CREATE)
    ctl.inject_fault("Unavailable", count=2)
    assert failure(ec2.describe_store_image_tasks) == ("Unavailable", 503)
    assert failure(lambda: ec2.create_store_image_task(ImageId="ami-12345678", Bucket="b")) == (
        "InternalError",
        500,
    )
    assert failure(ec2.describe_store_image_tasks) == ("Unavailable", 503)
    ec2.describe_store_image_tasks()  # the count is spent
    assert [f["kind"] for f in ctl.faults()] == ["InternalError"]
    assert ctl.clear_faults(action=CREATE) == 1
    assert ec2.create_store_image_task(ImageId="ami-12345678", Bucket="b")["ObjectKey"]
    with pytest.raises(ControlError):
        ctl.inject_fault("Gremlins")


def test_dropped_connection_is_a_connection_error(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.inject_fault("drop", action=DESCRIBE, count=1)
    with pytest.raises(ConnectionClosedError):
        ec2.describe_store_image_tasks()
    assert ec2.describe_store_image_tasks()["StoreImageTaskResults"] == []
    assert [c["error_code"] for c in ctl.calls()] == ["ConnectionDropped", None]


def test_standard_retries_recover_from_a_dropped_connection(
    sim: ThreadedEc2Sim, ctl: Ec2SimControl
) -> None:
    ctl.inject_fault("drop", count=1)
    retrying = boto3_client(sim.url, total_max_attempts=3)
    response = retrying.describe_store_image_tasks()
    assert response["ResponseMetadata"]["RetryAttempts"] == 1


def test_delay_slows_the_answer(sim: ThreadedEc2Sim, ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.inject_fault("delay", count=1, delay_seconds=0.3)
    started = time.monotonic()
    ec2.describe_store_image_tasks()
    assert time.monotonic() - started >= 0.3
    ctl.inject_fault("delay", count=1, delay_seconds=1)
    impatient = boto3_client(sim.url, read_timeout=0.2)
    with pytest.raises(ReadTimeoutError):
        impatient.describe_store_image_tasks()


def _post(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    form = {"Action": DESCRIBE, "Version": "2016-11-15", "ImageId.1": "ami-12345678"}
    request = urllib.request.Request(
        url + "/", data=urllib.parse.urlencode(form).encode(), headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_unsigned_request_gets_auth_failure(sim: ThreadedEc2Sim, ctl: Ec2SimControl) -> None:
    status, body = _post(sim.url, {})
    assert status == 401
    assert b"<Code>AuthFailure</Code>" in body
    assert b"<RequestID>" in body
    status, _ = _post(sim.url, {"Authorization": "Bearer abc"})
    assert status == 401
    assert [c["error_code"] for c in ctl.calls()] == ["AuthFailure", "AuthFailure"]


def test_call_log_keeps_no_credentials(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ec2.describe_store_image_tasks(Filters=[{"Name": "bucket", "Values": ["b"]}], MaxResults=7)
    (call,) = ctl.calls()
    assert call["params"] == {"Filters": [{"Name": "bucket", "Values": ["b"]}], "MaxResults": 7}
    assert (call["action"], call["status"], call["error_code"]) == (DESCRIBE, 200, None)
    text = repr(ctl.calls()) + repr(ctl.state())
    assert "AKIA" not in text
    assert "sandbox-secret" not in text
    assert "AWS4-HMAC-SHA256" not in text
    assert ctl.clear_calls() == 1
    assert ctl.calls() == []


def test_aws_published_limits_by_default(ctl: Ec2SimControl) -> None:
    limits = ctl.throttle()
    assert limits["enabled"]
    assert {a: (v["burst"], v["rate"]) for a, v in limits["actions"].items()} == {
        DESCRIBE: (50, 0.5),
        CREATE: (50, 0.1),
    }


def test_burst_then_request_limit_exceeded(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.set_throttle(DESCRIBE, burst=3, rate=0.001)
    for _ in range(3):
        ec2.describe_store_image_tasks()
    assert failure(ec2.describe_store_image_tasks) == ("RequestLimitExceeded", 503)
    ctl.register_amis(["ami-12345678"])
    ec2.create_store_image_task(ImageId="ami-12345678", Bucket="b")  # its own bucket
    ctl.set_throttle(enabled=False)
    ec2.describe_store_image_tasks()


def test_buckets_refill_in_real_time_not_simulated_time(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.set_throttle(DESCRIBE, burst=1, rate=0.001)
    ec2.describe_store_image_tasks()
    ctl.advance(86_400)
    assert failure(ec2.describe_store_image_tasks) == ("RequestLimitExceeded", 503)


def test_standard_retries_wait_for_the_refill(sim: ThreadedEc2Sim, ctl: Ec2SimControl) -> None:
    ctl.set_throttle(DESCRIBE, burst=1, rate=5)  # one token back every 0.2 s
    retrying = boto3_client(sim.url, total_max_attempts=10)
    retrying.describe_store_image_tasks()
    response = retrying.describe_store_image_tasks()
    assert response["ResponseMetadata"]["RetryAttempts"] >= 1
    outcomes = [c["error_code"] for c in ctl.calls()]
    assert outcomes[0] is None
    assert outcomes[-1] is None
    assert set(outcomes[1:-1]) == {"RequestLimitExceeded"}
    assert len(outcomes) == 2 + response["ResponseMetadata"]["RetryAttempts"]
