"""Validation of an AmiStore ``spec`` into an ``AmiStoreSpec``.

The CRD schema rejects most mistakes already; the operator checks again because
a schema can be edited, skipped (``--validate=false``) or older than the code.
Every error message names the offending field the way a user wrote it.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from amistore_operator.core import accounts, model, stall

MAX_IMAGE_IDS = 1000
# With createTasks or afterExport: every AMI's record fits in the status (and is never forgotten).
MAX_CREATE_IMAGE_IDS = 500
# S3 object tag limits (Amazon S3 User Guide, "Categorizing your storage using tags").
MAX_S3_TAGS = 10
MAX_S3_TAG_KEY = 128
MAX_S3_TAG_VALUE = 256
MIN_POLL_INTERVAL = 5
MAX_POLL_INTERVAL = 86400
DEFAULT_AFTER_EXPORT_DELAY = 86400
MAX_AFTER_EXPORT_DELAY = 2592000  # 30 days

AMI_ID_PATTERN = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")
# eu-west-1, us-gov-west-1, cn-north-1, ap-southeast-2, us-isob-east-1, eusc-de-east-1.
REGION_PATTERN = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$")
_BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Only digits and dots can spell an IPv4 address; ask ipaddress (which raises, slowly,
# on every other name) only then: the spec is parsed on every poll of every resource.
_MAYBE_IPV4 = re.compile(r"^[0-9.]+$")


class SpecError(ValueError):
    """A spec the operator cannot act on; the message is shown to the user."""


def is_valid_region(name: str) -> bool:
    """Tell whether ``name`` looks like an AWS region name such as ``eu-west-1``."""
    return REGION_PATTERN.fullmatch(name) is not None


def bucket_name_problem(name: str) -> str | None:
    """Return why ``name`` is not a valid S3 bucket name, or None when it is."""
    if not 3 <= len(name) <= 63:
        return f"must be 3 to 63 characters long, got {len(name)}"
    if not _BUCKET_PATTERN.fullmatch(name):
        return (
            "may hold only lowercase letters, digits, dots and hyphens, "
            "and must begin and end with a letter or digit"
        )
    if ".." in name:
        return "must not contain two adjacent dots"
    if not _MAYBE_IPV4.fullmatch(name):
        return None
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return None
    return "must not be formatted as an IP address"


def parse_spec(
    raw: Mapping[str, Any] | None,
    *,
    default_region: str,
    default_interval: float,
    default_stall_after: float = stall.DEFAULT_STALL_AFTER,
) -> model.AmiStoreSpec:
    """Validate a resource's ``spec`` and fill in the operator's defaults."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise SpecError(f"spec: must be an object, got {_kind(raw)}")
    image_ids = _image_ids(raw.get("imageIds"))
    bucket = _bucket(raw.get("bucket"))
    task_states = _task_states(raw.get("taskStates"))
    if image_ids and task_states:
        raise SpecError(
            "spec.taskStates: cannot be combined with spec.imageIds "
            "(AWS ignores filters when image IDs are given); remove one of them"
        )
    create_tasks = _flag("createTasks", raw.get("createTasks"))
    if create_tasks:
        _needs_listed_amis("spec.createTasks", image_ids, bucket, _EXPORT_NEEDS)
    after_export = _after_export(raw.get("afterExport"))
    if after_export != model.AFTER_EXPORT_KEEP:
        _needs_listed_amis(f'spec.afterExport "{after_export}"', image_ids, bucket, _CLEANUP_NEEDS)
    return model.AmiStoreSpec(
        image_ids=image_ids,
        bucket=bucket,
        task_states=task_states,
        region=_region(raw.get("region"), default_region),
        poll_interval=seconds_field(
            "pollIntervalSeconds", raw, default_interval, MIN_POLL_INTERVAL, MAX_POLL_INTERVAL
        ),
        account=account_field(raw.get("account")),
        stall_after=seconds_field(
            "stallAfterSeconds",
            raw,
            default_stall_after,
            stall.MIN_STALL_AFTER,
            stall.MAX_STALL_AFTER,
        ),
        create_tasks=create_tasks,
        s3_object_tags=_s3_object_tags(raw.get("s3ObjectTags")),
        verify_objects=_flag("verifyObjects", raw.get("verifyObjects")),
        after_export=after_export,
        after_export_delay=seconds_field(
            "afterExportDelaySeconds", raw, DEFAULT_AFTER_EXPORT_DELAY, 0, MAX_AFTER_EXPORT_DELAY
        ),
    )


def _flag(name: str, value: Any) -> bool:
    """An optional boolean field (absent: false)."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise SpecError(f"spec.{name}: must be true or false, got {_kind(value)}")
    return value


# Why a field needs spec.imageIds, and spec.bucket, as its error message says.
_EXPORT_NEEDS = ("the AMIs to export", "where to export them")
_CLEANUP_NEEDS = (
    "the AMIs to clean up: never every AMI exported to a bucket",
    "where their exported objects are verified",
)


def _needs_listed_amis(
    field: str, image_ids: Sequence[str], bucket: str | None, why: tuple[str, str]
) -> None:
    """Export and cleanup act on listed AMIs only, never on a whole bucket's, nor on too many."""
    if not image_ids:
        raise SpecError(f"{field}: needs spec.imageIds ({why[0]})")
    if bucket is None:
        raise SpecError(f"{field}: needs spec.bucket ({why[1]})")
    if len(image_ids) > MAX_CREATE_IMAGE_IDS:
        raise SpecError(
            f"spec.imageIds: {len(image_ids)} IDs, at most {MAX_CREATE_IMAGE_IDS} with "
            f"{field} (every AMI's record must fit in the status)"
        )


def _after_export(value: Any) -> str:
    if value is None:
        return model.AFTER_EXPORT_KEEP
    if value not in model.AFTER_EXPORT_VALUES:
        shown = f'"{value}"' if isinstance(value, str) else _kind(value)
        raise SpecError(
            f"spec.afterExport: must be one of {', '.join(model.AFTER_EXPORT_VALUES)}, got {shown}"
        )
    return str(value)


def _s3_object_tags(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise SpecError(f"spec.s3ObjectTags: must be an object, got {_kind(value)}")
    if len(value) > MAX_S3_TAGS:
        raise SpecError(f"spec.s3ObjectTags: {len(value)} tags, at most {MAX_S3_TAGS} (S3's limit)")
    for key, tag in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_S3_TAG_KEY:
            raise SpecError(f"spec.s3ObjectTags: a key must be 1 to {MAX_S3_TAG_KEY} characters")
        if key.startswith("aws:"):
            raise SpecError(f'spec.s3ObjectTags["{key}"]: the aws: prefix is reserved by AWS')
        if not isinstance(tag, str):
            raise SpecError(f'spec.s3ObjectTags["{key}"]: must be a string, got {_kind(tag)}')
        if len(tag) > MAX_S3_TAG_VALUE:
            raise SpecError(
                f'spec.s3ObjectTags["{key}"]: a value must be at most {MAX_S3_TAG_VALUE} '
                f"characters, got {len(tag)}"
            )
    return tuple(sorted(value.items()))


def _image_ids(value: Any) -> tuple[str, ...]:
    items = _string_list("spec.imageIds", value)
    if len(items) > MAX_IMAGE_IDS:
        raise SpecError(f"spec.imageIds: {len(items)} IDs, at most {MAX_IMAGE_IDS} are allowed")
    seen: dict[str, int] = {}
    for index, ami_id in enumerate(items):
        if not AMI_ID_PATTERN.fullmatch(ami_id):
            raise SpecError(
                f'spec.imageIds[{index}]: "{ami_id}" is not a valid AMI ID '
                "(ami- followed by 8 or 17 hex digits)"
            )
        if ami_id in seen:
            raise SpecError(
                f'spec.imageIds[{index}]: "{ami_id}" is listed twice (also at index {seen[ami_id]})'
            )
        seen[ami_id] = index
    return tuple(items)


def _bucket(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecError(f"spec.bucket: must be a string, got {_kind(value)}")
    problem = bucket_name_problem(value)
    if problem is not None:
        raise SpecError(f'spec.bucket: "{value}" is not a valid S3 bucket name: {problem}')
    return value


def _task_states(value: Any) -> tuple[str, ...]:
    items = _string_list("spec.taskStates", value)
    seen: set[str] = set()
    for index, state in enumerate(items):
        if state not in model.AWS_TASK_STATES:
            raise SpecError(
                f'spec.taskStates[{index}]: "{state}" is not a task state '
                f"(one of {', '.join(model.AWS_TASK_STATES)})"
            )
        if state in seen:
            raise SpecError(f'spec.taskStates[{index}]: "{state}" is listed twice')
        seen.add(state)
    return tuple(items)


def _region(value: Any, default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise SpecError(f"spec.region: must be a string, got {_kind(value)}")
    if not is_valid_region(value):
        raise SpecError(
            f'spec.region: "{value}" is not an AWS region name (such as eu-west-1 or us-gov-west-1)'
        )
    return value


def account_field(value: Any) -> str:
    """``spec.account``: 12 digits, or absent (the operator's own identity)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SpecError(f"spec.account: must be a string of 12 digits, got {_kind(value)}")
    if not accounts.ACCOUNT_PATTERN.fullmatch(value):
        raise SpecError(f'spec.account: "{value}" is not an AWS account ID (12 digits)')
    return value


def seconds_field(
    name: str, raw: Mapping[str, Any], default: float, low: float, high: float
) -> float:
    """An optional whole number of seconds from ``low`` to ``high`` (absent: ``default``)."""
    value = raw.get(name)
    if value is None:
        return float(default)
    # bool is an int in Python, but `true` is never a meant duration.
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or value != int(value):
        raise SpecError(f"spec.{name}: must be an integer, got {value!r}")
    if not low <= value <= high:
        raise SpecError(f"spec.{name}: must be between {low} and {high} seconds, got {int(value)}")
    return float(value)


def _string_list(field: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise SpecError(f"{field}: must be a list, got {_kind(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise SpecError(f"{field}[{index}]: must be a string, got {_kind(item)}")
    return list(value)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, Sequence):
        return "a list"
    return type(value).__name__
