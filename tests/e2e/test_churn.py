"""Churn while polls run: 200 AmiStores created, edited and deleted; the region loop serves on.

Watch events change the poller's state (a deletion forgets a resource, an edit wakes it)
while the region's loop refreshes and serves views; both must happen on the event loop.
A watch handler run in kopf's thread pool changes those dicts mid-iteration, which can
end the region's loop: then no resource of the region is polled again.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.e2e import faults_support as fs
from tests.e2e import harness
from tests.e2e.conftest import POLL_INTERVAL, OperatorFactory
from tests.sandbox.ec2sim import control

pytestmark = pytest.mark.e2e

COUNT = 200
ROUNDS = 4
PER_ROUND = 25  # edits and deletions each, per round


def names(kubectl: harness.Kubectl) -> dict[str, dict[str, Any]]:
    """Every AmiStore of the namespace by name."""
    items = json.loads(kubectl.run("get", "amistores", "-o", "json").stdout)["items"]
    return {item["metadata"]["name"]: item for item in items}


def test_editing_and_deleting_200_resources_while_polling_leaves_the_loop_serving(
    ec2: control.Ec2SimControl, kubectl: harness.Kubectl, start_operator: OperatorFactory
) -> None:
    amis = ec2.bulk(COUNT, bucket=fs.BUCKET, duration_seconds=3600)["ami_ids"]
    spare = ec2.bulk(ROUNDS * PER_ROUND, bucket=fs.BUCKET, duration_seconds=3600)["ami_ids"]
    late = ec2.bulk(1, bucket=fs.BUCKET, duration_seconds=3600)["ami_ids"][0]
    # Enough EC2 budget that the interval is not stretched: the test is about the loop.
    ec2.set_throttle(fs.DESCRIBE, burst=1000, rate=100)
    operator = start_operator("--ec2-rate", "50", "--ec2-burst", "500")
    # Odd resources share an AMI with their neighbour, so a deletion sometimes drops an
    # AMI from the poller and sometimes only a subscription.
    fs.apply_all(
        kubectl,
        (
            harness.amistore(f"r{i:03d}", imageIds=[amis[i], *([amis[i - 1]] if i % 2 else [])])
            for i in range(COUNT)
        ),
    )
    harness.wait_until(
        lambda: (
            len(items := names(kubectl)) == COUNT
            and all(
                (item.get("status") or {}).get("state") == "InProgress" for item in items.values()
            )
        ),
        timeout=120,
        what=f"{COUNT} resources InProgress",
    )

    edited: dict[str, str] = {}
    deleted: list[str] = []
    order = [f"r{i:03d}" for i in range(COUNT)]
    for round_ in range(ROUNDS):
        chunk = order[round_ * 2 * PER_ROUND : (round_ + 1) * 2 * PER_ROUND]
        edits, deletions = chunk[::2], chunk[1::2]
        seq = fs.last_seq(ec2)
        fs.apply_all(
            kubectl,
            (
                harness.amistore(name, imageIds=[spare[round_ * PER_ROUND + k]])
                for k, name in enumerate(edits)
            ),
        )
        edited.update({name: spare[round_ * PER_ROUND + k] for k, name in enumerate(edits)})
        kubectl.run("delete", "amistore", *deletions, "--wait=false")
        deleted.extend(deletions)
        # The next round's watch events land while this one's polls run.
        fs.wait_calls(ec2, 1, since_seq=seq)

    harness.wait_until(
        lambda: not set(deleted) & set(names(kubectl)),
        timeout=60,
        what="the deleted resources to go (their finalizer removed)",
    )

    def edits_shown() -> bool:
        items = names(kubectl)
        return all(
            [t["amiId"] for t in (items[n].get("status") or {}).get("tasks", [])] == [ami]
            for n, ami in edited.items()
        )

    harness.wait_until(edits_shown, timeout=60, what="every edit in its resource's status")

    # The region loop still serves: a new resource gets its status within a few intervals.
    started = time.monotonic()
    kubectl.apply(harness.amistore("late", imageIds=[late]))
    fs.wait_status(
        kubectl,
        "late",
        lambda s: s.get("state") == "InProgress",
        "the new resource's status",
        timeout=3 * POLL_INTERVAL + 4,
    )
    print(f"\na new resource's first status after the churn: {time.monotonic() - started:.1f}s")
    series = {labels["name"] for labels, _ in fs.samples(operator.metrics(), "amistore_task_state")}
    assert not series & set(deleted)
    assert {"late", *edited} <= series
    assert "Traceback" not in operator.logs()
