"""Export mode's step of a poll, for the service: carries out the decision, hands back results.

The pure decision (``core.export.decide``) says, once per poll, what to DryRun, what to
record and what to call; this carries it out for one poll of one resource and hands the
results back once (``exportresults``, ``core.exportentries``). What it keeps between polls
lives in its parts: every AmiStore's requests by (account, region, bucket, AMI) and the
tasks seen (``exportbook``); the DryRuns and the creates, paid from the (account, region)'s
create bucket (``exportcalls``); the stores in flight and the slots (``exportcapacity``).

DryRun, per (account, region, bucket): before the first request, again after a spec
change, and after a refusal every ten intervals (or at once with another AMI, up to three,
as an IAM policy may be scoped per AMI, and with one of its own for an AmiStore none of
whose AMIs was tried). A create refused for one AMI (access, a bad ID) refuses that AMI
alone, in its entry. Capacity, per (account, region): at most ``max_concurrent`` of the
operator's own stores in progress, shared fairly between the AmiStores waiting.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from amistore_operator.aws import ratelimit
from amistore_operator.core import export, exportrecords, model
from amistore_operator.reconcile import exportbook, exportcalls, exportcapacity, exportresults

Runner = exportcalls.Runner
CreateApi = exportcalls.CreateApi
DEFAULT_MAX_CONCURRENT = 20  # AWS's 1,200 GB in progress holds 20 AMIs of 60 GB
Where = exportcapacity.Where  # (account, region)
Target = exportbook.Target  # (account, region, bucket)
Step = exportresults.Step


class Exporter:
    """Carries out ``core.export``'s decisions for every resource with ``createTasks``."""

    def __init__(
        self,
        *,
        permission: export.Permission,
        client_factory: Callable[[str, str], CreateApi],
        rate: float,
        burst: int,
        runner: Runner = asyncio.to_thread,
        monotonic: Callable[[], float] = time.monotonic,
        grace: datetime.timedelta = export.DEFAULT_GRACE,
        call_window: datetime.timedelta = export.DEFAULT_CALL_WINDOW,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    ) -> None:
        self._permission = permission
        self._monotonic = monotonic
        self._grace = grace
        self._call_window = min(call_window, grace / 2)
        self._book = exportbook.Book(grace=grace, call_window=self._call_window)
        self._capacity = exportcapacity.Capacity(max_concurrent=max_concurrent, monotonic=monotonic)
        self._calls = exportcalls.Calls(
            permission=permission,
            client_factory=client_factory,
            rate=rate,
            burst=burst,
            book=self._book,
            capacity=self._capacity,
            runner=runner,
            monotonic=monotonic,
        )
        self._generations: dict[str, int] = {}

    def budget(self, region: str, account: str = "") -> ratelimit.TokenBucket:
        """The create bucket of ``account`` in ``region`` (created on first use)."""
        return self._calls.budget(region, account)

    def attempt_hook(self, region: str, account: str = "") -> Callable[[], None]:
        """The create client's ``on_attempt``: pays the create bucket unless prepaid."""
        return self._calls.attempt_hook(region, account)

    async def step(
        self,
        key: str,
        namespace: str,
        spec: model.AmiStoreSpec,
        view: model.ResourceView,
        previous: Mapping[str, Mapping[str, Any]],
        now: datetime.datetime,
        *,
        generation: int = 0,
        retry_requested: str | None = None,
        retry_seen: datetime.datetime | None = None,
        retry_handled: str | None = None,
        interval: float | None = None,
        account_denied: str | None = None,
        current: bool = True,
        records: Any = None,
    ) -> Step | None:
        """Export's part of one poll (None without ``createTasks``); may call AWS.

        ``retry_seen``: when this process first saw ``retry_requested`` (its watch);
        ``account_denied``: why the account map refuses the namespace (then no call at all);
        ``current``: whether ``previous`` was computed for this generation of the spec (its
        tasks then tell which buckets of this account hold which AMIs); ``records``: the
        previous status's ``exportRecords``.
        """
        if not spec.create_tasks or spec.bucket is None:
            self.forget(key)
            return None
        changed = self._generations.get(key, generation) != generation
        self._generations[key] = generation
        where: Where = (spec.account, spec.region)
        previous = self._book.learn(key, spec, previous, current=current)
        kept = self.recall(key, records, spec.poll_interval)
        # Entries into another bucket (an earlier spec's) say nothing of this one.
        previous = {a: e for a, e in previous.items() if e.get("bucket") in (None, spec.bucket)}
        self._book.see(where, view.tasks.values())
        self._capacity.count(key, spec, view, self._book.requests.get((*where, spec.bucket), {}))
        flags = export.export_ready(spec, namespace, self._permission, None, account_denied)
        inputs = self._inputs(
            key,
            namespace,
            spec,
            view,
            previous,
            now,
            changed=changed,
            interval=interval,
            account_denied=account_denied,
            retry_requested=retry_requested,
            retry_seen=retry_seen,
            retry_handled=retry_handled,
        )
        if not export.is_ready(flags):
            return self._stand_by(inputs, flags, kept)
        return await self._carry_out(inputs, kept)

    def _inputs(
        self,
        key: str,
        namespace: str,
        spec: model.AmiStoreSpec,
        view: model.ResourceView,
        previous: Mapping[str, Mapping[str, Any]],
        now: datetime.datetime,
        *,
        changed: bool,
        interval: float | None,
        account_denied: str | None,
        retry_requested: str | None,
        retry_seen: datetime.datetime | None,
        retry_handled: str | None,
    ) -> export.Inputs:
        """The decision's inputs: the poll's, and what this process knows of every AmiStore's."""
        target: Target = (spec.account, spec.region, spec.bucket or "")
        return export.Inputs(
            key=key,
            namespace=namespace,
            spec=spec,
            listed=view.tasks,  # with an error: only what is fresh (one bad ID blocks no other)
            previous=previous,
            now=now,
            monotonic=self._monotonic(),
            interval=max(spec.poll_interval, interval or 0.0),
            requests=self._book.requests.get(target, {}),
            refused=self._book.refused.get(target, {}),
            verdict=self._calls.verdicts.get(target),
            slots=self._capacity.slots(key, target[:2], spec.poll_interval),
            account_denied=account_denied,
            retry_requested=retry_requested,
            retry_seen=retry_seen,
            retry_handled=retry_handled,
            answered=view.answered,
            spec_changed=changed,
            busy_elsewhere=self._book.busy_elsewhere(target, spec.image_ids, now),
            seen=self._book.seen.get(target, {}),
            grace=self._grace,
            call_window=self._call_window,
        )

    def _stand_by(
        self,
        inputs: export.Inputs,
        flags: export.Condition | None,
        kept: Sequence[exportrecords.Record],
    ) -> Step:
        """It may not export: its condition, no call, no new request."""
        spec = inputs.spec
        target: Target = (spec.account, spec.region, spec.bucket or "")
        self._book.abandon(inputs.key)  # no call for its requests: they lapse after the grace
        self._book.lapse(inputs.key, target, inputs.now)
        decision = export.Decision(flags, retry_handled=inputs.retry_handled)
        return self._settle(inputs, decision, exportresults.Poll(), flags, kept)

    async def _carry_out(self, inputs: export.Inputs, kept: Sequence[exportrecords.Record]) -> Step:
        """Decide, DryRun and call as decided, and record the requests the queue wants."""
        spec = inputs.spec
        target: Target = (spec.account, spec.region, spec.bucket or "")
        decision = export.decide(inputs)
        requests = self._book.requests.setdefault(target, {})
        for ami_id in decision.ended:
            requests.pop(ami_id, None)
        poll = exportresults.Poll()
        condition = decision.condition
        queue: Sequence[str] = decision.queue
        if decision.preflight is not None:
            condition, queue = await self._calls.preflight(inputs, decision, poll)
        await self._calls.create(inputs, decision, poll)
        live_for = export.grace(self._grace, self._call_window, inputs.interval)
        recorded = self._book.record(inputs.key, target, queue, inputs.listed, inputs.now, live_for)
        poll.recorded.extend(recorded)
        return self._settle(inputs, decision, poll, condition, kept)

    def _settle(
        self,
        inputs: export.Inputs,
        decision: export.Decision,
        poll: exportresults.Poll,
        condition: export.Condition | None,
        kept: Sequence[exportrecords.Record],
    ) -> Step:
        """Hand the results back to the core once: the entries, the counts for the cap."""
        book, capacity, verdicts = self._book, self._capacity, self._calls.verdicts
        return exportresults.settle(
            inputs, decision, poll, condition, kept, book, capacity, verdicts
        )

    def recall(self, key: str, raw: Any, interval: float) -> list[exportrecords.Record]:
        """Know what a stored status's ``exportRecords`` hold; they are returned.

        Its requests are ``key``'s (never called for by this process), its tasks seen.
        """
        return self._book.recall(key, raw, interval)

    def held(self, key: str, raw: Any, now: datetime.datetime) -> tuple[dict[str, Any], ...]:
        """``status.exportRecords`` of ``key`` while it exports no more: its live requests added.

        Its spec is rejected (its entries still show them ``Queued``, but no valid spec
        says where they went) or has ``createTasks`` off (its entries show AWS's view
        only): a restarted operator would not learn them from its entries. Nothing is
        dropped meanwhile, so its status changes by no time.
        """
        return self._book.held(key, raw, now)

    def hold(
        self, key: str, where: Where, entries: Sequence[Mapping[str, Any]], interval: float
    ) -> None:
        """Know the requests a stored status shows, in the (account, region) it was polled in."""
        self._book.hold(key, where, entries, interval)

    def counted(self, key: str) -> bool:
        """Whether the resource's stores in flight are known (polled, or seeded)."""
        return self._capacity.counted(key)

    def seed(
        self,
        key: str,
        spec: model.AmiStoreSpec,
        entries: Sequence[Mapping[str, Any]],
        *,
        current: bool = True,
    ) -> None:
        """What a stored status says is in flight and requested, until the first poll.

        After a restart every AmiStore's watch event arrives before its first poll
        ends, so the cap counts the stores that earlier processes started, and no
        AmiStore requests an AMI another one's stored status has a live request for.
        ``current``: whether the status was computed for this generation of the spec.
        """
        if not spec.create_tasks or spec.bucket is None or self._capacity.counted(key):
            return
        by_ami = {str(e["amiId"]): e for e in entries if e.get("amiId") in spec.image_ids}
        by_ami = self._book.learn(key, spec, by_ami, current=current)
        self._capacity.seed(key, (spec.account, spec.region), by_ami.values())

    def written(self, key: str) -> None:
        """The status with the requests of ``key``'s last poll is stored: they may be called."""
        self._book.confirm(key)

    def unwritten(self, key: str, *, ambiguous: bool = True) -> None:
        """The status with its requests was not stored: never call for them.

        ``ambiguous``: the write got no answer, so it may have stored them after all."""
        self._book.abandon(key, maybe_stored=ambiguous)

    def lapses(self, key: str, now: datetime.datetime) -> datetime.datetime | None:
        """When the first live request of ``key`` reaches the end of its grace (None: none).

        Its status changes then by time alone (the entry or record shows it no more).
        """
        return self._book.lapses(key, now)

    def forget(self, key: str) -> None:
        """The resource is gone (or export is off for it).

        Its requests stay until AWS lists their task or their grace ends: a call made
        for one may still show up, and no other AmiStore may ask again before that.
        """
        self._book.abandon(key)
        self._capacity.forget(key)
        self._generations.pop(key, None)
