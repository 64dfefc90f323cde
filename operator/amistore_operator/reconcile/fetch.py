"""AWS's view for one poll: the account gate's verdict first, then the shared poller's data.

A resource the account map denies gets no STS or EC2 call: it leaves its poller
and its view carries the refusal (``Synced=False``, AccountNotAllowed). An
allowed one waits for the refresh of the poller serving it (about one
interval); it may be deleted, edited or denied by a reloaded map meanwhile, and
then the poll starts over on what is current (``Restart``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from amistore_operator.core import accountentries, cleanup, model, stall, status, taskentries
from amistore_operator.polling import hub as poller_hub
from amistore_operator.reconcile import accountgate, resource


class Restart(enum.Enum):
    """Why a poll ends while it waits for its view."""

    GONE = "deleted while it waited"
    AGAIN = "edited, or denied by a reloaded map, while it waited: poll the current spec"


@dataclasses.dataclass(frozen=True)
class Fetched:
    """AWS's view for this poll, and what it was read for."""

    view: model.ResourceView
    snap: resource.Snapshot  # with the retry annotation as it is after the wait
    denial: str | None  # why the account map refuses it (the view says so too)
    stretched: float | None  # the poll interval while the EC2 budget stretches it


class Fetch:
    """The account gate and the shared poller, asked in turn for one poll."""

    def __init__(
        self,
        *,
        hub: poller_hub.PollerHub,
        gate: accountgate.AccountGate,
        polled: Callable[[str], bool],
        retired: Callable[[tuple[str, str]], frozenset[str]] = lambda where: frozenset(),
    ) -> None:
        self._hub = hub
        self._retired = retired  # (account, region) -> AMIs deregistered (``cleanupbook``)
        self._gate = gate
        self._polled = polled  # whether a key is still polled (not forgotten meanwhile)

    async def _view(
        self,
        key: str,
        wanted: model.AmiStoreSpec,
        known: Mapping[str, model.StoreTask],
        awaiting: frozenset[str],
        retired: frozenset[str],
    ) -> model.ResourceView:
        """The poller's view of the AMIs still to poll (a deregistered AMI's entry stays)."""
        if not retired:
            return await self._hub.view(key, wanted, known, awaiting=awaiting)
        polled = tuple(a for a in wanted.image_ids if a not in retired)
        if not polled:  # every AMI archived: nothing to ask AWS, an interval's rest
            self._hub.forget(key)
            await asyncio.sleep(wanted.poll_interval)
            return model.ResourceView(tasks={}, error=None)
        spec = dataclasses.replace(wanted, image_ids=polled)
        return await self._hub.view(key, spec, known, awaiting=awaiting)

    async def view(
        self,
        ref: resource.ResourceRef,
        read: Callable[[], resource.Snapshot],
        snap: resource.Snapshot,
        wanted: model.AmiStoreSpec,
        prior: Mapping[str, Any] | None,
        entries: tuple[dict[str, Any], ...] | None,
    ) -> Fetched | Restart:
        """The view of ``ref`` polled for ``wanted``; ``read`` is read again after the wait."""
        account = self._gate.account_of(wanted.account)
        denial = self._gate.denial(ref.namespace, wanted.account)
        if denial is not None:
            self._hub.forget(ref.key)  # no STS or EC2 call for it
            self._gate.deny(ref.key, snap.generation)
            error = model.PollError(model.PollErrorReason.ACCOUNT_NOT_ALLOWED, denial)
            view = model.ResourceView(tasks={}, error=error, account=account)
        else:
            self._gate.allow(ref.key)
            # Read only when its subscription starts or changes; another account's tasks are
            # none of this one's.
            other = accountentries.other_account(prior, account)
            generation = snap.generation
            known = resource.LazyTasks(
                lambda: {} if other else status.known_tasks(prior, generation)
            )
            awaiting = _requested(entries if entries is not None else (), prior)
            retired = _retired(entries, prior) | self._retired((wanted.account, wanted.region))
            view = await self._view(ref.key, wanted, known, awaiting, retired)
            if not self._polled(ref.key):
                return Restart.GONE
            fresh = read()
            if fresh.generation != snap.generation:
                return Restart.AGAIN  # edited while we waited: act on the new spec
            if self._gate.denial(ref.namespace, wanted.account) is not None:
                return Restart.AGAIN  # the map was reloaded meanwhile: denied now
            # Read again: the own account STS named during the wait is in this status, not
            # in a second write an interval later.
            view = dataclasses.replace(view, account=self._gate.account_of(wanted.account))
            # The retry annotation as it is now: a value set during the wait came before
            # any task this poll starts, so it must be handled here, not retry that task.
            snap = dataclasses.replace(snap, retry_requested=fresh.retry_requested)
        stretched = stall.steady_interval(
            wanted.poll_interval, self._hub.stretched_interval(ref.key)
        )
        return Fetched(view, snap, denial, stretched)


def _retired(
    entries: Iterable[Mapping[str, Any]] | None, prior: Mapping[str, Any] | None
) -> frozenset[str]:
    """AMIs deregistered after their export: AWS fails a whole ImageIds batch naming one."""
    known = entries if entries is not None else taskentries.from_status(prior or {})
    return frozenset(str(e["amiId"]) for e in known if cleanup.state(e) in cleanup.ENDED)


def _requested(
    entries: Iterable[Mapping[str, Any]], prior: Mapping[str, Any] | None
) -> frozenset[str]:
    """AMIs the previous status shows requested: polled every interval until AWS lists them."""
    known = entries or taskentries.from_status(prior or {})
    return frozenset(
        str(e["amiId"])
        for e in known
        if e.get("state") == model.TaskState.QUEUED and e.get("requestedTime")
    )
