"""The retry rules: when the retry annotation starts a Failed task again, and how it is recorded.

Pure, like ``export``. A new value of the annotation retries a Failed task once
(``retries``); a value naming a time (``retry_time``) retries only a task that started
before it; the status records the value handled (``retry_token``).
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from amistore_operator.core import exportpoll, exportrequests, model, timestamps

MAX_RETRY_VALUE = 256  # status.lastHandledRetryAt's maxLength


def retries(
    inputs: exportpoll.Inputs, state: model.TaskState, start: datetime.datetime | None
) -> bool:
    """Whether this poll's retry value asks to start again a task in ``state`` since ``start``.

    A new value, and a Failed task only. A value naming a time (RFC 3339, as the docs tell
    people to set it) retries a task that started at least ``START_SKEW`` before that time:
    whatever the watch lag, a value set before a task started never retries it. A free-form
    value retries a task that started before the operator first saw the value
    (``retry_seen``), however late a poll reads it: one set within the watch lag before a
    task starts may retry that task, once it fails.
    """
    requested = inputs.retry_requested
    if state != model.TaskState.FAILED or not is_new(inputs):
        return False
    named = retry_time(requested)
    if named is not None:
        return start is not None and start < named - exportrequests.START_SKEW
    seen = inputs.retry_seen
    return seen is None or (start is not None and start < seen)


def asked_again(
    entry: Mapping[str, Any], state: model.TaskState, started: datetime.datetime | None
) -> bool:
    """Whether the request an entry shows was one to start a Failed task again.

    Only a retry value asks for a Failed task's AMI (``retries``, or an entry waiting to
    retry), and AWS lists no task of that request: the task AWS lists is the one it listed
    when the request was recorded, or started before it by more than ``START_SKEW`` (so it
    is not the request's own, whatever the clocks). When the request ends
    unanswered (a crash or a lost call, after the value was recorded handled), the AMI is
    asked for again: the value is not read twice, and its retry is not lost.
    """
    requested = timestamps.parse_time(entry.get("requestedTime"))
    if state != model.TaskState.FAILED or entry.get("state") != model.TaskState.QUEUED:
        return False
    if requested is None or started is None:
        return False
    listed = entry.get(exportrequests.LISTED_START)
    return listed == timestamps.format_time(started) or (
        started < requested - exportrequests.START_SKEW
    )


def is_new(inputs: exportpoll.Inputs) -> bool:
    """Whether this poll acts on a new retry value (and records it handled).

    Only a poll with a fresh answer for every AMI the status shows Failed does, and one
    that answered for all (bar IDs AWS rejects): another would record the value handled
    with some Failed tasks unseen, never to be retried. The value waits for a poll that
    answers (``unread``: the AMIs to poll at once for it).
    """
    requested = inputs.retry_requested
    new = requested is not None and requested != inputs.retry_handled
    return new and inputs.answered and not _unlisted_failed(inputs)


def unread(inputs: exportpoll.Inputs) -> tuple[str, ...]:
    """The Failed AMIs to poll at once so that a new retry value can be read."""
    requested = inputs.retry_requested
    if requested is None or requested == inputs.retry_handled:
        return ()
    return _unlisted_failed(inputs)


def _unlisted_failed(inputs: exportpoll.Inputs) -> tuple[str, ...]:
    """The AMIs the status shows Failed that this poll has no fresh answer for.

    The poller checks an ended task again only every few intervals.
    """
    return tuple(
        ami_id
        for ami_id in inputs.spec.image_ids
        if ami_id not in inputs.listed
        and (inputs.previous.get(ami_id) or {}).get("state") == model.TaskState.FAILED
    )


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def retry_time(value: str | None) -> datetime.datetime | None:
    """The time a retry value names, when it is an RFC 3339 date-time; else None."""
    if value is None or not _RFC3339.fullmatch(value):
        return None
    return timestamps.parse_time(value.upper())


def retry_token(value: str | None) -> str | None:
    """The retry annotation's value as the status records it: a digest when over 256 characters.

    ``status.lastHandledRetryAt`` holds at most 256 characters; a longer value kept as it
    is would make every status write invalid.
    """
    if value is None or len(value) <= MAX_RETRY_VALUE:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()
