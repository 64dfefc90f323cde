"""Export (``spec.createTasks``): who may export where, and which AMIs to start, never twice.

Pure: the spec, what AWS lists, the previous status and ``now`` in; a decision out.

Never twice. The status is the record, written before the call: an AMI AWS
shows no task for becomes ``Queued`` with ``requestedTime`` R (a status write,
no call). On a later poll, once that status is stored, the process that wrote
R calls ``CreateStoreImageTask`` for it, at most once, and only within
``call_window`` of R, and only while AWS still lists what it listed when R was
recorded. A new R for the same AMI is recorded only ``grace`` after the last one,
where ``grace`` is at least ``call_window`` plus EC2's visibility delay: any
call made for R is listed by then. So a crash before the call costs one grace
period, a crash after it costs nothing, and neither makes a second task: a
restarted process never calls for an R it did not record itself.

Capacity. AWS limits the store work in progress per account and region (1,200 GB
of snapshot data) and refuses creates beyond it; ``--max-concurrent-stores`` caps
the operator's own tasks in progress per (account, region). An AMI that must wait
for either is ``Queued`` without ``requestedTime``: no request is recorded for
it, so it can be requested at any later poll, as soon as ``admit`` gives it a slot.
A create AWS refused for capacity made no task, so its request is withdrawn the
same way.
"""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from amistore_operator.core import model, timestamps

# EC2's API is eventually consistent and AWS publishes no bound for how long a
# new store task may stay unlisted; observed delays are seconds. Generous here:
# the grace only delays a re-request after a crash between record and call.
DEFAULT_GRACE = datetime.timedelta(minutes=10)
DEFAULT_CALL_WINDOW = datetime.timedelta(minutes=5)

CONDITION = "ExportReady"
READY = "Ready"
CREATE_NOT_ALLOWED = "CreateNotAllowed"
BUCKET_NOT_ALLOWED = "BucketNotAllowed"
NAMESPACE_NOT_ALLOWED = "NamespaceNotAllowed"
ACCESS_DENIED = "AccessDenied"
CREATE_ACTION = "ec2:CreateStoreImageTask"


@dataclasses.dataclass(frozen=True)
class Permission:
    """What the operator's flags allow: ``--allow-create``, buckets, namespaces."""

    allow_create: bool = False
    allowed_buckets: tuple[str, ...] = ()  # shell-style patterns; none: no bucket
    create_namespaces: tuple[str, ...] = ("*",)  # shell-style patterns


@dataclasses.dataclass(frozen=True)
class Recorded:
    """A request this process recorded in a status and has not called yet."""

    requested_time: str  # the entry's requestedTime (R)
    listed_start: str | None  # the start of the Failed task AWS listed then (a retry), or None


@dataclasses.dataclass(frozen=True)
class Decision:
    """What to do this poll: AMIs to record as Queued (a status write), AMIs to create."""

    queue: tuple[str, ...] = ()
    create: tuple[str, ...] = ()
    retry_handled: str | None = None  # the retry value to record in the status
    wait: tuple[str, ...] = ()  # Queued without a request: no slot for them yet (see admit)


def matches_any(value: str, patterns: Sequence[str]) -> bool:
    """Whether ``value`` matches one of the shell-style ``patterns`` (case-sensitive)."""
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def export_ready(
    spec: model.AmiStoreSpec,
    namespace: str,
    permission: Permission,
    access_denied: str | None = None,
) -> tuple[str, str, str, str] | None:
    """The ``ExportReady`` condition (type, status, reason, message); None without createTasks.

    ``access_denied`` is the preflight's (DryRun) refusal message, if any.
    """
    if not spec.create_tasks:
        return None
    bucket = spec.bucket or ""
    if not permission.allow_create:
        return (
            CONDITION,
            "False",
            CREATE_NOT_ALLOWED,
            "The operator does not create store tasks (it runs without --allow-create)",
        )
    if not matches_any(bucket, permission.allowed_buckets):
        return (
            CONDITION,
            "False",
            BUCKET_NOT_ALLOWED,
            f'Bucket "{bucket}" matches none of the operator\'s --allowed-buckets',
        )
    if not matches_any(namespace, permission.create_namespaces):
        return (
            CONDITION,
            "False",
            NAMESPACE_NOT_ALLOWED,
            f'Namespace "{namespace}" matches none of the operator\'s --create-namespaces',
        )
    if access_denied is not None:
        return (
            CONDITION,
            "False",
            ACCESS_DENIED,
            f"Not allowed to call {CREATE_ACTION}: {access_denied}",
        )
    return (CONDITION, "True", READY, f'Store tasks into "{bucket}" are started as needed')


def is_ready(condition: tuple[str, str, str, str] | None) -> bool:
    """Whether an ``ExportReady`` condition allows creating."""
    return condition is not None and condition[1] == "True"


def decide(
    spec: model.AmiStoreSpec,
    listed: Mapping[str, model.StoreTask | None],
    previous: Mapping[str, Mapping[str, Any]],
    *,
    now: datetime.datetime,
    recorded: Mapping[str, Recorded],
    retry_requested: str | None = None,
    retry_handled: str | None = None,
    grace: datetime.timedelta = DEFAULT_GRACE,
    call_window: datetime.timedelta = DEFAULT_CALL_WINDOW,
) -> Decision:
    """Which AMIs to record as Queued now, and which recorded ones to create now.

    ``listed`` is AWS's latest task per AMI in the spec's bucket from a fresh
    describe answer (``None``: no task); an AMI missing from it (stale data) is
    left alone. ``previous`` holds the previous status's entries by AMI;
    ``recorded`` the requests this process wrote and has not called yet.
    The caller checks ``ExportReady`` first.
    """
    if not spec.create_tasks or spec.bucket is None:
        return Decision(retry_handled=retry_handled)
    retry = retry_requested is not None and retry_requested != retry_handled
    queue: list[str] = []
    create: list[str] = []
    for ami_id in spec.image_ids:
        if ami_id not in listed:
            continue  # no fresh answer for it: never act on a guess
        task = listed[ami_id]
        if task is not None and task.bucket not in (None, spec.bucket):
            task = None  # a task into another bucket is no task into this one
        listed_start = _start(task)
        prev = previous.get(ami_id) or {}
        requested = (
            timestamps.parse_time(prev.get("requestedTime"))
            if prev.get("state") == model.TaskState.QUEUED
            else None
        )
        if requested is not None and now < requested + grace:
            mine = recorded.get(ami_id)
            if (
                mine is not None
                and mine.requested_time == prev.get("requestedTime")
                and mine.listed_start == listed_start
                and (task is None or task.state == model.TaskState.FAILED)
                and now < requested + call_window
            ):
                create.append(ami_id)
            continue
        if task is None and is_refused(prev) and not retry:
            continue  # AWS refused our create for good: a person fixes it, then retries
        failed = task is not None and task.state == model.TaskState.FAILED
        if task is None or (failed and (retry or is_waiting(prev))):
            queue.append(ami_id)
    handled = retry_requested if retry else retry_handled
    return Decision(queue=tuple(queue), create=tuple(create), retry_handled=handled)


def admit(decision: Decision, slots: int | None) -> Decision:
    """Record at most ``slots`` new requests (None: no cap); the rest wait, unrequested."""
    if slots is None or len(decision.queue) <= slots:
        return decision
    cut = max(0, slots)
    return dataclasses.replace(
        decision,
        queue=decision.queue[:cut],
        wait=(*decision.wait, *decision.queue[cut:]),
    )


def in_flight(
    spec: model.AmiStoreSpec,
    listed: Mapping[str, model.StoreTask | None],
    shown: Mapping[str, Mapping[str, Any]],
) -> int:
    """This AmiStore's store work in progress: InProgress tasks and live requests.

    ``shown`` is what ``entries`` returned; a requested ``Queued`` entry counts until
    AWS lists its task (or its grace ends), so a request not listed yet holds a slot.
    """
    count = 0
    for ami_id in spec.image_ids:
        entry = shown.get(ami_id)
        if entry is not None:
            requested = entry.get("state") == model.TaskState.QUEUED and entry.get("requestedTime")
            count += 1 if requested else 0
            continue
        task = listed.get(ami_id)
        if task is not None and task.state == model.TaskState.IN_PROGRESS:
            count += 1 if task.bucket in (None, spec.bucket) else 0
    return count


def entries(
    spec: model.AmiStoreSpec,
    listed: Mapping[str, model.StoreTask | None],
    previous: Mapping[str, Mapping[str, Any]],
    decision: Decision,
    *,
    now: datetime.datetime,
    refused: Mapping[str, tuple[str, str]] | None = None,
    grace: datetime.timedelta = DEFAULT_GRACE,
) -> dict[str, dict[str, Any]]:
    """The entries export mode shows instead of AWS's view alone, by AMI.

    New ``Queued`` entries for ``decision.queue``; ``Queued`` ones without a request
    for ``decision.wait`` (kept as they were while they wait); ``Failed`` ones for
    creates AWS ``refused`` (AMI -> (code, message)); kept ``Queued`` entries while AWS
    lists nothing newer within the grace; kept refusals while AWS lists nothing.
    """
    stamp = timestamps.format_time(now)
    shown: dict[str, dict[str, Any]] = {}
    queued = set(decision.queue)
    waiting = set(decision.wait)
    for ami_id in spec.image_ids:
        prev = previous.get(ami_id) or {}
        if ami_id in waiting:
            shown[ami_id] = dict(prev) if is_waiting(prev) else waiting_entry(ami_id, stamp)
        elif refused and ami_id in refused:
            code, message = refused[ami_id]
            requested = prev.get("requestedTime") or stamp
            shown[ami_id] = refused_entry(ami_id, spec.bucket or "", code, message, stamp)
            shown[ami_id]["requestedTime"] = requested
        elif ami_id in queued:
            shown[ami_id] = queued_entry(ami_id, stamp)
        elif ami_id in listed:
            task = listed[ami_id]
            if task is not None and task.bucket not in (None, spec.bucket):
                task = None
            if (
                _still_queued(prev, task, now, grace)
                or (task is None and is_refused(prev))
                or (is_waiting(prev) and (task is None or task.state == model.TaskState.FAILED))
            ):
                shown[ami_id] = dict(prev)
        elif is_waiting(prev):
            shown[ami_id] = dict(prev)  # no fresh answer for it: it still waits
    return shown


def is_waiting(entry: Mapping[str, Any]) -> bool:
    """Whether an entry is ``Queued`` without a request (waiting for a slot)."""
    return entry.get("state") == model.TaskState.QUEUED and not entry.get("requestedTime")


def is_refused(entry: Mapping[str, Any]) -> bool:
    """Whether an entry records a create AWS refused (Failed, requested, never started)."""
    return (
        entry.get("state") == model.TaskState.FAILED
        and bool(entry.get("requestedTime"))
        and not entry.get("taskStartTime")
    )


def _still_queued(
    prev: Mapping[str, Any],
    task: model.StoreTask | None,
    now: datetime.datetime,
    grace: datetime.timedelta,
) -> bool:
    """A Queued entry within its grace, while AWS lists nothing newer than the request."""
    if prev.get("state") != model.TaskState.QUEUED:
        return False
    requested = timestamps.parse_time(prev.get("requestedTime"))
    if requested is None or now >= requested + grace:
        return False
    if task is None:
        return True
    # A retry over a Failed task: that old task is listed until the new one is.
    return (
        task.state == model.TaskState.FAILED
        and task.start_time is not None
        and task.start_time < requested
    )


def recorded_for(
    queue: Sequence[str], listed: Mapping[str, model.StoreTask | None], stamp: str
) -> dict[str, Recorded]:
    """The in-memory records of AMIs queued at ``stamp`` (kept until called or dropped)."""
    return {ami_id: Recorded(stamp, _start(listed.get(ami_id))) for ami_id in queue}


def queued_entry(ami_id: str, stamp: str) -> dict[str, Any]:
    """A ``Queued`` task entry requested at ``stamp``."""
    return {**waiting_entry(ami_id, stamp), "requestedTime": stamp}


def waiting_entry(ami_id: str, stamp: str) -> dict[str, Any]:
    """A ``Queued`` entry with no request yet: it waits for store capacity."""
    return {
        "amiId": ami_id,
        "state": model.TaskState.QUEUED.value,
        "progressPercentage": 0,
        "lastTransitionTime": stamp,
    }


def refused_entry(ami_id: str, bucket: str, code: str, message: str, stamp: str) -> dict[str, Any]:
    """A ``Failed`` entry for a create AWS refused for good, with AWS's code and message."""
    return {
        "amiId": ami_id,
        "state": model.TaskState.FAILED.value,
        "progressPercentage": 0,
        "bucket": bucket,
        "failureReason": f"{code}: {message}" if message else code,
        "lastTransitionTime": stamp,
    }


def _start(task: model.StoreTask | None) -> str | None:
    if task is None or task.start_time is None:
        return None
    return timestamps.format_time(task.start_time)
