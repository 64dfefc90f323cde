"""The exports a status records beyond its task entries (``status.exportRecords``).

A status's task entries describe the account, region and bucket its spec names now,
and AWS lists an AMI's latest store task only. Two kinds of export that must never
start again may then be known to the operator's memory alone, lost at a restart:

- a request this AmiStore recorded into an account, region or bucket its spec no
  longer names (an edit moved it away before AWS listed the task): recorded until
  AWS lists that task or the request's grace ends; or while it exports no more (its
  spec rejected, or ``createTasks`` off): recorded until it exports again;
- an export that this AmiStore's request into another bucket hides once its task
  starts: the operator saw it just before; recorded for good.

Each record names its account (absent: the operator's own identity), region and
bucket. Pure: records in and out, as plain values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from amistore_operator.core import model

FIELD = "exportRecords"
MAX_RECORDS = 500  # the CRD's maxItems
Target = tuple[str, str, str]  # (account, region, bucket)


@dataclasses.dataclass(frozen=True)
class Record:
    """A request (``Queued``) or a task of one AMI into one (account, region, bucket)."""

    ami_id: str
    target: Target
    state: model.TaskState
    time: str  # requestedTime of a request, taskStartTime of a task
    expires: str | None = None  # a request's end of grace


def request(ami_id: str, target: Target, requested: str, expires: str | None) -> Record:
    """The record of a live request."""
    return Record(ami_id, target, model.TaskState.QUEUED, requested, expires)


def task(ami_id: str, target: Target, start: str, state: model.TaskState) -> Record:
    """The record of a task the operator saw start."""
    return Record(ami_id, target, state, start)


def parse(raw: Any) -> list[Record]:
    """The records of ``status.exportRecords`` (anything else in it is skipped)."""
    records = []
    for item in raw if isinstance(raw, list) else ():
        if not isinstance(item, dict):
            continue
        ami_id, region, bucket = (item.get(k) for k in ("amiId", "region", "bucket"))
        state = item.get("state")
        account = item.get("account") or ""
        if not all(isinstance(v, str) and v for v in (ami_id, region, bucket)):
            continue
        if not isinstance(account, str) or state not in _STATES:
            continue
        queued = state == model.TaskState.QUEUED
        time = item.get("requestedTime" if queued else "taskStartTime")
        if not isinstance(time, str) or not time:
            continue
        expires = item.get("expiresTime") if queued else None
        target = (account, str(region), str(bucket))
        records.append(
            Record(
                str(ami_id),
                target,
                model.TaskState(state),
                time,
                expires if isinstance(expires, str) else None,
            )
        )
    return records


def render(records: Iterable[Record]) -> list[dict[str, Any]]:
    """``status.exportRecords``: the latest record per (target, AMI), newest first, capped."""
    latest: dict[tuple[Target, str], Record] = {}
    for record in records:
        key = (record.target, record.ami_id)
        known = latest.get(key)
        if known is None or (known.time, _rank(known)) <= (record.time, _rank(record)):
            latest[key] = record
    ordered = sorted(latest.values(), key=lambda r: (r.time, r.target, r.ami_id), reverse=True)
    return [_item(r) for r in ordered[:MAX_RECORDS]]


def _rank(record: Record) -> int:
    """At the same second, a task started for a request outranks the request."""
    return 0 if record.state == model.TaskState.QUEUED else 1


def _item(record: Record) -> dict[str, Any]:
    account, region, bucket = record.target
    item: dict[str, Any] = {"amiId": record.ami_id}
    if account:
        item["account"] = account
    item.update({"region": region, "bucket": bucket, "state": record.state.value})
    if record.state == model.TaskState.QUEUED:
        item["requestedTime"] = record.time
        if record.expires:
            item["expiresTime"] = record.expires
    else:
        item["taskStartTime"] = record.time
    return item


_STATES = frozenset(
    {
        model.TaskState.QUEUED,
        model.TaskState.IN_PROGRESS,
        model.TaskState.COMPLETED,
        model.TaskState.FAILED,
    }
)
