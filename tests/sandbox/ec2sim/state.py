"""Everything one simulator instance holds: model, throttling, faults and the call log.

Each AWS account has its own store tasks and throttle buckets, as AWS keeps
them: ``model`` and ``throttler`` are the default account's (the operator's
own identity), ``for_account`` gives another account's view of the same
simulator (its clock, CreateStoreImageTask settings, faults, holds and call
log are shared; AMIs, their sizes and the capacity in use are the account's,
and so are its images and snapshots, the resources that reference them and its
S3 objects; ``accounts`` lists every view, for what another account shares).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import time

from aiohttp import web

from tests.sandbox.ec2sim import (
    faults,
    hold,
    images,
    model,
    objects,
    references,
    restores,
    sts,
    thaw,
    throttle,
)


@dataclasses.dataclass
class CallRecord:
    """One EC2 call as the log keeps it; the Authorization header is never kept."""

    seq: int
    time: float
    sim_time: float
    action: str
    params: dict[str, object]
    status: int
    error_code: str | None
    account: str = ""  # whose key signed it

    def to_json(self) -> dict[str, object]:
        """The control API's JSON shape of a call."""
        return dataclasses.asdict(self)


class CallLog:
    """Every EC2 call in order; bounded so a long benchmark cannot exhaust memory."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self.calls: list[CallRecord] = []
        self._seq = itertools.count(1)

    def add(
        self,
        sim_time: float,
        action: str,
        params: dict[str, object],
        status: int,
        error_code: str | None,
        account: str = "",
    ) -> CallRecord:
        """Record a finished call."""
        record = CallRecord(
            next(self._seq), time.time(), sim_time, action, params, status, error_code, account
        )
        self.calls.append(record)
        if len(self.calls) > self.limit:
            del self.calls[: len(self.calls) - self.limit]
        return record

    def clear(self) -> int:
        """Forget every call; returns how many there were."""
        count = len(self.calls)
        self.calls = []
        return count


class SimState:
    """The mutable state behind one simulator; `reset()` restores a fresh one."""

    def __init__(self, throttle_enabled: bool = True) -> None:
        self._throttle_default = throttle_enabled
        self._root = self
        self._account = ""  # "": the default account, whichever STS says it is
        self.faults = faults.FaultSet()
        self.calls = CallLog()
        self.holds = hold.Holds()
        self.sts = sts.StsState()
        self._fresh_world()

    def _fresh_world(self) -> None:
        """The default account's AMIs, tasks and buckets, and what every account shares."""
        self.ids = images.IdSource()
        self.image_settings = images.ImageSettings()
        self.restore_settings = restores.RestoreSettings()
        self.thaw_settings = thaw.ThawSettings()
        self._accounts: dict[str, SimState] = {}
        self.model = model.SimModel()
        self.throttler = throttle.Throttler(self._throttle_default)
        self._own_books()

    def _own_books(self) -> None:
        self.images = images.ImageBook(self.model.amis, self.ids, self.image_settings)
        self.references = references.ReferenceBook()
        self.objects = objects.ObjectStore()

    @property
    def account(self) -> str:
        """The account whose view this is."""
        return self._account or self.sts.default_account

    def for_account(self, account: str) -> SimState:
        """The simulator as ``account`` sees it: its own tasks and throttle buckets."""
        root = self._root
        if account in ("", root.sts.default_account):
            return root
        view = root._accounts.get(account)
        if view is None:
            view = copy.copy(root)  # shares faults, holds, calls, STS and IDs with it
            view._account = account
            view.model = model.SimModel(root.model.clock, root.model.settings)
            view.throttler = throttle.Throttler(root._throttle_default)
            view._own_books()
            root._accounts[account] = view
        return view

    def accounts(self) -> list[SimState]:
        """Every account's view, the default account's first."""
        return [self._root, *self._root._accounts.values()]

    def reset(self) -> None:
        """Forget AMIs, tasks, faults and calls; clock, throttling back to their start."""
        self.holds.release()  # a held call must not wait for ever
        self.holds = hold.Holds()
        self.faults = faults.FaultSet()
        self.calls = CallLog()
        self.sts = sts.StsState()
        self._fresh_world()


STATE_KEY = web.AppKey("ec2sim_state", SimState)
"""Where the aiohttp application keeps its SimState."""
