"""The simulation's rule for the retry annotation, a plain function over a run's log.

"A failed export is retried only when asked" has its other half: when asked, it is. A new
value of ``amistore.io/retry-requested-at`` starts again, once, each export of the
AmiStore that its stored status showed Failed when the value was set, as a person sees it
(for a value naming a time, one that also started a minute before it:
``exportrequests.START_SKEW``), whatever else the run did meanwhile (faults, refused
writes, crashes, other AmiStores' exports of the same AMI).
A Failed export hidden behind a later one into another bucket is not asked for: AWS lists
an AMI's latest task only, so no one can see it fail.
"""

from __future__ import annotations

import datetime
from typing import Any

from amistore_operator.core import exportrequests, exportretry, timestamps

from tests.sim import fakeaws, scenario

Violations = list[str]


def every_retry_acted_on(log: scenario.Log) -> Violations:
    """Each retry value starts a task again for each Failed export it asks to retry."""
    found: Violations = []
    actions = log.scenario.actions
    skew = exportrequests.START_SKEW.total_seconds()
    for i, action in enumerate(actions):
        if action.kind != "retry":
            continue
        earlier = [a.value for a in actions[:i] if a.kind == "retry" and a.key == action.key]
        later_edit = any(a.kind == "edit" and a.key == action.key for a in actions[i:])
        last = log.kube.objects[action.key][-1]
        if action.value in earlier or later_edit:
            continue  # not a new value, or not the spec it was set for at the end
        if not log.exportable(action.key, last.spec):
            continue
        named = exportretry.retry_time(action.value)
        before = action.t - skew - 1 if named is not None else action.t
        bucket = last.spec["bucket"]
        tasks = log.ec2.region_tasks(last.spec.get("account") or "", scenario.REGION)
        skipped = {*log.scenario.invalid, *log.scenario.denied}
        for ami in last.spec["imageIds"]:
            into = [t for t in tasks.get(ami, ()) if t.bucket == bucket]
            asked = [t for t in into if t.start < action.t]
            if ami in skipped or not asked:
                continue
            failed = asked[-1]
            if any(failed.start < t.start < action.t for t in tasks.get(ami, ())):
                continue  # hidden behind a later task into another bucket: its end is unknown
            ended = max(failed.start + failed.duration, failed.visible_at)
            if not failed.fails or failed.start >= before or ended >= action.t:
                continue  # AWS showed no Failed export by the time the value was set
            if not _shown_failed(log, action.key, ami, failed, action.t):
                continue  # the status did not show it Failed: nothing asked to retry it
            if not any(t.start > action.t for t in into):
                found.append(
                    f"{action.key}: retry {action.value[:40]!r} at t={action.t:.1f} never "
                    f"started {ami} into {bucket} again (failed at "
                    f"t={ended:.1f})"
                )
    return found


def _shown_failed(log: scenario.Log, key: str, ami: str, task: fakeaws.Task, t: float) -> bool:
    """Whether the status stored for ``key`` at ``t`` shows ``task`` of ``ami`` Failed."""
    shown: dict[str, Any] = {}
    for write in log.kube.writes:
        if write.t > t:
            break
        if write.key == key and write.outcome in ("stored", "lost"):
            shown = write.status
    started = timestamps.format_time(fakeaws.EPOCH + datetime.timedelta(seconds=int(task.start)))
    return any(
        e.get("amiId") == ami
        and e.get("state") == "Failed"
        and e.get("bucket") == task.bucket
        and e.get("taskStartTime") == started
        for e in shown.get("tasks", ())
    )


ALL = (every_retry_acted_on,)
