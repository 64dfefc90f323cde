"""The safety rules, each a plain function over a run's log: a list of violations out.

An empty list is a pass. Each message names the time (virtual seconds), the
resource or AMI, and what broke, so a failing seed reads as a bug report.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from amistore_operator.core import export, model
from amistore_operator.kube import handlers

from tests.sim import cleanuprules, fakeaws, fakekube, retryrules, scenario, verifyrules, world

Violations = list[str]
Invariant = Callable[[scenario.Log], Violations]


# A poll reads the retry annotation after its wait, then makes its calls one after the
# other: a DryRun and at most the create burst's creates, each taking the world's latency.
READ_TO_CALL = (1 + world.CREATE_BURST) * world.Config().latency


def _retries(log: scenario.Log, key: str) -> list[tuple[float, float]]:
    """Each new retry value set on ``key``: when it was set, and its reach.

    A Failed task that started before the reach may be retried for the value. A value
    naming a time (RFC 3339, as the docs tell) retries a task that started at least
    ``START_SKEW`` before that time, whenever the operator reads it. A free-form value
    retries whatever Failed task the operator sees when it reads it, and it reads it
    through a watch that lags: the limit the docs state, a value set within the watch
    lag before a task starts (plus the time a poll takes from reading it to its last
    call) may retry that task.
    """
    found, last = [], None
    for version in log.kube.objects[key]:
        value = version.annotations.get(handlers.RETRY_ANNOTATION)
        if value is not None and value != last:
            named = _named_time(value)
            if named is not None:
                found.append((version.t, named - export.START_SKEW.total_seconds()))
            else:
                found.append((version.t, version.t + log.scenario.lag + READ_TO_CALL))
        last = value
    return found


def _named_time(value: str) -> float | None:
    """The virtual time a retry value names, if it is a timestamp as the docs show."""
    try:
        moment = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return (moment.replace(tzinfo=datetime.UTC) - fakeaws.EPOCH).total_seconds()


def _listers(log: scenario.Log, ami: str, bucket: str, account: str) -> list[str]:
    """Keys of AmiStores whose spec listed ``ami`` into ``bucket`` at any time."""
    found = []
    for key, versions in log.kube.objects.items():
        for v in versions:
            if (
                ami in (v.spec.get("imageIds") or ())
                and v.spec.get("bucket") == bucket
                and (v.spec.get("account") or "") == account
            ):
                found.append(key)
                break
    return found


def _tasks(log: scenario.Log) -> Iterator[tuple[str, str, str, list[fakeaws.Task]]]:
    for (account, _region), by_ami in log.ec2.tasks.items():
        for ami, tasks in by_ami.items():
            for bucket in sorted({t.bucket for t in tasks}):
                yield account, ami, bucket, [t for t in tasks if t.bucket == bucket]


def never_twice(log: scenario.Log) -> Violations:
    """Never two store tasks for one AMI and bucket but after a Failed one and a new retry.

    A new retry value set before the second task, that may retry the first (``_retries``).
    """
    found = []
    for account, ami, bucket, tasks in _tasks(log):
        listers = _listers(log, ami, bucket, account)
        values = [v for k in listers for v in _retries(log, k)]
        for index, (before, after) in enumerate(itertools.pairwise(tasks), start=1):
            failed = before.state(after.start) == model.TaskState.FAILED
            # Each new value retries a failed export once, even one set while it was queued.
            retries = sum(1 for t, reach in values if t <= after.start and reach > tasks[0].start)
            if not (failed and retries >= index):
                why = "with no new retry value" if failed else "while the first was not Failed"
                found.append(
                    f"t={after.start:.1f}: second store task of {ami} into {bucket} "
                    f"(first at t={before.start:.1f}) {why}"
                )
    return found


def _map_at(log: scenario.Log, t: float) -> Any:
    current = log.maps[0][1]
    for since, account_map in log.maps:
        if since <= t:
            current = account_map
    return current


def no_call_through_refused_account(log: scenario.Log) -> Violations:
    """No AWS call (DryRun included) through an account no AmiStore listing its AMIs may use."""
    found = []
    for call in log.ec2.calls:
        if not call.account or not call.amis:
            continue
        # A revocation may still meet a call already on its way (one second).
        maps = (_map_at(log, call.t), _map_at(log, call.t - 1.0))
        allowed: set[str] = set()
        for key, versions in log.kube.objects.items():
            namespace = key.split("/")[0]
            if all(m.denial(namespace, call.account) is not None for m in maps):
                continue
            for v in versions:
                if v.t <= call.t and (v.spec.get("account") or "") == call.account:
                    allowed.update(v.spec.get("imageIds") or ())
        strays = sorted(set(call.amis) - allowed)
        if strays:
            found.append(
                f"t={call.t:.1f}: {call.op} of {strays} through account {call.account}, "
                "which no AmiStore listing them may use"
            )
    return found


def statuses_valid(log: scenario.Log) -> Violations:
    """Every status the operator writes passes the CRD's schema."""
    return [
        f"t={w.t:.1f}: status of {w.key} refused by the schema: {'; '.join(w.errors)}"
        for w in log.kube.writes
        if w.outcome == "invalid"
    ]


def no_idle_write(log: scenario.Log) -> Violations:
    """No status write whose content equals the stored status (but the one after a lost write)."""
    found, after_lost = [], set()
    for w in log.kube.writes:
        if w.unchanged and w.key not in after_lost and w.outcome != "invalid":
            found.append(f"t={w.t:.1f}: a write to {w.key} that changes nothing")
        if w.outcome == "lost":
            after_lost.add(w.key)  # the operator cannot know it was stored, until one is
        elif w.outcome == "stored":
            after_lost.discard(w.key)
    return found


def stored_as_computed(log: scenario.Log) -> Violations:
    """Each status stored is the one the operator computed, with nothing left of an earlier one.

    A status write is a JSON merge patch: a field the new status no longer has stays
    stored unless the patch names it ``null``, also one a write that got no answer stored.
    A field left over mixes two statuses (e.g. a retry recorded handled beside entries that
    never asked for it).
    """
    return [
        f"t={w.t:.1f}: {w.key} stored {sorted(_left_over(w.result, w.status))} "
        "left over from an earlier status"
        for w in log.kube.writes
        if w.result is not None and _left_over(w.result, w.status)
    ]


def _left_over(stored: Any, sent: Any, path: str = "") -> list[str]:
    """The fields of ``stored`` that ``sent`` (a merge patch) neither has nor removes."""
    if not isinstance(stored, dict) or not isinstance(sent, dict):
        return []
    found = []
    for key, value in stored.items():
        if key not in sent:
            found.append(path + key)
        else:
            found.extend(_left_over(value, sent[key], f"{path}{key}."))
    return found


def no_traceback(log: scenario.Log) -> Violations:
    """No traceback and no ERROR in the operator's log."""
    return [f"{r.levelname} {r.name}: {r.getMessage()}" for r in log.tracebacks]


def every_export_started_or_refused(log: scenario.Log) -> Violations:
    """By the end, every AMI an export-mode AmiStore wants has a task, or a reason in its status."""
    found = []
    for key, versions in log.kube.objects.items():
        last = versions[-1]
        if not log.exportable(key, last.spec):
            continue
        status = last.status or {}
        entries = {e.get("amiId"): e for e in status.get("tasks", ())}
        account = last.spec.get("account") or ""
        tasks = log.ec2.region_tasks(account, scenario.REGION)
        conditions = status.get("conditions", ())
        synced: dict[str, Any] = next((c for c in conditions if c["type"] == "Synced"), {})
        ready: dict[str, Any] = next((c for c in conditions if c["type"] == "ExportReady"), {})
        for ami in last.spec["imageIds"]:
            if any(t.bucket == last.spec["bucket"] for t in tasks.get(ami, ())):
                continue
            if log.ec2.images.deregistered_at(account, scenario.REGION, ami) is not None:
                continue  # gone: no export can start (cleanuprules say when it may go)
            entry = entries.get(ami) or {}
            if entry.get("state") == "Failed" and entry.get("failureReason"):
                continue  # refused, with AWS's reason
            if ami in log.scenario.invalid and synced.get("reason") == "InvalidImageId":
                continue
            if ready.get("status") == "False" and ready.get("reason") == "AccessDenied":
                continue  # IAM refuses the DryRun: the condition says so
            found.append(
                f"{key}: {ami} into {last.spec['bucket']} never started by the end "
                f"(entry {entry or 'missing'}, Synced {synced.get('reason')})"
            )
    return found


def _record_ends(log: scenario.Log) -> list[float]:
    """The ends of grace (virtual seconds) of the requests any stored status records."""
    found = []
    for w in log.kube.writes:
        for record in w.status.get("exportRecords") or ():
            named = _named_time(str(record.get("expiresTime") or ""))
            if w.outcome in ("stored", "lost") and named is not None:
                found.append(named)
    return found


def quiet_at_the_end(log: scenario.Log) -> Violations:
    """Once every task has ended and nothing changes, no status write for the last intervals."""
    sc = log.scenario
    intervals = [
        float(v.spec.get("pollIntervalSeconds") or 0)
        for vs in log.kube.objects.values()
        for v in vs
    ]
    longest = max([sc.interval, *intervals])
    ends = [t.start + t.duration for _, _, _, ts in _tasks(log) for t in ts]
    # Settled: past the last edit or fault, the last task's end, a request's grace.
    since = max([sc.active, *ends]) + 3 * longest + 1800
    # A request's grace counts the interval the EC2 budget stretched, and a request may be
    # recorded after the last fault: a record shows the end the operator set, and the
    # record leaves the status then (by time alone), polled within a second of it.
    since = max([since, *(t + longest for t in _record_ends(log))])
    specs = [v.spec for vs in log.kube.objects.values() for v in vs]
    if any((s.get("afterExport") or "Keep") != "Keep" for s in specs):
        # Cleanup's blocked AMIs are looked at again up to ten intervals after a blocker goes.
        since = max(since, cleanuprules.settled(log)[0])
    if since > log.end - 3 * longest:
        return []  # too short a quiet tail to say anything
    found: Violations = []
    # No exemption for a stall: every task has ended by then, and one AWS shows no more
    # (hidden behind a later task into another bucket) is never called stalled.
    for w in log.kube.writes:
        if w.t >= since:
            found.append(f"t={w.t:.1f}: write to {w.key} in the quiet tail")
    return found


ALL: tuple[Invariant, ...] = (
    never_twice,
    no_call_through_refused_account,
    statuses_valid,
    no_idle_write,
    stored_as_computed,
    no_traceback,
    every_export_started_or_refused,
    quiet_at_the_end,
    *verifyrules.ALL,
    *retryrules.ALL,
    *cleanuprules.ALL,
)


def check(log: scenario.Log) -> dict[str, Violations]:
    """Every invariant's violations, by name (only those that failed)."""
    out = {}
    for invariant in ALL:
        violations = invariant(log)
        if violations:
            out[invariant.__name__] = violations
    return out


def writes_of(log: scenario.Log, key: str) -> list[fakekube.Write]:
    """The status writes made to ``key``."""
    return [w for w in log.kube.writes if w.key == key]
