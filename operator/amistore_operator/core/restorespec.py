"""Validation of an AmiRestore ``spec`` into a ``RestoreSpec`` (as ``spec`` does AmiStore's).

The CRD's schema rejects most mistakes already; the operator checks again, and every
message names the field the way a user wrote it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from amistore_operator.core import spec

OBJECT_KEY_PATTERN = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})\.bin$")
# EC2's AMI names: 3 to 128 letters, digits and ( ) [ ] space . / - ' @ _.
AMI_NAME_PATTERN = re.compile(r"^[A-Za-z0-9()\[\] ./\-'@_]{3,128}$")
THAW_TIERS = ("Standard", "Bulk", "Expedited")
MAX_THAW_DAYS = 30000
MAX_TAGS = 40  # EC2 allows 50 per resource: the operator adds its own
MAX_TAG_KEY, MAX_TAG_VALUE = 128, 256
RESERVED_TAG_PREFIXES = ("aws:", "amistore.io/")


@dataclasses.dataclass(frozen=True)
class Thaw:
    """``spec.thaw``: S3 RestoreObject's days and retrieval tier."""

    days: int
    tier: str = "Standard"


@dataclasses.dataclass(frozen=True)
class RestoreSpec:
    """One AmiRestore's validated spec, the operator's defaults filled in."""

    bucket: str
    object_key: str
    region: str
    poll_interval: float
    name: str | None = None  # None: the name the object records
    account: str = ""  # "": the operator's own identity
    tags: tuple[tuple[str, str], ...] = ()  # sorted by key
    thaw: Thaw | None = None


def parse(
    raw: Mapping[str, Any] | None, *, default_region: str, default_interval: float
) -> RestoreSpec:
    """Validate ``raw`` (raises ``spec.SpecError``, the message naming the field)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise spec.SpecError("spec: must be an object")
    bucket = raw.get("bucket")
    if not isinstance(bucket, str) or not bucket:
        raise spec.SpecError("spec.bucket: required, the bucket holding the stored AMI")
    problem = spec.bucket_name_problem(bucket)
    if problem is not None:
        raise spec.SpecError(f'spec.bucket: "{bucket}" {problem}')
    key = raw.get("objectKey")
    if not isinstance(key, str) or not OBJECT_KEY_PATTERN.fullmatch(key):
        raise spec.SpecError(
            f"spec.objectKey: must be the key a store task wrote, such as "
            f"ami-0123456789abcdef0.bin, got {key!r}"
        )
    return RestoreSpec(
        bucket=bucket,
        object_key=key,
        region=_region(raw.get("region"), default_region),
        poll_interval=spec.seconds_field(
            "pollIntervalSeconds",
            raw,
            default_interval,
            spec.MIN_POLL_INTERVAL,
            spec.MAX_POLL_INTERVAL,
        ),
        name=_name(raw.get("name")),
        account=spec.account_field(raw.get("account")),
        tags=_tags(raw.get("tags")),
        thaw=_thaw(raw.get("thaw")),
    )


def _region(value: Any, default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or not spec.is_valid_region(value):
        raise spec.SpecError(f"spec.region: {value!r} is not an AWS region name (eu-west-1)")
    return value


def _name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not AMI_NAME_PATTERN.fullmatch(value):
        raise spec.SpecError(
            f"spec.name: an AMI name is 3 to 128 letters, digits, spaces and ( ) [ ] . / - ' "
            f"@ _, got {value!r}"
        )
    return value


def _tags(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise spec.SpecError("spec.tags: must be a map of tag keys to values")
    if len(value) > MAX_TAGS:
        raise spec.SpecError(f"spec.tags: at most {MAX_TAGS} tags, got {len(value)}")
    for key, tag in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY:
            raise spec.SpecError(f"spec.tags: a key is 1 to {MAX_TAG_KEY} characters: {key!r}")
        if key.startswith(RESERVED_TAG_PREFIXES):
            raise spec.SpecError(
                f'spec.tags["{key}"]: keys starting aws: or amistore.io/ are reserved'
            )
        if not isinstance(tag, str) or len(tag) > MAX_TAG_VALUE:
            raise spec.SpecError(
                f'spec.tags["{key}"]: a string of at most {MAX_TAG_VALUE} characters'
            )
    return tuple(sorted(value.items()))


def _thaw(value: Any) -> Thaw | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise spec.SpecError("spec.thaw: must be an object with days (and tier)")
    days = value.get("days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_THAW_DAYS:
        raise spec.SpecError(
            f"spec.thaw.days: a whole number from 1 to {MAX_THAW_DAYS}, got {days!r}"
        )
    tier = value.get("tier", "Standard")
    if tier not in THAW_TIERS:
        raise spec.SpecError(f"spec.thaw.tier: one of {', '.join(THAW_TIERS)}, got {tier!r}")
    return Thaw(days, tier)
