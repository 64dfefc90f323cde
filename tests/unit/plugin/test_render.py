"""Pure rendering of the kubectl plugin: rows, bars, ETA text and plain lines from dicts."""

from __future__ import annotations

import datetime
from typing import Any

from amistore_operator.plugin import render

NOW = datetime.datetime(2026, 11, 27, 4, 0, tzinfo=datetime.UTC)


def store(name: str = "golden", ns: str = "team", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": ns,
            "generation": 1,
            "creationTimestamp": "2026-11-27T03:58:00Z",
        },
        "spec": {"bucket": "acme-ami-archive"},
        "status": status,
    }


def test_bar_cells_follow_the_percentage() -> None:
    assert render.bar(0) == "░" * 20
    assert render.bar(100) == "█" * 20
    assert render.bar(35) == "█" * 7 + "░" * 13
    assert render.bar(99) == "█" * 19 + "░"  # 100% only when done
    assert render.bar(50, 10, ascii_only=True) == "#####....."


def test_list_rows_sorted_with_eta_synced_and_age() -> None:
    first = store(
        "b",
        state="InProgress",
        progressPercentage=40,
        tasksCompleted=1,
        tasksTotal=3,
        estimatedCompletionTime="2026-11-27T05:20:00Z",
        conditions=[{"type": "Synced", "status": "True"}],
    )
    overdue = store("a", state="InProgress", estimatedCompletionTime="2026-11-27T03:55:00Z")
    rows = render.list_rows([first, overdue, store("c", ns="alpha")], NOW)
    assert [(r.namespace, r.name) for r in rows] == [("alpha", "c"), ("team", "a"), ("team", "b")]
    assert rows[2] == render.ListRow("team", "b", "InProgress", 40, "1/3", "in 1h20m", "True", "2m")
    assert rows[1].eta == "overdue 5m"
    assert (rows[0].state, rows[0].percent, rows[0].done, rows[0].eta) == ("Unknown", 0, "0/0", "")


def test_task_rows_show_eta_only_while_in_progress_and_the_reason() -> None:
    obj = store(
        tasks=[
            {
                "amiId": "ami-1",
                "state": "InProgress",
                "progressPercentage": 30,
                "estimatedCompletionTime": "2026-11-27T04:10:00Z",
            },
            {
                "amiId": "ami-2",
                "state": "Failed",
                "progressPercentage": 35,
                "failureReason": "Access Denied",
                "estimatedCompletionTime": "2026-11-27T04:10:00Z",
            },
            {"amiId": "ami-3", "state": "Pending"},
        ]
    )
    assert render.task_rows(obj, NOW) == [
        render.TaskRow("ami-1", "InProgress", 30, "in 10m", ""),
        render.TaskRow("ami-2", "Failed", 35, "", "Access Denied"),
        render.TaskRow("ami-3", "Pending", 0, "", ""),
    ]


def test_summary_notes_a_status_of_an_older_generation() -> None:
    current = dict(render.summary(store(state="Completed", observedGeneration=1), NOW))
    assert current["State"] == "Completed"
    assert "Note" not in current
    stale = store(state="Completed", observedGeneration=1)
    stale["metadata"]["generation"] = 2
    assert "not acted on the latest spec" in dict(render.summary(stale, NOW))["Note"]


def test_event_rows_are_the_last_ones_oldest_first() -> None:
    events = [
        {
            "type": "Normal",
            "reason": f"R{i}",
            "message": f"m{i}",
            "lastTimestamp": f"2026-11-27T03:5{i}:00Z",
        }
        for i in (3, 1, 2)
    ]
    assert render.event_rows(events, NOW, limit=2) == [
        ("Normal", "R2", "8m", "m2"),
        ("Normal", "R3", "7m", "m3"),
    ]


def test_event_rows_of_the_same_second_follow_their_event_time() -> None:
    # As kube-apiserver stores kopf's Events: lastTimestamp to the second only.
    events = [
        {
            "type": "Normal",
            "reason": reason,
            "message": "",
            "lastTimestamp": "2026-11-27T03:59:00Z",
            "eventTime": f"2026-11-27T03:59:00.{micro:06d}Z",
        }
        for reason, micro in (("SyncRecovered", 900000), ("SyncFailed", 100000))
    ]
    assert [row[1] for row in render.event_rows(events, NOW)] == ["SyncFailed", "SyncRecovered"]


def test_plain_lines() -> None:
    obj = store(
        state="Failed",
        progressPercentage=35,
        tasksCompleted=0,
        tasksTotal=1,
        tasks=[
            {
                "amiId": "ami-2",
                "state": "Failed",
                "progressPercentage": 35,
                "failureReason": "Access Denied",
            }
        ],
    )
    assert render.plain_lines(obj, NOW) == [
        "golden Failed 35% 0/1 completed",
        "  ami-2 Failed 35%: Access Denied",
    ]


def test_a_verified_task_shows_its_object_size_and_storage_class() -> None:
    verified = {
        "amiId": "ami-1",
        "state": "Completed",
        "progressPercentage": 100,
        "objectSizeBytes": 8 * 2**30,
        "objectStorageClass": "GLACIER",
        "verifiedTime": "2026-11-27T04:00:00Z",
    }
    unverified = {"amiId": "ami-2", "state": "Completed", "progressPercentage": 100}
    rows = render.task_rows(store(tasks=[verified, unverified]), NOW)
    assert [row.object for row in rows] == ["8.0 GiB GLACIER", ""]
    assert render.size(512) == "512 B"
    assert render.size(1536) == "1.5 KiB"
    lines = render.plain_lines(store(tasks=[verified]), NOW)
    assert lines[-1] == "  ami-1 Completed 100% object 8.0 GiB GLACIER"


def test_a_cleaned_up_task_shows_its_cleanup_state_and_a_blockers_reason() -> None:
    done = {"amiId": "ami-1", "state": "Completed", "progressPercentage": 100}
    blocked = {**done, "amiId": "ami-2", "cleanupState": "Blocked"}
    blocked["cleanupReason"] = "ImageInUse: used by ec2:LaunchTemplate arn:aws:ec2:..."
    gone = {**done, "amiId": "ami-3", "cleanupState": "Deregistered"}
    rows = render.task_rows(store(tasks=[blocked, gone, done]), NOW)
    assert [row.cleanup for row in rows] == ["Blocked: ImageInUse", "Deregistered", ""]
    lines = render.plain_lines(store(tasks=[gone]), NOW)
    assert lines[-1] == "  ami-3 Completed 100% cleanup Deregistered"
