"""Export mode's calls, for the service: the preflight, the creates, their budget.

The pure decision (``core.export``) says which AMIs to record as ``Queued`` and
which recorded ones to create; this carries it out for one poll of one resource:
it keeps the requests this process recorded (in memory only: a restarted
process never calls for a request it did not record, see ``core.export``),
makes the DryRun preflight once per (account, region) and again every ten
intervals while it is refused (or at once after a spec change), and pays each
create from the (account, region)'s create bucket, never waiting for a token
inside a poll.

Capacity, per (account, region): at most ``max_concurrent`` of the operator's own
stores in progress (InProgress tasks of AmiStores with createTasks, plus requests
AWS does not list yet), counted over every such AmiStore at its last poll. A create
AWS refuses for capacity blocks new requests in that (account, region) until one of
its stores finishes (at least one interval later) or a backoff passes (one interval,
doubling to ``MAX_CAPACITY_BACKOFF``): at most one refused create per interval.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from amistore_operator.aws import budget, errors, ratelimit
from amistore_operator.core import export, model, statusevents, timestamps

logger = logging.getLogger(__name__)

Runner = Callable[..., Awaitable[Any]]
RECHECK_INTERVALS = 10  # a refused preflight is tried again after this many intervals
DEFAULT_MAX_CONCURRENT = 20  # AWS's 1,200 GB in progress holds 20 AMIs of 60 GB
MAX_CAPACITY_BACKOFF = 600.0  # seconds: the longest wait after refusals for capacity

# Refused for good: the same call would be refused again until a person changes something.
_FINAL = frozenset({model.PollErrorReason.INVALID_REQUEST, model.PollErrorReason.INVALID_IMAGE_ID})


class CreateApi(Protocol):
    """What the exporter needs of ``aws.create.CreateClient``."""

    def create(self, ami_id: str, bucket: str, tags: Sequence[tuple[str, str]] = ()) -> str: ...

    def preflight(self, ami_id: str, bucket: str) -> None: ...


@dataclasses.dataclass(frozen=True)
class Step:
    """Export mode's part of one poll's status: condition, entries, events."""

    condition: tuple[str, str, str, str] | None
    entries: dict[str, dict[str, Any]]
    events: tuple[statusevents.Event, ...] = ()
    retry_handled: str | None = None  # the retry annotation value handled, for the status


@dataclasses.dataclass
class _Preflight:
    checked: float  # monotonic time of the check
    denied: str | None  # AWS's message when refused


@dataclasses.dataclass
class _Full:
    """AWS refused a create for capacity in an (account, region)."""

    refused: float  # monotonic time of the last refusal
    backoff: float  # seconds until asking again regardless
    in_flight: int  # the (account, region)'s stores in progress then
    refusals: int = 1


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
        call_window: datetime.timedelta | None = None,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    ) -> None:
        self._permission = permission
        self._max_concurrent = max_concurrent  # 0: no cap of our own
        self._client_factory = client_factory
        self._runner = runner
        self._monotonic = monotonic
        self._grace = grace
        # A request is called within half its grace at most, so any call is listed by then.
        self._call_window = call_window or min(export.DEFAULT_CALL_WINDOW, grace / 2)
        self._clients: dict[tuple[str, str], CreateApi] = {}
        self._budgets = budget.Budgets(rate, burst, monotonic)
        self._preflights: dict[tuple[str, str], _Preflight] = {}
        self._recorded: dict[str, dict[str, export.Recorded]] = {}
        self._in_flight: dict[str, tuple[tuple[str, str], int]] = {}  # key -> (where, stores)
        self._full: dict[tuple[str, str], _Full] = {}
        self._generations: dict[str, int] = {}
        self._checking: set[tuple[str, str]] = set()  # DryRuns on their way

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
        retry_handled: str | None = None,
    ) -> Step | None:
        """Export's part of one poll (None without ``createTasks``); may call AWS.

        ``retry_requested``: the resource's ``amistore.io/retry-requested-at``;
        ``retry_handled``: the value its status says was handled.
        """
        if not spec.create_tasks or spec.bucket is None:
            self.forget(key)
            return None
        where = (spec.account, spec.region)
        listed = view.tasks
        if self._generations.get(key, generation) != generation:
            self._preflights.pop(where, None)  # a spec change re-evaluates ExportReady at once
        self._generations[key] = generation
        allowed = False
        if export.is_ready(export.export_ready(spec, namespace, self._permission)):
            allowed = await self._preflight(where, spec.image_ids[0], spec.bucket, spec)
        condition = export.export_ready(spec, namespace, self._permission, self._denied(where))
        if not allowed or view.error is not None:
            if not export.is_ready(condition):
                self._recorded.pop(key, None)  # no call for them: they lapse after the grace
            shown = export.entries(
                spec, listed, previous, export.Decision(), now=now, grace=self._grace
            )
            self._in_flight[key] = (where, export.in_flight(spec, listed, shown))
            return Step(condition, shown, retry_handled=retry_handled)
        recorded = self._recorded.setdefault(key, {})
        decision = export.decide(
            spec,
            listed,
            previous,
            now=now,
            recorded=recorded,
            retry_requested=retry_requested,
            retry_handled=retry_handled,
            grace=self._grace,
            call_window=self._call_window,
        )
        refused: dict[str, tuple[str, str]] = {}
        events: list[statusevents.Event] = []
        withdrawn: list[str] = []
        if decision.create:
            await self._create(where, spec, decision, recorded, refused, withdrawn, events)
            denied = self._denied(where)
            if denied is not None:
                condition = export.export_ready(spec, namespace, self._permission, denied)
        # Stores in progress before any new request: those AWS lists, and live requests.
        kept = export.entries(spec, listed, previous, export.Decision(), now=now, grace=self._grace)
        kept = {a: e for a, e in kept.items() if a not in withdrawn}
        self._in_flight[key] = (where, export.in_flight(spec, listed, kept))
        decision = dataclasses.replace(decision, wait=(*decision.wait, *withdrawn))
        decision = export.admit(decision, self._slots(where, spec.poll_interval))
        stamp = timestamps.format_time(now)
        recorded.update(export.recorded_for(decision.queue, listed, stamp))
        shown = export.entries(
            spec, listed, previous, decision, now=now, refused=refused, grace=self._grace
        )
        self._in_flight[key] = (where, export.in_flight(spec, listed, shown))
        return Step(condition, shown, tuple(events), decision.retry_handled)

    def _slots(self, where: tuple[str, str], interval: float) -> int | None:
        """How many new requests (account, region) may record now (None: no cap)."""
        in_flight = sum(n for w, n in self._in_flight.values() if w == where)
        full = self._full.get(where)
        if full is not None:
            elapsed = self._monotonic() - full.refused
            finished = in_flight < full.in_flight and elapsed >= interval
            if not finished and elapsed < full.backoff:
                return 0
        if self._max_concurrent <= 0:
            return None
        return max(0, self._max_concurrent - in_flight)

    def _refused_for_capacity(self, where: tuple[str, str], interval: float, pending: int) -> None:
        in_flight = sum(n for w, n in self._in_flight.values() if w == where) - pending
        full = self._full.get(where)
        refusals = 1 if full is None else full.refusals + 1
        backoff = min(max(MAX_CAPACITY_BACKOFF, interval), interval * 2 ** (refusals - 1))
        self._full[where] = _Full(self._monotonic(), backoff, in_flight, refusals)

    def counted(self, key: str) -> bool:
        """Whether the resource's stores in flight are known (polled, or seeded)."""
        return key in self._in_flight

    def seed(
        self, key: str, spec: model.AmiStoreSpec, entries: Sequence[Mapping[str, Any]]
    ) -> None:
        """What a stored status says is in flight, until the resource's first poll.

        After a restart every AmiStore's watch event arrives before its first poll
        ends, so the cap counts the stores that earlier processes started.
        """
        if not spec.create_tasks or key in self._in_flight:
            return
        count = sum(
            1
            for e in entries
            if e.get("amiId") in spec.image_ids
            and (
                e.get("state") == model.TaskState.IN_PROGRESS
                or (e.get("state") == model.TaskState.QUEUED and e.get("requestedTime"))
            )
        )
        self._in_flight[key] = ((spec.account, spec.region), count)

    def unwritten(self, key: str) -> None:
        """The status with its requests was not stored: never call for them."""
        self._recorded.pop(key, None)

    def forget(self, key: str) -> None:
        """The resource is gone (or export is off for it)."""
        self._recorded.pop(key, None)
        self._in_flight.pop(key, None)
        self._generations.pop(key, None)

    def _denied(self, where: tuple[str, str]) -> str | None:
        found = self._preflights.get(where)
        return None if found is None else found.denied

    async def _preflight(
        self, where: tuple[str, str], ami_id: str, bucket: str, spec: model.AmiStoreSpec
    ) -> bool:
        """Whether IAM lets (account, region) create, by a DryRun when one is due.

        False also when no verdict came (no token yet, throttled, unavailable): no
        create then, and the condition stays as it was.
        """
        found = self._preflights.get(where)
        due = RECHECK_INTERVALS * spec.poll_interval
        if found is not None and (found.denied is None or self._monotonic() - found.checked < due):
            return found.denied is None
        if where in self._checking:
            return False  # another AmiStore's DryRun for it is on its way: one verdict serves all
        if not self.budget(where[1], where[0]).try_acquire():
            return False
        client = self._client(where)
        self._checking.add(where)
        try:
            await self._runner(budget.run_prepaid, client.preflight, ami_id, bucket)
        except errors.AwsError as exc:
            if exc.reason != model.PollErrorReason.ACCESS_DENIED:
                logger.warning("DryRun CreateStoreImageTask failed in %s: %s", where, exc)
                return False  # no verdict on IAM: ask again next time
            denied = f"{exc.code}: {exc.message}"
            logger.warning("DryRun CreateStoreImageTask refused in %s: %s", where, denied)
            self._preflights[where] = _Preflight(self._monotonic(), denied)
            return False
        finally:
            self._checking.discard(where)
        self._preflights[where] = _Preflight(self._monotonic(), None)
        return True

    async def _create(
        self,
        where: tuple[str, str],
        spec: model.AmiStoreSpec,
        decision: export.Decision,
        recorded: dict[str, export.Recorded],
        refused: dict[str, tuple[str, str]],
        withdrawn: list[str],
        events: list[statusevents.Event],
    ) -> None:
        """Call for the recorded requests of ``decision.create``, one call each at most."""
        client = self._client(where)
        bucket_tokens = self.budget(where[1], where[0])
        bucket = spec.bucket or ""
        for index, ami_id in enumerate(decision.create):
            if where in self._full and self._slots(where, spec.poll_interval) == 0:
                # AWS is full: withdraw the requests not called (no task was made for them).
                for waiting in decision.create[index:]:
                    recorded.pop(waiting, None)
                    withdrawn.append(waiting)
                return
            if not bucket_tokens.try_acquire():
                return  # no token: the rest are called on a later poll, within their window
            request = recorded.pop(ami_id)  # one call per request, whatever comes of it
            try:
                key = await self._runner(
                    budget.run_prepaid, client.create, ami_id, bucket, spec.s3_object_tags
                )
            except errors.AwsError as exc:
                if exc.code in errors.CAPACITY_CODES:
                    # A definite refusal: AWS made no task, so the AMI waits unrequested.
                    logger.info("CreateStoreImageTask for %s refused for capacity", ami_id)
                    # Neither it nor the requests after it are in flight any more.
                    pending = len(decision.create) - index
                    self._refused_for_capacity(where, spec.poll_interval, pending)
                    withdrawn.append(ami_id)
                    continue
                if exc.reason in _FINAL:
                    refused[ami_id] = (exc.code, exc.message)
                    continue
                if exc.reason == model.PollErrorReason.THROTTLED:
                    recorded[ami_id] = request  # AWS did not act on it: call again in the window
                elif exc.reason == model.PollErrorReason.ACCESS_DENIED:
                    self._preflights[where] = _Preflight(
                        self._monotonic(), f"{exc.code}: {exc.message}"
                    )
                # Otherwise unknown whether AWS acted on it: no second call for this request.
                logger.warning("CreateStoreImageTask for %s not confirmed: %s", ami_id, exc)
                return
            self._full.pop(where, None)  # AWS took one: capacity is free again
            events.append(
                statusevents.Event(
                    "Normal",
                    "StoreRequested",
                    f"{ami_id}: asked AWS to store it as s3://{bucket}/{key}",
                )
            )

    def _client(self, where: tuple[str, str]) -> CreateApi:
        client = self._clients.get(where)
        if client is None:
            client = self._clients[where] = self._client_factory(*where)
        return client
