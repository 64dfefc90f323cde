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

The rules live beside this module, each named for what it holds: ``exportready`` (who
may export where), ``exportrequests`` (a request's life), ``exportretry`` (the retry
annotation), ``exportprobe`` (the DryRun), ``exportcapacity`` (the slots), and
``exportpoll`` (the ``Inputs`` and the ``Decision``); ``decide`` composes them. The names
the shell uses stay reachable here as ``export.NAME``.
"""

from __future__ import annotations

import datetime

from amistore_operator.core import (
    exportcapacity,
    exportpoll,
    exportprobe,
    exportready,
    exportrequests,
    exportretry,
    model,
    timestamps,
)
from amistore_operator.core.exportcapacity import fair_slots, is_waiting
from amistore_operator.core.exportpoll import Decision, Inputs
from amistore_operator.core.exportready import (
    Condition,
    Permission,
    Verdict,
    export_ready,
    is_ready,
)
from amistore_operator.core.exportrequests import (
    DEFAULT_CALL_WINDOW,
    DEFAULT_GRACE,
    LISTED_START,
    START_SKEW,
    Request,
    drop_uncalled,
    expired,
    grace,
    hidden,
    in_bucket,
    is_refused,
    request_for,
)
from amistore_operator.core.exportretry import MAX_RETRY_VALUE, is_new, retry_token

__all__ = [
    "DEFAULT_CALL_WINDOW",
    "DEFAULT_GRACE",
    "LISTED_START",
    "MAX_RETRY_VALUE",
    "START_SKEW",
    "Condition",
    "Decision",
    "Inputs",
    "Permission",
    "Request",
    "Verdict",
    "decide",
    "drop_uncalled",
    "expired",
    "export_ready",
    "fair_slots",
    "grace",
    "hidden",
    "in_bucket",
    "is_new",
    "is_ready",
    "is_refused",
    "is_waiting",
    "request_for",
    "retry_token",
]


def decide(inputs: exportpoll.Inputs) -> exportpoll.Decision:
    """The one decision of this poll (see the module docstring)."""
    spec = inputs.spec
    retry = exportretry.is_new(inputs)
    handled = inputs.retry_requested if retry else inputs.retry_handled
    verdict = inputs.verdict
    denied = verdict.denied if verdict is not None else None
    condition = exportready.export_ready(
        spec, inputs.namespace, _PERMIT, denied, inputs.account_denied
    )
    if inputs.account_denied is not None:
        return exportpoll.Decision(condition, retry_handled=inputs.retry_handled)
    create, wanted, done, busy = _sort_amis(inputs, retry)
    probe = exportprobe.probe(inputs, wanted, denied)
    ready = (
        exportready.is_ready(condition) and probe is None and verdict is not None and denied is None
    )
    if probe is not None or not ready:
        # Asked for nothing (refused, or no verdict): a new retry value waits for a poll that
        # may ask, so the AMIs it retries are not lost to this one.
        unread = probe is None and bool(wanted or busy)
        # Without a DryRun, those that were waiting (perhaps to retry) wait on.
        prev = inputs.previous
        waiting = [a for a in (*wanted, *busy) if exportcapacity.is_waiting(prev.get(a) or {})]
        return exportpoll.Decision(
            condition,
            preflight=probe,
            queue=tuple(wanted) if probe is not None else (),
            wait=tuple(busy) if probe is not None else tuple(waiting),
            ended=tuple(done),
            retry_handled=inputs.retry_handled if unread else handled,
            candidates=len(wanted),
            refresh=exportretry.unread(inputs),
        )
    cut = len(wanted) if inputs.slots is None else max(0, inputs.slots)
    # A new retry value: no call before a status recording it handled is stored. Else,
    # that status refused, a later poll would read the value as new and retry for it the
    # task this poll started after reading it.
    deferred, create = (create, []) if retry else ([], create)
    return exportpoll.Decision(
        condition,
        queue=tuple(wanted[:cut]),
        create=tuple(create),
        deferred=tuple(deferred),
        wait=(*wanted[cut:], *busy),
        ended=tuple(done),
        retry_handled=handled,
        candidates=len(wanted),
        refresh=exportretry.unread(inputs),
    )


# The flags are checked by the shell's own Permission in ``export_ready``; the pure
# decision only needs the verdicts, so it asks with a permission that allows all.
_PERMIT = exportready.Permission(
    allow_create=True, allowed_buckets=("*",), create_namespaces=("*",)
)


def _sort_amis(
    inputs: exportpoll.Inputs, retry: bool
) -> tuple[list[str], list[str], list[str], list[str]]:
    """This poll's AMIs by what they need: a call now, a request, an end to their request,
    a request once the live one into another bucket ends (they wait, as for a slot: one
    export of an AMI at a time, as AWS lists an AMI's latest task only)."""
    spec = inputs.spec
    live_for = exportrequests.grace(inputs.grace, inputs.call_window, inputs.interval)
    call_by = exportrequests.window(inputs.call_window, inputs.interval)
    create: list[str] = []
    wanted: list[str] = []
    done: list[str] = []
    busy: list[str] = []
    for ami_id in spec.image_ids:
        if ami_id not in inputs.listed:
            continue  # no fresh answer for it: never act on a guess
        task = exportrequests.in_bucket(inputs.listed[ami_id], spec.bucket)
        request = inputs.requests.get(ami_id)
        if request is not None and exportrequests.ended(request, task, inputs.now, live_for):
            done.append(ami_id)
            request = None
        if request is not None:
            if _calls(inputs, request, call_by):
                create.append(ami_id)
            # Else another AmiStore's request for it is live: its task serves this one too.
            continue
        if _wants(inputs, ami_id, task, retry, live_for):
            (busy if ami_id in inputs.busy_elsewhere else wanted).append(ami_id)
    return create, wanted, done, busy


def _calls(
    inputs: exportpoll.Inputs, request: exportrequests.Request, call_by: datetime.timedelta
) -> bool:
    """Whether this process calls for a live request now: its own, stored, uncalled, in time."""
    requested = timestamps.parse_time(request.requested_time)
    return (
        request.owner == inputs.key
        and request.mine
        and request.confirmed
        and not request.called
        and requested is not None
        and inputs.now < requested + call_by
    )


def _wants(
    inputs: exportpoll.Inputs,
    ami_id: str,
    task: model.StoreTask | None,
    retry: bool,
    live_for: datetime.timedelta,
) -> bool:
    """Whether an AMI without a live request wants one: no task into the bucket, or a retry."""
    spec = inputs.spec
    prev = inputs.previous.get(ami_id) or {}
    if ami_id in inputs.refused and not retry:
        return False
    if (
        task is None
        and not retry
        and exportrequests.hidden(inputs.listed[ami_id], prev, spec.bucket, live_for)
    ):
        return False  # AWS lists only its latest task: ours may be behind one into another bucket
    seen = inputs.seen.get(ami_id)
    seen_start = timestamps.parse_time(seen[0]) if seen is not None else None
    if (
        task is None
        and seen is not None
        and not exportretry.retries(inputs, seen[1], seen_start)
        and not exportcapacity.waits_to_retry(prev, seen[1], seen_start)
    ):
        return False  # exported into this bucket already, behind a later task
    if task is None and exportrequests.is_refused(prev) and not retry:
        return False  # AWS refused our create for good: a person fixes it, then retries
    if task is None:
        return True
    return exportretry.retries(inputs, task.state, task.start_time) or (
        exportcapacity.waits_to_retry(prev, task.state, task.start_time)
        or exportretry.asked_again(prev, task.state, task.start_time)
    )
