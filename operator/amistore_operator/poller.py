"""The shared, batched, budgeted poller: the only caller of DescribeStoreImageTasks.

One ``RegionPoller`` per region keeps a cache of the latest store task per AMI
and of each listing filter set, and runs ONE refresh loop. A refresh cycle
plans the fewest calls for everything due across all subscribed resources
(ImageIds batches of 20, a ``task-state=InProgress`` listing, a rolling
unfiltered listing for many terminal AMIs), pays each call from the region's
token bucket and then wakes the resources waiting in ``view()``. Cycles run on
a grid of one poll interval, so resources whose timers fire at random phases
lock onto it and one call per interval serves them all.

No kopf and no boto3 here: the clock and the EC2 client are injected.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import functools
import logging
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from amistore_operator import model, ratelimit

logger = logging.getLogger(__name__)

T = TypeVar("T")
IDS_PER_CALL = 20
PAGE_SIZE = 200
IN_PROGRESS = (model.TaskState.IN_PROGRESS.value,)
FilterKey = tuple[str | None, tuple[str, ...]]


class Clock(Protocol):
    """Wall time and sleeping, injected so tests run in virtual time."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """Unix seconds."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


class StoreTaskApi(Protocol):
    """What the poller needs from an EC2 client (``aws.StoreTaskClient``); both methods block."""

    def describe_ids(self, image_ids: Sequence[str]) -> list[model.StoreTask]: ...

    def describe_page(
        self,
        *,
        task_states: Sequence[str] = (),
        bucket: str | None = None,
        max_results: int = PAGE_SIZE,
        next_token: str | None = None,
    ) -> tuple[list[model.StoreTask], str | None]: ...


class PollerMetrics(Protocol):
    """The poller's gauges (``metrics.OperatorMetrics`` in production)."""

    def set_poll_success(self, region: str, ts: float) -> None: ...

    def set_effective_interval(self, region: str, seconds: float) -> None: ...

    def set_budget(self, region: str, tokens: float) -> None: ...


BlockingRunner = Callable[..., Awaitable[Any]]


class BudgetClosedError(RuntimeError):
    """The poller is shutting down; a retry attempt was not paid for."""


_prepaid = threading.local()


def _run_prepaid(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    # The poller paid for the first attempt before dispatch; the boto3 hook
    # (``attempt_hook``) then charges only botocore's retries.
    _prepaid.credit = True
    try:
        return fn(*args, **kwargs)
    finally:
        _prepaid.credit = False


def poll_error(exc: BaseException) -> model.PollError:
    """A ``PollError`` from an ``aws.AwsError`` (duck-typed: no boto3 import here) or else."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, model.PollErrorReason):
        return model.PollError(reason, str(getattr(exc, "message", exc)))
    return model.PollError(model.PollErrorReason.AWS_UNAVAILABLE, f"{type(exc).__name__}: {exc}")


def _is_active(task: model.StoreTask | None) -> bool:
    return task is None or task.state not in model.TERMINAL_STATES


def _newer(a: model.StoreTask, b: model.StoreTask | None) -> bool:
    """Whether ``a`` is the same or a later store task than ``b``."""
    if b is None or a.start_time is None or b.start_time is None:
        return True
    return a.start_time >= b.start_time


@dataclasses.dataclass
class _Ami:
    """The cache entry of one tracked AMI."""

    task: model.StoreTask | None = None
    known: bool = False  # fetched (or seeded from a status) at least once
    attempted_at: float | None = None
    error: model.PollError | None = None
    invalid: bool = False  # AWS rejected the ID: poll it alone
    forced: bool = False  # due now (new, woken or changed)
    due: float = 0.0  # active / invalid: next poll
    next_check: float = 0.0  # terminal: spread re-check (ImageIds mode)
    deadline: float = 0.0  # terminal: hard re-check (rolling-listing mode)
    retry_at: float | None = None  # after a failed call: backoff


@dataclasses.dataclass
class _Listing:
    """The cache entry of one listing filter set."""

    tasks: dict[str, model.StoreTask] = dataclasses.field(default_factory=dict)
    known: bool = False
    attempted_at: float | None = None
    error: model.PollError | None = None
    forced: bool = True
    due: float = 0.0
    retry_at: float | None = None


@dataclasses.dataclass
class _Sub:
    spec: model.AmiStoreSpec
    served_at: float | None = None


@dataclasses.dataclass
class _Cycle:
    start: float
    regular: bool
    attempted: set[str] = dataclasses.field(default_factory=set)  # AMIs settled this cycle
    errored_amis: list[_Ami] = dataclasses.field(default_factory=list)
    errored_listings: list[_Listing] = dataclasses.field(default_factory=list)
    calls: int = 0
    failed: bool = False


def _filter_key(spec: model.AmiStoreSpec) -> FilterKey:
    return spec.bucket, tuple(sorted(spec.task_states))


def slack_for(interval: float) -> float:
    """How old data may be and still count as this interval's refresh."""
    return min(5.0, interval / 4)


class RegionPoller:
    """The cache, the plan and the single refresh loop of one region."""

    def __init__(
        self,
        region: str,
        *,
        client_factory: Callable[[str], StoreTaskApi],
        bucket: ratelimit.TokenBucket,
        metrics: PollerMetrics,
        clock: Clock,
        rng: random.Random,
        runner: BlockingRunner,
        gather: float,
        max_in_flight: int,
        backoff_base: float,
    ) -> None:
        self.region = region
        self.bucket = bucket
        self._client_factory = client_factory
        self._api: StoreTaskApi | None = None
        self._metrics = metrics
        self._clock = clock
        self._rng = rng
        self._runner = runner
        self._gather = gather
        self._backoff_base = backoff_base
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self.subs: dict[str, _Sub] = {}
        self.amis: dict[str, _Ami] = {}
        self._ami_subs: dict[str, set[str]] = {}
        self.listings: dict[FilterKey, _Listing] = {}
        self._listing_subs: dict[FilterKey, set[str]] = {}
        self.ip_pages = 1  # pages of the last task-state=InProgress listing
        self.roll_token: str | None = None
        self.roll_pages_total = 0  # pages of the last complete rolling sweep
        self._roll_pages_current = 0
        self._roll_due = 0.0
        self.anchor: float | None = None  # start of the last regular cycle: the grid
        self.fail_streak = 0
        self.stretched = False
        self.cycles = 0
        self.last_cycle_start = -math.inf
        self._cycle_done = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    # --- subscriptions -------------------------------------------------------

    def interval(self) -> float:
        """The region's poll interval: the smallest of its resources'."""
        return min((s.spec.poll_interval for s in self.subs.values()), default=60.0)

    def _ami_interval(self, ami: str) -> float:
        keys = self._ami_subs.get(ami, ())
        return min((self.subs[k].spec.poll_interval for k in keys), default=self.interval())

    def _listing_interval(self, fk: FilterKey) -> float:
        keys = self._listing_subs.get(fk, ())
        return min((self.subs[k].spec.poll_interval for k in keys), default=self.interval())

    def subscribe(
        self, key: str, spec: model.AmiStoreSpec, known: Mapping[str, model.StoreTask]
    ) -> _Sub:
        """Track ``spec`` for ``key``; a new or changed spec is due now."""
        old = self.subs.get(key)
        if old is not None and old.spec == spec:
            return old
        changed = old is not None
        if old is not None:
            self.unsubscribe(key)
        sub = _Sub(spec)
        self.subs[key] = sub
        now = self._clock.now()
        if spec.image_ids:
            for ami in spec.image_ids:
                self._ami_subs.setdefault(ami, set()).add(key)
                entry = self.amis.get(ami)
                if entry is None:
                    entry = self.amis[ami] = _Ami()
                    seed = known.get(ami)
                    if seed is not None and seed.state in model.TERMINAL_STATES:
                        # After a restart: trust the status, re-check spread over 10 intervals.
                        entry.task, entry.known = seed, True
                        first = now + self._rng.uniform(0, 10) * spec.poll_interval
                        entry.next_check = entry.deadline = first
                        continue
                if changed or _is_active(entry.task) or entry.invalid:
                    entry.forced = True
        else:
            fk = _filter_key(spec)
            self._listing_subs.setdefault(fk, set()).add(key)
            listing = self.listings.setdefault(fk, _Listing())
            listing.forced = True
        if any(self._items_forced(sub)):
            self._wake.set()
        return sub

    def unsubscribe(self, key: str) -> None:
        """Drop ``key``; AMIs and listings nobody tracks any more leave the cache."""
        sub = self.subs.pop(key, None)
        if sub is None:
            return
        for ami in sub.spec.image_ids:
            keys = self._ami_subs.get(ami)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._ami_subs[ami]
                    self.amis.pop(ami, None)
        if not sub.spec.image_ids:
            fk = _filter_key(sub.spec)
            keys = self._listing_subs.get(fk)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._listing_subs[fk]
                    self.listings.pop(fk, None)
        self._wake.set()

    def wake(self, key: str) -> None:
        """Make every item of ``key`` due now."""
        sub = self.subs.get(key)
        if sub is None:
            return
        for ami in sub.spec.image_ids:
            self.amis[ami].forced = True
        if not sub.spec.image_ids:
            self.listings[_filter_key(sub.spec)].forced = True
        self._wake.set()

    def _items(self, sub: _Sub) -> list[_Ami | _Listing]:
        if sub.spec.image_ids:
            return [self.amis[ami] for ami in sub.spec.image_ids]
        return [self.listings[_filter_key(sub.spec)]]

    def _items_forced(self, sub: _Sub) -> Iterable[bool]:
        return (item.forced for item in self._items(sub))

    # --- views ---------------------------------------------------------------

    async def view(
        self, key: str, spec: model.AmiStoreSpec, known: Mapping[str, model.StoreTask], wait: bool
    ) -> model.ResourceView:
        """Subscribe, then return this resource's view, right after the refresh that serves it."""
        sub = self.subscribe(key, spec, known)
        self.ensure_loop()
        if wait and not self._ready_now(sub):
            deadline = self._clock.now() + spec.poll_interval + slack_for(spec.poll_interval)
            while self.subs.get(key) is sub and not self.closed:
                remaining = deadline - self._clock.now()
                if remaining <= 0:
                    if not any(self._items_forced(sub)):
                        break
                    # Its first data is still on the way (a budget-stretched cycle): keep waiting.
                    remaining = spec.poll_interval
                done = self._cycle_done
                await _first_of(done.wait(), self._clock.sleep(remaining))
                if done.is_set() and self._served_by_last_cycle(sub):
                    break
        sub.served_at = self._clock.now()
        return self.build_view(sub)

    def _ready_now(self, sub: _Sub) -> bool:
        items = self._items(sub)
        if any(item.forced for item in items):
            return False
        if sub.served_at is None:
            return all(item.known for item in items)
        now = self._clock.now()
        since = now - slack_for(sub.spec.poll_interval)
        fresh = all(
            item.attempted_at is not None and item.attempted_at >= since
            for item in items
            if isinstance(item, _Listing) or item.invalid or _is_active(item.task)
        )
        unseen = any(
            item.attempted_at is not None and item.attempted_at > (sub.served_at or -math.inf)
            for item in items
        )
        return fresh and unseen

    def _served_by_last_cycle(self, sub: _Sub) -> bool:
        items = self._items(sub)
        if any(item.forced for item in items):
            return False
        return any(
            item.attempted_at is not None and item.attempted_at >= self.last_cycle_start
            for item in items
        )

    def build_view(self, sub: _Sub) -> model.ResourceView:
        """What the cache knows for ``sub``: tasks of known AMIs, the first error."""
        spec = sub.spec
        tasks: dict[str, model.StoreTask | None] = {}
        error: model.PollError | None = None
        times: list[float] = []
        if spec.image_ids:
            for ami in spec.image_ids:
                entry = self.amis[ami]
                error = error or entry.error
                if entry.attempted_at is not None:
                    times.append(entry.attempted_at)
                if not entry.known:
                    continue  # never fetched: say nothing rather than "Pending"
                task = entry.task
                if task is not None and spec.bucket and task.bucket != spec.bucket:
                    task = None  # only tasks into this resource's bucket count
                tasks[ami] = task
        else:
            listing = self.listings[_filter_key(spec)]
            error = listing.error
            if listing.attempted_at is not None:
                times.append(listing.attempted_at)
            tasks.update(listing.tasks)
        stamp = max(times, default=self._clock.now())
        fetched_at = datetime.datetime.fromtimestamp(stamp, tz=datetime.UTC)
        return model.ResourceView(tasks=tasks, error=error, fetched_at=fetched_at)

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
        self._cycle_done.set()

    async def _loop(self) -> None:
        while self.subs:
            self._wake.clear()
            wake_at, forced = self._next_wake()
            now = self._clock.now()
            if forced:
                # Let resources created or changed together share this refresh.
                await self._clock.sleep(self._gather)
            elif wake_at > now:
                await _first_of(self._wake.wait(), self._clock.sleep(wake_at - now))
                continue
            if not self.subs:
                break
            try:
                await self._cycle()
            except Exception:
                logger.exception("refresh cycle of region %s failed", self.region)
                await self._clock.sleep(max(self._gather, 1.0))
        self._cycle_done.set()

    def _next_wake(self) -> tuple[float, bool]:
        now = self._clock.now()
        wake = now if self.anchor is None else self.anchor + self.interval()
        entries: list[_Ami | _Listing] = [*self.amis.values(), *self.listings.values()]
        for item in entries:
            if item.forced:
                return now, True
            if item.retry_at is not None:
                wake = min(wake, item.retry_at)
            elif isinstance(item, _Listing) or item.invalid or _is_active(item.task):
                wake = min(wake, item.due)
        return wake, False

    def _snap(self, t: float) -> float:
        """Align a due time to the region's grid, so one cycle serves every resource."""
        if self.anchor is None:
            return t
        interval = self.interval()
        aligned = self.anchor + math.floor((t - self.anchor) / interval + 1e-9) * interval
        if aligned <= self._clock.now() + slack_for(interval):
            aligned += interval
        return aligned

    # --- one refresh cycle ---------------------------------------------------

    def _rolling_mode(self, terminal: int) -> bool:
        """Whether a rolling unfiltered listing re-checks terminal AMIs cheaper than ImageIds."""
        pages = max(self.roll_pages_total, math.ceil(len(self.amis) / PAGE_SIZE), 1)
        # ImageIds: each terminal AMI every 7.5 intervals on average, 20 per call.
        return math.ceil(pages / 9) < terminal / (7.5 * IDS_PER_CALL)

    def _ami_due(self, entry: _Ami, now: float, cyc: _Cycle, rolling: bool) -> bool:
        interval = self.interval()
        if entry.forced:
            return True
        if entry.retry_at is not None:
            return entry.retry_at <= now + slack_for(interval)
        if entry.invalid or _is_active(entry.task):
            return entry.due <= now + slack_for(interval)
        if not cyc.regular:
            return False
        # Terminal: checked in the last regular cycle before its time, so never late.
        return (entry.deadline if rolling else entry.next_check) <= now + interval + 1e-6

    async def _cycle(self) -> None:
        now = self._clock.now()
        interval = self.interval()
        slack = slack_for(interval)
        regular = self.anchor is None or now >= self.anchor + interval - slack
        previous_anchor = self.anchor
        if regular:
            self.anchor = now
        cyc = _Cycle(start=now, regular=regular)
        if self._api is None:
            self._api = await self._runner(self._client_factory, self.region)
        api = self._api

        terminal = sum(1 for e in self.amis.values() if not _is_active(e.task) and not e.invalid)
        rolling = self._rolling_mode(terminal)
        due = sorted(a for a, e in self.amis.items() if self._ami_due(e, now, cyc, rolling))
        invalid = [a for a in due if self.amis[a].invalid]
        normal = [a for a in due if not self.amis[a].invalid]
        in_progress = [a for a in normal if _in_progress(self.amis[a].task)]
        due_listings = [
            fk
            for fk, listing in self.listings.items()
            if listing.forced or (listing.retry_at or listing.due) <= now + slack
        ]

        # The InProgress listing refreshes every tracked in-progress AMI at once.
        ip_cost = (
            0
            if (None, IN_PROGRESS) in due_listings
            else max(self.ip_pages, math.ceil(len(in_progress) / PAGE_SIZE))
        )
        with_listing = ip_cost + math.ceil((len(normal) - len(in_progress)) / IDS_PER_CALL)
        use_ip = bool(in_progress) and with_listing < math.ceil(len(normal) / IDS_PER_CALL)

        phase1: list[Awaitable[None]] = [self._refresh_listing(api, fk, cyc) for fk in due_listings]
        if use_ip and ip_cost:
            phase1.append(self._in_progress_listing(api, in_progress, cyc))
        if rolling and regular and self._roll_due <= now + slack:
            pages = math.ceil(max(self.roll_pages_total, len(self.amis) / PAGE_SIZE, 1) / 9)
            phase1.append(self._roll(api, pages, cyc))
        await asyncio.gather(*phase1)

        # Then ImageIds for whatever the listings did not settle; known-bad IDs go alone.
        remaining = [a for a in normal if a not in cyc.attempted and a in self.amis]
        batches = [remaining[i : i + IDS_PER_CALL] for i in range(0, len(remaining), IDS_PER_CALL)]
        batches += [[a] for a in invalid if a not in cyc.attempted and a in self.amis]
        await asyncio.gather(*(self._describe_ids(api, batch, cyc) for batch in batches))
        self._finish(cyc, previous_anchor)

    def _finish(self, cyc: _Cycle, previous_anchor: float | None) -> None:
        end = self._clock.now()
        interval = self.interval()
        if cyc.failed:
            self.fail_streak += 1
            cap = min(interval, self._backoff_base * 2 ** (self.fail_streak - 1))
            # Full jitter, with a floor so a fast failure does not spin.
            delay = max(self._rng.uniform(0, cap), min(self._gather, cap))
            errored: list[_Ami | _Listing] = [*cyc.errored_amis, *cyc.errored_listings]
            for item in errored:
                item.retry_at = end + delay
        else:
            self.fail_streak = 0
            self._metrics.set_poll_success(self.region, end)
        if cyc.regular:
            effective = interval
            if previous_anchor is not None:
                effective = max(interval, cyc.start - previous_anchor, end - cyc.start)
            self._report_stretch(interval, effective)
        self._metrics.set_budget(self.region, self.bucket.level())
        self.cycles += 1
        self.last_cycle_start = cyc.start
        done, self._cycle_done = self._cycle_done, asyncio.Event()
        done.set()

    def _report_stretch(self, interval: float, effective: float) -> None:
        self._metrics.set_effective_interval(self.region, effective)
        stretched = effective > interval + slack_for(interval)
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

    async def _call(self, cyc: _Cycle, fn: Callable[[], T]) -> T:
        """Run one blocking call in a worker thread once the bucket pays for its first attempt."""
        async with self._in_flight:
            await self.bucket.acquire_async(self._clock.sleep)
            cyc.calls += 1
            result: T = await self._runner(_run_prepaid, fn)
            return result

    async def _describe_ids(self, api: StoreTaskApi, batch: list[str], cyc: _Cycle) -> None:
        try:
            tasks = await self._call(cyc, lambda: api.describe_ids(batch))
        except Exception as exc:
            error = poll_error(exc)
            if error.reason is not model.PollErrorReason.INVALID_IMAGE_ID:
                cyc.failed = True
                for ami in batch:
                    self._mark_error(ami, error, cyc)
            elif len(batch) == 1:
                self._mark_invalid(batch[0], error, cyc)
            else:
                # Bisect until the rejected IDs stand alone; the rest get their data.
                half = len(batch) // 2
                await asyncio.gather(
                    self._describe_ids(api, batch[:half], cyc),
                    self._describe_ids(api, batch[half:], cyc),
                )
            return
        latest: dict[str, model.StoreTask] = {}
        for task in tasks:
            if task.ami_id in batch and _newer(task, latest.get(task.ami_id)):
                latest[task.ami_id] = task
        for ami in batch:
            self._settle(ami, latest.get(ami), cyc)

    async def _list_all(
        self, api: StoreTaskApi, fk: FilterKey, cyc: _Cycle
    ) -> tuple[dict[str, model.StoreTask], int]:
        bucket, states = fk
        tasks: dict[str, model.StoreTask] = {}
        token: str | None = None
        seen_tokens: set[str] = set()
        pages = 0
        while True:
            page, token = await self._call(
                cyc,
                functools.partial(
                    api.describe_page,
                    task_states=states,
                    bucket=bucket,
                    max_results=PAGE_SIZE,
                    next_token=token,
                ),
            )
            pages += 1
            for task in page:
                if _newer(task, tasks.get(task.ami_id)):
                    tasks[task.ami_id] = task
            if not token or token in seen_tokens:
                return tasks, pages
            seen_tokens.add(token)

    async def _refresh_listing(self, api: StoreTaskApi, fk: FilterKey, cyc: _Cycle) -> None:
        try:
            tasks, _pages = await self._list_all(api, fk, cyc)
        except Exception as exc:
            cyc.failed = True
            listing = self.listings.get(fk)
            if listing is not None:
                listing.error, listing.forced = poll_error(exc), False
                listing.attempted_at = self._clock.now()
                cyc.errored_listings.append(listing)
            return
        if fk == (None, IN_PROGRESS):
            self.ip_pages = _pages
        self._observe(tasks.values(), cyc)
        listing = self.listings.get(fk)
        if listing is not None:
            listing.tasks, listing.known, listing.error = tasks, True, None
            listing.forced, listing.retry_at = False, None
            listing.attempted_at = self._clock.now()
            listing.due = self._snap(cyc.start + self._listing_interval(fk))

    async def _in_progress_listing(
        self, api: StoreTaskApi, in_progress: list[str], cyc: _Cycle
    ) -> None:
        try:
            tasks, self.ip_pages = await self._list_all(api, (None, IN_PROGRESS), cyc)
        except Exception as exc:
            cyc.failed = True
            error = poll_error(exc)
            for ami in in_progress:
                self._mark_error(ami, error, cyc)
            return
        self._observe(tasks.values(), cyc)

    async def _roll(self, api: StoreTaskApi, pages: int, cyc: _Cycle) -> None:
        """A few pages of the unfiltered listing, continuing where the last cycle stopped."""
        self._roll_due = self._snap(cyc.start + self.interval())
        for _ in range(pages):
            try:
                page, token = await self._call(
                    cyc,
                    functools.partial(
                        api.describe_page, max_results=PAGE_SIZE, next_token=self.roll_token
                    ),
                )
            except Exception:
                cyc.failed = True
                return
            self._observe(page, cyc)
            self._roll_pages_current += 1
            self.roll_token = token
            if token is None:
                self.roll_pages_total = self._roll_pages_current
                self._roll_pages_current = 0
                return

    # --- cache updates -------------------------------------------------------

    def _observe(self, tasks: Iterable[model.StoreTask], cyc: _Cycle) -> None:
        """A listing saw these tasks: a tracked AMI's newest task is its latest state."""
        for task in tasks:
            entry = self.amis.get(task.ami_id)
            if entry is not None and _newer(task, entry.task):
                self._settle(task.ami_id, task, cyc)

    def _settle(self, ami: str, task: model.StoreTask | None, cyc: _Cycle) -> None:
        entry = self.amis.get(ami)
        if entry is None:
            return  # forgotten while the call ran
        if task is None and not _is_active(entry.task):
            task = entry.task  # AWS forgot a finished task (31 days): it stays finished
        now = self._clock.now()
        entry.task, entry.known, entry.error = task, True, None
        entry.invalid = entry.forced = False
        entry.attempted_at, entry.retry_at = now, None
        cyc.attempted.add(ami)
        interval = self._ami_interval(ami)
        if _is_active(task):
            entry.due = self._snap(cyc.start + interval)
        else:
            entry.next_check = now + self._rng.uniform(5, 10) * interval
            entry.deadline = now + 10 * interval

    def _mark_error(self, ami: str, error: model.PollError, cyc: _Cycle) -> None:
        entry = self.amis.get(ami)
        if entry is None:
            return
        entry.error, entry.forced = error, False
        entry.attempted_at = self._clock.now()
        cyc.attempted.add(ami)
        cyc.errored_amis.append(entry)

    def _mark_invalid(self, ami: str, error: model.PollError, cyc: _Cycle) -> None:
        entry = self.amis.get(ami)
        if entry is None:
            return
        entry.error, entry.invalid, entry.forced = error, True, False
        entry.attempted_at, entry.retry_at = self._clock.now(), None
        entry.due = self._snap(cyc.start + self._ami_interval(ami))
        cyc.attempted.add(ami)


def _in_progress(task: model.StoreTask | None) -> bool:
    return task is not None and task.state is model.TaskState.IN_PROGRESS


async def _first_of(*awaitables: Awaitable[Any]) -> None:
    """Wait until the first of ``awaitables`` finishes; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class PollerHub:
    """One RegionPoller per region; the only caller of AWS."""

    def __init__(
        self,
        *,
        client_factory: Callable[[str], StoreTaskApi],
        rate: float,
        burst: int,
        metrics: PollerMetrics,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        runner: BlockingRunner = asyncio.to_thread,
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
        self._regions: dict[str, RegionPoller] = {}
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
        bucket = self.budget(region)

        def pay() -> None:
            if getattr(_prepaid, "credit", False):
                _prepaid.credit = False
                return
            if not bucket.acquire(timeout=None):
                raise BudgetClosedError("the poller is shutting down")

        return pay

    def region(self, region: str) -> RegionPoller:
        """The poller of ``region`` (created on first use)."""
        poller = self._regions.get(region)
        if poller is None:
            poller = RegionPoller(
                region,
                client_factory=self._client_factory,
                bucket=self.budget(region),
                metrics=self._metrics,
                clock=self._clock,
                rng=self._rng,
                runner=self._runner,
                gather=self._gather,
                max_in_flight=self._max_in_flight,
                backoff_base=self._backoff_base,
            )
            self._regions[region] = poller
        return poller

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
        await asyncio.gather(*(poller.stop() for poller in self._regions.values()))
