"""The work of one poll, between the kopf handlers and the core: no kopf in here.

A handler hands over the resource's identity, spec and previous status; the service
validates the spec, fetches AWS's view through the account gate and the shared poller
(``fetch``), runs each step of the poll on the same inputs (``step``), folds their parts
into the new status with the pure core and keeps the metrics in step (``track``), and
asks the poller for what the steps ask. A new capability is a new step in ``self._steps``.

The service keeps every task entry of the status it last computed (the status holds
500) and hands them back to the core, so a task past the cap is compared with its
own previous entry (one Event per change, never a repeated one) and has its series;
and what the API may hold, so a write leaves exactly the new status (``patch``).
Before any AWS call the ``accountgate`` says whether the resource may use its
account; a reloaded map denies within seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from amistore_operator.core import accounts, cleanuppermission, model, spec, stall, status
from amistore_operator.observe import metrics
from amistore_operator.polling import hub as poller_hub
from amistore_operator.reconcile import (
    accountgate,
    cleanupbook,
    cleanupstep,
    createstep,
    exporter,
    fetch,
    resource,
    statusmemory,
    step,
    track,
    verifystep,
    wakeups,
)


def utcnow() -> datetime.datetime:
    """Now, timezone-aware, to the second (status times are RFC 3339 seconds)."""
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


class AmiStoreService:
    """Polls AmiStores through the shared poller and renders their status and metrics."""

    def __init__(
        self,
        *,
        hub: poller_hub.PollerHub,
        collector: metrics.TaskCollector,
        default_region: str,
        default_interval: float,
        default_stall_after: float = stall.DEFAULT_STALL_AFTER,
        clock: Callable[[], datetime.datetime] = utcnow,
        account_map: Callable[[], accounts.AccountMap] = lambda: accounts.NO_MAP,
        own_account: Callable[[], str] = str,
        watch_accounts: accountgate.WatchMap | None = None,
        exports: exporter.Exporter | None = None,
        objects: Callable[[str, str], verifystep.ObjectApi] | None = None,
        images: Callable[[str, str], cleanupstep.ImageApi] | None = None,
        cleanup: cleanuppermission.Permission | None = None,
        runner: verifystep.Runner = asyncio.to_thread,
    ) -> None:
        self._hub = hub
        self._exports = exports  # export mode (spec.createTasks); None: never creates
        self._gate = accountgate.AccountGate(
            account_map=account_map, own_account=own_account, watch=watch_accounts
        )
        self._collector = collector
        self._default_region = default_region
        self._default_interval = default_interval
        self._default_stall_after = default_stall_after
        self._clock = clock
        self._memory = statusmemory.StatusMemory()
        self._generations: dict[str, int] = {}
        self._parsed: dict[str, tuple[tuple[str, int], model.AmiStoreSpec]] = {}
        self._book = cleanupbook.CleanupBook(hub.retire, self._gate.spec_account)  # AMI cleanup
        polled, retired = self._generations.__contains__, self._book.ended_in
        self._fetch = fetch.Fetch(hub=hub, gate=self._gate, polled=polled, retired=retired)
        # After the fetch every poll runs these in turn: a new capability is a new step.
        self._steps: tuple[step.Step, ...] = (
            createstep.ExportStep(
                exports,
                clock=clock,
                parse=self.parse,
                default_interval=default_interval,
                spec_account=self._gate.spec_account,
            ),
            verifystep.VerifyStep(objects, runner=runner),  # a blocking call in a thread
            cleanupstep.CleanupStep(
                images, objects, cleanup, parsed=self._parsed, book=self._book, runner=runner
            ),
        )
        self._tracker = track.Tracker(memory=self._memory, collector=collector)
        self._rejected: dict[str, int] = {}  # the generation whose invalid spec was reported
        self._requested: dict[str, tuple[str, ...]] = {}  # AMIs to poll once it is written
        self._wakeups = wakeups.Wakeups(hub.wake)
        self._closed = False

    def parse(self, raw_spec: Mapping[str, Any] | None) -> model.AmiStoreSpec:
        """Validate a spec with the operator's defaults (raises spec.SpecError)."""
        return spec.parse_spec(
            raw_spec,
            default_region=self._default_region,
            default_interval=self._default_interval,
            default_stall_after=self._default_stall_after,
        )

    async def poll(
        self, ref: resource.ResourceRef, read: Callable[[], resource.Snapshot]
    ) -> status.Outcome:
        """One poll: wait for fresh data (about one interval) and compute the new status.

        ``read`` returns the resource as last watched; it is read again after each wait,
        so a spec edited meanwhile is acted on at once.
        """
        self._gate.start(self.accounts_changed)
        if self._rejected.get(ref.key) == read().generation:
            # Its spec was rejected and that was written: nothing to poll until it is edited.
            await self._wakeups.until_edited(ref.key, self._default_interval)
        elif self._gate.denied_at(ref.key) == read().generation:
            # Denied and marked: look again after an interval, an edit or a map reload.
            await self._wakeups.until_edited(ref.key, self._default_interval)
        snap = read()
        self._generations[ref.key] = snap.generation
        prior = self._memory.prior(ref, snap.status)
        entries = self._memory.entries(ref, prior)
        try:
            wanted = self._spec(ref, snap)
        except spec.SpecError as exc:
            return self._reject(ref, snap, prior, entries, str(exc))
        self._rejected.pop(ref.key, None)
        fetched = await self._fetch.view(ref, read, snap, wanted, prior, entries)
        if fetched is fetch.Restart.GONE:
            # Deleted while it waited (forget): nothing to write, no series to bring back.
            return status.Outcome(status=dict(prior or {}), changed=False, events=())
        if fetched is fetch.Restart.AGAIN:
            return await self.poll(ref, read)
        inputs = step.PollInputs(
            ref=ref,
            snap=fetched.snap,
            wanted=wanted,
            prior=prior,
            entries=entries,
            view=fetched.view,
            denial=fetched.denial,
            stretched=fetched.stretched,
            now=self._clock(),
        )
        parts = [await each.run(inputs) for each in self._steps]
        self._follow(ref.key, inputs.now, parts)
        outcome = self._tracker.track(inputs, parts)
        if not outcome.changed and self._memory.uncertain(ref.key):
            outcome = dataclasses.replace(outcome, changed=True)  # what is stored is unknown
        events = tuple(event for part in parts for event in part.events)
        if events:
            # The calls happened whether or not the status changed: announce them.
            outcome = dataclasses.replace(outcome, events=(*outcome.events, *events))
        return outcome

    def _reject(
        self,
        ref: resource.ResourceRef,
        snap: resource.Snapshot,
        prior: Mapping[str, Any] | None,
        entries: tuple[dict[str, Any], ...] | None,
        message: str,
    ) -> status.Outcome:
        """Its spec is invalid: ``Synced=False`` (InvalidSpec), no AWS call until an edit."""
        self._hub.forget(ref.key)
        now = self._clock()
        parts = [each.rejected(ref, prior, now) for each in self._steps]
        self._rejected[ref.key] = snap.generation
        region = resource.region_named(snap.raw_spec, self._default_region)
        self._book.rejected(ref.key, snap.raw_spec, region)  # what it lists, it keeps
        outcome = status.reject_spec(
            prior,
            message,
            generation=snap.generation,
            now=now,
            previous_entries=entries,
            **step.status_args(parts),
        )
        self._tracker.record(ref, region, outcome)
        return outcome

    def _follow(self, key: str, now: datetime.datetime, parts: Sequence[step.Part]) -> None:
        """Ask the poller what the steps ask: AMIs now, after the write, and a poll at a time."""
        self._requested[key] = tuple(ami for part in parts for ami in part.requested)
        refresh = tuple(ami for part in parts for ami in part.refresh)
        if refresh:
            self._hub.refresh(key, refresh)
        wake_at = min((p.wake_at for p in parts if p.wake_at is not None), default=None)
        # Status times are whole seconds: a second after that moment, the change is due.
        self._wakeups.poll_in(
            key, None if wake_at is None else (wake_at - now).total_seconds() + 1.0
        )

    def observe(
        self, ref: resource.ResourceRef, generation: int, snap: resource.Snapshot | None = None
    ) -> None:
        """A watch event: a new generation (spec change) is polled within seconds.

        ``snap``: the watched resource, so export mode counts the stores its stored
        status has in flight before its first poll (after a restart), and notes when a new
        retry annotation value first arrived.
        """
        if snap is not None:
            for each in self._steps:
                each.observe(ref, snap)
        seen = self._generations.get(ref.key)
        if seen is not None and seen != generation:
            self._generations[ref.key] = generation
            self._hub.wake(ref.key)
            self._wakeups.edited(ref.key)

    def accounts_changed(self) -> None:
        """The account map was reloaded: act on what it now denies or allows, at once."""
        denied, allowed = self._gate.reloaded(
            (key, wanted.account) for key, (_, wanted) in self._parsed.items()
        )
        for key in denied:
            self._hub.forget(key)  # its wait ends now; its next poll marks it
        for key in allowed:
            self._wakeups.edited(key)  # its wait ends now; its next poll polls it

    def forget(self, ref: resource.ResourceRef) -> None:
        """The resource is being deleted: drop its subscription and its series at once."""
        self._hub.forget(ref.key)
        self._collector.forget(ref.namespace, ref.name)
        self._memory.forget(ref.key)
        self._tracker.forget(ref.key)
        for memo in (self._generations, self._parsed, self._requested, self._rejected):
            memo.pop(ref.key, None)
        self._wakeups.poll_in(ref.key, None)
        self._gate.allow(ref.key)
        self._wakeups.edited(ref.key)
        for each in self._steps:
            each.forget(ref.key)

    def written(self, ref: resource.ResourceRef) -> None:
        """The last status computed for ``ref`` is stored: its new requests may be called.

        The AMIs it requested are polled at once, so the call follows within seconds
        whatever the interval, and only while AWS still lists no task for them.
        """
        self._memory.stored(ref.key)
        for each in self._steps:
            each.written(ref.key)
        requested = self._requested.pop(ref.key, ())
        if requested:
            self._hub.refresh(ref.key, requested)

    def patch(self, ref: resource.ResourceRef, new: Mapping[str, Any], watched: Any) -> Any:
        """The merge patch that stores exactly ``new``, whatever status the API holds now."""
        return self._memory.patch(ref, new, watched)

    def unwritten(self, ref: resource.ResourceRef, *, ambiguous: bool = False) -> None:
        """The last status was refused by the API: compute the next from the stored one.

        ``ambiguous``: no answer came, so it may be stored after all: the next status is
        written even if it equals the one last confirmed, so none is left behind.
        """
        self._requested.pop(ref.key, None)
        for each in self._steps:  # export: its requests were not recorded, no call for them
            each.unwritten(ref.key, ambiguous=ambiguous)
        self._memory.refused(ref.key, ambiguous=ambiguous)
        self._rejected.pop(ref.key, None)
        self._gate.allow(ref.key)

    @property
    def closed(self) -> bool:
        """Whether the operator is shutting down (no more polls)."""
        return self._closed

    def _spec(self, ref: resource.ResourceRef, snap: resource.Snapshot) -> model.AmiStoreSpec:
        """The parsed spec, parsed once per generation (a spec edit bumps it)."""
        cached = self._parsed.get(ref.key)
        if cached is not None and cached[0] == (ref.uid, snap.generation):
            return cached[1]
        wanted = self.parse(snap.raw_spec)
        self._parsed[ref.key] = ((ref.uid, snap.generation), wanted)
        self._book.accepted(ref.key)
        return wanted

    async def close(self) -> None:
        """Stop the poller's loops and the account map's watch (operator shutdown)."""
        self._closed = True
        self._wakeups.close()
        await self._gate.close()
        await self._hub.close()
