"""Cleanup after export (``spec.afterExport``): whether an exported AMI may be deregistered.

Pure. For each AMI of an AmiStore whose ``afterExport`` is not ``Keep``, the guards, in
the order their cost asks (no call first, then one HeadObject, then the EC2 reads):

1. ``local``: its export is the latest Completed task into the spec's bucket, verified
   (``verifiedTime``, ``objectETag``) at least ``afterExportDelaySeconds`` ago; the
   operator's flags (``--allow-deregister``, ``--deregister-namespaces``) and the account
   map allow it; no other AmiStore lists the AMI with ``Keep``, or still exports it into
   another bucket (its export would never start).
2. ``object_guard``: HeadObject, read again in this poll: the object exists, is not
   empty, is the one verified (same ETag) and no lifecycle rule expires it.
3. ``image_guard``: DescribeImages (gone: someone deregistered it, ``Gone``): the account
   owns it, it is not public, deregistration protection is exactly ``disabled``;
   DescribeImageAttribute: not shared with other accounts, organizations or OUs;
   DescribeImageReferences: nothing uses it.

None is cached past the poll that read it. Every guard holds: the entry is marked
``Deregistering`` first; ``DeregisterImage`` is called only in a later poll, once that
status is stored, with every guard checked again (``reconcile.cleanupstep``).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from amistore_operator.core import images, model, timestamps, verify

WAITING = "Waiting"
BLOCKED = "Blocked"
DEREGISTERING = "Deregistering"
DEREGISTERED = "Deregistered"
GONE = "Gone"
ENDED = frozenset({DEREGISTERED, GONE})
FIELDS = ("cleanupState", "cleanupReason", "deregisteredTime", "freedSnapshotBytes")
CONDITION = "Archived"

# The Archived condition's False reasons: the AmiStore shows the first one any of its AMIs
# has: what a person must act on first, then what only takes time.
EXPORTING = "Exporting"
VERIFYING = "Verifying"
OBJECT_MISSING = "ObjectMissing"
OBJECT_EXPIRING = "ObjectExpiring"
DELAY = "Waiting"
IMAGE_IN_USE = "ImageInUse"
IMAGE_SHARED = "ImageShared"
NOT_OWNED = "NotOwned"
KEPT = "KeptByAnotherAmiStore"
PROTECTED = "DeregistrationProtected"
NOT_ALLOWED = "DeregisterNotAllowed"
ACCOUNT_NOT_ALLOWED = "AccountNotAllowed"
ACCESS_DENIED = "AccessDenied"
REASONS = (
    ACCOUNT_NOT_ALLOWED,
    NOT_ALLOWED,
    ACCESS_DENIED,
    OBJECT_MISSING,
    OBJECT_EXPIRING,
    KEPT,
    NOT_OWNED,
    IMAGE_SHARED,
    PROTECTED,
    IMAGE_IN_USE,
    EXPORTING,
    VERIFYING,
    DELAY,
)
_COMPLETED = model.TaskState.COMPLETED.value


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One AMI's standing: ``reason`` None means every guard checked so far held."""

    reason: str | None = None  # one of REASONS
    message: str = ""
    until: datetime.datetime | None = None  # DELAY: when it ends

    @property
    def holds(self) -> bool:
        return self.reason is None


HOLDS = Verdict()


def deregisters(spec: model.AmiStoreSpec) -> bool:
    """Whether the spec asks for cleanup at all."""
    return spec.after_export != model.AFTER_EXPORT_KEEP


def local(
    spec: model.AmiStoreSpec,
    entry: Mapping[str, Any],
    now: datetime.datetime,
    *,
    refusal: tuple[str, str] | None,
    kept_by: Sequence[str] = (),
    exporting: Sequence[tuple[str, str]] = (),
) -> Verdict:
    """The guards that need no call, for one AMI's status ``entry``.

    ``refusal``: the flags' or the account map's (reason, message), if they refuse;
    ``kept_by``: the other AmiStores that list the AMI with ``Keep``; ``exporting``: the
    others (key, bucket) that export it into another bucket, not Completed there yet.
    """
    if refusal is not None:
        return Verdict(*refusal)
    if entry.get("state") != _COMPLETED or entry.get("bucket") != spec.bucket:
        return Verdict(EXPORTING, f"no Completed export into {spec.bucket} yet")
    verified = timestamps.parse_time(entry.get("verifiedTime"))
    if verified is None or not entry.get("objectETag"):
        return Verdict(VERIFYING, "its object is not verified yet")
    if kept_by:
        return Verdict(KEPT, f"{', '.join(sorted(kept_by))} keeps it (afterExport: Keep)")
    if exporting:
        still = (f"{key} still exports it into {bucket}" for key, bucket in sorted(exporting))
        return Verdict(KEPT, "; ".join(still))
    until = verified + datetime.timedelta(seconds=spec.after_export_delay)
    if now < until:
        return Verdict(DELAY, f"deregistered after {timestamps.format_time(until)}", until)
    return HOLDS


def object_guard(entry: Mapping[str, Any], head: verify.Head | None) -> Verdict:
    """HeadObject, read again now: the object verified is still there, whole, not expiring."""
    where = f"s3://{entry.get('bucket')}/{entry.get('s3ObjectKey')}"
    if head is None:
        return Verdict(OBJECT_MISSING, f"{where} does not exist (or may not be read)")
    if head.size <= 0:
        return Verdict(OBJECT_MISSING, f"{where} is empty")
    if head.etag != entry.get("objectETag"):
        return Verdict(OBJECT_MISSING, f"{where} is not the object verified (its ETag changed)")
    if head.expiration:
        rule = head.expiration
        return Verdict(OBJECT_EXPIRING, f"{where}: a lifecycle rule expires it ({rule})")
    return HOLDS


def image_guard(
    image: images.Image,
    account: str,
    permissions: images.LaunchPermissions | None,
    references: Sequence[images.Reference] | None,
) -> Verdict:
    """DescribeImages' answer, then (when asked) launch permissions and references.

    ``permissions`` and ``references``: None while not read yet (the step reads them only
    for an AMI that passed what comes before).
    """
    if image.owner_id != account:
        return Verdict(NOT_OWNED, f"owned by {image.owner_id}, not {account}")
    if image.public or (permissions is not None and permissions.public):
        return Verdict(IMAGE_SHARED, "it is public")
    if image.protection != images.PROTECTION_DISABLED:
        return Verdict(PROTECTED, f"deregistration protection is {image.protection or 'unknown'}")
    if permissions is not None and permissions.shared:
        return Verdict(IMAGE_SHARED, f"shared with {_shared_with(permissions)}")
    if references:
        named = ", ".join(f"{r.resource_type} {r.arn}" for r in references[:5])
        more = f" and {len(references) - 5} more" if len(references) > 5 else ""
        return Verdict(IMAGE_IN_USE, f"used by {named}{more}")
    return HOLDS


def _shared_with(permissions: images.LaunchPermissions) -> str:
    who = [*permissions.accounts, *permissions.organizations, *permissions.units]
    return ", ".join(who[:5]) + (f" and {len(who) - 5} more" if len(who) > 5 else "")


def blocked(entry: Mapping[str, Any], verdict: Verdict) -> dict[str, Any]:
    """The entry with what stops its cleanup now (``Waiting`` for the delay, else ``Blocked``).

    ``cleanupReason`` starts with the ``Archived`` condition's reason: ``ImageInUse: used
    by ...``.
    """
    kept = {k: v for k, v in entry.items() if k not in FIELDS}
    waits = verdict.reason in (DELAY, EXPORTING, VERIFYING)
    why = f"{verdict.reason}: {verdict.message}"
    return {**kept, "cleanupState": WAITING if waits else BLOCKED, "cleanupReason": why}


def deregistering(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The entry marked before the call: stored first, so no restart deregisters twice."""
    kept = {k: v for k, v in entry.items() if k not in FIELDS}
    return {**kept, "cleanupState": DEREGISTERING}


def deregistered(
    entry: Mapping[str, Any], now: datetime.datetime, freed: int | None, *, gone: bool = False
) -> dict[str, Any]:
    """The entry of an AMI deregistered (by the operator, or by someone else: ``gone``)."""
    kept = {k: v for k, v in entry.items() if k not in FIELDS}
    if gone:
        return {**kept, "cleanupState": GONE}
    done = {**kept, "cleanupState": DEREGISTERED, "deregisteredTime": timestamps.format_time(now)}
    return done if freed is None else {**done, "freedSnapshotBytes": freed}


def state(entry: Mapping[str, Any]) -> str | None:
    """An entry's ``cleanupState`` (None: not looked at)."""
    value = entry.get("cleanupState")
    return value if isinstance(value, str) else None


def freed_bytes(result: images.Deregistered, sizes: Mapping[str, images.Snapshot]) -> int | None:
    """The full size of the snapshots deleted with the AMI (None: a size is unknown)."""
    total = 0
    for snapshot_id in result.deleted():
        snapshot = sizes.get(snapshot_id)
        if snapshot is None:
            return None
        total += snapshot.size_bytes
    return total


def archived(
    spec: model.AmiStoreSpec, entries: Mapping[str, Mapping[str, Any]]
) -> tuple[str, str, str, str] | None:
    """The ``Archived`` condition (type, status, reason, message); None with ``Keep``."""
    if not deregisters(spec):
        return None
    pending = [a for a in spec.image_ids if state(entries.get(a) or {}) not in ENDED]
    if not pending:
        done = f"{len(spec.image_ids)} AMIs exported, verified and deregistered"
        return (CONDITION, "True", "Archived", done)
    order = {reason: i for i, reason in enumerate(REASONS)}
    ranked = sorted(pending, key=lambda a: order[reason_of(entries.get(a) or {})])
    first = ranked[0]
    entry = entries.get(first) or {}
    why = str(entry.get("cleanupReason") or reason_of(entry))
    total = len(spec.image_ids)
    message = f"{len(pending)} of {total} AMIs not deregistered yet; {first}: {why}"
    return (CONDITION, "False", reason_of(entry), message)


def reason_of(entry: Mapping[str, Any]) -> str:
    """The ``Archived`` reason an entry not yet deregistered stands for."""
    code = str(entry.get("cleanupReason") or "").split(":", 1)[0]
    if code in REASONS:
        return code
    if entry.get("state") != _COMPLETED:
        return EXPORTING
    return VERIFYING if not entry.get("verifiedTime") else DELAY


def kept(prev: Mapping[str, Any] | None, *, gone: bool = False) -> dict[str, Any]:
    """The cleanup fields of the previous entry of the same Completed task (``gone``: of
    an entry with no task, once its AMI is gone)."""
    if prev is None or (prev.get("state") != _COMPLETED and not gone):
        return {}
    if gone and state(prev) not in ENDED:
        return {}
    return {name: prev[name] for name in FIELDS if name in prev}


def apply(
    entries: Iterable[dict[str, Any]],
    cleaned: Mapping[str, tuple[str | None, Mapping[str, Any]]],
) -> list[dict[str, Any]]:
    """The entries with this poll's cleanup fields (AMI -> (task start, fields)) on their task's.

    The fields replace the entry's own; each entry changed is a copy.
    """
    result = []
    for entry in entries:
        found = cleaned.get(entry.get("amiId", ""))
        if found is not None and entry.get("taskStartTime") == found[0]:
            entry = {**{k: v for k, v in entry.items() if k not in FIELDS}, **found[1]}
        result.append(entry)
    return result


def changes(
    changed: Mapping[str, Mapping[str, Any]],
) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """The entries changed, as ``apply`` takes them: AMI -> (task start, cleanup fields).

    An entry with no task (``Pending``: AWS lists none) shows only that its AMI is gone.
    """
    return {
        ami_id: (entry.get("taskStartTime"), {k: entry[k] for k in FIELDS if k in entry})
        for ami_id, entry in changed.items()
        if entry.get("taskStartTime") or state(entry) in ENDED
    }
