"""Export (``spec.createTasks``): who may export where, and which AMIs to start, never twice.

Pure: one poll's inputs in (the spec, what AWS lists, the previous entries, the
requests recorded for the same AMIs and bucket by any AmiStore, the DryRun
verdict, the slots the capacity leaves, ``now``), one ``Decision`` out: what to
DryRun, what to record, what to call. ``exportentries`` renders the entries once
the shell has carried the decision out and handed the results back.

Never twice. The status is the record, written before the call: an AMI AWS
shows no task for becomes ``Queued`` with ``requestedTime`` R (a status write, no
call). Once that status is stored, the process that wrote R calls
``CreateStoreImageTask`` for it, at most once, within ``call_window`` of R. One
request per (account, region, bucket, AMI) across AmiStores: while one is live,
no AmiStore records another. A request ends when AWS lists a task started for
it (the AMI is polled every interval until then), or ``grace`` after R, which
exceeds the call window plus two intervals plus EC2's visibility delay: any
call made for R is listed, and seen, by then. So a crash before the call costs
one grace, a crash after it costs nothing, and neither makes a second task: a
restarted process never calls for an R it did not record itself. An R whose status
write was refused or got no answer is dropped, never called; a stored status that
shows it all the same shows no request (``drop_uncalled``).

Capacity. AWS limits the store work in progress per account and region and
refuses creates beyond it; ``--max-concurrent-stores`` caps the operator's own
tasks in progress per (account, region), shared fairly: while several AmiStores
wait, each may hold its share of the slots. An AMI that must wait is ``Queued``
without ``requestedTime``.
"""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
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
RECHECK_INTERVALS = 10  # a refused DryRun is asked again after this many intervals
MAX_RETRY_VALUE = 256  # status.lastHandledRetryAt's maxLength
MAX_PROBES = 3  # DryRuns with different AMIs before waiting for the recheck

CONDITION = "ExportReady"
READY = "Ready"
CREATE_NOT_ALLOWED = "CreateNotAllowed"
BUCKET_NOT_ALLOWED = "BucketNotAllowed"
NAMESPACE_NOT_ALLOWED = "NamespaceNotAllowed"
ACCESS_DENIED = "AccessDenied"
ACCOUNT_NOT_ALLOWED = "AccountNotAllowed"
CREATE_ACTION = "ec2:CreateStoreImageTask"

Condition = tuple[str, str, str, str]


@dataclasses.dataclass(frozen=True)
class Permission:
    """What the operator's flags allow: ``--allow-create``, buckets, namespaces."""

    allow_create: bool = False
    allowed_buckets: tuple[str, ...] = ()  # shell-style patterns; none: no bucket
    create_namespaces: tuple[str, ...] = ("*",)  # shell-style patterns


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


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The DryRun verdict for (account, region, bucket)."""

    checked: float  # monotonic seconds
    denied: str | None = None  # AWS's code and message when refused
    tried: tuple[str, ...] = ()  # AMIs refused since the last pass


@dataclasses.dataclass(frozen=True)
class Inputs:
    """One poll of one export-mode AmiStore, as the shell gathered it."""

    key: str
    namespace: str
    spec: model.AmiStoreSpec
    listed: Mapping[str, model.StoreTask | None]  # fresh: the latest task per AMI, or None
    previous: Mapping[str, Mapping[str, Any]]  # the previous status's entries by AMI
    now: datetime.datetime
    monotonic: float
    interval: float  # the effective poll interval (stretched by the budget, if so)
    requests: Mapping[str, Request] = dataclasses.field(default_factory=dict)  # by AMI
    refused: Mapping[str, str] = dataclasses.field(default_factory=dict)  # AMI -> why
    verdict: Verdict | None = None
    slots: int | None = None  # new requests allowed now (None: no cap)
    account_denied: str | None = None  # the account map refuses the namespace
    retry_requested: str | None = None
    # When this process first saw ``retry_requested`` (its watch, or a poll's read); None:
    # this poll's own read. A free-form value retries only a task that started before it.
    retry_seen: datetime.datetime | None = None
    retry_handled: str | None = None
    spec_changed: bool = False  # a new generation: ask IAM again at once
    busy_elsewhere: frozenset[str] = frozenset()  # AMIs with a live request into another bucket
    # The latest task any AmiStore saw into this bucket per AMI, (taskStartTime, state):
    # AWS lists an AMI's latest task only, so one into another bucket may hide it.
    seen: Mapping[str, tuple[str, model.TaskState]] = dataclasses.field(default_factory=dict)
    grace: datetime.timedelta = DEFAULT_GRACE
    call_window: datetime.timedelta = DEFAULT_CALL_WINDOW


@dataclasses.dataclass(frozen=True)
class Decision:
    """What to do this poll, in order: DryRun, record, call."""

    condition: Condition | None
    preflight: str | None = None  # DryRun with this AMI first; ``queue`` only if allowed
    queue: tuple[str, ...] = ()  # record Queued with requestedTime now (a status write)
    create: tuple[str, ...] = ()  # call now: confirmed requests of this process
    # Queued without a request: no slot yet. An AMI another AmiStore's live request covers
    # is not among them: it shows as AWS lists it (Pending) until that task is listed.
    wait: tuple[str, ...] = ()
    ended: tuple[str, ...] = ()  # requests AWS now lists a task for, or past their grace
    # Calls put off to the poll right after this status, recording a new retry value
    # handled, is stored.
    deferred: tuple[str, ...] = ()
    retry_handled: str | None = None
    candidates: int = 0  # AMIs that want a request (queued or waiting)


def matches_any(value: str, patterns: Sequence[str]) -> bool:
    """Whether ``value`` matches one of the shell-style ``patterns`` (case-sensitive)."""
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def window(base: datetime.timedelta, interval: float) -> datetime.timedelta:
    """How long after R a call may still be made: the base window plus one interval."""
    return base + datetime.timedelta(seconds=interval)


def grace(
    base: datetime.timedelta, window_base: datetime.timedelta, interval: float
) -> datetime.timedelta:
    """How long a request lives: past its call window, two intervals and the base grace."""
    return base + window(window_base, interval) + datetime.timedelta(seconds=2 * interval)


def export_ready(
    spec: model.AmiStoreSpec,
    namespace: str,
    permission: Permission,
    access_denied: str | None = None,
    account_denied: str | None = None,
) -> Condition | None:
    """The ``ExportReady`` condition (type, status, reason, message); None without createTasks."""
    if not spec.create_tasks:
        return None
    bucket = spec.bucket or ""
    refusal: tuple[str, str] | None = None
    if not permission.allow_create:
        refusal = (
            CREATE_NOT_ALLOWED,
            "The operator does not create store tasks (it runs without --allow-create)",
        )
    elif not matches_any(bucket, permission.allowed_buckets):
        refusal = (
            BUCKET_NOT_ALLOWED,
            f'Bucket "{bucket}" matches none of the operator\'s --allowed-buckets',
        )
    elif not matches_any(namespace, permission.create_namespaces):
        refusal = (
            NAMESPACE_NOT_ALLOWED,
            f'Namespace "{namespace}" matches none of the operator\'s --create-namespaces',
        )
    elif account_denied is not None:
        refusal = (ACCOUNT_NOT_ALLOWED, account_denied)
    elif access_denied is not None:
        refusal = (ACCESS_DENIED, f"Not allowed to call {CREATE_ACTION}: {access_denied}")
    if refusal is not None:
        return (CONDITION, "False", *refusal)
    return (CONDITION, "True", READY, f'Store tasks into "{bucket}" are started as needed')


def is_ready(condition: Condition | None) -> bool:
    """Whether an ``ExportReady`` condition allows creating."""
    return condition is not None and condition[1] == "True"


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


def decide(inputs: Inputs) -> Decision:
    """The one decision of this poll (see the module docstring)."""
    spec = inputs.spec
    retry = inputs.retry_requested is not None and inputs.retry_requested != inputs.retry_handled
    handled = inputs.retry_requested if retry else inputs.retry_handled
    live_for = grace(inputs.grace, inputs.call_window, inputs.interval)
    call_by = window(inputs.call_window, inputs.interval)
    verdict = inputs.verdict
    denied = verdict.denied if verdict is not None else None
    condition = export_ready(spec, inputs.namespace, _PERMIT, denied, inputs.account_denied)
    if inputs.account_denied is not None:
        return Decision(condition, retry_handled=inputs.retry_handled)
    create: list[str] = []
    wanted: list[str] = []
    waiting: list[str] = []
    done: list[str] = []
    for ami_id in spec.image_ids:
        if ami_id not in inputs.listed:
            continue  # no fresh answer for it: never act on a guess
        task = in_bucket(inputs.listed[ami_id], spec.bucket)
        request = inputs.requests.get(ami_id)
        if request is not None and ended(request, task, inputs.now, live_for):
            done.append(ami_id)
            request = None
        if request is not None:
            requested = timestamps.parse_time(request.requested_time)
            if (
                request.owner == inputs.key
                and request.mine
                and request.confirmed
                and not request.called
                and requested is not None
                and inputs.now < requested + call_by
            ):
                create.append(ami_id)
            # Else another AmiStore's request for it is live: its task serves this one too.
            continue
        prev = inputs.previous.get(ami_id) or {}
        if ami_id in inputs.refused and not retry:
            continue
        if (
            task is None
            and not retry
            and hidden(inputs.listed[ami_id], prev, spec.bucket, live_for)
        ):
            continue  # AWS lists only its latest task: ours may be behind one into another bucket
        seen = inputs.seen.get(ami_id)
        seen_start = timestamps.parse_time(seen[0]) if seen is not None else None
        if task is None and seen is not None and not retries(inputs, seen[1], seen_start):
            continue  # exported into this bucket already, behind a later task
        if ami_id in inputs.busy_elsewhere:
            continue  # a live request into another bucket: one export of an AMI at a time
        if task is None and is_refused(prev) and not retry:
            continue  # AWS refused our create for good: a person fixes it, then retries
        again = task is not None and (
            retries(inputs, task.state, task.start_time)
            or (task.state == model.TaskState.FAILED and waits_to_retry(prev, task))
        )
        if task is None or again:
            wanted.append(ami_id)
    probe = _probe(inputs, wanted, denied)
    ready = is_ready(condition) and probe is None and verdict is not None and denied is None
    if probe is not None or not ready:
        return Decision(
            condition,
            preflight=probe,
            queue=tuple(wanted) if probe is not None else (),
            wait=tuple(waiting),
            ended=tuple(done),
            retry_handled=handled,
            candidates=len(wanted),
        )
    cut = len(wanted) if inputs.slots is None else max(0, inputs.slots)
    # A new retry value: no call before a status recording it handled is stored. Else,
    # that status refused, a later poll would read the value as new and retry for it the
    # task this poll started after reading it.
    deferred, create = (create, []) if retry else ([], create)
    return Decision(
        condition,
        queue=tuple(wanted[:cut]),
        create=tuple(create),
        deferred=tuple(deferred),
        wait=(*waiting, *wanted[cut:]),
        ended=tuple(done),
        retry_handled=handled,
        candidates=len(wanted),
    )


# The flags are checked by the shell's own Permission in ``export_ready``; the pure
# decision only needs the verdicts, so it asks with a permission that allows all.
_PERMIT = Permission(allow_create=True, allowed_buckets=("*",), create_namespaces=("*",))


def _probe(inputs: Inputs, wanted: Sequence[str], denied: str | None) -> str | None:
    """The AMI to DryRun with now, if IAM's verdict is unknown or due again."""
    verdict = inputs.verdict
    tried = verdict.tried if verdict is not None else ()
    # AWS answered for these: an ID it rejects, or one it refused a create for, tells
    # nothing of IAM (a DryRun with it is refused as invalid, or adds nothing).
    pool = [
        a
        for a in dict.fromkeys((*wanted, *inputs.spec.image_ids))
        if a in inputs.listed and a not in inputs.refused
    ]
    fresh = [a for a in pool if a not in tried]
    first = next(iter(fresh or pool), None)
    if verdict is None or inputs.spec_changed:
        return first
    if denied is None:
        return None
    if not any(a in tried for a in pool):
        # Refused for other AmiStores' AMIs alone: ask with one of its own now, so the
        # verdict settles while things change, not at a recheck long after.
        return first
    due = inputs.monotonic - verdict.checked >= RECHECK_INTERVALS * inputs.interval
    if due:
        # An AMI that wants a task and was not tried yet, else one IAM refused: with nothing
        # to start, only a change of the policy changes the answer (and the condition).
        untried = [a for a in wanted if a in fresh]
        return untried[0] if untried else next(a for a in tried if a in pool)
    if len(tried) < MAX_PROBES and fresh and wanted:
        return fresh[0]  # IAM may be scoped per AMI: try another before waiting
    return None


def fair_slots(
    cap: int, in_flight: Mapping[str, int], wanting: Sequence[str], key: str
) -> int | None:
    """New requests ``key`` may record in its (account, region); None: no cap.

    ``in_flight``: each AmiStore's stores in progress (requests included); ``wanting``:
    the AmiStores with AMIs waiting for a request. While several wait, each may hold
    ``ceil(cap / len(wanting))`` slots, so no one AmiStore holds every slot.
    """
    if cap <= 0:
        return None
    free = cap - sum(in_flight.values())
    contenders = len({*wanting, key})
    share = math.ceil(cap / contenders)
    return max(0, min(free, share - in_flight.get(key, 0)))


def retries(inputs: Inputs, state: model.TaskState, start: datetime.datetime | None) -> bool:
    """Whether this poll's retry value asks to start again a task in ``state`` since ``start``.

    A new value, and a Failed task only. A value naming a time (RFC 3339, as the docs tell
    people to set it) retries a task that started at least ``START_SKEW`` before that time:
    whatever the watch lag, a value set before a task started never retries it. A free-form
    value retries a task that started before the operator first saw the value
    (``retry_seen``), however late a poll reads it: one set within the watch lag before a
    task starts may retry that task, once it fails.
    """
    requested = inputs.retry_requested
    if state != model.TaskState.FAILED or requested in (None, inputs.retry_handled):
        return False
    named = retry_time(requested)
    if named is not None:
        return start is not None and start < named - START_SKEW
    seen = inputs.retry_seen
    return seen is None or (start is not None and start < seen)


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def retry_time(value: str | None) -> datetime.datetime | None:
    """The time a retry value names, when it is an RFC 3339 date-time; else None."""
    if value is None or not _RFC3339.fullmatch(value):
        return None
    return timestamps.parse_time(value.upper())


def is_waiting(entry: Mapping[str, Any]) -> bool:
    """Whether an entry is ``Queued`` without a request (waiting for a slot)."""
    return entry.get("state") == model.TaskState.QUEUED and not entry.get("requestedTime")


def waits_to_retry(entry: Mapping[str, Any], task: model.StoreTask) -> bool:
    """Whether a waiting entry waits to retry the Failed ``task``: one started before the wait.

    A task started since is another AmiStore's export of the AMI (its request took the
    slot first), not a failure this AmiStore was asked to retry.
    """
    since = timestamps.parse_time(entry.get("lastTransitionTime"))
    started = task.start_time
    return is_waiting(entry) and (since is None or started is None or started < since)


def is_refused(entry: Mapping[str, Any]) -> bool:
    """Whether an entry records a create AWS refused (Failed, requested, never started)."""
    return (
        entry.get("state") == model.TaskState.FAILED
        and bool(entry.get("requestedTime"))
        and not entry.get("taskStartTime")
    )


def drop_uncalled(
    previous: Mapping[str, Mapping[str, Any]], uncalled: Mapping[str, Mapping[str, str]]
) -> dict[str, Mapping[str, Any]]:
    """The previous entries but those that show a request no call was ever made for.

    ``uncalled``: by bucket, AMI -> ``requestedTime`` of the requests this process recorded
    and dropped before their status was confirmed stored. It never calls for those, and no
    other process calls for a request it did not record. A write that got no answer may
    have stored one all the same; that request started no task, so it waits out no grace,
    and no task into another bucket may hide its task (``hidden``): the AMI is wanted again
    as though that entry were not there.
    """
    return {
        ami_id: entry
        for ami_id, entry in previous.items()
        if entry.get("requestedTime") is None
        or uncalled.get(str(entry.get("bucket")), {}).get(ami_id) != entry.get("requestedTime")
    }


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


def retry_token(value: str | None) -> str | None:
    """The retry annotation's value as the status records it: a digest when over 256 characters.

    ``status.lastHandledRetryAt`` holds at most 256 characters; a longer value kept as it
    is would make every status write invalid.
    """
    if value is None or len(value) <= MAX_RETRY_VALUE:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


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
