"""A filtered listing never settles a tracked AMI with what may be an older task."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

from amistore_operator.core import model

from tests.unit.polling.test_poller import IV, REGION, amis, make_env, spec, view_soon

__all__ = ["make_env"]  # the fixture, shared with test_poller

LATER = datetime.timedelta(hours=1)


async def test_a_filtered_listing_does_not_answer_for_a_tracked_never_fetched_ami(
    make_env: Any,
) -> None:
    env = make_env()
    (ami,) = amis(1)
    env.ec2.put(ami, "Failed", bucket="mine")
    env.ec2.reexport(ami, "Completed", bucket="other", after=LATER)  # newer, elsewhere
    # Both resources arrive together: one refresh serves them.
    failures = asyncio.create_task(
        env.hub.view("ns/failures", spec(bucket="mine", states=("Failed",)), {})
    )
    one = asyncio.create_task(env.hub.view("ns/one", spec(ami), {}))
    await env.clock.advance(3)
    assert failures.done()
    assert one.done()
    old = failures.result().tasks[ami]
    assert old is not None
    assert old.state is model.TaskState.FAILED  # what the listing resource asked for
    assert one.result().tasks == {ami: env.ec2.tasks[ami]}  # the AMI's latest task
    assert sorted(c.kind for c in env.ec2.calls) == ["ids", "page"]
    # Steady state: the listing each interval, the finished AMI re-checked rarely.
    start = env.clock.now()
    await env.clock.advance(3 * IV)
    entry = env.hub.region(REGION).amis[ami]
    assert entry.task == env.ec2.tasks[ami]
    pages = [c for c in env.calls_between(start, start + 3 * IV) if c.kind == "page"]
    assert [c.states for c in pages if c.bucket == "mine"] == [("Failed",)] * 3


async def test_a_filtered_listing_does_not_postpone_a_tracked_amis_re_check(
    make_env: Any,
) -> None:
    env = make_env()
    (ami,) = amis(1)
    env.ec2.put(ami, "Completed", bucket="mine")
    await view_soon(env, "ns/one", spec(ami))
    await view_soon(env, "ns/done", spec(bucket="mine", states=("Completed",)))
    region = env.hub.region(REGION)
    first_check = region.amis[ami].attempted_at
    assert first_check is not None
    # Exported again into another bucket, finished before the next interval.
    env.ec2.reexport(ami, "Completed", bucket="other", after=LATER)
    # The listing of "mine" shows the old task every interval; finished tasks are
    # re-checked at least every 10 intervals all the same.
    for _ in range(11):
        await env.clock.advance(IV)
    assert region.amis[ami].task == env.ec2.tasks[ami]
    checks = [c.at for c in env.ec2.calls if c.kind == "ids" and c.at > first_check]
    assert checks
    assert checks[0] - first_check <= 10 * IV + 1e-6
    # Steady state: the old task never replaces the newer one again.
    for _ in range(12):
        await env.clock.advance(IV)
        task = region.amis[ami].task
        assert task is not None
        assert task.bucket == "other"


async def test_a_running_task_in_a_filtered_listing_is_its_amis_newest(make_env: Any) -> None:
    env = make_env()
    (ami,) = amis(1)
    env.ec2.put(ami, "Completed", bucket="mine")
    await view_soon(env, "ns/one", spec(ami))
    await view_soon(env, "ns/running", spec(bucket="other", states=("InProgress",)))
    env.ec2.reexport(ami, "InProgress", bucket="other", after=LATER)
    await env.clock.advance(IV + 5)
    # Only one store task per AMI runs at a time: a running one is the latest.
    assert env.hub.region(REGION).amis[ami].task == env.ec2.tasks[ami]
