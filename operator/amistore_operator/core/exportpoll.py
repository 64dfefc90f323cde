"""One poll of one export-mode AmiStore: what the shell gathered, and what to do.

Pure, like ``export``, whose ``decide`` turns the ``Inputs`` into the ``Decision``; the
DryRun and retry rules (``exportprobe``, ``exportretry``) read the same ``Inputs``.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from amistore_operator.core import exportready, exportrequests, model


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
    requests: Mapping[str, exportrequests.Request] = dataclasses.field(
        default_factory=dict
    )  # by AMI
    refused: Mapping[str, str] = dataclasses.field(default_factory=dict)  # AMI -> why
    verdict: exportready.Verdict | None = None
    slots: int | None = None  # new requests allowed now (None: no cap)
    account_denied: str | None = None  # the account map refuses the namespace
    retry_requested: str | None = None
    # When this process first saw ``retry_requested`` (its watch, or a poll's read); None:
    # this poll's own read. A free-form value retries only a task that started before it.
    retry_seen: datetime.datetime | None = None
    retry_handled: str | None = None
    # Every AMI had a fresh answer (bar IDs AWS rejects): only then is a new retry value read.
    answered: bool = True
    spec_changed: bool = False  # a new generation: ask IAM again at once
    busy_elsewhere: frozenset[str] = frozenset()  # AMIs with a live request into another bucket
    # The latest task any AmiStore saw into this bucket per AMI, (taskStartTime, state):
    # AWS lists an AMI's latest task only, so one into another bucket may hide it.
    seen: Mapping[str, tuple[str, model.TaskState]] = dataclasses.field(default_factory=dict)
    grace: datetime.timedelta = exportrequests.DEFAULT_GRACE
    call_window: datetime.timedelta = exportrequests.DEFAULT_CALL_WINDOW


@dataclasses.dataclass(frozen=True)
class Decision:
    """What to do this poll, in order: DryRun, record, call."""

    condition: exportready.Condition | None
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
    refresh: tuple[str, ...] = ()  # poll these at once: a new retry value waits for them
