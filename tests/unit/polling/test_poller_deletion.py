"""Deleting an AmiStore while its daemon waits in the poller ends the daemon cleanly."""

from __future__ import annotations

import asyncio
import datetime
import logging
from typing import Any

import pytest
from amistore_operator.observe import metrics
from amistore_operator.reconcile import resource, service

from tests.unit.polling.test_poller import IV, REGION, amis, make_env

__all__ = ["make_env"]  # the fixture, shared with test_poller

NOW = datetime.datetime(2026, 11, 27, 4, 0, tzinfo=datetime.UTC)


async def test_deleting_a_one_ami_amistore_mid_wait_leaves_no_traceback(
    make_env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    env = make_env()
    (ami,) = amis(1)
    env.ec2.put(ami, "InProgress")
    collector = metrics.TaskCollector()
    svc = service.AmiStoreService(
        hub=env.hub,
        collector=collector,
        default_region=REGION,
        default_interval=IV,
        clock=lambda: NOW,
    )
    ref = resource.ResourceRef(namespace="team", name="golden")
    raw = {"imageIds": [ami], "region": REGION, "pollIntervalSeconds": int(IV)}
    stopped = asyncio.Event()
    polls = 0

    def read() -> resource.Snapshot:
        return resource.Snapshot(raw, None, 1)

    async def daemon() -> None:
        # What the kopf daemon in handlers.py does.
        nonlocal polls
        try:
            while not stopped.is_set() and not svc.closed:
                await svc.poll(ref, read)
                polls += 1
        finally:
            svc.forget(ref)

    caplog.set_level(logging.DEBUG)
    task = asyncio.create_task(daemon())
    await env.clock.advance(3)
    assert polls == 1  # the first poll was served; the second waits for the next refresh
    region = env.hub.region(REGION)
    assert set(region.amis) == {ami}
    # The DELETED watch event (handlers.watched), then kopf stops the daemon.
    svc.forget(ref)
    stopped.set()
    await env.clock.settle()
    assert task.done()
    assert task.exception() is None
    assert region.amis == {}
    series = [s for m in collector.collect() for s in m.samples if s.labels.get("name") == "golden"]
    assert series == []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
    # Steady state: nothing more is polled for it.
    env.ec2.calls.clear()
    await env.clock.advance(5 * IV)
    assert env.ec2.calls == []


async def test_a_poll_released_by_deletion_records_and_writes_nothing(make_env: Any) -> None:
    env = make_env()
    (ami,) = amis(1)
    env.ec2.put(ami, "InProgress")
    collector = metrics.TaskCollector()
    svc = service.AmiStoreService(
        hub=env.hub, collector=collector, default_region=REGION, default_interval=IV
    )
    ref = resource.ResourceRef(namespace="team", name="golden")
    raw = {"imageIds": [ami], "region": REGION, "pollIntervalSeconds": int(IV)}

    def read() -> resource.Snapshot:
        return resource.Snapshot(raw, None, 1)

    polling = asyncio.create_task(svc.poll(ref, read))
    await env.clock.advance(3)
    assert polling.result().changed
    waiting = asyncio.create_task(svc.poll(ref, read))
    await env.clock.advance(1)
    assert not waiting.done()
    svc.forget(ref)  # the DELETED event, before kopf stops the daemon
    await env.clock.settle()
    released = waiting.result()
    # Nothing to write to an object being deleted, and no series brought back for it.
    assert not released.changed
    assert released.events == ()
    series = [s for m in collector.collect() for s in m.samples if s.labels.get("name") == "golden"]
    assert series == []
