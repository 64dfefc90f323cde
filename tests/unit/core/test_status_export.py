"""The status with export mode: Queued entries, ExportReady, the request events."""

from __future__ import annotations

import datetime

from amistore_operator.core import exportentries, model, status

A = "ami-0000000a"
T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
STAMP = status.format_time(T0)
SPEC = model.AmiStoreSpec(
    image_ids=(A,),
    bucket="amis-prod",
    task_states=(),
    region="eu-west-1",
    poll_interval=2,
    create_tasks=True,
)
READY = ("ExportReady", "True", "Ready", "ok")


def reconcile(previous: dict[str, object] | None, **export_args: object) -> status.Outcome:
    view = model.ResourceView(tasks={A: None}, error=None)
    return status.reconcile(previous, SPEC, view, generation=1, now=T0, **export_args)  # type: ignore[arg-type]


def test_queued_shows_counts_as_pending_and_announces_nothing() -> None:
    outcome = reconcile(
        None, export_entries={A: exportentries.queued_entry(A, STAMP)}, export_condition=READY
    )
    entry = outcome.status["tasks"][0]
    assert (entry["state"], entry["requestedTime"]) == ("Queued", STAMP)
    assert outcome.status["tasksPending"] == 1
    assert outcome.events == ()
    ready = [c for c in outcome.status["conditions"] if c["type"] == "ExportReady"]
    assert [(c["status"], c["reason"]) for c in ready] == [("True", "Ready")]


def test_no_export_condition_without_create_tasks() -> None:
    outcome = reconcile(None)
    assert "ExportReady" not in {c["type"] for c in outcome.status["conditions"]}


def test_a_refused_create_is_failed_with_one_warning() -> None:
    queued = reconcile(None, export_entries={A: exportentries.queued_entry(A, STAMP)})
    refused = exportentries.refused_entry(A, "amis-prod", "InvalidParameter: bad bucket", STAMP)
    refused["requestedTime"] = STAMP
    outcome = reconcile(queued.status, export_entries={A: refused})
    assert outcome.status["tasks"][0]["state"] == "Failed"
    failed = [c for c in outcome.status["conditions"] if c["type"] == "Failed"]
    assert failed[0]["status"] == "True"
    assert [(e.type, e.reason) for e in outcome.events] == [("Warning", "StoreRequestFailed")]
    assert "InvalidParameter: bad bucket" in outcome.events[0].message


def test_the_handled_retry_value_is_recorded_and_kept() -> None:
    first = reconcile(None, export_condition=READY, export_retry_handled="2026-01-01T00:00:00Z")
    assert first.status["lastHandledRetryAt"] == "2026-01-01T00:00:00Z"
    again = reconcile(first.status, export_condition=READY)
    assert again.status["lastHandledRetryAt"] == "2026-01-01T00:00:00Z"
    assert not again.changed
    rejected = status.reject_spec(again.status, "bad", generation=2, now=T0)
    assert rejected.status["lastHandledRetryAt"] == "2026-01-01T00:00:00Z"


def test_a_waiting_entry_is_queued_without_a_request_and_stays_unwritten() -> None:
    waiting = exportentries.waiting_entry(A, STAMP)
    first = reconcile(None, export_entries={A: waiting}, export_condition=READY)
    entry = first.status["tasks"][0]
    assert entry["state"] == "Queued"
    assert "requestedTime" not in entry
    assert first.status["tasksPending"] == 1
    again = reconcile(first.status, export_entries={A: dict(waiting)}, export_condition=READY)
    assert not again.changed
    assert again.events == ()


def test_a_rejected_spec_keeps_its_export_records_or_writes_the_new_ones() -> None:
    record = {"amiId": A, "region": "eu-west-1", "bucket": "amis-prod", "state": "Queued"}
    first = reconcile(None, export_records=[{**record, "requestedTime": STAMP}])
    kept = status.reject_spec(first.status, "bad", generation=2, now=T0)
    assert kept.status["exportRecords"] == first.status["exportRecords"]
    later = {**record, "requestedTime": status.format_time(T0 + datetime.timedelta(seconds=1))}
    new = status.reject_spec(first.status, "bad", generation=2, now=T0, export_records=[later])
    assert new.status["exportRecords"] == [later]
    gone = status.reject_spec(first.status, "bad", generation=2, now=T0, export_records=[])
    assert gone.status["exportRecords"] is None  # a merge patch deletes it
