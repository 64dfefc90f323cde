"""The status conditions: ``Synced``, ``Complete`` and ``Failed`` (``Stalled``: ``stall``).

A condition's ``lastTransitionTime`` moves only when its ``status`` flips.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from amistore_operator.core import taskentries

MAX_FAILED_IN_MESSAGE = 10


def task_conditions(
    entries: Sequence[Mapping[str, Any]], ever_polled: bool
) -> list[tuple[str, str, str, str]]:
    """The ``Complete`` and ``Failed`` conditions as (type, status, reason, message)."""
    if not ever_polled:
        waiting = "No successful AWS poll yet"
        return [
            ("Complete", "Unknown", "NotPolled", waiting),
            ("Failed", "Unknown", "NotPolled", waiting),
        ]
    total = len(entries)
    done = sum(1 for e in entries if e.get("state") == taskentries.COMPLETED)
    if total and done == total:
        complete = ("Complete", "True", "AllTasksCompleted", f"All {total} store tasks completed")
    elif not total:
        complete = ("Complete", "False", "NoTasks", "No store task matched yet")
    else:
        complete = (
            "Complete",
            "False",
            "TasksNotCompleted",
            f"{done} of {total} store tasks completed",
        )
    failed = [e for e in entries if e.get("state") == taskentries.FAILED]
    if not failed:
        return [complete, ("Failed", "False", "NoTaskFailed", "No store task failed")]
    parts = [f"{e['amiId']}: {taskentries.reason_text(e)}" for e in failed[:MAX_FAILED_IN_MESSAGE]]
    if len(failed) > MAX_FAILED_IN_MESSAGE:
        parts.append(f"and {len(failed) - MAX_FAILED_IN_MESSAGE} more")
    return [complete, ("Failed", "True", "TasksFailed", "; ".join(parts))]


def merge(
    prev: Mapping[str, Any],
    fresh: Iterable[tuple[str, str, str, str]],
    generation: int,
    stamp: str,
) -> list[dict[str, Any]]:
    """The conditions from ``fresh`` (type, status, reason, message), times kept from ``prev``."""
    by_type = {c.get("type"): c for c in prev.get("conditions", ())}
    conditions = []
    for kind, status, reason, message in fresh:
        old = by_type.get(kind) or {}
        since = old.get("lastTransitionTime") if old.get("status") == status else None
        conditions.append(
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastTransitionTime": since or stamp,  # moves only when status flips
                "observedGeneration": generation,
            }
        )
    return conditions


def synced(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``Synced`` condition of a status, if any."""
    return next((c for c in status.get("conditions", ()) if c.get("type") == "Synced"), None)
