"""Sixty single-AMI AmiStores share a few DescribeStoreImageTasks calls per interval.

The acceptance measure of the shared poller: under the simulator's real AWS
throttle, 60 resources (20 in progress, 40 completed) cost at most 3 calls per
poll interval (one call per resource would be 60), no call is throttled, and
resources whose tasks did not change are never written.
"""

from __future__ import annotations

import json
import math

import pytest

from tests.e2e import harness
from tests.e2e.conftest import OperatorFactory
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e

INTERVAL = 6  # seconds: 3 tokens of AWS's 0.5/s refill per interval
IN_PROGRESS = 20
COMPLETED = 40
MEASURED_INTERVALS = 4


def ami(number: int) -> str:
    """A well-formed 17-digit AMI ID."""
    return f"ami-{number:017x}"


def test_sixty_resources_share_calls_and_unchanged_ones_are_not_written(
    ec2: control.Ec2SimControl,
    kubectl: harness.Kubectl,
    start_operator: OperatorFactory,
    api_requests: harness.ApiRequests,
) -> None:
    busy = [ami(0x1000 + i) for i in range(IN_PROGRESS)]
    done = [ami(0x2000 + i) for i in range(COMPLETED)]
    ec2.create_tasks(
        [{"ami_id": a, "bucket": "acme", "duration_seconds": 3600} for a in busy]
        + [{"ami_id": a, "bucket": "acme", "progress": 100, "state": "Completed"} for a in done]
    )
    manifests = [
        harness.amistore(f"r{i:02d}", imageIds=[a], pollIntervalSeconds=INTERVAL)
        for i, a in enumerate(busy + done)
    ]
    start_operator()
    kubectl.apply("\n---\n".join(manifests))
    harness.wait_until(
        lambda: all(
            item.get("status", {}).get("state") in {"InProgress", "Completed"}
            for item in json.loads(kubectl.run("get", "amistores", "-o", "json").stdout)["items"]
        ),
        timeout=60,
        what="every resource to have a status",
    )
    # Let the start-up burst (every resource new at once) pass, then measure steady state.
    harness.wait_until(
        lambda: len(ec2.calls("DescribeStoreImageTasks")) >= 2, timeout=30, what="first polls"
    )
    ec2.clear_calls()
    api_requests.clear()
    start = ec2.clock()["now"]
    # Each in-progress task advances ~0.17% per 6 s interval; progress is an integer, so
    # make every interval visibly change them: nudge their progress each interval.
    for step in range(1, MEASURED_INTERVALS + 1):
        for number, task in enumerate(busy):
            ec2.update_task(task, progress=(10 + step + number) % 99)

        def reached(deadline: float = start + step * INTERVAL) -> bool:
            return bool(ec2.clock()["now"] >= deadline)

        harness.wait_until(reached, timeout=INTERVAL * 3, what=f"interval {step}")
    elapsed = ec2.clock()["now"] - start
    intervals = elapsed / INTERVAL

    calls = ec2.calls("DescribeStoreImageTasks")
    throttled = [c for c in calls if c["error_code"] == "RequestLimitExceeded"]
    writes = api_requests.status_writes()
    written = {r.name for r in writes}
    unchanged = {f"r{i:02d}" for i in range(IN_PROGRESS, IN_PROGRESS + COMPLETED)}

    print(
        f"\n{len(calls)} DescribeStoreImageTasks calls over {intervals:.1f} intervals "
        f"({len(calls) / intervals:.2f} per interval), {len(throttled)} throttled, "
        f"{len(writes)} status writes ({len(written & unchanged)} to unchanged resources)"
    )
    assert len(calls) <= math.ceil(3 * intervals)
    assert throttled == []
    assert written & unchanged == set()
    assert written, "the in-progress resources changed every interval and must have been written"
    # One write per changed resource per interval, no more.
    assert len(writes) <= IN_PROGRESS * math.ceil(intervals + 1)
