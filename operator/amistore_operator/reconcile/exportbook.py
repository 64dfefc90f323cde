"""The book of export requests: every AmiStore's, by (account, region, bucket, AMI).

It holds, in memory, the requests this process recorded (it alone may call for them, once,
after their status is stored) and those stored statuses hold (seeded from watch events and
``exportRecords``, never called for); the AMIs AWS refused for good per bucket; the requests
dropped before their status was known stored; and the latest task seen per (bucket, AMI),
as AWS lists an AMI's latest task only. The exporter reads it to decide and writes to it as
it records, calls and settles.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from amistore_operator.core import export, exportrecords, model, timestamps
from amistore_operator.reconcile import exportdropped

Target = tuple[str, str, str]  # (account, region, bucket)

_STARTED = frozenset(
    {model.TaskState.IN_PROGRESS, model.TaskState.COMPLETED, model.TaskState.FAILED}
)


class Book:
    """The requests and the tasks seen of every AmiStore, per (account, region, bucket)."""

    def __init__(self, *, grace: datetime.timedelta, call_window: datetime.timedelta) -> None:
        self._grace = grace
        self._call_window = call_window
        self.requests: dict[Target, dict[str, export.Request]] = {}
        self._pending: dict[str, list[tuple[Target, str]]] = {}  # recorded, status not stored
        self.refused: dict[Target, dict[str, str]] = {}  # per-AMI refusals for good
        self._dropped = exportdropped.Dropped()  # before their status was known stored
        # The tasks seen per bucket (views and statuses): AWS lists an AMI's latest only.
        self.seen: dict[Target, dict[str, tuple[str, model.TaskState]]] = {}

    def learn(
        self,
        key: str,
        spec: model.AmiStoreSpec,
        previous: Mapping[str, Mapping[str, Any]],
        *,
        current: bool = True,
    ) -> dict[str, Mapping[str, Any]]:
        """Know the requests and tasks a stored status's entries hold; they are returned.

        Those that show a request dropped uncalled show it waiting (``export.drop_uncalled``).
        ``current``: whether the status was computed for this generation of the spec.
        """
        where = (spec.account, spec.region)
        previous = export.drop_uncalled(previous, self._dropped.uncalled_in(where))
        self._sync(key, (*where, spec.bucket or ""), spec, previous, current=current)
        return previous

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
                self._saw((*target[:2], bucket), ami_id, start, model.TaskState(state))
        requests = self.requests.setdefault(target, {})
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
                held = self.requests.setdefault(there, {})
            if ami_id in self.refused.get(there, {}):
                # AWS refused it for good since this process last recorded a request for it:
                # a status that shows that request Queued predates the answer (the write of
                # the refusal got no answer, so the poll builds on the last confirmed one).
                continue
            requested = timestamps.parse_time(stamp)
            if ami_id not in held and requested is not None:
                listed = entry.get(export.LISTED_START)
                listed_start = listed if isinstance(listed, str) else None
                held[ami_id] = self._request(
                    key, stamp, requested, spec.poll_interval, listed_start=listed_start
                )

    def hold(
        self,
        key: str,
        where: tuple[str, str],
        entries: Iterable[Mapping[str, Any]],
        interval: float,
    ) -> None:
        """Know the requests a stored status's entries show, where that status was polled.

        ``where``: the (account, region) it names; each entry names its bucket. Its spec may
        have been edited since (rejected, another account, region or bucket, other AMIs)
        with no process watching: then only these entries tell a restarted operator.
        """
        requested = {
            str(e["amiId"]): e
            for e in entries
            if isinstance(e.get("amiId"), str) and isinstance(e.get("bucket"), str)
        }
        # A stand-in spec: all it says is where the entries' requests were made.
        stand_in = model.AmiStoreSpec(tuple(requested), None, (), where[1], interval, where[0])
        self.learn(key, stand_in, requested, current=False)

    def recall(self, key: str, raw: Any, interval: float) -> list[exportrecords.Record]:
        """Know what a stored status's ``exportRecords`` hold; they are returned.

        Its requests are ``key``'s (never called for by this process), its tasks seen.
        """
        records = exportrecords.parse(raw)
        for record in records:
            if record.state == model.TaskState.QUEUED:
                held = self.requests.setdefault(record.target, {})
                requested = timestamps.parse_time(record.time)
                if record.ami_id in held or requested is None:
                    continue
                # A task seen started for it ended it (the record is still on its way out).
                task = self.seen.get(record.target, {}).get(record.ami_id)
                started = timestamps.parse_time(task[0]) if task is not None else None
                if started is not None and started >= requested - export.START_SKEW:
                    continue
                held[record.ami_id] = self._request(
                    key, record.time, requested, interval, expires=record.expires
                )
                continue
            self._saw(record.target, record.ami_id, record.time, record.state)
        return records

    def _request(
        self,
        key: str,
        stamp: str,
        requested: datetime.datetime,
        interval: float,
        *,
        listed_start: str | None = None,
        expires: str | None = None,
    ) -> export.Request:
        """``key``'s request a stored status holds, recorded at ``stamp`` (``requested``: R).

        It lives until ``expires``, or (where the status does not say) R plus the grace at
        ``interval``.
        """
        if expires is None:
            live_for = export.grace(self._grace, self._call_window, interval)
            expires = timestamps.format_time(requested + live_for)
        return export.Request(key, stamp, listed_start, expires=expires)

    def see(self, where: tuple[str, str], tasks: Iterable[model.StoreTask | None]) -> None:
        """Remember the latest task seen per (bucket, AMI) of ``where``."""
        for task in tasks:
            if task is None or not task.bucket or task.start_time is None:
                continue
            start = timestamps.format_time(task.start_time)
            self._saw((*where, task.bucket), task.ami_id, start, task.state)

    def _saw(self, target: Target, ami_id: str, start: str, state: model.TaskState) -> None:
        """Remember a task of ``ami_id`` into ``target`` started at ``start``, if the latest."""
        seen = self.seen.setdefault(target, {})
        if ami_id not in seen or seen[ami_id][0] <= start:
            seen[ami_id] = (start, state)

    def record(
        self,
        key: str,
        target: Target,
        queue: Sequence[str],
        listed: Mapping[str, model.StoreTask | None],
        now: datetime.datetime,
        live_for: datetime.timedelta,
    ) -> list[str]:
        """Record ``key``'s requests for the AMIs of ``queue`` no request holds; they are returned.

        Each is called for once its status is stored (``confirm``).
        """
        requests = self.requests.setdefault(target, {})
        # The DryRun and the creates awaited: another AmiStore may have asked meanwhile.
        busy = self.busy_elsewhere(target, queue, now)
        recorded = []
        for ami_id in queue:
            if ami_id in busy or ami_id in requests:
                continue
            request = requests[ami_id] = export.request_for(key, listed.get(ami_id), now, live_for)
            self._pending.setdefault(key, []).append((target, ami_id))
            self.refused.get(target, {}).pop(ami_id, None)
            # A status showing this R shows this request (an earlier one of the same second
            # is indistinguishable); those of the others dropped still show none.
            self._dropped.recorded(target, ami_id, request.requested_time)
            recorded.append(ami_id)
        return recorded

    def busy_elsewhere(
        self, target: Target, image_ids: Sequence[str], now: datetime.datetime
    ) -> frozenset[str]:
        """AMIs of ``image_ids`` with a live request into another bucket of the account and region.

        AWS lists an AMI's latest store task only: two at once into two buckets would hide
        each other, so an AMI is exported into one bucket at a time.

        A request dropped uncalled whose status a write may have stored counts too, to the
        end of its grace: a restarted operator would read it as one that may have started a
        task, and a task into another bucket started meanwhile would hide that task for good.
        """
        wanted = set(image_ids)
        return frozenset(
            ami_id
            for books in (self.requests, self._dropped.maybe_stored(now))
            for other, requests in books.items()
            if other[:2] == target[:2] and other != target
            for ami_id, request in requests.items()
            if ami_id in wanted and not export.expired(request, now)
        )

    def confirm(self, key: str) -> None:
        """The status with the requests of ``key``'s last poll is stored: they may be called."""
        for target, ami_id in self._pending.pop(key, ()):
            request = self.requests.get(target, {}).get(ami_id)
            if request is not None and request.owner == key and request.mine:
                self.requests[target][ami_id] = dataclasses.replace(request, confirmed=True)

    def abandon(self, key: str, *, maybe_stored: bool = True) -> None:
        """Drop the requests of ``key`` whose status is not known stored: never called.

        A write that got no answer (``maybe_stored``) may have stored them: remembered, so
        the stored status showing one is not read as a request that may have started a
        task, and other buckets wait for its grace to end (``busy_elsewhere``).
        """
        for target, ami_id in self._pending.pop(key, ()):
            request = self.requests.get(target, {}).get(ami_id)
            if request is not None and request.owner == key and not request.confirmed:
                del self.requests[target][ami_id]
                self._dropped.add(target, ami_id, request, maybe_stored=maybe_stored)

    def withdraw(self, target: Target, ami_id: str) -> None:
        """A stored request AWS had no room for, never called: it is dropped uncalled."""
        request = self.requests.get(target, {}).pop(ami_id, None)
        if request is not None:
            self._dropped.add(target, ami_id, request, maybe_stored=True)

    def lapse(self, key: str, target: Target, now: datetime.datetime) -> None:
        """End the requests of ``key`` past their grace while it may not export.

        Without a decision nothing else ends them, and its status would count them in
        flight for good, holding the capacity slots of the AmiStores that may export.
        """
        requests = self.requests.get(target, {})
        for ami_id, request in list(requests.items()):
            if request.owner == key and export.expired(request, now):
                del requests[ami_id]

    def lapses(self, key: str, now: datetime.datetime) -> datetime.datetime | None:
        """When the first live request of ``key`` reaches the end of its grace (None: none).

        Its status changes then by time alone (the entry or record shows it no more).
        """
        ends = [
            expires
            for requests in self.requests.values()
            for request in requests.values()
            if request.owner == key
            and (expires := timestamps.parse_time(request.expires)) is not None
            and expires > now
        ]
        return min(ends, default=None)

    def live(self, key: str, now: datetime.datetime) -> Iterator[exportrecords.Record]:
        """The records of ``key``'s requests whose grace has not ended."""
        for target, requests in self.requests.items():
            for ami_id, request in requests.items():
                if request.owner == key and not export.expired(request, now):
                    stamp, expires = request.requested_time, request.expires
                    yield exportrecords.request(ami_id, target, stamp, expires)

    def held(self, key: str, raw: Any, now: datetime.datetime) -> tuple[dict[str, Any], ...]:
        """``status.exportRecords`` of ``key`` while it exports no more (``Exporter.held``)."""
        records = exportrecords.parse(raw)
        known = {(r.ami_id, r.target, r.time) for r in records}
        live = self.live(key, now)
        records.extend(r for r in live if (r.ami_id, r.target, r.time) not in known)
        return tuple(exportrecords.render(records))
