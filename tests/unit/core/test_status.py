"""The pure core: task transitions, aggregate, conditions, events and the write rule."""

from __future__ import annotations

import copy
import datetime
from collections.abc import Mapping
from typing import Any

import pytest
from amistore_operator.core import model, status

T0 = datetime.datetime(2026, 11, 27, 4, 0, 0, tzinfo=datetime.UTC)
A = "ami-0000000a"
B = "ami-0000000b"
C = "ami-0000000c"
REASON = model.PollErrorReason


def at(minutes: float) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


def stamp(minutes: float) -> str:
    return status.format_time(at(minutes))


def spec(*image_ids: str, bucket: str | None = None, states: tuple[str, ...] = ()) -> Any:
    return model.AmiStoreSpec(
        image_ids=image_ids, bucket=bucket, task_states=states, region="eu-west-1", poll_interval=60
    )


def task(
    ami_id: str,
    state: str = "InProgress",
    progress: int = 10,
    *,
    started: float = 0,
    bucket: str = "bkt",
    reason: str | None = None,
) -> model.StoreTask:
    return model.StoreTask(
        ami_id=ami_id,
        state=model.TaskState(state),
        progress=progress,
        bucket=bucket,
        s3_object_key=f"{ami_id}.bin",
        start_time=at(started),
        failure_reason=reason,
    )


def view(
    tasks: Mapping[str, model.StoreTask | None], error: model.PollError | None = None
) -> model.ResourceView:
    return model.ResourceView(tasks=dict(tasks), error=error)


def run(
    previous: dict[str, Any] | None,
    the_spec: model.AmiStoreSpec,
    the_view: model.ResourceView,
    minute: float,
    generation: int = 1,
) -> status.Outcome:
    return status.reconcile(previous, the_spec, the_view, generation=generation, now=at(minute))


def entry(outcome: status.Outcome, ami_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [e for e in outcome.status["tasks"] if e["amiId"] == ami_id]
    assert len(found) == 1
    return found[0]


def condition(outcome: status.Outcome, kind: str) -> dict[str, Any]:
    return next(c for c in outcome.status["conditions"] if c["type"] == kind)


def reasons(outcome: status.Outcome) -> list[str]:
    return [e.reason for e in outcome.events]


# --- task transitions -----------------------------------------------------------


def test_pending_then_in_progress_then_completed() -> None:
    first = run(None, spec(A), view({A: None}), 0)
    assert entry(first, A) == {
        "amiId": A,
        "state": "Pending",
        "progressPercentage": 0,
        "lastTransitionTime": stamp(0),
    }
    assert first.events == ()

    second = run(first.status, spec(A), view({A: task(A, progress=30, started=1)}), 2)
    assert entry(second, A) == {
        "amiId": A,
        "state": "InProgress",
        "progressPercentage": 30,
        "bucket": "bkt",
        "s3ObjectKey": f"{A}.bin",
        "taskStartTime": stamp(1),
        "lastTransitionTime": stamp(2),
        "lastProgressTime": stamp(2),  # first sighting
        "estimatedCompletionTime": "2026-11-27T04:04:20Z",  # 30% in its first minute
    }
    assert second.events == (
        status.Event("Normal", "StoreStarted", f"{A}: store task started as s3://bkt/{A}.bin"),
    )

    third = run(second.status, spec(A), view({A: task(A, progress=60, started=1)}), 3)
    assert entry(third, A)["progressPercentage"] == 60
    assert entry(third, A)["lastTransitionTime"] == stamp(2)  # same state: kept
    assert third.events == ()

    fourth = run(third.status, spec(A), view({A: task(A, "Completed", 100, started=1)}), 4)
    assert entry(fourth, A)["state"] == "Completed"
    assert entry(fourth, A)["lastTransitionTime"] == stamp(4)
    assert "failureReason" not in entry(fourth, A)
    assert reasons(fourth) == ["StoreCompleted"]


def test_in_progress_to_failed_carries_the_reason() -> None:
    first = run(None, spec(A), view({A: task(A, progress=40)}), 0)
    failed = task(A, "Failed", 40, reason="Access Denied for bucket bkt")
    second = run(first.status, spec(A), view({A: failed}), 1)
    assert entry(second, A)["failureReason"] == "Access Denied for bucket bkt"
    assert second.events == (
        status.Event(
            "Warning", "StoreFailed", f"{A}: store task failed: Access Denied for bucket bkt"
        ),
    )


def test_failure_reason_only_on_failed_tasks() -> None:
    odd = task(A, "InProgress", reason="stale text")
    assert "failureReason" not in entry(run(None, spec(A), view({A: odd}), 0), A)


def test_progress_of_the_same_task_never_goes_down() -> None:
    first = run(None, spec(A), view({A: task(A, progress=70)}), 0)
    second = run(first.status, spec(A), view({A: task(A, progress=50)}), 1)
    assert entry(second, A)["progressPercentage"] == 70
    assert not second.changed


def test_completed_task_shows_100_whatever_aws_says() -> None:
    outcome = run(None, spec(A), view({A: task(A, "Completed", 97)}), 0)
    assert entry(outcome, A)["progressPercentage"] == 100


def test_a_newer_task_replaces_a_terminal_one() -> None:
    done = run(None, spec(A), view({A: task(A, "Completed", 100, started=0)}), 1)
    newer = run(done.status, spec(A), view({A: task(A, progress=5, started=60)}), 61)
    assert entry(newer, A)["state"] == "InProgress"
    assert entry(newer, A)["progressPercentage"] == 5  # a new task: progress starts over
    assert entry(newer, A)["taskStartTime"] == stamp(60)
    assert reasons(newer) == ["StoreStarted"]


def test_a_newer_task_in_the_same_state_is_a_transition() -> None:
    done = run(None, spec(A), view({A: task(A, "Completed", 100, started=0)}), 1)
    again = run(done.status, spec(A), view({A: task(A, "Completed", 100, started=60)}), 90)
    assert entry(again, A)["lastTransitionTime"] == stamp(90)
    assert reasons(again) == ["StoreCompleted"]


def test_an_older_task_never_overwrites_a_terminal_one() -> None:
    done = run(None, spec(A), view({A: task(A, "Failed", 3, started=60, reason="x")}), 61)
    older = run(done.status, spec(A), view({A: task(A, "Completed", 100, started=0)}), 62)
    assert entry(older, A) == entry(done, A)
    assert not older.changed
    assert older.events == ()


def test_terminal_task_kept_when_aws_forgets_it() -> None:
    done = run(None, spec(A), view({A: task(A, "Completed", 100)}), 0)
    forgotten = run(done.status, spec(A), view({A: None}), 31 * 24 * 60 + 1)
    assert entry(forgotten, A) == entry(done, A)
    assert forgotten.status["state"] == "Completed"
    assert not forgotten.changed
    assert forgotten.status["lastPollTime"] == stamp(0)


def test_pending_stays_pending_with_its_transition_time() -> None:
    first = run(None, spec(A), view({A: None}), 0)
    later = run(first.status, spec(A), view({A: None}), 5)
    assert entry(later, A) == entry(first, A)
    assert not later.changed


def test_in_progress_task_that_vanishes_is_pending_again() -> None:
    first = run(None, spec(A), view({A: task(A)}), 0)
    gone = run(first.status, spec(A), view({A: None}), 5)
    assert entry(gone, A)["state"] == "Pending"
    assert entry(gone, A)["lastTransitionTime"] == stamp(5)
    assert gone.events == ()


def test_task_into_another_bucket_does_not_count() -> None:
    outcome = run(None, spec(A, bucket="mine"), view({A: task(A, bucket="theirs")}), 0)
    assert entry(outcome, A)["state"] == "Pending"


def test_terminal_entry_of_a_previous_bucket_is_not_kept() -> None:
    done = run(None, spec(A, bucket="old"), view({A: task(A, "Completed", 100, bucket="old")}), 0)
    moved = run(done.status, spec(A, bucket="new"), view({A: None}), 1)
    assert entry(moved, A)["state"] == "Pending"


def test_a_deregistered_amis_entry_stays_whatever_bucket_the_spec_names_now() -> None:
    # The AMI is gone: no task into the new bucket can come, and its archive is where the
    # entry says (a Pending entry would promise an export, and lose the cleanup record).
    done = run(None, spec(A, bucket="old"), view({A: task(A, "Completed", 100, bucket="old")}), 0)
    gone = {**entry(done, A), "cleanupState": "Deregistered"}
    moved = run({**done.status, "tasks": [gone]}, spec(A, bucket="new"), view({}), 1)
    assert entry(moved, A) == gone


def test_a_gone_amis_unseen_task_is_never_called_stalled() -> None:
    # Hidden behind a later task, then deregistered by another AmiStore: nothing will
    # ever show its progress again, so it stays as last seen.
    first = run(None, spec(A), view({A: task(A, progress=87)}), 0)
    gone = {**entry(first, A), "cleanupState": "Gone"}
    later = run({**first.status, "tasks": [gone]}, spec(A), view({}), 6 * 60)
    assert "stalled" not in entry(later, A)
    assert not later.changed or entry(later, A) == gone


def test_missing_view_key_keeps_the_previous_entry() -> None:
    first = run(None, spec(A, B), view({A: task(A, "Completed", 100), B: task(B)}), 0)
    second = run(first.status, spec(A, B), view({B: task(B, progress=20)}), 1)
    assert entry(second, A) == entry(first, A)
    assert entry(second, B)["progressPercentage"] == 20


def test_first_observation_of_a_completed_task_emits_once() -> None:
    first = run(None, spec(A), view({A: task(A, "Completed", 100)}), 0)
    assert reasons(first) == ["StoreCompleted"]
    again = run(first.status, spec(A), view({A: task(A, "Completed", 100)}), 1)
    assert again.events == ()


def test_restart_with_the_same_state_emits_nothing() -> None:
    first = run(None, spec(A), view({A: task(A, progress=10)}), 0)
    # The previous status as it comes back from the API server: a new operator process.
    restarted = run(dict(first.status), spec(A), view({A: task(A, progress=11)}), 10)
    assert restarted.events == ()
    assert restarted.changed


# --- spec changes -----------------------------------------------------------------


def test_removed_id_disappears_and_added_id_is_pending() -> None:
    first = run(None, spec(A, B), view({A: task(A, "Completed", 100), B: task(B)}), 0)
    second = run(first.status, spec(A, C), view({A: task(A, "Completed", 100), C: None}), 1, 2)
    assert [e["amiId"] for e in second.status["tasks"]] == [A, C]
    assert entry(second, C)["state"] == "Pending"
    assert second.status["observedGeneration"] == 2
    assert second.status["tasksTotal"] == 2


# --- aggregate --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (["InProgress", "Failed", "Completed", None], "InProgress"),
        (["Failed", "Completed", None], "Failed"),
        (["Completed", None], "Pending"),
        (["Completed", "Completed"], "Completed"),
        ([], "Pending"),
    ],
)
def test_aggregate_state(states: list[str | None], expected: str) -> None:
    ids = [f"ami-{i:08x}" for i in range(len(states))]
    tasks = {
        ami_id: None if state is None else task(ami_id, state, 50, started=i, reason="r")
        for i, (ami_id, state) in enumerate(zip(ids, states, strict=True))
    }
    # No IDs: listing mode with nothing matched.
    outcome = run(None, spec(*ids), view(tasks), 0)
    assert outcome.status["state"] == expected


def test_progress_is_the_floored_mean_and_counts_are_per_state() -> None:
    tasks = {
        A: task(A, "Completed", 100),
        B: task(B, "InProgress", 50, started=1),
        C: None,
        "ami-0000000d": task("ami-0000000d", "Failed", 49, started=2, reason="r"),
    }
    outcome = run(None, spec(A, B, C, "ami-0000000d"), view(tasks), 0)
    result = outcome.status
    assert result["progressPercentage"] == (100 + 50 + 0 + 49) // 4  # 49.75 -> 49
    assert result["tasksTotal"] == 4
    assert result["tasksCompleted"] == 1
    assert result["tasksInProgress"] == 1
    assert result["tasksFailed"] == 1
    assert result["tasksPending"] == 1


def test_progress_stays_below_100_until_every_task_is_done() -> None:
    ids = [f"ami-{i:08x}" for i in range(200)]
    tasks: dict[str, model.StoreTask | None] = {i: task(i, "Completed", 100) for i in ids}
    tasks[ids[0]] = task(ids[0], "InProgress", 0)
    assert run(None, spec(*ids), view(tasks), 0).status["progressPercentage"] == 99


def test_no_tasks_gives_zero_progress() -> None:
    outcome = run(None, spec(), view({}), 0)
    assert outcome.status["progressPercentage"] == 0
    assert outcome.status["tasksTotal"] == 0
    assert outcome.status["tasks"] == []


# --- conditions ---------------------------------------------------------------------


def test_conditions_after_a_successful_poll() -> None:
    outcome = run(None, spec(A, B), view({A: task(A, "Completed", 100), B: None}), 0, 3)
    synced = condition(outcome, "Synced")
    assert synced == {
        "type": "Synced",
        "status": "True",
        "reason": "Polled",
        "message": "The last AWS poll succeeded",
        "lastTransitionTime": stamp(0),
        "observedGeneration": 3,
    }
    assert condition(outcome, "Complete")["status"] == "False"
    assert condition(outcome, "Complete")["reason"] == "TasksNotCompleted"
    assert condition(outcome, "Failed")["status"] == "False"


def test_complete_turns_true_and_transition_time_moves_only_on_flips() -> None:
    first = run(None, spec(A), view({A: task(A, progress=10)}), 0)
    second = run(first.status, spec(A), view({A: task(A, progress=20)}), 1, generation=2)
    complete = condition(second, "Complete")
    assert complete["lastTransitionTime"] == stamp(0)
    assert complete["observedGeneration"] == 2  # updated without a flip
    third = run(second.status, spec(A), view({A: task(A, "Completed", 100)}), 2, 2)
    assert condition(third, "Complete")["status"] == "True"
    assert condition(third, "Complete")["reason"] == "AllTasksCompleted"
    assert condition(third, "Complete")["lastTransitionTime"] == stamp(2)
    assert condition(third, "Synced")["lastTransitionTime"] == stamp(0)


def test_complete_is_false_without_tasks() -> None:
    outcome = run(None, spec(), view({}), 0)
    assert condition(outcome, "Complete")["status"] == "False"


def test_failed_condition_names_amis_and_reasons() -> None:
    tasks = {
        A: task(A, "Failed", 0, reason="Access Denied for bucket x"),
        B: task(B, "Failed", 0, started=1, reason="Image too large"),
    }
    failed = condition(run(None, spec(A, B), view(tasks), 2), "Failed")
    assert failed["status"] == "True"
    assert failed["reason"] == "TasksFailed"
    assert failed["message"] == f"{B}: Image too large; {A}: Access Denied for bucket x"


def test_failed_condition_message_is_bounded() -> None:
    ids = [f"ami-{i:08x}" for i in range(30)]
    tasks: dict[str, model.StoreTask | None] = {
        i: task(i, "Failed", 0, reason="y" * 1000) for i in ids
    }
    message = condition(run(None, spec(*ids), view(tasks), 0), "Failed")["message"]
    assert message.endswith("; and 20 more")
    assert len(message) < 2600


# --- errors -------------------------------------------------------------------------


def test_error_view_keeps_known_tasks_and_reports_the_reason() -> None:
    first = run(None, spec(A, B), view({A: task(A, progress=10), B: task(B, progress=10)}), 0)
    error = model.PollError(REASON.INVALID_IMAGE_ID, "Invalid id: ami-0000000b")
    failing = run(first.status, spec(A, B), view({A: task(A, progress=40)}, error), 1)
    assert entry(failing, A)["progressPercentage"] == 40  # fresh task still applies
    assert entry(failing, B) == entry(first, B)  # kept exactly
    synced = condition(failing, "Synced")
    assert (synced["status"], synced["reason"]) == ("False", "InvalidImageId")
    assert synced["message"] == "Invalid id: ami-0000000b"
    assert synced["lastTransitionTime"] == stamp(1)
    assert failing.status["lastPollTime"] == stamp(0)  # last successful poll
    assert failing.status["state"] == "InProgress"
    assert failing.events == (
        status.Event("Warning", "SyncFailed", "InvalidImageId: Invalid id: ami-0000000b"),
    )

    still = run(failing.status, spec(A, B), view({}, error), 2)
    assert still.events == ()
    assert not still.changed

    recovered = run(still.status, spec(A, B), view({A: task(A, progress=40), B: task(B)}), 3)
    assert recovered.events == (
        status.Event("Normal", "SyncRecovered", "AWS poll succeeded again (was InvalidImageId)"),
    )
    assert condition(recovered, "Synced")["status"] == "True"
    assert condition(recovered, "Synced")["lastTransitionTime"] == stamp(3)
    assert recovered.status["lastPollTime"] == stamp(3)


def test_error_before_any_poll_is_unknown() -> None:
    error = model.PollError(REASON.ACCESS_DENIED, "not authorized")
    outcome = run(None, spec(A), view({}, error), 0)
    assert outcome.status["state"] == "Unknown"
    assert "lastPollTime" not in outcome.status
    assert condition(outcome, "Complete")["status"] == "Unknown"
    assert condition(outcome, "Failed")["status"] == "Unknown"
    assert reasons(outcome) == ["SyncFailed"]


def test_error_view_in_listing_mode_keeps_unfinished_entries() -> None:
    first = run(None, spec(), view({A: task(A), B: task(B, "Completed", 100, started=1)}), 0)
    error = model.PollError(REASON.THROTTLED, "Rate exceeded")
    failing = run(first.status, spec(), view({}, error), 1)
    assert failing.status["tasks"] == first.status["tasks"]


def test_reject_spec_keeps_tasks_and_marks_invalid_spec() -> None:
    first = run(None, spec(A), view({A: task(A, "Completed", 100)}), 0)
    rejected = status.reject_spec(first.status, "spec.bucket: bad", generation=2, now=at(1))
    assert rejected.changed
    assert rejected.status["tasks"] == first.status["tasks"]
    assert rejected.status["state"] == "Completed"
    assert rejected.status["observedGeneration"] == 2
    assert rejected.status["lastPollTime"] == stamp(0)
    synced = condition(rejected, "Synced")
    assert (synced["status"], synced["reason"], synced["message"]) == (
        "False",
        "InvalidSpec",
        "spec.bucket: bad",
    )
    assert condition(rejected, "Complete") == condition(first, "Complete")
    assert reasons(rejected) == ["SyncFailed"]
    again = status.reject_spec(rejected.status, "spec.bucket: bad", generation=2, now=at(2))
    assert not again.changed
    assert again.events == ()


def test_reject_spec_without_previous_status() -> None:
    rejected = status.reject_spec(None, "spec.region: bad", generation=1, now=T0)
    assert rejected.status["state"] == "Unknown"
    assert rejected.status["tasks"] == []
    assert condition(rejected, "Complete")["status"] == "Unknown"


# --- listing mode -------------------------------------------------------------------


def test_listing_mode_keeps_terminal_entries_aws_forgot() -> None:
    tasks = {A: task(A, "Completed", 100, started=0), B: task(B, progress=10, started=5)}
    first = run(None, spec(), view(dict(tasks)), 6)
    assert [e["amiId"] for e in first.status["tasks"]] == [B, A]
    later = run(first.status, spec(), view({C: task(C, started=9)}), 10)
    # A is terminal: kept; B was in progress and is no longer listed: gone.
    assert [e["amiId"] for e in later.status["tasks"]] == [C, A]


def test_listing_mode_drops_kept_entries_that_no_longer_match_the_filters() -> None:
    first = run(None, spec(), view({A: task(A, "Completed", 100), B: task(B, "Failed", 0)}), 0)
    filtered = run(first.status, spec(states=("Failed",)), view({}), 1)
    assert [e["amiId"] for e in filtered.status["tasks"]] == [B]


# --- write rule, ordering and caps ----------------------------------------------------


def test_identical_poll_is_not_a_change_and_keeps_last_poll_time() -> None:
    first = run(None, spec(A, B), view({A: task(A), B: None}), 0)
    assert first.changed
    second = run(first.status, spec(A, B), view({A: task(A), B: None}), 1)
    assert not second.changed
    assert second.status == first.status
    assert second.status["lastPollTime"] == stamp(0)
    assert second.events == ()


def test_a_real_change_writes_a_fresh_last_poll_time() -> None:
    first = run(None, spec(A), view({A: task(A, progress=1)}), 0)
    second = run(first.status, spec(A), view({A: task(A, progress=2)}), 1)
    assert second.changed
    assert second.status["lastPollTime"] == stamp(1)


def test_order_is_newest_first_then_pending_in_spec_order() -> None:
    ids = ("ami-00000001", "ami-00000002", "ami-00000003", "ami-00000004")
    tasks = {
        ids[0]: None,
        ids[1]: task(ids[1], started=1),
        ids[2]: None,
        ids[3]: task(ids[3], started=2),
    }
    outcome = run(None, spec(*ids), view(tasks), 3)
    assert [e["amiId"] for e in outcome.status["tasks"]] == [ids[3], ids[1], ids[0], ids[2]]


def test_at_most_500_entries_but_counts_cover_all() -> None:
    ids = [f"ami-{i:08x}" for i in range(1000)]
    tasks: dict[str, model.StoreTask | None] = {
        i: task(i, "Completed", 100, started=n) for n, i in enumerate(ids)
    }
    outcome = run(None, spec(), view(tasks), 2000)
    entries = outcome.status["tasks"]
    assert len(entries) == 500
    assert entries[0]["amiId"] == ids[-1]  # newest first
    assert entries[-1]["amiId"] == ids[500]
    assert outcome.status["tasksTotal"] == 1000


def test_task_events_are_capped_with_one_summary() -> None:
    ids = [f"ami-{i:08x}" for i in range(100)]
    tasks: dict[str, model.StoreTask | None] = {
        i: task(i, "Completed", 100, started=n) for n, i in enumerate(ids)
    }
    tasks[ids[0]] = task(ids[0], "Failed", 0, reason="boom")
    outcome = run(None, spec(*ids), view(tasks), 200)
    assert len(outcome.events) == status.MAX_TASK_EVENTS + 1
    assert outcome.events[0].reason == "StoreFailed"  # failures are never the ones cut
    summary = outcome.events[-1]
    assert summary.reason == "StoreCompleted"
    assert summary.message == "and 80 more task changes (80 completed); see status.tasks"


def test_known_tasks_round_trips_started_entries() -> None:
    tasks = {A: task(A, "Failed", 5, reason="r"), B: None, C: task(C, "Completed", 100)}
    outcome = run(None, spec(A, B, C), view(tasks), 0)
    known = status.known_tasks(outcome.status, 1)
    assert set(known) == {A, C}
    assert known[A] == task(A, "Failed", 5, reason="r")
    assert known[C] == task(C, "Completed", 100)
    assert status.known_tasks(None, 1) == {}


def test_known_tasks_only_from_a_status_computed_for_this_spec() -> None:
    # Its entries show the tasks the spec's bucket matched; another spec's are no
    # stand-in for AWS's latest task, nor is a status that rejected this spec.
    outcome = run(None, spec(A, bucket="bkt"), view({A: task(A, "Completed", 100)}), 0)
    assert set(status.known_tasks(outcome.status, 1)) == {A}
    assert status.known_tasks(outcome.status, 2) == {}
    rejected = status.reject_spec(outcome.status, "spec.bucket: bad", generation=2, now=at(1))
    assert status.known_tasks(rejected.status, 2) == {}


def test_format_and_parse_time() -> None:
    assert status.format_time(T0.replace(microsecond=5)) == "2026-11-27T04:00:00Z"
    assert status.parse_time("2026-11-27T04:00:00Z") == T0
    assert status.parse_time("garbage") is None
    assert status.parse_time(None) is None


def test_foreign_status_keys_do_not_make_a_change() -> None:
    first = run(None, spec(A), view({A: task(A)}), 0)
    previous = {**first.status, "somethingElse": {"written": "by another tool"}}
    second = run(previous, spec(A), view({A: task(A)}), 1)
    assert not second.changed
    assert second.status == first.status


def test_status_names_the_region_polled_and_a_rejected_spec_keeps_it() -> None:
    polled = run(None, spec(A), view({A: task(A)}), 0)
    assert polled.status["region"] == "eu-west-1"
    rejected = status.reject_spec(polled.status, "spec.region: bad", generation=2, now=at(1))
    assert rejected.status["region"] == "eu-west-1"


# --- more tasks than the 500-entry cap --------------------------------------------

MANY = 600
NEWEST = f"ami-{MANY - 1:08x}"


def many_tasks(**changes: model.StoreTask) -> dict[str, model.StoreTask | None]:
    """MANY tasks, ``ami-…000`` the oldest, all Completed but the newest; ``changes`` apply."""
    tasks: dict[str, model.StoreTask | None] = {
        many_id(n): task(many_id(n), "Completed", 100, started=n) for n in range(MANY)
    }
    tasks[NEWEST] = task(NEWEST, "InProgress", 10, started=MANY - 1)
    tasks.update(changes)
    return tasks


def many_id(n: int) -> str:
    return f"ami-{n:08x}"


def reconcile_with(
    previous: status.Outcome | dict[str, Any] | None,
    the_view: model.ResourceView,
    minute: float,
    *,
    remembered: bool = True,
) -> status.Outcome:
    """A listing reconcile; ``remembered`` passes the previous outcome's full entries back."""
    if isinstance(previous, status.Outcome):
        entries = previous.entries if remembered else None
        previous = previous.status
    else:
        entries = None
    return status.reconcile(
        previous, spec(), the_view, generation=1, now=at(minute), previous_entries=entries
    )


def test_a_capped_status_reposts_no_event_for_unchanged_tasks() -> None:
    first = run(None, spec(), view(many_tasks()), MANY)
    assert len(first.status["tasks"]) == status.MAX_TASK_ENTRIES
    # Only a task inside the cap moves: a status change, but no state change anywhere.
    moved = many_tasks(**{NEWEST: task(NEWEST, "InProgress", 20, started=MANY - 1)})
    for remembered in (True, False):  # in memory, or only the status (after a restart)
        again = reconcile_with(first, view(many_tasks()), MANY + 1, remembered=remembered)
        assert again.events == ()
        assert not again.changed
        later = reconcile_with(first, view(moved), MANY + 1, remembered=remembered)
        assert later.changed
        assert later.events == ()


def test_a_change_past_the_cap_posts_exactly_its_event() -> None:
    first = run(None, spec(), view(many_tasks()), MANY)
    oldest = many_id(0)
    failed = task(oldest, "Failed", 40, started=0, reason="Access Denied")
    changed = reconcile_with(first, view(many_tasks(**{oldest: failed})), MANY + 1)
    assert [(e.reason, e.message) for e in changed.events] == [
        ("StoreFailed", f"{oldest}: store task failed: Access Denied")
    ]
    assert changed.changed
    assert changed.status["tasksFailed"] == 1
    assert oldest not in {e["amiId"] for e in changed.status["tasks"]}
    assert len(changed.entries) == MANY
    # The same view again, on top of what it produced: nothing more.
    steady = reconcile_with(changed, view(many_tasks(**{oldest: failed})), MANY + 2)
    assert steady.events == ()
    assert not steady.changed


def test_after_a_restart_only_tasks_started_since_the_last_poll_are_new() -> None:
    first = run(None, spec(), view(many_tasks()), MANY)
    oldest, fresh = many_id(0), "ami-0000ffff"
    # While the operator was down: a task past the cap failed (it may go unannounced: the
    # status no longer holds it) and a new task started after the last poll.
    tasks = many_tasks(**{oldest: task(oldest, "Failed", 40, started=0, reason="x")})
    tasks[fresh] = task(fresh, "InProgress", 5, started=MANY + 5)
    restarted = reconcile_with(first.status, view(tasks), MANY + 10)
    assert [(e.reason, e.message.split(":")[0]) for e in restarted.events] == [
        ("StoreStarted", fresh)
    ]


def test_finished_entries_aws_forgot_stay_while_among_the_500_newest() -> None:
    first = run(None, spec(), view(many_tasks()), MANY)
    inside = many_id(MANY - 2)  # the newest finished task
    past = [many_id(n) for n in range(10)]  # the oldest, past the cap
    tasks = many_tasks()
    for ami_id in (inside, *past):
        del tasks[ami_id]  # AWS's 31 days are over for them
    kept = reconcile_with(first, view(tasks), MANY + 1)
    assert entry(kept, inside)["state"] == "Completed"
    assert not {e["amiId"] for e in kept.entries} & set(past)
    assert kept.status["tasksTotal"] == MANY - len(past)
    assert kept.events == ()
    # The same whether the entries past the cap were remembered or not (a restart).
    restarted = reconcile_with(first.status, view(tasks), MANY + 1)
    assert restarted.status == kept.status
    assert [(e["amiId"], e["state"]) for e in restarted.entries] == [
        (e["amiId"], e["state"]) for e in kept.entries
    ]


def test_a_change_the_status_cannot_show_posts_no_event() -> None:
    first = run(None, spec(), view(many_tasks()), MANY)
    oldest = many_id(0)
    # A new task for the oldest AMI, in the same state and still past the cap: the status
    # (500 entries and the counts) is the same, so nothing is written and nothing posted.
    replaced = task(oldest, "Completed", 100, started=0.5)
    later = reconcile_with(first, view(many_tasks(**{oldest: replaced})), MANY + 1)
    assert not later.changed
    assert later.events == ()


def test_resource_progress_is_100_only_when_every_task_completed() -> None:
    # AWS can report 100 percent for a task still InProgress.
    tasks = {A: task(A, "InProgress", 100), B: task(B, "Completed", 100)}
    outcome = run(None, spec(A, B), view(tasks), 0)
    assert entry(outcome, A)["progressPercentage"] == 100
    assert outcome.status["progressPercentage"] == 99
    done = run(outcome.status, spec(A, B), view({**tasks, A: task(A, "Completed", 100)}), 1)
    assert done.status["progressPercentage"] == 100
    failed = run(None, spec(A), view({A: task(A, "Failed", 100, reason="late")}), 0)
    assert failed.status["progressPercentage"] == 99


# --- lastProgressTime: when the operator saw the progress move --------------------


def test_last_progress_time_moves_only_with_the_progress() -> None:
    first = run(None, spec(A), view({A: task(A, progress=0)}), 0)
    assert entry(first, A)["lastProgressTime"] == stamp(0)  # first sighting counts as a move
    quiet = run(first.status, spec(A), view({A: task(A, progress=0)}), 1)
    assert entry(quiet, A)["lastProgressTime"] == stamp(0)
    assert not quiet.changed
    moved = run(quiet.status, spec(A), view({A: task(A, progress=5)}), 3)
    assert entry(moved, A)["lastProgressTime"] == stamp(3)
    assert moved.changed
    stale = run(moved.status, spec(A), view({A: task(A, progress=4)}), 4)  # never regresses
    assert entry(stale, A)["progressPercentage"] == 5
    assert entry(stale, A)["lastProgressTime"] == stamp(3)
    done = run(stale.status, spec(A), view({A: task(A, "Completed", 100)}), 5)
    assert entry(done, A)["lastProgressTime"] == stamp(5)


def test_last_progress_time_is_kept_when_a_task_fails_where_it_was() -> None:
    first = run(None, spec(A), view({A: task(A, progress=40)}), 0)
    failed = run(first.status, spec(A), view({A: task(A, "Failed", 40, reason="x")}), 7)
    assert entry(failed, A)["lastProgressTime"] == stamp(0)


def test_a_new_store_task_is_a_first_sighting_whatever_its_progress() -> None:
    first = run(None, spec(A), view({A: task(A, progress=0, started=0)}), 1)
    again = run(first.status, spec(A), view({A: task(A, progress=0, started=5)}), 6)
    assert entry(again, A)["lastProgressTime"] == stamp(6)


def test_last_progress_time_is_read_from_the_status_after_a_restart() -> None:
    first = run(None, spec(A), view({A: task(A, progress=10)}), 0)
    stored = copy.deepcopy(first.status)  # what the API holds; no entries kept in memory
    later = run(stored, spec(A), view({A: task(A, progress=10)}), 90)
    assert entry(later, A)["lastProgressTime"] == stamp(0)
    assert not later.changed


def test_an_entry_written_before_last_progress_time_gets_one_once() -> None:
    first = run(None, spec(A), view({A: task(A, progress=10)}), 0)
    old = copy.deepcopy(first.status)
    del old["tasks"][0]["lastProgressTime"]
    upgraded = run(old, spec(A), view({A: task(A, progress=10)}), 3)
    assert entry(upgraded, A)["lastProgressTime"] == stamp(3)
    assert not run(upgraded.status, spec(A), view({A: task(A, progress=10)}), 4).changed


def test_a_pending_entry_has_no_last_progress_time() -> None:
    assert "lastProgressTime" not in entry(run(None, spec(A), view({A: None}), 0), A)
