"""What a refresh cycle's answers settle: the cache entries of AMIs and listings.

An AMI's answer sets its task and when it is polled next (on the grid while it
runs, spread over 5 to 10 intervals once it finished or while it has none); a
failure records the error for the backoff; a rejected ID is polled alone from
then on. Tasks a listing shows for AMIs nobody tracks yet are kept for a
while, so a resource that subscribes shortly after finds them without a call
of its own.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterable

from amistore_operator.core import model
from amistore_operator.polling import cache, clock, plan

# How long a listing's task for an AMI nobody tracks yet is kept (at least; the region's
# interval if longer), for a resource that subscribes later: at start-up thousands
# arrive over tens of seconds, and data one interval old is what a poll guarantees.
UNCLAIMED_SECONDS = 30.0


@dataclasses.dataclass
class Cycle:
    """What one refresh cycle has done so far."""

    start: float
    regular: bool
    attempted: set[str] = dataclasses.field(default_factory=set)  # AMIs settled this cycle
    errored_amis: list[cache.AmiEntry] = dataclasses.field(default_factory=list)
    errored_listings: list[cache.ListingEntry] = dataclasses.field(default_factory=list)
    answered: int = 0  # calls AWS answered (an InvalidImageId included)
    failed: bool = False


class Settler:
    """Writes answers into one region's cache; keeps listed tasks of untracked AMIs."""

    def __init__(
        self,
        task_cache: cache.TaskCache,
        *,
        clock: clock.Clock,
        rng: random.Random,
        snap: Callable[[float], float],
    ) -> None:
        self._cache = task_cache
        self._clock = clock
        self._rng = rng
        self._snap = snap  # aligns a due time to the region's grid
        # Tasks listings showed for AMIs nobody tracked yet, with when: AMI -> (task, time).
        self.unclaimed: dict[str, tuple[model.StoreTask, float]] = {}

    def keep(self) -> float:
        """How long a listing's tasks for AMIs nobody tracks yet are kept."""
        return max(UNCLAIMED_SECONDS, self._cache.interval())

    def claim(self, due: list[str], now: float, cyc: Cycle) -> list[str]:
        """Settle new AMIs a recent listing already showed; the rest of ``due`` is returned."""
        if not self.unclaimed:
            return due
        cutoff = now - self.keep()
        self.unclaimed = {a: kept for a, kept in self.unclaimed.items() if kept[1] >= cutoff}
        rest = []
        for ami in due:
            kept = self.unclaimed.pop(ami, None)
            entry = self._cache.amis[ami]
            if kept is not None and entry.forced and not entry.known:
                self.settle(ami, kept[0], cyc)
            else:
                rest.append(ami)
        return rest

    def observe(
        self, tasks: Iterable[model.StoreTask], cyc: Cycle, *, complete: bool = True
    ) -> None:
        """A listing saw these tasks: an AMI's newest task there is its latest state.

        Only if the listing is ``complete``, i.e. shows every AMI's latest task
        (unfiltered, or InProgress), or the task is running (one store task per AMI
        runs at a time, so it is the newest). A bucket- or finished-state-filtered
        listing may hide a newer task in another bucket: its finished tasks neither
        settle a tracked AMI (nor postpone its re-check) nor are kept for ``claim``.
        """
        now = self._clock.now()
        for task in tasks:
            if not complete and not plan.is_in_progress(task):
                continue
            entry = self._cache.amis.get(task.ami_id)
            if entry is None:
                kept = self.unclaimed.get(task.ami_id)
                if kept is None or cache.newer(task, kept[0]):
                    self.unclaimed[task.ami_id] = (task, now)
            elif cache.newer(task, entry.task):
                self.settle(task.ami_id, task, cyc)

    def settle(self, ami: str, task: model.StoreTask | None, cyc: Cycle) -> None:
        """AWS answered for ``ami``: ``task`` is its latest store task (None: it has none)."""
        entry = self._cache.amis.get(ami)
        if entry is None:
            return  # forgotten while the call ran
        if task is None and not cache.is_active(entry.task):
            task = entry.task  # AWS forgot a finished task (31 days): it stays finished
        now = self._clock.now()
        entry.task, entry.known, entry.error = task, True, None
        entry.invalid = entry.forced = False
        entry.attempted_at, entry.retry_at = now, None
        cyc.attempted.add(ami)
        interval = self._cache.ami_interval(ami)
        if cache.on_the_grid(entry):
            entry.due = self._snap(cyc.start + interval)
        else:
            entry.next_check = now + self._rng.uniform(5, 10) * interval
            entry.deadline = now + 10 * interval

    def mark_error(self, ami: str, error: model.PollError, cyc: Cycle) -> None:
        """The call for ``ami`` failed: it keeps its data and backs off with the cycle."""
        entry = self._cache.amis.get(ami)
        if entry is None:
            return
        entry.error, entry.forced = error, False
        entry.attempted_at = self._clock.now()
        cyc.attempted.add(ami)
        cyc.errored_amis.append(entry)

    def mark_invalid(self, ami: str, error: model.PollError, cyc: Cycle) -> None:
        """AWS rejected the ID: it is polled alone, on the grid."""
        entry = self._cache.amis.get(ami)
        if entry is None:
            return
        entry.error, entry.invalid, entry.forced = error, True, False
        entry.attempted_at, entry.retry_at = self._clock.now(), None
        entry.due = self._snap(cyc.start + self._cache.ami_interval(ami))
        cyc.attempted.add(ami)

    def listing_answered(
        self, fk: cache.FilterKey, tasks: dict[str, model.StoreTask], cyc: Cycle
    ) -> None:
        """A listing resources read came back whole: its tasks, and the AMIs it settles."""
        # A bucket or a finished state filtered out what may be an AMI's newer task.
        complete = fk in (plan.UNFILTERED_LISTING, plan.IN_PROGRESS_LISTING)
        self.observe(tasks.values(), cyc, complete=complete)
        listing = self._cache.listings.get(fk)
        if listing is not None:
            listing.tasks, listing.known, listing.error = tasks, True, None
            listing.forced, listing.retry_at = False, None
            listing.attempted_at = self._clock.now()
            listing.due = self._snap(cyc.start + self._cache.listing_interval(fk))

    def listing_failed(self, fk: cache.FilterKey, error: model.PollError, cyc: Cycle) -> None:
        """A listing resources read failed: it keeps its tasks and backs off with the cycle."""
        listing = self._cache.listings.get(fk)
        if listing is not None:
            listing.error, listing.forced = error, False
            listing.attempted_at = self._clock.now()
            cyc.errored_listings.append(listing)
