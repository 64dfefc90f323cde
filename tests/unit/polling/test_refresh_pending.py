"""AMIs without a store task (``Pending``): watched by the InProgress listing, cheaply.

A thousand AMIs an export has not reached yet must not cost fifty ImageIds calls every
interval: a new task shows in the InProgress listing each regular cycle reads anyway,
and each AMI is re-checked by ImageIds every 5 to 10 intervals for a task that started
and ended between two listings.
"""

from __future__ import annotations

import asyncio
import datetime
import math
from collections.abc import Callable
from typing import Any

from amistore_operator.core import model
from amistore_operator.polling import poller

from tests.unit.polling.test_poller import IV, REGION, Env, amis, make_env, spec, start_views

__all__ = ["make_env"]  # the fixture, shared with test_poller

SIZE = 1000


async def settled(make_env: Any) -> tuple[Env, list[str]]:
    """SIZE AMIs without a task, one resource each, every one fetched once, and past every
    first re-check: the steady state."""
    env: Env = make_env()
    ids = amis(SIZE)
    views = await start_views(env, ids)
    await env.clock.advance(poller.MAX_GATHER_SECONDS + 1)
    assert all(v.done() for v in views)
    assert all(v.result().tasks == {ami: None} for v, ami in zip(views, ids, strict=True))
    await env.clock.advance(12 * IV)
    return env, ids


async def first_seen(
    env: Env,
    watched: list[str],
    shows: Callable[[str, model.StoreTask | None], bool],
    within: float,
) -> dict[str, float]:
    """When the cache first held what ``shows`` looks for, per AMI, in steps of 5 s."""
    region = env.hub.region(REGION)
    began = env.clock.now()
    seen: dict[str, float] = {}
    while env.clock.now() - began < within and len(seen) < len(watched):
        await env.clock.advance(5)
        for ami in watched:
            if ami not in seen and shows(ami, region.amis[ami].task):
                seen[ami] = env.clock.now()
    return seen


def per_interval(env: Env, start: float, intervals: int) -> list[int]:
    return [len(env.calls_between(start + k * IV, start + (k + 1) * IV)) for k in range(intervals)]


async def test_a_thousand_amis_without_a_task_cost_a_few_calls_per_interval(
    make_env: Any,
) -> None:
    env, _ = await settled(make_env)
    start = env.clock.now()
    await env.clock.advance(10 * IV)
    counts = per_interval(env, start, 10)
    # One InProgress listing page, and each AMI by ImageIds once in 5 to 10 intervals:
    # 1,000 / 20 / 7.5 = 6.7 batches an interval on average, a quarter of the 50 batches
    # at most (the spread is random); before, all 50 batches every interval.
    batches = math.ceil(SIZE / 20)
    assert sum(counts) / len(counts) <= 1 + batches / 5, counts
    assert max(counts) <= 1 + batches / 4, counts
    listed = [c for c in env.calls_between(start, start + 10 * IV) if c.kind == "page"]
    assert len(listed) == 10
    assert all(c.states == ("InProgress",) for c in listed)
    region = env.hub.region(REGION)
    oldest = min(e.attempted_at or 0 for e in region.amis.values())
    assert env.clock.now() - oldest <= 10 * IV  # none goes unchecked for longer


async def test_a_task_starting_for_one_of_them_shows_within_one_interval(make_env: Any) -> None:
    env, ids = await settled(make_env)
    shown: dict[str, float] = {}
    started: dict[str, float] = {}
    for k in range(6):
        ami = ids[k * 97]
        env.ec2.put(ami, "InProgress", progress=1)
        started[ami] = env.clock.now()
        shown |= await first_seen(
            env, [ami], lambda a, task: task == env.ec2.tasks[a], within=IV + 10
        )
    lags = [shown.get(ami, math.inf) - at for ami, at in started.items()]
    assert max(lags) <= IV + poller.slack_for(IV), lags


async def test_a_task_that_started_and_ended_between_listings_shows_within_ten_intervals(
    make_env: Any,
) -> None:
    env, ids = await settled(make_env)
    quick = ids[:40]
    for ami in quick:  # never InProgress when the listing looks
        env.ec2.put(ami, "Completed", start=datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC))
    began = env.clock.now()
    seen = await first_seen(
        env,
        quick,
        lambda _, task: task is not None and task.state is model.TaskState.COMPLETED,
        within=10 * IV + 10,
    )
    assert sorted(seen) == sorted(quick)
    assert max(seen.values()) - began <= 10 * IV + poller.slack_for(IV)


async def test_a_new_subscriber_to_an_ami_without_a_task_gets_a_fresh_answer(
    make_env: Any,
) -> None:
    """Another resource naming the AMI asks AWS now, as for any AMI it adds."""
    env, ids = await settled(make_env)
    ami = ids[500]
    env.ec2.put(ami, "Completed")
    before = len(env.ec2.calls)
    view = asyncio.create_task(env.hub.view("ns/late", spec(ami), {}))
    await env.clock.advance(poller.MAX_GATHER_SECONDS + 1)
    assert view.done()
    task = view.result().tasks[ami]
    assert task is not None
    assert task.state is model.TaskState.COMPLETED
    assert any(ami in c.ids for c in env.ec2.calls[before:])
