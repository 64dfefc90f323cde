"""The hub reports the budget-stretched interval serving a resource (for the stall threshold)."""

from __future__ import annotations

from typing import Any

from tests.unit.polling.test_poller import amis, make_env, spec, view_soon

__all__ = ["make_env"]  # the fixture, shared with test_poller


async def test_the_stretched_interval_is_reported_only_while_the_budget_stretches(
    make_env: Any,
) -> None:
    env = make_env(rate=0.5, burst=5)
    interval = 10.0
    small = amis(1, start=1000)
    env.ec2.put(small[0], "InProgress")
    await view_soon(env, "ns/small", spec(*small, interval=interval), within=60)
    await env.clock.advance(2 * interval)
    assert env.hub.stretched_interval("ns/small") is None  # one call an interval: no stretch
    assert env.hub.stretched_interval("ns/unknown") is None

    ids = amis(400)  # first seen: 20 ImageIds calls on a budget of one call per 2 s
    for ami in ids:
        env.ec2.put(ami, "InProgress")
    await view_soon(env, "ns/big", spec(*ids, interval=interval), within=60)
    seen: list[float | None] = []
    for _ in range(30):  # the stretch is measured when the next regular cycle starts
        await env.clock.advance(1.0)
        seen.append(env.hub.stretched_interval("ns/big"))
        # Every resource of the region sees the same: they share its poller.
        assert env.hub.stretched_interval("ns/small") == seen[-1]
    stretched = [value for value in seen if value is not None]
    assert stretched
    assert min(stretched) > interval
    assert max(env.metrics.effective) in stretched
    # Then one InProgress listing serves all 400: the stretch ends, and so does the report.
    assert seen[-1] is None
