"""Prometheus series of AmiRestores, rendered at scrape time (a deleted one's go with it).

``amistore_restore_phase{namespace,name,region,account,phase}``: 1 for the current
phase, 0 for each other, as kube-state-metrics renders a phase;
``amistore_restore_progress_percent{namespace,name,region,account}``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import metrics_core
from prometheus_client import registry as registry_module

from amistore_operator.core import restore

_LABELS = ("namespace", "name", "region", "account")


class RestoreCollector(registry_module.Collector):
    """The last status of each AmiRestore, as gauges."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # scrapes run in the metrics server's thread
        self._rows: dict[str, tuple[tuple[str, ...], str, int]] = {}

    def render(self, namespace: str, name: str, status: Mapping[str, Any] | None) -> None:
        """Keep ``status``'s series (None: the resource is gone, and its series)."""
        key = f"{namespace}/{name}"
        with self._lock:
            if status is None:
                self._rows.pop(key, None)
                return
            labels = (
                namespace,
                name,
                str(status.get("region", "")),
                str(status.get("account", "")),
            )
            progress = status.get("progressPercentage")
            value = progress if isinstance(progress, int) else 0
            self._rows[key] = (labels, restore.phase(status), value)

    def collect(self) -> Iterable[metrics_core.Metric]:
        phase = metrics_core.GaugeMetricFamily(
            "amistore_restore_phase",
            "1 for the AmiRestore's current phase, 0 for the others.",
            labels=(*_LABELS, "phase"),
        )
        progress = metrics_core.GaugeMetricFamily(
            "amistore_restore_progress_percent",
            "Progress of the restored AMI's snapshots, 0 to 100 (Available counts 100).",
            labels=_LABELS,
        )
        with self._lock:
            rows = list(self._rows.values())
        for labels, current, value in rows:
            for each in restore.PHASES:
                phase.add_metric((*labels, each), 1.0 if each == current else 0.0)
            progress.add_metric(labels, float(value))
        return [phase, progress]

    def describe(self) -> Iterable[metrics_core.Metric]:
        """The families, so a registry can detect name clashes."""
        return self.collect()
