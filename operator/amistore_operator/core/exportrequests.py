"""A request's life, never twice: recorded at R, called once within its window, over in its grace.

Pure, like ``export`` (whose docstring tells the whole rule): a ``Request`` for one
(account, region, bucket, AMI), how long it may be called for and how long it lives,
when it is over, and how AWS's listing, which shows an AMI's latest task only, and the
previous entries are read against it: a task into another bucket, one that may hide
ours, a create AWS refused, a request never called.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Collection, Mapping
from typing import Any

from amistore_operator.core import model, timestamps

# EC2's API is eventually consistent and AWS publishes no bound for how long a new
# store task may stay unlisted; observed delays are seconds. The grace covers that.
DEFAULT_GRACE = datetime.timedelta(minutes=10)
DEFAULT_CALL_WINDOW = datetime.timedelta(minutes=5)
# Clocks (AWS's, the operator's, a person's) agree within this. A Failed task that
# started this long before a request is the one it retries; a retry value naming a time
# retries a Failed task that started this long before it.
START_SKEW = datetime.timedelta(seconds=60)
LISTED_START = "listedTaskStartTime"  # a Queued entry's: the task AWS listed at R


@dataclasses.dataclass(frozen=True)
class Request:
    """A request for one (account, region, bucket, AMI), recorded in a status at R."""

    owner: str  # the AmiStore whose status holds it
    requested_time: str  # R
    listed_start: str | None = None  # the Failed task AWS listed at R (a retry), if known
    mine: bool = False  # this process recorded it: it may call for it, once
    confirmed: bool = False  # the status holding it is stored
    called: bool = False
    expires: str | None = None  # R plus the grace of the AmiStore that recorded it


def window(base: datetime.timedelta, interval: float) -> datetime.timedelta:
    """How long after R a call may still be made: the base window plus one interval."""
    return base + datetime.timedelta(seconds=interval)


def grace(
    base: datetime.timedelta, window_base: datetime.timedelta, interval: float
) -> datetime.timedelta:
    """How long a request lives: past its call window, two intervals and the base grace."""
    return base + window(window_base, interval) + datetime.timedelta(seconds=2 * interval)


def ended(
    request: Request,
    task: model.StoreTask | None,
    now: datetime.datetime,
    live_for: datetime.timedelta,
) -> bool:
    """Whether a request is over: AWS lists a task started for it, or its grace passed."""
    requested = timestamps.parse_time(request.requested_time)
    if requested is None or now >= requested + live_for or expired(request, now):
        return True
    return task is not None and not _older(task, request, requested)


def expired(request: Request, now: datetime.datetime) -> bool:
    """Whether the request's grace, as its AmiStore had it, has passed."""
    expires = timestamps.parse_time(request.expires)
    return expires is not None and now >= expires


def _older(task: model.StoreTask, request: Request, requested: datetime.datetime) -> bool:
    """Whether ``task`` is the Failed one a retry request replaces (not a task it started)."""
    if task.state != model.TaskState.FAILED:
        return False
    if request.listed_start is not None:
        return _start(task) == request.listed_start
    return task.start_time is not None and task.start_time < requested - START_SKEW


def is_refused(entry: Mapping[str, Any]) -> bool:
    """Whether an entry records a create AWS refused (Failed, requested, never started)."""
    return (
        entry.get("state") == model.TaskState.FAILED
        and bool(entry.get("requestedTime"))
        and not entry.get("taskStartTime")
    )


def drop_uncalled(
    previous: Mapping[str, Mapping[str, Any]],
    uncalled: Mapping[str, Mapping[str, Collection[str]]],
) -> dict[str, Mapping[str, Any]]:
    """The previous entries, those that show a request no call was ever made for as waiting.

    ``uncalled``: by bucket, AMI -> every ``requestedTime`` of the requests this process
    recorded and dropped before their status was confirmed stored. It never calls for those,
    and no other process calls for a request it did not record. A write that got no answer
    may have stored one all the same, and a late watch may show it after a later one was
    dropped too; that request started no task, so it waits out no grace, and no task into
    another bucket may hide its task (``hidden``): the AMI is wanted again as though it
    had waited for a slot since then (a Failed task started before it is retried, as the
    retry value that asked for the request wanted; ``exportcapacity.waits_to_retry``).
    """
    kept = {}
    for ami_id, entry in previous.items():
        stamp = entry.get("requestedTime")
        dropped = uncalled.get(str(entry.get("bucket")), {}).get(ami_id, ())
        if stamp is None or stamp not in dropped:
            kept[ami_id] = entry
            continue
        waiting = {k: v for k, v in entry.items() if k not in ("requestedTime", LISTED_START)}
        kept[ami_id] = {**waiting, "lastTransitionTime": stamp}
    return kept


def hidden(
    listed: model.StoreTask | None,
    prev: Mapping[str, Any],
    bucket: str | None,
    live_for: datetime.timedelta | None = None,
) -> bool:
    """Whether AWS's latest task, into another bucket, may hide ours, as the status shows.

    DescribeStoreImageTasks shows an AMI's latest task only: a later export of the same
    AMI into another bucket hides a task into ours that the status saw start, or that a
    request recorded before it may have started. Neither is a reason to start another.
    ``live_for``: the requests' grace; a task started after a request's grace ended hides
    nothing of it (at its end the request was over, no task of it seen: ``ended``).
    """
    if listed is None or listed.bucket in (None, bucket):
        return False
    if prev.get("bucket") == bucket and prev.get("taskStartTime"):
        return True
    if prev.get(LISTED_START) == _start(listed):
        return False  # the task AWS listed when the request was recorded: older than ours
    requested = timestamps.parse_time(prev.get("requestedTime"))
    return (
        prev.get("state") == model.TaskState.QUEUED
        and requested is not None
        and listed.start_time is not None
        and listed.start_time >= requested - START_SKEW
        and (live_for is None or listed.start_time < requested + live_for)
    )


def in_bucket(task: model.StoreTask | None, bucket: str | None) -> model.StoreTask | None:
    """A task into another bucket is no task into this one."""
    if task is not None and task.bucket not in (None, bucket):
        return None
    return task


def _start(task: model.StoreTask | None) -> str | None:
    if task is None or task.start_time is None:
        return None
    return timestamps.format_time(task.start_time)


def request_for(
    key: str, task: model.StoreTask | None, now: datetime.datetime, live_for: datetime.timedelta
) -> Request:
    """The request this process records for an AMI now."""
    return Request(
        owner=key,
        requested_time=timestamps.format_time(now),
        listed_start=_start(task),
        mine=True,
        expires=timestamps.format_time(now + live_for),
    )
