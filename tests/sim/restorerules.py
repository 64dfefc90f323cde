"""The safety rules of AmiRestore, each a function over a run's log: violations out.

At most one ``CreateRestoreImageTask`` AWS acts on per AmiRestore and retry value; none
before its name is in the stored status; none (and no call at all) for a refused one;
every restore ends as AWS says, and then nothing more happens. The generic rules of the
AmiStore simulation (valid statuses, no idle write, nothing left over, no traceback)
hold for AmiRestores too.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, cast

from amistore_operator.core import restore
from amistore_operator.kube import handlers

from tests.sim import fakekube, invariants
from tests.sim.restorescenario import Log

Violations = list[str]
ACTED = ("acted", "lost")


def _key_of(log: Log, uid: str) -> str:
    return next(k for k, u in log.kube.uids.items() if u == uid)


def _stored_at(log: Log, key: str, t: float) -> fakekube.Version:
    found = log.kube.objects[key][0]
    for version in log.kube.objects[key]:
        if version.t > t:
            break
        found = version
    return found


def _retry_values(log: Log, key: str) -> list[tuple[float, str]]:
    found, last = [], None
    for version in log.kube.objects[key]:
        value = version.annotations.get(handlers.RETRY_ANNOTATION)
        if value is not None and value != last:
            found.append((version.t, value))
        last = value
    return found


def once_per_retry(log: Log) -> Violations:
    """Two creates AWS acted on for one AmiRestore have a new retry value between them, and
    the first's image had failed (or was gone) by the second."""
    found = []
    creates = [c for c in log.aws.calls if c.op == "create" and c.outcome in ACTED]
    for uid in sorted({c.uid for c in creates}):
        mine = [c for c in creates if c.uid == uid]
        key = _key_of(log, uid)
        for first, second in itertools.pairwise(mine):
            image = next(i for i in log.aws.images if i.image_id == first.image_id)
            failed = image.fails and image.created + image.duration <= second.t
            gone = image.deregistered_at is not None and image.deregistered_at <= second.t
            asked = any(first.t < t < second.t for t, _ in _retry_values(log, key))
            if not (asked and (failed or gone)):
                found.append(
                    f"t={second.t:.1f}: {key} restored again ({first.image_id} then "
                    f"{second.image_id}; retry asked {asked}, first failed {failed})"
                )
    return found


def named_before_created(log: Log) -> Violations:
    """Each create's name (and its request time) was in the stored status first."""
    found = []
    for call in log.aws.calls:
        if call.op != "create" or call.outcome == "down":
            continue
        key = _key_of(log, call.uid)
        stored = _stored_at(log, key, call.t).status or {}
        if stored.get("imageName") != call.name or not stored.get("requestedTime"):
            found.append(
                f"t={call.t:.1f}: {key} created {call.name!r}, stored {stored.get('imageName')!r}"
            )
    return found


def _refused(log: Log, key: str) -> bool:
    spec = log.kube.objects[key][-1].spec
    return log.scenario.permission.refusal(key.split("/")[0], spec["bucket"]) is not None


def refused_never_called(log: Log) -> Violations:
    """No call at all for what only refused AmiRestores name; no create for a refused one."""
    refused = {k for k in log.kube.objects if _refused(log, k)}
    uids = {log.kube.uids[k] for k in refused}
    wanted = {
        (v.spec["bucket"], v.spec["objectKey"])
        for k, versions in log.kube.objects.items()
        if k not in refused
        for v in versions
    }
    return [
        f"t={c.t:.1f}: {c.op} of s3://{c.bucket}/{c.key} ({c.uid or 'no uid'}), which is refused"
        for c in log.aws.calls
        if c.uid in uids or (c.bucket and (c.bucket, c.key) not in wanted)
    ]


def _expected_end(log: Log, key: str) -> str | None:
    """The phase ``key`` must end in (None: it cannot end: refused, or a thaw it lacks)."""
    spec = log.kube.objects[key][-1].spec
    obj = log.aws.objects[(spec["bucket"], spec["objectKey"])] if not _refused(log, key) else None
    if obj is None:
        return None
    seen = obj.head(log.end)
    thaw = spec.get("thaw")
    if seen.archived and (thaw is None or (seen.deep and thaw.get("tier") == "Expedited")):
        return None if not obj.thawed_at else "either"  # a thaw an earlier spec asked for
    return "either"


def every_restore_ends(log: Log) -> Violations:
    """By the end, each AmiRestore that can end is Available or Failed, as AWS shows its
    image (a name another AMI holds: Failed), its last retry value handled."""
    found = []
    for key, versions in sorted(log.kube.objects.items()):
        status = versions[-1].status or {}
        phase = status.get("phase")
        if _expected_end(log, key) is None:
            if phase in (restore.AVAILABLE, restore.RESTORING):
                found.append(f"{key}: {phase}, but it was refused or never readable")
            continue
        if phase not in restore.FINAL:
            found.append(f"{key}: ends {phase} ({status.get('conditions')})")
            continue
        image = next((i for i in log.aws.images if i.image_id == status.get("imageId")), None)
        if phase == restore.AVAILABLE and (
            image is None or image.state(log.end) != "available" or image.uid != log.kube.uids[key]
        ):
            found.append(f"{key}: Available, but AWS has {image}")
        if phase == restore.FAILED and image is not None and image.state(log.end) == "available":
            found.append(f"{key}: Failed, but its image {image.image_id} is available")
        retries = _retry_values(log, key)
        if retries and status.get("lastHandledRetryAt") != retries[-1][1]:
            found.append(f"{key}: retry {retries[-1][1]} never handled")
    return found


def one_event_each(log: Log) -> Violations:
    """RestoreRequested once per image, RestoreCompleted and RestoreFailed once per attempt
    (between two retry values): a restart or a lost write repeats none."""
    found = []
    for key in log.kube.objects:
        retries = [t for t, _ in _retry_values(log, key)]
        for reason in ("RestoreRequested", "RestoreCompleted", "RestoreFailed"):
            mine = [p for p in log.posted if p.key == key and p.event.reason == reason]
            if reason == "RestoreRequested":
                groups = [p.event.message for p in mine]
            else:
                groups = [str(sum(t < p.t for t in retries)) for p in mine]
            if len(groups) != len(set(groups)):
                found.append(f"{key}: {reason} posted {len(mine)} times: {groups}")
    return found


def quiet_at_the_end(log: Log) -> Violations:
    """In the last quarter of the tail: no write, and no call but the HeadObject of an
    AmiRestore that waits for a thaw it does not ask for."""
    sc = log.scenario
    since = sc.horizon - (sc.horizon - sc.active) / 4
    waiting = {
        (v.spec["bucket"], v.spec["objectKey"])
        for k, versions in log.kube.objects.items()
        if _expected_end(log, k) is None
        for v in versions[-1:]
    }
    found = [
        f"t={w.t:.1f}: a write to {w.key} in the quiet tail"
        for w in log.kube.writes
        if w.t >= since
    ]
    found += [
        f"t={c.t:.1f}: {c.op} {c.name or c.key} in the quiet tail"
        for c in log.aws.calls
        if c.t >= since and not (c.op == "head" and (c.bucket, c.key) in waiting)
    ]
    return found


def _generic(rule: Callable[[Any], Violations]) -> Callable[[Log], Violations]:
    def checked(log: Log) -> Violations:
        return rule(cast(Any, log))

    checked.__name__ = rule.__name__
    return checked


ALL: tuple[Callable[[Log], Violations], ...] = (
    once_per_retry,
    named_before_created,
    refused_never_called,
    every_restore_ends,
    one_event_each,
    quiet_at_the_end,
    _generic(invariants.statuses_valid),
    _generic(invariants.no_idle_write),
    _generic(invariants.stored_as_computed),
    _generic(invariants.no_traceback),
)


def check(log: Log) -> dict[str, Violations]:
    """Every rule's violations, by name (only those that failed)."""
    found = {}
    for rule in ALL:
        violations = rule(log)
        if violations:
            found[rule.__name__] = violations
    return found
