"""One refresh cycle of a region: which calls, in what order, and what their answers settle.

A cycle plans the fewest calls for everything due across all subscribed
resources (ImageIds batches of 20, a ``task-state=InProgress`` listing, a
rolling unfiltered listing for many terminal AMIs), pays each call from the
region's token bucket, runs it in a worker thread and writes the answers into
the region's ``cache.TaskCache``. Due times snap to a grid of one poll
interval anchored at the last regular cycle, so one call serves every resource.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from amistore_operator.aws import budget, ratelimit
from amistore_operator.core import model
from amistore_operator.polling import cache, clock

# The stretch warnings are the poller's: keep the logger name operators filter on.
logger = logging.getLogger("amistore_operator.polling.poller")

T = TypeVar("T")
IDS_PER_CALL = 20
PAGE_SIZE = 200
IN_PROGRESS = (model.TaskState.IN_PROGRESS.value,)
# Below this many ImageIds batches of never-fetched AMIs (AWS's burst is 50), batch them.
SWEEP_MIN_BATCHES = 40
# How long a listing's task for an AMI nobody tracks yet is kept (at least; the region's
# interval if longer), for a resource that subscribes later: at start-up thousands
# arrive over tens of seconds, and data one interval old is what a poll guarantees.
UNCLAIMED_SECONDS = 30.0
# The backoff doubles per failed cycle up to one interval; past this the doubling stops
# (2 ** 1024 overflows a float after a long enough outage).
MAX_DOUBLINGS = 30


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


def poll_error(exc: BaseException) -> model.PollError:
    """A ``PollError`` from an ``aws.AwsError`` (duck-typed: no boto3 import here) or else."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, model.PollErrorReason):
        return model.PollError(reason, str(getattr(exc, "message", exc)))
    return model.PollError(model.PollErrorReason.AWS_UNAVAILABLE, f"{type(exc).__name__}: {exc}")


def is_in_progress(task: model.StoreTask | None) -> bool:
    """Whether the task is running (so the InProgress listing shows it)."""
    return task is not None and task.state is model.TaskState.IN_PROGRESS


@dataclasses.dataclass
class Cycle:
    """What one refresh cycle has done so far."""

    start: float
    regular: bool
    attempted: set[str] = dataclasses.field(default_factory=set)  # AMIs settled this cycle
    errored_amis: list[cache.AmiEntry] = dataclasses.field(default_factory=list)
    errored_listings: list[cache.ListingEntry] = dataclasses.field(default_factory=list)
    answered: int = 0  # calls AWS answered (an InvalidImageId included)
    failed: bool = False


class Refresher:
    """Plans and runs the refresh cycles of one region over its cache."""

    def __init__(
        self,
        region: str,
        task_cache: cache.TaskCache,
        *,
        client_factory: Callable[[str], StoreTaskApi],
        bucket: ratelimit.TokenBucket,
        metrics: PollerMetrics,
        clock: clock.Clock,
        rng: random.Random,
        runner: BlockingRunner,
        gather: float,
        max_in_flight: int,
        backoff_base: float,
    ) -> None:
        self.region = region
        self.bucket = bucket
        self._cache = task_cache
        self._client_factory = client_factory
        self._api: StoreTaskApi | None = None
        self._metrics = metrics
        self._clock = clock
        self._rng = rng
        self._runner = runner
        self._gather = gather
        self._backoff_base = backoff_base
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self.ip_pages = 1  # pages of the last task-state=InProgress listing
        self.roll_token: str | None = None
        self.roll_pages_total = 0  # pages of the last complete rolling sweep
        self._roll_pages_current = 0
        self._roll_due = 0.0
        self.anchor: float | None = None  # start of the last regular cycle: the grid
        self.fail_streak = 0
        self.stretched = False
        self.last_cycle_start = -math.inf
        # Tasks listings showed for AMIs nobody tracked yet, with when: AMI -> (task, time).
        self._unclaimed: dict[str, tuple[model.StoreTask, float]] = {}
        # Where a sweep cut short stopped: (NextToken, pages read, when it started).
        self._sweep_resume: tuple[str, int, float] | None = None

    # --- the grid ------------------------------------------------------------

    def next_wake(self) -> tuple[float, bool]:
        """When the next cycle is due, and whether something is due right now."""
        now = self._clock.now()
        wake = now if self.anchor is None else self.anchor + self._cache.interval()
        entries: list[cache.AmiEntry | cache.ListingEntry] = [
            *self._cache.amis.values(),
            *self._cache.listings.values(),
        ]
        for item in entries:
            if item.forced:
                return now, True
            if item.retry_at is not None:
                wake = min(wake, item.retry_at)
            elif isinstance(item, cache.ListingEntry) or item.invalid or cache.is_active(item.task):
                wake = min(wake, item.due)
        return wake, False

    def _snap(self, t: float) -> float:
        """Align a due time to the region's grid, so one cycle serves every resource."""
        if self.anchor is None:
            return t
        interval = self._cache.interval()
        aligned = self.anchor + math.floor((t - self.anchor) / interval + 1e-9) * interval
        if aligned <= self._clock.now() + cache.slack_for(interval):
            aligned += interval
        return aligned

    # --- one refresh cycle ---------------------------------------------------

    def _rolling_mode(self, terminal: int) -> bool:
        """Whether a rolling unfiltered listing re-checks terminal AMIs cheaper than ImageIds."""
        pages = max(self.roll_pages_total, math.ceil(len(self._cache.amis) / PAGE_SIZE), 1)
        # ImageIds: each terminal AMI every 7.5 intervals on average, 20 per call.
        return math.ceil(pages / 9) < terminal / (7.5 * IDS_PER_CALL)

    def _ami_due(self, entry: cache.AmiEntry, now: float, cyc: Cycle, rolling: bool) -> bool:
        interval = self._cache.interval()
        if entry.forced:
            return True
        if entry.retry_at is not None:
            return entry.retry_at <= now + cache.slack_for(interval)
        if entry.invalid or cache.is_active(entry.task):
            return entry.due <= now + cache.slack_for(interval)
        if not cyc.regular:
            return False
        # Terminal: checked in the last regular cycle before its time, so never late.
        return (entry.deadline if rolling else entry.next_check) <= now + interval + 1e-6

    async def run(self) -> None:
        """Run one refresh cycle: the calls for everything due, then the bookkeeping."""
        now = self._clock.now()
        interval = self._cache.interval()
        slack = cache.slack_for(interval)
        regular = self.anchor is None or now >= self.anchor + interval - slack
        previous_anchor = self.anchor
        if regular:
            self.anchor = now
        cyc = Cycle(start=now, regular=regular)
        if self._api is None:
            self._api = await self._runner(self._client_factory, self.region)
        api = self._api

        terminal = sum(
            1 for e in self._cache.amis.values() if not cache.is_active(e.task) and not e.invalid
        )
        rolling = self._rolling_mode(terminal)
        due = sorted(a for a, e in self._cache.amis.items() if self._ami_due(e, now, cyc, rolling))
        due = self._claim(due, now, cyc)
        invalid = [a for a in due if self._cache.amis[a].invalid]
        normal = [a for a in due if not self._cache.amis[a].invalid]
        in_progress = [a for a in normal if is_in_progress(self._cache.amis[a].task)]
        due_listings = [
            fk
            for fk, listing in self._cache.listings.items()
            if listing.forced or (listing.retry_at or listing.due) <= now + slack
        ]

        # The InProgress listing refreshes every tracked in-progress AMI at once, and it
        # shows a new store task of a finished AMI (a re-export) that the spread re-checks
        # would find only up to 10 intervals later: each regular cycle lists it while the
        # region tracks a finished AMI, in ceil(running / 200) calls.
        ip_cost = (
            0
            if (None, IN_PROGRESS) in due_listings
            else max(self.ip_pages, math.ceil(len(in_progress) / PAGE_SIZE))
        )
        with_listing = ip_cost + math.ceil((len(normal) - len(in_progress)) / IDS_PER_CALL)
        use_ip = (regular and terminal > 0) or (
            bool(in_progress) and with_listing < math.ceil(len(normal) / IDS_PER_CALL)
        )

        phase1: list[Awaitable[None]] = [self._refresh_listing(api, fk, cyc) for fk in due_listings]
        if use_ip and ip_cost:
            phase1.append(self._in_progress_listing(api, in_progress, cyc))
        sweep = self._sweep_pages(normal)
        if sweep:
            phase1.append(self._sweep(api, sweep, cyc))
        if rolling and regular and self._roll_due <= now + slack:
            pages = math.ceil(max(self.roll_pages_total, len(self._cache.amis) / PAGE_SIZE, 1) / 9)
            phase1.append(self._roll(api, pages, cyc))
        await asyncio.gather(*phase1)

        # Then ImageIds for whatever the listings did not settle; known-bad IDs go alone.
        remaining = [a for a in normal if a not in cyc.attempted and a in self._cache.amis]
        batches = [remaining[i : i + IDS_PER_CALL] for i in range(0, len(remaining), IDS_PER_CALL)]
        batches += [[a] for a in invalid if a not in cyc.attempted and a in self._cache.amis]
        await asyncio.gather(*(self._describe_ids(api, batch, cyc) for batch in batches))
        self._finish(cyc, previous_anchor)

    def _finish(self, cyc: Cycle, previous_anchor: float | None) -> None:
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

    async def _call(self, cyc: Cycle, fn: Callable[[], T]) -> T:
        """Run one blocking call in a worker thread once the bucket pays for its first attempt."""
        async with self._in_flight:
            await self.bucket.acquire_async(self._clock.sleep)
            result: T = await self._runner(budget.run_prepaid, fn)
            cyc.answered += 1
            return result

    async def _describe_ids(self, api: StoreTaskApi, batch: list[str], cyc: Cycle) -> None:
        try:
            tasks = await self._call(cyc, lambda: api.describe_ids(batch))
        except Exception as exc:
            error = poll_error(exc)
            if error.reason is not model.PollErrorReason.INVALID_IMAGE_ID:
                cyc.failed = True
                for ami in batch:
                    self._mark_error(ami, error, cyc)
                return
            cyc.answered += 1  # AWS answered: the ID is bad, the region polls fine
            if len(batch) == 1:
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
            if task.ami_id in batch and cache.newer(task, latest.get(task.ami_id)):
                latest[task.ami_id] = task
        for ami in batch:
            self._settle(ami, latest.get(ami), cyc)

    async def _list_all(
        self, api: StoreTaskApi, fk: cache.FilterKey, cyc: Cycle
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
                if cache.newer(task, tasks.get(task.ami_id)):
                    tasks[task.ami_id] = task
            if not token or token in seen_tokens:
                return tasks, pages
            seen_tokens.add(token)

    async def _refresh_listing(self, api: StoreTaskApi, fk: cache.FilterKey, cyc: Cycle) -> None:
        try:
            tasks, _pages = await self._list_all(api, fk, cyc)
        except Exception as exc:
            cyc.failed = True
            listing = self._cache.listings.get(fk)
            if listing is not None:
                listing.error, listing.forced = poll_error(exc), False
                listing.attempted_at = self._clock.now()
                cyc.errored_listings.append(listing)
            return
        if fk == (None, IN_PROGRESS):
            self.ip_pages = _pages
        # A bucket or a finished state filtered out what may be an AMI's newer task.
        self._observe(tasks.values(), cyc, complete=fk in ((None, ()), (None, IN_PROGRESS)))
        listing = self._cache.listings.get(fk)
        if listing is not None:
            listing.tasks, listing.known, listing.error = tasks, True, None
            listing.forced, listing.retry_at = False, None
            listing.attempted_at = self._clock.now()
            listing.due = self._snap(cyc.start + self._cache.listing_interval(fk))

    async def _in_progress_listing(
        self, api: StoreTaskApi, in_progress: list[str], cyc: Cycle
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

    def _sweep_pages(self, due: Sequence[str]) -> int:
        """Pages of the unfiltered listing worth spending on never-fetched AMIs (0: none).

        At a start or a large apply, ImageIds batches for thousands of unknown AMIs
        would drain the budget for minutes; a listing, 200 tasks a page, newest
        first, finds them in a tenth of the calls. Only when that saves at least
        half, and at most half the batches' cost is spent: what it did not find
        (no task, a rejected ID, an account with many more tasks) goes by ImageIds.
        """
        unknown = sum(1 for a in due if not self._cache.amis[a].known)
        batches = math.ceil(unknown / IDS_PER_CALL)
        if batches < SWEEP_MIN_BATCHES:
            return 0
        estimate = max(self.roll_pages_total, math.ceil(len(self._cache.amis) / PAGE_SIZE), 1)
        return batches // 2 if estimate <= batches // 2 else 0

    async def _sweep(self, api: StoreTaskApi, max_pages: int, cyc: Cycle) -> None:
        """Up to ``max_pages`` of the unfiltered listing; it settles every tracked AMI it shows.

        A sweep cut short by ``max_pages`` is continued by the next one within the
        window its tasks are kept (``_claim``): AMIs that subscribe later find the
        first pages' tasks kept, and the older tasks on the pages after them.
        """
        token, done = None, 0
        if self._sweep_resume is not None and self._sweep_resume[2] >= cyc.start - self._keep():
            token, done, _ = self._sweep_resume
        self._sweep_resume = None
        for pages in range(done + 1, done + max_pages + 1):
            try:
                page, token = await self._call(
                    cyc,
                    functools.partial(api.describe_page, max_results=PAGE_SIZE, next_token=token),
                )
            except Exception:
                return  # the ImageIds batches that follow report the fault, per AMI
            self._observe(page, cyc)
            if not token:
                self.roll_pages_total = max(self.roll_pages_total, pages)
                return
            self._sweep_resume = (token, pages, cyc.start)

    async def _roll(self, api: StoreTaskApi, pages: int, cyc: Cycle) -> None:
        """A few pages of the unfiltered listing, continuing where the last cycle stopped."""
        self._roll_due = self._snap(cyc.start + self._cache.interval())
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

    def _observe(
        self, tasks: Iterable[model.StoreTask], cyc: Cycle, *, complete: bool = True
    ) -> None:
        """A listing saw these tasks: an AMI's newest task there is its latest state.

        Only if the listing is ``complete``, i.e. shows every AMI's latest task
        (unfiltered, or InProgress), or the task is running (one store task per AMI
        runs at a time, so it is the newest). A bucket- or finished-state-filtered
        listing may hide a newer task in another bucket: its finished tasks neither
        settle a tracked AMI (nor postpone its re-check) nor are kept for ``_claim``.
        """
        now = self._clock.now()
        for task in tasks:
            if not complete and not is_in_progress(task):
                continue
            entry = self._cache.amis.get(task.ami_id)
            if entry is None:
                kept = self._unclaimed.get(task.ami_id)
                if kept is None or cache.newer(task, kept[0]):
                    self._unclaimed[task.ami_id] = (task, now)
            elif cache.newer(task, entry.task):
                self._settle(task.ami_id, task, cyc)

    def _keep(self) -> float:
        """How long a listing's tasks for AMIs nobody tracks yet are kept."""
        return max(UNCLAIMED_SECONDS, self._cache.interval())

    def _claim(self, due: list[str], now: float, cyc: Cycle) -> list[str]:
        """Settle new AMIs a recent listing already showed; the rest of ``due`` is returned."""
        if not self._unclaimed:
            return due
        cutoff = now - self._keep()
        self._unclaimed = {a: kept for a, kept in self._unclaimed.items() if kept[1] >= cutoff}
        rest = []
        for ami in due:
            kept = self._unclaimed.pop(ami, None)
            entry = self._cache.amis[ami]
            if kept is not None and entry.forced and not entry.known:
                self._settle(ami, kept[0], cyc)
            else:
                rest.append(ami)
        return rest

    def _settle(self, ami: str, task: model.StoreTask | None, cyc: Cycle) -> None:
        entry = self._cache.amis.get(ami)
        if entry is None:
            return  # forgotten while the call ran
        if task is None and not cache.is_active(entry.task):
            task = entry.task  # AWS forgot a finished task (31 days): it stays finished
        now = self._clock.now()
        entry.task, entry.known, entry.error = task, True, None
        entry.invalid = entry.forced = False
        entry.attempted_at, entry.retry_at = now, None
        cyc.attempted.add(ami)
        interval = self._cache.ami_interval(ami)
        if cache.is_active(task):
            entry.due = self._snap(cyc.start + interval)
        else:
            entry.next_check = now + self._rng.uniform(5, 10) * interval
            entry.deadline = now + 10 * interval

    def _mark_error(self, ami: str, error: model.PollError, cyc: Cycle) -> None:
        entry = self._cache.amis.get(ami)
        if entry is None:
            return
        entry.error, entry.forced = error, False
        entry.attempted_at = self._clock.now()
        cyc.attempted.add(ami)
        cyc.errored_amis.append(entry)

    def _mark_invalid(self, ami: str, error: model.PollError, cyc: Cycle) -> None:
        entry = self._cache.amis.get(ami)
        if entry is None:
            return
        entry.error, entry.invalid, entry.forced = error, True, False
        entry.attempted_at, entry.retry_at = self._clock.now(), None
        entry.due = self._snap(cyc.start + self._cache.ami_interval(ami))
        cyc.attempted.add(ami)
