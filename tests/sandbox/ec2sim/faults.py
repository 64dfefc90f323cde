"""Injected faults: errors, delays and dropped connections, per action or for all."""

from __future__ import annotations

import dataclasses
import itertools

ERROR_KINDS = (
    "InternalError",
    "Unavailable",
    "UnauthorizedOperation",
    "RequestExpired",
    "AuthFailure",
    "RequestLimitExceeded",
)
KINDS = (*ERROR_KINDS, "delay", "drop")


@dataclasses.dataclass
class Fault:
    """One injected fault; `remaining` None means until cleared."""

    id: int
    kind: str
    action: str | None = None
    remaining: int | None = None
    delay_seconds: float = 0.0
    message: str | None = None

    def to_json(self) -> dict[str, object]:
        """The control API's JSON shape of a fault."""
        return dataclasses.asdict(self)


class FaultSet:
    """The active faults, consumed in the order they were injected."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self._ids = itertools.count(1)

    def inject(
        self,
        kind: str,
        action: str | None = None,
        count: int | None = None,
        delay_seconds: float = 0.0,
        message: str | None = None,
    ) -> Fault:
        """Add a fault for `count` calls (None: until cleared) of `action` (None: all)."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(KINDS)}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1")
        if kind == "delay" and delay_seconds <= 0:
            raise ValueError("a delay fault needs delay_seconds > 0")
        fault = Fault(next(self._ids), kind, action, count, delay_seconds, message)
        self.faults.append(fault)
        return fault

    def clear(self, action: str | None = None) -> int:
        """Remove every fault, or those of one action; returns how many went."""
        before = len(self.faults)
        if action is None:
            self.faults = []
        else:
            self.faults = [f for f in self.faults if f.action != action]
        return before - len(self.faults)

    def take(self, action: str) -> tuple[float, Fault | None]:
        """Consume what applies to this call: total delay, and the error or drop fault if any."""
        delay = 0.0
        chosen: Fault | None = None
        for fault in list(self.faults):
            if fault.action is not None and fault.action != action:
                continue
            if fault.kind == "delay":
                delay += fault.delay_seconds
            elif chosen is None:
                chosen = fault
            else:
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
        return delay, chosen
