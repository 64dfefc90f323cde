"""Cleanup's step of a poll (``spec.afterExport``): deregister an exported AMI, guarded.

``core.cleanup`` decides; this reads what it needs, cheapest first and only for the AMIs
still in the running: one HeadObject per AMI, one DescribeImages for all, then
DescribeImageAttribute and DescribeImageReferences (ten a call) for those that passed.
An AMI every guard allows is marked ``Deregistering``; ``DeregisterImage`` follows in a
later poll, once that status is stored, after every guard is read again; a lost answer
is not asked again (an AMI gone with its mark was ours). A blocked one is looked at again
within ``RECHECK_INTERVALS`` intervals. One AmiStore at a time per AMI (``cleanupbook``).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from amistore_operator.aws import errors
from amistore_operator.core import (
    accountentries,
    cleanup,
    cleanuppermission,
    model,
    statusevents,
    taskentries,
    verify,
)
from amistore_operator.core import images as amis
from amistore_operator.reconcile import cleanupbook, resource, step, verifystep

logger = logging.getLogger(__name__)
Runner = Callable[..., Awaitable[Any]]
RECHECK_INTERVALS = 10
MAX_PER_POLL = 20  # AMIs whose guards are read per resource per poll
_TRANSIENT = frozenset({model.PollErrorReason.THROTTLED, model.PollErrorReason.AWS_UNAVAILABLE})
_GONE = frozenset({"InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"})


class ImageApi(Protocol):
    """What the step needs of ``aws.images.ImageClient``."""

    def images(self, image_ids: Sequence[str]) -> dict[str, amis.Image]: ...
    def launch_permissions(self, image_id: str) -> amis.LaunchPermissions: ...
    def references(self, image_ids: Sequence[str]) -> list[amis.Reference]: ...
    def snapshots(self, snapshot_ids: Sequence[str]) -> dict[str, amis.Snapshot]: ...
    def deregister(self, image_id: str, delete_snapshots: bool) -> amis.Deregistered: ...


class CleanupStep(step.Step):
    """Deregisters the exported AMIs of AmiStores that ask for it, when every guard holds."""

    def __init__(
        self,
        client_factory: Callable[[str, str], ImageApi] | None,
        objects: Callable[[str, str], verifystep.ObjectApi] | None,
        permission: cleanuppermission.Permission | None,
        *,
        parsed: Mapping[str, tuple[object, model.AmiStoreSpec]],
        book: cleanupbook.CleanupBook | None = None,
        runner: Runner = asyncio.to_thread,
    ) -> None:
        """``parsed``: every AmiStore's parsed spec by key (the service's, kept current)."""
        self._factory = client_factory  # (account, region) -> client
        self._objects = objects  # (account, region) -> HeadObject client
        self._permission = permission or cleanuppermission.Permission()
        self._parsed = parsed
        self._book = book or cleanupbook.CleanupBook()
        self._runner = runner
        self._clients: dict[tuple[str, str], ImageApi] = {}
        self._unstored: dict[str, set[str]] = {}  # marked Deregistering, not yet stored
        self._not_before: dict[str, dict[str, datetime.datetime]] = {}  # blocked: next look
        self._done: dict[str, dict[str, dict[str, Any]]] = {}  # deregistered: its fields

    async def run(self, inputs: step.PollInputs) -> step.Part:
        """This poll's cleanup: the entries' cleanup fields and the ``Archived`` condition."""
        spec, key = inputs.wanted, inputs.ref.key
        known = inputs.entries
        if known is None:  # a status another process wrote: its entries are all there is
            known = tuple(taskentries.from_status(inputs.prior or {}))
        if accountentries.other_account(inputs.prior, inputs.view.account or spec.account):
            known = ()  # another account's AMIs: nothing of them holds in this one
        where = (spec.account, spec.region)
        self._book.learn(key, where, known)
        cleans = cleanup.deregisters(spec)
        self._book.release(key, where, spec.image_ids if cleans else ())
        if self._factory is None or self._objects is None or not cleans:
            return step.Part()
        prev = {str(e.get("amiId")): e for e in known}
        changed: dict[str, dict[str, Any]] = {}
        due = self._due(inputs, prev, changed)
        events: list[statusevents.Event] = []
        if due and inputs.view.account:
            client = self._client(spec.account, spec.region)
            head = self._objects(spec.account, spec.region).head
            ready = await self._guards(client, head, inputs, {a: prev[a] for a in due}, changed)
            for ami_id, image in ready.items():
                if cleanup.state(prev[ami_id]) == cleanup.DEREGISTERING and ami_id not in (
                    self._unstored.get(key, set())
                ):
                    events += await self._deregister(client, inputs, image, prev[ami_id], changed)
                elif self._book.claim(key, (spec.account, spec.region), ami_id):
                    changed[ami_id] = cleanup.deregistering(prev[ami_id])
                    self._unstored.setdefault(key, set()).add(ami_id)
        changed.update(self._done.get(key, {}))
        shown = {a: {**prev.get(a, {}), **changed.get(a, {})} for a in spec.image_ids}
        marked = tuple(a for a in changed if cleanup.state(changed[a]) == cleanup.DEREGISTERING)
        return step.Part(
            status={"cleaned": cleanup.changes(changed), "archived": cleanup.archived(spec, shown)},
            events=tuple(events),
            requested=marked,  # polled right after the status is stored: the call follows
            wake_at=min(self._not_before.get(key, {}).values(), default=None),
        )

    def _due(
        self,
        inputs: step.PollInputs,
        prev: Mapping[str, Mapping[str, Any]],
        changed: dict[str, dict[str, Any]],
    ) -> list[str]:
        """The AMIs whose AWS guards to read now; the others' local verdicts go in ``changed``."""
        spec, key, now = inputs.wanted, inputs.ref.key, inputs.now
        refusal = self._permission.refusal(inputs.ref.namespace)
        if inputs.denial is not None:
            refusal = (cleanup.ACCOUNT_NOT_ALLOWED, inputs.denial)
        later = self._not_before.setdefault(key, {})
        due: list[str] = []
        where = (spec.account, spec.region)
        for ami_id in spec.image_ids:
            entry = prev.get(ami_id)
            if entry is None or cleanup.state(entry) in cleanup.ENDED:
                continue
            if self._book.ended(where, ami_id):  # gone: ours if marked, else another's
                ours = cleanup.state(entry) == cleanup.DEREGISTERING
                changed[ami_id] = cleanup.deregistered(entry, now, None, gone=not ours)
                continue
            if self._book.held_by_other(key, where, ami_id):
                continue  # another AmiStore has marked it: its cleanup goes first
            started = str(entry.get("taskStartTime") or "")
            kept_by, exporting = self._book.others(key, spec, ami_id, self._parsed, started)
            verdict = cleanup.local(
                spec, entry, now, refusal=refusal, kept_by=kept_by, exporting=exporting
            )
            if verdict.reason in (cleanup.EXPORTING, cleanup.VERIFYING):
                continue  # nothing to record: its entry shows where it stands
            if not verdict.holds:
                changed[ami_id] = cleanup.blocked(entry, verdict)
                if verdict.until is not None:
                    later[ami_id] = verdict.until
                continue
            if ami_id in later and now < later[ami_id]:
                continue
            later.pop(ami_id, None)
            due.append(ami_id)
        return due[:MAX_PER_POLL]

    async def _guards(
        self,
        client: ImageApi,
        head: Callable[[str, str], verify.Head | None],
        inputs: step.PollInputs,
        entries: Mapping[str, Mapping[str, Any]],
        changed: dict[str, dict[str, Any]],
    ) -> dict[str, amis.Image]:
        """The AMIs every AWS guard allows now, as read; the others' verdicts go in ``changed``."""
        account = inputs.view.account
        alive: dict[str, amis.Image] = {}
        try:
            heads = {
                a: await self._runner(head, str(e.get("bucket")), str(e.get("s3ObjectKey")))
                for a, e in entries.items()
            }
            found = await self._runner(client.images, list(entries))
            for ami_id, entry in entries.items():
                image = found.get(ami_id)
                if image is None or image.state == "deregistered":  # EC2 lists it a while
                    changed[ami_id] = self._gone(inputs, entry)
                    continue
                verdict = cleanup.object_guard(entry, heads[ami_id])
                if verdict.holds:
                    verdict = cleanup.image_guard(image, account, None, None)
                if verdict.holds:
                    permissions = await self._runner(client.launch_permissions, ami_id)
                    verdict = cleanup.image_guard(image, account, permissions, None)
                if self._judged(inputs, ami_id, entry, verdict, changed):
                    alive[ami_id] = image
            used = await self._runner(client.references, list(alive)) if alive else []
        except errors.AwsError as exc:
            self._failed(inputs, entries, exc, changed)
            return {}
        ready = {}
        for ami_id, image in alive.items():
            refs = [r for r in used if r.image_id == ami_id]
            verdict = cleanup.image_guard(image, account, None, refs)
            if self._judged(inputs, ami_id, entries[ami_id], verdict, changed):
                ready[ami_id] = image
        return ready

    def _judged(
        self,
        inputs: step.PollInputs,
        ami_id: str,
        entry: Mapping[str, Any],
        verdict: cleanup.Verdict,
        changed: dict[str, dict[str, Any]],
    ) -> bool:
        """Whether ``verdict`` holds; if not, the entry shows it until the next look."""
        if verdict.holds:
            return True
        changed[ami_id] = cleanup.blocked(entry, verdict)
        spread = zlib.crc32(ami_id.encode()) % 1000 / 1000  # not all blocked AMIs at once
        wait = inputs.wanted.poll_interval * RECHECK_INTERVALS * (0.5 + spread / 2)
        self._not_before.setdefault(inputs.ref.key, {})[ami_id] = inputs.now + datetime.timedelta(
            seconds=wait
        )
        return False

    def _failed(
        self,
        inputs: step.PollInputs,
        entries: Mapping[str, Mapping[str, Any]],
        exc: errors.AwsError,
        changed: dict[str, dict[str, Any]],
    ) -> None:
        """A read failed: nothing proceeds this poll; refused access shows, the rest waits."""
        if exc.reason in _TRANSIENT:
            return  # read again at the next poll
        logger.warning("cleanup of %s: %s", inputs.ref.key, exc)
        verdict = cleanup.Verdict(cleanup.ACCESS_DENIED, f"{exc.code}: {exc.message}")
        for ami_id, entry in entries.items():
            self._judged(inputs, ami_id, entry, verdict, changed)

    def _gone(self, inputs: step.PollInputs, entry: Mapping[str, Any]) -> dict[str, Any]:
        """The entry of an AMI AWS has no more: ours if it was marked, else someone else's."""
        ours = cleanup.state(entry) == cleanup.DEREGISTERING
        self._book.end((inputs.wanted.account, inputs.wanted.region), str(entry.get("amiId")))
        return cleanup.deregistered(entry, inputs.now, None, gone=not ours)

    async def _deregister(
        self,
        client: ImageApi,
        inputs: step.PollInputs,
        image: amis.Image,
        entry: Mapping[str, Any],
        changed: dict[str, dict[str, Any]],
    ) -> list[statusevents.Event]:
        """``DeregisterImage`` once, for a stored mark (``image``: as the guards read it)."""
        spec, ami_id = inputs.wanted, str(entry.get("amiId"))
        delete = spec.after_export == model.AFTER_EXPORT_DELETE_SNAPSHOTS
        try:
            ids = image.snapshot_ids if delete else ()
            sizes = await self._runner(client.snapshots, list(ids)) if ids else {}
            result = await self._runner(client.deregister, ami_id, delete)
        except errors.AwsError as exc:
            if exc.code in _GONE:  # gone between DescribeImages and the call: not by us
                self._book.end((spec.account, spec.region), ami_id)
                changed[ami_id] = cleanup.deregistered(entry, inputs.now, None, gone=True)
            elif exc.reason not in _TRANSIENT:  # AWS refused: it did nothing
                verdict = cleanup.Verdict(cleanup.ACCESS_DENIED, f"{exc.code}: {exc.message}")
                self._judged(inputs, ami_id, entry, verdict, changed)
            return []  # else AWS may have acted: the next poll reads the AMI
        self._book.end((spec.account, spec.region), ami_id)
        done = cleanup.deregistered(entry, inputs.now, cleanup.freed_bytes(result, sizes))
        changed[ami_id] = done
        self._done.setdefault(inputs.ref.key, {})[ami_id] = done
        return [statusevents.image_deregistered(ami_id, result, sizes)]

    def _client(self, account: str, region: str) -> ImageApi:
        assert self._factory is not None  # run() asks for none without it
        if (account, region) not in self._clients:
            self._clients[(account, region)] = self._factory(account, region)
        return self._clients[(account, region)]

    def written(self, key: str) -> None:
        """The status is stored: the AMIs it marked may be deregistered."""
        self._unstored.pop(key, None)
        self._done.pop(key, None)

    def unwritten(self, key: str, *, ambiguous: bool = True) -> None:
        """Not stored: the next poll marks them again (what was deregistered stays known)."""
        self._unstored.pop(key, None)

    def observe(self, ref: resource.ResourceRef, snap: resource.Snapshot) -> None:
        """A watched status (all of them before the first poll after a restart): learnt."""
        self._book.learn_status(ref.key, snap.raw_spec or {}, snap.status or {})

    def forget(self, key: str) -> None:
        """The resource is gone."""
        for memo in (self._unstored, self._not_before, self._done):
            memo.pop(key, None)
        self._book.release(key)
