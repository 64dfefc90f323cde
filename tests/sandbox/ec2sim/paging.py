"""MaxResults and NextToken for the AMI and snapshot listings.

A listing is sorted by a string key; a NextToken names the action and the key of
the last item given, so a page continues after it whatever was added or removed
since (an item added before it is not shown, as a snapshot of the listing would not).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar

from tests.sandbox.ec2sim import errors

T = TypeVar("T")
RANGE = (5, 1000)
"""MaxResults of EC2's paginated Describe* calls."""


def max_results(raw: str | None, low: int = RANGE[0], high: int = RANGE[1]) -> int | None:
    """The page size asked for (None: every item), or InvalidParameterValue."""
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = high + 1
    if not low <= value <= high:
        raise errors.Ec2Error(
            "InvalidParameterValue",
            f"Value ( {raw} ) for parameter maxResults is invalid. "
            f"Expecting a value between {low} and {high}.",
        )
    return value


def encode(action: str, key: str) -> str:
    """An opaque NextToken continuing ``action``'s listing after ``key``."""
    return base64.urlsafe_b64encode(f"v1|{action}|{key}".encode()).decode()


def decode(action: str, token: str) -> str:
    """The key a NextToken continues after; InvalidPaginationToken if not this listing's."""
    try:
        version, named, key = base64.urlsafe_b64decode(token.encode()).decode().split("|", 2)
        if (version, named) != ("v1", action):
            raise ValueError(named)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise errors.Ec2Error(
            "InvalidPaginationToken",
            f"The pagination token '{token}' is not valid or is expired.",
        ) from exc
    return key


def page(
    action: str,
    items: Sequence[T],
    key: Callable[[T], str],
    limit: int | None,
    token: str | None,
) -> tuple[list[T], str | None]:
    """One page of ``items`` (sorted by ``key``) after the token's; the next token, if any."""
    after = None if token is None else decode(action, token)
    rest = [item for item in items if after is None or key(item) > after]
    if limit is None or len(rest) <= limit:
        return rest, None
    shown = rest[:limit]
    return shown, encode(action, key(shown[-1]))
