"""Many never-fetched AMIs at once (a start, a big apply): one listing, not thousands of batches."""

from __future__ import annotations

from typing import Any

from amistore_operator.core import model

from tests.unit.polling.test_poller import REGION, amis, make_env, spec

__all__ = ["make_env"]  # the fixture, shared with test_poller


async def subscribe_each(env: Any, ids: list[str]) -> None:
    """One single-AMI resource per ID, as the kopf timers subscribe at a start."""
    for ami in ids:
        await env.hub.view(f"ns/{ami}", spec(ami), {}, wait=False)
    for _ in range(5):
        await env.clock.advance(1.0)


async def test_2000_unknown_amis_take_one_listing(make_env: Any) -> None:
    env = make_env()
    ids = amis(2000)
    for i, ami in enumerate(ids):
        env.ec2.put(ami, "InProgress" if i % 10 == 0 else "Completed")
    await subscribe_each(env, ids)
    assert [(c.kind, c.states, c.bucket, c.token) for c in env.ec2.calls] == [
        ("page", (), None, None if k == 0 else str(200 * k)) for k in range(10)
    ]
    region = env.hub.region(REGION)
    assert all(region.amis[a].known for a in ids)
    assert all(region.amis[a].task == env.ec2.tasks[a] for a in ids)


async def test_amis_the_listing_does_not_show_still_go_by_image_ids(make_env: Any) -> None:
    env = make_env()
    ids = amis(1000)
    no_task, rejected = ids[-100:-20], ids[-20:]
    for ami in ids[:-100]:
        env.ec2.put(ami, "Completed")
    env.ec2.invalid.update(rejected)
    await subscribe_each(env, ids)
    pages = [c for c in env.ec2.calls if c.kind == "page"]
    batches = [c for c in env.ec2.calls if c.kind == "ids"]
    assert len(pages) == 5  # 900 tasks, 200 a page
    assert {a for c in batches for a in c.ids} == set(no_task) | set(rejected)
    region = env.hub.region(REGION)
    assert all(region.amis[a].known and region.amis[a].task is None for a in no_task)
    for ami in rejected:
        error = region.amis[ami].error
        assert error is not None
        assert error.reason is model.PollErrorReason.INVALID_IMAGE_ID


async def test_a_busy_account_caps_the_listing_at_half_the_batches(make_env: Any) -> None:
    env = make_env()
    for ami in amis(20_000):
        env.ec2.put(ami, "Completed")  # other tools' tasks, listed before ours
    ids = amis(900, start=100_000)
    for ami in ids:
        env.ec2.put(ami, "Completed")
    await subscribe_each(env, ids)
    pages = [c for c in env.ec2.calls if c.kind == "page"]
    batches = [c for c in env.ec2.calls if c.kind == "ids"]
    assert len(pages) == 45 // 2  # ImageIds would take 45 calls
    assert len(batches) == 45
    region = env.hub.region(REGION)
    assert all(region.amis[a].task == env.ec2.tasks[a] for a in ids)


async def test_fewer_unknown_amis_than_the_threshold_use_batches(make_env: Any) -> None:
    env = make_env()
    ids = amis(700)  # 35 batches: within AWS's burst of 50
    for ami in ids:
        env.ec2.put(ami, "Completed")
    await subscribe_each(env, ids)
    assert {c.kind for c in env.ec2.calls} == {"ids"}
    assert len(env.ec2.calls) == 35
