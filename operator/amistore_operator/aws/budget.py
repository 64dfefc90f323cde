"""Paying the region's token bucket for every EC2 attempt, retries included.

The poller pays the first attempt of each call on the event loop before it
dispatches the call to a worker thread (``run_prepaid``); the boto3 hook from
``attempt_hook`` then charges only botocore's retries, blocking in that thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from amistore_operator.aws import ratelimit

T = TypeVar("T")


class BudgetClosedError(RuntimeError):
    """The poller is shutting down; a retry attempt was not paid for."""


_prepaid = threading.local()


def run_prepaid(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` in this thread with its first attempt already paid for."""
    # The poller paid for the first attempt before dispatch; the boto3 hook
    # (``attempt_hook``) then charges only botocore's retries.
    _prepaid.credit = True
    try:
        return fn(*args, **kwargs)
    finally:
        _prepaid.credit = False


def attempt_hook(bucket: ratelimit.TokenBucket) -> Callable[[], None]:
    """An ``on_attempt`` hook that pays ``bucket`` for every attempt not prepaid."""

    def pay() -> None:
        if getattr(_prepaid, "credit", False):
            _prepaid.credit = False
            return
        if not bucket.acquire(timeout=None):
            raise BudgetClosedError("the poller is shutting down")

    return pay


class Budgets:
    """One token bucket per (account, region), created on first use: AWS throttles per both."""

    def __init__(self, rate: float, burst: int, now: Callable[[], float]) -> None:
        self._rate = rate
        self._burst = burst
        self._now = now
        self._buckets: dict[tuple[str, str], ratelimit.TokenBucket] = {}

    def bucket(self, region: str, account: str = "") -> ratelimit.TokenBucket:
        """The bucket of ``account`` (``""``: the operator's own identity) in ``region``."""
        bucket = self._buckets.get((account, region))
        if bucket is None:
            bucket = ratelimit.TokenBucket(self._rate, self._burst, self._now)
            self._buckets[(account, region)] = bucket
        return bucket

    def attempt_hook(self, region: str, account: str = "") -> Callable[[], None]:
        """The ``on_attempt`` hook of a client of ``account`` in ``region``."""
        return attempt_hook(self.bucket(region, account))

    def close(self) -> None:
        """Refuse every later payment: threads blocked on a bucket give up."""
        for bucket in self._buckets.values():
            bucket.close()
