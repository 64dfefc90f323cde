"""What every AmiStore's cleanup knows of each AMI, per (account, region): one at a time.

Two AmiStores may list one AMI with ``afterExport`` other than ``Keep``: the first to
mark it ``Deregistering`` holds it (``claim``), the others wait, and once it is gone
they record it ``Gone``. One that still exports it into another bucket keeps it
(``others``: its status shows no Completed export there). An AMI deregistered (or gone)
is never polled again by any AmiStore of its account and region (``ended_in``): AWS
fails a whole ImageIds batch naming it. Learnt from every stored status the operator
sees (a restart too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from amistore_operator.core import cleanup, model, taskentries

Where = tuple[str, str]  # (account as the spec names it, region)


class CleanupBook:
    """Claims and ended AMIs, by (account, region)."""

    def __init__(
        self,
        on_end: Callable[[Where, str], None] = lambda where, ami: None,
        spec_account: Callable[[str], str] = lambda polled: "",
    ) -> None:
        self._on_end = on_end  # the poller's: the AMI leaves every batch at once
        self._spec_account = spec_account  # a status's account as a spec names it
        self._claims: dict[tuple[str, str, str], str] = {}  # (account, region, AMI) -> key
        self._ended: dict[Where, set[str]] = {}
        # (account, region, AMI) -> each AmiStore's entry of it: (state, bucket, task start)
        self._shown: dict[tuple[str, str, str], dict[str, tuple[str, str, str]]] = {}
        self._kept: dict[str, tuple[Where, frozenset[str]]] = {}  # by rejected specs

    def rejected(self, key: str, raw: Mapping[str, Any] | None, region: str) -> None:
        """``key``'s spec is rejected: it keeps every AMI it lists unless it plainly asks
        for cleanup (read leniently: its owner's intent is unknown until the spec is fixed,
        so its last accepted spec does not speak for it alone)."""
        raw = raw if isinstance(raw, Mapping) else {}
        ids, account = raw.get("imageIds"), raw.get("account")
        after = raw.get("afterExport", model.AFTER_EXPORT_KEEP)
        cleans = after in model.AFTER_EXPORT_VALUES and after != model.AFTER_EXPORT_KEEP
        listed = [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []
        where = (account if isinstance(account, str) else "", region)
        self._kept[key] = (where, frozenset(() if cleans else listed))

    def accepted(self, key: str) -> None:
        """``key``'s spec is accepted (or gone): its parsed spec speaks for it."""
        self._kept.pop(key, None)

    def learn(self, key: str, where: Where, entries: Iterable[Mapping[str, Any]]) -> None:
        """What a status's entries say: the AMIs it marked, those deregistered or gone."""
        for entry in entries:
            ami_id, state = str(entry.get("amiId")), cleanup.state(entry)
            shown = self._shown.setdefault((*where, ami_id), {})
            task = (entry.get("state"), entry.get("bucket"), entry.get("taskStartTime"))
            shown[key] = (str(task[0] or ""), str(task[1] or ""), str(task[2] or ""))
            if state == cleanup.DEREGISTERING:
                self._claims.setdefault((*where, ami_id), key)
            elif state in cleanup.ENDED:
                self.end(where, ami_id)

    def learn_status(self, key: str, raw: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        """What a watched status says, where it was polled (whatever its spec says now)."""
        region, polled = status.get("region") or raw.get("region"), status.get("account")
        if isinstance(region, str):
            named = self._spec_account(polled) if isinstance(polled, str) and polled else None
            where = (named if named is not None else str(raw.get("account") or ""), region)
            self.learn(key, where, taskentries.from_status(status))

    def exported(self, key: str, where: Where, ami_id: str, bucket: str, before: str) -> bool:
        """Whether ``key``'s status shows the AMI's export into ``bucket`` done: Completed,
        or InProgress with a task that started before ``before`` (the start of a later
        task, into another bucket: AWS lists an AMI's latest task only, so that AmiStore
        never sees its own end)."""
        state, into, start = self._shown.get((*where, ami_id), {}).get(key, ("", "", ""))
        if into != bucket:
            return False
        done = state == model.TaskState.COMPLETED
        return done or (state == model.TaskState.IN_PROGRESS and bool(start) and start < before)

    def others(
        self,
        key: str,
        spec: model.AmiStoreSpec,
        ami_id: str,
        parsed: Mapping[str, tuple[object, model.AmiStoreSpec]],
        started: str,
    ) -> tuple[list[str], list[tuple[str, str]]]:
        """The other AmiStores (by their ``parsed`` specs, and what ``rejected`` specs list)
        of the account and region that keep ``ami_id``, and those that export it into
        another bucket (key, bucket) and show it not done there (``exported``, against
        ``started``: when this AmiStore's own Completed task started): deregistering it
        would leave them none to make."""
        where = (spec.account, spec.region)
        kept = [
            other_key
            for other_key, (there, amis) in self._kept.items()
            if other_key != key and there == where and ami_id in amis
        ]
        exporting: list[tuple[str, str]] = []
        for other_key, (_, other) in parsed.items():
            if other_key == key or ami_id not in other.image_ids:
                continue
            if (other.account, other.region) != where:
                continue
            if not cleanup.deregisters(other):
                if other_key not in kept:
                    kept.append(other_key)
            elif (
                other.create_tasks
                and other.bucket not in (None, spec.bucket)
                and not self.exported(other_key, where, ami_id, str(other.bucket), started)
            ):
                exporting.append((other_key, str(other.bucket)))
        return kept, exporting

    def claim(self, key: str, where: Where, ami_id: str) -> bool:
        """Whether ``key`` holds the AMI's cleanup (it does if no one else does)."""
        return self._claims.setdefault((*where, ami_id), key) == key

    def held_by_other(self, key: str, where: Where, ami_id: str) -> bool:
        """Whether another AmiStore has marked the AMI."""
        holder = self._claims.get((*where, ami_id))
        return holder is not None and holder != key

    def end(self, where: Where, ami_id: str) -> None:
        """The AMI is deregistered: no claim on it, and no poll of it."""
        self._claims.pop((*where, ami_id), None)
        ended = self._ended.setdefault(where, set())
        if ami_id not in ended:
            ended.add(ami_id)
            self._on_end(where, ami_id)

    def ended(self, where: Where, ami_id: str) -> bool:
        """Whether the AMI is known deregistered in ``where``."""
        return ami_id in self._ended.get(where, ())

    def ended_in(self, where: Where) -> frozenset[str]:
        """The AMIs of ``where`` known deregistered."""
        return frozenset(self._ended.get(where, ()))

    def release(self, key: str, keep: Where | None = None, amis: Iterable[str] = ()) -> None:
        """``key`` holds no claim but on ``amis`` in ``keep`` (none at all: it is gone, or
        its spec no longer lists them or cleans up), so another AmiStore's cleanup may go."""
        kept = {(*keep, ami) for ami in amis} if keep is not None else set()
        for claim in [c for c, holder in self._claims.items() if holder == key]:
            if claim not in kept:
                del self._claims[claim]
        if keep is None:
            self._kept.pop(key, None)
            for shown in self._shown.values():
                shown.pop(key, None)
