"""Export mode's calls, for the service: the DryRun preflight, the creates, their budget.

The pure decision (``core.export.decide``) says, once per poll, what to DryRun,
what to record and what to call; this carries it out for one poll of one
resource and hands the results back once (``core.exportentries``). It keeps, in
memory, the requests of every AmiStore by (account, region, bucket, AMI): those
this process recorded (it alone may call for them, once, after their status is
stored) and those stored statuses hold (seeded from watch events, never called
for). It pays each call from the (account, region)'s create bucket, never waiting
for a token inside a poll.

DryRun, per (account, region, bucket): before the first request, again after a
spec change, and after a refusal every ten intervals (or at once with another
AMI, up to three, as an IAM policy may be scoped per AMI, and with one of its own
for an AmiStore none of whose AMIs was tried). A create refused for one AMI
(access, a bad ID) refuses that AMI alone, in its entry.

Capacity, per (account, region): at most ``max_concurrent`` of the operator's own
stores in progress, shared fairly between the AmiStores waiting (``fair_slots``). A
create AWS refuses for capacity blocks new requests there until one of its stores
finishes (at least one interval later) or a backoff passes (one interval, doubling
to ``MAX_CAPACITY_BACKOFF``): at most one refused create per interval.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from amistore_operator.aws import budget, errors, ratelimit
from amistore_operator.core import (
    export,
    exportentries,
    exportrecords,
    model,
    statusevents,
    timestamps,
)

logger = logging.getLogger(__name__)

Runner = Callable[..., Awaitable[Any]]
DEFAULT_MAX_CONCURRENT = 20  # AWS's 1,200 GB in progress holds 20 AMIs of 60 GB
MAX_CAPACITY_BACKOFF = 600.0  # seconds: the longest wait after refusals for capacity
Where = tuple[str, str]  # (account, region)
Target = tuple[str, str, str]  # (account, region, bucket)

# Refused for good, for that AMI: the same call would be refused again until a person acts.
_FINAL = frozenset(
    {
        model.PollErrorReason.INVALID_REQUEST,
        model.PollErrorReason.INVALID_IMAGE_ID,
        model.PollErrorReason.ACCESS_DENIED,
    }
)


_STARTED = frozenset(
    {model.TaskState.IN_PROGRESS, model.TaskState.COMPLETED, model.TaskState.FAILED}
)


class CreateApi(Protocol):
    """What the exporter needs of ``aws.create.CreateClient``."""

    def create(self, ami_id: str, bucket: str, tags: Sequence[tuple[str, str]] = ()) -> str: ...

    def preflight(self, ami_id: str, bucket: str) -> None: ...


@dataclasses.dataclass(frozen=True)
class Step:
    """Export mode's part of one poll's status: condition, entries, events."""

    condition: export.Condition | None
    entries: dict[str, dict[str, Any]]
    events: tuple[statusevents.Event, ...] = ()
    retry_handled: str | None = None  # the retry annotation value handled, for the status
    # Poll these right after the write: new requests, and calls put off until it is stored.
    requested: tuple[str, ...] = ()
    awaiting: tuple[str, ...] = ()  # AMIs with a live request: polled every interval
    records: tuple[dict[str, Any], ...] = ()  # status.exportRecords (``core.exportrecords``)
    # AMIs AWS refused for good this poll: the refusal holds for their (account, region,
    # bucket), so every AmiStore naming them shows it; poll them again at once.
    refused: tuple[str, ...] = ()


@dataclasses.dataclass
class _Full:
    """AWS refused a create for capacity in an (account, region)."""

    refused: float  # monotonic time of the last refusal
    backoff: float  # seconds until asking again regardless
    in_flight: int  # the (account, region)'s stores in progress then
    refusals: int = 1


@dataclasses.dataclass
class _Poll:
    """What one step gathers as it carries the decision out."""

    recorded: list[str] = dataclasses.field(default_factory=list)
    refused: dict[str, str] = dataclasses.field(default_factory=dict)
    withdrawn: list[str] = dataclasses.field(default_factory=list)
    events: list[statusevents.Event] = dataclasses.field(default_factory=list)
    final: list[str] = dataclasses.field(default_factory=list)  # refused for good, any AMI


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
        self._max_concurrent = max_concurrent  # 0: no cap of our own
        self._client_factory = client_factory
        self._runner = runner
        self._monotonic = monotonic
        self._grace = grace
        self._call_window = min(call_window, grace / 2)
        self._clients: dict[Where, CreateApi] = {}
        self._budgets = budget.Budgets(rate, burst, monotonic)
        self._requests: dict[Target, dict[str, export.Request]] = {}
        self._pending: dict[str, list[tuple[Target, str]]] = {}  # recorded, status not stored
        self._verdicts: dict[Target, export.Verdict] = {}
        self._refused: dict[Target, dict[str, str]] = {}  # per-AMI refusals for good
        # Requests dropped before their status was confirmed stored, never called: AMI -> R.
        self._uncalled: dict[Target, dict[str, str]] = {}
        # The tasks seen per bucket (views and statuses): AWS lists an AMI's latest only.
        self._seen: dict[Target, dict[str, tuple[str, model.TaskState]]] = {}
        self._in_flight: dict[str, tuple[Where, int]] = {}
        self._wanting: dict[str, Where] = {}  # AmiStores with AMIs waiting for a slot
        self._full: dict[Where, _Full] = {}
        self._generations: dict[str, int] = {}
        self._checking: set[Target] = set()  # DryRuns on their way

    def budget(self, region: str, account: str = "") -> ratelimit.TokenBucket:
        """The create bucket of ``account`` in ``region`` (created on first use)."""
        return self._budgets.bucket(region, account)

    def attempt_hook(self, region: str, account: str = "") -> Callable[[], None]:
        """The create client's ``on_attempt``: pays the create bucket unless prepaid."""
        return self._budgets.attempt_hook(region, account)

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
        where: Where = (spec.account, spec.region)
        target: Target = (*where, spec.bucket)
        changed = self._generations.get(key, generation) != generation
        self._generations[key] = generation
        previous = export.drop_uncalled(previous, self._uncalled_in(where))
        self._sync(key, target, spec, previous, current=current)
        kept = self.recall(key, records, spec.poll_interval)
        # Entries into another bucket (an earlier spec's) say nothing of this one.
        previous = {a: e for a, e in previous.items() if e.get("bucket") in (None, spec.bucket)}
        self._see(where, view.tasks.values())
        self._count(key, target, spec, view)
        flags = export.export_ready(spec, namespace, self._permission, None, account_denied)
        inputs = export.Inputs(
            key=key,
            namespace=namespace,
            spec=spec,
            listed=view.tasks,  # with an error: only what is fresh (one bad ID blocks no other)
            previous=previous,
            now=now,
            monotonic=self._monotonic(),
            interval=max(spec.poll_interval, interval or 0.0),
            requests=self._requests.get(target, {}),
            refused=self._refused.get(target, {}),
            verdict=self._verdicts.get(target),
            slots=self._slots(key, where, spec.poll_interval),
            account_denied=account_denied,
            retry_requested=retry_requested,
            retry_seen=retry_seen,
            retry_handled=retry_handled,
            spec_changed=changed,
            busy_elsewhere=self._busy_elsewhere(target, spec.image_ids, now),
            seen=self._seen.get(target, {}),
            grace=self._grace,
            call_window=self._call_window,
        )
        if not export.is_ready(flags):
            self._abandon(key)  # no call for its requests: they lapse after the grace
            self._lapse(key, target, now)
            decision = export.Decision(flags, retry_handled=retry_handled)
            return self._settle(inputs, decision, _Poll(), flags, kept)
        decision = export.decide(inputs)
        requests = self._requests.setdefault(target, {})
        for ami_id in decision.ended:
            requests.pop(ami_id, None)
        poll = _Poll()
        condition = decision.condition
        queue: Sequence[str] = decision.queue
        if decision.preflight is not None:
            condition, queue = await self._preflight(inputs, decision, poll)
        await self._create(inputs, decision, poll)
        # The DryRun and the creates awaited: another AmiStore may have asked meanwhile.
        busy = self._busy_elsewhere(target, queue, now)
        live_for = export.grace(self._grace, self._call_window, inputs.interval)
        for ami_id in queue:
            if ami_id in busy or ami_id in requests:
                continue
            requests[ami_id] = export.request_for(key, inputs.listed.get(ami_id), now, live_for)
            self._pending.setdefault(key, []).append((target, ami_id))
            self._refused.get(target, {}).pop(ami_id, None)
            self._uncalled.get(target, {}).pop(ami_id, None)
            poll.recorded.append(ami_id)
        return self._settle(inputs, decision, poll, condition, kept)

    def _settle(
        self,
        inputs: export.Inputs,
        decision: export.Decision,
        poll: _Poll,
        condition: export.Condition | None,
        kept: Sequence[exportrecords.Record],
    ) -> Step:
        """Hand the results back to the core once: the entries, the counts for the cap."""
        spec = inputs.spec
        target: Target = (spec.account, spec.region, spec.bucket or "")
        live = self._requests.get(target, {})
        results = exportentries.Results(
            recorded=tuple(poll.recorded),
            refused=poll.refused,
            withdrawn=tuple(poll.withdrawn),
            requests=live,
        )
        unrecorded = [a for a in decision.queue if a not in poll.recorded]
        verdict = self._verdicts.get(target)
        if verdict is not None and verdict.denied is None and unrecorded:
            decision = dataclasses.replace(decision, wait=(*decision.wait, *unrecorded))
        shown = exportentries.entries(inputs, decision, results)
        where = (spec.account, spec.region)
        self._in_flight[inputs.key] = (where, exportentries.in_flight(inputs, shown))
        if decision.candidates > len(poll.recorded):
            self._wanting[inputs.key] = where
        else:
            self._wanting.pop(inputs.key, None)
        awaiting = tuple(a for a in spec.image_ids if a in live and live[a].owner == inputs.key)
        records = self._records(inputs, target, poll.recorded, kept)
        return Step(
            condition,
            shown,
            tuple(poll.events),
            decision.retry_handled,
            requested=(*poll.recorded, *decision.deferred),
            awaiting=awaiting,
            records=tuple(exportrecords.render(records)),
            refused=tuple(poll.final),
        )

    def _records(
        self,
        inputs: export.Inputs,
        target: Target,
        recorded: Sequence[str],
        kept: Sequence[exportrecords.Record],
    ) -> list[exportrecords.Record]:
        """What the status records beyond its entries, so no restart starts it again.

        The tasks it recorded before; its live requests its entries do not show (an edit
        moved them to another account, region or bucket, or dropped the AMI); and for
        each AMI it requests now, the tasks seen into other buckets, which the new one
        will hide (AWS lists an AMI's latest task only).
        """
        records = [r for r in kept if r.state != model.TaskState.QUEUED]
        shown = set(inputs.spec.image_ids)
        for record in self._live(inputs.key, inputs.now):
            if record.target != target or record.ami_id not in shown:
                records.append(record)
        for other, seen in self._seen.items():
            if other[:2] != target[:2] or other == target:
                continue
            for ami_id in recorded:
                if ami_id in seen:
                    start, state = seen[ami_id]
                    records.append(exportrecords.task(ami_id, other, start, state))
        return records

    def _live(self, key: str, now: datetime.datetime) -> Iterator[exportrecords.Record]:
        """The records of ``key``'s requests whose grace has not ended."""
        for target, requests in self._requests.items():
            for ami_id, request in requests.items():
                if request.owner == key and not export.expired(request, now):
                    yield exportrecords.request(
                        ami_id, target, request.requested_time, request.expires
                    )

    def recall(self, key: str, raw: Any, interval: float) -> list[exportrecords.Record]:
        """Know what a stored status's ``exportRecords`` hold; they are returned.

        Its requests are ``key``'s (never called for by this process), its tasks seen.
        """
        records = exportrecords.parse(raw)
        for record in records:
            if record.state == model.TaskState.QUEUED:
                held = self._requests.setdefault(record.target, {})
                requested = timestamps.parse_time(record.time)
                if record.ami_id in held or requested is None:
                    continue
                # A task seen started for it ended it (the record is still on its way out).
                task = self._seen.get(record.target, {}).get(record.ami_id)
                started = timestamps.parse_time(task[0]) if task is not None else None
                if started is not None and started >= requested - export.START_SKEW:
                    continue
                expires = record.expires
                if expires is None:
                    live_for = export.grace(self._grace, self._call_window, interval)
                    expires = timestamps.format_time(requested + live_for)
                held[record.ami_id] = export.Request(key, record.time, expires=expires)
                continue
            seen = self._seen.setdefault(record.target, {})
            if record.ami_id not in seen or seen[record.ami_id][0] <= record.time:
                seen[record.ami_id] = (record.time, record.state)
        return records

    def held(self, key: str, raw: Any, now: datetime.datetime) -> tuple[dict[str, Any], ...]:
        """``status.exportRecords`` of ``key`` while it exports no more: its live requests added.

        Its spec is rejected (its entries still show them ``Queued``, but no valid spec
        says where they went) or has ``createTasks`` off (its entries show AWS's view
        only): a restarted operator would not learn them from its entries. Nothing is
        dropped meanwhile, so its status changes by no time.
        """
        records = exportrecords.parse(raw)
        known = {(r.ami_id, r.target, r.time) for r in records}
        live = self._live(key, now)
        records.extend(r for r in live if (r.ami_id, r.target, r.time) not in known)
        return tuple(exportrecords.render(records))

    def _busy_elsewhere(
        self, target: Target, image_ids: Sequence[str], now: datetime.datetime
    ) -> frozenset[str]:
        """AMIs of ``image_ids`` with a live request into another bucket of the account and region.

        AWS lists an AMI's latest store task only: two at once into two buckets would hide
        each other, so an AMI is exported into one bucket at a time.
        """
        wanted = set(image_ids)
        return frozenset(
            ami_id
            for other, requests in self._requests.items()
            if other[:2] == target[:2] and other != target
            for ami_id, request in requests.items()
            if ami_id in wanted and not export.expired(request, now)
        )

    def _count(
        self, key: str, target: Target, spec: model.AmiStoreSpec, view: model.ResourceView
    ) -> None:
        """This AmiStore's stores in progress as of this view, before it decides.

        Its InProgress tasks and its live requests; while the view misses some AMIs, never
        fewer than its last poll counted (a store may hide behind the stale ones).
        """
        requests = self._requests.get(target, {})
        count = 0
        for ami_id in spec.image_ids:
            request = requests.get(ami_id)
            task = export.in_bucket(view.tasks.get(ami_id), spec.bucket)
            mine = request is not None and request.owner == key
            running = task is not None and task.state == model.TaskState.IN_PROGRESS
            count += 1 if mine or running else 0
        known = self._in_flight.get(key)
        if known is not None and not all(a in view.tasks for a in spec.image_ids):
            count = max(count, known[1])
        self._in_flight[key] = ((spec.account, spec.region), count)

    def _see(self, where: Where, tasks: Iterable[model.StoreTask | None]) -> None:
        """Remember the latest task seen per (bucket, AMI) of ``where``."""
        for task in tasks:
            if task is None or not task.bucket or task.start_time is None:
                continue
            start = timestamps.format_time(task.start_time)
            seen = self._seen.setdefault((*where, task.bucket), {})
            if task.ami_id not in seen or seen[task.ami_id][0] <= start:
                seen[task.ami_id] = (start, task.state)

    def _sync(
        self,
        key: str,
        target: Target,
        spec: model.AmiStoreSpec,
        previous: Mapping[str, Any],
        *,
        current: bool = True,
    ) -> None:
        """Know the requests the previous status holds (another process may have made them).

        Its tasks count as seen only when it was computed for this spec: an earlier one may
        describe another account's tasks.
        """
        for ami_id, entry in previous.items() if current else ():
            bucket, start, state = (entry.get(k) for k in ("bucket", "taskStartTime", "state"))
            if isinstance(bucket, str) and isinstance(start, str) and state in _STARTED:
                seen = self._seen.setdefault((*target[:2], bucket), {})
                if ami_id not in seen or seen[ami_id][0] <= start:
                    seen[ami_id] = (start, model.TaskState(state))
        requests = self._requests.setdefault(target, {})
        for ami_id in spec.image_ids:
            entry = previous.get(ami_id) or {}
            stamp = entry.get("requestedTime")
            if entry.get("state") != model.TaskState.QUEUED or not isinstance(stamp, str):
                continue
            # A request into the bucket an earlier spec named still holds that AMI there.
            bucket = entry.get("bucket")
            held, there = requests, target
            if isinstance(bucket, str) and bucket != spec.bucket:
                there = (*target[:2], bucket)
                held = self._requests.setdefault(there, {})
            if ami_id in self._refused.get(there, {}):
                # AWS refused it for good since this process last recorded a request for it:
                # a status that shows that request Queued predates the answer (the write of
                # the refusal got no answer, so the poll builds on the last confirmed one).
                continue
            requested = timestamps.parse_time(stamp)
            if ami_id not in held and requested is not None:
                live_for = export.grace(self._grace, self._call_window, spec.poll_interval)
                expires = timestamps.format_time(requested + live_for)
                listed = entry.get(export.LISTED_START)
                listed_start = listed if isinstance(listed, str) else None
                held[ami_id] = export.Request(key, stamp, listed_start, expires=expires)

    def _slots(self, key: str, where: Where, interval: float) -> int | None:
        """How many new requests ``key`` may record now (None: no cap)."""
        if self._blocked(where, interval):
            return 0
        in_flight = {k: n for k, (w, n) in self._in_flight.items() if w == where}
        wanting = [k for k, w in self._wanting.items() if w == where]
        return export.fair_slots(self._max_concurrent, in_flight, wanting, key)

    def _blocked(self, where: Where, interval: float) -> bool:
        """Whether AWS refused for capacity lately: no store has finished, no backoff passed."""
        full = self._full.get(where)
        if full is None:
            return False
        elapsed = self._monotonic() - full.refused
        in_flight = sum(n for w, n in self._in_flight.values() if w == where)
        finished = in_flight < full.in_flight and elapsed >= interval
        return not finished and elapsed < full.backoff

    def _refused_for_capacity(self, where: Where, interval: float, pending: int) -> None:
        in_flight = sum(n for w, n in self._in_flight.values() if w == where) - pending
        full = self._full.get(where)
        refusals = 1 if full is None else full.refusals + 1
        backoff = min(max(MAX_CAPACITY_BACKOFF, interval), interval * 2 ** (refusals - 1))
        self._full[where] = _Full(self._monotonic(), backoff, in_flight, refusals)

    def counted(self, key: str) -> bool:
        """Whether the resource's stores in flight are known (polled, or seeded)."""
        return key in self._in_flight

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
        if not spec.create_tasks or spec.bucket is None or key in self._in_flight:
            return
        by_ami = {str(e["amiId"]): e for e in entries if e.get("amiId") in spec.image_ids}
        by_ami = export.drop_uncalled(by_ami, self._uncalled_in((spec.account, spec.region)))
        target: Target = (spec.account, spec.region, spec.bucket)
        self._sync(key, target, spec, by_ami, current=current)
        count = sum(
            1
            for e in by_ami.values()
            if e.get("state") == model.TaskState.IN_PROGRESS
            or (e.get("state") == model.TaskState.QUEUED and e.get("requestedTime"))
        )
        self._in_flight[key] = ((spec.account, spec.region), count)

    def written(self, key: str) -> None:
        """The status with the requests of ``key``'s last poll is stored: they may be called."""
        for target, ami_id in self._pending.pop(key, ()):
            request = self._requests.get(target, {}).get(ami_id)
            if request is not None and request.owner == key and request.mine:
                self._requests[target][ami_id] = dataclasses.replace(request, confirmed=True)

    def unwritten(self, key: str) -> None:
        """The status with its requests was not stored: never call for them."""
        self._abandon(key)

    def _abandon(self, key: str) -> None:
        """Drop the requests of ``key`` whose status is not known stored: never called.

        A write that got no answer may have stored them: remembered, so the stored status
        showing one is not read as a request that may have started a task.
        """
        for target, ami_id in self._pending.pop(key, ()):
            request = self._requests.get(target, {}).get(ami_id)
            if request is not None and request.owner == key and not request.confirmed:
                del self._requests[target][ami_id]
                self._uncalled.setdefault(target, {})[ami_id] = request.requested_time

    def _uncalled_in(self, where: Where) -> dict[str, dict[str, str]]:
        """The requests dropped uncalled in ``where``, by bucket (``export.drop_uncalled``)."""
        return {t[2]: amis for t, amis in self._uncalled.items() if t[:2] == where}

    def _lapse(self, key: str, target: Target, now: datetime.datetime) -> None:
        """End the requests of ``key`` past their grace while it may not export.

        Without a decision nothing else ends them, and its status would count them in
        flight for good, holding the capacity slots of the AmiStores that may export.
        """
        requests = self._requests.get(target, {})
        for ami_id, request in list(requests.items()):
            if request.owner == key and export.expired(request, now):
                del requests[ami_id]

    def lapses(self, key: str, now: datetime.datetime) -> datetime.datetime | None:
        """When the first live request of ``key`` reaches the end of its grace (None: none).

        Its status changes then by time alone (the entry or record shows it no more).
        """
        ends = [
            expires
            for requests in self._requests.values()
            for request in requests.values()
            if request.owner == key
            and (expires := timestamps.parse_time(request.expires)) is not None
            and expires > now
        ]
        return min(ends, default=None)

    def forget(self, key: str) -> None:
        """The resource is gone (or export is off for it).

        Its requests stay until AWS lists their task or their grace ends: a call made
        for one may still show up, and no other AmiStore may ask again before that.
        """
        self._abandon(key)
        self._in_flight.pop(key, None)
        self._wanting.pop(key, None)
        self._generations.pop(key, None)

    async def _preflight(
        self, inputs: export.Inputs, decision: export.Decision, poll: _Poll
    ) -> tuple[export.Condition | None, Sequence[str]]:
        """Ask IAM by a DryRun; the condition and the AMIs to record after its verdict.

        No verdict (no token yet, throttled, unavailable, another AmiStore's DryRun on
        its way): nothing recorded, the condition as it was.
        """
        spec = inputs.spec
        target: Target = (spec.account, spec.region, spec.bucket or "")
        ami_id = decision.preflight or ""
        if target in self._checking or not self.budget(spec.region, spec.account).try_acquire():
            return decision.condition, ()
        client = self._client((spec.account, spec.region))
        self._checking.add(target)
        try:
            await self._runner(budget.run_prepaid, client.preflight, ami_id, spec.bucket or "")
        except errors.AwsError as exc:
            reason = f"{exc.code}: {exc.message}"
            old = self._verdicts.get(target)
            allowed_before = old is not None and old.denied is None
            if exc.reason == model.PollErrorReason.ACCESS_DENIED and not allowed_before:
                logger.warning("DryRun CreateStoreImageTask refused in %s: %s", target, reason)
                before = old.tried if old is not None and old.denied else ()
                tried = tuple(dict.fromkeys((*before, ami_id)))  # each AMI once
                # The first refusal's message while refusals go on: a status write per AMI
                # tried would say nothing new.
                if old is not None and old.denied:
                    reason = old.denied
                self._verdicts[target] = export.Verdict(self._monotonic(), reason, tried)
                denied = export.export_ready(spec, inputs.namespace, self._permission, reason)
                return denied, ()
            if exc.reason in _FINAL:
                # That AMI alone (IAM allowed another AMI here: a policy scoped per AMI).
                self._refused.setdefault(target, {})[ami_id] = reason
                poll.final.append(ami_id)
                if ami_id in decision.queue:
                    poll.refused[ami_id] = reason
                if allowed_before:
                    return decision.condition, self._allowed(inputs, decision, skip=ami_id)
            else:
                logger.warning("DryRun CreateStoreImageTask failed in %s: %s", target, reason)
            return decision.condition, ()
        finally:
            self._checking.discard(target)
        self._verdicts[target] = export.Verdict(self._monotonic())
        ready = export.export_ready(spec, inputs.namespace, self._permission)
        return ready, self._allowed(inputs, decision)

    @staticmethod
    def _allowed(inputs: export.Inputs, decision: export.Decision, skip: str = "") -> Sequence[str]:
        """The AMIs to record once IAM allows: the queue, within the slots."""
        queue = [a for a in decision.queue if a != skip]
        slots = len(queue) if inputs.slots is None else max(0, inputs.slots)
        return queue[:slots]

    async def _create(self, inputs: export.Inputs, decision: export.Decision, poll: _Poll) -> None:
        """Call for the confirmed requests of ``decision.create``, one call each at most."""
        spec = inputs.spec
        where: Where = (spec.account, spec.region)
        target: Target = (*where, spec.bucket or "")
        requests = self._requests.setdefault(target, {})
        bucket = spec.bucket or ""
        for index, ami_id in enumerate(decision.create):
            if self._blocked(where, spec.poll_interval):
                # AWS is full: withdraw the requests not called (no task was made for them).
                for waiting in decision.create[index:]:
                    requests.pop(waiting, None)
                    poll.withdrawn.append(waiting)
                return
            if not self.budget(spec.region, spec.account).try_acquire():
                return  # no token: the rest are called on a later poll, within their window
            request = requests[ami_id]
            requests[ami_id] = dataclasses.replace(request, called=True)  # one call, whatever
            try:
                key = await self._runner(
                    budget.run_prepaid,
                    self._client(where).create,
                    ami_id,
                    bucket,
                    spec.s3_object_tags,
                )
            except errors.AwsError as exc:
                if exc.code in errors.CAPACITY_CODES:
                    # A definite refusal: AWS made no task, so the AMI waits unrequested.
                    logger.info("CreateStoreImageTask for %s refused for capacity", ami_id)
                    pending = len(decision.create) - index
                    self._refused_for_capacity(where, spec.poll_interval, pending)
                    requests.pop(ami_id, None)
                    poll.withdrawn.append(ami_id)
                    continue
                if exc.reason in _FINAL:
                    reason = f"{exc.code}: {exc.message}" if exc.message else exc.code
                    requests.pop(ami_id, None)
                    self._refused.setdefault(target, {})[ami_id] = reason
                    poll.refused[ami_id] = reason
                    poll.final.append(ami_id)
                    continue
                if exc.reason == model.PollErrorReason.THROTTLED:
                    requests[ami_id] = request  # AWS did not act on it: call again in the window
                # Otherwise unknown whether AWS acted on it: no second call for this request.
                logger.warning("CreateStoreImageTask for %s not confirmed: %s", ami_id, exc)
                return
            self._full.pop(where, None)  # AWS took one: capacity is free again
            poll.events.append(
                statusevents.Event(
                    "Normal",
                    "StoreRequested",
                    f"{ami_id}: asked AWS to store it as s3://{bucket}/{key}",
                )
            )

    def _client(self, where: Where) -> CreateApi:
        client = self._clients.get(where)
        if client is None:
            client = self._clients[where] = self._client_factory(*where)
        return client
