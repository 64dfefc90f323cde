"""The retry rules: when the retry annotation starts a Failed task again, and how it is recorded.

Pure, like ``export``. A new value of the annotation retries a Failed task once
(``retries``); a value naming a time (``retry_time``) retries only a task that started
before it; the status records the value handled (``retry_token``).
"""

from __future__ import annotations

import datetime
import hashlib
import re

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
    if state != model.TaskState.FAILED or requested in (None, inputs.retry_handled):
        return False
    named = retry_time(requested)
    if named is not None:
        return start is not None and start < named - exportrequests.START_SKEW
    seen = inputs.retry_seen
    return seen is None or (start is not None and start < seen)


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
