"""The ``status.tasks`` entries: one per AMI, merged from AWS's task and the previous entry.

- Entries omit keys whose value is unknown (``failureReason`` only on Failed
  tasks with a reason; ``bucket``, ``s3ObjectKey``, ``taskStartTime`` only when
  AWS gave them). Empty strings are never written.
- An entry's ``lastTransitionTime`` moves when its ``state`` changes or when a
  new store task (a different ``taskStartTime``) replaces the entry's task.
- A finished entry never regresses because AWS forgot its task (after 31 days).
  Without ``imageIds`` (a listing) such an entry is kept while it is among the
  ``MAX_TASK_ENTRIES`` newest, the ones the status can hold: what is tracked
  then never depends on what an operator process remembers beyond the status,
  so a restart changes nothing, and the entries stay bounded by AWS's window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from amistore_operator.core import cleanup, eta, model, timestamps, verify

MAX_REASON_CHARS = 200
MAX_TASK_ENTRIES = 500  # in status.tasks; the counts cover every entry

PENDING = model.TaskState.PENDING.value
QUEUED = model.TaskState.QUEUED.value  # an export the operator requested; counts like Pending
IN_PROGRESS = model.TaskState.IN_PROGRESS.value
COMPLETED = model.TaskState.COMPLETED.value
FAILED = model.TaskState.FAILED.value
TERMINAL = frozenset({COMPLETED, FAILED})


def from_status(status: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    """The task entries of a status, skipping anything that is not an entry."""
    tasks = status.get("tasks")
    if not isinstance(tasks, list):
        return ()
    return (t for t in tasks if isinstance(t, dict))


def for_image_ids(
    spec: model.AmiStoreSpec,
    view: model.ResourceView,
    prev_entries: Mapping[str, dict[str, Any]],
    stamp: str,
) -> list[dict[str, Any]]:
    """One entry per spec AMI, in spec order: merged, kept, or Pending."""
    entries = []
    for ami_id in spec.image_ids:
        prev = prev_entries.get(ami_id)
        gone = prev is not None and cleanup.state(prev) in cleanup.ENDED  # no task can come
        if prev is not None and not matches(prev, spec) and not gone:
            prev = None  # e.g. a task into the bucket the spec used before
        if ami_id in view.tasks:
            entries.append(merge(ami_id, prev, view.tasks[ami_id], spec, stamp))
        elif prev is not None:
            entries.append(prev)  # nothing fresh (a failed poll, or not re-polled this time)
        else:
            entries.append(pending(ami_id, None, stamp))
    return entries


def for_listing(
    spec: model.AmiStoreSpec,
    view: model.ResourceView,
    prev_entries: Mapping[str, dict[str, Any]],
    stamp: str,
) -> list[dict[str, Any]]:
    """The listed tasks that match the spec, plus the finished entries AWS no longer lists.

    A finished entry AWS forgot stays while it is among the ``MAX_TASK_ENTRIES`` newest.
    """
    entries = []
    forgotten = []
    shown = set()
    for ami_id in sorted(view.tasks):
        task = view.tasks[ami_id]
        if task is None or not task_matches(task, spec):
            continue
        prev = prev_entries.get(ami_id)
        if prev is not None and not matches(prev, spec):
            prev = None
        shown.add(ami_id)
        entries.append(merge(ami_id, prev, task, spec, stamp))
    for ami_id in sorted(prev_entries):
        prev = prev_entries[ami_id]
        if ami_id in shown or not matches(prev, spec) or prev.get("state") == PENDING:
            continue
        if view.error is not None:
            entries.append(prev)  # a failed poll says nothing about any task
        elif prev.get("state") in TERMINAL:
            forgotten.append(prev)  # AWS forgets tasks after 31 days
    if forgotten:
        newest = {id(e) for e in sorted([*entries, *forgotten], key=order)[:MAX_TASK_ENTRIES]}
        entries.extend(e for e in forgotten if id(e) in newest)
    return entries


def merge(
    ami_id: str,
    prev: dict[str, Any] | None,
    task: model.StoreTask | None,
    spec: model.AmiStoreSpec,
    stamp: str,
) -> dict[str, Any]:
    """The entry of ``ami_id`` from AWS's ``task`` and the previous entry."""
    hidden = task is not None and not task_matches(task, spec)
    if hidden:
        task = None  # a task into another bucket is no task for this resource
    if task is None:
        if prev is not None and prev.get("state") in TERMINAL:
            return prev  # status never regresses because AWS forgot a task
        if hidden and prev is not None and prev.get("taskStartTime"):
            return prev  # AWS lists an AMI's latest task only: ours is behind that one
        return pending(ami_id, prev, stamp)
    start = timestamps.format_time(task.start_time) if task.start_time else None
    if prev is not None and prev.get("state") != PENDING and _older(start, prev):
        return prev
    same = prev is not None and prev.get("state") != PENDING and same_task(start, prev)
    state = task.state.value
    progress = 100 if state == COMPLETED else max(0, min(100, task.progress))
    if same and prev is not None and isinstance(prev.get("progressPercentage"), int):
        progress = max(progress, prev["progressPercentage"])
    entry: dict[str, Any] = {"amiId": ami_id, "state": state, "progressPercentage": progress}
    if state == FAILED and task.failure_reason:
        entry["failureReason"] = task.failure_reason
    if task.bucket:
        entry["bucket"] = task.bucket
    if task.s3_object_key:
        entry["s3ObjectKey"] = task.s3_object_key
    if start:
        entry["taskStartTime"] = start
    kept = same and prev is not None and prev.get("state") == state
    entry["lastTransitionTime"] = _transition(prev, stamp) if kept else stamp
    entry["lastProgressTime"] = _progress_time(prev if same else None, progress, stamp)
    if state == IN_PROGRESS:
        entry.update(eta.fields(prev if same else None, entry, stamp))
    if state == COMPLETED and same:
        entry.update(verify.kept(prev))  # what was found of this task's object stays
        entry.update(cleanup.kept(prev))  # and where its cleanup stands
    return entry


def unseen(
    spec: model.AmiStoreSpec, view: model.ResourceView, entries: Iterable[Mapping[str, Any]]
) -> frozenset[str]:
    """The AMIs whose InProgress entry AWS shows no more: a later task hides it, or the
    AMI is gone (deregistered: no AmiStore polls it again).

    AWS lists an AMI's latest task only; once a task into another bucket starts, the
    entry's task is kept as it was last seen, its progress since unknown.
    """
    return frozenset(
        entry["amiId"]
        for entry in entries
        if entry.get("state") == IN_PROGRESS
        and (
            cleanup.state(entry) in cleanup.ENDED
            or (
                (task := view.tasks.get(entry["amiId"])) is not None
                and not task_matches(task, spec)
            )
        )
    )


def pending(ami_id: str, prev: dict[str, Any] | None, stamp: str) -> dict[str, Any]:
    """A Pending entry, keeping the transition time of a previous Pending one (and that
    its AMI is gone: AWS lists it no task again)."""
    was_pending = prev is not None and prev.get("state") == PENDING
    return {
        "amiId": ami_id,
        "state": PENDING,
        "progressPercentage": 0,
        "lastTransitionTime": _transition(prev, stamp) if was_pending else stamp,
        **(cleanup.kept(prev, gone=True) if was_pending else {}),
    }


def _transition(prev: dict[str, Any] | None, stamp: str) -> str:
    value = prev.get("lastTransitionTime") if prev else None
    return value if isinstance(value, str) and value else stamp


def _progress_time(prev: Mapping[str, Any] | None, progress: int, stamp: str) -> str:
    """When the progress last moved: ``stamp`` on a move or a first sighting, else kept."""
    value = prev.get("lastProgressTime") if prev else None
    if prev is None or prev.get("progressPercentage") != progress or not isinstance(value, str):
        return stamp
    return value or stamp


def _older(start: str | None, prev: Mapping[str, Any]) -> bool:
    new, old = timestamps.parse_time(start), timestamps.parse_time(prev.get("taskStartTime"))
    return new is not None and old is not None and new < old


def same_task(start: str | None, prev: Mapping[str, Any]) -> bool:
    """Whether a task started at ``start`` is the task of the entry ``prev``."""
    # Without both start times there is nothing to tell two tasks apart by.
    new, old = timestamps.parse_time(start), timestamps.parse_time(prev.get("taskStartTime"))
    return new is None or old is None or new == old


def matches(entry: Mapping[str, Any], spec: model.AmiStoreSpec) -> bool:
    """Whether an entry fits the spec's bucket and task-state filters."""
    bucket = entry.get("bucket")
    if spec.bucket and bucket and bucket != spec.bucket:
        return False
    state = entry.get("state")
    return not spec.task_states or state == PENDING or state in spec.task_states


def task_matches(task: model.StoreTask, spec: model.AmiStoreSpec) -> bool:
    """Whether an AWS task fits the spec's bucket and task-state filters."""
    return matches({"bucket": task.bucket, "state": task.state.value}, spec)


def order(entry: Mapping[str, Any]) -> tuple[int, float]:
    """Newest start first, then started tasks without a start time, then Pending."""
    if entry.get("state") == PENDING:
        return (2, 0.0)
    start = timestamps.parse_time(entry.get("taskStartTime"))
    return (1, 0.0) if start is None else (0, -start.timestamp())


def reason_text(entry: Mapping[str, Any]) -> str:
    """The failure reason of a Failed entry, shortened for messages."""
    reason = entry.get("failureReason")
    if not isinstance(reason, str) or not reason:
        return "failed without a reason from AWS"
    if len(reason) > MAX_REASON_CHARS:
        return reason[: MAX_REASON_CHARS - 3] + "..."
    return reason
