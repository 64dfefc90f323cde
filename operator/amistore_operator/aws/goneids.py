"""Describe calls that AWS fails as a whole for one gone ID: halved until it is alone.

DescribeImages and DescribeSnapshots answer InvalidAMIID.NotFound (or
InvalidSnapshot.NotFound) for a whole batch when one of its IDs is gone; an ID AWS
no longer has is absent from the answer, not an error. Shared by cleanup
(``images``) and restore (``restores``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from amistore_operator.aws import errors

# InvalidAMIID.Malformed and every other error still raise.
GONE_IMAGE = frozenset({"InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"})
GONE_SNAPSHOT = frozenset({"InvalidSnapshot.NotFound"})
_T = TypeVar("_T")


def present(
    ids: Sequence[str],
    describe: Callable[[list[str]], list[_T]],
    gone: frozenset[str],
    endpoint: errors.Endpoint,
) -> list[_T]:
    """``describe(ids)``; when AWS fails it for a gone ID, each half again (alone: absent)."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        return []
    try:
        return describe(unique)
    except Exception as exc:
        error = errors.to_aws_error(exc, endpoint)
        if error.code not in gone:
            raise error from None
    if len(unique) == 1:
        return []
    half = len(unique) // 2
    return present(unique[:half], describe, gone, endpoint) + present(
        unique[half:], describe, gone, endpoint
    )
