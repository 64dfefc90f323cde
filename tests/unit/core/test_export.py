"""The export decision with plain values: who may export where, what to record, what to call."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from amistore_operator.core import (
    export,
    exportcapacity,
    exportentries,
    exportpoll,
    exportprobe,
    exportready,
    exportrequests,
    exportretry,
    model,
    timestamps,
)

A = "ami-0000000a"
B = "ami-0000000b"
C = "ami-0000000c"
D = "ami-0000000d"
KEY = "team-a/store"
OTHER_KEY = "team-b/store"
BUCKET = "amis-prod"
T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
R0 = timestamps.format_time(T0)
SECOND = datetime.timedelta(seconds=1)
MINUTE = datetime.timedelta(minutes=1)
INTERVAL = 2.0
ALLOWED = exportready.Verdict(checked=0.0)  # a DryRun passed, just now
DENIED = "UnauthorizedOperation: not authorized"
ALLOW = exportready.Permission(allow_create=True, allowed_buckets=("amis-*",))


def spec(
    *ids: str, create: bool = True, bucket: str = BUCKET, interval: float = INTERVAL
) -> model.AmiStoreSpec:
    return model.AmiStoreSpec(
        image_ids=ids,
        bucket=bucket,
        task_states=(),
        region="eu-west-1",
        poll_interval=interval,
        create_tasks=create,
    )


def task(
    ami_id: str, state: model.TaskState, bucket: str = BUCKET, start: datetime.datetime = T0
) -> model.StoreTask:
    return model.StoreTask(ami_id=ami_id, state=state, progress=0, bucket=bucket, start_time=start)


def none_listed(*ids: str) -> dict[str, model.StoreTask | None]:
    return dict.fromkeys(ids)


def inputs(
    *ids: str,
    listed: Mapping[str, model.StoreTask | None] | None = None,
    now: datetime.datetime = T0,
    interval: float = INTERVAL,
    verdict: exportready.Verdict | None = ALLOWED,
    **fields: Any,
) -> exportpoll.Inputs:
    """One poll of ``KEY`` with ``ids``; AWS lists no task for any unless ``listed`` says."""
    return exportpoll.Inputs(
        key=KEY,
        namespace="team-a",
        spec=spec(*ids, interval=interval),
        listed=none_listed(*ids) if listed is None else listed,
        previous=fields.pop("previous", {}),
        now=now,
        monotonic=fields.pop("monotonic", 0.0),
        interval=interval,
        verdict=verdict,
        **fields,
    )


def mine(stamp: str = R0, **fields: Any) -> exportrequests.Request:
    """A request this process recorded, its status stored: it may call for it once."""
    return exportrequests.Request(
        owner=KEY, requested_time=stamp, mine=True, confirmed=True, **fields
    )


# --- ExportReady -----------------------------------------------------------------------


def test_no_condition_without_create_tasks() -> None:
    assert exportready.export_ready(spec(A, create=False), "ns", ALLOW) is None


def test_ready_when_every_flag_allows() -> None:
    condition = exportready.export_ready(spec(A), "team-a", ALLOW)
    assert condition is not None
    assert condition[:3] == ("ExportReady", "True", "Ready")
    assert exportready.is_ready(condition)


def test_create_off_by_default() -> None:
    condition = exportready.export_ready(spec(A), "ns", exportready.Permission())
    assert condition is not None
    assert condition[1:3] == ("False", "CreateNotAllowed")
    assert "--allow-create" in condition[3]
    assert not exportready.is_ready(condition)


def test_bucket_outside_the_allowed_patterns() -> None:
    condition = exportready.export_ready(spec(A, bucket="other-bucket"), "ns", ALLOW)
    assert condition is not None
    assert condition[1:3] == ("False", "BucketNotAllowed")
    assert "other-bucket" in condition[3]


def test_namespace_outside_the_allowed_patterns() -> None:
    permission = exportready.Permission(True, ("amis-*",), ("team-*", "ops"))
    assert exportready.is_ready(exportready.export_ready(spec(A), "ops", permission))
    condition = exportready.export_ready(spec(A), "dev", permission)
    assert condition is not None
    assert condition[1:3] == ("False", "NamespaceNotAllowed")


def test_access_denied_names_the_action() -> None:
    condition = exportready.export_ready(spec(A), "ns", ALLOW, access_denied="not authorized")
    assert condition is not None
    assert condition[1:3] == ("False", "AccessDenied")
    assert "ec2:CreateStoreImageTask" in condition[3]


def test_an_account_the_map_refuses_is_account_not_allowed_before_any_dry_run_verdict() -> None:
    condition = exportready.export_ready(
        spec(A), "ns", ALLOW, access_denied="not authorized", account_denied="not in the map"
    )
    assert condition == ("ExportReady", "False", "AccountNotAllowed", "not in the map")


def test_patterns_are_case_sensitive_shell_patterns() -> None:
    assert exportready.matches_any("amis-1", ["amis-?"])
    assert not exportready.matches_any("AMIS-1", ["amis-*"])
    assert not exportready.matches_any("x", [])


# --- never twice -----------------------------------------------------------------------


def test_an_ami_without_a_task_is_queued_not_created() -> None:
    decision = export.decide(inputs(A))
    assert decision.queue == (A,)
    assert decision.create == ()
    assert decision.preflight is None


def test_without_a_verdict_the_dry_run_comes_first_with_a_wanted_ami() -> None:
    decision = export.decide(inputs(A, B, listed={A: task(A, model.TaskState.COMPLETED), B: None}))
    assert decision.queue == (B,)  # the DryRun passed already: recorded at once
    unknown = export.decide(
        inputs(A, B, listed={A: task(A, model.TaskState.COMPLETED), B: None}, verdict=None)
    )
    assert unknown.preflight == B
    assert unknown.queue == (B,)  # recorded only if the DryRun allows it
    assert unknown.create == ()


def test_stale_amis_are_left_alone() -> None:
    decision = export.decide(inputs(A, listed={}))
    assert (decision.queue, decision.create, decision.wait) == ((), (), ())


def test_a_listed_task_is_never_created_again() -> None:
    for state in model.TaskState.IN_PROGRESS, model.TaskState.COMPLETED, model.TaskState.FAILED:
        decision = export.decide(inputs(A, listed={A: task(A, state)}))
        assert decision.queue == decision.create == ()


def test_a_task_into_another_bucket_does_not_count() -> None:
    listed = {A: task(A, model.TaskState.COMPLETED, bucket="elsewhere")}
    assert export.decide(inputs(A, listed=listed)).queue == (A,)


def test_a_task_into_another_bucket_may_hide_ours_the_status_saw_start() -> None:
    listed = {A: task(A, model.TaskState.IN_PROGRESS, bucket="elsewhere")}
    ours = {"amiId": A, "state": "Completed", "bucket": BUCKET, "taskStartTime": R0}
    assert export.decide(inputs(A, listed=listed, previous={A: ours})).queue == ()


def test_an_entry_whose_request_was_never_called_waits_and_hides_nothing() -> None:
    # This process dropped A's request (R0) unconfirmed; the write that got no answer stored
    # it all the same. A task into another bucket started a second after R0 may hide a task
    # of a request that may have been called, not of this one: A is wanted again, as though
    # it had waited for a slot since R0.
    queued = {"amiId": A, "state": "Queued", "bucket": BUCKET, "requestedTime": R0}
    previous = {A: queued, B: {**queued, "amiId": B}}
    kept = exportrequests.drop_uncalled(previous, {BUCKET: {A: {R0}}})
    waiting = {"amiId": A, "state": "Queued", "bucket": BUCKET, "lastTransitionTime": R0}
    assert kept == {A: waiting, B: previous[B]}
    assert exportcapacity.is_waiting(kept[A])
    listed = {A: task(A, model.TaskState.FAILED, bucket="elsewhere", start=T0 + SECOND)}
    now = T0 + 2 * SECOND
    assert export.decide(inputs(A, listed=listed, previous=previous, now=now)).queue == ()
    assert export.decide(inputs(A, listed=listed, previous=kept, now=now)).queue == (A,)


def test_an_entry_of_another_request_than_the_one_never_called_is_kept() -> None:
    queued = {"amiId": A, "state": "Queued", "bucket": BUCKET, "requestedTime": R0}
    waiting = {"amiId": A, "state": "Queued", "bucket": BUCKET}
    later = timestamps.format_time(T0 + SECOND)
    for uncalled in {BUCKET: {A: {later}}}, {"elsewhere": {A: {R0}}}, {BUCKET: {B: {R0}}}:
        assert exportrequests.drop_uncalled({A: queued}, uncalled) == {A: queued}
    assert exportrequests.drop_uncalled({A: waiting}, {BUCKET: {A: {R0}}}) == {A: waiting}


def test_an_entry_of_any_request_never_called_is_dropped_not_only_the_latest() -> None:
    # Two writes got no answer, recording R0 then a later R: a late watch may show either.
    later = timestamps.format_time(T0 + 7 * SECOND)
    queued = {"amiId": A, "state": "Queued", "bucket": BUCKET, "requestedTime": R0}
    kept = exportrequests.drop_uncalled({A: queued}, {BUCKET: {A: {R0, later}}})
    assert "requestedTime" not in kept[A]


def test_a_confirmed_request_of_this_process_is_called() -> None:
    decision = export.decide(inputs(A, now=T0 + 2 * SECOND, requests={A: mine()}))
    assert decision.create == (A,)
    assert decision.queue == ()


def test_a_request_is_not_called_before_its_status_is_stored() -> None:
    unconfirmed = dataclasses.replace(mine(), confirmed=False)
    decision = export.decide(inputs(A, now=T0 + 2 * SECOND, requests={A: unconfirmed}))
    assert decision.create == decision.queue == ()


def test_a_request_is_called_once() -> None:
    called = mine(called=True)
    decision = export.decide(inputs(A, now=T0 + 2 * SECOND, requests={A: called}))
    assert decision.create == decision.queue == ()


def test_a_request_this_process_did_not_record_is_never_called() -> None:
    # A restart after the call: the task may not be listed yet; it waits instead.
    stored = exportrequests.Request(owner=KEY, requested_time=R0)
    decision = export.decide(inputs(A, now=T0 + 2 * SECOND, requests={A: stored}))
    assert decision.create == decision.queue == decision.ended == ()


def test_another_amistores_request_for_the_same_ami_and_bucket_serves_this_one() -> None:
    theirs = exportrequests.Request(owner=OTHER_KEY, requested_time=R0, mine=True, confirmed=True)
    decision = export.decide(inputs(A, now=T0 + 2 * SECOND, requests={A: theirs}))
    assert decision.create == decision.queue == decision.wait == ()
    assert decision.candidates == 0


def test_a_request_ends_after_its_grace_and_is_recorded_anew() -> None:
    live_for = exportrequests.grace(
        exportrequests.DEFAULT_GRACE, exportrequests.DEFAULT_CALL_WINDOW, INTERVAL
    )
    stored = {A: exportrequests.Request(owner=KEY, requested_time=R0)}
    before = export.decide(inputs(A, now=T0 + live_for - SECOND, requests=stored))
    assert before.ended == before.queue == ()
    after = export.decide(inputs(A, now=T0 + live_for, requests=stored))
    assert after.ended == (A,)
    assert after.queue == (A,)
    assert after.create == ()


def test_no_call_after_the_call_window() -> None:
    late = T0 + exportrequests.window(exportrequests.DEFAULT_CALL_WINDOW, INTERVAL)
    decision = export.decide(inputs(A, now=late, requests={A: mine()}))
    assert decision.create == decision.queue == ()


def test_a_task_listed_meanwhile_ends_the_request_and_stops_the_call() -> None:
    listed = {A: task(A, model.TaskState.IN_PROGRESS, start=T0 + SECOND)}
    decision = export.decide(inputs(A, listed=listed, now=T0 + 2 * SECOND, requests={A: mine()}))
    assert decision.ended == (A,)
    assert decision.create == decision.queue == ()


def test_the_failed_task_a_retry_replaces_does_not_end_its_request() -> None:
    old = T0 - datetime.timedelta(hours=1)
    listed = {A: task(A, model.TaskState.FAILED, start=old)}
    retry = mine(listed_start=timestamps.format_time(old))
    decision = export.decide(inputs(A, listed=listed, now=T0 + 2 * SECOND, requests={A: retry}))
    assert decision.ended == ()
    assert decision.create == (A,)


# --- the call window and the grace scale with the poll interval -------------------------


def test_grace_exceeds_the_call_window_by_two_intervals() -> None:
    base, window = exportrequests.DEFAULT_GRACE, exportrequests.DEFAULT_CALL_WINDOW
    for interval in (2.0, 240.0, 300.0, 86400.0):
        seconds = datetime.timedelta(seconds=interval)
        assert exportrequests.window(window, interval) == window + seconds
        assert exportrequests.grace(base, window, interval) == base + window + 3 * seconds


def test_at_interval_300_a_request_is_called_and_lives_past_the_fixed_grace() -> None:
    interval = 300.0
    # The next poll comes an interval (plus slack) after R: still within the window.
    next_poll = T0 + exportrequests.DEFAULT_CALL_WINDOW + 299 * SECOND
    called = export.decide(inputs(A, now=next_poll, interval=interval, requests={A: mine()}))
    assert called.create == (A,)
    # Not re-requested when the fixed grace alone would have passed.
    stored = {A: exportrequests.Request(owner=KEY, requested_time=R0)}
    fixed = T0 + exportrequests.DEFAULT_GRACE + exportrequests.DEFAULT_CALL_WINDOW
    kept = export.decide(inputs(A, now=fixed, interval=interval, requests=stored))
    assert kept.ended == kept.queue == ()


# --- retry of a failed export ----------------------------------------------------------


def test_failed_is_retried_once_per_new_value() -> None:
    listed = {A: task(A, model.TaskState.FAILED), B: task(B, model.TaskState.COMPLETED)}
    first = export.decide(inputs(A, B, listed=listed, retry_requested="r1", retry_handled=None))
    assert first.queue == (A,)
    assert first.retry_handled == "r1"
    request = exportrequests.request_for(KEY, listed[A], T0 + MINUTE, exportrequests.DEFAULT_GRACE)
    stored = dataclasses.replace(request, confirmed=True)
    second = export.decide(
        inputs(
            A,
            B,
            listed=listed,
            now=T0 + MINUTE + SECOND,
            requests={A: stored},
            retry_requested="r1",
            retry_handled="r1",
        )
    )
    assert second.create == (A,)
    # The new task failed too: the same value does not retry it again.
    again = export.decide(
        inputs(A, B, listed=listed, now=T0 + MINUTE, retry_requested="r1", retry_handled="r1")
    )
    assert again.queue == again.create == ()


def test_a_failed_task_is_not_retried_without_a_request() -> None:
    listed = {A: task(A, model.TaskState.FAILED)}
    decision = export.decide(inputs(A, listed=listed, retry_handled="r1"))
    assert decision.queue == ()
    assert decision.retry_handled == "r1"


def test_a_retry_value_naming_a_time_retries_only_a_task_started_a_minute_before_it() -> None:
    listed = {A: task(A, model.TaskState.FAILED, start=T0)}
    for value, retried in (
        (timestamps.format_time(T0 + 2 * MINUTE), True),
        ("2026-01-01T02:02:00+02:00", True),  # the same time with an offset
        (timestamps.format_time(T0 + MINUTE), False),  # within the clocks' skew
        (timestamps.format_time(T0 - SECOND), False),  # set before the task started
    ):
        decision = export.decide(inputs(A, listed=listed, now=T0 + MINUTE, retry_requested=value))
        assert decision.queue == ((A,) if retried else ()), value
        assert decision.retry_handled == value  # handled either way


def test_a_free_form_retry_value_retries_only_a_task_started_before_it_was_first_seen() -> None:
    # The watch delivered the value at ``retry_seen``; a poll may read it much later.
    listed = {A: task(A, model.TaskState.FAILED, start=T0)}
    for seen, retried in (
        (T0 + SECOND, True),
        (T0, False),  # seen as the task started
        (T0 - MINUTE, False),  # seen before the task started: another AmiStore's, since
        (None, True),  # first read by this poll: whatever Failed task it sees
    ):
        late = inputs(A, listed=listed, now=T0 + 20 * MINUTE, retry_requested="r1", retry_seen=seen)
        decision = export.decide(late)
        assert decision.queue == ((A,) if retried else ()), seen
        assert decision.retry_handled == "r1"  # handled either way


def test_only_an_rfc3339_date_time_names_a_time() -> None:
    assert exportretry.retry_time("2026-01-01T00:00:00Z") == T0
    assert exportretry.retry_time("2026-01-01t00:00:00.5z") == T0 + SECOND / 2
    for free_form in ("2026-01-01", "2026-01-01T00:00:00", "retry-1", "now", None):
        assert exportretry.retry_time(free_form) is None


def test_a_poll_that_reads_a_new_retry_value_puts_its_calls_off() -> None:
    # Its status, recording the value handled, is stored before any call: refused, a
    # later poll would read the value as new and retry the task this poll started.
    late = inputs(A, now=T0 + SECOND, requests={A: mine()}, retry_requested="r1")
    decision = export.decide(late)
    assert (decision.create, decision.deferred) == ((), (A,))
    handled = export.decide(dataclasses.replace(late, retry_handled="r1"))
    assert (handled.create, handled.deferred) == ((A,), ())


def test_a_retry_value_up_to_256_characters_is_kept_as_it_is() -> None:
    assert exportretry.retry_token(None) is None
    value = "x" * exportretry.MAX_RETRY_VALUE
    assert exportretry.retry_token(value) == value


def test_a_longer_retry_value_is_recorded_as_a_short_stable_digest() -> None:
    long = "y" * 1000
    token = exportretry.retry_token(long)
    assert token is not None
    assert token.startswith("sha256:")
    assert len(token) <= exportretry.MAX_RETRY_VALUE
    assert exportretry.retry_token(long) == token
    assert exportretry.retry_token(long + "z") != token


# --- refusals per AMI ------------------------------------------------------------------


def test_an_ami_aws_refused_is_not_asked_again_without_a_retry() -> None:
    refused = {A: "InvalidAMIID.NotFound: no such image"}
    assert export.decide(inputs(A, B, refused=refused)).queue == (B,)
    listed = none_listed(A, B)
    retried = export.decide(inputs(A, B, listed=listed, refused=refused, retry_requested="r1"))
    assert retried.queue == (A, B)


def test_a_refused_create_stays_refused_in_its_entry() -> None:
    failed = exportentries.refused_entry(A, BUCKET, "InvalidParameter: bad bucket", R0)
    failed["requestedTime"] = R0
    assert exportrequests.is_refused(failed)
    later = T0 + datetime.timedelta(days=1)
    assert export.decide(inputs(A, now=later, previous={A: failed})).queue == ()


def test_an_invalid_ami_refused_by_the_dry_run_is_not_probed_again() -> None:
    refused = {A: "InvalidAMIID.Malformed: bad id"}
    decision = export.decide(inputs(A, B, verdict=None, refused=refused))
    assert decision.preflight == B
    assert decision.queue == (B,)


def test_one_export_of_an_ami_at_a_time_across_buckets() -> None:
    decision = export.decide(inputs(A, B, busy_elsewhere=frozenset({A})))
    assert decision.queue == (B,)


# --- the DryRun probe ------------------------------------------------------------------


def test_a_refused_dry_run_is_asked_again_with_another_ami_up_to_three() -> None:
    # IAM may be scoped per AMI: after A's DryRun was refused, B's and C's are tried.
    tried: tuple[str, ...] = (A,)
    probes: list[str] = []
    for _ in range(5):
        verdict = exportready.Verdict(checked=0.0, denied=DENIED, tried=tried)
        decision = export.decide(inputs(A, B, C, D, verdict=verdict, monotonic=1.0))
        assert decision.condition is not None
        assert decision.condition[1:3] == ("False", "AccessDenied")
        assert decision.create == ()
        if decision.preflight is None:
            break
        probes.append(decision.preflight)
        tried = (*tried, decision.preflight)
    assert probes == [B, C]
    assert len(tried) == exportprobe.MAX_PROBES


def test_a_refused_dry_run_waits_ten_intervals_before_asking_again() -> None:
    verdict = exportready.Verdict(checked=0.0, denied=DENIED, tried=(A, B, C))
    soon = 10 * INTERVAL - 0.1
    assert export.decide(inputs(A, B, C, verdict=verdict, monotonic=soon)).preflight is None
    due = export.decide(inputs(A, B, C, verdict=verdict, monotonic=10 * INTERVAL))
    assert due.preflight is not None
    assert due.create == ()


def test_a_refusal_for_other_amistores_amis_is_asked_again_with_one_of_its_own_at_once() -> None:
    # Another AmiStore's DryRun with A was refused; B wants nothing (its task is done), so
    # nothing else would ask before the recheck, which would then turn the condition.
    verdict = exportready.Verdict(checked=0.0, denied=DENIED, tried=(A,))
    done = {B: task(B, model.TaskState.COMPLETED)}
    decision = export.decide(inputs(B, listed=done, verdict=verdict, monotonic=1.0))
    assert decision.preflight == B
    asked = exportready.Verdict(checked=1.0, denied=DENIED, tried=(A, B))
    assert export.decide(inputs(B, listed=done, verdict=asked, monotonic=2.0)).preflight is None
    # Due again: asked with the AMI IAM refused, so only a change of the policy turns it.
    due = 1.0 + 10 * INTERVAL
    assert export.decide(inputs(B, listed=done, verdict=asked, monotonic=due)).preflight == B


def test_an_ami_aws_lists_nothing_for_is_never_a_dry_run_candidate() -> None:
    # AWS rejected A's ID in this poll's listing: a DryRun with it would say nothing of IAM.
    done = {B: task(B, model.TaskState.COMPLETED)}
    assert export.decide(inputs(A, B, listed=done, verdict=None)).preflight == B
    due = exportready.Verdict(checked=0.0, denied=DENIED, tried=(B,))
    monotonic = 10 * INTERVAL
    later = export.decide(inputs(A, B, listed={}, verdict=due, monotonic=monotonic))
    assert later.preflight is None


def test_a_spec_change_asks_the_dry_run_again_at_once() -> None:
    assert export.decide(inputs(A, spec_changed=True)).preflight == A


def test_an_account_the_map_refuses_makes_no_dry_run_and_records_nothing() -> None:
    decision = export.decide(
        inputs(A, B, verdict=None, account_denied="namespace may not use it", requests={})
    )
    assert decision.condition is not None
    assert decision.condition[1:3] == ("False", "AccountNotAllowed")
    assert (decision.preflight, decision.queue, decision.create) == (None, (), ())


# --- the capacity ----------------------------------------------------------------------


def test_past_the_slots_the_rest_wait_without_a_request() -> None:
    decision = export.decide(inputs(A, B, C, slots=1))
    assert decision.queue == (A,)
    assert decision.wait == (B, C)
    assert decision.candidates == 3
    assert export.decide(inputs(A, B, slots=0)).wait == (A, B)


def test_fair_slots_without_a_cap_is_unlimited() -> None:
    assert exportcapacity.fair_slots(0, {"x": 50}, ["x"], "y") is None


def test_fair_slots_alone_takes_every_free_slot() -> None:
    assert exportcapacity.fair_slots(4, {}, [], "x") == 4
    assert exportcapacity.fair_slots(4, {"x": 1}, ["x"], "x") == 3


def test_fair_slots_shares_the_cap_between_the_amistores_waiting() -> None:
    assert exportcapacity.fair_slots(4, {}, ["x", "y"], "x") == 2
    assert exportcapacity.fair_slots(5, {}, ["x", "y"], "y") == 3  # rounded up: nothing lies idle
    # One holds its share: it gets no more while another waits, the other gets its own.
    assert exportcapacity.fair_slots(4, {"x": 2}, ["x", "y"], "x") == 0
    assert exportcapacity.fair_slots(4, {"x": 2}, ["x", "y"], "y") == 2


def test_fair_slots_never_exceeds_what_is_free() -> None:
    assert exportcapacity.fair_slots(4, {"x": 3}, ["x", "y"], "y") == 1
    assert exportcapacity.fair_slots(4, {"x": 4}, ["x"], "y") == 0
    assert exportcapacity.fair_slots(4, {"x": 6}, ["x"], "x") == 0
