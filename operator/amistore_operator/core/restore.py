"""One AmiRestore's status, decided from what a poll read (pure: no IO).

The phases: ``Pending`` (the object is read; the name to restore under is written to
the status before any ``CreateRestoreImageTask``) -> ``Thawing`` (an archived object:
S3 RestoreObject, then HeadObject until its copy is readable) -> ``Restoring`` (the new
image is ``pending``) -> ``Available`` or ``Failed``. A recorded name is looked up
(DescribeImages, owner self) before any call, so no crash or lost answer restores twice.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from amistore_operator.core import conditions, restorespec, restoreview, timestamps
from amistore_operator.core.statusevents import Event

PENDING, THAWING, RESTORING = "Pending", "Thawing", "Restoring"
AVAILABLE, FAILED = "Available", "Failed"
PHASES = (PENDING, THAWING, RESTORING, AVAILABLE, FAILED)
FINAL = frozenset({AVAILABLE, FAILED})
# What a new request (or a retry) clears.
REQUEST_FIELDS = (
    "imageId",
    "imageName",
    "requestedTime",
    "completedTime",
    "progressPercentage",
    "failureReason",
)
# Synced=False reasons of its own (AWS errors use ``model.PollErrorReason``'s).
OBJECT_ARCHIVED = "ObjectArchived"
OBJECT_MISSING = "ObjectMissing"
NAME_UNKNOWN = "NameUnknown"
LIMIT_EXCEEDED = "RestoreLimitExceeded"
INVALID_SPEC = "InvalidSpec"
SYNCED_OK = ("Polled", "The last AWS poll succeeded")


@dataclasses.dataclass(frozen=True)
class Step:
    """What this poll found: the fields it sets and whether AWS could be read."""

    fields: Mapping[str, Any]  # status fields to set (None: remove)
    synced: tuple[str, str] = SYNCED_OK  # (reason, message); reason "Polled": True


def phase(status: Mapping[str, Any] | None) -> str:
    """The status's phase (``Pending`` before the first write)."""
    value = (status or {}).get("phase")
    return value if value in PHASES else PENDING


def build(
    prior: Mapping[str, Any] | None,
    step: Step,
    *,
    generation: int,
    now: datetime.datetime,
    region: str,
    account: str,
) -> dict[str, Any]:
    """The new status: ``prior`` with ``step``'s fields, the conditions from the phase."""
    status = {k: v for k, v in (prior or {}).items() if k != "conditions"}
    for name, value in step.fields.items():
        if value is None:
            status.pop(name, None)
        else:
            status[name] = value
    status["phase"] = phase(status)
    status["observedGeneration"] = generation
    status["region"] = region
    if account:
        status["account"] = account
    else:
        status.pop("account", None)
    fresh = [_synced(step.synced), *_outcome(status)]
    stamp = timestamps.format_time(now)
    status["conditions"] = conditions.merge(prior or {}, fresh, generation, stamp)
    return status


def _synced(synced: tuple[str, str]) -> tuple[str, str, str, str]:
    reason, message = synced
    return ("Synced", "True" if reason == SYNCED_OK[0] else "False", reason, message)


def _outcome(status: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    now = phase(status)
    image = status.get("imageId", "")
    if now == AVAILABLE:
        complete = ("Complete", "True", AVAILABLE, f"Restored as {image}")
    else:
        complete = ("Complete", "False", now, f"The restore is {now.lower()}")
    if now == FAILED:
        failed = ("Failed", "True", "RestoreFailed", str(status.get("failureReason", "")))
    else:
        failed = ("Failed", "False", "NotFailed", "The restore has not failed")
    return [complete, failed]


def events(
    prior: Mapping[str, Any] | None, status: Mapping[str, Any], spec: restorespec.RestoreSpec
) -> list[Event]:
    """The Events a status change announces (from the stored status: a restart repeats none)."""
    before, now = prior or {}, status
    found: list[Event] = []
    where = f"{now.get('imageName', '')}"
    if phase(now) == THAWING and phase(before) != THAWING and spec.thaw is not None:
        thaw = f"tier {spec.thaw.tier}, a copy for {spec.thaw.days} days"
        message = f"Thawing s3://{spec.bucket}/{spec.object_key} ({thaw})"
        found.append(Event("Normal", "ObjectThawing", message))
    if now.get("imageId") and now.get("imageId") != before.get("imageId"):
        found.append(
            Event("Normal", "RestoreRequested", f"Restoring as {now['imageId']} ({where})")
        )
    if phase(now) == AVAILABLE and phase(before) != AVAILABLE:
        found.append(Event("Normal", "RestoreCompleted", f"{now.get('imageId')} is available"))
    if phase(now) == FAILED and phase(before) != FAILED:
        found.append(Event("Warning", "RestoreFailed", str(now.get("failureReason", ""))))
    return found


def followed(image: restoreview.RestoredImage, progress: int | None, stamp: str) -> Step:
    """The status of the restored image found under the recorded name."""
    fields: dict[str, Any] = {"imageId": image.image_id, "imageName": image.name}
    if image.state == "available":
        fields |= {"phase": AVAILABLE, "progressPercentage": 100, "completedTime": stamp}
    elif image.state in ("failed", "error", "invalid"):
        reason = image.state_reason or f"The restored image is {image.state}"
        fields |= {"phase": FAILED, "failureReason": reason, "completedTime": stamp}
    else:
        fields |= {"phase": RESTORING, "progressPercentage": max(0, min(99, progress or 0))}
    return Step(fields)


def adoptable(image: restoreview.RestoredImage, uid: str, status: Mapping[str, Any]) -> bool:
    """Whether the image under the recorded name is this AmiRestore's (its uid tag, or the
    ID its status recorded)."""
    return image.tag(restoreview.RESTORE_UID_TAG) == uid or image.image_id == status.get("imageId")


def own_failed(image: restoreview.RestoredImage, uid: str, image_id: object) -> bool:
    """Whether the image is the failed one this AmiRestore made (a retry deregisters it)."""
    mine = image.tag(restoreview.RESTORE_UID_TAG) == uid and image.image_id == image_id
    return mine and image.state == "failed"


def name_taken(name: str, holder: str) -> Step:
    """The name is another AMI's: Failed, saying what to do."""
    reason = (
        f"AMI name {name!r} is already used by {holder}, which this AmiRestore did not "
        "restore: set spec.name to a free name, then retry (amistore.io/retry-requested-at)"
    )
    return Step({"phase": FAILED, "failureReason": reason})


def thaw_needed(
    spec: restorespec.RestoreSpec, obj: restoreview.StoredObject
) -> tuple[Step, bool] | None:
    """For an object EC2 cannot read yet: the status, and whether to call RestoreObject.

    None: it can be read (never archived, or thawed and not expired).
    """
    if not obj.archived or obj.thawed:
        return None
    where = f"s3://{spec.bucket}/{spec.object_key}"
    kind = obj.storage_class + (f" ({obj.archive_status})" if obj.archive_status else "")
    if spec.thaw is None:
        message = (
            f"{where} is in {kind}: add spec.thaw (for example thaw: {{days: 7, tier: Bulk}}) "
            "so the operator thaws it first (hours, and S3 charges the retrieval)"
        )
        return Step({"objectStorageClass": obj.storage_class}, (OBJECT_ARCHIVED, message)), False
    if obj.deep and spec.thaw.tier == "Expedited":
        message = f"{where} is in {kind}, which offers the Standard and Bulk tiers only"
        return Step({"objectStorageClass": obj.storage_class}, (INVALID_SPEC, message)), False
    fields = {"phase": THAWING, "objectStorageClass": obj.storage_class}
    return Step(fields), obj.thaw_ongoing is None


def readable(obj: restoreview.StoredObject) -> dict[str, Any]:
    """The object fields once it can be read."""
    expiry = obj.thaw_expiry
    return {
        "objectStorageClass": obj.storage_class,
        "thawExpiryTime": timestamps.format_time(expiry) if expiry else None,
    }


def missing(spec: restorespec.RestoreSpec) -> Step:
    """No such object (or it may not be read)."""
    where = f"s3://{spec.bucket}/{spec.object_key}"
    return Step({}, (OBJECT_MISSING, f"{where} does not exist (or the operator may not read it)"))


def unnamed(spec: restorespec.RestoreSpec) -> Step:
    """The object records no AMI name and the spec gives none."""
    where = f"s3://{spec.bucket}/{spec.object_key}"
    return Step({}, (NAME_UNKNOWN, f"{where} records no AMI name: set spec.name"))


def recorded(name: str, stamp: str) -> Step:
    """The name to restore under, written before the call (never twice: it is looked up)."""
    return Step({"phase": PENDING, "imageName": name, "requestedTime": stamp})


def requested(image_id: str) -> Step:
    """CreateRestoreImageTask answered: the new image, pending."""
    return Step({"phase": RESTORING, "imageId": image_id, "progressPercentage": 0})


def limited(message: str, retry_at: datetime.datetime) -> Step:
    """AWS's limit on restores in progress refused it: it waits, then asks again."""
    when = timestamps.format_time(retry_at)
    return Step({}, (LIMIT_EXCEEDED, f"{message} (asking again after {when})"))


def retried(value: str) -> Step:
    """A retry of a Failed restore: a new request, as if it were new."""
    cleared: dict[str, Any] = dict.fromkeys(REQUEST_FIELDS)
    return Step({**cleared, "phase": PENDING, "lastHandledRetryAt": value})
