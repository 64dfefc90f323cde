"""After a restart each status naming an AMI counts: one showing a later task makes it due."""

from __future__ import annotations

import datetime
import random

from amistore_operator.core import model
from amistore_operator.polling import cache

from tests.unit.polling.test_poller import FakeClock

AMI = "ami-00000000000000001"
START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def make_spec(interval: float, bucket: str) -> model.AmiStoreSpec:
    return model.AmiStoreSpec((AMI,), bucket, (), "eu-west-1", interval)


def task(state: str, bucket: str, hours: int) -> model.StoreTask:
    return model.StoreTask(
        ami_id=AMI,
        state=model.TaskState(state),
        progress=100 if state == "Completed" else 50,
        bucket=bucket,
        s3_object_key=f"{AMI}.bin",
        start_time=START + datetime.timedelta(hours=hours),
    )


def seeded() -> cache.TaskCache:
    """A restarted cache whose first subscriber's status shows A finished into archive-b."""
    woken: list[bool] = []
    tc = cache.TaskCache(
        clock=FakeClock(), rng=random.Random(1), on_change=lambda: woken.append(True)
    )
    tc.subscribe(
        "team-a/one", make_spec(36000, "archive-b"), {AMI: task("Completed", "archive-b", 0)}
    )
    entry = tc.amis[AMI]
    assert (entry.known, entry.forced) == (True, False)  # trusted, re-checked within 10 intervals
    return tc


def test_a_later_task_another_status_shows_makes_the_ami_due_now() -> None:
    # team-b's export into archive-a started after team-a's, and its status shows it
    # running: team-a's finished task is no longer the AMI's latest.
    for later in (task("InProgress", "archive-a", 2), task("Completed", "archive-a", 2)):
        tc = seeded()
        sub = tc.subscribe("team-b/two", make_spec(3600, "archive-a"), {AMI: later})
        assert tc.amis[AMI].forced
        assert not tc.ready_now(sub)  # team-b waits for AWS's answer, not team-a's status


def test_an_earlier_or_the_same_task_another_status_shows_leaves_the_spread() -> None:
    for known in (
        {AMI: task("Completed", "archive-b", 0)},  # the same task
        {AMI: task("Completed", "archive-a", -2)},  # an earlier one
        {},  # none
    ):
        tc = seeded()
        tc.subscribe("team-b/two", make_spec(3600, "archive-a"), known)
        assert not tc.amis[AMI].forced


def test_later_compares_start_times() -> None:
    first, second = task("Completed", "archive-b", 0), task("InProgress", "archive-a", 2)
    assert cache.later(second, first)
    assert not cache.later(first, second)
    assert not cache.later(first, task("InProgress", "archive-b", 0))  # the same task
    assert cache.later(first, None)  # a task where none is known
    undated = model.StoreTask(AMI, model.TaskState.COMPLETED, 100, bucket="archive-a")
    assert not cache.later(undated, first)  # nothing says it is later
