"""Which calls a refresh cycle makes: a pure function of the cache, the grid and the time.

Everything due across all subscribed resources is served by the fewest calls:
ImageIds batches of 20, the listings resources read, a ``task-state=InProgress``
listing that refreshes every running AMI at once, a sweep of the unfiltered
listing for thousands of never-fetched AMIs, and a rolling unfiltered listing
when it re-checks many finished AMIs cheaper than ImageIds. Due times snap to a
grid of one poll interval anchored at the last regular cycle, so one call serves
every resource. No client, no asyncio, no clock: the time is an argument.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Sequence

from amistore_operator.core import model
from amistore_operator.polling import cache

IDS_PER_CALL = 20
PAGE_SIZE = 200
IN_PROGRESS = (model.TaskState.IN_PROGRESS.value,)
IN_PROGRESS_LISTING: cache.FilterKey = (None, IN_PROGRESS)
UNFILTERED_LISTING: cache.FilterKey = (None, ())
# Below this many ImageIds batches of never-fetched AMIs (AWS's burst is 50), batch them.
SWEEP_MIN_BATCHES = 40


def is_in_progress(task: model.StoreTask | None) -> bool:
    """Whether the task is running (so the InProgress listing shows it)."""
    return task is not None and task.state is model.TaskState.IN_PROGRESS


@dataclasses.dataclass(frozen=True)
class Memory:
    """What past cycles' listings taught the planner."""

    ip_pages: int = 1  # pages of the last task-state=InProgress listing
    roll_pages_total: int = 0  # pages of the last complete unfiltered listing
    roll_due: float = 0.0  # when the rolling listing reads its next pages


@dataclasses.dataclass(frozen=True)
class Due:
    """What a cycle starting now serves before anything is called."""

    regular: bool  # on the grid (only a regular cycle re-checks finished AMIs)
    rolling: bool  # finished AMIs are re-checked by the rolling listing, not ImageIds
    terminal: int  # tracked AMIs off the grid: a finished task, or none (rejected IDs aside)
    amis: list[str]  # the AMIs due, sorted


@dataclasses.dataclass(frozen=True)
class Plan:
    """The calls of one cycle; the ImageIds batches take what the listings left (``batches``)."""

    listings: list[cache.FilterKey]  # listing filter sets due, each read in full
    in_progress: list[str]  # due AMIs that are running
    in_progress_listing: bool  # list task-state=InProgress (it settles ``in_progress``)
    sweep_pages: int  # pages of the unfiltered listing for never-fetched AMIs (0: none)
    roll_pages: int  # pages of the rolling unfiltered listing (0: none)
    normal: list[str]  # due AMIs AWS accepts: ImageIds batches of 20
    invalid: list[str]  # due AMIs AWS rejected: one ImageIds call each


def next_wake(task_cache: cache.TaskCache, anchor: float | None, now: float) -> tuple[float, bool]:
    """When the next cycle is due, and whether something is due right now."""
    wake = now if anchor is None else anchor + task_cache.interval()
    entries: list[cache.AmiEntry | cache.ListingEntry] = [
        *task_cache.amis.values(),
        *task_cache.listings.values(),
    ]
    for item in entries:
        if item.forced:
            return now, True
        if item.retry_at is not None:
            wake = min(wake, item.retry_at)
        elif isinstance(item, cache.ListingEntry) or item.invalid or cache.on_the_grid(item):
            wake = min(wake, item.due)
    return wake, False


def snap(t: float, *, anchor: float | None, interval: float, now: float) -> float:
    """Align a due time to the region's grid, so one cycle serves every resource."""
    if anchor is None:
        return t
    aligned = anchor + math.floor((t - anchor) / interval + 1e-9) * interval
    if aligned <= now + cache.slack_for(interval):
        aligned += interval
    return aligned


def is_regular(anchor: float | None, now: float, interval: float) -> bool:
    """Whether a cycle starting ``now`` is on the grid (and so becomes its new anchor)."""
    return anchor is None or now >= anchor + interval - cache.slack_for(interval)


def rolling_mode(task_cache: cache.TaskCache, roll_pages_total: int, terminal: int) -> bool:
    """Whether a rolling unfiltered listing re-checks terminal AMIs cheaper than ImageIds.

    ``terminal``: AMIs whose task finished (an AMI without a task is never listed).
    """
    pages = max(roll_pages_total, math.ceil(len(task_cache.amis) / PAGE_SIZE), 1)
    # ImageIds: each terminal AMI every 7.5 intervals on average, 20 per call.
    return math.ceil(pages / 9) < terminal / (7.5 * IDS_PER_CALL)


def ami_due(
    entry: cache.AmiEntry, now: float, interval: float, *, regular: bool, rolling: bool
) -> bool:
    """Whether a cycle starting ``now`` polls this AMI."""
    if entry.forced:
        return True
    if entry.retry_at is not None:
        return entry.retry_at <= now + cache.slack_for(interval)
    if entry.invalid or cache.on_the_grid(entry):
        return entry.due <= now + cache.slack_for(interval)
    if not regular:
        return False
    # Off the grid: checked in the last regular cycle before its time, so never late. The
    # rolling listing re-checks finished tasks; an AMI without one it never shows.
    check = entry.deadline if rolling and entry.task is not None else entry.next_check
    return check <= now + interval + 1e-6


def due(task_cache: cache.TaskCache, memory: Memory, now: float, *, regular: bool) -> Due:
    """Whether a cycle starting ``now`` rolls, and the AMIs it polls (``is_regular`` first)."""
    interval = task_cache.interval()
    off_grid = [e for e in task_cache.amis.values() if not e.invalid and not cache.on_the_grid(e)]
    finished = sum(1 for e in off_grid if e.task is not None)
    rolling = rolling_mode(task_cache, memory.roll_pages_total, finished)
    amis = sorted(
        a
        for a, e in task_cache.amis.items()
        if ami_due(e, now, interval, regular=regular, rolling=rolling)
    )
    return Due(regular=regular, rolling=rolling, terminal=len(off_grid), amis=amis)


def calls(
    task_cache: cache.TaskCache, memory: Memory, now: float, due: Due, amis: Sequence[str]
) -> Plan:
    """The calls that serve ``amis`` (``due.amis`` but those a kept listing task settled)."""
    slack = cache.slack_for(task_cache.interval())
    invalid = [a for a in amis if task_cache.amis[a].invalid]
    normal = [a for a in amis if not task_cache.amis[a].invalid]
    in_progress = [a for a in normal if is_in_progress(task_cache.amis[a].task)]
    due_listings = [
        fk
        for fk, listing in task_cache.listings.items()
        if listing.forced or (listing.retry_at or listing.due) <= now + slack
    ]

    # The InProgress listing refreshes every tracked in-progress AMI at once, and it
    # shows a new store task of a finished AMI (a re-export) or of one without a task
    # yet, that the spread re-checks would find only up to 10 intervals later: each
    # regular cycle lists it while the region tracks such an AMI, in ceil(running / 200)
    # calls.
    ip_cost = (
        0
        if IN_PROGRESS_LISTING in due_listings
        else max(memory.ip_pages, math.ceil(len(in_progress) / PAGE_SIZE))
    )
    with_listing = ip_cost + math.ceil((len(normal) - len(in_progress)) / IDS_PER_CALL)
    use_ip = (due.regular and due.terminal > 0) or (
        bool(in_progress) and with_listing < math.ceil(len(normal) / IDS_PER_CALL)
    )

    roll_pages = 0
    if due.rolling and due.regular and memory.roll_due <= now + slack:
        pages = max(memory.roll_pages_total, len(task_cache.amis) / PAGE_SIZE, 1)
        roll_pages = math.ceil(pages / 9)
    return Plan(
        listings=due_listings,
        in_progress=in_progress,
        in_progress_listing=bool(use_ip and ip_cost),
        sweep_pages=sweep_pages(task_cache, memory.roll_pages_total, normal),
        roll_pages=roll_pages,
        normal=normal,
        invalid=invalid,
    )


def sweep_pages(task_cache: cache.TaskCache, roll_pages_total: int, due: Sequence[str]) -> int:
    """Pages of the unfiltered listing worth spending on never-fetched AMIs (0: none).

    At a start or a large apply, ImageIds batches for thousands of unknown AMIs
    would drain the budget for minutes; a listing, 200 tasks a page, newest
    first, finds them in a tenth of the calls. Only when that saves at least
    half, and at most half the batches' cost is spent: what it did not find
    (no task, a rejected ID, an account with many more tasks) goes by ImageIds.
    """
    unknown = sum(1 for a in due if not task_cache.amis[a].known)
    batches = math.ceil(unknown / IDS_PER_CALL)
    if batches < SWEEP_MIN_BATCHES:
        return 0
    estimate = max(roll_pages_total, math.ceil(len(task_cache.amis) / PAGE_SIZE), 1)
    return batches // 2 if estimate <= batches // 2 else 0


def batches(plan: Plan, settled: Collection[str], tracked: Collection[str]) -> list[list[str]]:
    """ImageIds calls for what the listings did not settle; known-bad IDs go alone.

    ``settled``: AMIs the cycle settled so far; ``tracked``: AMIs still in the cache.
    """
    remaining = [a for a in plan.normal if a not in settled and a in tracked]
    calls = [remaining[i : i + IDS_PER_CALL] for i in range(0, len(remaining), IDS_PER_CALL)]
    calls += [[a] for a in plan.invalid if a not in settled and a in tracked]
    return calls
