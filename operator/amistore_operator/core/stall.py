"""Stall detection: which InProgress tasks made no progress for too long.

A task is stalled when its ``lastProgressTime`` (when the operator last saw its
progress change, or first saw the task) lies at least the threshold in the past.
The threshold is ``stallAfterSeconds`` (or ``--stall-after``), but at least two
effective poll intervals: the operator sees progress only when it polls, so a
resource polled hourly cannot be called stalled after a minute. The effective
interval is the resource's own, or its region's budget-stretched one.

Which tasks are stalled is kept in the status (``tasks[].stalled: true``), so the
Warning ``StoreStalled`` and the Normal ``StoreResumed`` are emitted once per
stall, across polls and restarts alike: each is the difference between the
previous entry and the new one. A stalled task stays stalled until its progress
moves (or its threshold without the stretch rises past the time it has waited),
so a stretched interval that wobbles from poll to poll cannot flap it.

A task AWS shows no more, hidden behind a later one into another bucket (AWS lists an
AMI's latest task only), keeps the verdict it had when last seen: its progress is
unknown, not standing still.

Time passing alone flips a task: ``next_due`` is the next moment that happens,
and a caller that skips the core on quiet polls runs it again from then on.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from amistore_operator.core import statusevents, taskentries, timestamps

STALLED = "stalled"  # the entry key: True while the task is stalled, absent otherwise
PROGRESS_TIME = "lastProgressTime"
MAX_STALLED_IN_MESSAGE = 10
DEFAULT_STALL_AFTER = 7200
MIN_STALL_AFTER = 60
MAX_STALL_AFTER = 604800
# A stretched interval is measured per refresh cycle and wobbles; rounded up to one of
# these steps (times a power of ten) it stays put, so the threshold in the condition
# message does not change (and cause a status write) on every poll.
_STEPS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


@dataclasses.dataclass(frozen=True)
class Threshold:
    """Seconds without progress after which an InProgress task counts as stalled."""

    seconds: float  # the effective threshold: max(stall after, 2 effective intervals)
    steady: float  # the same without a budget stretch: what keeps a stalled task stalled


def threshold(
    stall_after: float, poll_interval: float, stretched_interval: float | None = None
) -> Threshold:
    """The threshold for a resource: ``stall_after``, at least two effective intervals.

    ``stretched_interval``: the region's interval when the EC2 budget stretches it, else None.
    """
    steady = max(stall_after, 2 * poll_interval)
    effective = max(poll_interval, stretched_interval or 0.0)
    return Threshold(seconds=float(math.ceil(max(steady, 2 * effective))), steady=steady)


def steady_interval(configured: float, measured: float | None) -> float | None:
    """A stretched interval rounded up to a coarse step; None unless above ``configured``."""
    if measured is None or not math.isfinite(measured) or measured <= configured:
        return None
    scale = 10.0 ** math.floor(math.log10(measured))
    # Rounded: 3.0 * 0.1 is 0.30000000000000004 in floats, and a steady step must be exact.
    return next(round(step * scale, 6) for step in _STEPS if round(step * scale, 6) >= measured)


def mark(
    entries: Iterable[dict[str, Any]],
    prev_entries: Mapping[str, Mapping[str, Any]],
    limit: Threshold,
    now: datetime.datetime,
    *,
    fresh: bool,
    unseen: Collection[str] = (),
) -> list[dict[str, Any]]:
    """The entries with ``stalled`` set on the stalled ones and dropped from the rest.

    ``fresh``: the poll succeeded. After a failed one nothing new is called stalled: the
    operator did not see the progress, so it cannot tell it stood still. ``unseen``: the
    AMIs whose task AWS shows no more, hidden behind a later one into another bucket;
    their progress is unknown, so each stays as it was when last seen.
    """
    marked = []
    for entry in entries:
        if entry.get("amiId") in unseen:
            marked.append(entry)
            continue
        stalled = _is_stalled(entry, prev_entries.get(entry.get("amiId", "")), limit, now, fresh)
        if stalled != (entry.get(STALLED) is True):
            entry = {k: v for k, v in entry.items() if k != STALLED}
            if stalled:
                entry[STALLED] = True
        marked.append(entry)
    return marked


def _is_stalled(
    entry: Mapping[str, Any],
    prev: Mapping[str, Any] | None,
    limit: Threshold,
    now: datetime.datetime,
    fresh: bool,
) -> bool:
    since = timestamps.parse_time(entry.get(PROGRESS_TIME))
    if entry.get("state") != taskentries.IN_PROGRESS or since is None:
        return False
    waited = (now - since).total_seconds()
    if _was_stalled(entry, prev):
        return waited >= limit.steady
    return fresh and waited >= limit.seconds


def _was_stalled(entry: Mapping[str, Any], prev: Mapping[str, Any] | None) -> bool:
    """Whether ``prev`` is this task, stalled, and its progress has not moved since."""
    return (
        prev is not None
        and prev.get(STALLED) is True
        and prev.get("state") == taskentries.IN_PROGRESS
        and prev.get(PROGRESS_TIME) == entry.get(PROGRESS_TIME)
        and taskentries.same_task(entry.get("taskStartTime"), prev)
    )


def next_due(
    entries: Iterable[Mapping[str, Any]],
    limit: Threshold,
    *,
    fresh: bool,
    unseen: Collection[str] = (),
) -> datetime.datetime | None:
    """The next moment a task stalls by time alone (no change from AWS); None if none will."""
    if not fresh:
        return None
    due = [
        since + datetime.timedelta(seconds=limit.seconds)
        for entry in entries
        if entry.get("state") == taskentries.IN_PROGRESS
        and entry.get(STALLED) is not True
        and entry.get("amiId") not in unseen
        for since in [timestamps.parse_time(entry.get(PROGRESS_TIME))]
        if since is not None
    ]
    return min(due, default=None)


def condition(entries: Sequence[Mapping[str, Any]], limit: Threshold) -> tuple[str, str, str, str]:
    """The ``Stalled`` condition as (type, status, reason, message)."""
    stalled = [e for e in entries if e.get(STALLED) is True]
    if stalled:
        parts = [_describe(e) for e in stalled[:MAX_STALLED_IN_MESSAGE]]
        if len(stalled) > MAX_STALLED_IN_MESSAGE:
            parts.append(f"and {len(stalled) - MAX_STALLED_IN_MESSAGE} more")
        return (
            "Stalled",
            "True",
            "ProgressStalled",
            f"No progress for {_rule(limit)}: " + "; ".join(parts),
        )
    if any(e.get("state") == taskentries.IN_PROGRESS for e in entries):
        message = f"Every store task in progress moved within {_rule(limit)}"
        return ("Stalled", "False", "Progressing", message)
    return ("Stalled", "False", "NoTaskInProgress", "No store task is in progress")


def _rule(limit: Threshold) -> str:
    return (
        f"{duration(limit.seconds)} (stallAfterSeconds or --stall-after, "
        "at least two effective poll intervals)"
    )


def _describe(entry: Mapping[str, Any]) -> str:
    progress = entry.get("progressPercentage", 0)
    text = f"{entry['amiId']} at {progress}% since {entry.get(PROGRESS_TIME)}"
    return text + (", possibly queued by AWS" if progress == 0 else "")


def events(
    prev_entries: Mapping[str, Mapping[str, Any]],
    entries: Iterable[Mapping[str, Any]],
    limit: Threshold,
) -> list[statusevents.Event]:
    """Warning ``StoreStalled`` for each task that stalled, Normal ``StoreResumed`` when it moves.

    A task that stops being InProgress gets its StoreCompleted/StoreFailed instead.
    """
    out = []
    for entry in entries:
        prev = prev_entries.get(entry["amiId"])
        was = prev is not None and prev.get(STALLED) is True
        now = entry.get(STALLED) is True
        if now and not was:
            out.append(
                statusevents.Event(
                    "Warning",
                    "StoreStalled",
                    f"{_describe(entry)}: no progress for {duration(limit.seconds)}",
                )
            )
        elif was and not now and prev is not None and _still_running(entry, prev):
            out.append(statusevents.Event("Normal", "StoreResumed", _resumed(prev, entry, limit)))
    return out


def _still_running(entry: Mapping[str, Any], prev: Mapping[str, Any]) -> bool:
    """The same task, still InProgress (a new task gets its StoreStarted instead)."""
    same = taskentries.same_task(entry.get("taskStartTime"), prev)
    return same and entry["state"] == taskentries.IN_PROGRESS


def _resumed(prev: Mapping[str, Any], entry: Mapping[str, Any], limit: Threshold) -> str:
    ami_id, old, new = entry["amiId"], prev.get("progressPercentage"), entry["progressPercentage"]
    if prev.get(PROGRESS_TIME) != entry.get(PROGRESS_TIME):
        return f"{ami_id}: progressing again, at {new}% (stalled at {old}%)"
    return (
        f"{ami_id}: no longer counted as stalled at {new}%: "
        f"the threshold is now {duration(limit.seconds)}"
    )


def duration(seconds: float) -> str:
    """Seconds as ``2h``, ``1h30m``, ``90s`` or ``1d2h``."""
    left = math.ceil(seconds)
    if left < 120:
        return f"{left}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts)
