"""What is known of a resource's tasks from before a poll: the previous entries and tasks.

``entries_by_ami``: the entries a poll merges AWS's view into, and for a status cut
by the cap the time after which a task absent from it is new (``status``'s event
rule). ``started_tasks``: the previous status's started tasks as ``StoreTask``
values, which the poller takes for AWS's latest tasks until it asks. Both read a
plain previous status (``status`` makes it plain).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from amistore_operator.core import accountentries, conditions, model, taskentries, timestamps


def entries_by_ami(
    prev: Mapping[str, Any],
    account: str,
    previous_entries: Iterable[Mapping[str, Any]] | None,
) -> tuple[dict[str, dict[str, Any]], datetime.datetime | None]:
    """The entries known before this poll by AMI ID, and the time after which a task is new.

    ``previous_entries``: the previous outcome's entries (uncapped), when the caller kept
    them; without them the entries of ``prev`` are all that is known. ``account``: the
    account polled ("" when unknown). The time is None when every absent task is new.
    """
    if previous_entries is None:
        known = list(taskentries.from_status(prev))
        new_after = _cut_at(prev)
    else:
        known, new_after = [dict(e) for e in previous_entries], None
    if accountentries.other_account(prev, account):
        known, new_after = [], None  # another account's tasks: none of them is one of these
    return {e["amiId"]: e for e in known if e.get("amiId")}, new_after


def _cut_at(prev: Mapping[str, Any]) -> datetime.datetime | None:
    """For a status cut by the cap, the time after which an absent task is new; else None."""
    total = prev.get("tasksTotal")
    if not isinstance(total, int) or total <= sum(1 for _ in taskentries.from_status(prev)):
        return None
    # Without a last poll time, nothing tells a new task from one cut by the cap.
    return timestamps.parse_time(prev.get("lastPollTime")) or _NEVER


_NEVER = datetime.datetime.max.replace(tzinfo=datetime.UTC)


def started_tasks(prev: Mapping[str, Any], generation: int) -> dict[str, model.StoreTask]:
    """The previous status' started tasks as ``StoreTask`` values, by AMI ID (none: ask AWS).

    The poller takes them for AWS's latest tasks until it asks (after a restart), so only
    a status computed for this ``generation`` of the spec gives them: an entry shows the
    AMI's latest task among those its spec's bucket matches, and a later task into another
    bucket hides behind it. Under the same spec that later task would leave the entry as
    it is; under another (a bucket edit) it is the task the new spec shows. A status that
    rejected this spec keeps the entries of the last valid one.
    """
    if not _computed_for(prev, generation):
        return {}
    known: dict[str, model.StoreTask] = {}
    for entry in taskentries.from_status(prev):
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
            start_time=timestamps.parse_time(entry.get("taskStartTime")),
            failure_reason=entry.get("failureReason"),
        )
    return known


def _computed_for(prev: Mapping[str, Any], generation: int) -> bool:
    """Whether ``prev`` is a status computed for this generation of the spec."""
    if prev.get("observedGeneration") != generation:
        return False
    synced = conditions.synced(prev) or {}
    return synced.get("reason") != model.PollErrorReason.INVALID_SPEC.value
