"""The shared poller in virtual time: call planning, budget, phase-lock, isolation."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import heapq
import itertools
import logging
import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from amistore_operator.aws import budget
from amistore_operator.core import model, status
from amistore_operator.polling import hub as poller_hub
from amistore_operator.polling import poller

REGION = "eu-west-1"
IV = 60.0
T0 = 1_700_000_000.0
START = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


@dataclasses.dataclass
class Timer:
    """A virtual-time callback, cancelled like asyncio's TimerHandle."""

    future: asyncio.Future[None]

    def cancel(self) -> None:
        self.future.cancel()


class FakeClock:
    """Virtual time: ``sleep`` parks until ``advance`` moves time past its deadline."""

    def __init__(self) -> None:
        self.t = T0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self.t + seconds, self._seq, future))
        await future

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        """``callback`` once virtual time passes ``seconds``, unless cancelled first."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self.t + max(seconds, 0.0), self._seq, future))
        future.add_done_callback(lambda f: None if f.cancelled() else callback())
        return Timer(future)

    async def settle(self) -> None:
        for _ in range(60):
            await asyncio.sleep(0)

    def next_deadline(self) -> float | None:
        live = [d for d, _, f in self._sleepers if not f.done()]
        return min(live, default=None)

    async def advance(self, seconds: float) -> None:
        target = self.t + seconds
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            if future.done():
                continue
            self.t = max(self.t, deadline)
            future.set_result(None)
            await self.settle()
        self.t = target
        await self.settle()


class FakeAwsError(Exception):
    def __init__(self, reason: model.PollErrorReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclasses.dataclass
class Call:
    kind: str  # "ids" | "page"
    at: float
    ids: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    bucket: str | None = None
    max_results: int | None = None
    token: str | None = None


class FakeEc2:
    """A region's store tasks; records every call."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.tasks: dict[str, model.StoreTask] = {}  # each AMI's latest task
        self.older: list[model.StoreTask] = []  # superseded tasks AWS still lists
        self.calls: list[Call] = []
        self.invalid: set[str] = set()
        self.fail: Exception | None = None

    def put(
        self,
        ami: str,
        state: str,
        bucket: str = "bkt",
        progress: int = 50,
        start: datetime.datetime = START,
    ) -> None:
        st = model.TaskState(state)
        self.tasks[ami] = model.StoreTask(
            ami,
            st,
            100 if st is model.TaskState.COMPLETED else progress,
            bucket,
            f"{ami}.bin",
            start,
        )

    def reexport(self, ami: str, state: str, bucket: str, after: datetime.timedelta) -> None:
        """A new store task for ``ami``, ``after`` its current one; AWS still lists the old."""
        old = self.tasks[ami]
        assert old.start_time is not None
        self.older.append(old)
        self.put(ami, state, bucket=bucket, progress=1, start=old.start_time + after)

    def _all(self) -> list[model.StoreTask]:
        return sorted(
            [*self.tasks.values(), *self.older], key=lambda t: (t.ami_id, t.start_time or START)
        )

    def describe_ids(self, image_ids: Sequence[str]) -> list[model.StoreTask]:
        assert 1 <= len(image_ids) <= 20
        self.calls.append(Call("ids", self.clock.now(), ids=tuple(image_ids)))
        if self.fail is not None:
            raise self.fail
        bad = sorted(set(image_ids) & self.invalid)
        if bad:
            raise FakeAwsError(model.PollErrorReason.INVALID_IMAGE_ID, f"bad {bad[0]}")
        return [t for t in self._all() if t.ami_id in image_ids]

    def describe_page(
        self,
        *,
        task_states: Sequence[str] = (),
        bucket: str | None = None,
        max_results: int = 200,
        next_token: str | None = None,
    ) -> tuple[list[model.StoreTask], str | None]:
        assert 1 <= max_results <= 200
        self.calls.append(
            Call(
                "page",
                self.clock.now(),
                states=tuple(task_states),
                bucket=bucket,
                max_results=max_results,
                token=next_token,
            )
        )
        if self.fail is not None:
            raise self.fail
        matching = [
            t
            for t in self._all()
            if (not task_states or t.state in task_states) and (not bucket or t.bucket == bucket)
        ]
        offset = int(next_token or 0)
        page = matching[offset : offset + max_results]
        more = offset + max_results < len(matching)
        return page, str(offset + max_results) if more else None


class FakeMetrics:
    def __init__(self) -> None:
        self.success: list[float] = []
        self.effective: list[float] = []
        self.budget: list[float] = []

    def set_poll_success(self, region: str, ts: float, account: str = "") -> None:
        self.success.append(ts)

    def set_effective_interval(self, region: str, seconds: float, account: str = "") -> None:
        self.effective.append(seconds)

    def set_budget(self, region: str, tokens: float, account: str = "") -> None:
        self.budget.append(tokens)


async def inline(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


@dataclasses.dataclass
class Env:
    clock: FakeClock
    ec2: FakeEc2
    metrics: FakeMetrics
    hub: poller_hub.PollerHub

    def calls_between(self, start: float, end: float) -> list[Call]:
        return [c for c in self.ec2.calls if start <= c.at < end]


@pytest.fixture
async def make_env() -> Any:
    hubs: list[poller_hub.PollerHub] = []

    def build(rate: float = 1000.0, burst: int = 1000, seed: int = 7) -> Env:
        clock = FakeClock()
        ec2 = FakeEc2(clock)
        metrics = FakeMetrics()
        hub = poller_hub.PollerHub(
            client_factory=lambda account, region: ec2,
            rate=rate,
            burst=burst,
            metrics=metrics,
            clock=clock,
            rng=random.Random(seed),
            runner=inline,
        )
        hubs.append(hub)
        return Env(clock, ec2, metrics, hub)

    yield build
    for hub in hubs:
        await hub.close()


def spec(
    *ids: str, bucket: str | None = None, states: tuple[str, ...] = (), interval: float = IV
) -> model.AmiStoreSpec:
    return model.AmiStoreSpec(tuple(ids), bucket, states, REGION, interval)


def amis(n: int, start: int = 0) -> list[str]:
    return [f"ami-{i:017x}" for i in range(start, start + n)]


async def view_soon(
    env: Env,
    key: str,
    sp: model.AmiStoreSpec,
    known: dict[str, model.StoreTask] | None = None,
    within: float = 5.0,
) -> model.ResourceView:
    """Start a view and drive virtual time until it returns (bounded)."""
    task = asyncio.create_task(env.hub.view(key, sp, known or {}))
    limit = env.clock.now() + within
    await env.clock.settle()
    while not task.done() and env.clock.now() < limit:
        deadline = env.clock.next_deadline()
        step = limit - env.clock.now() if deadline is None else deadline - env.clock.now()
        await env.clock.advance(max(0.0, min(step, limit - env.clock.now())))
    assert task.done(), f"view({key}) did not return within {within}s of virtual time"
    return task.result()


# --- waking ------------------------------------------------------------------


async def test_a_refresh_wakes_only_the_resources_it_served(make_env: Any) -> None:
    env = make_env()
    busy, done = amis(2)
    env.ec2.put(busy, "InProgress")
    env.ec2.put(done, "Completed")
    await view_soon(env, "ns/busy", spec(busy))
    await view_soon(env, "ns/done", spec(done))
    waits = {
        key: asyncio.create_task(env.hub.view(key, spec(ami), {}))
        for key, ami in (("ns/busy", busy), ("ns/done", done))
    }
    env.ec2.calls.clear()
    await env.clock.advance(IV)
    # The InProgress listing (a finished AMI is tracked: it shows a re-export) re-checked
    # the in-progress AMI and woke its resource; the completed one is re-checked by ID
    # rarely, so its resource sleeps on until its own deadline.
    assert [(c.kind, c.states) for c in env.ec2.calls] == [("page", ("InProgress",))]
    assert waits["ns/busy"].done()
    assert not waits["ns/done"].done()
    await env.clock.advance(poller.slack_for(IV))
    assert waits["ns/done"].done()
    assert waits["ns/done"].result().tasks == {done: env.ec2.tasks[done]}


async def test_unsubscribing_releases_a_waiting_view(make_env: Any) -> None:
    env = make_env()
    (ami,) = amis(1)
    env.ec2.put(ami, "InProgress")
    await view_soon(env, "ns/a", spec(ami))
    waiting = asyncio.create_task(env.hub.view("ns/a", spec(ami), {}))
    await env.clock.settle()
    assert not waiting.done()
    env.hub.forget("ns/a")
    await env.clock.settle()
    assert waiting.done()  # no virtual time passed: released, not timed out
    # Its only AMI left the cache with it: the view says nothing rather than raising.
    assert waiting.result() == model.ResourceView(tasks={}, error=None)
    region = env.hub.region(REGION)
    assert region.amis == {}
    env.ec2.calls.clear()
    await env.clock.advance(5 * IV)
    assert env.ec2.calls == []  # and nothing is polled for it afterwards


async def test_a_view_released_by_a_spec_change_reads_no_dropped_ami(make_env: Any) -> None:
    env = make_env()
    old, new = amis(2)
    for ami in (old, new):
        env.ec2.put(ami, "InProgress")
    await view_soon(env, "ns/a", spec(old))
    waiting = asyncio.create_task(env.hub.view("ns/a", spec(old), {}))
    await env.clock.settle()
    # Another view of the same resource with an edited spec replaces its subscription.
    view = await view_soon(env, "ns/a", spec(new))
    assert waiting.done()
    assert waiting.result() == model.ResourceView(tasks={}, error=None)
    assert view.tasks == {new: env.ec2.tasks[new]}


# --- planning ----------------------------------------------------------------


async def start_views(env: Env, ids: Sequence[str]) -> list[asyncio.Task[model.ResourceView]]:
    """One waiting view per AMI, as the daemons of a starting operator open them."""
    views = [asyncio.create_task(env.hub.view(ami, spec(ami), {})) for ami in ids]
    await env.clock.settle()
    return views


async def test_a_start_up_arriving_in_waves_shares_one_listing(make_env: Any) -> None:
    env = make_env()
    ids = amis(3000)
    for i, ami in enumerate(ids):
        env.ec2.put(ami, "InProgress" if i % 10 == 0 else "Completed")
    views = []
    for wave in range(10):  # daemons keep starting for about 3 seconds
        views += await start_views(env, ids[wave * 300 : (wave + 1) * 300])
        await env.clock.advance(0.3)
    await env.clock.advance(poller.MAX_GATHER_SECONDS)
    assert all(v.done() for v in views)
    # One refresh once they stopped arriving: the unfiltered listing (15 pages of 200)
    # instead of 150 ImageIds batches.
    assert [c.kind for c in env.ec2.calls] == ["page"] * 15
    assert all(
        v.result().tasks == {ami: env.ec2.tasks[ami]} for v, ami in zip(views, ids, strict=True)
    )


async def test_resources_arriving_after_a_listing_are_served_from_it(make_env: Any) -> None:
    env = make_env()
    ids = amis(3000)
    for ami in ids:
        env.ec2.put(ami, "Completed")
    first = await start_views(env, ids[:1000])
    await env.clock.advance(poller.MAX_GATHER_SECONDS + 1)
    assert all(v.done() for v in first)
    assert [c.kind for c in env.ec2.calls] == ["page"] * 15  # saw all 3,000 tasks
    env.ec2.calls.clear()
    later = await start_views(env, ids[1000:])
    await env.clock.advance(poller.MAX_GATHER_SECONDS + 1)
    assert all(v.done() for v in later)
    assert env.ec2.calls == []  # what the listing showed seconds ago, not 100 batches
    assert all(
        v.result().tasks == {a: env.ec2.tasks[a]} for v, a in zip(later, ids[1000:], strict=True)
    )


async def test_a_sweep_cut_short_is_continued_by_the_next(make_env: Any) -> None:
    env = make_env()
    ids = amis(6000)  # 30 pages of the unfiltered listing
    for ami in ids:
        env.ec2.put(ami, "Completed")
    first = await start_views(env, ids[:800])  # 40 batches: a sweep of at most 20 pages
    await env.clock.advance(poller.MAX_GATHER_SECONDS + 1)
    assert all(v.done() for v in first)
    assert [c.token for c in env.ec2.calls] == [None, *(str(200 * i) for i in range(1, 20))]
    env.ec2.calls.clear()
    later = await start_views(env, ids[800:])
    await env.clock.advance(poller.MAX_GATHER_SECONDS + 1)
    assert all(v.done() for v in later)
    # Pages 21 to 30 only: the first 20 pages' tasks served ids[800:4000] where they were.
    assert [c.token for c in env.ec2.calls] == [str(200 * i) for i in range(20, 30)]
    assert all(
        v.result().tasks == {a: env.ec2.tasks[a]} for v, a in zip(later, ids[800:], strict=True)
    )


async def test_a_filtered_listing_never_answers_for_an_untracked_ami(make_env: Any) -> None:
    env = make_env()
    (ami,) = amis(1)
    env.ec2.put(ami, "Failed", bucket="mine")
    await view_soon(env, "ns/failures", spec(bucket="mine", states=("Failed",)))
    # Re-exported to another bucket: the failed-in-mine listing would not show it.
    env.ec2.put(ami, "Completed", bucket="other")
    env.ec2.calls.clear()
    view = await view_soon(env, "ns/one", spec(ami))
    assert [c.ids for c in env.ec2.calls] == [(ami,)]
    assert view.tasks == {ami: env.ec2.tasks[ami]}


@pytest.mark.parametrize(("after", "calls"), [(IV - 10, 0), (IV + 5, 1)])
async def test_a_listings_tasks_are_kept_one_interval(
    make_env: Any, after: float, calls: int
) -> None:
    env = make_env()
    ids = amis(1001)
    for ami in ids:
        env.ec2.put(ami, "Completed")
    first = await start_views(env, ids[:-1])
    await env.clock.advance(poller.MAX_GATHER_SECONDS + 1)
    assert all(v.done() for v in first)
    for ami in ids[:-1]:
        env.hub.forget(ami)  # nothing else is polled meanwhile
    await env.clock.advance(after)
    env.ec2.calls.clear()
    view = await view_soon(env, "ns/late", spec(ids[-1]))
    assert view.tasks == {ids[-1]: env.ec2.tasks[ids[-1]]}
    assert len(env.ec2.calls) == calls  # served from the listing, or fetched afresh


async def test_resources_leaving_do_not_rescan_the_cache_each(make_env: Any) -> None:
    env = make_env()
    ids = amis(1000)
    for ami in ids:
        env.ec2.put(ami, "InProgress")
    views = await start_views(env, ids)
    await env.clock.advance(poller.MAX_GATHER_SECONDS + 1)
    assert all(v.done() for v in views)
    region: poller.RegionPoller = env.hub.region(REGION)
    scans = 0
    real = region.refresher.next_wake

    def counted() -> tuple[float, bool]:
        nonlocal scans
        scans += 1
        return real()

    region.refresher.next_wake = counted  # type: ignore[method-assign]
    for ami in ids[:-1]:  # a mass delete, or a shutdown: every daemon leaves in turn
        env.hub.forget(ami)
        await asyncio.sleep(0)
    await env.clock.settle()
    assert scans == 0  # one scan per departure would make N departures cost N * N
    env.hub.forget(ids[-1])
    await env.clock.settle()
    assert region.subs == {}
    assert region.amis == {}


async def test_45_new_amis_take_three_id_batches(make_env: Any) -> None:
    env = make_env()
    ids = amis(45)
    for ami in ids:
        env.ec2.put(ami, "InProgress")
    view = await view_soon(env, "ns/a", spec(*ids))
    assert [c.kind for c in env.ec2.calls] == ["ids"] * 3
    assert sorted(len(c.ids) for c in env.ec2.calls) == [5, 20, 20]
    assert all(c.max_results is None for c in env.ec2.calls)  # never ImageIds with MaxResults
    assert view.error is None
    assert set(view.tasks) == set(ids)
    assert all(t is not None and t.state == "InProgress" for t in view.tasks.values())


async def test_in_progress_listing_replaces_many_batches(make_env: Any) -> None:
    env = make_env()
    ids = amis(300)
    for ami in ids:
        env.ec2.put(ami, "InProgress")
    env.ec2.put("ami-00000000000000fff", "InProgress")  # someone else's task
    await view_soon(env, "ns/a", spec(*ids))
    assert len(env.ec2.calls) == 15  # unknown AMIs: ImageIds batches
    env.ec2.put(ids[7], "Completed")  # finished meanwhile: absent from the listing
    env.ec2.calls.clear()
    view = await view_soon(env, "ns/a", spec(*ids), within=IV + 5)
    pages = [c for c in env.ec2.calls if c.kind == "page"]
    assert [(c.states, c.max_results, c.token) for c in pages] == [
        (("InProgress",), 200, None),
        (("InProgress",), 200, "200"),
    ]
    assert [c.ids for c in env.ec2.calls if c.kind == "ids"] == [(ids[7],)]
    completed = view.tasks[ids[7]]
    assert completed is not None
    assert completed.state == "Completed"


async def test_listing_subscription_pages_with_filters(make_env: Any) -> None:
    env = make_env()
    for i, ami in enumerate(amis(450)):
        env.ec2.put(ami, "Failed" if i % 2 else "Completed", bucket="mine" if i < 420 else "x")
    sp = spec(bucket="mine", states=("Failed",))
    view = await view_soon(env, "ns/list", sp)
    assert [(c.kind, c.states, c.bucket, c.max_results, c.token) for c in env.ec2.calls] == [
        ("page", ("Failed",), "mine", 200, None),
        ("page", ("Failed",), "mine", 200, "200"),
    ]
    assert len(view.tasks) == 210
    assert all(t is not None and t.state == "Failed" for t in view.tasks.values())


async def test_terminal_amis_seeded_after_restart_are_spread(make_env: Any) -> None:
    env = make_env()
    ids = amis(1000)
    for ami in ids:
        env.ec2.put(ami, "Completed")
    for ami in ids:
        view = await env.hub.view(ami, spec(ami), {ami: env.ec2.tasks[ami]}, wait=False)
        assert view.tasks == {ami: env.ec2.tasks[ami]}  # served from the status at once
    per_interval = []
    for k in range(10):
        await env.clock.advance(IV)
        per_interval.append(len(env.calls_between(T0 + k * IV, T0 + (k + 1) * IV)))
    region = env.hub.region(REGION)
    unchecked = [a for a, e in region.amis.items() if e.attempted_at is None]
    assert unchecked == []  # every AMI re-checked within 10 intervals
    assert max(per_interval) <= 8, per_interval  # never all at once
    assert sum(per_interval) < 1000 / 20


async def test_steady_state_1000_resources_cost_few_calls(make_env: Any) -> None:
    env = make_env()
    ids = amis(1000)
    for i, ami in enumerate(ids):
        env.ec2.put(ami, "InProgress" if i < 100 else "Completed")
    for ami in ids:
        await env.hub.view(ami, spec(ami), {ami: env.ec2.tasks[ami]}, wait=False)
    await env.clock.advance(12 * IV)
    start = env.clock.now()
    await env.clock.advance(10 * IV)
    calls = env.calls_between(start, start + 10 * IV)
    assert len(calls) <= 10 * (math.ceil(100 / 200) + 3)
    assert not [c for c in calls if c.kind == "ids" and c.max_results is not None]
    region = env.hub.region(REGION)
    oldest = min(e.attempted_at or 0 for e in region.amis.values())
    assert env.clock.now() - oldest <= 10 * IV


async def test_listing_sees_a_new_task_for_a_terminal_ami(make_env: Any) -> None:
    env = make_env()
    ids = amis(50)
    for ami in ids:
        env.ec2.put(ami, "InProgress")
    await view_soon(env, "ns/a", spec(*ids))
    env.ec2.put(ids[0], "Completed")
    await view_soon(env, "ns/a", spec(*ids), within=IV + 5)
    assert env.hub.region(REGION).amis[ids[0]].task == env.ec2.tasks[ids[0]]
    env.ec2.put(ids[0], "InProgress", progress=3)  # a new store task for the same AMI
    view = await view_soon(env, "ns/a", spec(*ids), within=IV + 5)
    task = view.tasks[ids[0]]
    assert task is not None
    assert task.state == "InProgress"
    assert task.progress == 3


# --- failures ----------------------------------------------------------------


async def test_one_bad_id_is_bisected_out_of_its_batch(make_env: Any) -> None:
    env = make_env()
    ids = amis(20)
    for ami in ids:
        env.ec2.put(ami, "InProgress")
    bad = ids[13]
    env.ec2.invalid.add(bad)
    tasks = [asyncio.create_task(env.hub.view(a, spec(a), {})) for a in ids]
    await env.clock.advance(3)
    views = dict(zip(ids, [t.result() for t in tasks], strict=True))
    assert len(env.ec2.calls) <= 11  # 1 + 2 per halving
    err = views[bad].error
    assert err == model.PollError(model.PollErrorReason.INVALID_IMAGE_ID, f"bad {bad}")
    for ami in ids:
        if ami != bad:
            assert views[ami].error is None
            assert views[ami].tasks[ami] == env.ec2.tasks[ami]
    # Next interval: the bad ID goes alone, the others in one batch.
    env.ec2.calls.clear()
    await env.clock.advance(IV)
    assert sorted(len(c.ids) for c in env.ec2.calls) == [1, 19]


async def test_failing_call_keeps_cached_tasks_and_reports_error(make_env: Any) -> None:
    env = make_env()
    ids = amis(3)
    for ami in ids:
        env.ec2.put(ami, "InProgress")
    await view_soon(env, "ns/a", spec(*ids))
    env.ec2.fail = FakeAwsError(model.PollErrorReason.THROTTLED, "Request limit exceeded.")
    view = await view_soon(env, "ns/a", spec(*ids), within=IV + 5)
    assert view.error == model.PollError(model.PollErrorReason.THROTTLED, "Request limit exceeded.")
    assert view.tasks == {a: env.ec2.tasks[a] for a in ids}
    assert len(env.metrics.success) == 1


async def test_backoff_grows_with_jitter_capped_and_recovers_within_an_interval(
    make_env: Any,
) -> None:
    env = make_env()
    ids = amis(2)
    for ami in ids:
        env.ec2.put(ami, "InProgress")
    await view_soon(env, "ns/a", spec(*ids))
    env.ec2.fail = FakeAwsError(model.PollErrorReason.AWS_UNAVAILABLE, "Service Unavailable")
    env.ec2.calls.clear()
    await env.clock.advance(10 * IV)
    times = [c.at for c in env.ec2.calls]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 8
    for n, gap in enumerate(gaps, start=1):
        assert gap <= min(IV, 2**n) + 1e-6, (n, gaps)
    assert max(gaps) > 8  # it grows
    assert len({round(g, 3) for g in gaps[5:]}) > 1  # jittered
    fault_end = env.clock.now()
    env.ec2.fail = None
    view = await view_soon(env, "ns/a", spec(*ids), within=IV + 5)
    assert view.error is None
    assert env.metrics.success[-1] - fault_end <= IV


# --- budget ------------------------------------------------------------------


async def test_budget_spreads_calls_and_stretches_the_interval(
    make_env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    env = make_env(rate=0.5, burst=5)
    interval = 10.0
    ids = amis(400)  # unknown: 20 ImageIds calls
    for ami in ids:
        env.ec2.put(ami, "Failed")
    caplog.set_level(logging.WARNING, logger="amistore_operator.polling.poller")
    view = await view_soon(env, "ns/a", spec(*ids, interval=interval), within=60)
    times = [c.at for c in env.ec2.calls]
    assert len(times) == 20
    for k, at in enumerate(times):
        # The bucket of 5 pays for the first five at once, then one every 2 s.
        assert at - times[0] >= max(0, k - 4) * 2.0 - 1e-6
    assert times[-1] - times[0] >= 30 - 1e-6
    assert view.error is None
    assert len(view.tasks) == 400
    await env.clock.advance(interval)
    assert env.metrics.effective
    assert max(env.metrics.effective) > interval
    stretched = [r for r in caplog.records if "budget exceeded" in r.getMessage()]
    assert len(stretched) == 1
    assert stretched[0].levelno == logging.WARNING


# --- freshness ---------------------------------------------------------------


async def test_random_phases_lock_onto_one_refresh_per_interval(make_env: Any) -> None:
    env = make_env()
    ids = amis(10)
    for ami in ids:
        env.ec2.put(ami, "InProgress")
    rng = random.Random(3)
    lags: list[float] = []

    async def timer(ami: str, phase: float) -> None:
        await env.clock.sleep(phase)
        while True:
            await env.hub.view(ami, spec(ami), {})
            attempted = env.hub.region(REGION).amis[ami].attempted_at
            assert attempted is not None
            lags.append(env.clock.now() - attempted)
            await env.clock.sleep(IV)

    timers = [asyncio.create_task(timer(a, rng.uniform(0, IV))) for a in ids]
    try:
        await env.clock.advance(8 * IV)
        start = env.clock.now()
        await env.clock.advance(5 * IV)
        calls = env.calls_between(start, start + 5 * IV)
        assert len(calls) == 5, [c.at - start for c in calls]  # one per interval for all ten
        assert max(lags[-20:]) <= poller.slack_for(IV)
    finally:
        for task in timers:
            task.cancel()
        await asyncio.gather(*timers, return_exceptions=True)


async def test_a_second_view_waits_for_the_next_refresh(make_env: Any) -> None:
    env = make_env()
    env.ec2.put("ami-0000000000000000a", "InProgress")
    sp = spec("ami-0000000000000000a")
    await view_soon(env, "ns/a", sp)
    first = env.clock.now()
    env.ec2.put("ami-0000000000000000a", "InProgress", progress=77)
    view = await view_soon(env, "ns/a", sp, within=IV + 5)  # no new data: waits
    assert env.clock.now() - first >= IV - 5
    task = view.tasks["ami-0000000000000000a"]
    assert task is not None
    assert task.progress == 77
    nowait = await env.hub.view("ns/a", sp, {}, wait=False)
    assert nowait.tasks == view.tasks


async def test_wake_makes_a_resource_due_within_the_gather_window(make_env: Any) -> None:
    env = make_env()
    env.ec2.put("ami-0000000000000000a", "Completed")
    sp = spec("ami-0000000000000000a")
    await view_soon(env, "ns/a", sp)
    await env.clock.advance(IV / 3)
    env.ec2.calls.clear()
    env.hub.wake("ns/a")
    woken = env.clock.now()
    await view_soon(env, "ns/a", sp, within=2)
    assert len(env.ec2.calls) == 1
    assert env.ec2.calls[0].at - woken <= 1.0


async def test_spec_change_is_due_now(make_env: Any) -> None:
    env = make_env()
    for ami in amis(2):
        env.ec2.put(ami, "InProgress")
    first, second = amis(2)
    await view_soon(env, "ns/a", spec(first))
    await env.clock.advance(IV / 3)
    view = await view_soon(env, "ns/a", spec(first, second), within=2)
    assert set(view.tasks) == {first, second}


async def test_forget_drops_amis_nobody_tracks(make_env: Any) -> None:
    env = make_env()
    a, b, c = amis(3)
    for ami in (a, b, c):
        env.ec2.put(ami, "InProgress")
    await view_soon(env, "ns/one", spec(a, b))
    await view_soon(env, "ns/two", spec(b, c))
    region = env.hub.region(REGION)
    env.hub.forget("ns/one")
    assert set(region.amis) == {b, c}
    env.hub.forget("ns/two")
    assert region.amis == {}
    await env.clock.advance(3 * IV)
    env.ec2.calls.clear()
    await env.clock.advance(3 * IV)
    assert env.ec2.calls == []  # no subscriptions: no calls


async def test_shared_ami_with_different_buckets(make_env: Any) -> None:
    env = make_env()
    ami = "ami-0000000000000000a"
    env.ec2.put(ami, "InProgress", bucket="alpha")
    t1 = asyncio.create_task(env.hub.view("ns/alpha", spec(ami, bucket="alpha"), {}))
    t2 = asyncio.create_task(env.hub.view("ns/beta", spec(ami, bucket="beta"), {}))
    await env.clock.advance(3)
    assert t1.result().tasks == {ami: env.ec2.tasks[ami]}
    # Passed on as AWS lists it (its latest task may hide one into beta); the core
    # counts a task into another bucket for nothing: Pending in beta's status.
    assert t2.result().tasks == {ami: env.ec2.tasks[ami]}
    beta = status.reconcile(None, spec(ami, bucket="beta"), t2.result(), generation=1, now=START)
    assert [e["state"] for e in beta.status["tasks"]] == ["Pending"]
    assert len(env.ec2.calls) == 1


async def test_attempt_hook_charges_only_retries() -> None:
    clock = FakeClock()
    hub = poller_hub.PollerHub(
        client_factory=lambda account, r: FakeEc2(clock),
        rate=1.0,
        burst=3,
        metrics=FakeMetrics(),
        clock=clock,
    )
    hook = hub.attempt_hook(REGION)
    bucket = hub.budget(REGION)

    def call_with_retry() -> None:
        hook()  # first attempt: prepaid by the poller
        hook()  # botocore's retry: pays

    budget.run_prepaid(call_with_retry)
    assert bucket.level() == pytest.approx(2.0)
    await hub.close()


async def test_real_threads_and_clock() -> None:
    ec2 = FakeEc2(FakeClock())
    ec2.put("ami-0000000000000000a", "InProgress")
    hub = poller_hub.PollerHub(
        client_factory=lambda account, r: ec2,
        rate=100,
        burst=10,
        metrics=FakeMetrics(),
        gather=0.01,
    )
    try:
        view = await asyncio.wait_for(
            hub.view("ns/a", spec("ami-0000000000000000a", interval=1.0), {}), timeout=5
        )
        assert view.error is None
        assert view.tasks == {"ami-0000000000000000a": ec2.tasks["ami-0000000000000000a"]}
    finally:
        await asyncio.wait_for(hub.close(), timeout=5)


# --- retired AMIs ------------------------------------------------------------


async def test_an_ami_retired_while_its_batch_waits_for_the_budget_is_not_sent(
    make_env: Any,
) -> None:
    # A batch planned before the AMI's DeregisterImage, paid for after it: AWS would fail
    # the whole call with InvalidAMIID.NotFound.
    env = make_env(rate=0.5, burst=1)
    ids = amis(40)  # two ImageIds calls: the second waits 2 s for its token
    for ami in ids:
        env.ec2.put(ami, "Completed")
    task = asyncio.create_task(env.hub.view("ns/a", spec(*ids), {}))
    await env.clock.advance(0.5)
    assert len(env.ec2.calls) == 1
    gone = next(a for a in ids if a not in env.ec2.calls[0].ids)
    env.hub.retire(("", REGION), gone)
    await env.clock.advance(5.0)
    await asyncio.wait_for(task, 1)
    assert len(env.ec2.calls) == 2
    assert gone not in env.ec2.calls[1].ids
    assert len(env.ec2.calls[1].ids) == 19
    later = len(env.ec2.calls)
    await env.clock.advance(10 * IV)  # steady: never named again
    assert all(gone not in c.ids for c in env.ec2.calls[later:])
