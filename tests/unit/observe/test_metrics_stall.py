"""The stall series: when each running task last moved, and whether it counts as stalled."""

from __future__ import annotations

import prometheus_client
from amistore_operator.observe import metrics

A = "ami-0000000a"
B = "ami-0000000b"


def labels(ami_id: str) -> dict[str, str]:
    return {
        "namespace": "ns",
        "name": "store",
        "ami_id": ami_id,
        "region": "eu-west-1",
        "account": "",
    }


def test_last_progress_and_stalled_of_running_tasks_only() -> None:
    registry = prometheus_client.CollectorRegistry()
    collector = metrics.TaskCollector()
    registry.register(collector)
    stuck = {
        "amiId": A,
        "state": "InProgress",
        "progressPercentage": 40,
        "lastProgressTime": "2026-11-27T04:00:00Z",
        "stalled": True,
    }
    moving = {**stuck, "amiId": B, "lastProgressTime": "2026-11-27T05:00:00Z"}
    del moving["stalled"]
    collector.set_resource("ns", "store", "eu-west-1", [stuck, moving], synced=True)
    get = registry.get_sample_value
    last = "amistore_task_last_progress_timestamp_seconds"
    assert get(last, labels(A)) == 1795752000.0
    assert get(last, labels(B)) == 1795755600.0
    assert get("amistore_task_stalled", labels(A)) == 1
    assert get("amistore_task_stalled", labels(B)) == 0
    # A finished task has neither: the stall clock means nothing for it.
    done = {**stuck, "state": "Completed", "progressPercentage": 100}
    collector.set_resource("ns", "store", "eu-west-1", [done], synced=True)
    assert get(last, labels(A)) is None
    assert get("amistore_task_stalled", labels(A)) is None
