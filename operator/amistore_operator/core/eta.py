"""The estimated completion time of a store task, from the progress the operator saw move.

AWS reports progress as whole percent that move in steps, a task may sit at 0%
while AWS queues it, and the operator may first see a task half-way. So the rate
is measured between moves the operator saw (the polls at which
``progressPercentage`` changed, each known to within one poll interval), not
from ``taskStartTime`` nor from a first sighting, which may sit anywhere inside
a step or a queue.

The entry keeps where the rate is measured from, ``rateSinceTime`` and
``rateSincePercentage``: the first move the operator saw, then, once the task has
moved more than ``WINDOW`` points past it, the point on the measured line
``WINDOW`` points back, so the rate follows a task that speeds up or slows down
without the noise of a single step. Until ``MIN_WINDOW`` points were seen moving,
the average since ``taskStartTime`` stands in (too slow after a queue: a late
estimate, never an early one). The estimate is ``now + (100 - progress) / rate``,
computed at a move; between moves every field is kept as it was, so the estimate
never causes a status write of its own, and one that has passed while the task
still runs stays as it is: overdue.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from amistore_operator.core import model, timestamps

WINDOW = 25  # percentage points of recent progress the rate is measured over
MIN_WINDOW = 10  # percentage points seen moving before that rate is trusted

SINCE_TIME = "rateSinceTime"
SINCE_PERCENTAGE = "rateSincePercentage"
ESTIMATE = "estimatedCompletionTime"
FIELDS = (SINCE_TIME, SINCE_PERCENTAGE, ESTIMATE)

IN_PROGRESS = model.TaskState.IN_PROGRESS.value


def fields(prev: Mapping[str, Any] | None, entry: Mapping[str, Any], stamp: str) -> dict[str, Any]:
    """The estimator's fields of an InProgress ``entry``, polled at ``stamp``.

    ``prev``: the previous entry of the same task, None at its first sighting.
    """
    now = timestamps.parse_time(stamp)
    progress = entry.get("progressPercentage")
    if now is None or not isinstance(progress, int):
        return {}
    if prev is not None and prev.get("progressPercentage") == progress:
        return {key: prev[key] for key in FIELDS if key in prev}
    since = timestamps.parse_time(prev.get(SINCE_TIME)) if prev else None
    since_progress = prev.get(SINCE_PERCENTAGE) if prev else None
    if prev is None or since is None or not isinstance(since_progress, int):
        # A first sighting sits anywhere inside a step: a move seen next is where the
        # rate will be measured from.
        since, since_progress = (None, None) if prev is None else (now, progress)
    window = progress - since_progress if since_progress is not None else 0
    elapsed = (now - since).total_seconds() if since is not None else 0.0
    # Percentage points per second. With too little seen to measure, the average since
    # AWS started the task, which a queue at 0% makes too slow: a late estimate, not an early one.
    measured = window >= MIN_WINDOW and elapsed > 0
    rate = window / elapsed if measured else _average_rate(entry, now)
    found: dict[str, Any] = {}
    if since is not None and since_progress is not None:
        if rate > 0 and window > WINDOW:
            # Slide to the point on the measured line WINDOW points back.
            since_progress = progress - WINDOW
            since = now - datetime.timedelta(seconds=round(WINDOW / rate))
        found = {SINCE_TIME: timestamps.format_time(since), SINCE_PERCENTAGE: since_progress}
    if rate <= 0:
        return found
    estimate = now + datetime.timedelta(seconds=round((100 - progress) / rate))
    return {**found, ESTIMATE: timestamps.format_time(estimate)}


def _average_rate(entry: Mapping[str, Any], now: datetime.datetime) -> float:
    start = timestamps.parse_time(entry.get("taskStartTime"))
    progress = entry.get("progressPercentage")
    if start is None or not isinstance(progress, int) or now <= start:
        return 0.0
    return progress / (now - start).total_seconds()


def resource_estimate(entries: Iterable[Mapping[str, Any]]) -> str | None:
    """The resource's estimate: the latest of its InProgress tasks', when each has one."""
    estimates = []
    for entry in entries:
        if entry.get("state") != IN_PROGRESS:
            continue
        estimate = timestamps.parse_time(entry.get(ESTIMATE))
        if estimate is None:
            return None  # a task without an estimate may well finish last
        estimates.append(estimate)
    return timestamps.format_time(max(estimates)) if estimates else None
