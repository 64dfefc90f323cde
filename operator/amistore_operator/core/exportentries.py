"""The task entries export mode shows, once a poll's decision has been carried out.

Pure, like ``export``: the decision, what came of it, and the requests that live
after it in; the entries by AMI out (``Queued``, with or without ``requestedTime``,
or ``Failed`` for a create AWS refused for good), shown instead of AWS's view alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from amistore_operator.core import export, model, timestamps


@dataclasses.dataclass(frozen=True)
class Results:
    """What came of a decision: what was recorded, refused, withdrawn; the live requests."""

    recorded: tuple[str, ...] = ()  # AMIs whose new request this status records
    refused: Mapping[str, str] = dataclasses.field(default_factory=dict)  # AMI -> AWS's reason
    withdrawn: tuple[str, ...] = ()  # creates AWS refused for capacity: they wait again
    requests: Mapping[str, export.Request] = dataclasses.field(default_factory=dict)  # live


def entries(
    inputs: export.Inputs, decision: export.Decision, results: Results
) -> dict[str, dict[str, Any]]:
    """The entries export mode shows for this poll, by AMI."""
    stamp = timestamps.format_time(inputs.now)
    bucket = inputs.spec.bucket
    retry = export.is_new(inputs)
    recorded = set(results.recorded)
    waiting = {*decision.wait, *results.withdrawn}
    live_for = export.grace(inputs.grace, inputs.call_window, inputs.interval)
    shown: dict[str, dict[str, Any]] = {}
    for ami_id in inputs.spec.image_ids:
        prev = inputs.previous.get(ami_id) or {}
        request = results.requests.get(ami_id)
        if ami_id in results.refused:
            requested = prev.get("requestedTime") or stamp
            entry = refused_entry(ami_id, inputs.spec.bucket or "", results.refused[ami_id], stamp)
            shown[ami_id] = {**entry, "requestedTime": requested}
        elif request is not None and request.owner == inputs.key:
            same = ami_id not in recorded and prev.get("requestedTime") == request.requested_time
            shown[ami_id] = dict(prev) if same else requested_entry(ami_id, request, bucket)
        elif ami_id in recorded:
            shown[ami_id] = queued_entry(ami_id, stamp, bucket)
        elif ami_id in waiting:
            kept = export.is_waiting(prev)
            shown[ami_id] = dict(prev) if kept else waiting_entry(ami_id, stamp, bucket)
        elif ami_id not in inputs.listed:
            if prev.get("state") == model.TaskState.QUEUED and not prev.get("requestedTime"):
                shown[ami_id] = dict(prev)  # no fresh answer for it: it still waits
        elif not retry and export.hidden(inputs.listed[ami_id], prev, inputs.spec.bucket, live_for):
            if prev.get("state") == model.TaskState.QUEUED:
                shown[ami_id] = dict(prev)  # its task may be behind one into another bucket
        elif export.in_bucket(inputs.listed[ami_id], inputs.spec.bucket) is None and not retry:
            remembered = inputs.seen.get(ami_id)
            if export.is_refused(prev):
                shown[ami_id] = dict(prev)
            elif ami_id in inputs.refused:
                reason = inputs.refused[ami_id]
                entry = refused_entry(ami_id, inputs.spec.bucket or "", reason, stamp)
                shown[ami_id] = {**entry, "requestedTime": stamp}
            elif remembered is not None and remembered[1] in _ENDED:
                shown[ami_id] = remembered_entry(ami_id, bucket or "", remembered, stamp)
    return shown


_ENDED = frozenset({model.TaskState.COMPLETED, model.TaskState.FAILED})


def remembered_entry(
    ami_id: str, bucket: str, seen: tuple[str, model.TaskState], stamp: str
) -> dict[str, Any]:
    """The entry of an ended task into ``bucket`` that a later one into another bucket hides.

    AWS lists an AMI's latest task only; shown in the status, the task is known to a
    restarted operator too, which then does not start it again.
    """
    start, state = seen
    return {
        "amiId": ami_id,
        "state": state.value,
        "progressPercentage": 100 if state == model.TaskState.COMPLETED else 0,
        "bucket": bucket,
        "taskStartTime": start,
        "lastTransitionTime": stamp,
        "lastProgressTime": stamp,
    }


def in_flight(inputs: export.Inputs, shown: Mapping[str, Mapping[str, Any]]) -> int:
    """This AmiStore's store work in progress: InProgress tasks and its live requests."""
    count = 0
    live_for = export.grace(inputs.grace, inputs.call_window, inputs.interval)
    for ami_id in inputs.spec.image_ids:
        entry = shown.get(ami_id)
        if entry is not None:
            requested = entry.get("state") == model.TaskState.QUEUED and entry.get("requestedTime")
            listed = inputs.listed.get(ami_id)
            hides = export.hidden(listed, entry, inputs.spec.bucket, live_for)
            count += 1 if requested and not hides else 0
            continue
        task = export.in_bucket(inputs.listed.get(ami_id), inputs.spec.bucket)
        count += 1 if task is not None and task.state == model.TaskState.IN_PROGRESS else 0
    return count


def queued_entry(ami_id: str, stamp: str, bucket: str | None = None) -> dict[str, Any]:
    """A ``Queued`` task entry requested at ``stamp`` (into ``bucket``)."""
    return {**waiting_entry(ami_id, stamp, bucket), "requestedTime": stamp}


def requested_entry(ami_id: str, request: export.Request, bucket: str | None) -> dict[str, Any]:
    """The ``Queued`` entry of a request, with the start of the task AWS listed at R."""
    entry = queued_entry(ami_id, request.requested_time, bucket)
    if request.listed_start is not None:
        entry[export.LISTED_START] = request.listed_start
    return entry


def waiting_entry(ami_id: str, stamp: str, bucket: str | None = None) -> dict[str, Any]:
    """A ``Queued`` entry with no request yet: it waits for store capacity.

    With its bucket, so a spec that names another bucket drops it (``taskentries.matches``).
    """
    entry: dict[str, Any] = {
        "amiId": ami_id,
        "state": model.TaskState.QUEUED.value,
        "progressPercentage": 0,
        "lastTransitionTime": stamp,
    }
    if bucket:
        entry["bucket"] = bucket
    return entry


def refused_entry(ami_id: str, bucket: str, reason: str, stamp: str) -> dict[str, Any]:
    """A ``Failed`` entry for a create AWS refused for good, with AWS's code and message."""
    return {
        "amiId": ami_id,
        "state": model.TaskState.FAILED.value,
        "progressPercentage": 0,
        "bucket": bucket,
        "failureReason": reason,
        "lastTransitionTime": stamp,
    }
