"""The shared, batched, budgeted poller: the only caller of DescribeStoreImageTasks.

One ``RegionPoller`` per region (``hub.PollerHub`` holds them) keeps a cache
of the latest store task per AMI and of each listing filter set (``cache``),
and runs ONE refresh loop. Each refresh cycle (``refresh``) plans the fewest
calls for everything due across all subscribed resources (``plan``), pays each
call from the region's token bucket (``calls``), settles the answers in the
cache (``settle``) and then wakes the resources waiting in ``view()``. Cycles
run on a grid of one poll interval, so resources created at random phases lock
onto it and one call per interval serves them all; a refresh wakes only the
resources it served.

No kopf and no boto3 here: the clock and the EC2 client are injected.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from amistore_operator.aws import ratelimit
from amistore_operator.core import model
from amistore_operator.polling import cache, clock, refresh

logger = logging.getLogger(__name__)

# How old data may be and still count as this interval's refresh (waiters allow as much).
slack_for = cache.slack_for
# The longest a first refresh waits for more resources to subscribe (gather windows).
MAX_GATHER_SECONDS = 5.0


class RegionPoller:
    """The cache, the refresher and the single refresh loop of one region."""

    def __init__(
        self,
        region: str,
        *,
        refresher: Callable[[cache.TaskCache], refresh.Refresher],
        bucket: ratelimit.TokenBucket,
        clock: clock.Clock,
        rng: random.Random,
        gather: float,
    ) -> None:
        self.region = region
        self.bucket = bucket
        self._clock = clock
        self._gather = gather
        self._waiters: dict[str, list[asyncio.Future[bool]]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.closed = False
        self.cache = cache.TaskCache(clock=clock, rng=rng, on_change=self._wake.set)
        self.refresher = refresher(self.cache)

    @property
    def subs(self) -> dict[str, cache.Subscription]:
        """The subscriptions by resource key."""
        return self.cache.subs

    @property
    def amis(self) -> dict[str, cache.AmiEntry]:
        """The cache entries of the tracked AMIs."""
        return self.cache.amis

    @property
    def listings(self) -> dict[cache.FilterKey, cache.ListingEntry]:
        """The cache entries of the listing filter sets."""
        return self.cache.listings

    # --- subscriptions -------------------------------------------------------

    def interval(self) -> float:
        """The region's poll interval: the smallest of its resources'."""
        return self.cache.interval()

    def subscribe(
        self,
        key: str,
        spec: model.AmiStoreSpec,
        known: Mapping[str, model.StoreTask],
        awaiting: frozenset[str] = frozenset(),
    ) -> cache.Subscription:
        """Track ``spec`` for ``key``; a new or changed spec is due now."""
        return self.cache.subscribe(key, spec, known, awaiting)

    def unsubscribe(self, key: str) -> None:
        """Drop ``key``; AMIs and listings nobody tracks any more leave the cache."""
        self.cache.unsubscribe(key)
        self._release(key, False)

    def wake(self, key: str) -> None:
        """Make every item of ``key`` due now."""
        self.cache.wake(key)

    # --- views ---------------------------------------------------------------

    async def view(
        self,
        key: str,
        spec: model.AmiStoreSpec,
        known: Mapping[str, model.StoreTask],
        wait: bool,
        awaiting: frozenset[str] = frozenset(),
    ) -> model.ResourceView:
        """Subscribe, then return this resource's view, right after the refresh that serves it.

        A resource unsubscribed while it waited (deleted, or its spec replaced) gets an
        empty view: nothing fresh, and its AMIs may have left the cache with it.
        """
        sub = self.subscribe(key, spec, known, awaiting)
        self.ensure_loop()
        if wait and not self.cache.ready_now(sub):
            deadline = self._clock.now() + spec.poll_interval + slack_for(spec.poll_interval)
            while self.subs.get(key) is sub and not self.closed:
                remaining = deadline - self._clock.now()
                if remaining <= 0:
                    if not any(self.cache.items_forced(sub)):
                        break
                    # Its first data is still on the way (a budget-stretched cycle): keep waiting.
                    remaining = spec.poll_interval
                if await self._until_served(key, remaining):
                    break
            if self.subs.get(key) is not sub:
                return model.ResourceView(tasks={}, error=None)
        sub.served_at = self._clock.now()
        return self.build_view(sub)

    async def _until_served(self, key: str, seconds: float) -> bool:
        """True once a refresh serves ``key``; False after ``seconds`` or when it is released.

        Each waiter is a bare future the loop resolves only when a refresh served its
        resource: no task per wait, and the other resources sleep through the cycle.
        """
        served: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        waiting = self._waiters.setdefault(key, [])
        waiting.append(served)
        timer = self._clock.call_later(seconds, lambda: _settle(served, False))
        try:
            return await served
        finally:
            timer.cancel()
            waiting.remove(served)
            if not waiting and self._waiters.get(key) is waiting:
                del self._waiters[key]

    def _release(self, key: str, served: bool) -> None:
        for future in self._waiters.get(key, ()):
            _settle(future, served)

    def _release_all(self) -> None:
        for key in list(self._waiters):
            self._release(key, False)

    def _release_served(self) -> None:
        """Wake the resources the cycle that just ended served; the rest sleep on."""
        start = self.refresher.last_cycle_start
        for key in list(self._waiters):
            sub = self.subs.get(key)
            if sub is None or self.cache.served_since(sub, start):
                self._release(key, sub is not None)

    def build_view(self, sub: cache.Subscription) -> model.ResourceView:
        """What the cache knows for ``sub``: tasks of known AMIs, the first error."""
        return self.cache.build_view(sub)

    # --- the loop ------------------------------------------------------------

    def ensure_loop(self) -> None:
        """Start the region's single refresh loop unless it runs."""
        if not self.closed and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._loop(), name=f"poller-{self.region}")

    async def stop(self) -> None:
        """Stop the loop and release every waiter."""
        self.closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._release_all()

    async def _loop(self) -> None:
        while self.subs:
            self._wake.clear()
            wake_at, forced = self.refresher.next_wake()
            now = self._clock.now()
            if forced:
                # Let resources created or changed together share this refresh: at start
                # (thousands of daemons starting) as long as they keep arriving, up to a cap.
                waited, seen = 0.0, -1
                while len(self.subs) != seen and waited < MAX_GATHER_SECONDS:
                    seen = len(self.subs)
                    await self._clock.sleep(self._gather)
                    waited += self._gather
            elif wake_at > now:
                await _first_of(self._wake.wait(), self._clock.sleep(wake_at - now))
                continue
            if not self.subs:
                break
            try:
                await self.refresher.run()
            except Exception:
                logger.exception("refresh cycle of region %s failed", self.region)
                await self._clock.sleep(max(self._gather, 1.0))
                continue
            self._release_served()
        self._release_all()


def _settle(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


async def _first_of(*awaitables: Awaitable[Any]) -> None:
    """Wait until the first of ``awaitables`` finishes; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
