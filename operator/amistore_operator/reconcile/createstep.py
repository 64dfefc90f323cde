"""Export mode's step of a poll (``spec.createTasks``): the requests to record, the creates.

It hands the poll's inputs to the ``exporter`` (which carries out export's one
decision per poll) and returns its part: the ``Queued`` or refused entries, the
``ExportReady`` condition, the retry annotation handled and ``exportRecords``;
the Events of the calls made; the AMIs refused for good (polled again at once),
those requested (polled right after the status is stored) and when the first
live request's grace ends (the status changes then by time alone). An AmiStore
that exports no more (``createTasks`` off, spec rejected) keeps its records.

It also remembers when this process first saw each retry annotation value, and
teaches the exporter what a watched status holds before its first poll.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from amistore_operator.core import (
    accountentries,
    export,
    exportrecords,
    model,
    spec,
    status,
    taskentries,
)
from amistore_operator.reconcile import exporter, resource, step


class ExportStep(step.Step):
    """Export mode's part of every poll, through the exporter (None: never creates)."""

    def __init__(
        self,
        exports: exporter.Exporter | None,
        *,
        clock: Callable[[], datetime.datetime],
        parse: Callable[[Mapping[str, Any] | None], model.AmiStoreSpec],
        default_interval: float,
        spec_account: Callable[[str], str] = lambda polled: "",
    ) -> None:
        self._exports = exports
        self._clock = clock
        self._parse = parse  # a spec with the operator's defaults (raises spec.SpecError)
        self._default_interval = default_interval
        self._spec_account = spec_account  # a status's account as a spec names it
        self._learned: set[str] = set()  # the AmiStores whose stored entries were learned
        # Each retry annotation value and when this process first saw it (watch or poll).
        self._retries: dict[str, tuple[str, datetime.datetime]] = {}

    async def run(self, inputs: step.PollInputs) -> step.Part:
        """Export's part of this poll: the requests to record, the creates to make."""
        exports = self._exports
        made = None if exports is None else await self._step(exports, inputs)
        if exports is None or made is None:
            held = self._held(inputs.ref.key, inputs.prior, inputs.now)
            return step.Part(status={"export_records": held})
        return step.Part(
            status={
                "export_entries": made.entries,
                "export_condition": made.condition,
                "export_retry_handled": made.retry_handled,
                "export_records": made.records,
            },
            events=made.events,
            # Every AmiStore naming them shows that refusal: within seconds, not an interval;
            # and a new retry value is read once the Failed AMIs have a fresh answer.
            refresh=(*made.refused, *made.refresh),
            requested=made.requested,
            wake_at=exports.lapses(inputs.ref.key, inputs.now),
        )

    async def _step(
        self, exports: exporter.Exporter, inputs: step.PollInputs
    ) -> exporter.Step | None:
        """The exporter's step; None when the AmiStore exports no more."""
        ref, wanted, prior, snap = inputs.ref, inputs.wanted, inputs.prior, inputs.snap
        if not wanted.create_tasks:
            exports.forget(ref.key)
            return None
        known: Iterable[Mapping[str, Any]] = (
            inputs.entries if inputs.entries is not None else taskentries.from_status(prior or {})
        )
        if accountentries.other_account(prior, inputs.view.account or wanted.account):
            known = ()  # another account's entries: none of its requests is one of these
        previous = {e["amiId"]: e for e in known if isinstance(e.get("amiId"), str)}
        handled = (prior or {}).get(status.RETRY_HANDLED)
        return await exports.step(
            ref.key,
            ref.namespace,
            wanted,
            inputs.view,
            previous,
            inputs.now,
            generation=snap.generation,
            retry_requested=export.retry_token(snap.retry_requested),
            retry_seen=self._retry_seen(ref.key, snap.retry_requested),
            retry_handled=handled if isinstance(handled, str) else None,
            current=(prior or {}).get("observedGeneration") == snap.generation,
            interval=inputs.stretched,
            account_denied=inputs.denial,
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

    def rejected(
        self, ref: resource.ResourceRef, prior: Mapping[str, Any] | None, now: datetime.datetime
    ) -> step.Part:
        """Its slots in the store capacity are free again; its records are kept."""
        if self._exports is not None:
            self._exports.forget(ref.key)
        return step.Part(status={"export_records": self._held(ref.key, prior, now)})

    def observe(self, ref: resource.ResourceRef, snap: resource.Snapshot) -> None:
        """Learn what a stored status holds before the AmiStore's first poll (a restart).

        Its records; the stores it has in flight, for the cap; the requests its entries
        show, where that status was polled. Also notes when a new retry annotation value
        first arrived.
        """
        exports = self._exports
        self._retry_seen(ref.key, snap.retry_requested)
        records = (snap.status or {}).get(exportrecords.FIELD)
        if exports is not None and records:
            # Whatever its spec says now: what it records must not start again.
            exports.recall(ref.key, records, self._default_interval)
        if exports is None or exports.counted(ref.key):
            return
        stored = snap.status or {}
        entries = tuple(taskentries.from_status(stored))
        polled = self._polled(stored)
        interval = self._default_interval
        if _exports(snap.raw_spec):
            with contextlib.suppress(spec.SpecError):
                wanted = self._parse(snap.raw_spec)
                interval = max(interval, wanted.poll_interval)
                here = polled in (None, (wanted.account, wanted.region))
                # A status of an earlier spec may show another account's tasks.
                current = stored.get("observedGeneration") == snap.generation
                # Another account's or region's entries: none of them is in flight here.
                exports.seed(ref.key, wanted, entries if here else (), current=current)
        if polled is not None and ref.key not in self._learned:
            # Before its first poll: its spec may have been edited, unwatched, since the
            # requests its entries show were made (they are their only trace): they hold
            # their AMIs where that status was polled, whatever its spec names now.
            self._learned.add(ref.key)
            exports.hold(ref.key, polled, entries, interval)

    def _polled(self, stored: Mapping[str, Any]) -> tuple[str, str] | None:
        """The (account, region) a stored status was polled in, as a spec names them."""
        region, account = stored.get("region"), stored.get("account") or ""
        if not isinstance(region, str) or not region or not isinstance(account, str):
            return None
        return self._spec_account(account), region

    def written(self, key: str) -> None:
        """Its new requests may be called now."""
        if self._exports is not None:
            self._exports.written(key)

    def unwritten(self, key: str, *, ambiguous: bool = True) -> None:
        """Its requests were not recorded: no call for them."""
        if self._exports is not None:
            self._exports.unwritten(key, ambiguous=ambiguous)

    def forget(self, key: str) -> None:
        """The resource is gone."""
        self._retries.pop(key, None)
        self._learned.discard(key)
        if self._exports is not None:
            self._exports.forget(key)

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


def _exports(raw_spec: Mapping[str, Any] | None) -> bool:
    """Whether a raw spec asks for export mode (``createTasks: true``)."""
    return isinstance(raw_spec, Mapping) and raw_spec.get("createTasks") is True
