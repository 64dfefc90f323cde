"""Held calls: in flight until released, then answered from the state at release time."""

from __future__ import annotations

import concurrent.futures
import time
import urllib.error
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError

from tests.sandbox import httpjson
from tests.sandbox.ec2sim.control import Ec2SimControl
from tests.sandbox.ec2sim.runner import ThreadedEc2Sim

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

DESCRIBE = "DescribeStoreImageTasks"
AMI = "ami-0123456789abcdef0"


@pytest.fixture(scope="module")
def sim() -> Iterator[ThreadedEc2Sim]:
    with ThreadedEc2Sim() as running:
        yield running


@pytest.fixture
def ctl(sim: ThreadedEc2Sim) -> Iterator[Ec2SimControl]:
    control = Ec2SimControl(sim.url)
    control.reset()
    yield control
    control.reset()  # never leave a call held


def wait_until(probe: Callable[[], bool], what: str) -> None:
    """Until ``probe`` holds, for at most ten seconds."""
    deadline = time.monotonic() + 10
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def states(ec2: EC2Client) -> list[str]:
    answer = ec2.describe_store_image_tasks(ImageIds=[AMI])
    return [t["StoreTaskState"] for t in answer["StoreImageTaskResults"]]


def test_a_held_call_waits_until_released_and_sees_the_state_then(
    ctl: Ec2SimControl, ec2: EC2Client
) -> None:
    ctl.create_task(AMI, "bucket", progress=10)
    ctl.hold(DESCRIBE)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer = pool.submit(states, ec2)
        wait_until(lambda: ctl.held() == {DESCRIBE: 1}, "a held call")
        assert not answer.done()
        assert ctl.calls(DESCRIBE) == []  # logged when answered, not before
        ctl.update_task(AMI, state="Completed")
        assert ctl.release(DESCRIBE) == 1
        assert answer.result(timeout=10) == ["Completed"]
    assert ctl.held() == {}
    assert len(ctl.calls(DESCRIBE)) == 1
    # Released means no longer held: the next call is answered at once.
    assert states(ec2) == ["Completed"]


def test_other_actions_are_not_held(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.create_task(AMI, "bucket", progress=10)
    ctl.hold("CreateStoreImageTask")
    assert states(ec2) == ["InProgress"]
    assert ctl.release() == 0


def test_reset_releases_held_calls(ctl: Ec2SimControl, ec2: EC2Client) -> None:
    ctl.register_amis([AMI])
    ctl.hold(DESCRIBE)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer = pool.submit(states, ec2)
        wait_until(lambda: ctl.held() == {DESCRIBE: 1}, "a held call")
        ctl.reset()
        # Answered from the fresh simulator, which no longer knows the AMI.
        with pytest.raises(ClientError) as refused:
            answer.result(timeout=10)
        assert refused.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"


def test_hold_needs_an_action(ctl: Ec2SimControl) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        httpjson.call(f"{ctl.url}/_sim/hold", "POST", {})
    assert refused.value.code == 400
    assert "hold needs an action name" in refused.value.read().decode()
