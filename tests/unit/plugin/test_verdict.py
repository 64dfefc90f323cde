"""How ``kubectl amistore watch`` judges one AmiStore: only a status of the current generation."""

from __future__ import annotations

from typing import Any

from amistore_operator.plugin import verdict
from amistore_operator.plugin.verdict import Verdict


def obj(generation: int = 1, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "x", "generation": generation}, "status": status}


COMPLETE = [{"type": "Complete", "status": "True"}]
FAILED_TASK = {"amiId": "ami-2", "state": "Failed", "failureReason": "Access Denied"}


def test_complete_of_the_current_generation_ends_with_0() -> None:
    assert verdict.judge(obj(observedGeneration=1, conditions=COMPLETE)) is Verdict.COMPLETE
    assert verdict.EXIT_CODES[Verdict.COMPLETE] == 0


def test_a_stale_complete_is_not_judged() -> None:
    assert verdict.judge(obj(2, observedGeneration=1, conditions=COMPLETE)) is Verdict.STALE
    assert verdict.judge(obj(2, conditions=COMPLETE)) is Verdict.STALE
    assert verdict.judge(obj()) is Verdict.STALE  # no status yet


def test_a_failed_task_ends_with_1_and_names_the_reason() -> None:
    failed = obj(
        observedGeneration=1, tasks=[FAILED_TASK, {"amiId": "ami-1", "state": "Completed"}]
    )
    assert verdict.judge(failed) is Verdict.FAILED
    assert verdict.failures(failed) == ["ami-2: Access Denied"]
    assert verdict.EXIT_CODES[Verdict.FAILED] == 1


def test_failed_without_task_entries_uses_the_condition_message() -> None:
    failed = obj(
        observedGeneration=1,
        tasksFailed=1,
        conditions=[{"type": "Failed", "status": "True", "message": "ami-9: gone"}],
    )
    assert verdict.failures(failed) == ["ami-9: gone"]


def test_in_progress_keeps_waiting() -> None:
    running = obj(observedGeneration=1, tasks=[{"amiId": "ami-1", "state": "InProgress"}])
    assert verdict.judge(running) is Verdict.WAITING
