"""The export decision with plain values: who may export where, what to queue and create."""

from __future__ import annotations

import datetime
from typing import Any

from amistore_operator.core import export, model, timestamps

A = "ami-0000000a"
B = "ami-0000000b"
BUCKET = "amis-prod"
T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
R0 = timestamps.format_time(T0)
SECOND = datetime.timedelta(seconds=1)


def spec(*ids: str, create: bool = True, bucket: str = BUCKET) -> model.AmiStoreSpec:
    return model.AmiStoreSpec(
        image_ids=ids,
        bucket=bucket,
        task_states=(),
        region="eu-west-1",
        poll_interval=2,
        create_tasks=create,
    )


def task(ami_id: str, state: model.TaskState, bucket: str = BUCKET) -> model.StoreTask:
    return model.StoreTask(ami_id=ami_id, state=state, progress=0, bucket=bucket, start_time=T0)


def queued(stamp: str = R0) -> dict[str, Any]:
    return export.queued_entry(A, stamp)


ALLOW = export.Permission(allow_create=True, allowed_buckets=("amis-*",))


# --- ExportReady -----------------------------------------------------------------------


def test_no_condition_without_create_tasks() -> None:
    assert export.export_ready(spec(A, create=False), "ns", ALLOW) is None


def test_ready_when_every_flag_allows() -> None:
    condition = export.export_ready(spec(A), "team-a", ALLOW)
    assert condition is not None
    assert condition[:3] == ("ExportReady", "True", "Ready")
    assert export.is_ready(condition)


def test_create_off_by_default() -> None:
    condition = export.export_ready(spec(A), "ns", export.Permission())
    assert condition is not None
    assert condition[1:3] == ("False", "CreateNotAllowed")
    assert "--allow-create" in condition[3]
    assert not export.is_ready(condition)


def test_bucket_outside_the_allowed_patterns() -> None:
    condition = export.export_ready(spec(A, bucket="other-bucket"), "ns", ALLOW)
    assert condition is not None
    assert condition[1:3] == ("False", "BucketNotAllowed")
    assert "other-bucket" in condition[3]


def test_namespace_outside_the_allowed_patterns() -> None:
    permission = export.Permission(True, ("amis-*",), ("team-*", "ops"))
    assert export.is_ready(export.export_ready(spec(A), "ops", permission))
    condition = export.export_ready(spec(A), "dev", permission)
    assert condition is not None
    assert condition[1:3] == ("False", "NamespaceNotAllowed")


def test_access_denied_names_the_action() -> None:
    condition = export.export_ready(spec(A), "ns", ALLOW, access_denied="not authorized")
    assert condition is not None
    assert condition[1:3] == ("False", "AccessDenied")
    assert "ec2:CreateStoreImageTask" in condition[3]


def test_patterns_are_case_sensitive_shell_patterns() -> None:
    assert export.matches_any("amis-1", ["amis-?"])
    assert not export.matches_any("AMIS-1", ["amis-*"])
    assert not export.matches_any("x", [])


# --- never twice -----------------------------------------------------------------------


def test_an_ami_without_a_task_is_queued_not_created() -> None:
    decision = export.decide(spec(A), {A: None}, {}, now=T0, recorded={})
    assert decision.queue == (A,)
    assert decision.create == ()


def test_nothing_without_create_tasks() -> None:
    decision = export.decide(spec(A, create=False), {A: None}, {}, now=T0, recorded={})
    assert decision == export.Decision()


def test_stale_amis_are_left_alone() -> None:
    assert export.decide(spec(A), {}, {}, now=T0, recorded={}) == export.Decision()


def test_a_listed_task_is_never_created_again() -> None:
    for state in model.TaskState.IN_PROGRESS, model.TaskState.COMPLETED, model.TaskState.FAILED:
        decision = export.decide(spec(A), {A: task(A, state)}, {}, now=T0, recorded={})
        assert decision.queue == decision.create == ()


def test_a_task_into_another_bucket_does_not_count() -> None:
    listed = {A: task(A, model.TaskState.COMPLETED, bucket="elsewhere")}
    assert export.decide(spec(A), listed, {}, now=T0, recorded={}).queue == (A,)


def test_queued_by_this_process_is_created_on_the_next_poll() -> None:
    recorded = export.recorded_for([A], {A: None}, R0)
    decision = export.decide(
        spec(A), {A: None}, {A: queued()}, now=T0 + 2 * SECOND, recorded=recorded
    )
    assert decision.create == (A,)
    assert decision.queue == ()


def test_queued_by_another_process_is_not_created_within_the_grace() -> None:
    # A restart after the call: the task may not be listed yet; it waits instead.
    decision = export.decide(spec(A), {A: None}, {A: queued()}, now=T0 + 2 * SECOND, recorded={})
    assert decision == export.Decision()


def test_a_record_is_requeued_only_after_the_grace() -> None:
    just_before = T0 + export.DEFAULT_GRACE - SECOND
    decision = export.decide(spec(A), {A: None}, {A: queued()}, now=just_before, recorded={})
    assert decision.queue == ()
    after = T0 + export.DEFAULT_GRACE
    decision = export.decide(spec(A), {A: None}, {A: queued()}, now=after, recorded={})
    assert decision.queue == (A,)
    assert decision.create == ()


def test_no_call_after_the_call_window() -> None:
    recorded = export.recorded_for([A], {A: None}, R0)
    late = T0 + export.DEFAULT_CALL_WINDOW
    decision = export.decide(spec(A), {A: None}, {A: queued()}, now=late, recorded=recorded)
    assert decision == export.Decision()


def test_a_record_for_another_time_is_not_this_request() -> None:
    recorded = export.recorded_for([A], {A: None}, timestamps.format_time(T0 - SECOND))
    decision = export.decide(spec(A), {A: None}, {A: queued()}, now=T0 + SECOND, recorded=recorded)
    assert decision.create == ()


def test_a_task_listed_meanwhile_stops_the_call() -> None:
    recorded = export.recorded_for([A], {A: None}, R0)
    listed = {A: task(A, model.TaskState.IN_PROGRESS)}
    decision = export.decide(spec(A), listed, {A: queued()}, now=T0 + SECOND, recorded=recorded)
    assert decision == export.Decision()


# --- retry of a failed export ----------------------------------------------------------


def test_failed_is_retried_once_per_new_value() -> None:
    failed = {A: task(A, model.TaskState.FAILED), B: task(B, model.TaskState.COMPLETED)}
    first = export.decide(
        spec(A, B), failed, {}, now=T0, recorded={}, retry_requested="r1", retry_handled=None
    )
    assert first.queue == (A,)
    assert first.retry_handled == "r1"
    recorded = export.recorded_for(first.queue, failed, R0)
    second = export.decide(
        spec(A, B),
        failed,
        {A: queued()},
        now=T0 + SECOND,
        recorded=recorded,
        retry_requested="r1",
        retry_handled="r1",
    )
    assert second.create == (A,)
    # The new task failed too: the same value does not retry it again.
    again = export.decide(
        spec(A, B),
        failed,
        {},
        now=T0 + export.DEFAULT_GRACE,
        recorded={},
        retry_requested="r1",
        retry_handled="r1",
    )
    assert again.queue == again.create == ()


def test_a_failed_task_is_not_retried_without_a_request() -> None:
    failed = {A: task(A, model.TaskState.FAILED)}
    decision = export.decide(spec(A), failed, {}, now=T0, recorded={}, retry_handled="r1")
    assert decision.queue == ()
    assert decision.retry_handled == "r1"


def test_refused_entry_carries_aws_code_and_message() -> None:
    entry = export.refused_entry(A, BUCKET, "InvalidParameter", "bad bucket", R0)
    assert entry["state"] == "Failed"
    assert entry["failureReason"] == "InvalidParameter: bad bucket"


# --- the entries export mode shows -----------------------------------------------------


def test_entries_show_new_and_kept_queued_until_aws_lists_the_task() -> None:
    decision = export.Decision(queue=(B,))
    shown = export.entries(spec(A, B), {A: None, B: None}, {A: queued()}, decision, now=T0 + SECOND)
    assert shown[A] == queued()  # kept, with its own requestedTime
    assert shown[B]["state"] == "Queued"
    assert shown[B]["requestedTime"] == timestamps.format_time(T0 + SECOND)
    listed = {A: task(A, model.TaskState.IN_PROGRESS), B: None}
    shown = export.entries(spec(A, B), listed, {A: queued()}, export.Decision(), now=T0)
    assert A not in shown  # AWS's own entry takes over


def test_a_queued_entry_lapses_after_the_grace() -> None:
    later = T0 + export.DEFAULT_GRACE
    assert export.entries(spec(A), {A: None}, {A: queued()}, export.Decision(), now=later) == {}


def test_a_refused_create_stays_failed_and_is_not_requeued() -> None:
    shown = export.entries(
        spec(A),
        {A: None},
        {A: queued()},
        export.Decision(),
        now=T0 + SECOND,
        refused={A: ("InvalidParameter", "bad bucket")},
    )
    failed = shown[A]
    assert failed["state"] == "Failed"
    assert failed["failureReason"] == "InvalidParameter: bad bucket"
    assert failed["requestedTime"] == R0
    assert export.is_refused(failed)
    later = T0 + 2 * export.DEFAULT_GRACE
    assert export.decide(spec(A), {A: None}, {A: failed}, now=later, recorded={}).queue == ()
    assert export.entries(spec(A), {A: None}, {A: failed}, export.Decision(), now=later) == {
        A: failed
    }
