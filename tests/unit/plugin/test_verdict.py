"""How ``kubectl amistore watch`` judges one AmiStore: only a status of the current generation."""

from __future__ import annotations

from typing import Any

from amistore_operator.plugin import kinds, verdict
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


def restore(generation: int = 1, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "back", "generation": generation}, "status": status}


def test_an_available_restore_ends_with_0() -> None:
    assert verdict.judge_restore(restore(observedGeneration=1, phase="Available")) is (
        Verdict.COMPLETE
    )
    by_condition = restore(observedGeneration=1, phase="Restoring", conditions=COMPLETE)
    assert verdict.judge_restore(by_condition) is Verdict.COMPLETE


def test_a_failed_restore_ends_with_1() -> None:
    assert verdict.judge_restore(restore(observedGeneration=1, phase="Failed")) is Verdict.FAILED
    failed = [{"type": "Failed", "status": "True"}, *COMPLETE]  # Failed wins over Complete
    assert verdict.judge_restore(restore(observedGeneration=1, conditions=failed)) is (
        Verdict.FAILED
    )


def test_a_restore_on_its_way_keeps_waiting() -> None:
    for phase in ("Pending", "Thawing", "Restoring"):
        waiting = restore(observedGeneration=1, phase=phase, progressPercentage=40)
        assert verdict.judge_restore(waiting) is Verdict.WAITING
    not_synced = [{"type": "Synced", "status": "False", "reason": "RestoreLimitExceeded"}]
    assert verdict.judge_restore(restore(observedGeneration=1, conditions=not_synced)) is (
        Verdict.WAITING
    )


def test_a_stale_restore_status_is_not_judged() -> None:
    assert verdict.judge_restore(restore()) is Verdict.STALE
    assert verdict.judge_restore(restore(2, observedGeneration=1, phase="Available")) is (
        Verdict.STALE
    )
    assert verdict.judge_restore(restore(2, phase="Failed")) is Verdict.STALE


def test_each_kind_has_its_judge() -> None:
    assert verdict.judge_for(kinds.AMIRESTORE) is verdict.judge_restore
    assert verdict.judge_for(kinds.AMISTORE) is verdict.judge
    # An AmiStore's judge knows no phase: an Available AmiRestore is not Complete to it.
    assert verdict.judge(restore(observedGeneration=1, phase="Available")) is Verdict.WAITING
