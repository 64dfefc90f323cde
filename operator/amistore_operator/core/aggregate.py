"""The resource-level summary of its task entries: ``state``, ``progressPercentage``, counts.

- ``progressPercentage`` is the floored mean, and 100 only when every task is
  Completed (AWS may report 100 percent for a task still InProgress: 99 then);
  a Completed task always counts 100.
- Counts and ``state`` cover every tracked task, also those cut from ``tasks``
  by the 500-entry cap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from amistore_operator.core import taskentries

UNKNOWN = "Unknown"

COUNT_KEYS = {
    taskentries.COMPLETED: "tasksCompleted",
    taskentries.FAILED: "tasksFailed",
    taskentries.IN_PROGRESS: "tasksInProgress",
    taskentries.PENDING: "tasksPending",
}


def aggregate(entries: Sequence[Mapping[str, Any]], ever_polled: bool) -> dict[str, Any]:
    """``state``, ``progressPercentage``, ``tasksTotal`` and the per-state counts."""
    counts = dict.fromkeys(COUNT_KEYS, 0)
    total_progress = 0
    for entry in entries:
        state = entry.get("state")
        if state == taskentries.QUEUED:
            state = taskentries.PENDING  # requested, not listed by AWS yet: still to start
        if state in counts:
            counts[state] += 1
        progress = entry.get("progressPercentage")
        if state == taskentries.COMPLETED:
            total_progress += 100
        elif state != taskentries.PENDING and isinstance(progress, int):
            total_progress += progress
    if not ever_polled:
        state = UNKNOWN
    elif counts[taskentries.IN_PROGRESS]:
        state = taskentries.IN_PROGRESS
    elif counts[taskentries.FAILED]:
        state = taskentries.FAILED
    elif counts[taskentries.PENDING] or not entries:
        state = taskentries.PENDING
    else:
        state = taskentries.COMPLETED
    progress = total_progress // len(entries) if entries else 0
    if counts[taskentries.COMPLETED] < len(entries):
        progress = min(progress, 99)
    status: dict[str, Any] = {
        "state": state,
        "progressPercentage": progress,
        "tasksTotal": len(entries),
    }
    status.update({key: counts[task_state] for task_state, key in COUNT_KEYS.items()})
    return status


def was_polled(prev: Mapping[str, Any]) -> bool:
    """Whether a status shows that some poll ever succeeded."""
    return prev.get("state") not in (None, UNKNOWN)
