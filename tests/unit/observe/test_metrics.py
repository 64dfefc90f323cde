"""Per-task series rendered at scrape time, and the operator-health metrics."""

from __future__ import annotations

from typing import Any

import prometheus_client
import pytest
from amistore_operator.observe import metrics

A = "ami-0000000a"
B = "ami-0000000b"
TASKS: list[dict[str, Any]] = [
    {
        "amiId": A,
        "state": "Failed",
        "progressPercentage": 40,
        "failureReason": "Access Denied",
        "bucket": "bkt",
        "s3ObjectKey": f"{A}.bin",
        "taskStartTime": "2026-11-27T04:00:00Z",
        "lastTransitionTime": "2026-11-27T04:05:00Z",
    },
    {"amiId": B, "state": "Pending", "progressPercentage": 0, "lastTransitionTime": "x"},
]


@pytest.fixture
def registry() -> prometheus_client.CollectorRegistry:
    return prometheus_client.CollectorRegistry()


@pytest.fixture
def collector(registry: prometheus_client.CollectorRegistry) -> metrics.TaskCollector:
    collector = metrics.TaskCollector()
    registry.register(collector)
    return collector


def labels(ami_id: str, **extra: str) -> dict[str, str]:
    base = {"namespace": "ns", "name": "store", "ami_id": ami_id, "region": "eu-west-1"}
    return {**base, "account": "", **extra}


def test_task_series(
    registry: prometheus_client.CollectorRegistry, collector: metrics.TaskCollector
) -> None:
    collector.set_resource("ns", "store", "eu-west-1", TASKS, synced=True)
    get = registry.get_sample_value
    assert get("amistore_task_progress_percent", labels(A)) == 40
    assert get("amistore_task_progress_percent", labels(B)) == 0
    assert get("amistore_task_start_time_seconds", labels(A)) == 1795752000.0
    assert get("amistore_task_start_time_seconds", labels(B)) is None
    info = labels(A, bucket="bkt", s3_object_key=f"{A}.bin")
    assert get("amistore_task_info", info) == 1
    assert get("amistore_task_failure_info", labels(A, reason="Access Denied")) == 1
    resource = {"namespace": "ns", "name": "store", "region": "eu-west-1", "account": ""}
    assert get("amistore_resource_synced", resource) == 1


def test_state_is_one_hot(
    registry: prometheus_client.CollectorRegistry, collector: metrics.TaskCollector
) -> None:
    collector.set_resource("ns", "store", "eu-west-1", TASKS, synced=None)
    for ami_id, current in ((A, "Failed"), (B, "Pending")):
        values = {
            state: registry.get_sample_value("amistore_task_state", labels(ami_id, state=state))
            for state in ("InProgress", "Completed", "Failed", "Pending")
        }
        assert values == {s: (1.0 if s == current else 0.0) for s in values}


def test_only_failed_tasks_have_failure_info(
    registry: prometheus_client.CollectorRegistry, collector: metrics.TaskCollector
) -> None:
    collector.set_resource("ns", "store", "eu-west-1", TASKS, synced=None)
    text = prometheus_client.generate_latest(registry).decode()
    failure_lines = [
        line for line in text.splitlines() if line.startswith("amistore_task_failure_info{")
    ]
    assert len(failure_lines) == 1
    assert A in failure_lines[0]


def test_synced_is_absent_until_known_and_zero_when_false(
    registry: prometheus_client.CollectorRegistry, collector: metrics.TaskCollector
) -> None:
    resource = {"namespace": "ns", "name": "store", "region": "eu-west-1", "account": ""}
    collector.set_resource("ns", "store", "eu-west-1", TASKS, synced=None)
    assert registry.get_sample_value("amistore_resource_synced", resource) is None
    collector.set_resource("ns", "store", "eu-west-1", TASKS, synced=False)
    assert registry.get_sample_value("amistore_resource_synced", resource) == 0


def test_removed_ami_series_vanish(
    registry: prometheus_client.CollectorRegistry, collector: metrics.TaskCollector
) -> None:
    collector.set_resource("ns", "store", "eu-west-1", TASKS, synced=True)
    collector.set_resource("ns", "store", "eu-west-1", TASKS[1:], synced=True)
    assert registry.get_sample_value("amistore_task_progress_percent", labels(A)) is None
    failed = labels(A, state="Failed")
    assert registry.get_sample_value("amistore_task_state", failed) is None
    assert registry.get_sample_value("amistore_task_progress_percent", labels(B)) == 0


def test_forgotten_resource_series_vanish(
    registry: prometheus_client.CollectorRegistry, collector: metrics.TaskCollector
) -> None:
    collector.set_resource("ns", "store", "eu-west-1", TASKS, synced=True)
    collector.set_resource("ns", "other", "eu-west-1", TASKS, synced=True)
    collector.forget("ns", "store")
    collector.forget("ns", "never-seen")  # harmless
    text = prometheus_client.generate_latest(registry).decode()
    assert 'name="store"' not in text
    assert 'name="other"' in text


def test_text_exposition_has_help_for_every_family(
    registry: prometheus_client.CollectorRegistry, collector: metrics.TaskCollector
) -> None:
    collector.set_resource("ns", "store", "eu-west-1", TASKS, synced=True)
    text = prometheus_client.generate_latest(registry).decode()
    for family in (
        "amistore_task_progress_percent",
        "amistore_task_state",
        "amistore_task_failure_info",
        "amistore_task_start_time_seconds",
        "amistore_task_info",
        "amistore_resource_synced",
    ):
        assert f"# HELP {family} " in text
        assert f"# TYPE {family} gauge" in text


def test_many_resources_render_in_one_family_each(
    registry: prometheus_client.CollectorRegistry, collector: metrics.TaskCollector
) -> None:
    for n in range(200):
        collector.set_resource("ns", f"store-{n}", "eu-west-1", TASKS, synced=True)
    families = {m.name: m for m in collector.collect()}
    assert len(families["amistore_task_progress_percent"].samples) == 400
    # 2 tasks x 5 states (Queued included)
    assert len(families["amistore_task_state"].samples) == 2000


def test_task_series_are_bounded_per_resource_newest_first(
    registry: prometheus_client.CollectorRegistry,
) -> None:
    collector = metrics.TaskCollector(max_task_series=1)
    registry.register(collector)
    collector.set_resource("ns", "store", "eu-west-1", TASKS, synced=True)
    collector.set_resource("ns", "small", "eu-west-1", TASKS[:1], synced=True)
    get = registry.get_sample_value
    assert get("amistore_task_progress_percent", labels(A)) == 40
    assert get("amistore_task_progress_percent", labels(B)) is None
    resource = {"namespace": "ns", "name": "store", "region": "eu-west-1", "account": ""}
    assert get("amistore_task_series_omitted", resource) == 1
    assert get("amistore_task_series_omitted", {**resource, "name": "small"}) == 0


def test_ec2_duration_help_says_it_is_per_attempt(
    registry: prometheus_client.CollectorRegistry,
) -> None:
    metrics.OperatorMetrics(registry)
    text = prometheus_client.generate_latest(registry).decode()
    help_line = next(
        line
        for line in text.splitlines()
        if line.startswith("# HELP amistore_ec2_request_duration_seconds ")
    )
    assert "each HTTP attempt" in help_line
    assert "retries included" not in help_line


def test_operator_metrics(registry: prometheus_client.CollectorRegistry) -> None:
    health = metrics.OperatorMetrics(registry)
    health.observe_ec2_call("eu-west-1", "DescribeStoreImageTasks", "success", 0.2)
    health.observe_ec2_call("eu-west-1", "DescribeStoreImageTasks", "throttled", 40.0)
    health.set_poll_success("eu-west-1", 1795752000.0)
    health.set_effective_interval("eu-west-1", 90.0)
    health.set_budget("eu-west-1", 12.5)
    get = registry.get_sample_value
    call = {"account": "", "region": "eu-west-1", "operation": "DescribeStoreImageTasks"}
    assert get("amistore_ec2_requests_total", {**call, "outcome": "success"}) == 1
    assert get("amistore_ec2_requests_total", {**call, "outcome": "throttled"}) == 1
    assert get("amistore_ec2_request_duration_seconds_count", call) == 2
    assert get("amistore_ec2_request_duration_seconds_bucket", {**call, "le": "0.25"}) == 1
    assert get("amistore_ec2_request_duration_seconds_bucket", {**call, "le": "30.0"}) == 1
    region = {"account": "", "region": "eu-west-1"}
    assert get("amistore_poll_last_success_timestamp_seconds", region) == 1795752000.0
    assert get("amistore_poll_effective_interval_seconds", region) == 90
    assert get("amistore_ec2_budget_tokens", region) == 12.5


def test_build_registry_is_independent_of_the_global_one() -> None:
    registry, tasks, health = metrics.build_registry()
    assert registry is not prometheus_client.REGISTRY
    tasks.set_resource("ns", "store", "eu-west-1", TASKS, synced=True)
    health.set_budget("eu-west-1", 50)
    text = prometheus_client.generate_latest(registry).decode()
    assert "amistore_task_state{" in text
    assert "amistore_ec2_budget_tokens{" in text
    assert prometheus_client.REGISTRY.get_sample_value("amistore_ec2_budget_tokens") is None
    second, _, _ = metrics.build_registry()  # no duplicate-registration error
    assert second is not registry


def test_estimated_completion_of_running_tasks_only(
    registry: prometheus_client.CollectorRegistry, collector: metrics.TaskCollector
) -> None:
    running = {
        "amiId": A,
        "state": "InProgress",
        "progressPercentage": 40,
        "estimatedCompletionTime": "2026-11-27T05:00:00Z",
    }
    collector.set_resource("ns", "store", "eu-west-1", [running, TASKS[1]], synced=True)
    family = "amistore_task_estimated_completion_timestamp_seconds"
    assert registry.get_sample_value(family, labels(A)) == 1795755600.0
    assert registry.get_sample_value(family, labels(B)) is None
    done = {**running, "state": "Completed", "progressPercentage": 100}
    collector.set_resource("ns", "store", "eu-west-1", [done], synced=True)
    assert registry.get_sample_value(family, labels(A)) is None


def test_export_queued_counts_queued_amis_of_export_resources_only(
    registry: prometheus_client.CollectorRegistry,
) -> None:
    collector = metrics.TaskCollector()
    registry.register(collector)
    queued: list[dict[str, Any]] = [
        {"amiId": A, "state": "Queued", "requestedTime": "2026-01-01T00:00:00Z"},
        {"amiId": B, "state": "Queued"},
        {"amiId": "ami-0000000c", "state": "InProgress", "progressPercentage": 5},
    ]
    collector.set_resource("ns", "export", "eu-west-1", queued, synced=True, export=True)
    collector.set_resource("ns", "idle", "eu-west-1", queued[2:], synced=True, export=True)
    collector.set_resource("ns", "watch", "eu-west-1", queued[2:], synced=True)
    get = registry.get_sample_value
    resource = {"namespace": "ns", "name": "export", "region": "eu-west-1", "account": ""}
    assert get("amistore_export_queued", resource) == 2
    assert get("amistore_export_queued", {**resource, "name": "idle"}) == 0
    assert get("amistore_export_queued", {**resource, "name": "watch"}) is None


def test_a_verified_object_s_size_is_a_series_with_its_storage_class(
    registry: prometheus_client.CollectorRegistry, collector: metrics.TaskCollector
) -> None:
    verified = {
        "amiId": A,
        "state": "Completed",
        "progressPercentage": 100,
        "objectSizeBytes": 8_589_934_592,
        "objectStorageClass": "GLACIER",
        "verifiedTime": "2026-11-27T05:00:00Z",
    }
    unverified = {"amiId": B, "state": "Completed", "progressPercentage": 100}
    collector.set_resource("ns", "store", "eu-west-1", [verified, unverified], synced=True)
    get = registry.get_sample_value
    assert get("amistore_task_object_bytes", labels(A, storage_class="GLACIER")) == 8_589_934_592
    assert get("amistore_task_object_bytes", labels(B, storage_class="STANDARD")) is None


def test_an_amis_cleanup_state_and_freed_snapshot_bytes_are_series(
    registry: prometheus_client.CollectorRegistry, collector: metrics.TaskCollector
) -> None:
    done = {
        "amiId": A,
        "state": "Completed",
        "progressPercentage": 100,
        "cleanupState": "Deregistered",
        "freedSnapshotBytes": 17_179_869_184,
    }
    blocked = {
        "amiId": B,
        "state": "Completed",
        "progressPercentage": 100,
        "cleanupState": "Blocked",
    }
    collector.set_resource("ns", "store", "eu-west-1", [done, blocked], synced=True)
    get = registry.get_sample_value
    assert get("amistore_task_cleanup_state", labels(A, state="Deregistered")) == 1
    assert get("amistore_task_cleanup_state", labels(B, state="Blocked")) == 1
    assert get("amistore_task_cleanup_state", labels(B, state="Deregistered")) is None
    assert get("amistore_task_freed_snapshot_bytes", labels(A)) == 17_179_869_184
    assert get("amistore_task_freed_snapshot_bytes", labels(B)) is None
