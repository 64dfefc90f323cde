"""status.exportRecords: exports the task entries do not show, as plain values."""

from __future__ import annotations

from amistore_operator.core import exportrecords, model

OWN = ("", "eu-west-1", "archive-a")
OTHER = ("111111111111", "eu-west-1", "archive-b")


def test_records_round_trip_with_the_own_account_left_out() -> None:
    records = [
        exportrecords.request("ami-1", OTHER, "2026-01-01T00:00:00Z", "2026-01-01T00:16:00Z"),
        exportrecords.task("ami-2", OWN, "2026-01-01T00:01:00Z", model.TaskState.COMPLETED),
    ]
    rendered = exportrecords.render(records)
    assert rendered[0] == {
        "amiId": "ami-2",
        "region": "eu-west-1",
        "bucket": "archive-a",
        "state": "Completed",
        "taskStartTime": "2026-01-01T00:01:00Z",
    }
    assert rendered[1]["account"] == "111111111111"
    assert rendered[1]["expiresTime"] == "2026-01-01T00:16:00Z"
    assert sorted(exportrecords.parse(rendered), key=lambda r: r.ami_id) == records


def test_the_latest_record_per_target_and_ami_wins() -> None:
    request = exportrecords.request("ami-1", OWN, "2026-01-01T00:00:00Z", None)
    started = exportrecords.task("ami-1", OWN, "2026-01-01T00:00:00Z", model.TaskState.IN_PROGRESS)
    rendered = exportrecords.render([request, started])
    assert [r["state"] for r in rendered] == ["InProgress"]


def test_what_is_not_a_record_is_skipped() -> None:
    raw = [
        "x",
        {"amiId": "ami-1", "region": "eu-west-1", "bucket": "b", "state": "Pending"},
        {"amiId": "ami-1", "region": "eu-west-1", "bucket": "b", "state": "Queued"},
        {"amiId": "ami-1", "bucket": "b", "state": "Completed", "taskStartTime": "t"},
    ]
    assert exportrecords.parse(raw) == []
    assert exportrecords.parse(None) == []
