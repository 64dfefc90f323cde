"""A new store task for a finished AMI (a re-export) shows within one interval, on budget."""

from __future__ import annotations

import asyncio
import datetime
import math
from typing import Any

import pytest
from amistore_operator.core import model
from amistore_operator.polling import poller

from tests.unit.polling.test_poller import (
    IV,
    REGION,
    Env,
    amis,
    make_env,
    spec,
    start_views,
    view_soon,
)

__all__ = ["make_env"]  # the fixture, shared with test_poller

LATER = datetime.timedelta(hours=1)


async def daemon(env: Env, key: str, sp: model.AmiStoreSpec, seen: list[Any]) -> None:
    """What each AmiStore's kopf daemon does: one view after another, forever."""
    while True:
        view = await env.hub.view(key, sp, {})
        seen.append((env.clock.now(), view))


async def test_a_re_export_of_a_finished_ami_shows_within_one_interval(make_env: Any) -> None:
    env = make_env()
    (ami,) = amis(1)
    env.ec2.put(ami, "Failed", bucket="bkt")
    await view_soon(env, "ns/one", spec(ami))
    seen: list[tuple[float, model.ResourceView]] = []
    loop = asyncio.create_task(daemon(env, "ns/one", spec(ami), seen))
    try:
        await env.clock.advance(2.5 * IV)
        # The runbook's advice after a failure: start a new store task.
        env.ec2.reexport(ami, "InProgress", bucket="bkt", after=LATER)
        started = env.clock.now()
        await env.clock.advance(IV + poller.slack_for(IV))
        shown = [
            at
            for at, view in seen
            if (task := view.tasks.get(ami)) is not None
            and task.state is model.TaskState.IN_PROGRESS
        ]
        assert shown, "the new task did not show within one interval"
        assert shown[0] - started <= IV + poller.slack_for(IV)
        # Steady state: one call per interval for the running task, nothing more.
        start = env.clock.now()
        await env.clock.advance(5 * IV)
        per_interval = [
            len(env.calls_between(start + k * IV, start + (k + 1) * IV)) for k in range(5)
        ]
        assert per_interval == [1] * 5
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


@pytest.mark.parametrize(
    ("size", "running", "bound"),
    [
        (1000, 10, 2),  # mostly finished: the InProgress listing replaces the ImageIds batch
        (1000, 100, 2),  # the bench's mix (10% in progress): 2 calls per interval measured
        (5000, 500, 6),  # the bench's mix at 5,000: 6 measured
    ],
)
async def test_re_exports_show_within_one_interval_within_the_call_budget(
    make_env: Any, size: int, running: int, bound: int
) -> None:
    env = make_env()
    ids = amis(size)
    for i, ami in enumerate(ids):
        env.ec2.put(ami, "InProgress" if i < running else "Completed")
    views = await start_views(env, ids)
    await env.clock.advance(poller.MAX_GATHER_SECONDS + 1)
    assert all(v.done() for v in views)
    region = env.hub.region(REGION)
    await env.clock.advance(12 * IV)  # past every first re-check: the steady state
    start = env.clock.now()
    started: dict[str, float] = {}  # re-exported AMI -> when
    shown: dict[str, float] = {}  # -> when the cache first had its new task
    step = 5.0
    for k in range(int(11 * IV / step)):
        if k % int(IV / step) == 4 and len(started) < 30:
            # A few finished AMIs exported again each interval, a third into it.
            for ami in ids[running + len(started) * 3 : running + len(started) * 3 + 9 : 3]:
                env.ec2.reexport(ami, "InProgress", bucket="bkt", after=LATER)
                started[ami] = env.clock.now()
        await env.clock.advance(step)
        for ami in started.keys() - shown.keys():
            if region.amis[ami].task == env.ec2.tasks[ami]:
                shown[ami] = env.clock.now()
    assert len(started) == 30
    lags = [shown.get(ami, math.inf) - at for ami, at in started.items()]
    assert max(lags) <= IV + poller.slack_for(IV), sorted(lags)
    per_interval = [len(env.calls_between(start + k * IV, start + (k + 1) * IV)) for k in range(11)]
    running_now = running + len(started)
    assert max(per_interval) <= max(bound, math.ceil(running_now / 200) + bound - 1), per_interval
