"""The cache's entries and what is true of one: pure values, no clock or IO.

One ``AmiEntry`` per tracked AMI, one ``ListingEntry`` per listing filter set, one
``Subscription`` per resource; whether an entry is on the grid (polled every interval) and
which of two store tasks is the later.
"""

from __future__ import annotations

import dataclasses

from amistore_operator.core import model

FilterKey = tuple[str | None, tuple[str, ...]]


@dataclasses.dataclass
class AmiEntry:
    """The cache entry of one tracked AMI."""

    task: model.StoreTask | None = None
    known: bool = False  # fetched (or seeded from a status) at least once
    attempted_at: float | None = None
    error: model.PollError | None = None
    invalid: bool = False  # AWS rejected the ID: poll it alone
    forced: bool = False  # due now (new, woken or changed)
    due: float = 0.0  # active / invalid: next poll
    next_check: float = 0.0  # off the grid (see on_the_grid): spread re-check (ImageIds)
    deadline: float = 0.0  # a finished task: hard re-check (rolling-listing mode)
    retry_at: float | None = None  # after a failed call: backoff
    awaiting: set[str] = dataclasses.field(default_factory=set)  # keys that asked AWS for it


@dataclasses.dataclass
class ListingEntry:
    """The cache entry of one listing filter set."""

    tasks: dict[str, model.StoreTask] = dataclasses.field(default_factory=dict)
    known: bool = False
    attempted_at: float | None = None
    error: model.PollError | None = None
    forced: bool = True
    due: float = 0.0
    retry_at: float | None = None


@dataclasses.dataclass
class Subscription:
    """One resource's spec and when it was last handed a view."""

    spec: model.AmiStoreSpec
    served_at: float | None = None
    awaiting: frozenset[str] = frozenset()  # AMIs it asked AWS to store, not listed yet


def filter_key(spec: model.AmiStoreSpec) -> FilterKey:
    """The listing filter set a spec without image IDs reads."""
    return spec.bucket, tuple(sorted(spec.task_states))


def slack_for(interval: float) -> float:
    """How old data may be and still count as this interval's refresh."""
    return min(5.0, interval / 4)


def is_active(task: model.StoreTask | None) -> bool:
    """Whether the task may still change (not started yet, or not finished)."""
    return task is None or task.state not in model.TERMINAL_STATES


def on_the_grid(entry: AmiEntry) -> bool:
    """Whether the AMI is polled every interval: never fetched, requested, or its task runs.

    A finished task, or none at all (an AMI no store task has reached yet), changes only
    when a new store task starts, and the InProgress listing each regular cycle reads
    while such AMIs are tracked shows that (see ``plan``). They are re-checked by
    ImageIds every 5 to 10 intervals, for a task that started and ended between two
    listings; but an AMI the operator asked AWS to store is polled every interval
    until its task is listed, so a task that ends fast is still seen within one.
    """
    return (
        not entry.known
        or bool(entry.awaiting)
        or (entry.task is not None and is_active(entry.task))
    )


def newer(a: model.StoreTask, b: model.StoreTask | None) -> bool:
    """Whether ``a`` is the same or a later store task than ``b``."""
    if b is None or a.start_time is None or b.start_time is None:
        return True
    return a.start_time >= b.start_time


def later(a: model.StoreTask, b: model.StoreTask | None) -> bool:
    """Whether ``a`` is a later store task than ``b`` (None: no task known)."""
    if b is None:
        return True
    return a.start_time is not None and b.start_time is not None and a.start_time > b.start_time
