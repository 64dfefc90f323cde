"""The simulation's rules for cleanup after export (``spec.afterExport``), over a run's log.

``invariants`` runs them with the others; ``scenario.draw(seed, cleanup=True)`` gives
them AmiStores that clean up (or keep), AMIs that block it for good (public, shared,
protected, another account's) or for a while (references), buckets whose lifecycle rule
expires objects, and the operator's ``--allow-deregister`` flags. A DeregisterImage "AWS
acted on" is one the fake carried out: answered (``ok``) or not (``lost``).

A guard the operator read may change in the moment before its DeregisterImage lands (a
reference created, an edit it sees through the watch's lag): a blocker counts when it was
there ``RACE`` seconds before the call, plus the watch's longest lag for what a spec says.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from amistore_operator.core import accounts, images, model, timestamps
from amistore_operator.core import spec as specs_

from tests.sim import fakeaws, fakeimages, fakekube, scenario, world

Violations = list[str]
CLEANS_UP = ("Deregister", "DeregisterAndDeleteSnapshots")
KEEP = "Keep"
DEFAULT_DELAY = 86400.0  # afterExportDelaySeconds when absent
ACTED = ("ok", "lost")
RACE = 30.0
# An AMI found blocked is looked at again within this many of its intervals: a blocker that
# goes away (a reference) frees it that much later (plus two polls: mark, then call).
LOOK_AGAIN = 10
FIELDS = ("cleanupState", "cleanupReason", "deregisteredTime", "freedSnapshotBytes")


def _account(spec: dict[str, Any]) -> str:
    """The fake's account key of a spec (the operator's own identity: "")."""
    return str(spec.get("account") or "")


def _region(spec: dict[str, Any]) -> str:
    return str(spec.get("region") or scenario.REGION)


def _after(spec: dict[str, Any]) -> str:
    return str(spec.get("afterExport") or KEEP)


def _delay(spec: dict[str, Any]) -> float:
    return float(spec.get("afterExportDelaySeconds", DEFAULT_DELAY))


def _lists(spec: dict[str, Any], call: fakeaws.Call) -> bool:
    """Whether ``spec`` lists the call's AMI in the call's account and region."""
    return (
        call.amis[0] in (spec.get("imageIds") or ())
        and _account(spec) == call.account
        and _region(spec) == call.region
    )


def _at(versions: list[fakekube.Version], t: float) -> fakekube.Version | None:
    """The version stored at ``t`` (None: not created yet)."""
    found = None
    for version in versions:
        if version.t > t:
            break
        found = version
    return found


def _during(versions: list[fakekube.Version], start: float, end: float) -> list[fakekube.Version]:
    """Every version in effect at some time from ``start`` to ``end``."""
    first = _at(versions, start)
    return [*([first] if first else []), *(v for v in versions if start < v.t <= end)]


def _maps_during(log: scenario.Log, start: float, end: float) -> list[accounts.AccountMap]:
    first = [m for since, m in log.maps if since <= start][-1:] or [log.maps[0][1]]
    return [*first, *(m for since, m in log.maps if start < since <= end)]


def _epoch(stamp: Any) -> float | None:
    """The virtual time a status timestamp names."""
    parsed = timestamps.parse_time(stamp if isinstance(stamp, str) else None)
    return None if parsed is None else (parsed - fakeaws.EPOCH).total_seconds()


def _entry(status: dict[str, Any] | None, ami: str, bucket: Any) -> dict[str, Any]:
    """The status's task entry of ``ami`` into ``bucket`` (empty: none)."""
    for entry in (status or {}).get("tasks") or ():
        if entry.get("amiId") == ami and entry.get("bucket") == bucket:
            return dict(entry)
    return {}


def _latest_completed(
    log: scenario.Log, account: str, region: str, ami: str, bucket: Any, t: float
) -> fakeaws.Task | None:
    """The latest task of ``ami`` into ``bucket`` that had ended Completed by ``t``."""
    done = [
        task
        for task in log.ec2.region_tasks(account, region).get(ami, [])
        if task.bucket == bucket and not task.fails and task.start + task.duration <= t
    ]
    return max(done, key=lambda task: task.start, default=None)


def _started(task: fakeaws.Task) -> float:
    """A task's start as a status shows it (to the second)."""
    return float(int(task.start))


def _blockers(traits: fakeimages.Traits, t: float, race: float) -> list[str]:
    """What in AWS forbids deregistering an AMI of these traits at ``t``."""
    found = []
    if traits.foreign:
        found.append(f"owned by {fakeimages.FOREIGN_OWNER}")
    if traits.public:
        found.append("public")
    if traits.shared:
        found.append(f"shared with {list(traits.shared)}")
    if traits.protection != images.PROTECTION_DISABLED:
        found.append(f"deregistration protection {traits.protection}")
    found += [f"used by {r.arn}" for r in traits.references if r.start <= t - race and t < r.end]
    return found


def _refusal(log: scenario.Log, key: str, call: fakeaws.Call) -> str | None:
    """Why AmiStore ``key`` did not allow the call (None: every guard held for it)."""
    sc, t, ami = log.scenario, call.t, call.amis[0]
    namespace = key.split("/")[0]
    versions = log.kube.objects[key]
    cleaning = [
        v
        for v in _during(versions, t - sc.lag - RACE, t)
        if _lists(v.spec, call) and _after(v.spec) in CLEANS_UP
    ]
    if not cleaning:
        return "afterExport Keep"
    if not sc.cleanup.allows(namespace):
        return f"the operator's flags refuse namespace {namespace}"
    maps = _maps_during(log, t - RACE, t)
    if all(m.denial(namespace, call.account) is not None for m in maps):
        return f"the account map refuses {call.account or 'own'} to {namespace}"
    stored = _at(versions, t)
    why = "no spec"
    for version in cleaning:
        bucket = version.spec.get("bucket")
        entry = _entry(stored.status if stored else None, ami, bucket)
        task = _latest_completed(log, call.account, call.region, ami, bucket, t)
        verified = _epoch(entry.get("verifiedTime"))
        if entry.get("cleanupState") != "Deregistering":
            why = f"its stored entry shows cleanupState {entry.get('cleanupState')}"
        elif verified is None or verified + _delay(version.spec) > t + 1:
            why = f"verified at {verified}, afterExportDelaySeconds {_delay(version.spec)}"
        elif task is None or ami in log.ec2.missing:
            why = f"no exported object in {bucket}"
        elif bucket in log.ec2.expiring:
            why = f"a lifecycle rule of {bucket} expires its object"
        elif _epoch(entry.get("taskStartTime")) != _started(task):
            why = f"its entry's export is not the latest Completed one into {bucket}"
        else:
            return None
    return why


def deregistered_only_when_every_guard_held(log: scenario.Log) -> Violations:
    """Each DeregisterImage AWS acted on: AWS's state allowed it, an AmiStore asked for it
    (flags, account map, verified object, delay, ``Deregistering`` stored first) and no
    AmiStore of that account and region kept the AMI."""
    found = []
    window = log.scenario.lag + RACE
    for call in log.ec2.calls:
        if call.op != "deregister" or call.outcome not in ACTED:
            continue
        t, ami, who = call.t, call.amis[0], call.account or "own"
        where = f"t={t:.1f}: DeregisterImage of {ami} ({who})"
        for blocker in _blockers(log.ec2.images.of(ami), t, RACE):
            found.append(f"{where}, which is {blocker}")
        for key, versions in sorted(log.kube.objects.items()):
            seen = _during(versions, t - window, t)
            if seen and all(_lists(v.spec, call) and _after(v.spec) == KEEP for v in seen):
                found.append(f"{where}, which {key} keeps (afterExport Keep)")
            if seen and all(_exports_it(log, v.spec, call.account, ami, t) for v in seen):
                found.append(f"{where}, which {key} still exported (none Completed)")
        listers = [
            key
            for key, versions in sorted(log.kube.objects.items())
            if any(_lists(v.spec, call) for v in _during(versions, t - window, t))
        ]
        refusals = {key: _refusal(log, key, call) for key in listers}
        if all(why is not None for why in refusals.values()):
            whys = "; ".join(f"{key}: {why}" for key, why in refusals.items()) or "none lists it"
            found.append(f"{where}, which no AmiStore allowed ({whys})")
    return found


def never_deregistered_twice(log: scenario.Log) -> Violations:
    """At most one DeregisterImage AWS acted on per AMI and account, and no call after it."""
    found = []
    acted: dict[tuple[str, str, str], float] = {}
    for call in log.ec2.calls:
        if call.op != "deregister":
            continue
        where = (call.account, call.region, call.amis[0])
        if where in acted:
            found.append(
                f"t={call.t:.1f}: DeregisterImage of {call.amis[0]} ({call.account or 'own'}, "
                f"{call.outcome}) after AWS acted on one at t={acted[where]:.1f}"
            )
        elif call.outcome in ACTED:
            acted[where] = call.t
    return found


def never_polled_after_deregistered(log: scenario.Log) -> Violations:
    """No DescribeStoreImageTasks names an AMI its account had deregistered (AWS would fail
    the whole batch), while the operator can know it: the process that saw it go, or a
    stored status that shows it ``Deregistered`` or ``Gone``. A restarted operator whose
    AmiStores' specs all dropped the AMI meanwhile (their statuses with it) cannot know."""
    found = []
    for call in log.ec2.calls:
        if call.op != "describe_ids":
            continue
        for ami in call.amis:
            gone = log.ec2.images.deregistered_at(call.account, call.region, ami)
            if gone is None or call.t <= gone:
                continue
            if call.t < _learnt_gone(log, call, ami, gone):
                continue  # its DeregisterImage's answer was lost: not known gone yet
            restarted = any(gone < crash < call.t for crash in log.crashes)
            if restarted and not _shown_ended(log, call.account, ami, call.t):
                continue
            found.append(
                f"t={call.t:.1f}: DescribeStoreImageTasks names {ami} "
                f"({call.account or 'own'}), deregistered at t={gone:.1f}"
            )
    return found


def _learnt_gone(log: scenario.Log, call: fakeaws.Call, ami: str, gone: float) -> float:
    """When the operator could know ``ami`` gone: at once if AWS's answer to its
    DeregisterImage came back; else at its next DescribeImages naming it (the guards' read
    in the poll after, which finds it gone)."""
    acted = [
        c
        for c in log.ec2.calls
        if c.op == "deregister"
        and ami in c.amis
        and abs(c.t - gone) < 1e-3
        and (c.account, c.region) == (call.account, call.region)
    ]
    if not acted or acted[0].outcome != "lost":
        return gone
    later = [
        c.t
        for c in log.ec2.calls
        if c.op == "describe_images"
        and c.t > gone
        and ami in c.amis
        and (c.account, c.region) == (call.account, call.region)
    ]
    return min(later, default=float("inf"))


def _shown_ended(log: scenario.Log, account: str, ami: str, t: float) -> bool:
    """Whether a status stored at ``t`` in ``account`` shows ``ami`` deregistered or gone."""
    for versions in log.kube.objects.values():
        stored = [v for v in versions if v.t <= t]
        status = (stored[-1].status if stored else None) or {}
        if _status_account(status) != account:
            continue
        for entry in status.get("tasks") or ():
            if entry.get("amiId") == ami and entry.get("cleanupState") in ("Deregistered", "Gone"):
                return True
    return False


def _status_account(status: dict[str, Any]) -> str:
    named = str(status.get("account") or "")
    return "" if named == world.OWN_ACCOUNT else named


def _never_shown_before(log: scenario.Log) -> Iterator[str]:
    """Each stored status showing ``Deregistered`` for an AMI AWS still had then."""
    for key, versions in sorted(log.kube.objects.items()):
        for version in versions:
            status = version.status or {}
            region = str(status.get("region") or scenario.REGION)
            for entry in status.get("tasks") or ():
                if entry.get("cleanupState") != "Deregistered":
                    continue
                ami = str(entry.get("amiId"))
                gone = log.ec2.images.deregistered_at(_status_account(status), region, ami)
                if gone is None or gone > version.t:
                    yield f"t={version.t:.1f}: {key} shows {ami} Deregistered, AWS still has it"


def _parsed(raw: dict[str, Any]) -> model.AmiStoreSpec | None:
    """The spec as the operator reads it (None: it rejects it)."""
    try:
        return specs_.parse_spec(raw, default_region=scenario.REGION, default_interval=60)
    except specs_.SpecError:
        return None


def _cleaning_up(log: scenario.Log, key: str, raw: dict[str, Any]) -> bool:
    """Whether ``key``'s spec ``raw`` cleans up at the end of the run, allowed to."""
    parsed, namespace = _parsed(raw), key.split("/")[0]
    return (
        parsed is not None
        and _after(raw) in CLEANS_UP
        and parsed.region == scenario.REGION
        and log.maps[-1][1].denial(namespace, parsed.account) is None
        and log.scenario.cleanup.allows(namespace)
    )


def _exports_it(log: scenario.Log, spec: dict[str, Any], account: str, ami: str, t: float) -> bool:
    """Whether ``spec`` exports ``ami`` of ``account`` and its latest export into its bucket
    (started by ``t``) had not Completed by ``t``: none, running, or Failed (a retry may
    come). Deregistering it then leaves that AmiStore none to make."""
    bucket = spec.get("bucket")
    into = [
        task
        for task in log.ec2.region_tasks(account, scenario.REGION).get(ami, [])
        if task.bucket == bucket and task.start <= t
    ]
    latest = max(into, key=lambda task: task.start, default=None)
    return (
        bool(spec.get("createTasks"))
        and _parsed(spec) is not None  # a spec the operator rejects exports nothing
        and ami in (spec.get("imageIds") or ())
        and _account(spec) == account
        and _region(spec) == scenario.REGION
        and (latest is None or latest.fails or latest.start + latest.duration > t)
    )


def _refused_unseen(
    log: scenario.Log,
    key: str,
    versions: list[fakekube.Version],
    where: tuple[str, Any],
    ami: str,
) -> bool:
    """Whether AmiStore ``key`` exports ``ami`` of ``where``'s account into another bucket, the
    account map refuses it its account at the end, and its status never came to show that
    export Completed: the operator polls nothing for it, and AWS lists an AMI's latest task
    only, so no poll of another AmiStore shows the end of its export either. Its export
    may still be wanted once the map allows it (found by cleanup seed 921)."""
    spec, (account, bucket) = versions[-1].spec, where
    parsed = _parsed(spec)
    if parsed is None or not spec.get("createTasks") or ami not in parsed.image_ids:
        return False
    if spec.get("bucket") in (None, bucket):
        return False
    if _account(spec) != account or log.maps[-1][1].denial(key.split("/")[0], account) is None:
        return False
    entry = _entry(versions[-1].status, ami, spec.get("bucket"))
    return entry.get("state") != "Completed"


def _final_specs(versions: list[fakekube.Version]) -> list[dict[str, Any]]:
    """The spec an AmiStore ends with, and if the operator rejects it, the last it accepted."""
    last = versions[-1].spec
    accepted = [v.spec for v in versions if _parsed(v.spec) is not None]
    return [last] if _parsed(last) is not None else [last, *accepted[-1:]]


def _kept(log: scenario.Log, account: str, ami: str) -> bool:
    """Whether an AmiStore keeps ``ami`` of ``account`` at the end (afterExport Keep): its
    last spec lists it, or, that spec rejected, the last spec the operator accepted did."""
    for versions in log.kube.objects.values():
        if any(
            ami in (spec.get("imageIds") or ())
            and _account(spec) == account
            and _region(spec) == scenario.REGION
            and _after(spec) == KEEP
            for spec in _final_specs(versions)
        ):
            return True
    return False


def every_archive_finishes(log: scenario.Log) -> Violations:
    """By the end, each AMI whose guards all hold (long past its delay, its export the
    latest and visible, no blocker left) is deregistered, and its entry says so:
    ``Deregistered``, or ``Gone`` if its stored entry was not ``Deregistering`` when AWS
    acted (another AmiStore's doing); and no status ever shows ``Deregistered`` for an AMI
    AWS still had.
    """
    found = list(_never_shown_before(log))
    sc = log.scenario
    for key, versions in sorted(log.kube.objects.items()):
        spec = versions[-1].spec
        if not _cleaning_up(log, key, spec):
            continue
        account, bucket = _account(spec), spec.get("bucket")
        own = float(spec.get("pollIntervalSeconds") or sc.interval)
        for ami in spec.get("imageIds") or ():
            task = _latest_completed(log, account, scenario.REGION, ami, bucket, log.end)
            if task is None or ami in log.ec2.missing or bucket in log.ec2.expiring:
                continue
            tasks = log.ec2.region_tasks(account, scenario.REGION).get(ami, [])
            if any(t.start > task.start for t in tasks):
                continue  # a later task (into another bucket) may hide it: maybe never seen
            traits = log.ec2.images.of(ami)
            if _blockers(traits, log.end, 0.0) or _kept(log, account, ami):
                continue
            if any(
                _exports_it(log, spec, account, ami, log.end)
                for other, v in log.kube.objects.items()
                if other != key
                for spec in _final_specs(v)
            ):
                continue  # another AmiStore still exports it elsewhere: that keeps it
            if any(
                _refused_unseen(log, other, v, (account, bucket), ami)
                for other, v in log.kube.objects.items()
                if other != key
            ):
                continue  # the operator cannot see that AmiStore's export end: it keeps it
            settled = max(
                [task.start + task.duration, task.visible_at, sc.active]
                + [r.end for r in traits.references]
            )
            if settled + _delay(spec) + (LOOK_AGAIN + 4) * own + 900 > log.end:
                continue  # too short a tail to say
            entry = _entry(versions[-1].status, ami, bucket)
            state = entry.get("cleanupState")
            who = f"{key}: {ami} ({account or 'own'}) into {bucket}"
            gone = log.ec2.images.deregistered_at(account, scenario.REGION, ami)
            if gone is None:
                found.append(f"{who} never deregistered (cleanupState {state})")
                continue
            if state is None and not entry.get("verifiedTime"):
                continue  # gone before this AmiStore saw its export (it listed it later)
            then = _at(versions, gone)
            marked = _entry(then.status if then else None, ami, bucket).get("cleanupState")
            if state not in ("Deregistered", "Gone") or (
                state == "Gone" and marked == "Deregistering"
            ):
                found.append(
                    f"{who} deregistered at t={gone:.1f} (its entry {marked} then), "
                    f"but its status shows {state}"
                )
    return found


def settled(log: scenario.Log) -> tuple[float, float]:
    """When nothing of cleanup is left to happen, and the longest poll interval.

    ``quiet_at_the_end``'s notion of settled (three intervals and half an hour past the
    last edit, fault or task's end), counted from past the last reference's end too, the
    longest afterExportDelaySeconds and ``LOOK_AGAIN`` intervals later.
    """
    sc = log.scenario
    specs = [v.spec for vs in log.kube.objects.values() for v in vs]
    longest = max([sc.interval, *(float(s.get("pollIntervalSeconds") or 0) for s in specs)])
    ends = [
        t.start + t.duration
        for by_ami in log.ec2.tasks.values()
        for ts in by_ami.values()
        for t in ts
    ]
    references = [r.end for traits in sc.images.values() for r in traits.references]
    delay = max([0.0, *(_delay(s) for s in specs if _after(s) in CLEANS_UP)])
    since = max([sc.active, *ends, *references]) + delay + (LOOK_AGAIN + 3) * longest + 1800
    return since, longest


def _cleanup_fields(status: dict[str, Any] | None) -> Any:
    """What a status says of cleanup: each entry's cleanup fields and the Archived condition."""
    status = status or {}
    entries = sorted(
        (str(e.get("amiId")), str(e.get("bucket")), *(str(e.get(f)) for f in FIELDS))
        for e in status.get("tasks") or ()
    )
    archived = [c for c in status.get("conditions") or () if c.get("type") == "Archived"]
    return entries, archived


def cleanup_quiet_at_the_end(log: scenario.Log) -> Violations:
    """Once everything has settled, no DeregisterImage and no status change of cleanup."""
    since, longest = settled(log)
    if since > log.end - 3 * longest:
        return []  # too short a quiet tail to say anything
    found = [
        f"t={c.t:.1f}: DeregisterImage of {c.amis[0]} in the quiet tail"
        for c in log.ec2.calls
        if c.op == "deregister" and c.t >= since
    ]
    for key, versions in sorted(log.kube.objects.items()):
        for before, after in itertools.pairwise(versions):
            if after.t >= since and _cleanup_fields(before.status) != _cleanup_fields(after.status):
                found.append(f"t={after.t:.1f}: {key}'s cleanup status changed in the quiet tail")
    return found


def archived_means_every_ami_ended(log: scenario.Log) -> Violations:
    """``Archived=True`` is stored only when every AMI its spec lists shows ``Deregistered``
    or ``Gone``; and an AmiStore whose AMIs all ended, allowed to clean up, ends with it
    True (``kubectl wait --for=condition=Archived`` returns)."""
    found = []
    for key, versions in sorted(log.kube.objects.items()):
        for version in versions:
            status = version.status or {}
            said = _archived(status, version.generation)
            ended = _all_ended(status, version.spec)
            if said == "True" and not ended:
                found.append(f"t={version.t:.1f}: {key} stored Archived=True with an AMI left")
        last = versions[-1]
        status = last.status or {}
        ended = _cleaning_up(log, key, last.spec) and _all_ended(status, last.spec)
        if ended and _archived(status, last.generation) not in ("True", None):
            found.append(f"{key}: every AMI ended, but Archived is not True at the end")
    return found


def _archived(status: dict[str, Any], generation: int) -> str | None:
    """The Archived condition's status, when it was set for ``generation``."""
    for c in status.get("conditions") or ():
        if c.get("type") == "Archived" and c.get("observedGeneration") == generation:
            return str(c.get("status"))
    return None


def _all_ended(status: dict[str, Any], spec: dict[str, Any]) -> bool:
    """Whether every AMI ``spec`` lists shows Deregistered or Gone in ``status``."""
    states = {e.get("amiId"): e.get("cleanupState") for e in status.get("tasks") or ()}
    amis = spec.get("imageIds") or ()
    return bool(amis) and all(states.get(a) in ("Deregistered", "Gone") for a in amis)


ALL = (
    deregistered_only_when_every_guard_held,
    never_deregistered_twice,
    never_polled_after_deregistered,
    every_archive_finishes,
    archived_means_every_ami_ended,
    cleanup_quiet_at_the_end,
)
