"""Pure rendering: AmiStore dicts and Events in, rows and lines of text out (no IO, no clock)."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from amistore_operator.core import timestamps
from amistore_operator.plugin import durations

Obj = Mapping[str, Any]
BAR_WIDTH = 20


def bar(percent: int, width: int = BAR_WIDTH, *, ascii_only: bool = False) -> str:
    """A progress bar ``width`` cells wide: ``█████░░░░░`` (``#####.....`` in ASCII)."""
    full, empty = ("#", ".") if ascii_only else ("█", "░")
    filled = max(0, min(width, percent * width // 100))
    return full * filled + empty * (width - filled)


def percent(entry: Obj) -> int:
    """An entry's ``progressPercentage`` as an int in 0..100 (0 when absent)."""
    value = entry.get("progressPercentage")
    return max(0, min(100, value)) if isinstance(value, int) else 0


def status_of(obj: Obj) -> Obj:
    """An AmiStore's status ({} before the operator's first write)."""
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


def condition(obj: Obj, kind: str) -> Obj:
    """One condition of an AmiStore's status, or {}."""
    for entry in status_of(obj).get("conditions") or []:
        if isinstance(entry, Mapping) and entry.get("type") == kind:
            return entry
    return {}


def state(obj: Obj) -> str:
    """The resource's state; ``Unknown`` before the first status."""
    return str(status_of(obj).get("state") or "Unknown")


def eta(entry: Obj, now: datetime.datetime) -> str:
    """The ETA of a status or task entry as text (blank without an estimate)."""
    return durations.eta(timestamps.parse_time(entry.get("estimatedCompletionTime")), now)


@dataclasses.dataclass(frozen=True)
class ListRow:
    """One AmiStore in ``kubectl amistore list``."""

    namespace: str
    name: str
    state: str
    percent: int
    done: str
    eta: str
    synced: str
    age: str


def list_rows(items: Iterable[Obj], now: datetime.datetime) -> list[ListRow]:
    """One row per AmiStore, sorted by namespace and name."""
    rows = []
    for obj in items:
        meta, status = obj.get("metadata", {}), status_of(obj)
        created = timestamps.parse_time(meta.get("creationTimestamp"))
        rows.append(
            ListRow(
                namespace=str(meta.get("namespace", "")),
                name=str(meta.get("name", "")),
                state=state(obj),
                percent=percent(status),
                done=f"{status.get('tasksCompleted', 0)}/{status.get('tasksTotal', 0)}",
                eta=eta(status, now),
                synced=str(condition(obj, "Synced").get("status", "")),
                age=durations.age(created, now),
            )
        )
    return sorted(rows, key=lambda row: (row.namespace, row.name))


@dataclasses.dataclass(frozen=True)
class TaskRow:
    """One task of an AmiStore in ``status`` and ``watch``."""

    ami: str
    state: str
    percent: int
    eta: str
    reason: str
    object: str = ""  # verifyObjects: the object's size and storage class, once verified
    cleanup: str = ""  # afterExport: the cleanup state, with a blocker's reason


def size(count: float) -> str:
    """Bytes as a person reads them: ``8.0 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def object_text(task: Obj) -> str:
    """A verified task's object: its size and storage class (empty until verified)."""
    found = task.get("objectSizeBytes")
    if not task.get("verifiedTime") or not isinstance(found, int):
        return ""
    return f"{size(found)} {task.get('objectStorageClass') or 'STANDARD'}"


def cleanup_text(task: Obj) -> str:
    """afterExport's state of a task: ``Deregistered``, ``Blocked: ImageInUse`` (or empty)."""
    found = task.get("cleanupState")
    if not isinstance(found, str):
        return ""
    why = str(task.get("cleanupReason") or "").split(":", 1)[0]
    return f"{found}: {why}" if found == "Blocked" and why else found


def task_rows(obj: Obj, now: datetime.datetime) -> list[TaskRow]:
    """The status's tasks, in the status's order (newest first)."""
    return [
        TaskRow(
            ami=str(task.get("amiId", "")),
            state=str(task.get("state", "")),
            percent=percent(task),
            eta=eta(task, now) if task.get("state") == "InProgress" else "",
            reason=str(task.get("failureReason", "")),
            object=object_text(task),
            cleanup=cleanup_text(task),
        )
        for task in status_of(obj).get("tasks") or []
        if isinstance(task, Mapping)
    ]


def summary(obj: Obj, now: datetime.datetime) -> list[tuple[str, str]]:
    """The headline fields of ``status``, as (label, value) pairs."""
    meta, status, spec = obj.get("metadata", {}), status_of(obj), obj.get("spec") or {}
    counts = ", ".join(
        f"{status.get(key, 0)} {label}"
        for key, label in (
            ("tasksCompleted", "completed"),
            ("tasksInProgress", "in progress"),
            ("tasksFailed", "failed"),
            ("tasksPending", "pending"),
        )
    )
    poll = timestamps.parse_time(status.get("lastPollTime"))
    pairs = [
        ("Name", str(meta.get("name", ""))),
        ("Namespace", str(meta.get("namespace", ""))),
        ("State", state(obj)),
        ("Progress", f"{percent(status)}%"),
        ("Tasks", f"{status.get('tasksTotal', 0)} ({counts})"),
        ("ETA", eta(status, now) or "-"),
        ("Region", str(status.get("region") or spec.get("region") or "-")),
        ("Bucket", str(spec.get("bucket") or "-")),
        ("Last poll", f"{durations.age(poll, now)} ago" if poll else "-"),
    ]
    if status and status.get("observedGeneration") != meta.get("generation"):
        pairs.append(("Note", "the operator has not acted on the latest spec yet"))
    return pairs


def condition_rows(obj: Obj) -> list[tuple[str, str, str, str]]:
    """(type, status, reason, message) for each condition."""
    return [
        (
            str(c.get("type", "")),
            str(c.get("status", "")),
            str(c.get("reason", "")),
            str(c.get("message", "")),
        )
        for c in status_of(obj).get("conditions") or []
        if isinstance(c, Mapping)
    ]


def event_rows(
    events: Sequence[Obj], now: datetime.datetime, limit: int = 10
) -> list[tuple[str, str, str, str]]:
    """(type, reason, age, message) of the last ``limit`` Events, oldest first.

    kube-apiserver keeps ``lastTimestamp`` to the second and ``eventTime`` to the
    microsecond: Events of the same second are ordered by ``eventTime``.
    """
    never = datetime.datetime.min.replace(tzinfo=datetime.UTC)

    def when(event: Obj) -> datetime.datetime:
        for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
            moment = timestamps.parse_time(event.get(key))
            if moment:
                return moment
        return never

    def order(event: Obj) -> tuple[datetime.datetime, datetime.datetime]:
        precise = timestamps.parse_time(event.get("eventTime")) or never
        return when(event).replace(microsecond=0), precise

    last = sorted(events, key=order)[-limit:]
    return [
        (
            str(e.get("type", "")),
            str(e.get("reason", "")),
            durations.age(when(e), now),
            str(e.get("message", "")),
        )
        for e in last
    ]


def plain_lines(obj: Obj, now: datetime.datetime) -> list[str]:
    """A resource and its tasks as plain lines, for logs (no bars, no colour)."""
    status = status_of(obj)
    name = obj.get("metadata", {}).get("name", "")
    head = (
        f"{name} {state(obj)} {percent(status)}% "
        f"{status.get('tasksCompleted', 0)}/{status.get('tasksTotal', 0)} completed"
    )
    text = eta(status, now)
    lines = [f"{head} eta {text}" if text else head]
    for row in task_rows(obj, now):
        line = f"  {row.ami} {row.state} {row.percent}%"
        line += f" eta {row.eta}" if row.eta else ""
        line += f" object {row.object}" if row.object else ""
        line += f" cleanup {row.cleanup}" if row.cleanup else ""
        lines.append(f"{line}: {row.reason}" if row.reason else line)
    return lines
