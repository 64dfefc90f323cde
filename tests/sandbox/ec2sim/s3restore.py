"""S3 RestoreObject: thaw an archived object, answered as S3 answers it.

boto3 sends ``POST /{bucket}/{key}?restore`` with a ``RestoreRequest`` body
(``Days``, ``GlacierJobParameters.Tier``; Standard when no tier is given). What
S3's API reference documents: 202 Accepted for a new restore; 200 OK for an object
restored already, whose copy then lasts Days from now; 409
``RestoreAlreadyInProgress`` while a thaw runs; no Expedited tier for Deep Archive;
Days refused for an INTELLIGENT_TIERING object (S3's words). Ours, as S3 publishes
no code or wording for them: 403 ``InvalidObjectState`` for an object in no archive
(STANDARD, GLACIER_IR, ...), 403 ``ObjectAlreadyInActiveTierError`` for an
INTELLIGENT_TIERING one in no archive tier, 400 ``InvalidArgument`` for Expedited
from Deep Archive, an unknown tier, or Days missing or under 1, 400
``MalformedXML`` for a body that is no RestoreRequest.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.sandbox.ec2sim import objects, thaw

MALFORMED = (
    "The XML you provided was not well-formed or did not validate against our published schema"
)


class RefusedError(Exception):
    """RestoreObject's refusal: S3's code, HTTP status and message."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.status = status
        self.message = message


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def parse(body: bytes) -> tuple[int | None, str]:
    """(Days or None, Tier) of a RestoreRequest body."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise RefusedError("MalformedXML", 400, MALFORMED) from None
    if _local(root.tag) != "RestoreRequest":
        raise RefusedError("MalformedXML", 400, MALFORMED)
    days_element = _child(root, "Days")
    days = None
    if days_element is not None:
        try:
            days = int((days_element.text or "").strip())
        except ValueError:
            raise RefusedError("MalformedXML", 400, MALFORMED) from None
    job = _child(root, "GlacierJobParameters")
    tier_element = _child(job, "Tier") if job is not None else _child(root, "Tier")
    tier = thaw.DEFAULT_TIER if tier_element is None else (tier_element.text or "").strip()
    return days, tier


def _check(obj: objects.S3Object, days: int | None, tier: str, archive: str) -> None:
    """The refusals of a restore request for an archived object."""
    if tier not in thaw.TIERS:
        raise RefusedError("InvalidArgument", 400, f"Invalid value for Tier: {tier}")
    if obj.storage_class == "INTELLIGENT_TIERING":
        if days is not None:
            raise RefusedError(
                "InvalidArgument",
                400,
                "INTELLIGENT_TIERING objects are not subject to restore expiry. "
                "Do not specify Days when restoring this object",
            )
    elif days is None or days < 1:
        raise RefusedError("InvalidArgument", 400, "Days must be a whole number of at least 1")
    if archive == "DEEP_ARCHIVE" and tier == "Expedited":
        raise RefusedError(
            "InvalidArgument",
            400,
            "Expedited retrieval is not available for objects in Deep Archive storage",
        )


def restore(
    obj: objects.S3Object, days: int | None, tier: str, now: float, settings: thaw.ThawSettings
) -> int:
    """Start or extend the object's thaw; the HTTP status S3 answers (202 or 200)."""
    obj.refresh(now)
    archive = obj.archive()
    if archive is None:
        if obj.storage_class == "INTELLIGENT_TIERING":
            raise RefusedError(
                "ObjectAlreadyInActiveTierError",
                403,
                "This operation is not allowed against this storage tier.",
            )
        raise RefusedError(
            "InvalidObjectState", 403, "The operation is not valid for the object's storage class"
        )
    _check(obj, days, tier, archive)
    if obj.restore is not None and obj.restore[0]:
        raise RefusedError("RestoreAlreadyInProgress", 409, "Object restore is already in progress")
    if obj.restore is not None:  # restored already: the copy now lasts its days from now
        until = None if days is None else thaw.expiry(now, days, settings.day_seconds)
        obj.thawing = thaw.Thaw(tier, now, now, until)
        obj.refresh(now)
        return 200
    seconds = settings.thaw_seconds.get(archive, {}).get(tier)
    if seconds is None:  # a tier a test took away
        raise RefusedError("InvalidArgument", 400, f"The {tier} tier is not available")
    ready = now + seconds
    until = None if days is None else thaw.expiry(ready, days, settings.day_seconds)
    obj.thawing = thaw.Thaw(tier, now, ready, until)
    obj.refresh(now)
    return 202
