"""The entries export mode shows once a poll's decision is carried out, with plain values."""

from __future__ import annotations

from amistore_operator.core import export, exportentries, model, timestamps

from tests.unit.core.test_export import (
    BUCKET,
    OTHER_KEY,
    R0,
    SECOND,
    T0,
    A,
    B,
    inputs,
    mine,
    task,
)

NOW = T0 + 2 * SECOND
STAMP = timestamps.format_time(NOW)
NOTHING = export.Decision(condition=None)


def test_a_new_request_is_queued_at_now() -> None:
    shown = exportentries.entries(inputs(A, now=NOW), NOTHING, exportentries.Results(recorded=(A,)))
    assert shown == {A: exportentries.queued_entry(A, STAMP, BUCKET)}
    assert shown[A]["requestedTime"] == STAMP


def test_a_live_request_keeps_its_entry_until_aws_lists_the_task() -> None:
    previous = {A: exportentries.queued_entry(A, R0)}
    live = exportentries.Results(requests={A: mine()})
    shown = exportentries.entries(inputs(A, now=NOW, previous=previous), NOTHING, live)
    assert shown == previous  # the same entry: no status write
    listed = {A: task(A, model.TaskState.IN_PROGRESS)}
    ended = exportentries.entries(
        inputs(A, listed=listed, now=NOW, previous=previous), NOTHING, exportentries.Results()
    )
    assert A not in ended  # AWS's own entry takes over


def test_a_request_lapsed_after_its_grace_shows_no_queued_entry() -> None:
    previous = {A: exportentries.queued_entry(A, R0)}
    shown = exportentries.entries(
        inputs(A, now=NOW, previous=previous), NOTHING, exportentries.Results()
    )
    assert shown == {}


def test_another_amistores_request_is_not_shown_as_this_ones() -> None:
    theirs = export.Request(owner=OTHER_KEY, requested_time=R0, mine=True, confirmed=True)
    shown = exportentries.entries(
        inputs(A, now=NOW), NOTHING, exportentries.Results(requests={A: theirs})
    )
    assert shown == {}


def test_a_waiting_ami_is_queued_without_a_request_and_kept_as_it_was() -> None:
    decision = export.Decision(condition=None, wait=(A,))
    first = exportentries.entries(inputs(A, now=T0), decision, exportentries.Results())
    assert first == {A: exportentries.waiting_entry(A, R0, BUCKET)}
    assert export.is_waiting(first[A])
    again = exportentries.entries(
        inputs(A, now=NOW, previous=first), decision, exportentries.Results()
    )
    assert again == first  # no new lastTransitionTime: no status write


def test_a_create_refused_for_capacity_waits_again() -> None:
    previous = {A: exportentries.queued_entry(A, R0)}
    withdrawn = exportentries.Results(withdrawn=(A,))
    shown = exportentries.entries(inputs(A, now=NOW, previous=previous), NOTHING, withdrawn)
    assert export.is_waiting(shown[A])


def test_a_refused_create_is_failed_with_aws_code_and_message() -> None:
    previous = {A: exportentries.queued_entry(A, R0)}
    reason = "InvalidParameter: bad bucket"
    refused = exportentries.Results(refused={A: reason})
    shown = exportentries.entries(inputs(A, B, now=NOW, previous=previous), NOTHING, refused)
    failed = shown[A]
    assert failed["state"] == "Failed"
    assert failed["failureReason"] == reason
    assert failed["bucket"] == BUCKET
    assert failed["requestedTime"] == R0  # the request it answers
    assert export.is_refused(failed)
    assert B not in shown  # the refusal is A's alone
    later = exportentries.entries(
        inputs(A, B, now=NOW + SECOND, previous=shown), NOTHING, exportentries.Results()
    )
    assert later[A] == failed  # kept until a retry


def test_in_flight_counts_live_requests_and_running_tasks_only() -> None:
    listed = {
        A: None,
        B: task(B, model.TaskState.IN_PROGRESS),
        "ami-0000000c": task("ami-0000000c", model.TaskState.COMPLETED),
        "ami-0000000d": None,
    }
    poll = inputs(*listed, listed=listed)
    shown = {
        A: exportentries.queued_entry(A, R0),
        "ami-0000000d": exportentries.waiting_entry("ami-0000000d", R0),
    }
    assert exportentries.in_flight(poll, shown) == 2
