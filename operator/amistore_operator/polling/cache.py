"""What one region's poller knows: the latest store task per AMI, each listing, each subscription.

A resource subscribes with its spec; the AMIs and listing filter sets it needs
get a cache entry (``entries``), shared with every other resource that needs them,
and leave the cache when nobody tracks them any more. ``TaskCache.build_view`` turns
the entries of one subscription into the ``ResourceView`` the core reconciles.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Iterable, Mapping

from amistore_operator.core import model
from amistore_operator.polling import clock
from amistore_operator.polling.entries import (
    AmiEntry,
    FilterKey,
    ListingEntry,
    Subscription,
    filter_key,
    is_active,
    later,
    newer,
    on_the_grid,
    slack_for,
)

# The entries are read as ``cache.NAME`` across the poller.
__all__ = [
    "AmiEntry",
    "FilterKey",
    "ListingEntry",
    "Subscription",
    "TaskCache",
    "filter_key",
    "is_active",
    "later",
    "newer",
    "on_the_grid",
    "slack_for",
]


class TaskCache:
    """The entries of one region and who subscribes to them."""

    def __init__(
        self, *, clock: clock.Clock, rng: random.Random, on_change: Callable[[], None]
    ) -> None:
        self._clock = clock
        self._rng = rng
        self._on_change = on_change  # something became due now: wake the refresh loop
        self.subs: dict[str, Subscription] = {}
        self.amis: dict[str, AmiEntry] = {}
        self._ami_subs: dict[str, set[str]] = {}
        self.listings: dict[FilterKey, ListingEntry] = {}
        self._listing_subs: dict[FilterKey, set[str]] = {}
        self._interval: float | None = None  # interval(), until the subscriptions change
        self.retired: set[str] = set()  # deregistered AMIs: no call names them again

    # --- subscriptions -------------------------------------------------------

    def interval(self) -> float:
        """The region's poll interval: the smallest of its resources'."""
        # Memoized: a refresh cycle asks once per AMI, and a scan per ask is quadratic.
        if self._interval is None:
            self._interval = min((s.spec.poll_interval for s in self.subs.values()), default=60.0)
        return self._interval

    def ami_interval(self, ami: str) -> float:
        """The poll interval of an AMI: the smallest of the resources tracking it."""
        keys = self._ami_subs.get(ami, ())
        return min((self.subs[k].spec.poll_interval for k in keys), default=self.interval())

    def listing_interval(self, fk: FilterKey) -> float:
        """The poll interval of a listing: the smallest of the resources reading it."""
        keys = self._listing_subs.get(fk, ())
        return min((self.subs[k].spec.poll_interval for k in keys), default=self.interval())

    def subscribe(
        self,
        key: str,
        spec: model.AmiStoreSpec,
        known: Mapping[str, model.StoreTask],
        awaiting: frozenset[str] = frozenset(),
    ) -> Subscription:
        """Track ``spec`` for ``key``; a new or changed spec is due now."""
        old = self.subs.get(key)
        if old is not None and old.spec == spec:
            self._await(key, old, awaiting)
            return old
        changed = old is not None
        if old is not None:
            self.unsubscribe(key)
        sub = Subscription(spec)
        self.subs[key] = sub
        self._interval = None
        if spec.image_ids:
            for ami in spec.image_ids:
                self._ami_subs.setdefault(ami, set()).add(key)
                self._track(ami, known.get(ami), spec.poll_interval, changed=changed)
        else:
            fk = filter_key(spec)
            self._listing_subs.setdefault(fk, set()).add(key)
            listing = self.listings.setdefault(fk, ListingEntry())
            listing.forced = True
        self._await(key, sub, awaiting)
        if any(self.items_forced(sub)):
            self._on_change()
        return sub

    def _track(
        self, ami: str, seed: model.StoreTask | None, interval: float, *, changed: bool
    ) -> None:
        """The entry of ``ami`` for a new or changed subscription: due now, unless a status tells.

        After a restart, the first status naming the AMI with a finished task seeds its
        entry, re-checked spread over 10 intervals. Each AmiStore's status shows its own
        bucket's task: one that shows a later task than the entry holds makes it due now,
        and AWS says which is the latest.
        """
        entry = self.amis.get(ami)
        if entry is None:
            entry = self.amis[ami] = AmiEntry()
            if seed is not None and seed.state in model.TERMINAL_STATES:
                entry.task, entry.known = seed, True
                first = self._clock.now() + self._rng.uniform(0, 10) * interval
                entry.next_check = entry.deadline = first
                return
        elif seed is not None and later(seed, entry.task):
            entry.forced = True
        if changed or is_active(entry.task) or entry.invalid:
            entry.forced = True

    def _await(self, key: str, sub: Subscription, awaiting: frozenset[str]) -> None:
        """Mark the AMIs ``key`` asked AWS to store, and unmark those it no longer waits for."""
        awaiting = awaiting.intersection(sub.spec.image_ids)
        if awaiting == sub.awaiting:
            return
        for ami in sub.awaiting - awaiting:
            entry = self.amis.get(ami)
            if entry is not None:
                entry.awaiting.discard(key)
        for ami in awaiting - sub.awaiting:
            self.amis[ami].awaiting.add(key)
        sub.awaiting = awaiting

    def force(self, amis: Iterable[str]) -> None:
        """Make these AMIs due now."""
        found = False
        for ami in amis:
            entry = self.amis.get(ami)
            if entry is not None:
                entry.forced = found = True
        if found:
            self._on_change()

    def unsubscribe(self, key: str) -> None:
        """Drop ``key``; AMIs and listings nobody tracks any more leave the cache."""
        sub = self.subs.pop(key, None)
        if sub is None:
            return
        self._interval = None
        for ami in sub.awaiting:
            if ami in self.amis:
                self.amis[ami].awaiting.discard(key)
        for ami in sub.spec.image_ids:
            keys = self._ami_subs.get(ami)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._ami_subs[ami]
                    self.amis.pop(ami, None)
        if not sub.spec.image_ids:
            fk = filter_key(sub.spec)
            keys = self._listing_subs.get(fk)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._listing_subs[fk]
                    self.listings.pop(fk, None)
        if not self.subs:
            # Nothing left to poll: let the loop end. Otherwise leaving makes nothing due
            # sooner, and waking the loop (a scan of every entry) per departure would make
            # deleting or shutting down with N resources cost N scans.
            self._on_change()

    def retire(self, ami: str) -> None:
        """A deregistered AMI: every subscription naming it goes on without it, at once.

        AWS fails a whole ImageIds batch naming it; each AmiStore's next poll asks for
        the same spec without it (``reconcile.fetch``); a batch planned before, still
        waiting for its budget, goes without it too (``calls.Caller.describe_ids``).
        """
        self.retired.add(ami)
        for key in sorted(self._ami_subs.get(ami, ())):
            sub = self.subs[key]
            rest = tuple(a for a in sub.spec.image_ids if a != ami)
            known = {a: e.task for a in rest if (e := self.amis.get(a)) and e.task is not None}
            if rest:
                spec = dataclasses.replace(sub.spec, image_ids=rest)
                self.subscribe(key, spec, known, sub.awaiting - {ami})
            else:
                self.unsubscribe(key)

    def wake(self, key: str) -> None:
        """Make every item of ``key`` due now."""
        sub = self.subs.get(key)
        if sub is None:
            return
        for ami in sub.spec.image_ids:
            self.amis[ami].forced = True
        if not sub.spec.image_ids:
            self.listings[filter_key(sub.spec)].forced = True
        self._on_change()

    def items(self, sub: Subscription) -> list[AmiEntry | ListingEntry]:
        """The entries ``sub`` reads."""
        if sub.spec.image_ids:
            return [self.amis[ami] for ami in sub.spec.image_ids]
        return [self.listings[filter_key(sub.spec)]]

    def items_forced(self, sub: Subscription) -> Iterable[bool]:
        """Whether each entry of ``sub`` is due now."""
        return (item.forced for item in self.items(sub))

    # --- views ---------------------------------------------------------------

    def ready_now(self, sub: Subscription) -> bool:
        """Whether ``sub`` may have its view without waiting for a refresh."""
        items = self.items(sub)
        if any(item.forced for item in items):
            return False
        if sub.served_at is None:
            return all(item.known for item in items)
        now = self._clock.now()
        since = now - slack_for(sub.spec.poll_interval)
        fresh = all(
            item.attempted_at is not None and item.attempted_at >= since
            for item in items
            if isinstance(item, ListingEntry) or item.invalid or on_the_grid(item)
        )
        unseen = any(
            item.attempted_at is not None and item.attempted_at > (sub.served_at or -math.inf)
            for item in items
        )
        return fresh and unseen

    def served_since(self, sub: Subscription, start: float) -> bool:
        """Whether a refresh that started at ``start`` served ``sub``."""
        items = self.items(sub)
        if any(item.forced for item in items):
            return False
        return any(item.attempted_at is not None and item.attempted_at >= start for item in items)

    def build_view(self, sub: Subscription) -> model.ResourceView:
        """What the cache knows for ``sub``: tasks of known AMIs, the first error."""
        spec = sub.spec
        tasks: dict[str, model.StoreTask | None] = {}
        error: model.PollError | None = None
        if spec.image_ids:
            for ami in spec.image_ids:
                entry = self.amis[ami]
                error = error or entry.error
                if not entry.known:
                    continue  # never fetched: say nothing rather than "Pending"
                # A task into another bucket is passed on: it counts for nothing in this
                # resource's status, but it tells that AWS's latest task hides one into ours.
                tasks[ami] = entry.task
        else:
            listing = self.listings[filter_key(spec)]
            error = listing.error
            tasks.update(listing.tasks)
        return model.ResourceView(tasks=tasks, error=error)
