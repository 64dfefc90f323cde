"""The export requests this process dropped before their status was known stored.

It never calls for them, and no other process calls for a request it did not record.
A write that got no answer may have stored one all the same: a status showing it is not
read as a request that may have started a task (``export.drop_uncalled``), and until its
grace ends no other bucket's export of the AMI starts (``exportbook.Book.busy_elsewhere``),
since that task would hide, for a restarted operator, whatever the stored request did.
"""

from __future__ import annotations

import datetime

from amistore_operator.core import export

Target = tuple[str, str, str]  # (account, region, bucket)


class Dropped:
    """Requests dropped uncalled: each R by (target, AMI), and those perhaps stored."""

    def __init__(self) -> None:
        self._uncalled: dict[Target, dict[str, set[str]]] = {}
        self._maybe_stored: dict[Target, dict[str, export.Request]] = {}

    def add(
        self, target: Target, ami_id: str, request: export.Request, *, maybe_stored: bool
    ) -> None:
        """``request`` was dropped; ``maybe_stored``: its write got no answer."""
        self._uncalled.setdefault(target, {}).setdefault(ami_id, set()).add(request.requested_time)
        if maybe_stored:
            self._maybe_stored.setdefault(target, {})[ami_id] = request

    def recorded(self, target: Target, ami_id: str, stamp: str) -> None:
        """A new request recorded at ``stamp``: a status showing that R shows this one."""
        self._uncalled.get(target, {}).get(ami_id, set()).discard(stamp)

    def uncalled_in(self, where: tuple[str, str]) -> dict[str, dict[str, set[str]]]:
        """Those dropped in (account, region) ``where``, by bucket (``export.drop_uncalled``)."""
        return {t[2]: amis for t, amis in self._uncalled.items() if t[:2] == where}

    def maybe_stored(self, now: datetime.datetime) -> dict[Target, dict[str, export.Request]]:
        """Those a write may have stored, their grace not over (the others are forgotten)."""
        for dropped in self._maybe_stored.values():
            for ami_id in [a for a, r in dropped.items() if export.expired(r, now)]:
                del dropped[ami_id]
        return self._maybe_stored
