"""Capacity: the slots an AmiStore may take for new requests, and the AMIs waiting for one.

Pure, like ``export``. AWS limits the store work in progress per account and region and
refuses creates beyond it; ``--max-concurrent-stores`` caps the operator's own tasks in
progress per (account, region), shared fairly (``fair_slots``). An AMI that must wait is
``Queued`` without ``requestedTime`` (``is_waiting``).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from typing import Any

from amistore_operator.core import model, timestamps


def fair_slots(
    cap: int, in_flight: Mapping[str, int], wanting: Sequence[str], key: str
) -> int | None:
    """New requests ``key`` may record in its (account, region); None: no cap.

    ``in_flight``: each AmiStore's stores in progress (requests included); ``wanting``:
    the AmiStores with AMIs waiting for a request. While several wait, each may hold
    ``ceil(cap / len(wanting))`` slots, so no one AmiStore holds every slot.
    """
    if cap <= 0:
        return None
    free = cap - sum(in_flight.values())
    contenders = len({*wanting, key})
    share = math.ceil(cap / contenders)
    return max(0, min(free, share - in_flight.get(key, 0)))


def is_waiting(entry: Mapping[str, Any]) -> bool:
    """Whether an entry is ``Queued`` without a request (waiting for a slot)."""
    return entry.get("state") == model.TaskState.QUEUED and not entry.get("requestedTime")


def waits_to_retry(
    entry: Mapping[str, Any], state: model.TaskState, started: datetime.datetime | None
) -> bool:
    """Whether a waiting entry waits to retry a Failed task: one started before the wait.

    It waits for a slot, or for the end of a live request into another bucket. A task
    started since is another AmiStore's export of the AMI (its request took the slot
    first), not a failure this AmiStore was asked to retry.
    """
    since = timestamps.parse_time(entry.get("lastTransitionTime"))
    return (
        state == model.TaskState.FAILED
        and is_waiting(entry)
        and (since is None or started is None or started < since)
    )
