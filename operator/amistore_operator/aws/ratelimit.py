"""A thread-safe token bucket: the operator's share of AWS's request budget.

AWS meters DescribeStoreImageTasks with a bucket per account and region (50
tokens, 0.5 per second). Every HTTP attempt takes one token here first, from
the boto3 hook in a worker thread or from the poller on the event loop, so the
operator never spends more than its share.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """``burst`` tokens at most, refilled continuously at ``rate`` per second."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError(f"need rate > 0 and burst >= 1, got rate={rate} burst={burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._stamp = clock()
        # Threads blocked in acquire() sleep on this; it wakes them early on close.
        self._closed = threading.Event()

    def _refill(self) -> None:
        now = self._clock()
        # A clock that steps back (wall-clock adjustments) must not mint or burn tokens.
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._stamp = now

    def level(self) -> float:
        """Tokens available now."""
        with self._lock:
            self._refill()
            return self._tokens

    def wait_time(self, n: float = 1.0) -> float:
        """Seconds until ``n`` tokens are available (0 when they are now)."""
        with self._lock:
            self._refill()
            missing = min(n, self.burst) - self._tokens
            return max(0.0, missing / self.rate)

    def try_acquire(self) -> bool:
        """Take one token if there is one; never waits."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def acquire(self, timeout: float | None = None) -> bool:
        """Take one token, blocking the calling thread up to ``timeout`` seconds (None: forever).

        Waits in real time: for worker threads only, never on the event loop.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.try_acquire():
                return True
            if self._closed.is_set():
                return False
            delay = max(self.wait_time(1.0), 0.001)
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                delay = min(delay, remaining)
            self._closed.wait(delay)

    async def acquire_async(self, sleep: Callable[[float], Awaitable[None]] | None = None) -> None:
        """Take one token, waiting on the event loop (with ``sleep``, e.g. a fake clock's)."""
        while not self.try_acquire():
            delay = max(self.wait_time(1.0), 0.001)
            await (asyncio.sleep(delay) if sleep is None else sleep(delay))

    def close(self) -> None:
        """Release threads blocked in ``acquire`` (they get False) so shutdown is prompt."""
        self._closed.set()
