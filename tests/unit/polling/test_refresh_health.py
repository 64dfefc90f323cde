"""Health signals of the refresh cycle: only answered calls count as a success."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import pytest
from amistore_operator.core import model

from tests.unit.polling.test_poller import IV, REGION, FakeAwsError, amis, make_env, spec, view_soon

__all__ = ["make_env"]  # the fixture, shared with test_poller

TIMEOUT = FakeAwsError(model.PollErrorReason.AWS_UNAVAILABLE, "Read timeout on endpoint URL")


async def test_a_hang_never_advances_the_success_time_and_the_backoff_keeps_growing(
    make_env: Any,
) -> None:
    env = make_env()
    (ami,) = amis(1)
    env.ec2.put(ami, "InProgress")
    await view_soon(env, "ns/a", spec(ami))
    refresher = env.hub.region(REGION).refresher
    assert len(env.metrics.success) == 1
    env.ec2.fail = TIMEOUT  # every call times out from now on
    hang = env.clock.now()
    streaks = []
    for _ in range(int(20 * IV)):
        await env.clock.advance(1.0)
        streaks.append(refresher.fail_streak)
    # Cycles in which nothing was due (the AMI waited out its backoff) are no success.
    assert [ts for ts in env.metrics.success if ts > hang] == []
    assert streaks == sorted(streaks)  # never reset while the fault lasts
    assert streaks[-1] >= 10
    times = [c.at for c in env.ec2.calls if c.at > hang]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= IV + 1e-6  # capped at one interval
    assert len(gaps) >= 20  # and never stuck
    # The fault ends: Synced within one interval, and the streak starts again from 0.
    env.ec2.fail = None
    fault_end = env.clock.now()
    await env.clock.advance(IV)
    assert env.hub.region(REGION).amis[ami].error is None
    assert fault_end < env.metrics.success[-1] <= fault_end + IV
    assert refresher.fail_streak == 0
    # Steady state: one call and one success per interval, nothing more.
    start = env.clock.now()
    recorded = len(env.metrics.success)
    await env.clock.advance(5 * IV)
    assert len(env.calls_between(start, start + 5 * IV)) == 5
    assert len(env.metrics.success) - recorded == 5
    assert refresher.fail_streak == 0


async def test_a_long_hang_keeps_the_backoff_capped_without_an_error(
    make_env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    env = make_env()
    (ami,) = amis(1)
    env.ec2.put(ami, "InProgress")
    fast = spec(ami, interval=5.0)
    await view_soon(env, "ns/a", fast)
    refresher = env.hub.region(REGION).refresher
    env.ec2.fail = TIMEOUT
    caplog.set_level(logging.WARNING)
    hang = env.clock.now()
    for _ in range(3 * 60):  # 3 hours: about 2.5 s a cycle, the backoff capped at 5 s
        await env.clock.advance(60.0)
    assert refresher.fail_streak > 1100  # 2 ** 1100 is no float
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert [ts for ts in env.metrics.success if ts > hang] == []


async def test_an_invalid_image_id_answered_by_aws_is_a_successful_poll(make_env: Any) -> None:
    env = make_env()
    (ami,) = amis(1)
    env.ec2.invalid.add(ami)
    view = await view_soon(env, "ns/a", spec(ami))
    assert view.error is not None
    assert view.error.reason is model.PollErrorReason.INVALID_IMAGE_ID
    start = env.clock.now()
    await env.clock.advance(5 * IV)
    # AWS answered every interval: the region polls fine, only this resource's ID is bad.
    assert len(env.calls_between(start, start + 5 * IV)) == 5
    assert len([ts for ts in env.metrics.success if ts > start]) == 5
    assert env.hub.region(REGION).refresher.fail_streak == 0
