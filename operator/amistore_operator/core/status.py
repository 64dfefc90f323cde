"""The pure core: previous status, spec and AWS's view in; new status and events out.

No kopf, boto3, clock, network or logging here: ``now`` is passed in, and the
result is plain JSON-ready data. This module is the entry point; the parts
live in ``knowntasks`` (what is known of the tasks from before the poll),
``taskentries`` (the ``tasks`` entries and their merge rules), ``aggregate``
(``state``, progress and counts), ``conditions``, ``resourcefields`` (``region``,
``account``, ``lastPollTime`` and the other fields of the resource as a whole),
``statusevents`` and ``stall`` (the ``Stalled`` condition and its events).

Write rule: ``Outcome.changed`` is True iff the new status differs from the
previous one in anything other than ``lastPollTime``. When it is False, the
returned status carries the previous ``lastPollTime`` untouched (it equals the
previous status), so the caller writes nothing: an unchanged resource gets zero
status writes however often it is polled. ``lastPollTime`` is the time of the
last successful poll; a failed poll or a rejected spec keeps the previous one.

Event rule: events announce a change of the status, so an unchanged status
comes with no event. ``status.tasks`` holds at most ``MAX_TASK_ENTRIES``
entries, but a resource may track more tasks (one without ``imageIds`` lists
a whole region). ``Outcome.entries`` holds every entry, uncapped; a caller that
keeps them passes them back as ``previous_entries`` and a task past the cap is
then compared with its own previous entry, like any other. Without them (after
a restart) the previous entries are the status's, and when that status was cut
by the cap (``tasksTotal`` above the number of entries), a task absent from it
counts as new only if it started after the previous ``lastPollTime``: it cannot
have been seen before. A task past the cap whose state changed while nobody
kept its entry is then not announced; a repeated announcement never happens.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from amistore_operator.core import (
    aggregate,
    cleanup,
    conditions,
    knowntasks,
    model,
    resourcefields,
    stall,
    statusevents,
    taskentries,
    timestamps,
    verify,
)

# The core's public interface, whichever module defines each name.
MAX_TASK_ENTRIES = taskentries.MAX_TASK_ENTRIES
MAX_TASK_EVENTS = statusevents.MAX_TASK_EVENTS
MAX_FAILED_IN_MESSAGE = conditions.MAX_FAILED_IN_MESSAGE
MAX_REASON_CHARS = taskentries.MAX_REASON_CHARS
UNKNOWN = aggregate.UNKNOWN
RETRY_HANDLED = resourcefields.RETRY_HANDLED
Event = statusevents.Event
format_time = timestamps.format_time
parse_time = timestamps.parse_time


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The new status, whether it must be written, and the events to emit."""

    status: dict[str, Any]  # the complete new status, JSON-ready
    changed: bool  # True iff a write is needed (see the module docstring)
    events: tuple[Event, ...]
    entries: tuple[dict[str, Any], ...] = ()  # every task entry, newest first, uncapped
    # The next moment the status changes by time alone (a task stalls), if any: a caller
    # that skips the core on quiet polls must run it again from then on.
    stall_due: datetime.datetime | None = None


def reconcile(
    previous: Mapping[str, Any] | None,
    spec: model.AmiStoreSpec,
    view: model.ResourceView,
    *,
    generation: int,
    now: datetime.datetime,
    previous_entries: Iterable[Mapping[str, Any]] | None = None,
    stretched_interval: float | None = None,
    export_entries: Mapping[str, Mapping[str, Any]] | None = None,
    export_condition: tuple[str, str, str, str] | None = None,
    export_retry_handled: str | None = None,
    export_records: Sequence[Mapping[str, Any]] | None = None,
    verified: Mapping[str, tuple[str, Mapping[str, Any]]] | None = None,
    cleaned: Mapping[str, tuple[str | None, Mapping[str, Any]]] | None = None,
    archived: tuple[str, str, str, str] | None = None,
) -> Outcome:
    """Merge AWS's view into the previous status for one resource.

    ``export_entries`` and ``export_condition``: export mode's ``Queued`` (or refused,
    ``Failed``) entries by AMI, which replace what AWS's view alone would give, and
    its ``ExportReady`` condition (see ``export``); ``export_retry_handled``: the
    ``amistore.io/retry-requested-at`` value handled (kept once recorded);
    ``export_records``: ``status.exportRecords`` (see ``exportrecords``), kept as they
    were without it. ``verified``, ``cleaned``: AMI -> (task start, entry fields) found
    (``verify``, ``cleanup``); ``archived``: the ``Archived`` condition.

    ``previous_entries``: the previous outcome's ``entries`` (uncapped), when the caller
    kept them; without them the entries of ``previous`` are all that is known.
    ``stretched_interval``: the region's poll interval when the EC2 budget stretches it
    (see ``stall.steady_interval``); the stall threshold is at least two of it.
    """
    prev = _plain(previous) if previous else {}
    stamp = format_time(now)
    prev_entries, new_after = knowntasks.entries_by_ami(prev, view.account, previous_entries)
    entries = _entries(spec, view, prev_entries, stamp, export_entries)
    entries = cleanup.apply(verify.apply(entries, verified or {}), cleaned or {})
    limit = stall.threshold(spec.stall_after, spec.poll_interval, stretched_interval)
    fresh = view.error is None
    unseen = taskentries.unseen(spec, view, entries)
    entries = stall.mark(entries, prev_entries, limit, now, fresh=fresh, unseen=unseen)

    ever_polled = view.error is None or bool(view.tasks) or aggregate.was_polled(prev)
    status = aggregate.aggregate(entries, ever_polled)
    resourcefields.set_poll(prev, status, spec, view, generation, stamp)
    fresh_conditions = [
        _synced(view),
        *conditions.task_conditions(entries, ever_polled),
        stall.condition(entries, limit),
        *(c for c in (export_condition, archived) if c is not None),
    ]
    status["conditions"] = conditions.merge(prev, fresh_conditions, generation, stamp)
    status["tasks"] = entries[:MAX_TASK_ENTRIES]
    resourcefields.set_estimate(prev, status, entries)
    resourcefields.set_retry_handled(prev, status, export_retry_handled)
    resourcefields.set_records(prev, status, export_records)

    events = _events(prev, status, prev_entries, entries, new_after, limit)
    due = stall.next_due(entries, limit, fresh=fresh, unseen=unseen)
    return _outcome(prev, status, events, entries, stall_due=due)


def _entries(
    spec: model.AmiStoreSpec,
    view: model.ResourceView,
    prev_entries: dict[str, dict[str, Any]],
    stamp: str,
    export_entries: Mapping[str, Mapping[str, Any]] | None,
) -> list[dict[str, Any]]:
    """This poll's task entries, newest first, before the stall verdicts."""
    if spec.image_ids:
        entries = taskentries.for_image_ids(spec, view, prev_entries, stamp)
        if export_entries:
            entries = [dict(export_entries.get(e["amiId"]) or e) for e in entries]
    else:
        entries = taskentries.for_listing(spec, view, prev_entries, stamp)
    entries.sort(key=taskentries.order)
    return entries


def _synced(view: model.ResourceView) -> tuple[str, str, str, str]:
    """The ``Synced`` condition: whether this AWS poll succeeded."""
    if view.error is None:
        return ("Synced", "True", "Polled", "The last AWS poll succeeded")
    message = view.error.message or f"AWS poll failed: {view.error.reason.value}"
    return ("Synced", "False", view.error.reason.value, message)


def _events(
    prev: Mapping[str, Any],
    status: Mapping[str, Any],
    prev_entries: dict[str, dict[str, Any]],
    entries: list[dict[str, Any]],
    new_after: datetime.datetime | None,
    limit: stall.Threshold,
) -> list[Event]:
    """The events announcing the change: the sync ones, then the tasks' (capped)."""
    return [
        *statusevents.sync_events(prev, status),
        *statusevents.capped(
            [
                *statusevents.task_events(prev_entries, entries, new_after),
                *stall.events(prev_entries, entries, limit),
                *statusevents.verified_events(prev_entries, entries),
                *statusevents.cleanup_events(prev_entries, entries),
            ]
        ),
    ]


def reject_spec(
    previous: Mapping[str, Any] | None,
    message: str,
    *,
    generation: int,
    now: datetime.datetime,
    previous_entries: Iterable[Mapping[str, Any]] | None = None,
    export_records: Sequence[Mapping[str, Any]] | None = None,
) -> Outcome:
    """Mark the resource ``Synced=False`` (InvalidSpec), keeping what is known of its tasks.

    ``export_records``: ``status.exportRecords`` (export mode's live requests included),
    kept as they were without it.
    """
    prev = _plain(previous) if previous else {}
    stamp = format_time(now)
    ever_polled = aggregate.was_polled(prev)
    if previous_entries is None:
        entries = list(taskentries.from_status(prev))
        status = aggregate.aggregate(entries, ever_polled)
        for key in ("state", "progressPercentage", *aggregate.COUNT_KEYS.values()):
            if key in prev:  # the previous counts may cover entries cut by the cap
                status[key] = prev[key]
    else:
        entries = [dict(e) for e in previous_entries]
        status = aggregate.aggregate(entries, ever_polled)
    status["observedGeneration"] = generation
    for kept in ("region", "account", RETRY_HANDLED):
        if kept in prev:
            status[kept] = prev[kept]
    resourcefields.set_records(prev, status, export_records)
    if "lastPollTime" in prev:
        status["lastPollTime"] = prev["lastPollTime"]
    if prev.get("estimatedCompletionTime"):
        status["estimatedCompletionTime"] = prev["estimatedCompletionTime"]  # tasks kept too
    synced = ("Synced", "False", model.PollErrorReason.INVALID_SPEC.value, message)
    fresh = conditions.merge(
        prev, [synced, *conditions.task_conditions(entries, ever_polled)], generation, stamp
    )
    # Complete and Failed describe the tasks under the last valid spec: keep them as they were.
    by_type = {c.get("type"): c for c in prev.get("conditions", ())}
    status["conditions"] = [fresh[0], *(by_type.get(c["type"]) or c for c in fresh[1:])]
    if "Stalled" in by_type:  # likewise: what was seen of the tasks' progress still holds
        status["conditions"].append(by_type["Stalled"])
    status["tasks"] = entries[:MAX_TASK_ENTRIES]
    return _outcome(prev, status, statusevents.sync_events(prev, status), entries)


def known_tasks(previous: Mapping[str, Any] | None, generation: int) -> dict[str, model.StoreTask]:
    """The previous status' started tasks as ``StoreTask`` values, by AMI ID (none: ask AWS).

    Only a status computed for this ``generation`` of the spec gives them (see
    ``knowntasks.started_tasks``).
    """
    return knowntasks.started_tasks(_plain(previous) if previous else {}, generation)


def _outcome(
    prev: Mapping[str, Any],
    status: dict[str, Any],
    events: Sequence[Event],
    entries: Sequence[dict[str, Any]],
    stall_due: datetime.datetime | None = None,
) -> Outcome:
    # Only the keys this module writes count: a key someone else keeps in the status
    # must not make every poll look like a change.
    owned = status.keys() - {"lastPollTime"}
    if all(prev.get(key) == status[key] for key in owned):
        status = dict(status)
        status.pop("lastPollTime", None)
        if "lastPollTime" in prev:
            status["lastPollTime"] = prev["lastPollTime"]
        # Nothing is written, so nothing is announced (see the event rule above).
        return Outcome(
            status=status, changed=False, events=(), entries=tuple(entries), stall_due=stall_due
        )
    return Outcome(
        status=status,
        changed=True,
        events=tuple(events),
        entries=tuple(entries),
        stall_due=stall_due,
    )


def _plain(value: Any) -> Any:
    """A deep copy made of dicts and lists, whatever mapping views kopf handed in."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
