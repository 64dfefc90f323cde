"""The work of one poll, between the kopf handlers and the core: no kopf in here.

A handler hands over the resource's identity, spec and previous status; the
service validates the spec, asks the shared poller for fresh AWS data, lets the
pure core compute the new status, and keeps the metrics in step.

The status holds at most 500 task entries; the service keeps every entry of the
status it last computed in memory and hands them back to the core, so a task
past the cap is compared with its own previous entry (one Event per change,
never a repeated one) and has its metric series.

Accounts: before any AWS call the service asks the ``accountgate`` whether the
resource may use its account; a reloaded map is applied at once: resources it
denies now leave their pollers and are marked within seconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from amistore_operator.core import (
    accountentries,
    accounts,
    conditions,
    export,
    exportrecords,
    model,
    spec,
    stall,
    status,
    taskentries,
)
from amistore_operator.observe import metrics
from amistore_operator.polling import hub as poller_hub
from amistore_operator.reconcile import accountgate, exporter, resource, statusmemory, wakeups

logger = logging.getLogger(__name__)


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
        # The last reconcile's output and inputs: the same view on top of that output needs
        # no reconcile (the core is idempotent), which is every quiet poll, until the moment
        # the output changes by time alone (a task stalls: Outcome.stall_due).
        self._reconciled: dict[
            str, tuple[dict[str, Any], tuple[Any, ...], datetime.datetime | None]
        ] = {}
        self._rejected: dict[str, int] = {}  # the generation whose invalid spec was reported
        self._requested: dict[str, tuple[str, ...]] = {}  # new requests, until written
        self._wakeups = wakeups.Wakeups(hub.wake)
        # Each retry annotation value and when this process first saw it (watch or poll).
        self._retries: dict[str, tuple[str, datetime.datetime]] = {}
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
            self._hub.forget(ref.key)
            now = self._clock()
            if self._exports is not None:
                self._exports.forget(ref.key)  # its slots in the store capacity are free again
            self._rejected[ref.key] = snap.generation
            outcome = status.reject_spec(
                prior,
                str(exc),
                generation=snap.generation,
                now=now,
                previous_entries=entries,
                export_records=self._held(ref.key, prior, now),
            )
            self._record(ref, self._region_of(snap.raw_spec), outcome)
            return outcome
        self._rejected.pop(ref.key, None)
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
            view = await self._hub.view(ref.key, wanted, known, awaiting=awaiting)
            if ref.key not in self._generations:
                # Deleted while it waited (forget): nothing to write, no series to bring back.
                return status.Outcome(status=dict(prior or {}), changed=False, events=())
            fresh = read()
            if fresh.generation != snap.generation:
                return await self.poll(ref, read)  # edited while we waited: act on the new spec
            if self._gate.denial(ref.namespace, wanted.account) is not None:
                return await self.poll(ref, read)  # the map was reloaded meanwhile: denied now
            view = dataclasses.replace(view, account=account)
            # The retry annotation as it is now: a value set during the wait came before
            # any task this poll starts, so it must be handled here, not retry that task.
            snap = dataclasses.replace(snap, retry_requested=fresh.retry_requested)
        stretched = stall.steady_interval(
            wanted.poll_interval, self._hub.stretched_interval(ref.key)
        )
        now = self._clock()
        step = await self._export_step(
            ref, snap, wanted, view, prior, entries, now, stretched=stretched, denial=denial
        )
        self._requested[ref.key] = step.requested if step is not None else ()
        if step is not None and step.refused:
            # Every AmiStore naming them shows that refusal: within seconds, not an interval.
            self._hub.refresh(ref.key, step.refused)
        self._poll_at_lapse(ref.key, now if step is not None else None)
        exported = None if step is None else (step.condition, step.entries, step.retry_handled)
        records = step.records if step is not None else self._held(ref.key, prior, now)
        inputs = (
            snap.generation,
            wanted,
            view.tasks,
            view.error,
            view.account,
            stretched,
            exported,
        )
        last = self._reconciled.get(ref.key)
        if (
            last is not None
            and last[0] is prior
            and last[1] == inputs
            and (last[2] is None or now < last[2])
        ):
            # Same data on top of the status it produced: the core would return it unchanged.
            outcome = status.Outcome(status=prior, changed=False, events=())
        else:
            outcome = status.reconcile(
                prior,
                wanted,
                view,
                generation=snap.generation,
                now=now,
                previous_entries=entries,
                stretched_interval=stretched,
                export_entries=None if step is None else step.entries,
                export_condition=None if step is None else step.condition,
                export_retry_handled=None if step is None else step.retry_handled,
                export_records=records,
            )
            self._record(ref, wanted.region, outcome)
            self._reconciled[ref.key] = (outcome.status, inputs, outcome.stall_due)
        if not outcome.changed and self._memory.uncertain(ref.key):
            outcome = dataclasses.replace(outcome, changed=True)  # what is stored is unknown
        if step is not None and step.events:
            # The calls happened whether or not the status changed: announce them.
            outcome = dataclasses.replace(outcome, events=(*outcome.events, *step.events))
        return outcome

    async def _export_step(
        self,
        ref: resource.ResourceRef,
        snap: resource.Snapshot,
        wanted: model.AmiStoreSpec,
        view: model.ResourceView,
        prior: Mapping[str, Any] | None,
        entries: tuple[dict[str, Any], ...] | None,
        now: datetime.datetime,
        *,
        stretched: float | None,
        denial: str | None,
    ) -> exporter.Step | None:
        """Export mode's part of this poll: the requests to record, the creates to make."""
        if self._exports is None or not wanted.create_tasks:
            if self._exports is not None:
                self._exports.forget(ref.key)
            return None
        known = entries if entries is not None else taskentries.from_status(prior or {})
        if accountentries.other_account(prior, view.account or wanted.account):
            known = ()  # another account's entries: none of its requests is one of these
        previous = {e["amiId"]: e for e in known if isinstance(e.get("amiId"), str)}
        handled = (prior or {}).get(status.RETRY_HANDLED)
        return await self._exports.step(
            ref.key,
            ref.namespace,
            wanted,
            view,
            previous,
            now,
            generation=snap.generation,
            retry_requested=export.retry_token(snap.retry_requested),
            retry_seen=self._retry_seen(ref.key, snap.retry_requested),
            retry_handled=handled if isinstance(handled, str) else None,
            current=(prior or {}).get("observedGeneration") == snap.generation,
            interval=stretched,
            account_denied=denial,
            records=(prior or {}).get(exportrecords.FIELD),
        )

    def _held(
        self, key: str, prior: Mapping[str, Any] | None, now: datetime.datetime
    ) -> tuple[dict[str, Any], ...] | None:
        """The records of an AmiStore that exports no more (spec rejected, createTasks off).

        Its live requests are recorded: its entries no longer tell a restarted operator.
        """
        if self._exports is None:
            return None
        return self._exports.held(key, (prior or {}).get(exportrecords.FIELD), now)

    def observe(
        self, ref: resource.ResourceRef, generation: int, snap: resource.Snapshot | None = None
    ) -> None:
        """A watch event: a new generation (spec change) is polled within seconds.

        ``snap``: the watched resource, so export mode counts the stores its stored
        status has in flight before its first poll (after a restart), and notes when a new
        retry annotation value first arrived.
        """
        exports = self._exports
        if snap is not None:
            self._retry_seen(ref.key, snap.retry_requested)
        records = (snap.status or {}).get(exportrecords.FIELD) if snap is not None else None
        if exports is not None and records:
            # Whatever its spec says now: what it records must not start again.
            exports.recall(ref.key, records, self._default_interval)
        if (
            snap is not None
            and exports is not None
            and _exports(snap.raw_spec)
            and not exports.counted(ref.key)
        ):
            with contextlib.suppress(spec.SpecError):
                stored = snap.status or {}
                entries = tuple(taskentries.from_status(stored))
                # A status of an earlier spec may show another account's tasks.
                current = stored.get("observedGeneration") == snap.generation
                exports.seed(ref.key, self.parse(snap.raw_spec), entries, current=current)
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
        memos: tuple[dict[str, Any], ...] = (
            self._generations,
            self._parsed,
            self._reconciled,
            self._requested,
            self._retries,
        )
        for memo in memos:
            memo.pop(ref.key, None)
        self._poll_at_lapse(ref.key, None)
        self._rejected.pop(ref.key, None)
        self._gate.allow(ref.key)
        self._wakeups.edited(ref.key)
        if self._exports is not None:
            self._exports.forget(ref.key)

    def written(self, ref: resource.ResourceRef) -> None:
        """The last status computed for ``ref`` is stored: its new requests may be called.

        The AMIs it requested are polled at once, so the call follows within seconds
        whatever the interval, and only while AWS still lists no task for them.
        """
        self._memory.stored(ref.key)
        if self._exports is not None:
            self._exports.written(ref.key)
        requested = self._requested.pop(ref.key, ())
        if requested:
            self._hub.refresh(ref.key, requested)

    def unwritten(self, ref: resource.ResourceRef, *, ambiguous: bool = False) -> None:
        """The last status was refused by the API: compute the next from the stored one.

        ``ambiguous``: no answer came, so it may be stored after all: the next status is
        written even if it equals the one last confirmed, so none is left behind.
        """
        self._requested.pop(ref.key, None)
        if self._exports is not None:
            self._exports.unwritten(ref.key)  # its requests were not recorded: no call for them
        self._memory.refused(ref.key, ambiguous=ambiguous)
        self._rejected.pop(ref.key, None)
        self._gate.allow(ref.key)

    @property
    def closed(self) -> bool:
        """Whether the operator is shutting down (no more polls)."""
        return self._closed

    def _region_of(self, raw_spec: Mapping[str, Any] | None) -> str:
        """The region a spec names, even one rejected for another reason; else the default."""
        region = raw_spec.get("region") if isinstance(raw_spec, Mapping) else None
        if isinstance(region, str) and spec.is_valid_region(region):
            return region
        return self._default_region

    def _spec(self, ref: resource.ResourceRef, snap: resource.Snapshot) -> model.AmiStoreSpec:
        """The parsed spec, parsed once per generation (a spec edit bumps it)."""
        cached = self._parsed.get(ref.key)
        if cached is not None and cached[0] == (ref.uid, snap.generation):
            return cached[1]
        wanted = self.parse(snap.raw_spec)
        self._parsed[ref.key] = ((ref.uid, snap.generation), wanted)
        return wanted

    def _retry_seen(self, key: str, value: str | None) -> datetime.datetime | None:
        """When this process first saw ``key``'s retry value ``value`` (now, if it is new).

        A poll may read it long after the watch delivered it: a free-form value asks to
        retry only what had started by then, not a task another AmiStore started since.
        """
        if value is None:
            self._retries.pop(key, None)
            return None
        seen = self._retries.get(key)
        if seen is None or seen[0] != value:
            seen = self._retries[key] = (value, self._clock())
        return seen[1]

    async def close(self) -> None:
        """Stop the poller's loops and the account map's watch (operator shutdown)."""
        self._closed = True
        self._wakeups.close()
        await self._gate.close()
        await self._hub.close()

    def _poll_at_lapse(self, key: str, now: datetime.datetime | None) -> None:
        """Poll ``key`` when its first live request's grace ends (``now``: after its step).

        Its status changes then by time alone; the next interval's poll would show that
        up to an interval late, long after everything else settled.
        """
        lapses = None if now is None or self._exports is None else self._exports.lapses(key, now)
        if now is None or lapses is None:
            self._wakeups.poll_in(key, None)
        else:
            delay = (lapses - now).total_seconds() + 1.0  # status times are whole seconds
            self._wakeups.poll_in(key, delay)

    def _record(self, ref: resource.ResourceRef, region: str, outcome: status.Outcome) -> None:
        if not self._memory.record(ref, outcome):
            return  # the same entries render the same series: skip them
        self._collector.set_resource(
            ref.namespace,
            ref.name,
            region,
            outcome.entries,
            synced=_synced(outcome.status),
            account=outcome.status.get("account") or "",
            export=any(
                c.get("type") == "ExportReady" for c in outcome.status.get("conditions", ())
            ),
        )


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


def _exports(raw_spec: Mapping[str, Any] | None) -> bool:
    """Whether a raw spec asks for export mode (``createTasks: true``)."""
    return isinstance(raw_spec, Mapping) and raw_spec.get("createTasks") is True


def _synced(current: Mapping[str, Any]) -> bool | None:
    value = (conditions.synced(current) or {}).get("status")
    return True if value == "True" else False if value == "False" else None
