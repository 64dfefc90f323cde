"""AMIs the operator asked AWS to store: polled every interval until their task is listed.

An AMI without a task is otherwise re-checked by ImageIds only every 5 to 10 intervals;
one with a live request must not wait that long, or a fast task goes unseen and the
request's grace passes with "no task" in view.
"""

from __future__ import annotations

import asyncio
import datetime
import random
from typing import Any

from amistore_operator.core import model
from amistore_operator.polling import cache, poller

from tests.unit.polling.test_poller import IV, FakeClock, amis, make_env, spec
from tests.unit.polling.test_refresh_pending import first_seen

__all__ = ["make_env"]  # the fixture, shared with test_poller

AMI = amis(1)[0]
KEY = "ns/a"


def test_an_awaited_ami_is_on_the_grid_whatever_its_task() -> None:
    assert not cache.on_the_grid(cache.AmiEntry(known=True))
    assert cache.on_the_grid(cache.AmiEntry(known=True, awaiting={KEY}))
    done = model.StoreTask(AMI, model.TaskState.COMPLETED, 100)
    assert not cache.on_the_grid(cache.AmiEntry(task=done, known=True))
    assert cache.on_the_grid(cache.AmiEntry(task=done, known=True, awaiting={KEY}))


def test_subscribe_marks_and_unmarks_the_amis_a_resource_awaits() -> None:
    tc = cache.TaskCache(clock=FakeClock(), rng=random.Random(1), on_change=lambda: None)
    other = amis(2)[1]
    sp = spec(AMI, other)
    tc.subscribe(KEY, sp, {}, frozenset({AMI, "ami-0000000000000ffff"}))  # not in the spec
    assert tc.amis[AMI].awaiting == {KEY}
    assert tc.amis[other].awaiting == set()
    assert "ami-0000000000000ffff" not in tc.amis
    tc.subscribe("ns/b", spec(AMI), {}, frozenset({AMI}))
    tc.subscribe(KEY, sp, {}, frozenset())  # its task is listed: no longer awaited by it
    assert tc.amis[AMI].awaiting == {"ns/b"}
    tc.unsubscribe("ns/b")
    assert tc.amis[AMI].awaiting == set()


def test_force_makes_an_ami_due_now() -> None:
    changes: list[None] = []
    tc = cache.TaskCache(
        clock=FakeClock(), rng=random.Random(1), on_change=lambda: changes.append(None)
    )
    tc.subscribe(KEY, spec(AMI), {})
    tc.amis[AMI].forced = False
    changes.clear()
    tc.force([AMI, "ami-0000000000000ffff"])
    assert tc.amis[AMI].forced
    assert changes == [None]
    tc.force(["ami-0000000000000ffff"])  # untracked: nothing to wake
    assert changes == [None]


async def test_a_task_that_starts_and_ends_between_listings_is_seen_within_one_interval(
    make_env: Any,
) -> None:
    env = make_env()
    waiting = asyncio.ensure_future(env.hub.view(KEY, spec(AMI), {}, awaiting=frozenset({AMI})))
    await env.clock.advance(poller.MAX_GATHER_SECONDS + 1)
    assert waiting.result().tasks == {AMI: None}
    await env.clock.advance(12 * IV)  # past its first spread re-check
    began = env.clock.now()
    env.ec2.put(AMI, "Completed", start=datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC))
    seen = await first_seen(
        env,
        [AMI],
        lambda _, task: task is not None and task.state is model.TaskState.COMPLETED,
        within=10 * IV,
    )
    assert seen[AMI] - began <= IV + poller.slack_for(IV)


async def test_refresh_polls_the_requested_amis_within_seconds(make_env: Any) -> None:
    env = make_env()
    waiting = asyncio.ensure_future(env.hub.view(KEY, spec(AMI), {}))
    await env.clock.advance(poller.MAX_GATHER_SECONDS + 1)
    assert waiting.done()
    await env.clock.advance(12 * IV + 1)
    asked = env.clock.now()
    env.hub.refresh(KEY, (AMI,))
    await env.clock.advance(poller.MAX_GATHER_SECONDS + 1)
    fetched = [c for c in env.calls_between(asked, env.clock.now()) if AMI in c.ids]
    assert fetched, env.ec2.calls[-3:]
