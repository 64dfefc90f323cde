"""Prometheus metrics: per-task series rendered at scrape time, and the registry.

``build_registry`` registers the task collector with the operator's health metrics
(``health``) and the process metrics.

Per-task series come from a custom collector that renders the current state at
every scrape, so the series of a deleted resource or of an AMI removed from a
spec vanish by construction. Every tracked task has its series (the status's
500-entry cap does not apply here), up to ``--max-task-series`` tasks per
resource, newest first; ``amistore_task_series_omitted`` counts the rest.
Nothing here touches the global registry.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import prometheus_client
from prometheus_client import gc_collector, metrics_core, platform_collector, process_collector
from prometheus_client import registry as registry_module
from prometheus_client import samples as samples_module

from amistore_operator.core import model, status
from amistore_operator.observe import health

DEFAULT_MAX_TASK_SERIES = 5000
OperatorMetrics = health.OperatorMetrics  # the health metrics, where callers find them

_TASK_LABELS = ("namespace", "name", "ami_id", "region", "account")
_RESOURCE_LABELS = ("namespace", "name", "region", "account")
_STATES = tuple(state.value for state in model.TaskState)

# name -> (help, extra label names)
_FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "amistore_task_progress_percent": (
        "Progress of the AMI's store task, 0 to 100 (Pending counts 0, Completed 100).",
        _TASK_LABELS,
    ),
    "amistore_task_state": (
        "1 for the store task's current state (InProgress, Completed, Failed, Pending or "
        "Queued; Pending: AWS shows no store task for the AMI; Queued: the operator requested "
        "one AWS does not list yet), 0 for the other states.",
        (*_TASK_LABELS, "state"),
    ),
    "amistore_task_failure_info": (
        "1 for each failed store task, with AWS's failure reason.",
        (*_TASK_LABELS, "reason"),
    ),
    "amistore_task_start_time_seconds": (
        "Unix time the AMI's store task started, when AWS reports it.",
        _TASK_LABELS,
    ),
    "amistore_task_estimated_completion_timestamp_seconds": (
        "Unix time the InProgress store task should complete, estimated at its last "
        "progress change; absent until it can be estimated. In the past: overdue.",
        _TASK_LABELS,
    ),
    "amistore_task_last_progress_timestamp_seconds": (
        "Unix time the operator last saw the InProgress store task's progress change (or "
        "first saw the task): the stall clock.",
        _TASK_LABELS,
    ),
    "amistore_task_stalled": (
        "1 while the InProgress store task counts as stalled (no progress for the "
        "AmiStore's stall threshold: the Stalled condition), 0 while it progresses.",
        _TASK_LABELS,
    ),
    "amistore_task_info": (
        "1 for each store task with a known bucket; the S3 bucket and object key are labels.",
        (*_TASK_LABELS, "bucket", "s3_object_key"),
    ),
    "amistore_task_object_bytes": (
        "Size in bytes of the S3 object the Completed store task left, as HeadObject found "
        "it (spec.verifyObjects); absent until verified. The storage class is a label.",
        (*_TASK_LABELS, "storage_class"),
    ),
    "amistore_task_freed_snapshot_bytes": (
        "Full size in bytes of the EBS snapshots deleted with the AMI after its export "
        "(spec.afterExport DeregisterAndDeleteSnapshots), as DescribeSnapshots reported them "
        "just before; absent until deregistered. An upper bound of what it saves: snapshots "
        "are billed incrementally.",
        _TASK_LABELS,
    ),
    "amistore_task_cleanup_state": (
        "1 for where the AMI's cleanup after export stands (spec.afterExport other than "
        "Keep): Waiting, Blocked, Deregistering, Deregistered or Gone; absent before.",
        (*_TASK_LABELS, "state"),
    ),
    "amistore_resource_synced": (
        "1 when the AmiStore's last AWS poll succeeded (condition Synced=True), 0 when it "
        "failed; absent until the first poll.",
        _RESOURCE_LABELS,
    ),
    "amistore_export_queued": (
        "AMIs of the AmiStore (createTasks) in state Queued: the operator has asked, or will "
        "ask, AWS to start their store tasks (requested, or waiting for store capacity).",
        _RESOURCE_LABELS,
    ),
    "amistore_task_series_omitted": (
        "Tracked tasks of the AmiStore without per-task series, the oldest beyond "
        "--max-task-series; 0 when every task has its series.",
        _RESOURCE_LABELS,
    ),
}


@dataclasses.dataclass(frozen=True)
class _ResourceSamples:
    """One resource's samples, computed once in set_resource, by family name."""

    by_family: dict[str, tuple[samples_module.Sample, ...]]


class TaskCollector(registry_module.Collector):
    """Renders per-task series from the current state at every scrape."""

    def __init__(self, max_task_series: int = DEFAULT_MAX_TASK_SERIES) -> None:
        self._lock = threading.Lock()
        self._resources: dict[tuple[str, str], _ResourceSamples] = {}
        self._max_task_series = max_task_series

    def set_resource(
        self,
        namespace: str,
        name: str,
        region: str,
        tasks: Sequence[Mapping[str, Any]],
        synced: bool | None,
        account: str = "",
        export: bool = False,
    ) -> None:
        """Replace the series of one resource (``tasks``: all its task entries, newest first).

        ``account``: the AWS account polled (status.account; "" when unknown).
        ``export``: the resource has ``createTasks`` (it gets ``amistore_export_queued``).
        """
        built: dict[str, list[samples_module.Sample]] = {family: [] for family in _FAMILIES}
        for task in tasks[: self._max_task_series]:
            ami_id = task.get("amiId")
            state = task.get("state")
            if not isinstance(ami_id, str) or state not in _STATES:
                continue
            base = {
                "namespace": namespace,
                "name": name,
                "ami_id": ami_id,
                "region": region,
                "account": account,
            }
            _add_task(built, base, task, state)
        resource = {"namespace": namespace, "name": name, "region": region, "account": account}
        omitted = max(0, len(tasks) - self._max_task_series)
        _add(built, "amistore_task_series_omitted", resource, float(omitted))
        queued = sum(1 for task in tasks if task.get("state") == model.TaskState.QUEUED)
        if export or queued:
            _add(built, "amistore_export_queued", resource, float(queued))
        if synced is not None:
            _add(built, "amistore_resource_synced", resource, 1.0 if synced else 0.0)
        samples = _ResourceSamples({family: tuple(s) for family, s in built.items() if s})
        with self._lock:
            self._resources[(namespace, name)] = samples

    def forget(self, namespace: str, name: str) -> None:
        """Drop every series of a resource (deleted, or no longer watched)."""
        with self._lock:
            self._resources.pop((namespace, name), None)

    def describe(self) -> Iterable[metrics_core.Metric]:
        """The families this collector renders, so a registry can detect name clashes."""
        return _empty_families().values()

    def collect(self) -> Iterable[metrics_core.Metric]:
        """Render every resource's samples into one family per metric name."""
        with self._lock:
            resources = list(self._resources.values())
        families = _empty_families()
        for resource in resources:
            for family, samples in resource.by_family.items():
                families[family].samples.extend(samples)
        return families.values()


def build_registry(
    max_task_series: int = DEFAULT_MAX_TASK_SERIES,
) -> tuple[prometheus_client.CollectorRegistry, TaskCollector, health.OperatorMetrics]:
    """A fresh registry with the task collector, health metrics and process metrics."""
    registry = prometheus_client.CollectorRegistry()
    tasks = TaskCollector(max_task_series)
    registry.register(tasks)
    operator_health = health.OperatorMetrics(registry)
    process_collector.ProcessCollector(registry=registry)
    platform_collector.PlatformCollector(registry=registry)
    gc_collector.GCCollector(registry=registry)
    return registry, tasks, operator_health


def _empty_families() -> dict[str, metrics_core.GaugeMetricFamily]:
    return {
        family: metrics_core.GaugeMetricFamily(family, documentation, labels=labels)
        for family, (documentation, labels) in _FAMILIES.items()
    }


def _add_task(
    built: dict[str, list[samples_module.Sample]],
    base: dict[str, str],
    task: Mapping[str, Any],
    state: str,
) -> None:
    """Add the samples of one task entry (``base``: its labels, ``state``: a known state)."""
    progress = task.get("progressPercentage")
    _add(built, "amistore_task_progress_percent", base, _number(progress, 0.0))
    for candidate in _STATES:
        value = 1.0 if candidate == state else 0.0
        _add(built, "amistore_task_state", {**base, "state": candidate}, value)
    if state == model.TaskState.FAILED:
        reason = task.get("failureReason") or "unknown"
        _add(built, "amistore_task_failure_info", {**base, "reason": str(reason)}, 1.0)
    start = _start_seconds(task.get("taskStartTime"))
    if start is not None:
        _add(built, "amistore_task_start_time_seconds", base, start)
    estimate = _start_seconds(task.get("estimatedCompletionTime"))
    if estimate is not None and state == model.TaskState.IN_PROGRESS:
        family = "amistore_task_estimated_completion_timestamp_seconds"
        _add(built, family, base, estimate)
    if state == model.TaskState.IN_PROGRESS:
        moved = _start_seconds(task.get("lastProgressTime"))
        if moved is not None:
            _add(built, "amistore_task_last_progress_timestamp_seconds", base, moved)
        stalled = 1.0 if task.get("stalled") is True else 0.0
        _add(built, "amistore_task_stalled", base, stalled)
    size = task.get("objectSizeBytes")
    if state == model.TaskState.COMPLETED and task.get("verifiedTime") and size is not None:
        storage = str(task.get("objectStorageClass") or "STANDARD")
        labels = {**base, "storage_class": storage}
        _add(built, "amistore_task_object_bytes", labels, _number(size, 0.0))
    cleanup_state = task.get("cleanupState")
    if isinstance(cleanup_state, str):
        _add(built, "amistore_task_cleanup_state", {**base, "state": cleanup_state}, 1.0)
    freed = task.get("freedSnapshotBytes")
    if freed is not None:
        _add(built, "amistore_task_freed_snapshot_bytes", base, _number(freed, 0.0))
    bucket = task.get("bucket")
    if bucket:
        labels = {
            **base,
            "bucket": str(bucket),
            "s3_object_key": task.get("s3ObjectKey") or "",
        }
        _add(built, "amistore_task_info", labels, 1.0)


def _add(
    built: dict[str, list[samples_module.Sample]],
    family: str,
    labels: dict[str, str],
    value: float,
) -> None:
    built[family].append(samples_module.Sample(family, labels, value))


def _number(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default


def _start_seconds(value: Any) -> float | None:
    moment = status.parse_time(value)
    return moment.timestamp() if moment is not None else None
