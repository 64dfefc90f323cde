"""Running a cycle's calls: ImageIds batches, listings page by page, the sweep, the roll.

Each call is paid from the region's token bucket on the event loop, then runs
in a worker thread (at most ``max_in_flight`` at once); its answer goes to the
``settle.Settler``. A batch AWS rejects for a bad ID is bisected until the bad
IDs stand alone. The listings remember their sizes (``ip_pages``,
``roll_pages_total``) and where they stopped, for the next cycle's plan.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from amistore_operator.aws import budget, ratelimit
from amistore_operator.core import model
from amistore_operator.polling import cache, clock, plan, settle

T = TypeVar("T")


class StoreTaskApi(Protocol):
    """What the poller needs from an EC2 client (``aws.StoreTaskClient``); both methods block."""

    def describe_ids(self, image_ids: Sequence[str]) -> list[model.StoreTask]: ...

    def describe_page(
        self,
        *,
        task_states: Sequence[str] = (),
        bucket: str | None = None,
        max_results: int = plan.PAGE_SIZE,
        next_token: str | None = None,
    ) -> tuple[list[model.StoreTask], str | None]: ...


BlockingRunner = Callable[..., Awaitable[Any]]


def poll_error(exc: BaseException) -> model.PollError:
    """A ``PollError`` from an ``aws.AwsError`` (duck-typed: no boto3 import here) or else."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, model.PollErrorReason):
        return model.PollError(reason, str(getattr(exc, "message", exc)))
    return model.PollError(model.PollErrorReason.AWS_UNAVAILABLE, f"{type(exc).__name__}: {exc}")


class Caller:
    """Runs one region's calls through its budget and runner; answers go to the settler."""

    def __init__(
        self,
        region: str,
        task_cache: cache.TaskCache,
        settler: settle.Settler,
        *,
        client_factory: Callable[[str], StoreTaskApi],
        bucket: ratelimit.TokenBucket,
        clock: clock.Clock,
        runner: BlockingRunner,
        max_in_flight: int,
        snap: Callable[[float], float],
    ) -> None:
        self.region = region
        self.bucket = bucket
        self._cache = task_cache
        self._settler = settler
        self._client_factory = client_factory
        self._api: StoreTaskApi | None = None
        self._clock = clock
        self._runner = runner
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._snap = snap  # aligns a due time to the region's grid
        self.ip_pages = 1  # pages of the last task-state=InProgress listing
        self.roll_token: str | None = None
        self.roll_pages_total = 0  # pages of the last complete rolling sweep
        self._roll_pages_current = 0
        self.roll_due = 0.0
        # Where a sweep cut short stopped: (NextToken, pages read, when it started).
        self._sweep_resume: tuple[str, int, float] | None = None

    async def connect(self) -> None:
        """Build the region's EC2 client (in a worker thread) unless it exists."""
        if self._api is None:
            self._api = await self._runner(self._client_factory, self.region)

    @property
    def api(self) -> StoreTaskApi:
        """The region's EC2 client (``connect`` first)."""
        if self._api is None:
            raise RuntimeError(f"no EC2 client for {self.region} yet")
        return self._api

    async def _call(self, cyc: settle.Cycle, fn: Callable[[], T]) -> T:
        """Run one blocking call in a worker thread once the bucket pays for its first attempt."""
        async with self._in_flight:
            await self.bucket.acquire_async(self._clock.sleep)
            result: T = await self._runner(budget.run_prepaid, fn)
            cyc.answered += 1
            return result

    async def describe_ids(self, batch: list[str], cyc: settle.Cycle) -> None:
        """One ImageIds call; a batch with a rejected ID is bisected until it stands alone.

        The batch is read when the call goes, after its budget: an AMI deregistered while
        it waited is left out (AWS would fail the whole call naming it).
        """
        api, retired = self.api, self._cache.retired
        sent: list[str] = []

        def call() -> list[model.StoreTask]:
            sent[:] = [ami for ami in batch if ami not in retired]
            return api.describe_ids(sent) if sent else []

        try:
            tasks = await self._call(cyc, call)
        except Exception as exc:
            error = poll_error(exc)
            if error.reason is not model.PollErrorReason.INVALID_IMAGE_ID:
                cyc.failed = True
                for ami in sent:
                    self._settler.mark_error(ami, error, cyc)
                return
            cyc.answered += 1  # AWS answered: the ID is bad, the region polls fine
            if len(sent) == 1:
                self._settler.mark_invalid(sent[0], error, cyc)
            else:
                # Bisect until the rejected IDs stand alone; the rest get their data.
                half = len(sent) // 2
                await asyncio.gather(
                    self.describe_ids(sent[:half], cyc),
                    self.describe_ids(sent[half:], cyc),
                )
            return
        latest: dict[str, model.StoreTask] = {}
        for task in tasks:
            if task.ami_id in sent and cache.newer(task, latest.get(task.ami_id)):
                latest[task.ami_id] = task
        for ami in sent:
            self._settler.settle(ami, latest.get(ami), cyc)

    async def _list_all(
        self, fk: cache.FilterKey, cyc: settle.Cycle
    ) -> tuple[dict[str, model.StoreTask], int]:
        """Every page of a filtered listing: each AMI's newest task there, and the pages read."""
        api = self.api
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
                    max_results=plan.PAGE_SIZE,
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

    async def refresh_listing(self, fk: cache.FilterKey, cyc: settle.Cycle) -> None:
        """Read a listing resources subscribe to, in full."""
        try:
            tasks, pages = await self._list_all(fk, cyc)
        except Exception as exc:
            cyc.failed = True
            self._settler.listing_failed(fk, poll_error(exc), cyc)
            return
        if fk == plan.IN_PROGRESS_LISTING:
            self.ip_pages = pages
        self._settler.listing_answered(fk, tasks, cyc)

    async def in_progress_listing(self, in_progress: list[str], cyc: settle.Cycle) -> None:
        """List task-state=InProgress: it settles every running AMI (and shows re-exports)."""
        try:
            tasks, self.ip_pages = await self._list_all(plan.IN_PROGRESS_LISTING, cyc)
        except Exception as exc:
            cyc.failed = True
            error = poll_error(exc)
            for ami in in_progress:
                self._settler.mark_error(ami, error, cyc)
            return
        self._settler.observe(tasks.values(), cyc)

    async def sweep(self, max_pages: int, cyc: settle.Cycle) -> None:
        """Up to ``max_pages`` of the unfiltered listing; it settles every tracked AMI it shows.

        A sweep cut short by ``max_pages`` is continued by the next one within the
        window its tasks are kept (``Settler.claim``): AMIs that subscribe later find
        the first pages' tasks kept, and the older tasks on the pages after them.
        """
        api = self.api
        token, done = None, 0
        resume = self._sweep_resume
        if resume is not None and resume[2] >= cyc.start - self._settler.keep():
            token, done, _ = resume
        self._sweep_resume = None
        for pages in range(done + 1, done + max_pages + 1):
            try:
                page, token = await self._call(
                    cyc,
                    functools.partial(
                        api.describe_page, max_results=plan.PAGE_SIZE, next_token=token
                    ),
                )
            except Exception:
                return  # the ImageIds batches that follow report the fault, per AMI
            self._settler.observe(page, cyc)
            if not token:
                self.roll_pages_total = max(self.roll_pages_total, pages)
                return
            self._sweep_resume = (token, pages, cyc.start)

    async def roll(self, pages: int, cyc: settle.Cycle) -> None:
        """A few pages of the unfiltered listing, continuing where the last cycle stopped."""
        api = self.api
        self.roll_due = self._snap(cyc.start + self._cache.interval())
        for _ in range(pages):
            try:
                page, token = await self._call(
                    cyc,
                    functools.partial(
                        api.describe_page, max_results=plan.PAGE_SIZE, next_token=self.roll_token
                    ),
                )
            except Exception:
                cyc.failed = True
                return
            self._settler.observe(page, cyc)
            self._roll_pages_current += 1
            self.roll_token = token
            if token is None:
                self.roll_pages_total = self._roll_pages_current
                self._roll_pages_current = 0
                return
