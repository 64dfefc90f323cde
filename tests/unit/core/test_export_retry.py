"""A retry value is never lost: not to a poll that answered for some AMIs only, nor to a busy
AMI, nor to a request that ends unanswered (the simulation's ``every_retry_acted_on``)."""

from __future__ import annotations

from amistore_operator.core import (
    export,
    exportentries,
    exportready,
    exportrequests,
    exportretry,
    model,
    timestamps,
)

from tests.unit.core.test_export import (
    MINUTE,
    R0,
    T0,
    A,
    B,
    inputs,
    task,
)

FAILED = model.TaskState.FAILED


def test_a_poll_that_answered_for_some_amis_only_leaves_a_new_retry_value_unread() -> None:
    listed = {A: task(A, FAILED)}  # B's batch failed: no fresh answer for it
    partial = export.decide(inputs(A, B, listed=listed, retry_requested="r1", answered=False))
    assert partial.queue == ()
    assert partial.retry_handled is None
    full = export.decide(inputs(A, B, listed={**listed, B: task(B, FAILED)}, retry_requested="r1"))
    assert set(full.queue) == {A, B}
    assert full.retry_handled == "r1"


def test_a_retried_ami_busy_in_another_bucket_waits_to_retry_and_retries_after() -> None:
    listed = {A: task(A, FAILED, start=T0 - 10 * MINUTE)}
    busy = export.decide(
        inputs(A, listed=listed, retry_requested="r1", busy_elsewhere=frozenset({A}))
    )
    assert busy.queue == ()
    assert busy.wait == (A,)
    assert busy.retry_handled == "r1"
    waiting = exportentries.waiting_entry(A, R0, "amis-prod")
    free = export.decide(
        inputs(
            A,
            listed=listed,
            now=T0 + 10 * MINUTE,
            previous={A: waiting},
            retry_requested="r1",
            retry_handled="r1",
        )
    )
    assert free.queue == (A,)


def test_a_retry_request_that_ended_unanswered_is_asked_for_again() -> None:
    failed = task(A, FAILED, start=T0 - 10 * MINUTE)
    entry = {
        "amiId": A,
        "state": "Queued",
        "requestedTime": R0,
        "bucket": "amis-prod",
        exportrequests.LISTED_START: timestamps.format_time(T0 - 10 * MINUTE),
    }
    later = T0 + 2 * exportrequests.DEFAULT_GRACE  # its grace is over, AWS lists no new task
    decision = export.decide(
        inputs(A, listed={A: failed}, now=later, previous={A: entry}, retry_handled="r1")
    )
    assert decision.queue == (A,)


def test_a_request_whose_own_task_failed_is_not_asked_for_again() -> None:
    own = task(A, FAILED, start=T0 + MINUTE)  # started by the request: no retry of it
    entry = {"amiId": A, "state": "Queued", "requestedTime": R0, "bucket": "amis-prod"}
    assert not exportretry.asked_again(entry, FAILED, own.start_time)
    later = T0 + 2 * exportrequests.DEFAULT_GRACE
    decision = export.decide(
        inputs(A, listed={A: own}, now=later, previous={A: entry}, retry_handled="r1")
    )
    assert decision.queue == ()


def test_a_failed_task_within_the_clock_skew_of_a_request_is_its_own_unless_listed_at_it() -> None:
    started = T0 - exportrequests.START_SKEW / 2
    entry = {"amiId": A, "state": "Queued", "requestedTime": R0}
    assert not exportretry.asked_again(entry, FAILED, started)
    listed_at_r = {**entry, exportrequests.LISTED_START: timestamps.format_time(started)}
    assert exportretry.asked_again(listed_at_r, FAILED, started)
    assert not exportretry.asked_again(listed_at_r, model.TaskState.COMPLETED, started)


def test_a_new_retry_value_waits_for_a_fresh_answer_for_every_ami_shown_failed() -> None:
    shown = {A: {"amiId": A, "state": "Failed", "bucket": "amis-prod"}}
    listed = {B: task(B, FAILED)}  # A ended: the poller checks it again every few intervals
    stale = inputs(A, B, listed=listed, previous=shown, retry_requested="r1")
    assert not exportretry.is_new(stale)
    decision = export.decide(stale)
    assert decision.retry_handled is None
    assert decision.refresh == (A,)  # polled at once, so the value is read within seconds
    fresh = inputs(
        A, B, listed={**listed, A: task(A, FAILED)}, previous=shown, retry_requested="r1"
    )
    assert exportretry.is_new(fresh)
    assert export.decide(fresh).refresh == ()


def test_an_ami_waiting_to_retry_waits_on_while_the_dry_run_refuses() -> None:
    waiting = exportentries.waiting_entry(A, R0, "amis-prod")
    listed = {A: task(A, FAILED, start=T0 - 10 * MINUTE)}
    refused = exportready.Verdict(checked=0.0, denied="UnauthorizedOperation: no", tried=(A,))
    decision = export.decide(
        inputs(A, listed=listed, previous={A: waiting}, retry_handled="r1", verdict=refused)
    )
    assert decision.queue == ()
    assert decision.wait == (A,)  # its entry stays Queued: retried once IAM allows it
