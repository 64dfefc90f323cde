"""A status as the JSON merge patch (RFC 7386) that leaves exactly it stored.

The operator writes its whole status as a merge patch, and a merge patch keeps every
field it does not name. The core names ``null`` what it drops from the status it built
on, but the API may hold another: a write that got no answer may be stored, and a
watched body may lag the API. Each field of those that the new status lacks is named
``null`` too, so no field of one status is left beside another's (a retry recorded
handled beside entries that never asked for it, an estimate for tasks that ended).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FOREIGN = frozenset({"kopf"})  # kopf's own field in a status: never ours to delete


def exact(status: Mapping[str, Any], *maybe_stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """``status``, with ``None`` for each field one of ``maybe_stored`` has and it lacks.

    Objects are compared field by field; lists and scalars replace whatever is stored.
    """
    patch = dict(status)
    for stored in maybe_stored:
        for key, value in (stored or {}).items():
            if key in FOREIGN or value is None:
                continue
            if key not in patch:
                patch[key] = None
            elif isinstance(value, Mapping) and isinstance(patch[key], Mapping):
                patch[key] = exact(patch[key], value)
    return patch


def union(first: Mapping[str, Any] | None, second: Mapping[str, Any]) -> dict[str, Any]:
    """A status with every field either has (objects field by field; else ``second``'s).

    What ``exact`` needs of several statuses the API may hold, kept in one: a long run of
    writes with no answer holds one status, not one per write.
    """
    merged = dict(first or {})
    for key, value in second.items():
        before = merged.get(key)
        both = isinstance(before, Mapping) and isinstance(value, Mapping)
        merged[key] = union(before, value) if both else value
    return merged
