"""All regions' pollers: one ``poller.RegionPoller`` and one token bucket per region.

The hub is what the service talks to: it routes each resource to its region's
poller (moving it when its region changes), builds each region's refresher with
the injected EC2 client factory, clock and runner, and closes them all at exit.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Callable, Mapping

from amistore_operator.aws import budget, ratelimit
from amistore_operator.core import model
from amistore_operator.polling import calls, clock, poller, refresh


class PollerHub:
    """One RegionPoller per region; the only caller of AWS."""

    def __init__(
        self,
        *,
        client_factory: Callable[[str], calls.StoreTaskApi],
        rate: float,
        burst: int,
        metrics: refresh.PollerMetrics,
        clock: clock.Clock = clock.SYSTEM_CLOCK,
        rng: random.Random | None = None,
        runner: calls.BlockingRunner = asyncio.to_thread,
        gather: float = 0.5,
        max_in_flight: int = 4,
        backoff_base: float = 1.0,
    ) -> None:
        self._client_factory = client_factory
        self._rate = rate
        self._burst = burst
        self._metrics = metrics
        self._clock = clock
        self._rng = rng or random.Random()
        self._runner = runner
        self._gather = gather
        self._max_in_flight = max_in_flight
        self._backoff_base = backoff_base
        self._buckets: dict[str, ratelimit.TokenBucket] = {}
        self._regions: dict[str, poller.RegionPoller] = {}
        self._key_region: dict[str, str] = {}

    def budget(self, region: str) -> ratelimit.TokenBucket:
        """The region's token bucket (created on first use)."""
        bucket = self._buckets.get(region)
        if bucket is None:
            bucket = ratelimit.TokenBucket(self._rate, self._burst, self._clock.now)
            self._buckets[region] = bucket
        return bucket

    def attempt_hook(self, region: str) -> Callable[[], None]:
        """The ``on_attempt`` for ``aws.make_client(region)``: botocore's retries pay too.

        The first attempt of each call is paid by the poller on the event loop
        before dispatch, so the hook only blocks (in the worker thread) for retries.
        """
        return budget.attempt_hook(self.budget(region))

    def region(self, region: str) -> poller.RegionPoller:
        """The poller of ``region`` (created on first use)."""
        region_poller = self._regions.get(region)
        if region_poller is None:
            bucket = self.budget(region)
            refresher = functools.partial(
                refresh.Refresher,
                region,
                client_factory=self._client_factory,
                bucket=bucket,
                metrics=self._metrics,
                clock=self._clock,
                rng=self._rng,
                runner=self._runner,
                gather=self._gather,
                max_in_flight=self._max_in_flight,
                backoff_base=self._backoff_base,
            )
            region_poller = poller.RegionPoller(
                region,
                refresher=refresher,
                bucket=bucket,
                clock=self._clock,
                rng=self._rng,
                gather=self._gather,
            )
            self._regions[region] = region_poller
        return region_poller

    async def view(
        self,
        key: str,
        spec: model.AmiStoreSpec,
        known: Mapping[str, model.StoreTask],
        *,
        wait: bool = True,
    ) -> model.ResourceView:
        """The resource's latest data, right after the region's refresh that serves it."""
        previous = self._key_region.get(key)
        if previous is not None and previous != spec.region:
            self._regions[previous].unsubscribe(key)
        self._key_region[key] = spec.region
        return await self.region(spec.region).view(key, spec, known, wait)

    def wake(self, key: str) -> None:
        """The resource's spec changed: poll it within seconds."""
        region = self._key_region.get(key)
        if region is not None:
            self._regions[region].wake(key)

    def forget(self, key: str) -> None:
        """The resource is gone: drop its subscription (and AMIs nobody else tracks)."""
        region = self._key_region.pop(key, None)
        if region is not None:
            self._regions[region].unsubscribe(key)

    async def close(self) -> None:
        """Stop every region's loop; threads blocked on the budget give up."""
        for bucket in self._buckets.values():
            bucket.close()
        await asyncio.gather(*(p.stop() for p in self._regions.values()))
