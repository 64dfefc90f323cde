"""The pure core: previous status, spec and AWS's view in; new status and events out.

No kopf, boto3, clock, network or logging here: ``now`` is passed in, and the
result is plain JSON-ready data.

Write rule: ``Outcome.changed`` is True iff the new status differs from the
previous one in anything other than ``lastPollTime``. When it is False, the
returned status carries the previous ``lastPollTime`` untouched (it equals the
previous status), so the caller writes nothing: an unchanged resource gets zero
status writes however often it is polled. ``lastPollTime`` is the time of the
last successful poll; a failed poll or a rejected spec keeps the previous one.

Decisions where the contract leaves room:

- Task entries omit keys whose value is unknown (``failureReason`` only on
  Failed tasks with a reason; ``bucket``, ``s3ObjectKey``, ``taskStartTime``
  only when AWS gave them). Empty strings are never written.
- An entry's ``lastTransitionTime`` moves when its ``state`` changes or when a
  new store task (a different ``taskStartTime``) replaces the entry's task.
- ``progressPercentage`` of the resource is the floored mean, so 100 means
  every task is done. A Completed task always counts (and shows) 100.
- Counts, ``state`` and conditions cover every tracked task, also those cut
  from ``tasks`` by the 500-entry cap.
- One event the first time the operator records a task's state (a task first
  seen already Completed gets one ``StoreCompleted``); never again for the same
  state of the same task, so a restart emits nothing.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from amistore_operator import model

MAX_TASK_ENTRIES = 500
MAX_TASK_EVENTS = 20
MAX_FAILED_IN_MESSAGE = 10
MAX_REASON_CHARS = 200

UNKNOWN = "Unknown"
_PENDING = model.TaskState.PENDING.value
_IN_PROGRESS = model.TaskState.IN_PROGRESS.value
_COMPLETED = model.TaskState.COMPLETED.value
_FAILED = model.TaskState.FAILED.value
_TERMINAL = frozenset({_COMPLETED, _FAILED})
_CONDITION_TYPES = ("Synced", "Complete", "Failed")


@dataclasses.dataclass(frozen=True)
class Event:
    """A Kubernetes Event to emit on the resource."""

    type: str  # "Normal" | "Warning"
    reason: str  # StoreStarted | StoreCompleted | StoreFailed | SyncFailed | SyncRecovered
    message: str


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The new status, whether it must be written, and the events to emit."""

    status: dict[str, Any]  # the complete new status, JSON-ready
    changed: bool  # True iff a write is needed (see the module docstring)
    events: tuple[Event, ...]


def format_time(moment: datetime.datetime) -> str:
    """Render ``moment`` as RFC 3339 UTC with whole seconds: ``2026-11-27T04:00:00Z``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any) -> datetime.datetime | None:
    """Parse an RFC 3339 timestamp from a status; None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def reconcile(
    previous: Mapping[str, Any] | None,
    spec: model.AmiStoreSpec,
    view: model.ResourceView,
    *,
    generation: int,
    now: datetime.datetime,
) -> Outcome:
    """Merge AWS's view into the previous status for one resource."""
    prev = _plain(previous) if previous else {}
    stamp = format_time(now)
    prev_entries = {e["amiId"]: e for e in _entries(prev) if e.get("amiId")}
    if spec.image_ids:
        entries = _tracked_ids(spec, view, prev_entries, stamp)
    else:
        entries = _listing(spec, view, prev_entries, stamp)
    entries.sort(key=_order)

    ever_polled = view.error is None or bool(view.tasks) or _was_polled(prev)
    status = _aggregate(entries, ever_polled)
    status["observedGeneration"] = generation
    last_poll = stamp if view.error is None else prev.get("lastPollTime")
    if last_poll is not None:
        status["lastPollTime"] = last_poll
    if view.error is None:
        synced = ("Synced", "True", "Polled", "The last AWS poll succeeded")
    else:
        message = view.error.message or f"AWS poll failed: {view.error.reason.value}"
        synced = ("Synced", "False", view.error.reason.value, message)
    status["conditions"] = _conditions(
        prev, [synced, *_task_conditions(entries, ever_polled)], generation, stamp
    )
    status["tasks"] = entries[:MAX_TASK_ENTRIES]

    events = [*_sync_events(prev, status), *_capped(_task_events(prev_entries, entries))]
    return _outcome(prev, status, events)


def reject_spec(
    previous: Mapping[str, Any] | None,
    message: str,
    *,
    generation: int,
    now: datetime.datetime,
) -> Outcome:
    """Mark the resource ``Synced=False`` (InvalidSpec), keeping what is known of its tasks."""
    prev = _plain(previous) if previous else {}
    stamp = format_time(now)
    entries = list(_entries(prev))
    ever_polled = _was_polled(prev)
    status = _aggregate(entries, ever_polled)
    for key in ("state", "progressPercentage", *_COUNT_KEYS.values()):
        if key in prev:  # the previous counts may cover entries cut by the cap
            status[key] = prev[key]
    status["observedGeneration"] = generation
    if "lastPollTime" in prev:
        status["lastPollTime"] = prev["lastPollTime"]
    synced = ("Synced", "False", model.PollErrorReason.INVALID_SPEC.value, message)
    fresh = _conditions(prev, [synced, *_task_conditions(entries, ever_polled)], generation, stamp)
    # Complete and Failed describe the tasks under the last valid spec: keep them as they were.
    by_type = {c.get("type"): c for c in prev.get("conditions", ())}
    status["conditions"] = [fresh[0], *(by_type.get(c["type"]) or c for c in fresh[1:])]
    status["tasks"] = entries
    return _outcome(prev, status, _sync_events(prev, status))


def known_tasks(previous: Mapping[str, Any] | None) -> dict[str, model.StoreTask]:
    """The previous status' started tasks as ``StoreTask`` values, by AMI ID."""
    known: dict[str, model.StoreTask] = {}
    for entry in _entries(_plain(previous) if previous else {}):
        state = entry.get("state")
        ami_id = entry.get("amiId")
        if state not in model.AWS_TASK_STATES or not isinstance(ami_id, str):
            continue
        progress = entry.get("progressPercentage")
        known[ami_id] = model.StoreTask(
            ami_id=ami_id,
            state=model.TaskState(state),
            progress=progress if isinstance(progress, int) else 0,
            bucket=entry.get("bucket"),
            s3_object_key=entry.get("s3ObjectKey"),
            start_time=parse_time(entry.get("taskStartTime")),
            failure_reason=entry.get("failureReason"),
        )
    return known


# --- task entries -------------------------------------------------------------


def _tracked_ids(
    spec: model.AmiStoreSpec,
    view: model.ResourceView,
    prev_entries: Mapping[str, dict[str, Any]],
    stamp: str,
) -> list[dict[str, Any]]:
    entries = []
    for ami_id in spec.image_ids:
        prev = prev_entries.get(ami_id)
        if prev is not None and not _matches(prev, spec):
            prev = None  # e.g. a task into the bucket the spec used before
        if ami_id in view.tasks:
            entries.append(_merge(ami_id, prev, view.tasks[ami_id], spec, stamp))
        elif prev is not None:
            entries.append(prev)  # nothing fresh (a failed poll, or not re-polled this time)
        else:
            entries.append(_pending(ami_id, None, stamp))
    return entries


def _listing(
    spec: model.AmiStoreSpec,
    view: model.ResourceView,
    prev_entries: Mapping[str, dict[str, Any]],
    stamp: str,
) -> list[dict[str, Any]]:
    entries = []
    shown = set()
    for ami_id in sorted(view.tasks):
        task = view.tasks[ami_id]
        if task is None or not _task_matches(task, spec):
            continue
        prev = prev_entries.get(ami_id)
        if prev is not None and not _matches(prev, spec):
            prev = None
        shown.add(ami_id)
        entries.append(_merge(ami_id, prev, task, spec, stamp))
    for ami_id in sorted(prev_entries):
        prev = prev_entries[ami_id]
        if ami_id in shown or not _matches(prev, spec) or prev.get("state") == _PENDING:
            continue
        # AWS forgets tasks after 31 days; a failed poll says nothing about any task.
        if prev.get("state") in _TERMINAL or view.error is not None:
            entries.append(prev)
    return entries


def _merge(
    ami_id: str,
    prev: dict[str, Any] | None,
    task: model.StoreTask | None,
    spec: model.AmiStoreSpec,
    stamp: str,
) -> dict[str, Any]:
    if task is not None and not _task_matches(task, spec):
        task = None  # a task into another bucket is no task for this resource
    if task is None:
        if prev is not None and prev.get("state") in _TERMINAL:
            return prev  # status never regresses because AWS forgot a task
        return _pending(ami_id, prev, stamp)
    start = format_time(task.start_time) if task.start_time else None
    if prev is not None and prev.get("state") != _PENDING and _older(start, prev):
        return prev
    same = prev is not None and prev.get("state") != _PENDING and _same_task(start, prev)
    state = task.state.value
    progress = 100 if state == _COMPLETED else max(0, min(100, task.progress))
    if same and prev is not None and isinstance(prev.get("progressPercentage"), int):
        progress = max(progress, prev["progressPercentage"])
    entry: dict[str, Any] = {"amiId": ami_id, "state": state, "progressPercentage": progress}
    if state == _FAILED and task.failure_reason:
        entry["failureReason"] = task.failure_reason
    if task.bucket:
        entry["bucket"] = task.bucket
    if task.s3_object_key:
        entry["s3ObjectKey"] = task.s3_object_key
    if start:
        entry["taskStartTime"] = start
    kept = same and prev is not None and prev.get("state") == state
    entry["lastTransitionTime"] = _transition(prev, stamp) if kept else stamp
    return entry


def _pending(ami_id: str, prev: dict[str, Any] | None, stamp: str) -> dict[str, Any]:
    was_pending = prev is not None and prev.get("state") == _PENDING
    return {
        "amiId": ami_id,
        "state": _PENDING,
        "progressPercentage": 0,
        "lastTransitionTime": _transition(prev, stamp) if was_pending else stamp,
    }


def _transition(prev: dict[str, Any] | None, stamp: str) -> str:
    value = prev.get("lastTransitionTime") if prev else None
    return value if isinstance(value, str) and value else stamp


def _older(start: str | None, prev: Mapping[str, Any]) -> bool:
    new, old = parse_time(start), parse_time(prev.get("taskStartTime"))
    return new is not None and old is not None and new < old


def _same_task(start: str | None, prev: Mapping[str, Any]) -> bool:
    # Without both start times there is nothing to tell two tasks apart by.
    new, old = parse_time(start), parse_time(prev.get("taskStartTime"))
    return new is None or old is None or new == old


def _matches(entry: Mapping[str, Any], spec: model.AmiStoreSpec) -> bool:
    bucket = entry.get("bucket")
    if spec.bucket and bucket and bucket != spec.bucket:
        return False
    state = entry.get("state")
    return not spec.task_states or state == _PENDING or state in spec.task_states


def _task_matches(task: model.StoreTask, spec: model.AmiStoreSpec) -> bool:
    return _matches({"bucket": task.bucket, "state": task.state.value}, spec)


def _order(entry: Mapping[str, Any]) -> tuple[int, float]:
    """Newest start first, then started tasks without a start time, then Pending."""
    if entry.get("state") == _PENDING:
        return (2, 0.0)
    start = parse_time(entry.get("taskStartTime"))
    return (1, 0.0) if start is None else (0, -start.timestamp())


# --- aggregate and conditions ---------------------------------------------------

_COUNT_KEYS = {
    _COMPLETED: "tasksCompleted",
    _FAILED: "tasksFailed",
    _IN_PROGRESS: "tasksInProgress",
    _PENDING: "tasksPending",
}


def _aggregate(entries: Sequence[Mapping[str, Any]], ever_polled: bool) -> dict[str, Any]:
    counts = dict.fromkeys(_COUNT_KEYS, 0)
    total_progress = 0
    for entry in entries:
        state = entry.get("state")
        if state in counts:
            counts[state] += 1
        progress = entry.get("progressPercentage")
        if state == _COMPLETED:
            total_progress += 100
        elif state != _PENDING and isinstance(progress, int):
            total_progress += progress
    if not ever_polled:
        state = UNKNOWN
    elif counts[_IN_PROGRESS]:
        state = _IN_PROGRESS
    elif counts[_FAILED]:
        state = _FAILED
    elif counts[_PENDING] or not entries:
        state = _PENDING
    else:
        state = _COMPLETED
    status: dict[str, Any] = {
        "state": state,
        "progressPercentage": total_progress // len(entries) if entries else 0,
        "tasksTotal": len(entries),
    }
    status.update({key: counts[task_state] for task_state, key in _COUNT_KEYS.items()})
    return status


def _task_conditions(
    entries: Sequence[Mapping[str, Any]], ever_polled: bool
) -> list[tuple[str, str, str, str]]:
    """The ``Complete`` and ``Failed`` conditions as (type, status, reason, message)."""
    if not ever_polled:
        waiting = "No successful AWS poll yet"
        return [
            ("Complete", "Unknown", "NotPolled", waiting),
            ("Failed", "Unknown", "NotPolled", waiting),
        ]
    total = len(entries)
    done = sum(1 for e in entries if e.get("state") == _COMPLETED)
    if total and done == total:
        complete = ("Complete", "True", "AllTasksCompleted", f"All {total} store tasks completed")
    elif not total:
        complete = ("Complete", "False", "NoTasks", "No store task matched yet")
    else:
        complete = (
            "Complete",
            "False",
            "TasksNotCompleted",
            f"{done} of {total} store tasks completed",
        )
    failed = [e for e in entries if e.get("state") == _FAILED]
    if not failed:
        return [complete, ("Failed", "False", "NoTaskFailed", "No store task failed")]
    parts = [f"{e['amiId']}: {_reason_text(e)}" for e in failed[:MAX_FAILED_IN_MESSAGE]]
    if len(failed) > MAX_FAILED_IN_MESSAGE:
        parts.append(f"and {len(failed) - MAX_FAILED_IN_MESSAGE} more")
    return [complete, ("Failed", "True", "TasksFailed", "; ".join(parts))]


def _reason_text(entry: Mapping[str, Any]) -> str:
    reason = entry.get("failureReason")
    if not isinstance(reason, str) or not reason:
        return "failed without a reason from AWS"
    if len(reason) > MAX_REASON_CHARS:
        return reason[: MAX_REASON_CHARS - 3] + "..."
    return reason


def _conditions(
    prev: Mapping[str, Any],
    fresh: Iterable[tuple[str, str, str, str]],
    generation: int,
    stamp: str,
) -> list[dict[str, Any]]:
    by_type = {c.get("type"): c for c in prev.get("conditions", ())}
    conditions = []
    for kind, status, reason, message in fresh:
        old = by_type.get(kind) or {}
        since = old.get("lastTransitionTime") if old.get("status") == status else None
        conditions.append(
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastTransitionTime": since or stamp,  # moves only when status flips
                "observedGeneration": generation,
            }
        )
    return conditions


def _was_polled(prev: Mapping[str, Any]) -> bool:
    return prev.get("state") not in (None, UNKNOWN)


# --- events -------------------------------------------------------------------


def _task_events(
    prev_entries: Mapping[str, Mapping[str, Any]], entries: Iterable[Mapping[str, Any]]
) -> list[Event]:
    events = []
    for entry in entries:
        state = entry["state"]
        prev = prev_entries.get(entry["amiId"])
        if state == _PENDING:
            continue
        unchanged = prev is not None and prev.get("state") == state
        if unchanged and prev is not None and _same_task(entry.get("taskStartTime"), prev):
            continue
        events.append(_task_event(entry))
    return events


def _task_event(entry: Mapping[str, Any]) -> Event:
    ami_id, state = entry["amiId"], entry["state"]
    target = _location(entry)
    if state == _FAILED:
        return Event(
            "Warning", "StoreFailed", f"{ami_id}: store task failed: {_reason_text(entry)}"
        )
    if state == _COMPLETED:
        return Event("Normal", "StoreCompleted", f"{ami_id}: stored{target}")
    return Event("Normal", "StoreStarted", f"{ami_id}: store task started{target}")


def _location(entry: Mapping[str, Any]) -> str:
    bucket, key = entry.get("bucket"), entry.get("s3ObjectKey")
    if bucket and key:
        return f" as s3://{bucket}/{key}"
    return f" into bucket {bucket}" if bucket else ""


def _capped(events: list[Event]) -> list[Event]:
    """At most MAX_TASK_EVENTS events, failures first, then one summary of the rest."""
    if len(events) <= MAX_TASK_EVENTS:
        return events
    events = sorted(events, key=lambda e: e.type != "Warning")
    shown, rest = events[:MAX_TASK_EVENTS], events[MAX_TASK_EVENTS:]
    tally = {reason: sum(1 for e in rest if e.reason == reason) for reason in _SUMMARY_ORDER}
    reason = next(r for r in _SUMMARY_ORDER if tally[r])
    detail = ", ".join(f"{n} {_SUMMARY_WORDS[r]}" for r, n in tally.items() if n)
    summary = Event(
        "Warning" if reason == "StoreFailed" else "Normal",
        reason,
        f"and {len(rest)} more task changes ({detail}); see status.tasks",
    )
    return [*shown, summary]


_SUMMARY_ORDER = ("StoreFailed", "StoreCompleted", "StoreStarted")
_SUMMARY_WORDS = {"StoreFailed": "failed", "StoreCompleted": "completed", "StoreStarted": "started"}


def _sync_events(prev: Mapping[str, Any], status: Mapping[str, Any]) -> list[Event]:
    old = _synced(prev)
    new = _synced(status)
    if new is None or (old is not None and old.get("status") == new["status"]):
        return []
    if new["status"] == "False":
        return [Event("Warning", "SyncFailed", f"{new['reason']}: {new['message']}")]
    if old is not None and old.get("status") == "False":
        return [
            Event("Normal", "SyncRecovered", f"AWS poll succeeded again (was {old.get('reason')})")
        ]
    return []


def _synced(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return next((c for c in status.get("conditions", ()) if c.get("type") == "Synced"), None)


# --- plumbing -------------------------------------------------------------------


def _outcome(prev: Mapping[str, Any], status: dict[str, Any], events: Sequence[Event]) -> Outcome:
    # Only the keys this module writes count: a key someone else keeps in the status
    # must not make every poll look like a change.
    owned = status.keys() - {"lastPollTime"}
    if all(prev.get(key) == status[key] for key in owned):
        status = dict(status)
        status.pop("lastPollTime", None)
        if "lastPollTime" in prev:
            status["lastPollTime"] = prev["lastPollTime"]
        return Outcome(status=status, changed=False, events=tuple(events))
    return Outcome(status=status, changed=True, events=tuple(events))


def _entries(status: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    tasks = status.get("tasks")
    if not isinstance(tasks, list):
        return ()
    return (t for t in tasks if isinstance(t, dict))


def _plain(value: Any) -> Any:
    """A deep copy made of dicts and lists, whatever mapping views kopf handed in."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
