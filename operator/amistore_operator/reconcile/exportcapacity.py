"""The store capacity of each (account, region): the stores in flight and the slots.

At most ``max_concurrent`` of the operator's own stores in progress per (account, region),
shared fairly between the AmiStores waiting (``export.fair_slots``). A create AWS refuses
for capacity blocks new requests there until one of its stores finishes (at least one
interval later) or a backoff passes (one interval, doubling to ``MAX_CAPACITY_BACKOFF``): at
most one refused create per interval.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from amistore_operator.core import export, model

MAX_CAPACITY_BACKOFF = 600.0  # seconds: the longest wait after refusals for capacity
Where = tuple[str, str]  # (account, region)


@dataclasses.dataclass
class _Full:
    """AWS refused a create for capacity in an (account, region)."""

    refused: float  # monotonic time of the last refusal
    backoff: float  # seconds until asking again regardless
    in_flight: int  # the (account, region)'s stores in progress then
    refusals: int = 1


class Capacity:
    """Every AmiStore's stores in flight per (account, region), and AWS's refusals there."""

    def __init__(self, *, max_concurrent: int, monotonic: Callable[[], float]) -> None:
        self._max_concurrent = max_concurrent  # 0: no cap of our own
        self._monotonic = monotonic
        self._in_flight: dict[str, tuple[Where, int]] = {}
        self._wanting: dict[str, Where] = {}  # AmiStores with AMIs waiting for a slot
        self._full: dict[Where, _Full] = {}

    def counted(self, key: str) -> bool:
        """Whether the resource's stores in flight are known (polled, or seeded)."""
        return key in self._in_flight

    def count(
        self,
        key: str,
        spec: model.AmiStoreSpec,
        view: model.ResourceView,
        requests: Mapping[str, export.Request],
    ) -> None:
        """This AmiStore's stores in progress as of this view, before it decides.

        Its InProgress tasks and its live requests (``requests``: its bucket's); while the
        view misses some AMIs, never fewer than its last poll counted (a store may hide
        behind the stale ones).
        """
        count = 0
        for ami_id in spec.image_ids:
            request = requests.get(ami_id)
            task = export.in_bucket(view.tasks.get(ami_id), spec.bucket)
            mine = request is not None and request.owner == key
            running = task is not None and task.state == model.TaskState.IN_PROGRESS
            count += 1 if mine or running else 0
        known = self._in_flight.get(key)
        if known is not None and not all(a in view.tasks for a in spec.image_ids):
            count = max(count, known[1])
        self._in_flight[key] = ((spec.account, spec.region), count)

    def seed(self, key: str, where: Where, entries: Iterable[Mapping[str, Any]]) -> None:
        """The stores a stored status's ``entries`` show in flight, until the first poll."""
        count = sum(
            1
            for e in entries
            if e.get("state") == model.TaskState.IN_PROGRESS
            or (e.get("state") == model.TaskState.QUEUED and e.get("requestedTime"))
        )
        self._in_flight[key] = (where, count)

    def tally(self, key: str, where: Where, in_flight: int, *, wanting: bool) -> None:
        """What a poll of ``key`` ended with: its stores in flight, whether AMIs wait for a slot."""
        self._in_flight[key] = (where, in_flight)
        if wanting:
            self._wanting[key] = where
        else:
            self._wanting.pop(key, None)

    def forget(self, key: str) -> None:
        """``key`` holds no slot and waits for none."""
        self._in_flight.pop(key, None)
        self._wanting.pop(key, None)

    def slots(self, key: str, where: Where, interval: float) -> int | None:
        """How many new requests ``key`` may record now (None: no cap)."""
        if self.blocked(where, interval):
            return 0
        in_flight = {k: n for k, (w, n) in self._in_flight.items() if w == where}
        wanting = [k for k, w in self._wanting.items() if w == where]
        return export.fair_slots(self._max_concurrent, in_flight, wanting, key)

    def blocked(self, where: Where, interval: float) -> bool:
        """Whether AWS refused for capacity lately: no store has finished, no backoff passed."""
        full = self._full.get(where)
        if full is None:
            return False
        elapsed = self._monotonic() - full.refused
        in_flight = sum(n for w, n in self._in_flight.values() if w == where)
        finished = in_flight < full.in_flight and elapsed >= interval
        return not finished and elapsed < full.backoff

    def refused(self, where: Where, interval: float, pending: int) -> None:
        """AWS refused a create for capacity, with ``pending`` of this poll's creates uncalled."""
        in_flight = sum(n for w, n in self._in_flight.values() if w == where) - pending
        full = self._full.get(where)
        refusals = 1 if full is None else full.refusals + 1
        backoff = min(max(MAX_CAPACITY_BACKOFF, interval), interval * 2 ** (refusals - 1))
        self._full[where] = _Full(self._monotonic(), backoff, in_flight, refusals)

    def took(self, where: Where) -> None:
        """AWS took a create in ``where``: capacity is free again."""
        self._full.pop(where, None)
