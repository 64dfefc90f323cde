"""The Kubernetes Events a status change emits.

One event the first time the operator records a task's state (a task first
seen already Completed gets one ``StoreCompleted``); never again for the same
state of the same task, so a restart emits nothing. ``SyncFailed`` and
``SyncRecovered`` follow the ``Synced`` condition. ``StoreStalled`` and
``StoreResumed`` come from ``stall``; ``capped`` bounds them with the others.

When the previous entries are only part of what was tracked (a status cut by
the 500-entry cap, read back after a restart), a task absent from them is new
only if it started after the time the caller gives (the previous poll): any
other may be one the cap cut, and announcing it again is what must not happen.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from amistore_operator.core import conditions, images, taskentries, timestamps

MAX_TASK_EVENTS = 20


@dataclasses.dataclass(frozen=True)
class Event:
    """A Kubernetes Event to emit on the resource."""

    type: str  # "Normal" | "Warning"
    # StoreStarted | StoreCompleted | StoreFailed | StoreStalled | StoreResumed | SyncFailed
    # | SyncRecovered | StoreRequested | StoreRequestFailed | ExportVerified | ObjectUnverified
    # | CleanupBlocked | ImageDeregistered
    reason: str
    message: str


def task_events(
    prev_entries: Mapping[str, Mapping[str, Any]],
    entries: Iterable[Mapping[str, Any]],
    new_after: datetime.datetime | None = None,
) -> list[Event]:
    """One event per entry whose state (or task) is new since ``prev_entries``.

    ``new_after``: set when ``prev_entries`` may lack tracked tasks; an entry absent from
    them is then new only if its task started after this time.
    """
    events = []
    for entry in entries:
        state = entry["state"]
        prev = prev_entries.get(entry["amiId"])
        if state in (taskentries.PENDING, taskentries.QUEUED):
            continue  # nothing started yet (StoreRequested comes from the create call)
        if prev is None and new_after is not None and not _started_after(entry, new_after):
            continue
        unchanged = prev is not None and prev.get("state") == state
        if (
            unchanged
            and prev is not None
            and taskentries.same_task(entry.get("taskStartTime"), prev)
        ):
            continue
        events.append(_task_event(entry))
    return events


def verified_events(
    prev_entries: Mapping[str, Mapping[str, Any]], entries: Iterable[Mapping[str, Any]]
) -> list[Event]:
    """``ExportVerified`` for each entry that gained its ``verifiedTime`` (see ``verify``)."""
    found = []
    for entry in entries:
        stamp = entry.get("verifiedTime")
        prev = prev_entries.get(entry.get("amiId", "")) or {}
        if not stamp or prev.get("verifiedTime") == stamp:
            continue
        size, storage = entry.get("objectSizeBytes"), entry.get("objectStorageClass")
        where = f"s3://{entry.get('bucket')}/{entry.get('s3ObjectKey')}"
        message = f"{entry.get('amiId')}: {where} exists, {size} bytes, {storage}"
        found.append(Event("Normal", "ExportVerified", message))
    return found


def _started_after(entry: Mapping[str, Any], moment: datetime.datetime) -> bool:
    start = timestamps.parse_time(entry.get("taskStartTime"))
    return start is not None and start > moment


def _task_event(entry: Mapping[str, Any]) -> Event:
    ami_id, state = entry["amiId"], entry["state"]
    target = _location(entry)
    if (
        state == taskentries.FAILED
        and entry.get("requestedTime")
        and not entry.get("taskStartTime")
    ):
        # AWS refused the operator's create: no task ever existed.
        return Event(
            "Warning",
            "StoreRequestFailed",
            f"{ami_id}: AWS refused to start a store task: {taskentries.reason_text(entry)}",
        )
    if state == taskentries.FAILED:
        return Event(
            "Warning",
            "StoreFailed",
            f"{ami_id}: store task failed: {taskentries.reason_text(entry)}",
        )
    if state == taskentries.COMPLETED:
        return Event("Normal", "StoreCompleted", f"{ami_id}: stored{target}")
    return Event("Normal", "StoreStarted", f"{ami_id}: store task started{target}")


def _location(entry: Mapping[str, Any]) -> str:
    bucket, key = entry.get("bucket"), entry.get("s3ObjectKey")
    if bucket and key:
        return f" as s3://{bucket}/{key}"
    return f" into bucket {bucket}" if bucket else ""


def cleanup_events(
    prev_entries: Mapping[str, Mapping[str, Any]], entries: Iterable[Mapping[str, Any]]
) -> list[Event]:
    """``CleanupBlocked`` for each entry newly blocked, or blocked for another reason.

    Its reason is the first word of ``cleanupReason`` (``core.cleanup``): a blocker's
    details changing (another reference) announce nothing new.
    """
    found = []
    for entry in entries:
        if entry.get("cleanupState") != "Blocked":
            continue
        prev = prev_entries.get(entry.get("amiId", "")) or {}
        reason = str(entry.get("cleanupReason") or "")
        before = str(prev.get("cleanupReason") or "")
        if prev.get("cleanupState") == "Blocked" and before.split(":")[0] == reason.split(":")[0]:
            continue
        found.append(Event("Warning", "CleanupBlocked", f"{entry.get('amiId')}: {reason}"))
    return found


def image_deregistered(
    ami_id: str, result: images.Deregistered, sizes: Mapping[str, images.Snapshot]
) -> Event:
    """``ImageDeregistered``, naming the snapshots deleted and those that were not."""
    deleted = [
        f"{s} ({sizes[s].size_bytes // 2**30} GiB)" if s in sizes else s for s in result.deleted()
    ]
    kept = [f"{s} ({code})" for s, code in result.kept()]
    message = f"{ami_id} deregistered"
    if deleted:
        message += f"; snapshots deleted: {', '.join(deleted)}"
    if kept:
        message += f"; snapshots kept: {', '.join(kept)}"
    return Event("Normal", "ImageDeregistered", message)


def capped(events: list[Event]) -> list[Event]:
    """At most MAX_TASK_EVENTS events, failures first, then one summary of the rest."""
    if len(events) <= MAX_TASK_EVENTS:
        return events
    events = sorted(events, key=lambda e: e.type != "Warning")
    shown, rest = events[:MAX_TASK_EVENTS], events[MAX_TASK_EVENTS:]
    tally = {reason: sum(1 for e in rest if e.reason == reason) for reason in _SUMMARY_ORDER}
    reason = next(r for r in _SUMMARY_ORDER if tally[r])
    detail = ", ".join(f"{n} {_SUMMARY_WORDS[r]}" for r, n in tally.items() if n)
    summary = Event(
        "Warning" if reason in _WARNINGS else "Normal",
        reason,
        f"and {len(rest)} more task changes ({detail}); see status.tasks",
    )
    return [*shown, summary]


_SUMMARY_ORDER = (
    "StoreFailed",
    "StoreStalled",
    "StoreCompleted",
    "StoreStarted",
    "StoreResumed",
    "ExportVerified",
    "ObjectUnverified",
    "CleanupBlocked",
)
_SUMMARY_WORDS = {
    "StoreFailed": "failed",
    "StoreStalled": "stalled",
    "StoreCompleted": "completed",
    "StoreStarted": "started",
    "StoreResumed": "resumed",
    "ExportVerified": "verified",
    "ObjectUnverified": "objects not found",
    "CleanupBlocked": "cleanups blocked",
}
_WARNINGS = ("StoreFailed", "StoreStalled", "ObjectUnverified", "CleanupBlocked")


def sync_events(prev: Mapping[str, Any], status: Mapping[str, Any]) -> list[Event]:
    """``SyncFailed`` when ``Synced`` turns False, ``SyncRecovered`` when it turns back."""
    old = conditions.synced(prev)
    new = conditions.synced(status)
    if new is None or (old is not None and old.get("status") == new["status"]):
        return []
    if new["status"] == "False":
        return [Event("Warning", "SyncFailed", f"{new['reason']}: {new['message']}")]
    if old is not None and old.get("status") == "False":
        return [
            Event("Normal", "SyncRecovered", f"AWS poll succeeded again (was {old.get('reason')})")
        ]
    return []
