"""Fixtures shared by the simulator's self-tests: one unthrottled simulator per module.

A module that needs the real throttle (faults, hold) defines its own ``sim``
(``ec2`` then talks to that one); one that needs more set-up per test overrides
``ctl`` and asks for this one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.sandbox.ec2sim.control import Ec2SimControl
from tests.sandbox.ec2sim.runner import ThreadedEc2Sim, boto3_client

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


@pytest.fixture(scope="module")
def sim() -> Iterator[ThreadedEc2Sim]:
    with ThreadedEc2Sim(throttle=False) as running:
        yield running


@pytest.fixture
def ctl(sim: ThreadedEc2Sim) -> Ec2SimControl:
    """The simulator reset to a fresh state, unthrottled."""
    control = Ec2SimControl(sim.url)
    control.reset()
    control.set_throttle(enabled=False)
    return control


@pytest.fixture(scope="module")
def ec2(sim: ThreadedEc2Sim) -> EC2Client:
    return boto3_client(sim.url)
