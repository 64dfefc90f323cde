"""What every AmiStore's cleanup knows of each AMI, per (account, region): one at a time.

Two AmiStores may list one AMI with ``afterExport`` other than ``Keep``: the first to
mark it ``Deregistering`` holds it (``claim``), the others wait, and once it is gone
they record it ``Gone``. An AMI deregistered (or gone) is never polled again by any
AmiStore of its account and region (``ended_in``): AWS fails a whole ImageIds batch
naming it. Learnt from every stored status the operator sees (a restart too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from amistore_operator.core import cleanup

Where = tuple[str, str]  # (account as the spec names it, region)


class CleanupBook:
    """Claims and ended AMIs, by (account, region)."""

    def __init__(self, on_end: Callable[[Where, str], None] = lambda where, ami: None) -> None:
        self._on_end = on_end  # the poller's: the AMI leaves every batch at once
        self._claims: dict[tuple[str, str, str], str] = {}  # (account, region, AMI) -> key
        self._ended: dict[Where, set[str]] = {}

    def learn(self, key: str, where: Where, entries: Iterable[Mapping[str, Any]]) -> None:
        """What a status's entries say: the AMIs it marked, those deregistered or gone."""
        for entry in entries:
            ami_id, state = str(entry.get("amiId")), cleanup.state(entry)
            if state == cleanup.DEREGISTERING:
                self._claims.setdefault((*where, ami_id), key)
            elif state in cleanup.ENDED:
                self.end(where, ami_id)

    def claim(self, key: str, where: Where, ami_id: str) -> bool:
        """Whether ``key`` holds the AMI's cleanup (it does if no one else does)."""
        return self._claims.setdefault((*where, ami_id), key) == key

    def held_by_other(self, key: str, where: Where, ami_id: str) -> bool:
        """Whether another AmiStore has marked the AMI."""
        holder = self._claims.get((*where, ami_id))
        return holder is not None and holder != key

    def end(self, where: Where, ami_id: str) -> None:
        """The AMI is deregistered: no claim on it, and no poll of it."""
        self._claims.pop((*where, ami_id), None)
        ended = self._ended.setdefault(where, set())
        if ami_id not in ended:
            ended.add(ami_id)
            self._on_end(where, ami_id)

    def ended(self, where: Where, ami_id: str) -> bool:
        """Whether the AMI is known deregistered in ``where``."""
        return ami_id in self._ended.get(where, ())

    def ended_in(self, where: Where) -> frozenset[str]:
        """The AMIs of ``where`` known deregistered."""
        return frozenset(self._ended.get(where, ()))

    def release(self, key: str) -> None:
        """The AmiStore is gone: its claims go (its marks stay in no status any more)."""
        for claim in [c for c, holder in self._claims.items() if holder == key]:
            del self._claims[claim]
