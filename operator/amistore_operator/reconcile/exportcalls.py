"""Export's calls to AWS for one poll: the DryRun preflight and the creates.

The exporter hands over the core's decision; this asks IAM by a DryRun where it says so
(one at a time per (account, region, bucket); a refusal becomes that bucket's verdict),
calls for the confirmed requests, one call each at most, and notes what came of them in
the poll's ``exportresults.Poll``. Each call is paid from the (account, region)'s create
bucket, never waiting for a token inside a poll. A create refused for one AMI (access, a
bad ID) refuses that AMI alone, in the book (``exportbook``); one refused for capacity
blocks the (account, region) (``exportcapacity``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from amistore_operator.aws import budget, errors, ratelimit
from amistore_operator.core import export, model, statusevents
from amistore_operator.reconcile import exportbook, exportcapacity, exportresults

# The exporter's log lines keep the name they have always had (log filters may name it).
logger = logging.getLogger("amistore_operator.reconcile.exporter")

Runner = Callable[..., Awaitable[Any]]

# Refused for good, for that AMI: the same call would be refused again until a person acts.
_FINAL = frozenset(
    {
        model.PollErrorReason.INVALID_REQUEST,
        model.PollErrorReason.INVALID_IMAGE_ID,
        model.PollErrorReason.ACCESS_DENIED,
    }
)


class CreateApi(Protocol):
    """What the exporter needs of ``aws.create.CreateClient``."""

    def create(self, ami_id: str, bucket: str, tags: Sequence[tuple[str, str]] = ()) -> str: ...

    def preflight(self, ami_id: str, bucket: str) -> None: ...


class Calls:
    """The DryRuns and creates of every (account, region), their clients and budgets."""

    def __init__(
        self,
        *,
        permission: export.Permission,
        client_factory: Callable[[str, str], CreateApi],
        rate: float,
        burst: int,
        book: exportbook.Book,
        capacity: exportcapacity.Capacity,
        runner: Runner = asyncio.to_thread,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._permission = permission
        self._client_factory = client_factory
        self._runner = runner
        self._monotonic = monotonic
        self._book = book
        self._capacity = capacity
        self._clients: dict[exportcapacity.Where, CreateApi] = {}
        self._budgets = budget.Budgets(rate, burst, monotonic)
        self.verdicts: dict[exportbook.Target, export.Verdict] = {}
        self._checking: set[exportbook.Target] = set()  # DryRuns on their way

    def budget(self, region: str, account: str = "") -> ratelimit.TokenBucket:
        """The create bucket of ``account`` in ``region`` (created on first use)."""
        return self._budgets.bucket(region, account)

    def attempt_hook(self, region: str, account: str = "") -> Callable[[], None]:
        """The create client's ``on_attempt``: pays the create bucket unless prepaid."""
        return self._budgets.attempt_hook(region, account)

    async def preflight(
        self, inputs: export.Inputs, decision: export.Decision, poll: exportresults.Poll
    ) -> tuple[export.Condition | None, Sequence[str]]:
        """Ask IAM by a DryRun; the condition and the AMIs to record after its verdict.

        No verdict (no token yet, throttled, unavailable, another AmiStore's DryRun on
        its way): nothing recorded, the condition as it was.
        """
        spec = inputs.spec
        target: exportbook.Target = (spec.account, spec.region, spec.bucket or "")
        ami_id = decision.preflight or ""
        if target in self._checking or not self.budget(spec.region, spec.account).try_acquire():
            return decision.condition, ()
        client = self._client((spec.account, spec.region))
        self._checking.add(target)
        try:
            await self._runner(budget.run_prepaid, client.preflight, ami_id, spec.bucket or "")
        except errors.AwsError as exc:
            reason = f"{exc.code}: {exc.message}"
            old = self.verdicts.get(target)
            allowed_before = old is not None and old.denied is None
            if exc.reason == model.PollErrorReason.ACCESS_DENIED and not allowed_before:
                logger.warning("DryRun CreateStoreImageTask refused in %s: %s", target, reason)
                before = old.tried if old is not None and old.denied else ()
                tried = tuple(dict.fromkeys((*before, ami_id)))  # each AMI once
                # The first refusal's message while refusals go on: a status write per AMI
                # tried would say nothing new.
                if old is not None and old.denied:
                    reason = old.denied
                self.verdicts[target] = export.Verdict(self._monotonic(), reason, tried)
                denied = export.export_ready(spec, inputs.namespace, self._permission, reason)
                return denied, ()
            if exc.reason in _FINAL:
                # That AMI alone (IAM allowed another AMI here: a policy scoped per AMI).
                self._book.refused.setdefault(target, {})[ami_id] = reason
                poll.final.append(ami_id)
                if ami_id in decision.queue:
                    poll.refused[ami_id] = reason
                if allowed_before:
                    return decision.condition, _allowed(inputs, decision, skip=ami_id)
            else:
                logger.warning("DryRun CreateStoreImageTask failed in %s: %s", target, reason)
            return decision.condition, ()
        finally:
            self._checking.discard(target)
        self.verdicts[target] = export.Verdict(self._monotonic())
        ready = export.export_ready(spec, inputs.namespace, self._permission)
        return ready, _allowed(inputs, decision)

    async def create(
        self, inputs: export.Inputs, decision: export.Decision, poll: exportresults.Poll
    ) -> None:
        """Call for the confirmed requests of ``decision.create``, one call each at most."""
        spec = inputs.spec
        where: exportcapacity.Where = (spec.account, spec.region)
        target: exportbook.Target = (*where, spec.bucket or "")
        requests = self._book.requests.setdefault(target, {})
        bucket = spec.bucket or ""
        for index, ami_id in enumerate(decision.create):
            if self._capacity.blocked(where, spec.poll_interval):
                # AWS is full: withdraw the requests not called (no task was made for them).
                for waiting in decision.create[index:]:
                    self._book.withdraw(target, waiting)
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
                    self._capacity.refused(where, spec.poll_interval, pending)
                    self._book.withdraw(target, ami_id)
                    poll.withdrawn.append(ami_id)
                    continue
                if exc.reason in _FINAL:
                    reason = f"{exc.code}: {exc.message}" if exc.message else exc.code
                    requests.pop(ami_id, None)
                    self._book.refused.setdefault(target, {})[ami_id] = reason
                    poll.refused[ami_id] = reason
                    poll.final.append(ami_id)
                    continue
                if exc.reason == model.PollErrorReason.THROTTLED:
                    requests[ami_id] = request  # AWS did not act on it: call again in the window
                # Otherwise unknown whether AWS acted on it: no second call for this request.
                logger.warning("CreateStoreImageTask for %s not confirmed: %s", ami_id, exc)
                return
            self._capacity.took(where)  # AWS took one: capacity is free again
            poll.events.append(
                statusevents.Event(
                    "Normal",
                    "StoreRequested",
                    f"{ami_id}: asked AWS to store it as s3://{bucket}/{key}",
                )
            )

    def _client(self, where: exportcapacity.Where) -> CreateApi:
        client = self._clients.get(where)
        if client is None:
            client = self._clients[where] = self._client_factory(*where)
        return client


def _allowed(inputs: export.Inputs, decision: export.Decision, skip: str = "") -> Sequence[str]:
    """The AMIs to record once IAM allows: the queue, within the slots."""
    queue = [a for a in decision.queue if a != skip]
    slots = len(queue) if inputs.slots is None else max(0, inputs.slots)
    return queue[:slots]
