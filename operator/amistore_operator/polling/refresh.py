"""One refresh cycle of a region: plan the calls, run them, settle the answers, then back off.

A cycle plans the fewest calls for everything due across all subscribed
resources (``plan``), pays each call from the region's token bucket and runs it
in a worker thread (``calls``), and writes the answers into the region's
``cache.TaskCache`` (``settle``). Due times snap to a grid of one poll interval
anchored at the last regular cycle, so one call serves every resource. At the
end of a cycle, a failure backs off what it touched, and the effective interval
is reported (with a warning when the budget stretches it).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable
from typing import Protocol

from amistore_operator.aws import ratelimit
from amistore_operator.polling import cache, calls, clock, plan, settle

# The stretch warnings are the poller's: keep the logger name operators filter on.
logger = logging.getLogger("amistore_operator.polling.poller")

# The backoff doubles per failed cycle up to one interval; past this the doubling stops
# (2 ** 1024 overflows a float after a long enough outage).
MAX_DOUBLINGS = 30


class PollerMetrics(Protocol):
    """The poller's gauges (``metrics.OperatorMetrics`` in production)."""

    def set_poll_success(self, region: str, ts: float) -> None: ...

    def set_effective_interval(self, region: str, seconds: float) -> None: ...

    def set_budget(self, region: str, tokens: float) -> None: ...


class Refresher:
    """Runs the refresh cycles of one region over its cache: the grid, the cycle, the backoff."""

    def __init__(
        self,
        region: str,
        task_cache: cache.TaskCache,
        *,
        client_factory: Callable[[str], calls.StoreTaskApi],
        bucket: ratelimit.TokenBucket,
        metrics: PollerMetrics,
        clock: clock.Clock,
        rng: random.Random,
        runner: calls.BlockingRunner,
        gather: float,
        max_in_flight: int,
        backoff_base: float,
    ) -> None:
        self.region = region
        self.bucket = bucket
        self._cache = task_cache
        self._metrics = metrics
        self._clock = clock
        self._rng = rng
        self._gather = gather
        self._backoff_base = backoff_base
        self.anchor: float | None = None  # start of the last regular cycle: the grid
        self.fail_streak = 0
        self.stretched = False
        self.effective_interval: float | None = None  # the last measured, once known
        self.last_cycle_start = -math.inf
        self.settler = settle.Settler(task_cache, clock=clock, rng=rng, snap=self._snap)
        self.caller = calls.Caller(
            region,
            task_cache,
            self.settler,
            client_factory=client_factory,
            bucket=bucket,
            clock=clock,
            runner=runner,
            max_in_flight=max_in_flight,
            snap=self._snap,
        )

    # --- the grid ------------------------------------------------------------

    def next_wake(self) -> tuple[float, bool]:
        """When the next cycle is due, and whether something is due right now."""
        return plan.next_wake(self._cache, self.anchor, self._clock.now())

    def _snap(self, t: float) -> float:
        """Align a due time to the region's grid, so one cycle serves every resource."""
        return plan.snap(
            t, anchor=self.anchor, interval=self._cache.interval(), now=self._clock.now()
        )

    # --- one refresh cycle ---------------------------------------------------

    async def run(self) -> None:
        """Run one refresh cycle: the calls for everything due, then the bookkeeping."""
        now = self._clock.now()
        regular = plan.is_regular(self.anchor, now, self._cache.interval())
        previous_anchor = self.anchor
        if regular:
            self.anchor = now
        cyc = settle.Cycle(start=now, regular=regular)
        caller = self.caller
        await caller.connect()

        memory = plan.Memory(
            ip_pages=caller.ip_pages,
            roll_pages_total=caller.roll_pages_total,
            roll_due=caller.roll_due,
        )
        due = plan.due(self._cache, memory, now, regular=regular)
        todo = plan.calls(self._cache, memory, now, due, self.settler.claim(due.amis, now, cyc))

        # First the listings: what they show needs no ImageIds call.
        listings: list[Awaitable[None]] = [caller.refresh_listing(fk, cyc) for fk in todo.listings]
        if todo.in_progress_listing:
            listings.append(caller.in_progress_listing(todo.in_progress, cyc))
        if todo.sweep_pages:
            listings.append(caller.sweep(todo.sweep_pages, cyc))
        if todo.roll_pages:
            listings.append(caller.roll(todo.roll_pages, cyc))
        await asyncio.gather(*listings)

        batches = plan.batches(todo, cyc.attempted, self._cache.amis)
        await asyncio.gather(*(caller.describe_ids(batch, cyc) for batch in batches))
        self._finish(cyc, previous_anchor)

    # --- after the cycle: backoff and health ----------------------------------

    def _finish(self, cyc: settle.Cycle, previous_anchor: float | None) -> None:
        end = self._clock.now()
        interval = self._cache.interval()
        if cyc.failed:
            self.fail_streak += 1
            doubling = min(self.fail_streak - 1, MAX_DOUBLINGS)
            cap = min(interval, self._backoff_base * 2**doubling)
            # Full jitter, with a floor so a fast failure does not spin.
            delay = max(self._rng.uniform(0, cap), min(self._gather, cap))
            errored: list[cache.AmiEntry | cache.ListingEntry] = [
                *cyc.errored_amis,
                *cyc.errored_listings,
            ]
            for item in errored:
                item.retry_at = end + delay
        elif cyc.answered:
            self.fail_streak = 0
            self._metrics.set_poll_success(self.region, end)
        # A cycle that made no call (everything due was backing off, or served from a
        # listing) says nothing: during a hang it must neither reset the backoff nor
        # look like a success.
        if cyc.regular:
            effective = interval
            if previous_anchor is not None:
                effective = max(interval, cyc.start - previous_anchor, end - cyc.start)
            self._report_stretch(interval, effective)
        self._metrics.set_budget(self.region, self.bucket.level())
        self.last_cycle_start = cyc.start

    def _report_stretch(self, interval: float, effective: float) -> None:
        self.effective_interval = effective
        self._metrics.set_effective_interval(self.region, effective)
        stretched = effective > interval + cache.slack_for(interval)
        if stretched and not self.stretched:
            logger.warning(
                "EC2 budget exceeded in %s: refreshing every %.0fs instead of %.0fs "
                "(raise --ec2-rate/--ec2-burst or poll intervals)",
                self.region,
                effective,
                interval,
            )
        elif self.stretched and not stretched:
            logger.warning("EC2 budget sufficient again in %s: every %.0fs", self.region, interval)
        self.stretched = stretched
