"""Verify's step of a poll (``spec.verifyObjects``): one HeadObject per Completed task's object.

``core.verify`` decides which objects to look at; this asks S3, in the account and
region the resource polls (never for a namespace the account map refuses), at most
``verify.MAX_PER_POLL`` a poll, a few at a time, and hands back what it found: the
fields of each object found (the core puts them on the task's entry, and
``ExportVerified`` follows), and a Warning ``ObjectUnverified`` for an object S3 did
not show (missing, or an error), once per task and cause, asked for again
``verify.RETRY_INTERVALS`` intervals later (a throttled or failed call: at the next
poll, without a Warning). A task verified is never asked for again.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from amistore_operator.aws import errors
from amistore_operator.core import cleanup, model, statusevents, taskentries, verify
from amistore_operator.reconcile import resource, step

logger = logging.getLogger(__name__)
Runner = Callable[..., Awaitable[Any]]
AT_ONCE = 4  # HeadObject calls in flight per poll
_TRANSIENT = frozenset({model.PollErrorReason.THROTTLED, model.PollErrorReason.AWS_UNAVAILABLE})


class ObjectApi(Protocol):
    """What the step needs of ``aws.objects.ObjectClient``."""

    def head(self, bucket: str, key: str) -> verify.Head | None: ...


class VerifyStep(step.Step):
    """Looks at each Completed task's object once; None: the operator never verifies."""

    def __init__(
        self,
        client_factory: Callable[[str, str], ObjectApi] | None,
        *,
        runner: Runner = asyncio.to_thread,
    ) -> None:
        self._factory = client_factory  # (account, region) -> client
        self._runner = runner
        self._clients: dict[tuple[str, str], ObjectApi] = {}
        # Per resource: the objects S3 did not show, when to ask again, and what was said.
        self._not_before: dict[str, dict[verify.Target, datetime.datetime]] = {}
        self._warned: dict[str, set[tuple[verify.Target, str]]] = {}

    async def run(self, inputs: step.PollInputs) -> step.Part:
        """The objects found this poll, and a Warning for each one S3 did not show."""
        spec, key = inputs.wanted, inputs.ref.key
        if self._factory is None or not spec.verifies or inputs.denial is not None:
            return step.Part()
        known = inputs.entries
        if known is None:  # a status another process wrote: its entries are all there is
            known = tuple(taskentries.from_status(inputs.prior or {}))
        prev = {str(e.get("amiId")): e for e in known}
        waiting = self._not_before.setdefault(key, {})
        retired = {ami for ami, entry in prev.items() if cleanup.state(entry) in cleanup.ENDED}
        targets = verify.wanted(spec, inputs.view.tasks, prev, waiting, inputs.now, retired=retired)
        if not targets:
            return step.Part()
        client = self._client(spec.account, spec.region)
        gate = asyncio.Semaphore(AT_ONCE)

        async def head(target: verify.Target) -> verify.Head | errors.AwsError | None:
            async with gate:
                try:
                    found: verify.Head | None = await self._runner(
                        client.head, target.bucket, target.key
                    )
                except errors.AwsError as exc:
                    return exc
                return found

        answers = await asyncio.gather(*(head(t) for t in targets[: verify.MAX_PER_POLL]))
        verified: dict[str, tuple[str, Mapping[str, Any]]] = {}
        events: list[statusevents.Event] = []
        for target, answer in zip(targets, answers, strict=False):
            if isinstance(answer, verify.Head):
                waiting.pop(target, None)
                verified[target.ami_id] = (target.started, verify.fields(answer, inputs.now))
                continue
            if isinstance(answer, errors.AwsError) and answer.reason in _TRANSIENT:
                continue  # asked for again at the next poll, as a poll that failed is
            waiting[target] = verify.retry_at(inputs.now, spec.poll_interval)
            events.extend(self._unverified(key, target, answer))
        more = len(targets) > verify.MAX_PER_POLL
        return step.Part(
            status={"verified": verified} if verified else {},
            events=tuple(statusevents.capped(events)),  # a whole bucket gone: one summary
            wake_at=inputs.now + datetime.timedelta(seconds=1) if more else None,
        )

    def _client(self, account: str, region: str) -> ObjectApi:
        found = self._clients.get((account, region))
        if found is None and self._factory is not None:
            found = self._clients[(account, region)] = self._factory(account, region)
        if found is None:
            raise AssertionError("no client factory")
        return found

    def _unverified(
        self, key: str, target: verify.Target, answer: errors.AwsError | None
    ) -> list[statusevents.Event]:
        """The Warning for an object S3 did not show: once per task and cause."""
        cause = "missing" if answer is None else answer.code
        said = self._warned.setdefault(key, set())
        if (target, cause) in said:
            return []
        said.add((target, cause))
        where = f"s3://{target.bucket}/{target.key}"
        if answer is None:
            message = f"{target.ami_id}: {where} not found (HeadObject: 404)"
        else:
            why = f"{answer.code}: {answer.message}"
            message = f"{target.ami_id}: {where} could not be checked: {why}"
            logger.warning("HeadObject %s failed: %s", where, answer)
        return [statusevents.Event("Warning", "ObjectUnverified", message)]

    def forget(self, key: str) -> None:
        """The resource is gone."""
        self._not_before.pop(key, None)
        self._warned.pop(key, None)

    def rejected(
        self, ref: resource.ResourceRef, prior: Mapping[str, Any] | None, now: datetime.datetime
    ) -> step.Part:
        """Nothing of its own to keep in the status."""
        return step.Part()
