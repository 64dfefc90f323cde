"""Queued (export requested, not yet listed by AWS) counts like Pending."""

from __future__ import annotations

from typing import Any

from amistore_operator.core import aggregate


def test_queued_counts_as_pending_with_no_progress() -> None:
    entries: list[dict[str, Any]] = [
        {"amiId": "ami-00000001", "state": "Queued", "requestedTime": "2026-01-01T00:00:00Z"},
        {"amiId": "ami-00000002", "state": "Completed", "progressPercentage": 100},
    ]
    summary = aggregate.aggregate(entries, ever_polled=True)
    assert summary["state"] == "Pending"
    assert summary["tasksPending"] == 1
    assert summary["tasksTotal"] == 2
    assert summary["progressPercentage"] == 50


def test_only_queued_is_pending() -> None:
    entries = [{"amiId": "ami-00000001", "state": "Queued"}]
    assert aggregate.aggregate(entries, ever_polled=True)["state"] == "Pending"
