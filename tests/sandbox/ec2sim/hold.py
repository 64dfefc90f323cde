"""Held calls: a gate that keeps an action's calls in flight until a test releases them.

A test that must act while a call is provably in flight (kill the client mid-call)
holds the action, waits until ``held`` counts a call, acts, then releases: every held
call is then answered from the state at release time.
"""

from __future__ import annotations

import asyncio
import collections


class Holds:
    """Per-action gates; an action without a gate is answered at once."""

    def __init__(self) -> None:
        self._gates: dict[str, asyncio.Event] = {}
        self._waiting: collections.Counter[str] = collections.Counter()

    def hold(self, action: str) -> None:
        """Keep every later call of ``action`` waiting until released."""
        self._gates.setdefault(action, asyncio.Event())

    def release(self, action: str | None = None) -> int:
        """Let the held calls of ``action`` (None: every action) go; how many were waiting."""
        released = 0
        for name in [a for a in self._gates if action in (None, a)]:
            self._gates.pop(name).set()
            released += self._waiting[name]
        return released

    def held(self) -> dict[str, int]:
        """The calls waiting now, per action."""
        return {action: count for action, count in self._waiting.items() if count}

    def holding(self) -> list[str]:
        """The actions whose calls are held."""
        return sorted(self._gates)

    async def wait(self, action: str) -> None:
        """Until ``action`` is released (at once when it is not held)."""
        gate = self._gates.get(action)
        if gate is None:
            return
        self._waiting[action] += 1
        try:
            await gate.wait()
        finally:
            self._waiting[action] -= 1
