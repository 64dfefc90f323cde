"""All pollers: one ``poller.RegionPoller`` and one token bucket per (account, region).

AWS throttles per account and region, so each pair gets its own poller and
budget: a throttled or broken account never slows another. Account "" is the
operator's own identity. The hub is what the service talks to: it routes each
resource to its (account, region) poller (moving it when either changes),
builds each poller's refresher with the injected EC2 client factory, clock and
runner, and closes them all at exit.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Callable, Mapping
from typing import Protocol

from amistore_operator.aws import budget, ratelimit
from amistore_operator.core import model
from amistore_operator.polling import calls, clock, poller, refresh

# Which poller: (account, region); account "" is the operator's own identity.
PollerKey = tuple[str, str]


class AccountMetrics(Protocol):
    """The poller's gauges with an ``account`` label (``metrics.OperatorMetrics``)."""

    def set_poll_success(self, region: str, ts: float, account: str = "") -> None: ...

    def set_effective_interval(self, region: str, seconds: float, account: str = "") -> None: ...

    def set_budget(self, region: str, tokens: float, account: str = "") -> None: ...


class _LabelledMetrics:
    """``refresh.PollerMetrics`` of one account: its gauges carry the account's label."""

    def __init__(self, metrics: AccountMetrics, label: Callable[[], str]) -> None:
        self._metrics = metrics
        self._label = label

    def set_poll_success(self, region: str, ts: float) -> None:
        self._metrics.set_poll_success(region, ts, self._label())

    def set_effective_interval(self, region: str, seconds: float) -> None:
        self._metrics.set_effective_interval(region, seconds, self._label())

    def set_budget(self, region: str, tokens: float) -> None:
        self._metrics.set_budget(region, tokens, self._label())


class PollerHub:
    """One RegionPoller per (account, region); the only caller of AWS."""

    def __init__(
        self,
        *,
        client_factory: Callable[[str, str], calls.StoreTaskApi],
        rate: float,
        burst: int,
        metrics: AccountMetrics,
        account_label: Callable[[str], str] = str,
        clock: clock.Clock = clock.SYSTEM_CLOCK,
        rng: random.Random | None = None,
        runner: calls.BlockingRunner = asyncio.to_thread,
        gather: float = 0.5,
        max_in_flight: int = 4,
        backoff_base: float = 1.0,
    ) -> None:
        self._client_factory = client_factory  # (account, region) -> client
        self._account_label = account_label  # the metrics' account label ("": our own ID)
        self._metrics = metrics
        self._clock = clock
        self._rng = rng or random.Random()
        self._runner = runner
        self._gather = gather
        self._max_in_flight = max_in_flight
        self._backoff_base = backoff_base
        self._budgets = budget.Budgets(rate, burst, clock.now)
        self._regions: dict[PollerKey, poller.RegionPoller] = {}
        self._key_region: dict[str, PollerKey] = {}

    def budget(self, region: str, account: str = "") -> ratelimit.TokenBucket:
        """The token bucket of ``account`` in ``region`` (created on first use)."""
        return self._budgets.bucket(region, account)

    def attempt_hook(self, region: str, account: str = "") -> Callable[[], None]:
        """The ``on_attempt`` for the client of (account, region): botocore's retries pay too.

        The first attempt of each call is paid by the poller on the event loop
        before dispatch, so the hook only blocks (in the worker thread) for retries.
        """
        return self._budgets.attempt_hook(region, account)

    def region(self, region: str, account: str = "") -> poller.RegionPoller:
        """The poller of ``account`` in ``region`` (created on first use)."""
        region_poller = self._regions.get((account, region))
        if region_poller is None:
            bucket = self.budget(region, account)
            label = functools.partial(self._account_label, account)
            refresher = functools.partial(
                refresh.Refresher,
                region,
                client_factory=functools.partial(self._client_factory, account),
                bucket=bucket,
                metrics=_LabelledMetrics(self._metrics, label),
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
            self._regions[(account, region)] = region_poller
        return region_poller

    async def view(
        self,
        key: str,
        spec: model.AmiStoreSpec,
        known: Mapping[str, model.StoreTask],
        *,
        wait: bool = True,
        awaiting: frozenset[str] = frozenset(),
    ) -> model.ResourceView:
        """The resource's latest data, right after the refresh of its poller that serves it.

        ``awaiting``: AMIs the resource asked AWS to store, polled every interval until
        AWS lists their task (a task may start and end between two listings).
        """
        where = (spec.account, spec.region)
        previous = self._key_region.get(key)
        if previous is not None and previous != where:
            self._regions[previous].unsubscribe(key)
        self._key_region[key] = where
        region_poller = self.region(spec.region, spec.account)
        return await region_poller.view(key, spec, known, wait, awaiting)

    def stretched_interval(self, key: str) -> float | None:
        """The interval of the poller serving ``key`` while the EC2 budget stretches it, else None.

        Read only: the stall threshold is at least two of it (see ``core.stall``).
        """
        where = self._key_region.get(key)
        region_poller = self._regions.get(where) if where is not None else None
        if region_poller is None or not region_poller.refresher.stretched:
            return None
        return region_poller.refresher.effective_interval

    def retire(self, where: tuple[str, str], ami: str) -> None:
        """A deregistered AMI of (account, region): no batch names it again."""
        region_poller = self._regions.get(where)
        if region_poller is not None:
            region_poller.cache.retire(ami)

    def wake(self, key: str) -> None:
        """The resource's spec changed: poll it within seconds."""
        where = self._key_region.get(key)
        if where is not None:
            self._regions[where].wake(key)

    def refresh(self, key: str, amis: tuple[str, ...]) -> None:
        """Poll these AMIs of ``key`` within seconds (its request for them is stored)."""
        where = self._key_region.get(key)
        if where is not None:
            self._regions[where].cache.force(amis)

    def forget(self, key: str) -> None:
        """The resource is gone: drop its subscription (and AMIs nobody else tracks)."""
        where = self._key_region.pop(key, None)
        if where is not None:
            self._regions[where].unsubscribe(key)

    async def close(self) -> None:
        """Stop every region's loop; threads blocked on the budget give up."""
        self._budgets.close()
        await asyncio.gather(*(p.stop() for p in self._regions.values()))
