"""Verify (``spec.verifyObjects``): the S3 object each Completed store task left, found once.

Pure. A Completed task AWS lists for the resource whose entry shows no
``verifiedTime`` for it wants one HeadObject (``wanted``). What S3 answered becomes the
entry's ``objectSizeBytes``, ``objectStorageClass`` (``STANDARD`` when S3 names none),
``objectETag`` and ``verifiedTime`` (``fields``, set by ``apply``), which the entry keeps
for as long as it shows the same task (``kept``): a new task of the AMI is verified
again. An object S3 does not show (missing, or access refused) gets no fields; it is
asked for again ``RETRY_INTERVALS`` intervals later (``retry_at``), and its Warning is
the step's to announce. ``ExportVerified`` is announced when an entry gains its
``verifiedTime`` (``statusevents.verified_events``).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from amistore_operator.core import model, timestamps

FIELDS = ("objectSizeBytes", "objectStorageClass", "objectETag", "verifiedTime")
DEFAULT_STORAGE_CLASS = "STANDARD"  # S3 sends no x-amz-storage-class for STANDARD
RETRY_INTERVALS = 10  # an object not shown is asked for again this many intervals later
MAX_PER_POLL = 50  # HeadObject calls per resource per poll; the rest wait for the next one
_COMPLETED = model.TaskState.COMPLETED.value


@dataclasses.dataclass(frozen=True)
class Target:
    """One Completed task's object: what a HeadObject asks for."""

    ami_id: str
    bucket: str
    key: str
    started: str  # the task's taskStartTime: the fields belong to this task only


@dataclasses.dataclass(frozen=True)
class Head:
    """What HeadObject answered for an object that exists."""

    size: int
    storage_class: str | None  # None: S3 named none (STANDARD)
    etag: str
    # x-amz-expiration as S3 sends it (a lifecycle rule will delete the object), e.g.
    # 'expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="picture-deletion-rule"'.
    expiration: str | None = None


def wanted(
    spec: model.AmiStoreSpec,
    tasks: Mapping[str, model.StoreTask | None],
    prev_entries: Mapping[str, Mapping[str, Any]],
    not_before: Mapping[Target, datetime.datetime],
    now: datetime.datetime,
    *,
    retired: Collection[str] = (),
) -> list[Target]:
    """The objects to HeadObject now, not yet verified and not waiting to be asked again.

    Those of the Completed tasks AWS lists for the resource, and of the Completed entries
    whose task AWS lists no more: because a later one into another bucket hides it (AWS
    lists an AMI's latest task only: the entry keeps what was seen of it), or because the
    AMI is ``retired``, deregistered and never asked about again (someone else may have
    deregistered it before this resource's verification was stored: its object is still
    in S3).
    """
    if not spec.verifies:
        return []
    found: dict[str, Target] = {}
    for ami_id in spec.image_ids:
        target = target_of(prev_entries.get(ami_id) or {})
        task = tasks.get(ami_id)
        hidden = ami_id in tasks and (task is None or task.bucket != spec.bucket)
        if target is not None and target.bucket == spec.bucket and (hidden or ami_id in retired):
            found[ami_id] = target
    for ami_id, task in tasks.items():
        listed = _target(ami_id, task, spec)
        if listed is not None:
            found[ami_id] = listed
    result = []
    for ami_id, target in found.items():
        prev = prev_entries.get(ami_id) or {}
        if prev.get("verifiedTime") and prev.get("taskStartTime") == target.started:
            continue
        if target in not_before and now < not_before[target]:
            continue
        result.append(target)
    return result


def _target(ami_id: str, task: model.StoreTask | None, spec: model.AmiStoreSpec) -> Target | None:
    """The object a Completed task of the resource left (None: none to look at)."""
    if task is None or task.state != model.TaskState.COMPLETED or task.start_time is None:
        return None
    if not task.bucket or (spec.bucket is not None and task.bucket != spec.bucket):
        return None  # a task into another bucket is no task of this resource
    key = task.s3_object_key or f"{ami_id}.bin"
    return Target(ami_id, task.bucket, key, timestamps.format_time(task.start_time))


def target_of(entry: Mapping[str, Any]) -> Target | None:
    """The object a Completed entry's task left (None: not Completed, or no bucket or start).

    AWS names the object after the AMI (``ami-....bin``) when the entry does not say.
    """
    if entry.get("state") != _COMPLETED:
        return None
    ami_id, bucket, started = (entry.get(k) for k in ("amiId", "bucket", "taskStartTime"))
    if not all(isinstance(v, str) and v for v in (ami_id, bucket, started)):
        return None
    key = entry.get("s3ObjectKey")
    key = key if isinstance(key, str) and key else f"{ami_id}.bin"
    return Target(str(ami_id), str(bucket), key, str(started))


def retry_at(now: datetime.datetime, interval: float) -> datetime.datetime:
    """When an object S3 did not show is asked for again."""
    return now + datetime.timedelta(seconds=RETRY_INTERVALS * interval)


def fields(head: Head, now: datetime.datetime) -> dict[str, Any]:
    """The entry fields of an object found at ``now``."""
    return {
        "objectSizeBytes": head.size,
        "objectStorageClass": head.storage_class or DEFAULT_STORAGE_CLASS,
        "objectETag": head.etag,
        "verifiedTime": timestamps.format_time(now),
    }


def kept(prev: Mapping[str, Any] | None) -> dict[str, Any]:
    """The verification fields of the previous entry of the same Completed task."""
    if prev is None or prev.get("state") != _COMPLETED:
        return {}
    return {name: prev[name] for name in FIELDS if name in prev}


def apply(
    entries: Iterable[dict[str, Any]], verified: Mapping[str, tuple[str, Mapping[str, Any]]]
) -> list[dict[str, Any]]:
    """The entries with the fields found this poll (AMI -> (task start, fields)) on their task's.

    Each entry changed is a copy: an unchanged one may be the previous status's own.
    """
    result = []
    for entry in entries:
        found = verified.get(entry.get("amiId", ""))
        if (
            found is not None
            and target_of(entry) is not None
            and entry["taskStartTime"] == found[0]
        ):
            entry = {**entry, **found[1]}
        result.append(entry)
    return result
