"""The work of one AmiRestore poll, between its kopf daemon and the pure ``core.restore``.

Never twice: the name to restore under is written to the status, and only once that write
is stored does the next poll call ``CreateRestoreImageTask``; every poll with a recorded
name looks it up first (DescribeImages, owner self), so a crash or a lost answer adopts the
image AWS made (its uid tag), and a poll about to record a name first looks for an image
with its uid tag, whatever its name. The flags and the account map are asked before any
call.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable, Mapping
from typing import Any

from amistore_operator.aws import errors
from amistore_operator.core import (
    accounts,
    restore,
    restorepermission,
    restorespec,
    spec,
    status,
    timestamps,
)
from amistore_operator.core import restoreview as rv
from amistore_operator.core.restore import Step
from amistore_operator.reconcile import accountgate, resource, statusmemory, wakeups

Clients = Callable[[str, str], rv.RestoreApi]  # (spec account, region) -> client
MAX_BACKOFF = 3600.0  # the longest wait after AWS's limit refused a restore
THAW_POLL = 900.0  # the longest wait between looks at a thawing object (a copy lasts a day)
REFUSED_WAIT = 5.0  # a refused write is tried again this soon at the earliest
VISIBLE_WITHIN = datetime.timedelta(minutes=15)  # a new image shows in DescribeImages by then


class RestoreService:
    """Polls AmiRestores: reads the object and the image, calls AWS once, renders the status."""

    def __init__(
        self,
        *,
        clients: Clients | None,
        permission: restorepermission.Permission,
        default_region: str,
        default_interval: float,
        clock: Callable[[], datetime.datetime],
        account_map: Callable[[], accounts.AccountMap] = lambda: accounts.NO_MAP,
        own_account: Callable[[], str] = str,
        runner: Callable[..., Any] = asyncio.to_thread,
        gauges: Callable[[str, str, Mapping[str, Any] | None], None] | None = None,
    ) -> None:
        self._clients = clients
        self._cache: dict[tuple[str, str], rv.RestoreApi] = {}
        self._permission = permission
        self._gate = accountgate.AccountGate(
            account_map=account_map, own_account=own_account, watch=None
        )
        self._default_region = default_region
        self._default_interval = default_interval
        self._clock = clock
        self._run = runner
        self._gauges = gauges or (lambda namespace, name, status: None)
        self._memory = statusmemory.StatusMemory()
        self._wakeups = wakeups.Wakeups(lambda key: None)  # its waits only: no timers here
        self._polled: set[str] = set()
        self._waits: dict[str, float] = {}  # the next poll's wait, by key
        self._backoff: dict[str, tuple[int, datetime.datetime]] = {}  # limit refusals, until
        self._seen: dict[str, tuple[int, str | None]] = {}  # generation, retry value
        self._closed = False

    async def poll(
        self, ref: resource.ResourceRef, read: Callable[[], resource.Snapshot]
    ) -> status.Outcome:
        """One poll: wait (not before the first), read AWS, compute the status."""
        if ref.key in self._polled:
            await self._wakeups.until_edited(ref.key, self._waits.get(ref.key, 0.0))
        self._polled.add(ref.key)
        snap = read()
        prior = self._memory.prior(ref, snap.status)
        now = self._clock()
        region = resource.region_named(snap.raw_spec, self._default_region)
        try:
            wanted = restorespec.parse(
                snap.raw_spec, default_region=self._default_region,
                default_interval=self._default_interval,
            )  # fmt: skip
        except spec.SpecError as exc:
            self._waits[ref.key] = self._default_interval
            step = Step({}, (restore.INVALID_SPEC, str(exc)))
            return self._outcome(ref, snap, prior, step, region, "", None)
        self._waits[ref.key] = wanted.poll_interval
        try:
            step = await self._step(ref, snap, wanted, prior, now)
        except errors.AwsError as exc:
            step = Step({}, (exc.reason.value, exc.message or exc.code))
        account = self._gate.account_of(wanted.account)
        return self._outcome(ref, snap, prior, step, wanted.region, account, wanted)

    def _outcome(
        self,
        ref: resource.ResourceRef,
        snap: resource.Snapshot,
        prior: Mapping[str, Any] | None,
        step: Step,
        region: str,
        account: str,
        wanted: restorespec.RestoreSpec | None,
    ) -> status.Outcome:
        new = restore.build(
            prior, step, generation=snap.generation, now=self._clock(), region=region,
            account=account,
        )  # fmt: skip
        changed = new != prior or self._memory.uncertain(ref.key)
        events = restore.events(prior, new, wanted) if wanted is not None else []
        outcome = status.Outcome(status=new, changed=changed, events=tuple(events))
        self._memory.record(ref, outcome)
        self._gauges(ref.namespace, ref.name, new)
        return outcome

    async def _step(
        self,
        ref: resource.ResourceRef,
        snap: resource.Snapshot,
        wanted: restorespec.RestoreSpec,
        prior: Mapping[str, Any] | None,
        now: datetime.datetime,
    ) -> Step:
        stored = prior or {}
        retry = snap.retry_requested
        retrying = retry is not None and retry != stored.get("lastHandledRetryAt")
        phase = restore.phase(stored)
        refusal = self._permission.refusal(ref.namespace, wanted.bucket)
        denial = self._gate.denial(ref.namespace, wanted.account)
        if refusal is None and denial is not None:
            refusal = ("AccountNotAllowed", denial)
        if refusal is not None:
            return Step({}, refusal)  # no AWS call at all
        if retrying and phase != restore.FAILED:
            return Step({"lastHandledRetryAt": retry})  # nothing failed: nothing to retry
        api = self._client(wanted)
        if retrying and retry is not None:
            return await self._retry(api, ref, stored, retry)
        if phase in restore.FINAL:
            return Step({})  # done: no call, ever, until a retry
        return await self._advance(api, ref, wanted, stored, now)

    async def _advance(
        self,
        api: rv.RestoreApi,
        ref: resource.ResourceRef,
        wanted: restorespec.RestoreSpec,
        stored: Mapping[str, Any],
        now: datetime.datetime,
    ) -> Step:
        name = stored.get("imageName")
        if isinstance(name, str) and name:
            found = await self._found(api, ref, stored, name, now)
            if found is not None:
                return found
        obj = await self._run(api.head, wanted.bucket, wanted.object_key)
        if obj is None:
            return restore.missing(wanted)
        thaw = restore.thaw_needed(wanted, obj)
        if thaw is not None:
            step, call = thaw
            self._waits[ref.key] = min(wanted.poll_interval, THAW_POLL)
            if call and wanted.thaw is not None:
                days_apply = obj.storage_class != rv.INTELLIGENT_TIERING
                args = (wanted.bucket, wanted.object_key, wanted.thaw.days, wanted.thaw.tier)
                await self._run(lambda: api.thaw(*args, days_apply=days_apply))
            return step
        fields = restore.readable(obj)
        if not (isinstance(name, str) and name):
            # One an earlier request made, this status not showing it (read stale, then renamed)
            mine = await self._run(api.image_of, ref.uid)
            chosen = mine.name if mine is not None else wanted.name or obj.ami_name
            if not chosen:
                return restore.unnamed(wanted)
            self._waits[ref.key] = 0.0  # stored, the create follows at once
            return Step({**fields, **restore.recorded(chosen, timestamps.format_time(now)).fields})
        return await self._create(api, ref, wanted, name, fields, now)

    async def _found(
        self,
        api: rv.RestoreApi,
        ref: resource.ResourceRef,
        stored: Mapping[str, Any],
        name: str,
        now: datetime.datetime,
    ) -> Step | None:
        """The image under the recorded name, if AWS shows one (None: none, call on)."""
        image = await self._run(api.image_named, name)
        if image is None:
            if not stored.get("imageId"):
                return None
            asked = timestamps.parse_time(stored.get("requestedTime"))
            if asked is not None and now - asked < VISIBLE_WITHIN:
                return Step({})  # AWS's reads may lag its create: not gone yet
            reason = f"{stored['imageId']} ({name}) is gone: deregistered by someone else"
            return Step({"phase": restore.FAILED, "failureReason": reason})
        if not restore.adoptable(image, ref.uid, stored):
            return restore.name_taken(name, image.image_id)
        progress = None
        if image.state == "pending":
            progress = await self._run(api.progress, image.snapshot_ids)
        return restore.followed(image, progress, timestamps.format_time(now))

    async def _create(
        self,
        api: rv.RestoreApi,
        ref: resource.ResourceRef,
        wanted: restorespec.RestoreSpec,
        name: str,
        fields: Mapping[str, Any],
        now: datetime.datetime,
    ) -> Step:
        attempts, until = self._backoff.get(ref.key, (0, now))
        if now < until:
            return restore.limited("AWS's limit on restores in progress refused it", until)
        tags = {**dict(wanted.tags), rv.RESTORE_UID_TAG: ref.uid}
        args = (wanted.bucket, wanted.object_key, name, tags)
        try:
            image_id = await self._run(api.create, *args)
        except errors.AwsError as exc:
            if exc.code == rv.NAME_TAKEN:
                image = await self._run(api.image_named, name)
                if image is not None and restore.adoptable(image, ref.uid, {}):
                    return restore.followed(image, 0, timestamps.format_time(now))
                return restore.name_taken(name, image.image_id if image else "another AMI")
            if exc.code != rv.LIMIT_EXCEEDED:
                raise
            wait = min(MAX_BACKOFF, max(60.0, wanted.poll_interval) * 2**attempts)
            until = now + datetime.timedelta(seconds=wait)
            self._backoff[ref.key] = (attempts + 1, until)
            self._waits[ref.key] = wait
            return Step(dict(fields), restore.limited(exc.message, until).synced)
        self._backoff.pop(ref.key, None)
        return Step({**fields, **restore.requested(image_id).fields})

    async def _retry(
        self, api: rv.RestoreApi, ref: resource.ResourceRef, stored: Mapping[str, Any], retry: str
    ) -> Step:
        """A Failed restore asked again: its failed image (ours) goes, then a new request."""
        name, image_id = stored.get("imageName"), stored.get("imageId")
        if isinstance(name, str) and name and image_id:
            image = await self._run(api.image_named, name)
            if image is not None and restore.own_failed(image, ref.uid, image_id):
                await self._run(api.deregister, image.image_id)  # frees its name
        self._waits[ref.key] = 0.0
        return restore.retried(retry)

    def _client(self, wanted: restorespec.RestoreSpec) -> rv.RestoreApi:
        where = (wanted.account, wanted.region)
        if where not in self._cache and self._clients is not None:
            self._cache[where] = self._clients(*where)
        return self._cache[where]

    def observe(self, ref: resource.ResourceRef, generation: int, snap: resource.Snapshot) -> None:
        """A watch event: an edit or a new retry value is acted on within seconds."""
        seen = (snap.generation, snap.retry_requested)
        if self._seen.get(ref.key, seen) != seen:
            self._wakeups.edited(ref.key)
        self._seen[ref.key] = seen

    def patch(self, ref: resource.ResourceRef, new: Mapping[str, Any], watched: Any) -> Any:
        """The merge patch that stores exactly ``new``."""
        return self._memory.patch(ref, new, watched)

    def written(self, ref: resource.ResourceRef) -> None:
        """The status is stored (a recorded name may now be restored under)."""
        self._memory.stored(ref.key)

    def unwritten(self, ref: resource.ResourceRef, *, ambiguous: bool = False) -> None:
        """Refused: the next poll starts from the stored status (no call for the unstored)."""
        self._memory.refused(ref.key, ambiguous=ambiguous)
        wait = min(self._waits.get(ref.key, 0.0), self._default_interval)
        self._waits[ref.key] = max(wait, REFUSED_WAIT)

    def forget(self, ref: resource.ResourceRef) -> None:
        """The resource is gone (its image stays: deleting an AmiRestore deregisters nothing)."""
        self._memory.forget(ref.key)
        self._gauges(ref.namespace, ref.name, None)
        for memo in (self._waits, self._backoff, self._seen):
            memo.pop(ref.key, None)
        self._polled.discard(ref.key)
        self._wakeups.edited(ref.key)

    @property
    def closed(self) -> bool:
        """Whether the operator is shutting down."""
        return self._closed

    async def close(self) -> None:
        """Stop: no more polls."""
        self._closed = True
        self._wakeups.close()
