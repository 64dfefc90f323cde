"""How a watch ends, judged from one AmiStore or AmiRestore: pure, on the operator's status."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

from amistore_operator.plugin import kinds, render, restorerender


class Verdict(enum.Enum):
    """What one observed resource means for ``kubectl amistore watch``."""

    WAITING = "waiting"
    STALE = "stale"  # the status describes an older generation: not judged
    COMPLETE = "complete"
    FAILED = "failed"


EXIT_CODES = {Verdict.COMPLETE: 0, Verdict.FAILED: 1}
EXIT_TIMEOUT = 2
EXIT_ERROR = 3


def _stale(obj: Mapping[str, Any]) -> bool:
    status = render.status_of(obj)
    return not status or status.get("observedGeneration") != obj.get("metadata", {}).get(
        "generation"
    )


def judge(obj: Mapping[str, Any]) -> Verdict:
    """Complete, Failed, or still waiting; only a status of the current generation counts."""
    if _stale(obj):
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


def judge_restore(obj: Mapping[str, Any]) -> Verdict:
    """An AmiRestore: Available is COMPLETE, Failed is FAILED (phase or condition), else
    waiting; only a status of the current generation counts."""
    if _stale(obj):
        return Verdict.STALE
    phase = restorerender.phase(obj)
    failed = render.condition(obj, "Failed").get("status") == "True"
    complete = render.condition(obj, "Complete").get("status") == "True"
    if phase == restorerender.FAILED or failed:
        return Verdict.FAILED
    if phase == restorerender.AVAILABLE or complete:
        return Verdict.COMPLETE
    return Verdict.WAITING


def judge_for(kind: kinds.Kind) -> Callable[[Mapping[str, Any]], Verdict]:
    """The judge of one kind."""
    return judge_restore if kind == kinds.AMIRESTORE else judge
