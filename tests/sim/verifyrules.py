"""The simulation's rules for ``verifyObjects`` (HeadObject), plain functions over a run's log.

``invariants`` runs them with the others; ``scenario.draw(seed, verify=True)`` gives
them AmiStores that verify, and objects that S3 does not show.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from amistore_operator.core import spec, timestamps

from tests.sim import fakeaws, scenario, world

Violations = list[str]


def _account(status: dict[str, Any]) -> str:
    """The fake's account key of a status's ``account`` (the own identity: "")."""
    named = str(status.get("account") or "")
    return "" if named == world.OWN_ACCOUNT else named


def _task_of(log: scenario.Log, status: dict[str, Any], entry: dict[str, Any]) -> Any:
    """The fake's task an entry shows (None: none started then into that bucket)."""
    region = str(status.get("region") or scenario.REGION)
    tasks = log.ec2.region_tasks(_account(status), region).get(str(entry.get("amiId")), [])
    start = entry.get("taskStartTime")
    return next(
        (
            t
            for t in tasks
            if t.bucket == entry.get("bucket")
            and fakeaws.EPOCH.timestamp() + int(t.start) == _epoch(start)
        ),
        None,
    )


def _epoch(stamp: Any) -> float | None:
    parsed = timestamps.parse_time(stamp if isinstance(stamp, str) else None)
    return parsed.timestamp() if parsed is not None else None


def _verified(log: scenario.Log) -> Iterator[tuple[float, str, dict[str, Any], dict[str, Any]]]:
    for w in log.kube.writes:
        if w.outcome not in ("stored", "lost"):
            continue
        for entry in w.status.get("tasks") or ():
            if entry.get("verifiedTime"):
                yield w.t, w.key, w.status, entry


def verified_objects_are_true(log: scenario.Log) -> Violations:
    """A task's entry shows an object's size only as S3 had that very task's object."""
    found = []
    for t, key, status, entry in _verified(log):
        task = _task_of(log, status, entry)
        ami = entry.get("amiId")
        if task is None or ami in log.ec2.missing:
            found.append(f"t={t:.1f}: {key} shows {ami} verified, but S3 has no such object")
        elif entry.get("objectSizeBytes") != log.ec2.size_of(task):
            found.append(
                f"t={t:.1f}: {key} shows {ami} as {entry.get('objectSizeBytes')} bytes, "
                f"its task's object has {log.ec2.size_of(task)}"
            )
    return found


def _verifying(log: scenario.Log, key: str, raw: dict[str, Any]) -> bool:
    """Whether ``key``'s spec ``raw`` verifies at the end of the run, allowed to."""
    try:
        parsed = spec.parse_spec(raw, default_region=scenario.REGION, default_interval=60)
    except spec.SpecError:
        return False
    allowed = log.maps[-1][1].denial(key.split("/")[0], parsed.account) is None
    return parsed.verifies and allowed and parsed.region == scenario.REGION


def every_object_verified(log: scenario.Log) -> Violations:
    """By the end, each Completed task's object S3 shows is verified on its entry."""
    found = []
    for key, versions in log.kube.objects.items():
        last = versions[-1]
        if not _verifying(log, key, last.spec):
            continue
        status = last.status or {}
        for entry in status.get("tasks") or ():
            if entry.get("state") != "Completed" or entry.get("verifiedTime"):
                continue
            task = _task_of(log, status, entry)
            if task is None or entry.get("amiId") in log.ec2.missing:
                continue  # no object to find
            found.append(f"{key}: {entry.get('amiId')}'s object never verified by the end")
    return found


def objects_looked_at_once(log: scenario.Log) -> Violations:
    """An object found is looked at again only after a crash or a status not stored.

    Not an AMI some AmiStore ever wanted deregistered: cleanup reads its object again in
    the poll that calls (``cleanuprules`` holds it to its own rules).
    """
    cleaned = {
        ami
        for vs in log.kube.objects.values()
        for v in vs
        if (v.spec.get("afterExport") or "Keep") != "Keep"
        for ami in v.spec.get("imageIds") or ()
    }
    found = []
    heads: dict[tuple[str, str, str], int] = {}
    for call in log.ec2.calls:
        if call.op == "head_object" and call.outcome == "ok":
            where = (call.account, call.bucket or "", call.amis[0])
            heads[where] = heads.get(where, 0) + 1
    unstored = sum(1 for w in log.kube.writes if w.outcome != "stored")
    verifiers = sum(1 for vs in log.kube.objects.values() if any(v.spec for v in vs))
    for (account, bucket, ami), count in sorted(heads.items()):
        if ami in cleaned:
            continue
        tasks = log.ec2.region_tasks(account, scenario.REGION).get(ami, [])
        done = sum(1 for t in tasks if t.bucket == bucket)
        bound = done * verifiers * (1 + len(log.crashes)) + unstored
        if count > bound:
            found.append(
                f"{ami} in {bucket} ({account or 'own'}): {count} HeadObject calls found it, "
                f"at most {bound} expected ({done} tasks, {verifiers} AmiStores)"
            )
    return found


ALL = (verified_objects_are_true, every_object_verified, objects_looked_at_once)
