"""Per-action token buckets, in real time, as EC2 throttles requests."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

# AWS's published request-token buckets for these actions: (burst, refill per second).
AWS_LIMITS: dict[str, tuple[float, float]] = {
    "DescribeStoreImageTasks": (50.0, 0.5),
    "CreateStoreImageTask": (50.0, 0.1),
}
NON_MUTATING = (100.0, 20.0)
MUTATING = (200.0, 5.0)
# Actions AWS sizes by category (non-mutating Describe*, mutating): each still has a
# bucket of its own, made at its first call.
CATEGORY_LIMITS: dict[str, tuple[float, float]] = {
    "DescribeImages": NON_MUTATING,
    "DescribeImageAttribute": NON_MUTATING,
    "DescribeImageReferences": NON_MUTATING,
    "DescribeSnapshots": NON_MUTATING,
    "DeregisterImage": MUTATING,
    "CreateRestoreImageTask": MUTATING,
}


@dataclasses.dataclass
class TokenBucket:
    """A bucket of `burst` tokens refilled at `rate` per second; starts full."""

    burst: float
    rate: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = -1.0
    stamp: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst
        self.stamp = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self) -> bool:
        """Spend one token if there is one."""
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def available(self) -> float:
        """Tokens in the bucket now."""
        self._refill()
        return self.tokens


class Throttler:
    """One token bucket per action; actions without one are never throttled."""

    def __init__(self, enabled: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = enabled
        self._clock = clock
        self.buckets: dict[str, TokenBucket] = {}
        self.reset()

    def reset(self) -> None:
        """Back to AWS's published limits, with full buckets."""
        self.buckets = {
            action: TokenBucket(burst, rate, self._clock)
            for action, (burst, rate) in AWS_LIMITS.items()
        }

    def configure(self, action: str, burst: float, rate: float) -> None:
        """Give an action a new (full) bucket."""
        if burst < 1 or rate < 0:
            raise ValueError("burst must be at least 1 and rate at least 0")
        self.buckets[action] = TokenBucket(burst, rate, self._clock)

    def allow(self, action: str) -> bool:
        """Whether a call to `action` may proceed now (spending a token)."""
        bucket = self.buckets.get(action)
        if bucket is None and action in CATEGORY_LIMITS:
            burst, rate = CATEGORY_LIMITS[action]
            bucket = self.buckets[action] = TokenBucket(burst, rate, self._clock)
        if not self.enabled or bucket is None:
            return True
        return bucket.take()

    def to_json(self) -> dict[str, object]:
        """The control API's view of throttling."""
        return {
            "enabled": self.enabled,
            "actions": {
                action: {"burst": b.burst, "rate": b.rate, "tokens": b.available()}
                for action, b in self.buckets.items()
            },
        }
