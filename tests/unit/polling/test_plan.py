"""Call planning as a pure function of plain cache entries, the grid and a time: no client."""

from __future__ import annotations

import random

from amistore_operator.core import model
from amistore_operator.polling import cache, plan

from tests.unit.polling.test_poller import FakeClock, amis

IV = 60.0  # the interval of a cache nobody subscribed to
NOW = 1_700_000_000.0
IN_PROGRESS = model.TaskState.IN_PROGRESS
COMPLETED = model.TaskState.COMPLETED


def task(ami: str, state: model.TaskState) -> model.StoreTask:
    return model.StoreTask(ami, state, 100 if state is COMPLETED else 50, "bkt")


def region(**entries: cache.AmiEntry) -> cache.TaskCache:
    tc = cache.TaskCache(clock=FakeClock(), rng=random.Random(1), on_change=lambda: None)
    tc.amis.update(entries)
    return tc


def running(ami: str, due: float = NOW) -> cache.AmiEntry:
    return cache.AmiEntry(task=task(ami, IN_PROGRESS), known=True, due=due)


def finished(ami: str, check: float) -> cache.AmiEntry:
    return cache.AmiEntry(task=task(ami, COMPLETED), known=True, next_check=check, deadline=check)


def plan_now(tc: cache.TaskCache, *, regular: bool, memory: plan.Memory | None = None) -> plan.Plan:
    memory = memory or plan.Memory()
    due = plan.due(tc, memory, NOW, regular=regular)
    return plan.calls(tc, memory, NOW, due, due.amis)


def test_a_finished_ami_is_rechecked_only_by_a_regular_cycle_before_its_time() -> None:
    a, b, c, d = amis(4)
    tc = region(
        **{a: finished(a, NOW + IV), b: finished(b, NOW + 3 * IV), c: running(c, due=NOW + 2)}
    )
    tc.amis[d] = cache.AmiEntry(forced=True)  # new: due at once, whatever the cycle
    assert plan.due(tc, plan.Memory(), NOW, regular=True).amis == [a, c, d]
    # Between grid points only what is forced or due runs (c is within the slack).
    assert plan.due(tc, plan.Memory(), NOW, regular=False).amis == [c, d]


def test_an_ami_backing_off_waits_for_its_retry_time() -> None:
    a, b = amis(2)
    tc = region(**{a: running(a), b: running(b)})
    tc.amis[a].retry_at = NOW + 30
    assert plan.due(tc, plan.Memory(), NOW, regular=True).amis == [b]
    assert plan.due(tc, plan.Memory(), NOW + 30, regular=False).amis == [a, b]


def test_many_running_amis_are_read_from_one_in_progress_listing() -> None:
    tc = region(**{a: running(a) for a in amis(100)})
    p = plan_now(tc, regular=False)
    assert p.in_progress_listing
    assert len(p.in_progress) == 100
    assert plan.batches(p, settled=set(p.in_progress), tracked=tc.amis) == []


def test_a_few_running_amis_go_by_image_ids_when_that_is_no_dearer() -> None:
    tc = region(**{a: running(a) for a in amis(15)})
    p = plan_now(tc, regular=False)
    assert not p.in_progress_listing
    assert [len(b) for b in plan.batches(p, settled=set(), tracked=tc.amis)] == [15]


def test_a_regular_cycle_lists_in_progress_while_a_finished_ami_is_tracked() -> None:
    # A finished AMI may be exported again: only the InProgress listing shows it soon.
    a, b = amis(2)
    tc = region(**{a: running(a), b: finished(b, NOW + 5 * IV)})
    assert plan_now(tc, regular=True).in_progress_listing
    assert not plan_now(tc, regular=False).in_progress_listing


def test_a_due_in_progress_subscription_makes_the_extra_listing_free() -> None:
    tc = region(**{a: running(a) for a in amis(100)})
    tc.listings[plan.IN_PROGRESS_LISTING] = cache.ListingEntry(forced=True)
    p = plan_now(tc, regular=False)
    assert p.listings == [plan.IN_PROGRESS_LISTING]
    assert not p.in_progress_listing  # the subscribed listing serves them


def test_thousands_of_never_fetched_amis_are_swept_from_the_unfiltered_listing() -> None:
    tc = region(**{a: cache.AmiEntry(forced=True) for a in amis(1000)})
    # 50 ImageIds batches; the listing holds them in ~5 pages: spend at most 25.
    assert plan_now(tc, regular=True).sweep_pages == 25
    # If the account lists more tasks than that, ImageIds it is.
    assert plan_now(tc, regular=True, memory=plan.Memory(roll_pages_total=26)).sweep_pages == 0
    few = region(**{a: cache.AmiEntry(forced=True) for a in amis(500)})
    assert plan_now(few, regular=True).sweep_pages == 0  # 25 batches: within AWS's burst


def test_many_finished_amis_are_rechecked_by_a_rolling_listing() -> None:
    tc = region(**{a: finished(a, NOW + 10 * IV) for a in amis(2000)})
    due = plan.due(tc, plan.Memory(), NOW, regular=True)
    assert due.rolling
    assert due.terminal == 2000
    # 10 pages of 200 read over 9 cycles: 2 a cycle, once the last roll's time came.
    assert plan_now(tc, regular=True).roll_pages == 2
    assert plan_now(tc, regular=True, memory=plan.Memory(roll_due=NOW + IV)).roll_pages == 0
    assert plan_now(tc, regular=False).roll_pages == 0
    few = region(**{a: finished(a, NOW + 10 * IV) for a in amis(100)})
    assert not plan.due(few, plan.Memory(), NOW, regular=True).rolling


def test_image_ids_take_what_the_listings_left_and_rejected_ids_go_alone() -> None:
    ids = amis(47)
    tc = region(**{a: cache.AmiEntry(forced=True) for a in ids})
    bad = ids[-1]
    tc.amis[bad].invalid = True
    p = plan_now(tc, regular=False)
    assert p.invalid == [bad]
    settled = {ids[0]}
    tracked = set(ids) - {ids[1]}  # forgotten while the listings ran
    batches = plan.batches(p, settled=settled, tracked=tracked)
    assert [len(b) for b in batches] == [20, 20, 4, 1]
    assert batches[-1] == [bad]
    assert batches[0] == ids[2:22]


def test_due_times_snap_to_the_grid_of_the_last_regular_cycle() -> None:
    anchor = NOW - 10
    assert plan.snap(anchor + 2 * IV + 3, anchor=anchor, interval=IV, now=NOW) == anchor + 2 * IV
    # A grid point within the slack of now is this cycle's: the next one it is.
    assert plan.snap(NOW + 47, anchor=anchor, interval=IV, now=NOW) == anchor + IV
    assert plan.snap(NOW + 47, anchor=None, interval=IV, now=NOW) == NOW + 47
    assert plan.is_regular(None, NOW, IV)
    assert plan.is_regular(anchor, anchor + IV - cache.slack_for(IV), IV)
    assert not plan.is_regular(anchor, anchor + IV / 2, IV)


def test_the_next_wake_is_the_grid_or_an_earlier_due_item() -> None:
    a, b = amis(2)
    tc = region(**{a: running(a, due=NOW + 20), b: finished(b, NOW + 1)})
    assert plan.next_wake(tc, NOW - 10, NOW) == (NOW + 20, False)
    tc.amis[a].due = NOW + 90
    assert plan.next_wake(tc, NOW - 10, NOW) == (NOW + 50, False)  # finished AMIs wait
    tc.amis[a].retry_at = NOW + 5
    assert plan.next_wake(tc, NOW - 10, NOW) == (NOW + 5, False)
    tc.amis[b].forced = True
    assert plan.next_wake(tc, NOW - 10, NOW) == (NOW, True)
