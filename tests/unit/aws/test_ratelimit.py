"""The token bucket: refill, burst cap, blocking and async acquisition."""

from __future__ import annotations

import threading
import time

import pytest
from amistore_operator.aws import ratelimit


class Tick:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_burst_then_refill_at_rate() -> None:
    clock = Tick()
    bucket = ratelimit.TokenBucket(0.5, 3, clock)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_time(1) == pytest.approx(2.0)
    clock.t += 1.0
    assert not bucket.try_acquire()
    clock.t += 1.0
    assert bucket.try_acquire()
    clock.t += 100.0
    assert bucket.level() == pytest.approx(3.0)  # never above burst


def test_wait_time_plans_for_several_tokens() -> None:
    clock = Tick()
    bucket = ratelimit.TokenBucket(2.0, 10, clock)
    for _ in range(10):
        assert bucket.try_acquire()
    assert bucket.wait_time(4) == pytest.approx(2.0)
    assert bucket.wait_time(0) == 0.0


def test_clock_stepping_back_mints_nothing() -> None:
    clock = Tick()
    bucket = ratelimit.TokenBucket(1.0, 1, clock)
    assert bucket.try_acquire()
    clock.t -= 50
    assert bucket.level() == 0.0


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        ratelimit.TokenBucket(0, 5)


def test_blocking_acquire_waits_for_refill_and_times_out() -> None:
    bucket = ratelimit.TokenBucket(20.0, 1)
    assert bucket.acquire(timeout=0)
    started = time.monotonic()
    assert bucket.acquire(timeout=1.0)  # one token refills in 50 ms
    assert 0.02 <= time.monotonic() - started < 0.9
    slow = ratelimit.TokenBucket(0.01, 1)
    assert slow.try_acquire()
    assert not slow.acquire(timeout=0.05)


def test_close_releases_blocked_threads() -> None:
    bucket = ratelimit.TokenBucket(0.001, 1)
    assert bucket.try_acquire()
    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(bucket.acquire(None)))
    thread.start()
    bucket.close()
    thread.join(timeout=5)
    assert results == [False]


def test_thread_safety_never_overspends() -> None:
    bucket = ratelimit.TokenBucket(0.001, 50)
    taken: list[bool] = []
    lock = threading.Lock()

    def grab() -> None:
        for _ in range(20):
            ok = bucket.try_acquire()
            with lock:
                taken.append(ok)

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(taken) == 50


async def test_acquire_async_uses_the_injected_sleep() -> None:
    clock = Tick()
    bucket = ratelimit.TokenBucket(0.5, 1, clock)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.t += seconds

    await bucket.acquire_async(sleep)
    await bucket.acquire_async(sleep)
    assert slept == [pytest.approx(2.0)]
