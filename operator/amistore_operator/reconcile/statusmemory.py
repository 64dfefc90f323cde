"""What the service remembers of each resource's last status, between polls.

- The status it last wrote, with the uid of the object it went to: fresher than
  the watched body until its watch event arrives (the operator is the status's
  only writer); after a refused write, the last one the API confirmed; a
  re-created object of the same name (its DELETED event missed, e.g. the
  apiserver lost its objects) has another uid and starts from its own.
- Every task entry (uncapped: the status holds 500) of the last two statuses
  computed; the one before the newest is what the API holds when the newest is
  refused.
- Which entries the metrics render, so an unchanged status re-renders nothing.
- The statuses the API may hold (the last confirmed, those written with no answer
  since), so the next write deletes their fields it lacks (``patch``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from amistore_operator.core import status, statuspatch
from amistore_operator.reconcile import resource

Entries = tuple[dict[str, Any], ...]


class StatusMemory:
    """The written status, its entries and the rendered entries, per resource key."""

    def __init__(self) -> None:
        self._written: dict[str, tuple[str, dict[str, Any]]] = {}
        self._stored: dict[str, tuple[str, dict[str, Any]]] = {}  # the last write confirmed
        self._uncertain: set[str] = set()  # a write got no answer: write the next one anyway
        # Every field of the statuses written with no answer since the last confirmed one
        # (maybe stored), in one status (``statuspatch.union``).
        self._unanswered: dict[str, tuple[str, dict[str, Any]]] = {}
        # uid, the status computed, its entries; the newest last.
        self._entries: dict[str, list[tuple[str, Mapping[str, Any], Entries]]] = {}
        self._rendered: dict[str, tuple[str, Entries]] = {}

    def prior(self, ref: resource.ResourceRef, watched: Mapping[str, Any] | None) -> Any:
        """The status to build on: the one last written to this object, else the watched one."""
        uid, written = self._written.get(ref.key, (ref.uid, None))
        return written if written is not None and uid == ref.uid else watched

    def entries(self, ref: resource.ResourceRef, prior: Mapping[str, Any] | None) -> Entries | None:
        """Every task entry of ``prior``, when it is a status this process computed."""
        if prior is None:
            return None
        for uid, computed, kept in reversed(self._entries.get(ref.key, [])):
            # The same object on every quiet poll; an equal one read back after a refusal.
            if uid == ref.uid and (computed is prior or computed == prior):
                found: Entries = kept
                return found
        return None

    def record(self, ref: resource.ResourceRef, outcome: status.Outcome) -> bool:
        """Remember ``outcome``; whether its entries differ from those the metrics render."""
        self._written[ref.key] = (ref.uid, outcome.status)
        history = [e for e in self._entries.get(ref.key, ()) if e[0] == ref.uid]
        self._entries[ref.key] = [*history[-1:], (ref.uid, outcome.status, outcome.entries)]
        if not outcome.changed and self._rendered.get(ref.key) == (ref.uid, outcome.entries):
            return False  # the same entries render the same series
        self._rendered[ref.key] = (ref.uid, outcome.entries)
        return True

    def patch(
        self,
        ref: resource.ResourceRef,
        new: Mapping[str, Any],
        watched: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """``new`` as the merge patch that leaves exactly it stored, whatever the API holds.

        The API holds the last status confirmed, or one written since with no answer, or
        (after a restart) the watched body or a later one.
        """
        kept = [self._stored.get(ref.key), self._unanswered.get(ref.key)]
        bodies = [found[1] for found in kept if found is not None and found[0] == ref.uid]
        return statuspatch.exact(new, watched, *bodies)

    def stored(self, key: str) -> None:
        """The API confirmed the last status written."""
        self._uncertain.discard(key)
        self._unanswered.pop(key, None)
        written = self._written.get(key)
        if written is not None:
            self._stored[key] = written

    def uncertain(self, key: str) -> bool:
        """Whether a write got no answer since the last confirmed one (it may be stored)."""
        return key in self._uncertain

    def refused(self, key: str, *, ambiguous: bool = False) -> None:
        """The last status was refused by the API: the stored one is what counts.

        That is the last status the API confirmed, not the watched body: a watch event
        may still be on its way, and a body older than a stored request would ask again.
        """
        if ambiguous:
            self._uncertain.add(key)
            attempted = self._written.get(key)
            if attempted is not None:
                uid, body = attempted
                before = self._unanswered.get(key)
                fields = before[1] if before is not None and before[0] == uid else None
                self._unanswered[key] = (uid, statuspatch.union(fields, body))
        stored = self._stored.get(key)
        if stored is None:
            self._written.pop(key, None)
        else:
            self._written[key] = stored
        kept = self._entries.get(key)
        if kept:
            kept.pop()  # the refused status's entries; the stored status is the one before

    def forget(self, key: str) -> None:
        """The resource is gone."""
        memos: tuple[dict[str, Any], ...] = (
            self._written,
            self._stored,
            self._entries,
            self._rendered,
            self._unanswered,
        )
        for memo in memos:
            memo.pop(key, None)
        self._uncertain.discard(key)
