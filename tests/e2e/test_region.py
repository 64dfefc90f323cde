"""An AmiStore's region as real boto3 resolves it: no region routed to the EC2 simulator.

The sandbox sends every region to the simulator through ``AWS_ENDPOINT_URL_EC2``, so a
region that does not exist answers there as AWS's own endpoints would for a wrongly scoped
credential (``AuthFailure``, see ``test_faults_aws.py``). Without that variable boto3 sends
each region to its own endpoint, ``ec2.<region>.amazonaws.com``, which for a region AWS
does not have never resolves: that is what these tests show, and what a user sees.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from tests.e2e import faults_support as fs
from tests.e2e import harness
from tests.e2e.conftest import POLL_INTERVAL, OperatorFactory
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e

AMI = fs.ami(0xB001)
NOWHERE = "xx-nowhere-1"
# Variables that would route a call anywhere but the region's own endpoint.
ROUTING = (
    "AWS_ENDPOINT_URL_EC2",
    "AWS_ENDPOINT_URL",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)
# No shared config file: its `endpoint_url` or `services` settings would route calls too.
NO_CONFIG = {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
# A resolver that never answers can take 5 s a lookup, and botocore makes three attempts.
WAIT = 60.0
ATTEMPTS = 3  # botocore's attempts per call, the operator's setting


def connection_errors(operator: harness.OperatorProcess, region: str) -> float:
    """The operator's failed EC2 attempts in one region so far."""
    return sum(
        value
        for labels, value in fs.samples(operator.metrics(), "amistore_ec2_requests_total")
        if labels["region"] == region and labels["outcome"] == "connection_error"
    )


def assert_steady(
    kubectl: harness.Kubectl, operator: harness.OperatorProcess, name: str, region: str
) -> None:
    """While the operator keeps trying for three more cycles, nothing the user sees changes."""
    before = fs.synced(kubectl, name)
    events = fs.sync_events(kubectl, name)
    first = connection_errors(operator, region)
    started = time.monotonic()

    def three_more_cycles() -> bool:
        assert fs.synced(kubectl, name) == before
        assert fs.sync_events(kubectl, name) == events
        tried = connection_errors(operator, region) - first
        return tried >= 3 * ATTEMPTS and time.monotonic() - started >= 3 * POLL_INTERVAL

    harness.wait_until(three_more_cycles, timeout=3 * WAIT, what="three more failed cycles")


def unsynced(kubectl: harness.Kubectl, name: str, reason: str) -> dict[str, Any]:
    cond = fs.wait_synced(kubectl, name, "False", reason, timeout=WAIT)
    status = kubectl.status(name)
    assert status["state"] == "Unknown"  # never polled successfully: nothing invented
    assert fs.condition(status, "Complete")["status"] == "Unknown"
    assert fs.sync_events(kubectl, name) == ["SyncFailed"]
    [warning] = [e for e in kubectl.events(name) if e["reason"] == "SyncFailed"]
    assert warning["type"] == "Warning"
    assert warning["message"] == f"{reason}: {cond['message']}"
    return cond


def test_an_unknown_region_is_named_with_its_endpoint(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    operator = start_operator(env=NO_CONFIG, drop=ROUTING)
    kubectl.apply(harness.amistore("lost", imageIds=[AMI], region=NOWHERE))
    cond = unsynced(kubectl, "lost", "UnknownRegion")
    assert f"region '{NOWHERE}'" in cond["message"]
    assert f"https://ec2.{NOWHERE}.amazonaws.com" in cond["message"]
    assert_steady(kubectl, operator, "lost", NOWHERE)
    assert ec2.calls(fs.DESCRIBE) == []  # boto3 went to the region's own endpoint
    assert harness.log_problems(operator.logs()) == []


def test_an_unreachable_endpoint_is_named_and_no_region_is_blamed(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    endpoint = f"http://127.0.0.1:{harness.free_port()}"  # nothing listens there
    operator = start_operator(
        env={**NO_CONFIG, "AWS_ENDPOINT_URL_EC2": endpoint},
        drop=[name for name in ROUTING if name != "AWS_ENDPOINT_URL_EC2"],
    )
    kubectl.apply(harness.amistore("home", imageIds=[AMI]))
    kubectl.apply(harness.amistore("lost", imageIds=[AMI], region=NOWHERE))
    for name in ("home", "lost"):
        cond = unsynced(kubectl, name, "AwsUnavailable")
        assert endpoint in cond["message"]
        assert "region" not in cond["message"]
    assert_steady(kubectl, operator, "lost", NOWHERE)
    assert ec2.calls(fs.DESCRIBE) == []
    assert harness.log_problems(operator.logs()) == []
