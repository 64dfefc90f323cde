"""What brings a resource's next poll forward: an edit, or a moment its status changes.

A poll with nothing to do (its spec rejected, or its account denied, and that
written) waits for the resource's next edit, at most an interval
(``until_edited``); ``edited`` ends that wait (a new generation, a reloaded map
that allows it, its deletion). A status that changes by time alone (a request's
grace ends) is polled then (``poll_in``): the next interval's poll would show it
up to an interval late, long after everything else settled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Wakeups:
    """The waits for an edit, and the timers that wake a resource's poller, per key."""

    def __init__(self, wake: Callable[[str], None]) -> None:
        self._wake = wake  # the poller's: poll the resource within seconds
        self._edits: dict[str, asyncio.Future[None]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}  # a poll when its status changes

    async def until_edited(self, key: str, at_most: float) -> None:
        """Until the resource gets a new generation or goes; at most ``at_most`` seconds."""
        edited = self._edits.get(key)
        if edited is None or edited.done():
            edited = self._edits[key] = asyncio.get_running_loop().create_future()
        # Not wait_for: on Python 3.11 it returns the future's result when a cancel comes
        # in the same loop turn (CPython gh-86296), and the poll would go on after it.
        await asyncio.wait({edited}, timeout=at_most)

    def edited(self, key: str) -> None:
        """End the wait of ``key`` for an edit, if it waits."""
        edited = self._edits.pop(key, None)
        if edited is not None and not edited.done():
            edited.set_result(None)

    def poll_in(self, key: str, delay: float | None) -> None:
        """Wake ``key``'s poller in ``delay`` seconds (None: at its interval), not as set before."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if delay is not None:
            loop = asyncio.get_running_loop()
            self._timers[key] = loop.call_later(delay, self._wake, key)

    def close(self) -> None:
        """Cancel every timer (operator shutdown)."""
        for key in list(self._timers):
            self.poll_in(key, None)
