"""How a watch ends, judged from one AmiStore: pure, on the status the operator wrote."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from amistore_operator.plugin import render


class Verdict(enum.Enum):
    """What one observed AmiStore means for ``kubectl amistore watch``."""

    WAITING = "waiting"
    STALE = "stale"  # the status describes an older generation: not judged
    COMPLETE = "complete"
    FAILED = "failed"


EXIT_CODES = {Verdict.COMPLETE: 0, Verdict.FAILED: 1}
EXIT_TIMEOUT = 2
EXIT_ERROR = 3


def judge(obj: Mapping[str, Any]) -> Verdict:
    """Complete, Failed, or still waiting; only a status of the current generation counts."""
    status = render.status_of(obj)
    generation = obj.get("metadata", {}).get("generation")
    if not status or status.get("observedGeneration") != generation:
        return Verdict.STALE
    if failures(obj):
        return Verdict.FAILED
    if render.condition(obj, "Complete").get("status") == "True":
        return Verdict.COMPLETE
    return Verdict.WAITING


def failures(obj: Mapping[str, Any]) -> list[str]:
    """``AMI: reason`` for each failed task (the Failed condition's message if none is listed)."""
    status = render.status_of(obj)
    found = [
        f"{task.get('amiId', '')}: {task.get('failureReason') or 'no reason given'}"
        for task in status.get("tasks") or []
        if isinstance(task, Mapping) and task.get("state") == "Failed"
    ]
    failed = render.condition(obj, "Failed")
    if not found and (status.get("tasksFailed") or failed.get("status") == "True"):
        found.append(str(failed.get("message") or "a task failed"))
    return found
