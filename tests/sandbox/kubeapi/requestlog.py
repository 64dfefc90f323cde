"""Every request the emulator answered, for tests to read."""

from __future__ import annotations

import collections
import dataclasses
import time
from typing import Any


@dataclasses.dataclass(frozen=True)
class Entry:
    """One answered request."""

    time: float
    method: str
    path: str
    query: str
    content_type: str
    status: int
    user_agent: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form served at ``/_sandbox/requests``."""
        return dataclasses.asdict(self)


class RequestLog:
    """A bounded log (the newest 100,000 requests)."""

    def __init__(self, size: int = 100_000) -> None:
        self.entries: collections.deque[Entry] = collections.deque(maxlen=size)

    def record(
        self, method: str, path: str, query: str, content_type: str, status: int, user_agent: str
    ) -> None:
        """Append one request."""
        self.entries.append(
            Entry(time.time(), method, path, query, content_type, status, user_agent)
        )

    def to_list(self) -> list[dict[str, Any]]:
        """All entries, oldest first."""
        return [e.to_dict() for e in self.entries]

    def clear(self) -> None:
        """Forget everything."""
        self.entries.clear()
