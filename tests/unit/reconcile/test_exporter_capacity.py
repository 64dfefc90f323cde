"""The exporter within AWS's store capacity and --max-concurrent-stores; retries by annotation."""

from __future__ import annotations

import asyncio
import datetime
import itertools
from typing import Any

from amistore_operator.aws import errors
from amistore_operator.core import model
from amistore_operator.reconcile import exporter

from tests.unit.reconcile.test_exporter import (
    ALLOW,
    BUCKET,
    SECOND,
    SPEC,
    T0,
    Clock,
    FakeCreate,
    inline,
)

HOUR = datetime.timedelta(hours=1)
AMIS = tuple(f"ami-{n:08x}" for n in range(1, 7))
SIX = model.AmiStoreSpec(**{**SPEC.__dict__, "image_ids": AMIS})
OTHER = model.AmiStoreSpec(**{**SPEC.__dict__, "image_ids": tuple(f"ami-{n:08x}" for n in (7, 8))})
FULL = errors.AwsError(
    model.PollErrorReason.INVALID_REQUEST, "ResourceLimitExceeded", "1200 GB in progress"
)


def make(fake: FakeCreate, clock: Clock, max_concurrent: int = 0) -> exporter.Exporter:
    return exporter.Exporter(
        permission=ALLOW,
        client_factory=lambda account, region: fake,
        rate=0.1,
        burst=50,
        runner=inline,
        monotonic=clock,
        max_concurrent=max_concurrent,
    )


def nothing(spec: model.AmiStoreSpec) -> model.ResourceView:
    return model.ResourceView(tasks=dict.fromkeys(spec.image_ids), error=None)


def running(spec: model.AmiStoreSpec, started: set[str]) -> model.ResourceView:
    tasks = {
        a: model.StoreTask(a, model.TaskState.IN_PROGRESS, 10, bucket=BUCKET, start_time=T0)
        if a in started
        else None
        for a in spec.image_ids
    }
    return model.ResourceView(tasks=tasks, error=None)


def run(
    ex: exporter.Exporter,
    spec: model.AmiStoreSpec,
    view: model.ResourceView,
    previous: dict[str, Any],
    now: datetime.datetime,
    key: str = "ns/store",
    **retry: Any,
) -> exporter.Step:
    """One poll whose status the API then stored (its requests may be called)."""
    result = asyncio.run(ex.step(key, "team-a", spec, view, previous, now, **retry))
    assert result is not None
    ex.written(key)
    return result


def created(fake: FakeCreate) -> list[str]:
    return [c[1] for c in fake.calls if c[0] == "create"]


def requested(step: exporter.Step) -> set[str]:
    return {a for a, e in step.entries.items() if e.get("requestedTime")}


def waiting(step: exporter.Step) -> set[str]:
    return {
        a for a, e in step.entries.items() if e["state"] == "Queued" and "requestedTime" not in e
    }


def test_the_cap_holds_requests_and_the_rest_wait_unrequested() -> None:
    fake, clock = FakeCreate(), Clock()
    ex = make(fake, clock, max_concurrent=2)
    first = run(ex, SIX, nothing(SIX), {}, T0)
    assert requested(first) == set(AMIS[:2])
    assert waiting(first) == set(AMIS[2:])
    second = run(ex, SIX, nothing(SIX), first.entries, T0 + 2 * SECOND)
    assert created(fake) == list(AMIS[:2])
    # Steady while the two run: no new request, waiting entries unchanged (no status write).
    previous = second.entries
    for n in range(3, 8):
        clock.now = 2.0 * n
        later = run(ex, SIX, running(SIX, set(AMIS[:2])), previous, T0 + 2 * n * SECOND)
        assert {a: e for a, e in later.entries.items() if a in AMIS[2:]} == {
            a: e for a, e in first.entries.items() if a in AMIS[2:]
        }
        previous = later.entries
    assert created(fake) == list(AMIS[:2])
    # One finishes: the poll that sees it takes the slot, one new request, its create.
    done = running(SIX, {AMIS[1]})
    done.tasks[AMIS[0]] = model.StoreTask(AMIS[0], model.TaskState.COMPLETED, 100, bucket=BUCKET)
    freed = run(ex, SIX, done, previous, T0 + 20 * SECOND)
    assert requested(freed) == {AMIS[2]}
    assert waiting(freed) == set(AMIS[3:])
    run(ex, SIX, done, freed.entries, T0 + 22 * SECOND)
    assert created(fake) == [*AMIS[:2], AMIS[2]]


def test_a_slot_freed_is_taken_by_the_poll_that_sees_the_store_finish() -> None:
    fake, clock = FakeCreate(), Clock()
    ex = make(fake, clock, max_concurrent=2)
    first = run(ex, SIX, nothing(SIX), {}, T0)
    second = run(ex, SIX, nothing(SIX), first.entries, T0 + 2 * SECOND)
    clock.now = 4.0
    steady = run(ex, SIX, running(SIX, set(AMIS[:2])), second.entries, T0 + 4 * SECOND)
    done = running(SIX, {AMIS[1]})
    done.tasks[AMIS[0]] = model.StoreTask(AMIS[0], model.TaskState.COMPLETED, 100, bucket=BUCKET)
    clock.now = 6.0
    freed = run(ex, SIX, done, steady.entries, T0 + 6 * SECOND)
    assert requested(freed) == {AMIS[2]}


def test_the_cap_is_shared_by_every_amistore_of_the_account_and_region() -> None:
    fake, clock = FakeCreate(), Clock()
    ex = make(fake, clock, max_concurrent=3)
    mine = run(ex, SIX, nothing(SIX), {}, T0)
    theirs = run(ex, OTHER, nothing(OTHER), {}, T0, key="ns/other")
    assert len(requested(mine)) == 3
    assert requested(theirs) == set()
    assert waiting(theirs) == set(OTHER.image_ids)


def test_slots_freed_go_to_the_amistore_waiting_not_all_to_the_one_that_held_them() -> None:
    fake, clock = FakeCreate(), Clock()
    ex = make(fake, clock, max_concurrent=4)
    mine = run(ex, SIX, nothing(SIX), {}, T0)
    theirs = run(ex, OTHER, nothing(OTHER), {}, T0, key="ns/other")
    assert len(requested(mine)) == 4
    assert waiting(theirs) == set(OTHER.image_ids)
    mine = run(ex, SIX, nothing(SIX), mine.entries, T0 + 2 * SECOND)
    assert created(fake) == list(AMIS[:4])
    # Two of its four finish; it still has two AMIs waiting, and so does the other.
    half = running(SIX, set(AMIS[2:4]))
    for ami_id in AMIS[:2]:
        half.tasks[ami_id] = model.StoreTask(ami_id, model.TaskState.COMPLETED, 100, bucket=BUCKET)
    for n in (2, 3, 4):
        clock.now = 2.0 * n
        mine = run(ex, SIX, half, mine.entries, T0 + 2 * n * SECOND)
        assert requested(mine) == set()  # it holds its share (2 of 4) while another waits
    theirs = run(ex, OTHER, nothing(OTHER), theirs.entries, T0 + 10 * SECOND, key="ns/other")
    assert requested(theirs) == set(OTHER.image_ids)


def test_an_amistore_forgotten_releases_its_slots() -> None:
    # E.g. its spec is now rejected: it polls no more, and holds nothing for good.
    fake, clock = FakeCreate(), Clock()
    ex = make(fake, clock, max_concurrent=2)
    mine = run(ex, SIX, nothing(SIX), {}, T0)
    run(ex, SIX, running(SIX, set(AMIS[:2])), mine.entries, T0 + 2 * SECOND)
    theirs = run(ex, OTHER, nothing(OTHER), {}, T0 + 2 * SECOND, key="ns/other")
    assert requested(theirs) == set()
    ex.forget("ns/store")
    assert not ex.counted("ns/store")
    theirs = run(ex, OTHER, nothing(OTHER), theirs.entries, T0 + 4 * SECOND, key="ns/other")
    assert requested(theirs) == set(OTHER.image_ids)


def test_a_refusal_for_capacity_withdraws_the_request_and_waits() -> None:
    fake, clock = FakeCreate(), Clock()
    ex = make(fake, clock)
    first = run(ex, SIX, nothing(SIX), {}, T0)
    assert requested(first) == set(AMIS)
    fake.refuse = {a: FULL for a in AMIS[2:]}
    second = run(ex, SIX, nothing(SIX), first.entries, T0 + 2 * SECOND)
    # Two taken; the third refused for capacity: it and the rest are withdrawn, uncalled.
    assert created(fake) == list(AMIS[:3])
    assert [e.reason for e in second.events] == ["StoreRequested", "StoreRequested"]
    assert requested(second) == set(AMIS[:2])
    assert waiting(second) == set(AMIS[2:])
    # Within the interval nothing more is requested or called, whatever the polls.
    two = running(SIX, set(AMIS[:2]))
    previous = second.entries
    for n in range(3, 8):
        clock.now = 0.1 * n
        later = run(ex, SIX, two, previous, T0 + 2 * SECOND)
        assert requested(later) == set()
        previous = later.entries
    assert len(created(fake)) == 3
    # A running task finishes, an interval after the refusal: one new request.
    clock.now = 2.5
    one = running(SIX, {AMIS[1]})
    one.tasks[AMIS[0]] = model.StoreTask(AMIS[0], model.TaskState.COMPLETED, 100, bucket=BUCKET)
    again = run(ex, SIX, one, previous, T0 + 6 * SECOND)
    assert requested(again) == set(AMIS[2:])


def test_refusals_back_off_doubling_at_most_one_per_interval() -> None:
    fake, clock = FakeCreate(), Clock()
    fake.refuse = dict.fromkeys(AMIS, FULL)
    ex = make(fake, clock)
    previous: dict[str, Any] = {}
    calls_at: list[float] = []
    for tick in range(0, 200):
        clock.now = 0.5 * tick
        step = run(ex, SIX, nothing(SIX), previous, T0 + tick * SECOND // 2)
        if len(created(fake)) > len(calls_at):
            calls_at.append(clock.now)
        previous = step.entries
    gaps = [b - a for a, b in itertools.pairwise(calls_at)]
    assert len(calls_at) == len(created(fake))  # one refused create per step at most
    assert all(gap >= SPEC.poll_interval for gap in gaps), gaps
    assert gaps[:4] == sorted(gaps[:4]), gaps
    assert gaps[3] >= 4 * gaps[0], gaps


def test_a_retry_annotation_restarts_failed_tasks_once_even_when_they_must_wait() -> None:
    fake, clock = FakeCreate(), Clock()
    ex = make(fake, clock, max_concurrent=1)
    failed: dict[str, model.StoreTask | None] = {
        a: model.StoreTask(a, model.TaskState.FAILED, 0, bucket=BUCKET, start_time=T0 - HOUR)
        for a in OTHER.image_ids
    }
    view = model.ResourceView(tasks=failed, error=None)
    quiet = run(ex, OTHER, view, {}, T0, key="ns/other")
    assert quiet.entries == {}
    assert quiet.retry_handled is None
    asked = run(ex, OTHER, view, {}, T0, key="ns/other", retry_requested="r1")
    assert asked.retry_handled == "r1"
    assert len(requested(asked)) == 1
    assert len(waiting(asked)) == 1
    # The handled value is recorded: the waiting one still goes once a slot frees.
    later = run(
        ex,
        OTHER,
        view,
        asked.entries,
        T0 + 2 * SECOND,
        key="ns/other",
        retry_requested="r1",
        retry_handled="r1",
    )
    assert len(created(fake)) == 1
    assert waiting(later) == waiting(asked)


def test_a_spec_change_rechecks_a_refused_preflight_at_once() -> None:
    fake, clock = FakeCreate(), Clock()
    fake.denied = errors.AwsError(
        model.PollErrorReason.ACCESS_DENIED, "UnauthorizedOperation", "no"
    )
    ex = make(fake, clock)
    for _ in range(5):  # three AMIs tried (IAM may be scoped per AMI), then it waits
        asyncio.run(ex.step("ns/store", "team-a", SIX, nothing(SIX), {}, T0, generation=1))
    assert [c[1] for c in fake.calls] == list(AMIS[:3])
    fake.denied = None
    result = asyncio.run(ex.step("ns/store", "team-a", SIX, nothing(SIX), {}, T0, generation=2))
    assert result is not None
    assert result.condition is not None
    assert result.condition[1] == "True"
    assert [c[0] for c in fake.calls] == ["preflight"] * 4


def test_after_a_restart_the_stored_statuses_count_before_their_first_poll() -> None:
    fake, clock = FakeCreate(), Clock()
    ex = make(fake, clock, max_concurrent=4)
    stored: list[dict[str, Any]] = [
        {"amiId": AMIS[0], "state": "InProgress", "progressPercentage": 5},
        {"amiId": AMIS[1], "state": "InProgress", "progressPercentage": 9},
        {"amiId": AMIS[2], "state": "Queued", "requestedTime": "2026-01-01T00:00:00Z"},
        {"amiId": AMIS[3], "state": "Queued"},  # waiting: not in flight
        {"amiId": AMIS[4], "state": "Completed", "progressPercentage": 100},
    ]
    ex.seed("ns/store", SIX, stored)
    theirs = run(ex, OTHER, nothing(OTHER), {}, T0, key="ns/other")
    assert len(requested(theirs)) == 1  # 4 - 3 in flight
    # A seed never overrides what a poll found.
    ex.seed("ns/other", OTHER, [])
    again = run(ex, OTHER, nothing(OTHER), theirs.entries, T0 + SECOND, key="ns/other")
    assert requested(again) == requested(theirs)


def test_two_amistores_polled_at_once_share_one_dry_run() -> None:
    fake, clock = FakeCreate(), Clock()
    gate = asyncio.Event()

    async def slow(fn: Any, *args: Any) -> Any:
        await gate.wait()
        return fn(*args)

    ex = exporter.Exporter(
        permission=ALLOW,
        client_factory=lambda account, region: fake,
        rate=0.1,
        burst=50,
        runner=slow,
        monotonic=clock,
    )

    async def both() -> None:
        first = asyncio.create_task(ex.step("ns/a", "team-a", SIX, nothing(SIX), {}, T0))
        second = asyncio.create_task(ex.step("ns/b", "team-a", OTHER, nothing(OTHER), {}, T0))
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(first, second)

    asyncio.run(both())
    assert [c[0] for c in fake.calls] == ["preflight"]
