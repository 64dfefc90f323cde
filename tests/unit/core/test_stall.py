"""Stall detection: the Stalled condition, its events, its threshold, and time alone flipping it."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any

from amistore_operator.core import model, stall, status

T0 = datetime.datetime(2026, 11, 27, 4, 0, 0, tzinfo=datetime.UTC)
A = "ami-0000000a"
B = "ami-0000000b"
MINUTE = 60


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def stamp(seconds: float) -> str:
    return status.format_time(at(seconds))


def spec(*image_ids: str, stall_after: float = 600, interval: float = 60) -> model.AmiStoreSpec:
    return model.AmiStoreSpec(
        image_ids=image_ids or (A,),
        bucket="bkt",
        task_states=(),
        region="eu-west-1",
        poll_interval=interval,
        stall_after=stall_after,
    )


def aws(progress: int, state: str = "InProgress", ami_id: str = A) -> model.StoreTask:
    return model.StoreTask(
        ami_id=ami_id,
        state=model.TaskState(state),
        progress=progress,
        bucket="bkt",
        start_time=T0,
    )


class Operator:
    """The core run poll after poll, as the service runs it; ``restart`` forgets all memory."""

    def __init__(self, wanted: model.AmiStoreSpec | None = None) -> None:
        self.spec = wanted or spec()
        self.status: dict[str, Any] | None = None
        self.entries: tuple[dict[str, Any], ...] | None = None
        self.writes = 0
        self.events: list[status.Event] = []
        self.outcome: status.Outcome | None = None

    def poll(
        self,
        seconds: float,
        *tasks: model.StoreTask,
        error: model.PollError | None = None,
        stretched: float | None = None,
    ) -> status.Outcome:
        view = model.ResourceView({t.ami_id: t for t in tasks}, error)
        outcome = status.reconcile(
            self.status,
            self.spec,
            view,
            generation=1,
            now=at(seconds),
            previous_entries=self.entries,
            stretched_interval=stretched,
        )
        self.writes += outcome.changed
        self.events.extend(outcome.events)
        if outcome.changed:
            # What the API server stores (a merge patch drops keys set to null).
            self.status = json.loads(json.dumps(outcome.status))
        self.entries = outcome.entries
        self.outcome = outcome
        return outcome

    def restart(self) -> None:
        self.entries = None

    def stalled(self) -> dict[str, Any]:
        assert self.status is not None
        return next(c for c in self.status["conditions"] if c["type"] == "Stalled")

    def reasons(self) -> list[str]:
        return [e.reason for e in self.events if e.reason in ("StoreStalled", "StoreResumed")]


def test_the_threshold_is_stall_after_but_at_least_two_effective_intervals() -> None:
    assert stall.threshold(600, 60).seconds == 600
    # Polled hourly: progress is seen once an hour, so a minute says nothing.
    assert stall.threshold(60, 3600).seconds == 7200
    # The region's budget stretches its cycles to 500 s: two of those.
    assert stall.threshold(600, 60, 500).seconds == 1000
    assert stall.threshold(600, 60, 500).steady == 600


def test_a_stretched_interval_is_rounded_up_to_a_steady_step() -> None:
    assert stall.steady_interval(60, None) is None
    assert stall.steady_interval(60, 59.5) is None  # not stretched
    assert stall.steady_interval(60, 63.2) == 80
    assert stall.steady_interval(60, 64.9) == 80  # the same step: no new threshold
    assert stall.steady_interval(60, 130) == 150
    assert stall.steady_interval(2, 2.3) == 2.5
    assert stall.steady_interval(60, 1000.0) == 1000
    # Exact steps: a threshold a second off would change the message, a write of its own.
    assert stall.steady_interval(60, 110) == 120
    assert stall.threshold(60, 60, stall.steady_interval(60, 110)).seconds == 240


def test_a_task_that_stops_moving_stalls_once_at_the_threshold() -> None:
    op = Operator()
    op.poll(0, aws(10))
    op.poll(MINUTE, aws(20))  # last move at 60 s
    assert op.stalled()["status"] == "False"
    assert op.stalled()["reason"] == "Progressing"
    writes = op.writes
    for second in range(2 * MINUTE, 11 * MINUTE, MINUTE):  # up to 600 s after the move
        outcome = op.poll(second, aws(20))
        assert not outcome.changed
        assert outcome.stall_due == at(MINUTE + 600)  # when time alone flips it
    assert op.writes == writes

    flipped = op.poll(MINUTE + 600, aws(20))
    assert flipped.changed
    condition = op.stalled()
    assert condition["status"] == "True"
    assert condition["reason"] == "ProgressStalled"
    assert f"{A} at 20% since {stamp(MINUTE)}" in condition["message"]
    assert "10m" in condition["message"]
    assert "at least two effective poll intervals" in condition["message"]
    assert condition["lastTransitionTime"] == stamp(MINUTE + 600)
    assert op.status is not None
    assert op.status["tasks"][0]["stalled"] is True
    assert flipped.stall_due is None
    assert [e.type for e in flipped.events] == ["Warning"]
    assert flipped.events[0].reason == "StoreStalled"
    assert A in flipped.events[0].message

    # The steady state: nothing more, however long it stays stuck.
    writes = op.writes
    for second in range(12 * MINUTE, 300 * MINUTE, MINUTE):
        assert not op.poll(second, aws(20)).changed
    assert op.writes == writes
    assert op.reasons() == ["StoreStalled"]


def test_a_task_hidden_behind_a_later_one_into_another_bucket_never_stalls() -> None:
    # AWS lists an AMI's latest task only: once A goes into another bucket too, the task
    # into this one is seen no more, its progress unknown, not standing still.
    op = Operator()
    op.poll(0, aws(10))
    op.poll(MINUTE, aws(20))
    later = dataclasses.replace(aws(0), bucket="other", start_time=at(2 * MINUTE))
    hidden = op.poll(2 * MINUTE, later)
    assert hidden.stall_due is None
    writes = op.writes
    for second in range(3 * MINUTE, 300 * MINUTE, MINUTE):
        assert not op.poll(second, later).changed
    assert op.writes == writes
    assert op.status is not None
    assert op.status["tasks"][0]["state"] == "InProgress"
    assert "stalled" not in op.status["tasks"][0]
    assert op.stalled()["status"] == "False"
    assert op.reasons() == []


def test_a_stalled_task_hidden_behind_a_later_one_stays_stalled() -> None:
    op = Operator()
    op.poll(0, aws(20))
    op.poll(600, aws(20))
    assert op.stalled()["status"] == "True"
    later = dataclasses.replace(aws(0), bucket="other", start_time=at(700))
    writes = op.writes
    for second in range(660, 300 * MINUTE, MINUTE):
        assert not op.poll(second, later).changed
    assert op.writes == writes
    assert op.reasons() == ["StoreStalled"]


def test_a_stalled_task_that_moves_again_resumes_once() -> None:
    op = Operator()
    op.poll(0, aws(20))
    op.poll(600, aws(20))
    since = op.stalled()["lastTransitionTime"]
    moved = op.poll(700, aws(21))
    assert moved.changed
    condition = op.stalled()
    assert (condition["status"], condition["reason"]) == ("False", "Progressing")
    assert condition["lastTransitionTime"] == stamp(700) != since
    assert "stalled" not in op.status["tasks"][0]  # type: ignore[index]
    assert [(e.type, e.reason) for e in moved.events] == [("Normal", "StoreResumed")]
    assert "at 21%" in moved.events[0].message
    for second in range(760, 1200, 60):
        op.poll(second, aws(21))
    assert op.reasons() == ["StoreStalled", "StoreResumed"]
    # ...and it may stall again, announced again: a new stall.
    op.poll(700 + 600, aws(21))
    assert op.reasons() == ["StoreStalled", "StoreResumed", "StoreStalled"]


def test_a_task_at_zero_counts_and_says_it_may_be_queued() -> None:
    op = Operator()
    op.poll(0, aws(0))
    op.poll(600, aws(0))
    assert op.stalled()["status"] == "True"
    assert f"{A} at 0% since {stamp(0)}, possibly queued by AWS" in op.stalled()["message"]


def test_the_stall_clock_and_the_events_survive_a_restart() -> None:
    op = Operator()
    op.poll(0, aws(20))
    op.poll(300, aws(20))
    op.restart()  # half-way: the clock is read back from the status
    assert not op.poll(400, aws(20)).changed
    assert op.poll(600, aws(20)).changed  # 600 s after the last move, not after the restart
    assert op.stalled()["status"] == "True"
    op.restart()  # mid-stall: no second StoreStalled
    for second in range(660, 1200, 60):
        assert not op.poll(second, aws(20)).changed
    op.restart()
    op.poll(1200, aws(30))
    assert op.reasons() == ["StoreStalled", "StoreResumed"]


def test_no_task_in_progress_and_finished_tasks_never_stall() -> None:
    op = Operator()
    op.poll(0, aws(100, "Completed"))
    op.poll(10_000, aws(100, "Completed"))
    condition = op.stalled()
    assert (condition["status"], condition["reason"]) == ("False", "NoTaskInProgress")
    assert op.outcome is not None
    assert op.outcome.stall_due is None


def test_a_stalled_task_that_completes_gets_no_resumed_event() -> None:
    op = Operator()
    op.poll(0, aws(20))
    op.poll(600, aws(20))
    done = op.poll(660, aws(100, "Completed"))
    assert [e.reason for e in done.events] == ["StoreCompleted"]
    assert op.stalled()["reason"] == "NoTaskInProgress"


def test_a_failed_poll_calls_nothing_stalled_it_could_not_see() -> None:
    op = Operator()
    op.poll(0, aws(20))
    down = model.PollError(model.PollErrorReason.AWS_UNAVAILABLE, "EC2 is down")
    outcome = op.poll(900, error=down)
    assert op.stalled()["status"] == "False"
    assert outcome.stall_due is None
    assert op.poll(960, aws(20)).changed  # AWS answers again: 960 s without a move
    assert op.stalled()["status"] == "True"
    # A stall already seen stays while the polls fail.
    assert [e.reason for e in op.poll(1020, error=down).events] == ["SyncFailed"]
    assert op.stalled()["status"] == "True"


def test_a_resource_polled_hourly_is_not_stalled_after_a_minute() -> None:
    op = Operator(spec(stall_after=60, interval=3600))
    op.poll(0, aws(20))
    assert not op.poll(3600, aws(20)).changed
    assert op.stalled()["status"] == "False"
    op.poll(7200, aws(20))
    assert op.stalled()["status"] == "True"
    assert "No progress for 2h " in op.stalled()["message"]


def test_a_stretched_interval_raises_the_threshold() -> None:
    op = Operator()
    op.poll(0, aws(20), stretched=500)
    assert op.outcome is not None
    assert op.outcome.stall_due == at(1000)
    op.poll(600, aws(20), stretched=500)
    assert op.stalled()["status"] == "False"
    op.poll(1000, aws(20), stretched=500)
    assert op.stalled()["status"] == "True"
    # A wobbling stretch does not flap a stall already seen.
    assert not op.poll(1060, aws(20), stretched=800).events
    assert op.stalled()["status"] == "True"


def test_a_raised_stall_after_clears_a_stall_without_a_move() -> None:
    op = Operator()
    op.poll(0, aws(20))
    op.poll(600, aws(20))
    op.spec = dataclasses.replace(op.spec, stall_after=3600)
    cleared = op.poll(660, aws(20))
    assert op.stalled()["reason"] == "Progressing"
    assert [e.reason for e in cleared.events] == ["StoreResumed"]
    assert "no longer counted as stalled" in cleared.events[0].message


def test_the_message_names_each_stalled_ami_and_caps_the_list() -> None:
    ids = tuple(f"ami-{n:08x}" for n in range(1, 14))
    op = Operator(spec(*ids))
    op.poll(0, *(aws(5, ami_id=ami) for ami in ids))
    op.poll(600, *(aws(5, ami_id=ami) for ami in ids))
    message = op.stalled()["message"]
    assert message.count(" at 5% since ") == stall.MAX_STALLED_IN_MESSAGE
    assert message.endswith("and 3 more")
    assert op.reasons().count("StoreStalled") == 13


def test_many_stalls_at_once_are_capped_with_a_summary() -> None:
    ids = tuple(f"ami-{n:08x}" for n in range(1, 31))
    op = Operator(spec(*ids))
    op.poll(0, *(aws(5, ami_id=ami) for ami in ids))
    flipped = op.poll(600, *(aws(5, ami_id=ami) for ami in ids))
    assert len(flipped.events) == status.MAX_TASK_EVENTS + 1
    summary = flipped.events[-1]
    assert (summary.type, summary.reason) == ("Warning", "StoreStalled")
    assert "10 stalled" in summary.message


def test_an_invalid_spec_keeps_the_stalled_condition() -> None:
    op = Operator()
    op.poll(0, aws(20))
    op.poll(600, aws(20))
    before = op.stalled()
    rejected = status.reject_spec(op.status, "spec.bucket: bad", generation=2, now=at(700))
    kept = next(c for c in rejected.status["conditions"] if c["type"] == "Stalled")
    assert kept == before
    assert rejected.status["tasks"][0]["stalled"] is True


def test_durations_read_as_people_write_them() -> None:
    assert stall.duration(60) == "60s"
    assert stall.duration(600) == "10m"
    assert stall.duration(5400) == "1h30m"
    assert stall.duration(7200) == "2h"
    assert stall.duration(93600) == "1d2h"
